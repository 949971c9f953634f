// Keeps this agent's row in the agent registry current: CPU, memory, load and running steps.
import fs from 'node:fs';
import os from 'node:os';
import type { Client } from '@temporalio/client';
import { runningSteps } from '../services/running-steps.js';
import { agentOverloadReason } from '../domain/capacity.js';
import { AGENT_OFFLINE_AFTER_MS } from '../domain/fleet.js';
import type { PrismaClient } from '../generated/prisma/client.js';
import type { ChiffonConfig } from '../lib/config.js';
import { capacityChangedSignal } from '../workflows/messages.js';

const REPORT_INTERVAL_MS = 5_000;

/** MemAvailable (what can be had without swapping); os.freemem() leaves out the page cache. */
function availableMemoryBytes(): number {
  try {
    const match = /^MemAvailable:\s+(\d+) kB/m.exec(fs.readFileSync('/proc/meminfo', 'utf8'));
    if (match) return Number(match[1]) * 1024;
  } catch {
    // not Linux
  }
  return os.freemem();
}

/**
 * One row per agent and machine, `<task queue>/<agent>@<hostname>`: a restarted worker takes its
 * row back, and a stopped one stays listed, offline, so the fleet view shows who is missing.
 */
export function agentIdFor(config: Pick<ChiffonConfig, 'workerHost' | 'taskQueue'>): string {
  return `${config.taskQueue}/${config.workerHost}@${os.hostname()}`;
}

/** Rows not heard from for this long are dropped (agents retired or renamed long ago). */
const FORGET_AFTER_MS = 7 * 24 * 60 * 60 * 1000;

/**
 * Signals the requests paused for capacity on this task queue, so they check again now instead of
 * at their next re-check (which backs off to 10 minutes). Best effort: a request missed here still
 * re-checks on its own.
 */
async function wakePausedRequests(client: Client, config: ChiffonConfig): Promise<void> {
  const query = `ChiffonStatus = 'paused' AND TaskQueue = '${config.taskQueue.replace(/'/g, "''")}' AND ExecutionStatus = 'Running'`;
  for await (const workflow of client.workflow.list({ query })) {
    await client.workflow
      .getHandle(workflow.workflowId, workflow.runId)
      .signal(capacityChangedSignal)
      .catch(() => undefined);
  }
}

/**
 * Reports every 5 s. With a Temporal client it also wakes paused requests when this agent has room
 * again (and when it starts): the moment capacity returns, not minutes later.
 */
export function startAgentReporter(prisma: PrismaClient, config: ChiffonConfig, client?: Client): { stop(): Promise<void> } {
  const id = agentIdFor(config);
  const startedAt = new Date();
  let overloaded = true; // as if before the first report: a starting agent brings room
  const report = async () => {
    const row = {
      name: config.workerHost,
      hostname: os.hostname(),
      taskQueue: config.taskQueue,
      cpuCount: os.cpus().length,
      loadAverage1: os.loadavg()[0] ?? 0,
      memoryFreeMb: Math.round(availableMemoryBytes() / 2 ** 20),
      memoryTotalMb: Math.round(os.totalmem() / 2 ** 20),
      runningSteps: runningSteps.count(config.workerHost),
      maxSteps: config.maxConcurrentSteps,
      maxLoadPerCpu: config.maxLoadPerCpu,
      minFreeMemoryPercent: config.minFreeMemoryPercent,
      lastSeenAt: new Date(),
    };
    await prisma.agent.upsert({ where: { id }, create: { id, startedAt, ...row }, update: { startedAt, ...row } });
    const wasOverloaded = overloaded;
    overloaded = agentOverloadReason({ id, ...row }) !== undefined;
    if (client && wasOverloaded && !overloaded) await wakePausedRequests(client, config);
  };
  let inFlight: Promise<void> = Promise.resolve();
  const reportSafely = () => {
    inFlight = report().catch((err) => console.error(`chiffon agent registry: ${String(err)}`));
  };
  reportSafely();
  // Once per start, not per report: rows this old stay old.
  void prisma.agent.deleteMany({ where: { lastSeenAt: { lt: new Date(Date.now() - FORGET_AFTER_MS) } } }).catch(() => undefined);
  const timer = setInterval(reportSafely, REPORT_INTERVAL_MS);
  return {
    /** Stops reporting and shows the agent offline at once (its steps now wait for it). */
    async stop() {
      clearInterval(timer);
      await inFlight; // a report still on its way would mark the agent online again
      const gone = new Date(Date.now() - AGENT_OFFLINE_AFTER_MS - 1);
      await prisma.agent.updateMany({ where: { id }, data: { lastSeenAt: gone, runningSteps: 0 } }).catch(() => undefined);
    },
  };
}
