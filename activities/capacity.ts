// The capacity check before each step, read from the agent registry the workers keep up to date.
import type { PrismaClient } from '../generated/prisma/client.js';
import { assessCapacity } from '../domain/capacity.js';
import type { CapacityCheck } from '../domain/request-state.js';
import type { ChiffonConfig } from '../lib/config.js';

/** An agent that has not reported for this long is considered gone. */
const AGENT_LIVENESS_MS = 30_000;

export function createCapacityActivities(config: ChiffonConfig, prisma: PrismaClient) {
  return {
    async checkCapacity(): Promise<CapacityCheck> {
      const agents = await prisma.agent.findMany({
        where: { taskQueue: config.taskQueue, lastSeenAt: { gte: new Date(Date.now() - AGENT_LIVENESS_MS) } },
      });
      return assessCapacity(agents, config);
    },
  };
}
