// 6. History: Temporal history events of a completed one-step and two-step request, and so the
// events each further step adds; plus how long the server keeps closed histories.
import proto from '@temporalio/proto';
import { workflowIdFor } from '../domain/request-state.js';
import type { BenchStack } from './stack.js';
import { approve, waitForSettled } from './requests.js';
import { ONE_STEP_MESSAGE, TWO_STEP_MESSAGE } from './fixtures/repos.js';

export interface HistoryResult {
  oneStepEvents: number;
  twoStepEvents: number;
  eventsPerStep: number;
  /** Events of the two-step request by type. */
  byType: Record<string, number>;
  historyBytes: number;
  namespaceRetention: string;
}

export async function measureHistory(stack: BenchStack, repo: string): Promise<HistoryResult> {
  // The capacity check is relaxed here (only here): a pause adds timer events that are not the
  // steps' own, and a busy 2-core machine's load average easily crosses the default threshold.
  const worker = await stack.startWorker('history', { playbookRepo: repo, maxLoadPerCpu: 1_000 });
  try {
    const run = async (message: string) => {
      const { requestId, state } = await stack.submit(worker, message);
      await approve(stack.client, requestId, state.plan?.hash);
      const done = await waitForSettled(stack.client, requestId);
      if (done.status !== 'completed') throw new Error(`history request ${requestId} ended ${done.status}`);
      return stack.client.workflow.getHandle(workflowIdFor(requestId)).fetchHistory();
    };
    const one = await run(ONE_STEP_MESSAGE);
    const two = await run(TWO_STEP_MESSAGE);
    const byType: Record<string, number> = {};
    for (const event of two.events ?? []) {
      const name = (proto.temporal.api.enums.v1.EventType[event.eventType ?? 0] ?? String(event.eventType)).replace(/^EVENT_TYPE_/, '');
      byType[name] = (byType[name] ?? 0) + 1;
    }
    const namespace = await stack.client.workflowService.describeNamespace({ namespace: worker.config.temporalNamespace });
    const ttl = namespace.config?.workflowExecutionRetentionTtl;
    const seconds = Number(ttl?.seconds ?? 0);
    const oneCount = one.events?.length ?? 0;
    const twoCount = two.events?.length ?? 0;
    return {
      oneStepEvents: oneCount,
      twoStepEvents: twoCount,
      eventsPerStep: twoCount - oneCount,
      byType,
      historyBytes: JSON.stringify(two).length,
      namespaceRetention: seconds ? `${seconds / 3600} h` : 'unknown',
    };
  } finally {
    await worker.stop();
  }
}
