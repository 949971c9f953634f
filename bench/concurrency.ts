// 2. Concurrency: c simultaneous two-step requests on one worker (default configuration), each
// submitted, approved and followed to its end; compared with c simultaneous "lanes" of raw
// ansible-playbook runs of the same two playbooks one after the other. Besides the wall times it
// measures how long requests were paused for capacity, and how much of that while their agent ran no
// step at all (the capacity guard's target: 0: domain/capacity.ts never pauses an idle agent's work,
// and a paused request's step is held by the agent, which starts it the moment it has room).
import type { PrismaClient } from '../generated/prisma/client.js';
import { workflowIdFor, type RequestState } from '../domain/request-state.js';
import type { BenchStack } from './stack.js';
import { runAnsibleDirectly } from './ansible.js';
import { approve, SETTLED } from './requests.js';
import { requestStateQuery } from '../workflows/messages.js';
import { BENCH_PLAYBOOK, TWO_STEP_MESSAGE } from './fixtures/repos.js';
import { round, summarize } from './stats.js';
import { cpuTimeSince, readCpuTime, type CpuTime } from './cpu-time.js';
import { runningSteps } from '../services/running-steps.js';

export interface ConcurrencyResult {
  concurrency: number;
  rawWallMs: number;
  rawErrors: number;
  chiffonWallMs: number;
  wallRatio: number;
  requestMs: ReturnType<typeof summarize>;
  errors: string[];
  /** Largest resident set of the bench process (the worker runs in it) during the Chiffon run. */
  maxRssMb: number;
  /** Requests seen paused for capacity at least once (they resume by themselves). */
  pausedRequests: number;
  /** Time the requests spent paused for capacity, summed over the requests (their request_status events). */
  pausedMs: number;
  /** Of that, the time their agent ran no step at all (summed over the requests too): held back from an idle machine (target 0). */
  pausedWhileAgentIdleMs: number;
  /** CPU time the whole machine used (busy) and lost to other guests (steal) in each phase (Linux). */
  rawCpu?: CpuTime;
  chiffonCpu?: CpuTime;
  /** Chiffon's CPU busy time over raw's: the work ratio, which the neighbours' load moves less than wall time. */
  cpuRatio?: number;
}

const PER_REQUEST_TIMEOUT_MS = 20 * 60_000;

export async function measureConcurrency(stack: BenchStack, repo: string, concurrency: number): Promise<ConcurrencyResult> {
  const lanes = Array.from({ length: concurrency }, (_, i) => i);

  let cpuAtStart = await readCpuTime();
  let started = performance.now();
  const raw = await Promise.all(
    lanes.map(async () => {
      const first = await runAnsibleDirectly(repo, BENCH_PLAYBOOK, stack.scratch);
      const second = await runAnsibleDirectly(repo, 'bench-step-two.yml', stack.scratch);
      return first.exitCode === 0 && second.exitCode === 0;
    }),
  );
  const rawWallMs = performance.now() - started;
  const rawCpu = cpuTimeSince(cpuAtStart, await readCpuTime());

  const worker = await stack.startWorker(`conc${concurrency}`, { playbookRepo: repo });
  // One request first, not timed: a fresh worker pays once for the workflow bundle, the first
  // catalog scan and inventory read, and the audit repository's creation.
  const warmUp = await stack.submit(worker, TWO_STEP_MESSAGE);
  await approve(stack.client, warmUp.requestId, warmUp.state.plan?.hash);
  const requests = followRequests(stack);
  await requests.settled(warmUp.requestId);
  requests.pausedSeen.clear();
  // The agent's running steps over time, from each step's start and end (the worker runs here).
  const agent = worker.config.workerHost;
  const stepTimeline: StepCount[] = [];
  const stopTimeline = runningSteps.onChange((changed, count) => {
    if (changed === agent) stepTimeline.push({ at: Date.now(), count });
  });
  const laneRequests: string[] = [];
  let endedAt: number;
  let maxRss = process.memoryUsage().rss;
  const sampler = setInterval(() => (maxRss = Math.max(maxRss, process.memoryUsage().rss)), 200);
  const errors: string[] = [];
  const times: number[] = [];
  let chiffonWallMs: number;
  let chiffonCpu: CpuTime | undefined;
  try {
    cpuAtStart = await readCpuTime();
    stepTimeline.push({ at: Date.now(), count: runningSteps.count(agent) });
    started = performance.now();
    await Promise.all(
      lanes.map(async (lane) => {
        const t = performance.now();
        try {
          const { requestId, state } = await stack.submit(worker, TWO_STEP_MESSAGE);
          laneRequests.push(requestId);
          if (state.status !== 'pending_approval') throw new Error(`request ${requestId} planned as ${state.status}`);
          await approve(stack.client, requestId, state.plan?.hash);
          const done = await requests.settled(requestId);
          if (done.status !== 'completed')
            throw new Error(`request ${requestId} ended ${done.status}${done.pausedReason ? ` (${done.pausedReason})` : ''}`);
          times.push(performance.now() - t);
        } catch (error) {
          errors.push(`lane ${lane}: ${error instanceof Error ? error.message : String(error)}`);
        }
      }),
    );
    chiffonWallMs = performance.now() - started;
    endedAt = Date.now();
    chiffonCpu = cpuTimeSince(cpuAtStart, await readCpuTime());
  } finally {
    stopTimeline();
    clearInterval(sampler);
    await requests.stop();
    await worker.stop();
  }
  const paused = await pausedIntervals(stack.prisma, laneRequests, endedAt);
  const pausedMs = paused.reduce((sum, [from, to]) => sum + (to - from), 0);
  const pausedWhileAgentIdleMs = paused.reduce((sum, interval) => sum + idleOverlapMs(interval, stepTimeline), 0);
  const wallRatio = round(chiffonWallMs / rawWallMs, 3);
  console.log(
    `bench: concurrency ${concurrency}: wall raw ${round(rawWallMs)} ms, chiffon ${round(chiffonWallMs)} ms (${wallRatio}x); ` +
      `${errors.length} errors; ${requests.pausedSeen.size} requests paused, ${round(pausedMs)} ms in all, ` +
      `${round(pausedWhileAgentIdleMs)} ms of it while the agent ran no step`,
  );
  return {
    concurrency,
    rawWallMs: round(rawWallMs),
    rawErrors: raw.filter((ok) => !ok).length,
    chiffonWallMs: round(chiffonWallMs),
    wallRatio,
    requestMs: summarize(times),
    errors,
    maxRssMb: round(maxRss / 2 ** 20),
    pausedRequests: requests.pausedSeen.size,
    pausedMs: round(pausedMs),
    pausedWhileAgentIdleMs: round(pausedWhileAgentIdleMs),
    ...(rawCpu && chiffonCpu ? { rawCpu, chiffonCpu, cpuRatio: round(chiffonCpu.busyMs / rawCpu.busyMs, 3) } : {}),
  };
}

