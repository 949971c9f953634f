// 1. Step overhead: the same small local playbook run directly with ansible-playbook (A) and as a
// one-step approved Chiffon request (B), interleaved A B A B. B is timed from the approval Update
// call to the workflow task that recorded the step's completion, read from the workflow's history
// afterwards (server timestamps, same clock): polling the workflow while the playbook runs would
// itself load the 2 CPUs the playbook runs on.
//
// The same history splits B's overhead into its parts (breakdownMs, p50 of each): the Update's way
// to the workflow, the workflow task that takes the approval and schedules the step (its local
// activities' own times from their markers), the activity's dispatch to the host worker, the
// worker's own work before the run starts and after it ends, and the workflow task that records it.
import proto from '@temporalio/proto';
import { workflowIdFor } from '../domain/request-state.js';
import type { BenchStack } from './stack.js';
import { runAnsibleDirectly } from './ansible.js';
import { approve, resume, waitForEnd, waitForSettled } from './requests.js';
import { BENCH_PLAYBOOK, ONE_STEP_MESSAGE } from './fixtures/repos.js';
import { median, round, summarize } from './stats.js';

/** The parts of a Chiffon run's overhead, in the order they happen (ms). */
export const BREAKDOWN_PARTS = {
  updateDelivered: 'approval Update call → its workflow task scheduled',
  updateTaskPickedUp: 'workflow task scheduled → started (workflow worker poll)',
  recordRequestLa: 'recordRequest local activity (from the task start)',
  checkCapacityLa: 'checkCapacity local activity (from the task start)',
  stepScheduled: 'workflow task started → completed, runStep scheduled',
  activityDispatched: 'runStep scheduled → started (host worker poll)',
  workerBeforeRun: 'runStep started → run started (host worker, before ansible-playbook)',
  workerAfterRun: 'run finished → runStep completed (host worker, after ansible-playbook)',
  resultTaskPickedUp: 'runStep completed → workflow task started',
  resultRecorded: 'workflow task started → completed (step recorded)',
} as const;
export type BreakdownPart = keyof typeof BREAKDOWN_PARTS;

export interface StepOverheadResult {
  n: number;
  playbook: string;
  rawMs: ReturnType<typeof summarize>;
  chiffonMs: ReturnType<typeof summarize>;
  /** Approval → the step's run started (as the activity reports it). */
  beforeRunMs: ReturnType<typeof summarize>;
  /** The step's run finished → the workflow recorded it completed. */
  afterRunMs: ReturnType<typeof summarize>;
  /** p50 of each part (BREAKDOWN_PARTS), from the histories; a part a history did not show is left out. */
  breakdownMs: Partial<Record<BreakdownPart, number>>;
  overheadMs: number;
  ratio: number;
  overheadPercent: number;
  errors: string[];
}

type Breakdown = Partial<Record<BreakdownPart, number>>;

export async function measureStepOverhead(stack: BenchStack, repo: string, n: number): Promise<StepOverheadResult> {
  const worker = await stack.startWorker('step', { playbookRepo: repo });
  const raw: number[] = [];
  const chiffon: number[] = [];
  const before: number[] = [];
  const after: number[] = [];
  const parts: Breakdown[] = [];
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
        parts.push(b.breakdown);
      }
    }
  } finally {
    await worker.stop();
  }
  const overheadMs = median(chiffon) - median(raw);
  const breakdownMs: Breakdown = {};
  for (const part of Object.keys(BREAKDOWN_PARTS) as BreakdownPart[]) {
    const samples = parts.flatMap((p) => (p[part] === undefined ? [] : [p[part]]));
    if (samples.length > 0) breakdownMs[part] = round(median(samples));
  }
  console.log(
    `bench: step overhead parts, p50 ms: ${Object.entries(breakdownMs)
      .map(([part, ms]) => `${BREAKDOWN_PARTS[part as BreakdownPart]} ${ms}`)
      .join('; ')}`,
  );
  return {
    n,
    playbook: BENCH_PLAYBOOK,
    rawMs: summarize(raw),
    chiffonMs: summarize(chiffon),
    beforeRunMs: summarize(before),
    afterRunMs: summarize(after),
    breakdownMs,
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
  const runStarted = Date.parse(step.startedAt ?? '');
  const runFinished = Date.parse(step.finishedAt ?? '');
  const history = await stack.client.workflow.getHandle(workflowIdFor(requestId)).fetchHistory();
  const times = stepTimes(history.events ?? [], requestId);
  return {
    ms: times.recorded - approvedAt,
    beforeRunMs: runStarted - approvedAt,
    afterRunMs: times.recorded - runFinished,
    breakdown: breakdownOf(times, approvedAt, runStarted, runFinished),
  };
}

const EventType = proto.temporal.api.enums.v1.EventType;
type HistoryEvent = proto.temporal.api.history.v1.IHistoryEvent;

