// 2. Concurrency: c simultaneous two-step requests on one worker (default configuration), each
// submitted, approved and followed to its end; compared with c simultaneous "lanes" of raw
// ansible-playbook runs of the same two playbooks one after the other.
import { workflowIdFor, type RequestState } from '../domain/request-state.js';
import type { BenchStack } from './stack.js';
import { runAnsibleDirectly } from './ansible.js';
import { approve } from './requests.js';
import { requestStateQuery } from '../workflows/messages.js';
import { BENCH_PLAYBOOK, TWO_STEP_MESSAGE } from './fixtures/repos.js';
import { round, summarize } from './stats.js';

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
}

const PER_REQUEST_TIMEOUT_MS = 20 * 60_000;

export async function measureConcurrency(stack: BenchStack, repo: string, concurrency: number): Promise<ConcurrencyResult> {
  const lanes = Array.from({ length: concurrency }, (_, i) => i);

  let started = performance.now();
  const raw = await Promise.all(
    lanes.map(async () => {
      const first = await runAnsibleDirectly(repo, BENCH_PLAYBOOK, stack.scratch);
      const second = await runAnsibleDirectly(repo, 'bench-step-two.yml', stack.scratch);
      return first.exitCode === 0 && second.exitCode === 0;
    }),
  );
  const rawWallMs = performance.now() - started;

  const worker = await stack.startWorker(`conc${concurrency}`, { playbookRepo: repo });
  // One request first, not timed: a fresh worker pays once for the workflow bundle, the first
  // catalog scan and inventory read, and the audit repository's creation.
  const warmUp = await stack.submit(worker, TWO_STEP_MESSAGE);
  await approve(stack.client, warmUp.requestId, warmUp.state.plan?.hash);
  await settled(stack, warmUp.requestId, new Set());
  let maxRss = process.memoryUsage().rss;
  const sampler = setInterval(() => (maxRss = Math.max(maxRss, process.memoryUsage().rss)), 200);
  const errors: string[] = [];
  const times: number[] = [];
  const pausedSeen = new Set<string>();
  try {
    started = performance.now();
    await Promise.all(
      lanes.map(async (lane) => {
        const t = performance.now();
        try {
          const { requestId, state } = await stack.submit(worker, TWO_STEP_MESSAGE);
          if (state.status !== 'pending_approval') throw new Error(`request ${requestId} planned as ${state.status}`);
          await approve(stack.client, requestId, state.plan?.hash);
          const done = await settled(stack, requestId, pausedSeen);
          if (done.status !== 'completed') throw new Error(`request ${requestId} ended ${done.status}${done.pausedReason ? ` (${done.pausedReason})` : ''}`);
          times.push(performance.now() - t);
        } catch (error) {
          errors.push(`lane ${lane}: ${error instanceof Error ? error.message : String(error)}`);
        }
      }),
    );
  } finally {
    clearInterval(sampler);
    await worker.stop();
  }
  const chiffonWallMs = performance.now() - started;
  return {
    concurrency,
    rawWallMs: round(rawWallMs),
    rawErrors: raw.filter((ok) => !ok).length,
    chiffonWallMs: round(chiffonWallMs),
    wallRatio: round(chiffonWallMs / rawWallMs, 3),
    requestMs: summarize(times),
    errors,
    maxRssMb: round(maxRss / 2 ** 20),
    pausedRequests: pausedSeen.size,
  };
}

/**
 * The workflow's result (a completed request returns), or its state once it has ended otherwise
 * (a failed request stays open for a retry): checked every 2 s, which keeps 100 waiters cheap. A
 * paused request resumes by itself when capacity returns: it is waited for, and counted.
 */
async function settled(stack: BenchStack, requestId: string, pausedSeen: Set<string>): Promise<RequestState> {
  const handle = stack.client.workflow.getHandle(workflowIdFor(requestId));
  let done = false;
  const result = (handle.result() as Promise<RequestState>).finally(() => (done = true));
  const watcher = (async (): Promise<RequestState | undefined> => {
    const deadline = Date.now() + PER_REQUEST_TIMEOUT_MS;
    while (!done) {
      await new Promise((resolve) => setTimeout(resolve, 2_000));
      if (done) return undefined;
      const state = await handle.query(requestStateQuery);
      if (state.status === 'paused') pausedSeen.add(requestId);
      if (ENDED_OR_FAILED.has(state.status)) return state;
      if (Date.now() > deadline) throw new Error(`request ${requestId}: not settled after ${PER_REQUEST_TIMEOUT_MS} ms (${state.status})`);
    }
    return undefined;
  })();
  try {
    const first = await Promise.race([result, watcher]);
    return first ?? (await result);
  } finally {
    done = true;
    result.catch(() => {});
    // Nothing may outlive the measurement: the stack's connection closes after it.
    await watcher.catch(() => undefined);
  }
}

const ENDED_OR_FAILED = new Set(['completed', 'failed', 'rejected', 'unplannable', 'expired', 'stale_plan', 'cancelled']);
