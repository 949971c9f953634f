// 1. Step overhead: the same small local playbook run directly with ansible-playbook (A) and as a
// one-step approved Chiffon request (B), interleaved A B A B. B is timed from the approval Update
// call to the workflow task that recorded the step's completion, read from the workflow's history
// afterwards (server timestamps, same clock): polling the workflow while the playbook runs would
// itself load the 2 CPUs the playbook runs on.
import proto from '@temporalio/proto';
import { workflowIdFor } from '../domain/request-state.js';
import type { BenchStack } from './stack.js';
import { runAnsibleDirectly } from './ansible.js';
import { approve, resume, waitForEnd, waitForSettled } from './requests.js';
import { BENCH_PLAYBOOK, ONE_STEP_MESSAGE } from './fixtures/repos.js';
import { median, round, summarize } from './stats.js';

export interface StepOverheadResult {
  n: number;
  playbook: string;
  rawMs: ReturnType<typeof summarize>;
  chiffonMs: ReturnType<typeof summarize>;
  /** Approval → the step's run started (as the activity reports it). */
  beforeRunMs: ReturnType<typeof summarize>;
  /** The step's run finished → the workflow recorded it completed. */
  afterRunMs: ReturnType<typeof summarize>;
  overheadMs: number;
  ratio: number;
  overheadPercent: number;
  errors: string[];
}

export async function measureStepOverhead(stack: BenchStack, repo: string, n: number): Promise<StepOverheadResult> {
  const worker = await stack.startWorker('step', { playbookRepo: repo });
  const raw: number[] = [];
  const chiffon: number[] = [];
  const before: number[] = [];
  const after: number[] = [];
  const errors: string[] = [];
  try {
    // One warm-up of each, not counted: the first run pays for imports, caches and the bundle.
    await runAnsibleDirectly(repo, BENCH_PLAYBOOK, stack.scratch);
    await chiffonRun(stack, worker, errors);
    errors.length = 0;
    for (let i = 0; i < n; i++) {
      const a = await runAnsibleDirectly(repo, BENCH_PLAYBOOK, stack.scratch);
      if (a.exitCode !== 0) errors.push(`raw run ${i}: exit code ${a.exitCode}`);
      else raw.push(a.ms);
      const b = await chiffonRun(stack, worker, errors);
      if (b) {
        chiffon.push(b.ms);
        before.push(b.beforeRunMs);
        after.push(b.afterRunMs);
      }
    }
  } finally {
    await worker.stop();
  }
  const overheadMs = median(chiffon) - median(raw);
  return {
    n,
    playbook: BENCH_PLAYBOOK,
    rawMs: summarize(raw),
    chiffonMs: summarize(chiffon),
    beforeRunMs: summarize(before),
    afterRunMs: summarize(after),
    overheadMs: round(overheadMs),
    ratio: round(median(chiffon) / median(raw), 3),
    overheadPercent: round((overheadMs / median(raw)) * 100),
    errors,
  };
}

async function chiffonRun(stack: BenchStack, worker: Awaited<ReturnType<BenchStack['startWorker']>>, errors: string[]) {
  const { requestId, state } = await stack.submit(worker, ONE_STEP_MESSAGE);
  if (state.status !== 'pending_approval' || state.plan?.steps.length !== 1) {
    errors.push(`request ${requestId}: planned as ${state.status} with ${state.plan?.steps.length ?? 0} steps`);
    return undefined;
  }
  const approvedAt = Date.now();
  await approve(stack.client, requestId, state.plan.hash);
  // Followed without polling while the playbook runs: queries would load the worker being timed.
  const done = await waitForEnd(stack.client, requestId);
  // A pause for capacity (the machine's load average over the default threshold) is reported, not
  // timed; the request is resumed so that it does not run beside the next one.
  if (done.status === 'paused') {
    errors.push(`request ${requestId}: paused (${done.pausedReason ?? 'no reason'})`);
    await resume(stack.client, requestId).catch(() => undefined);
    await waitForSettled(stack.client, requestId);
    return undefined;
  }
  const step = done.steps[0]!;
  if (step.status !== 'completed') {
    errors.push(`request ${requestId}: step ${step.status} (request ${done.status}${done.pausedReason ? `: ${done.pausedReason}` : ''})`);
    return undefined;
  }
  const recordedAt = await stepRecordedAt(stack, requestId);
  const runStarted = Date.parse(step.startedAt ?? '');
  const runFinished = Date.parse(step.finishedAt ?? '');
  return { ms: recordedAt - approvedAt, beforeRunMs: runStarted - approvedAt, afterRunMs: recordedAt - runFinished };
}

const EventType = proto.temporal.api.enums.v1.EventType;

/** When the workflow task that took in the runStep activity's result completed (server time, ms). */
async function stepRecordedAt(stack: BenchStack, requestId: string): Promise<number> {
  const history = await stack.client.workflow.getHandle(workflowIdFor(requestId)).fetchHistory();
  const events = history.events ?? [];
  const runStepScheduled = new Set(
    events
      .filter(
        (e) =>
          e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED &&
          e.activityTaskScheduledEventAttributes?.activityType?.name === 'runStep',
      )
      .map((e) => String(e.eventId)),
  );
  const completed = events.findIndex(
    (e) =>
      e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED &&
      runStepScheduled.has(String(e.activityTaskCompletedEventAttributes?.scheduledEventId)),
  );
  const recorded = events.slice(completed + 1).find((e) => e.eventType === EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED);
  if (completed < 0 || !recorded?.eventTime) throw new Error(`request ${requestId}: no completed runStep in its history`);
  return Number(String(recorded.eventTime.seconds ?? 0)) * 1000 + (recorded.eventTime.nanos ?? 0) / 1e6;
}