function msOf(time: { seconds?: unknown; nanos?: number | null } | null | undefined): number | undefined {
  if (!time) return undefined;
  return Number(String(time.seconds ?? 0)) * 1000 + (time.nanos ?? 0) / 1e6;
}

/** The server times (ms) of a one-step request's approval and step, from its history. */
interface StepTimes {
  /** The workflow task that brought the decide Update: scheduled, started. */
  updateTaskScheduled?: number;
  updateTaskStarted?: number;
  /** When each local activity of that task completed, by type (the worker's clock: the task's start + its runtime). */
  localActivitiesDone: Record<string, number>;
  runStepScheduled?: number;
  runStepStarted?: number;
  runStepCompleted?: number;
  resultTaskStarted?: number;
  /** The workflow task that took in the runStep activity's result completed. */
  recorded: number;
}

function stepTimes(events: HistoryEvent[], requestId: string): StepTimes {
  const at = (i: number) => msOf(events[i]?.eventTime);
  const scheduled = events.findIndex(
    (e) =>
      e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED &&
      e.activityTaskScheduledEventAttributes?.activityType?.name === 'runStep',
  );
  const scheduledId = String(events[scheduled]?.eventId);
  const startedEvent = events.findIndex(
    (e) =>
      e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED &&
      String(e.activityTaskStartedEventAttributes?.scheduledEventId) === scheduledId,
  );
  const completed = events.findIndex(
    (e) =>
      e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED &&
      String(e.activityTaskCompletedEventAttributes?.scheduledEventId) === scheduledId,
  );
  const recordedAt =
    completed < 0 ? -1 : events.findIndex((e, i) => i > completed && e.eventType === EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED);
  const recorded = at(recordedAt);
  if (scheduled < 0 || completed < 0 || recorded === undefined)
    throw new Error(`request ${requestId}: no completed runStep in its history`);
  const lastBefore = (i: number, type: number) => events.findLastIndex((e, j) => j < i && e.eventType === type);
  const resultTaskStarted = events.findIndex((e, i) => i > completed && e.eventType === EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED);
  // The decide Update is the last one accepted before the step was scheduled; its task came before it.
  const accepted = lastBefore(scheduled, EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED);
  const updateTaskStarted = accepted < 0 ? -1 : lastBefore(accepted, EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED);
  const updateTaskScheduled = updateTaskStarted < 0 ? -1 : lastBefore(updateTaskStarted, EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED);
  const localActivitiesDone: Record<string, number> = {};
  for (const e of events.slice(accepted < 0 ? scheduled : accepted, scheduled)) {
    const data = e.markerRecordedEventAttributes?.details?.data?.payloads?.[0]?.data;
    if (e.eventType !== EventType.EVENT_TYPE_MARKER_RECORDED || !data) continue;
    try {
      const marker = JSON.parse(Buffer.from(data).toString('utf8')) as {
        activity_type?: string;
        complete_time?: { seconds?: number; nanos?: number };
      };
      const done = msOf(marker.complete_time);
      if (marker.activity_type && done !== undefined) localActivitiesDone[marker.activity_type] = done;
    } catch {
      // not a local activity's marker
    }
  }
  return {
    updateTaskScheduled: at(updateTaskScheduled),
    updateTaskStarted: at(updateTaskStarted),
    localActivitiesDone,
    runStepScheduled: at(scheduled),
    runStepStarted: at(startedEvent),
    runStepCompleted: at(completed),
    resultTaskStarted: at(resultTaskStarted),
    recorded,
  };
}

function breakdownOf(t: StepTimes, approvedAt: number, runStarted: number, runFinished: number): Breakdown {
  const span = (from: number | undefined, to: number | undefined) =>
    from === undefined || to === undefined || Number.isNaN(from) || Number.isNaN(to) ? undefined : to - from;
  const parts: Breakdown = {
    updateDelivered: span(approvedAt, t.updateTaskScheduled),
    updateTaskPickedUp: span(t.updateTaskScheduled, t.updateTaskStarted),
    recordRequestLa: span(t.updateTaskStarted, t.localActivitiesDone.recordRequest),
    checkCapacityLa: span(t.updateTaskStarted, t.localActivitiesDone.checkCapacity),
    stepScheduled: span(t.updateTaskStarted, t.runStepScheduled),
    activityDispatched: span(t.runStepScheduled, t.runStepStarted),
    workerBeforeRun: span(t.runStepStarted, runStarted),
    workerAfterRun: span(runFinished, t.runStepCompleted),
    resultTaskPickedUp: span(t.runStepCompleted, t.resultTaskStarted),
    resultRecorded: span(t.resultTaskStarted, t.recorded),
  };
  return Object.fromEntries(Object.entries(parts).filter(([, ms]) => ms !== undefined)) as Breakdown;
}
