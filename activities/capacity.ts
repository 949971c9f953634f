// The capacity check before each step, read from the agent registry the workers keep up to date
// (each agent's running steps, pressure, load and memory, and its own limits: domain/capacity.ts).
import type { PrismaClient } from '../generated/prisma/client.js';
import { assessCapacity } from '../domain/capacity.js';
import { AGENT_OFFLINE_AFTER_MS } from '../domain/fleet.js';
import type { CapacityCheck } from '../domain/request-state.js';
import type { ChiffonConfig } from '../lib/config.js';

export function createCapacityActivities(config: Pick<ChiffonConfig, 'taskQueue'>, prisma: PrismaClient) {
  return {
    /**
     * Room for a step of `agent` (the plan step's agent), or of any agent when it names none. Never
     * a pause for an agent that runs no step; a paused request is woken by the agent's reporter.
     */
    async checkCapacity(agent?: string): Promise<CapacityCheck> {
      const agents = await prisma.agent.findMany({
        where: {
          taskQueue: config.taskQueue,
          ...(agent ? { name: agent } : {}),
          lastSeenAt: { gte: new Date(Date.now() - AGENT_OFFLINE_AFTER_MS) },
        },
      });
      return assessCapacity(agents, agent);
    },
  };
}
