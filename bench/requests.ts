// What the benchmarks do with a planned request: approve it through the workflow's decide Update
// (as POST /approve does) and follow it through the requestState query.
import type { Client } from '@temporalio/client';
import { workflowIdFor, type RequestState } from '../domain/request-state.js';
import { decideUpdate, requestStateQuery, resumeUpdate } from '../workflows/messages.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function approve(client: Client, requestId: string, planHash: string | undefined): Promise<RequestState> {
  return client.workflow.getHandle(workflowIdFor(requestId)).executeUpdate(decideUpdate, {
    args: [{ approver: 'bench', approved: true, comment: 'benchmark', ...(planHash ? { planHash } : {}) }],
  });
}

/** Polls the requestState query every `intervalMs` until `accept` says yes; throws after `timeoutMs`. */
export async function waitForState(
  client: Client,
  requestId: string,
  what: string,
  accept: (state: RequestState) => boolean,
  { intervalMs = 10, timeoutMs = 600_000 } = {},
): Promise<RequestState> {
  const handle = client.workflow.getHandle(workflowIdFor(requestId));
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const state = await handle.query(requestStateQuery);
    if (accept(state)) return state;
    if (Date.now() > deadline) throw new Error(`request ${requestId}: no ${what} after ${timeoutMs} ms (status ${state.status})`);
    await sleep(intervalMs);
  }
}

/** Statuses a request does not leave by itself (a failed one stays open for a retry). */
export const SETTLED = new Set(['completed', 'failed', 'rejected', 'unplannable', 'expired', 'stale_plan', 'cancelled']);

/** Waits until the request settles (a failed request counts as settled: the caller decides). */
export const waitForSettled = (client: Client, requestId: string, intervalMs = 50, timeoutMs = 600_000) =>
  waitForState(client, requestId, 'settled status', (state) => SETTLED.has(state.status), { intervalMs, timeoutMs });

/**
 * Waits for the request to end without polling it while it runs: its workflow's result (a long
 * poll), or, asked every `pollMs`, a status that does not end by itself (paused for capacity, or
 * failed and open for a retry). Frequent queries would themselves load the worker whose timing
 * is being measured.
 */
export async function waitForEnd(client: Client, requestId: string, { pollMs = 2_000, timeoutMs = 600_000 } = {}): Promise<RequestState> {
  const handle = client.workflow.getHandle(workflowIdFor(requestId));
  let wake: () => void = () => {};
  let done = false;
  const result = (handle.result() as Promise<RequestState>).finally(() => {
    done = true;
    wake();
  });
  const watcher = (async (): Promise<RequestState | undefined> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      await new Promise<void>((resolve) => {
        wake = resolve;
        setTimeout(resolve, pollMs);
      });
      if (done) return undefined;
      const state = await handle.query(requestStateQuery);
      if (state.status === 'paused' || SETTLED.has(state.status)) return state;
      if (Date.now() > deadline) throw new Error(`request ${requestId}: not ended after ${timeoutMs} ms (status ${state.status})`);
    }
  })();
  try {
    return (await Promise.race([result, watcher])) ?? (await result);
  } finally {
    done = true;
    wake();
    result.catch(() => {});
    await watcher.catch(() => undefined);
  }
}

/** Resumes a request paused for capacity (POST .../resume does the same). */
export async function resume(client: Client, requestId: string): Promise<void> {
  await client.workflow.getHandle(workflowIdFor(requestId)).executeUpdate(resumeUpdate, { args: [{ by: 'bench' }] });
}