/** The agent's running steps from `at` on. */
export interface StepCount {
  at: number;
  count: number;
}

/**
 * Each request's paused stretches, [from, to) in epoch ms, from its request_status events (one per
 * change of status, stamped by PostgreSQL): from a `paused` to the next status, or to `endedAt`.
 */
async function pausedIntervals(prisma: PrismaClient, requestIds: string[], endedAt: number): Promise<[number, number][]> {
  const events = await prisma.requestEvent.findMany({
    where: { requestId: { in: requestIds }, kind: 'request_status' },
    orderBy: [{ requestId: 'asc' }, { seq: 'asc' }],
    select: { requestId: true, payload: true, createdAt: true },
  });
  const intervals: [number, number][] = [];
  let open: { requestId: string; from: number } | undefined;
  for (const event of events) {
    const status = (event.payload as { status?: string }).status;
    if (open && (open.requestId !== event.requestId || status !== 'paused')) {
      intervals.push([open.from, open.requestId === event.requestId ? event.createdAt.getTime() : endedAt]);
      open = undefined;
    }
    if (status === 'paused' && !open) open = { requestId: event.requestId, from: event.createdAt.getTime() };
  }
  if (open) intervals.push([open.from, endedAt]);
  return intervals;
}

/**
 * How much of [from, to) the agent ran no step, by its timeline (changes in time order; the count
 * holds until the next change; before the first entry it is unknown and not counted).
 */
export function idleOverlapMs([from, to]: [number, number], timeline: readonly StepCount[]): number {
  let idle = 0;
  for (const [i, entry] of timeline.entries()) {
    if (entry.count !== 0) continue;
    const start = Math.max(from, entry.at);
    const end = Math.min(to, timeline[i + 1]?.at ?? Number.POSITIVE_INFINITY);
    if (end > start) idle += end - start;
  }
  return idle;
}

/**
 * Follows the lanes' requests without loading the worker being measured: each lane waits on its
 * workflow's result (a long poll), and one query of the requests table every 2 s, for all of them,
 * notices a request that paused (it resumes by itself when capacity returns: it is waited for, and
 * counted) or ended without a result (a failed request stays open for a retry). Asking each
 * workflow for its state instead would put a workflow query per request every 2 s on the worker.
 */
function followRequests(stack: BenchStack) {
  const pausedSeen = new Set<string>();
  const endedWithoutResult = new Map<string, () => void>();
  const poll = async () => {
    const ids = [...endedWithoutResult.keys()];
    if (ids.length === 0) return;
    const rows = await stack.prisma.request.findMany({ where: { id: { in: ids } }, select: { id: true, status: true } });
    for (const { id, status } of rows) {
      if (status === 'paused') pausedSeen.add(id);
      if (SETTLED.has(status)) endedWithoutResult.get(id)?.();
    }
  };
  let polling = Promise.resolve();
  const timer = setInterval(() => {
    polling = polling.then(poll).catch((error: unknown) => console.warn(`bench: requests table not read: ${String(error)}`));
  }, 2_000);

  async function settled(requestId: string): Promise<RequestState> {
    const handle = stack.client.workflow.getHandle(workflowIdFor(requestId));
    const ended = new Promise<void>((resolve) => endedWithoutResult.set(requestId, resolve));
    let timeout: NodeJS.Timeout | undefined;
    const timedOut = new Promise<never>((_, reject) => {
      timeout = setTimeout(
        () => reject(new Error(`request ${requestId}: not settled after ${PER_REQUEST_TIMEOUT_MS} ms`)),
        PER_REQUEST_TIMEOUT_MS,
      );
    });
    const result = handle.result() as Promise<RequestState>;
    try {
      return await Promise.race([result, ended.then(() => handle.query(requestStateQuery)), timedOut]);
    } finally {
      clearTimeout(timeout);
      endedWithoutResult.delete(requestId);
      result.catch(() => {});
    }
  }

  return {
    settled,
    pausedSeen,
    async stop() {
      clearInterval(timer);
      await polling;
    },
  };
}
