// GET /agents: the worker fleet as the agent registry knows it: each agent (a worker's `--host`
// name), its task queue, its capacity, when it last reported, and whether it counts as online.
import { Hono } from 'hono';
import { z } from 'zod';
import { AGENT_OFFLINE_AFTER_MS, hostTaskQueue, isAgentOnline } from '../../domain/fleet.js';
import { anyRole, type AuthEnv } from '../auth.js';
import type { ApiDeps } from '../deps.js';
import { answer, docs } from '../openapi.js';
import { queryParams } from '../validation.js';

const listQuery = z.object({
  limit: z.coerce.number().int().min(1).max(200).default(20),
  offset: z.coerce.number().int().min(0).max(1_000_000).default(0),
});

const agentsAnswer = z.object({
  offline_after_ms: z.number().int(),
  total: z.number().int().meta({ description: 'agents in the registry for this task queue; `agents` is one page of them' }),
  limit: z.number().int(),
  offset: z.number().int(),
  agents: z.array(
    z.object({
      id: z.string(),
      name: z.string().meta({ description: 'the host name plan steps are routed by (`npm run worker -- --host NAME`)' }),
      hostname: z.string(),
      task_queue: z.string().meta({ description: "the agent's own queue, where its steps wait while it is offline" }),
      online: z.boolean(),
      cpu_count: z.number().int(),
      load_average_1: z.number(),
      cpu_pressure_10: z.number().nullable().meta({
        description: 'CPU pressure (/proc/pressure/cpu "some avg10", %); null where the kernel has none (the load average counts instead)',
      }),
      memory_pressure_10: z.number().nullable().meta({ description: 'memory pressure (/proc/pressure/memory "some avg10", %), or null' }),
      max_cpu_pressure: z.number().meta({ description: "the agent's limits: above them, and while it runs steps, requests pause" }),
      max_memory_pressure: z.number(),
      memory_free_mb: z.number().int(),
      memory_total_mb: z.number().int(),
      running_steps: z.number().int(),
      max_steps: z.number().int(),
      started_at: z.string(),
      last_seen_at: z.string(),
    }),
  ),
});

export function agentRoutes({ prisma, config }: ApiDeps) {
  return new Hono<AuthEnv>().get(
    '/agents',
    docs({
      summary: 'The worker fleet: every agent, online or offline, with its capacity',
      description: `An agent is offline when it has not reported for ${AGENT_OFFLINE_AFTER_MS / 1000} s; its steps wait in its task queue until it is back.`,
      tags: ['fleet'],
      responses: { 200: answer('the agents, by name, a page at a time (limit, offset)', agentsAnswer) },
    }),
    anyRole(),
    queryParams(listQuery),
    async (c) => {
      const { limit, offset } = c.req.valid('query');
      const where = { taskQueue: config.taskQueue };
      const [rows, total] = await Promise.all([
        prisma.agent.findMany({ where, orderBy: [{ name: 'asc' }, { lastSeenAt: 'desc' }, { id: 'asc' }], take: limit, skip: offset }),
        prisma.agent.count({ where }),
      ]);
      const now = new Date();
      return c.json({
        offline_after_ms: AGENT_OFFLINE_AFTER_MS,
        total,
        limit,
        offset,
        agents: rows.map((a) => ({
          id: a.id,
          name: a.name,
          hostname: a.hostname,
          task_queue: hostTaskQueue(a.taskQueue, a.name),
          online: isAgentOnline(a.lastSeenAt, now),
          cpu_count: a.cpuCount,
          load_average_1: a.loadAverage1,
          cpu_pressure_10: a.cpuPressure10,
          memory_pressure_10: a.memoryPressure10,
          max_cpu_pressure: a.maxCpuPressure,
          max_memory_pressure: a.maxMemoryPressure,
          memory_free_mb: a.memoryFreeMb,
          memory_total_mb: a.memoryTotalMb,
          running_steps: a.runningSteps,
          max_steps: a.maxSteps,
          started_at: a.startedAt.toISOString(),
          last_seen_at: a.lastSeenAt.toISOString(),
        })),
      });
    },
  );
}
