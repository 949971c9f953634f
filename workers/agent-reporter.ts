// Keeps this agent's row in the agent registry current (CPU, pressure, memory, load and running
// steps), and wakes the requests paused for capacity the moment the agent has room again.
import os from 'node:os';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { readMachine } from '../services/machine.js';
import { runningSteps } from '../services/running-steps.js';
import { agentPauseReason, type AgentCapacity, type MachineFigures } from '../domain/capacity.js';
import { AGENT_OFFLINE_AFTER_MS } from '../domain/fleet.js';
import type { PrismaClient } from '../generated/prisma/client.js';
import type { ChiffonConfig } from '../lib/config.js';
import { capacityChangedSignal } from '../workflows/messages.js';

/** The row is written at least this often (AGENT_OFFLINE_AFTER_MS counts on it)... */
const REPORT_EVERY_MS = 5_000;
/** ...and the machine read this often: a change of room is written (and wakes requests) at once. */
const SAMPLE_EVERY_MS = 1_000;
/** Paused requests signalled at once, at most. */
const SIGNALS_AT_ONCE = 20;

/** What the registry row says about this agent's machine and work, read now. */
export interface AgentSample extends MachineFigures {
  runningSteps: number;
}

export function sampleAgent(config: Pick<ChiffonConfig, 'workerHost'>): AgentSample {
  return { ...readMachine(), runningSteps: runningSteps.count(config.workerHost) };
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

export interface AgentReporterOptions {
  /** How the agent is read (default: this machine and this process's steps); tests give their own. */
  sample?: () => AgentSample;
  /** How often the machine is read (default 1 s). */
  sampleEveryMs?: number;
}

export interface AgentReporter {
  /** Reads the agent now (after a reading in progress), reports a change, wakes paused requests. */
  tick(): Promise<void>;
  /** Resolves once the readings asked for so far are done. */
  idle(): Promise<void>;
  /** Stops reporting and shows the agent offline at once (its steps now wait for it). */
  stop(): Promise<void>;
}

/**
 * Reads the agent every second and whenever one of its steps starts or ends; writes its row when
 * its room changes (see below), when its running steps change, and every 5 s regardless.
 *
 * With a Temporal client it also wakes paused requests: whenever the agent has room (it runs no
 * step, or is not overloaded: agentPauseReason), every request paused for capacity gets the
 * capacityChanged signal, once per pause, and checks capacity at once instead of at its
 * next re-check (which backs off to 10 minutes). The paused requests are those of the requests
 * table (status `paused`), not a Temporal visibility query: the workflow records its pause there
 * (an activity, so it is committed) before it waits, so a request that paused a moment ago is there,
 * whereas visibility lags behind the workflow (seconds, with Elasticsearch) and needs the custom
 * search attribute. A request that pauses on a reading just before the room came (its check and this
 * reading crossed) is found at the next reading, a second later. Each pause is signalled once: a
 * request signalled for nothing (it waits for another agent) checks once, pauses again and then
 * re-checks on its own timer. Requests paused since agents hold steps (wait `overloaded`) need no
 * signal at all: their agent starts the held step itself; the one they get is ignored.
 */
export function startAgentReporter(
  prisma: PrismaClient,
  config: ChiffonConfig,
  client?: Client,
  options: AgentReporterOptions = {},
): AgentReporter {
  const id = agentIdFor(config);
  const startedAt = new Date();
  const sample = options.sample ?? (() => sampleAgent(config));
  let written: { room: boolean; runningSteps: number; at: number } | undefined;
  /** Paused requests (workflow ids) signalled in their current pause. */
  const woken = new Set<string>();
  let stopped = false;
  let lastError: string | undefined;

  const readAndReport = async () => {
    const figures = sample();
    const row = {
      name: config.workerHost,
      hostname: os.hostname(),
      taskQueue: config.taskQueue,
      cpuCount: figures.cpuCount,
      loadAverage1: figures.loadAverage1,
      cpuPressure10: figures.cpuPressure10 ?? null,
      memoryPressure10: figures.memoryPressure10 ?? null,
      memoryFreeMb: figures.memoryFreeMb,
      memoryTotalMb: figures.memoryTotalMb,
      runningSteps: figures.runningSteps,
      maxSteps: config.maxConcurrentSteps,
      maxLoadPerCpu: config.maxLoadPerCpu,
      minFreeMemoryPercent: config.minFreeMemoryPercent,
      maxCpuPressure: config.maxCpuPressure,
      maxMemoryPressure: config.maxMemoryPressure,
    };
    const agent: AgentCapacity = { id, ...row };
    const room = agentPauseReason(agent) === undefined;
    const now = Date.now();
    if (!written || written.room !== room || written.runningSteps !== row.runningSteps || now - written.at >= REPORT_EVERY_MS) {
      const fields = { ...row, lastSeenAt: new Date(now) };
      await prisma.agent.upsert({ where: { id }, create: { id, startedAt, ...fields }, update: { startedAt, ...fields } });
      written = { room, runningSteps: row.runningSteps, at: now };
    }
    // The row says "room" by now, so a request woken here finds it when it checks.
    if (room && client) await wakePausedRequests(prisma, client, woken);
  };

  // One reading at a time; asked for during one, a single reading follows it.
  let chain: Promise<void> = Promise.resolve();
  let next: Promise<void> | undefined;
  const tick = (): Promise<void> => {
    next ??= chain.then(async () => {
      next = undefined;
      if (stopped) return;
      try {
        await readAndReport();
        if (lastError) console.error('chiffon agent registry: reporting again');
        lastError = undefined;
      } catch (err) {
        // Once per kind of trouble, not once a second.
        if (String(err) !== lastError) console.error(`chiffon agent registry: ${String(err)}`);
        lastError = String(err);
      }
    });
    chain = next;
    return next;
  };

  void tick();
  // Once per start, not per report: rows this old stay old.
  void prisma.agent.deleteMany({ where: { lastSeenAt: { lt: new Date(Date.now() - FORGET_AFTER_MS) } } }).catch(() => undefined);
  const timer = setInterval(() => void tick(), options.sampleEveryMs ?? SAMPLE_EVERY_MS);
  const unsubscribe = runningSteps.onChange((agent) => {
    if (agent === config.workerHost) void tick();
  });
  return {
    tick,
    idle: () => chain,
    async stop() {
      stopped = true;
      clearInterval(timer);
      unsubscribe();
      await chain; // a report still on its way would mark the agent online again
      const gone = new Date(Date.now() - AGENT_OFFLINE_AFTER_MS - 1);
      await prisma.agent.updateMany({ where: { id }, data: { lastSeenAt: gone, runningSteps: 0 } }).catch(() => undefined);
    },
  };
}

/**
 * Signals the paused requests not yet signalled in their current pause (`woken`). Best effort: a
 * request whose signal failed is tried again at the next reading, and a request missed altogether
 * still re-checks by itself.
 */
async function wakePausedRequests(prisma: PrismaClient, client: Client, woken: Set<string>): Promise<void> {
  const paused = new Set(
    (await prisma.request.findMany({ where: { status: 'paused' }, select: { workflowId: true } })).map((r) => r.workflowId),
  );
  // A request that went on is forgotten: should it pause again, it is woken again.
  for (const workflowId of woken) if (!paused.has(workflowId)) woken.delete(workflowId);
  const toWake = [...paused].filter((workflowId) => !woken.has(workflowId));
  for (let i = 0; i < toWake.length; i += SIGNALS_AT_ONCE) {
    await Promise.all(
      toWake.slice(i, i + SIGNALS_AT_ONCE).map(async (workflowId) => {
        try {
          await client.workflow.getHandle(workflowId).signal(capacityChangedSignal);
          woken.add(workflowId);
        } catch (err) {
          // Ended since (or another deployment's request on this database): nothing to wake.
          if (err instanceof WorkflowNotFoundError) woken.add(workflowId);
        }
      }),
    );
  }
}
