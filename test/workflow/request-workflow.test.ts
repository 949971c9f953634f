// The request workflow, branch by branch, on the time-skipping test server with MOCKED activities
// (test/support/mock-activities.ts): no ansible, no database, no git. Waits of hours and days
// (approval timeout, retry window, capacity re-checks) are skipped, never waited for in real time.
// One test environment and one workflow bundle for the file; one worker per test on its own task queue.
import { ApplicationFailure, CancelledFailure, WorkflowFailedError } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ChiffonActivities } from '../../activities/index.js';
import { STALE_PLAN, type DecisionInput, type OperatorAction, type RequestInput } from '../../domain/request-state.js';
import type { Plan } from '../../domain/types.js';
import { hostTaskQueue } from '../../domain/fleet.js';
import { NOTIFICATION_EVENTS } from '../../domain/notifications.js';
import { NOTIFY_PATCH, PREVIEW_PATCH, SHORT_STEP_PATH_PATCH } from '../../workflows/request-run.js';
import {
  cancelUpdate,
  capacityChangedSignal,
  checkRunUpdate,
  decideUpdate,
  provideInputUpdate,
  Refused,
  requestStateQuery,
  resumeUpdate,
  retryUpdate,
  stepStartedSignal,
} from '../../workflows/messages.js';
import {
  deferred,
  failedRun,
  FAKE_FINDINGS,
  fakeFleetPlan,
  fakePlan,
  mockActivities,
  runStepCancellableAt,
  runUntilCancelled,
  succeededRun,
  type MockedActivities,
} from '../support/mock-activities.js';
import {
  acceptedUpdates,
  bundleChiffonWorkflows,
  createTimeSkippingEnv,
  expectRefused,
  freshTaskQueue,
  rejectedUpdateEvents,
  servicesAttribute,
  startRequest,
  statusAttribute,
  statusUpserts,
  terminateLeftOpen,
  waitForState,
  waitForStatus,
  waitUntilIdle,
  withWorker,
  type RequestHandle,
} from '../support/workflow-env.js';

let env: TestWorkflowEnvironment;
let workflowBundle: WorkflowBundleWithSourceMap;

beforeAll(async () => {
  [env, workflowBundle] = await Promise.all([createTimeSkippingEnv(), bundleChiffonWorkflows()]);
});

afterAll(async () => {
  await env?.teardown();
});

/** Workflows the current test started. Time skipping is global to the test server, so a workflow
 * that a failed test left open (or stuck) must not get in the way of the next tests. */
const startedThisTest: RequestHandle[] = [];
afterEach(() => terminateLeftOpen(startedThisTest.splice(0), 'left open by a workflow test'));

const HOUR = 60 * 60 * 1000;
const DAY = 24 * HOUR;
const PLAN = fakePlan();
const TASK_IDS = PLAN.steps.map((s) => s.taskId); // task-0, task-1, task-2
const FAILING_PLAYBOOK = PLAN.steps[1]!.playbook;

/** A worker with `activities` on a fresh task queue; `fn` gets a starter bound to that queue. */
function run<T>(
  activities: MockedActivities,
  fn: (start: (input?: Partial<RequestInput>) => ReturnType<typeof startRequest>) => Promise<T>,
): Promise<T> {
  const taskQueue = freshTaskQueue();
  return withWorker(env, workflowBundle, taskQueue, activities, () =>
    fn(async (input) => {
      const started = await startRequest(env, taskQueue, input);
      startedThisTest.push(started.handle);
      return started;
    }),
  );
}

const approve = (handle: RequestHandle, decision: Partial<DecisionInput> = {}) =>
  handle.executeUpdate(decideUpdate, { args: [{ approver: 'alice', approved: true, planHash: PLAN.hash, ...decision }] });

/** `auditTask` that holds the audit of `taskId`'s completed run (a slow git commit) until `held` resolves. */
function auditHeldFor(taskId: string, held: Promise<void>): ChiffonActivities['auditTask'] {
  return async (input) => {
    if (input.step.taskId === taskId && input.status === 'completed') await held;
    return { commit: `commit-${input.step.taskId}-${input.status}`, path: `.audit/tasks/${input.step.taskId}.json` };
  };
}

/** `runStep` that fails (as a playbook result) for the given task ids and succeeds for the rest. */
function failingFor(...taskIds: string[]): ChiffonActivities['runStep'] {
  return async (input) => (taskIds.includes(input.step.taskId) ? failedRun(input.step.playbook) : succeededRun(input.step.playbook));
}

/** Consecutive equal entries once: the preflight records the request again (with its preview) while it waits. */
function changesOf<T>(entries: T[]): T[] {
  return entries.filter((entry, i) => i === 0 || JSON.stringify(entry) !== JSON.stringify(entries[i - 1]));
}
const statusChanges = (records: { status: string }[]) => changesOf(records.map((r) => r.status));
const auditSummary = (acts: MockedActivities) => acts.audits().map((a) => `${a.step.taskId}:${a.status}:${a.attempt}`);

describe('request workflow', () => {
  it('happy path: plans, waits for approval, runs every step in order, audits each task once, completes', async () => {
    const acts = mockActivities();
    await run(acts, async (start) => {
      const { handle, planned } = await start();

      // Planned and waiting: nothing has run.
      expect(planned.status).toBe('pending_approval');
      expect(planned.plan?.hash).toBe(PLAN.hash);
      expect(planned.intents.map((i) => i.name)).toEqual(['deploy_kuma', 'add_portals_to_config', 'reload_proxy']);
      expect(planned.steps).toEqual(
        TASK_IDS.map((taskId, index) => ({ index, taskId, attempt: 1, playbook: PLAN.steps[index]!.playbook, status: 'pending' })),
      );
      expect((await handle.query(requestStateQuery)).status).toBe('pending_approval');
      await expect.poll(() => statusAttribute(handle)).toBe('pending_approval');
      expect(await servicesAttribute(handle)).toEqual(['kuma', 'caddy']);
      expect(acts.stepRuns()).toEqual([]);

      const decided = await approve(handle, { approver: '  alice  ', comment: 'ship it' });
      expect(decided.status).toBe('running');
      expect(decided.decision).toMatchObject({ approver: 'alice', approved: true, comment: 'ship it', planHash: PLAN.hash });

      const final = await handle.result();
      expect(final.status).toBe('completed');
      expect(final.steps.map((s) => [s.taskId, s.status, s.exitCode, s.auditCommit])).toEqual(
        TASK_IDS.map((id) => [id, 'completed', 0, `commit-${id}-completed`]),
      );

      // In order, each after a capacity check, each audited after it ran, with the approved fingerprint.
      expect(acts.names().filter((n) => ['checkCapacity', 'runStep'].includes(n))).toEqual(
        TASK_IDS.flatMap(() => ['checkCapacity', 'runStep']),
      );
      const callOf = (name: string, taskId: string) =>
        acts.calls.findIndex((c) => c.name === name && (c.args[0] as { step: { taskId: string } }).step.taskId === taskId);
      for (const id of TASK_IDS) expect(callOf('auditTask', id)).toBeGreaterThan(callOf('runStep', id));
      expect(acts.stepRuns().map((r) => [r.step.taskId, r.step.playbook, r.fingerprint])).toEqual(
        PLAN.steps.map((s) => [s.taskId, s.playbook, PLAN.fingerprint]),
      );
      expect(auditSummary(acts)).toEqual(TASK_IDS.map((id) => `${id}:completed:1`));
      expect(acts.audits()[0]).toMatchObject({
        requestId: final.requestId,
        planId: PLAN.planId,
        outcome: 'completed: 2 task results, 1 changed',
      });
      expect(acts.analyzed()).toEqual([]);

      expect(statusChanges(acts.records())).toEqual(['pending_approval', 'running', 'completed']);
      expect(await statusUpserts(handle)).toEqual(['pending_approval', 'running', 'completed']);
      expect(await statusAttribute(handle)).toBe('completed');
      expect(await acceptedUpdates(handle)).toEqual(['planReady', 'decide']);
    });
  });

  it("a completed step's audit goes on beside the next step; the request completes only once every audit is in", async () => {
    const firstAudit = deferred();
    const acts = mockActivities({ auditTask: auditHeldFor(TASK_IDS[0]!, firstAudit.promise) });
    await run(acts, async (start) => {
      const { handle } = await start();
      await approve(handle);
      // Every step ran while the first one's audit was still held.
      const ran = await waitForState(handle, (s) => s.steps.every((step) => step.status === 'completed'), 'every step completed');
      expect(acts.stepRuns().map((r) => r.step.taskId)).toEqual(TASK_IDS);
      expect(ran.status).toBe('running');
      expect(ran.steps[0]!.auditCommit).toBeUndefined();
      expect(acts.records().map((r) => r.status)).not.toContain('completed');

      firstAudit.resolve();
      const final = await handle.result();
      expect(final.status).toBe('completed');
      expect(final.steps.map((s) => s.auditCommit)).toEqual(TASK_IDS.map((id) => `commit-${id}-completed`));
      expect(auditSummary(acts)).toEqual(expect.arrayContaining(TASK_IDS.map((id) => `${id}:completed:1`)));
      expect(acts.audits()).toHaveLength(TASK_IDS.length);
    });
  });

  it('a cancel during the next step still audits the step that completed before it', async () => {
    const firstAudit = deferred();
    const running = deferred();
    const acts = mockActivities({
      auditTask: auditHeldFor(TASK_IDS[0]!, firstAudit.promise),
      runStep: runStepCancellableAt(TASK_IDS[1]!, () => running.resolve()),
    });
    await run(acts, async (start) => {
      const { handle } = await start();
      await approve(handle);
      await running.promise;
      await handle.executeUpdate(cancelUpdate, { args: [{ by: 'dave' }] });
      firstAudit.resolve();
      const final = await handle.result();
      expect(final.status).toBe('cancelled');
      // The first step's audit, started before the cancel, is in before the cancelled step's.
      expect(auditSummary(acts)).toEqual([`${TASK_IDS[0]}:completed:1`, `${TASK_IDS[1]}:cancelled:1`, `${TASK_IDS[2]}:skipped:1`]);
    });
  });

  it('reject: nothing runs, every task is audited skipped, the comment is recorded', async () => {
    const acts = mockActivities();
    await run(acts, async (start) => {
      const { handle } = await start();
      const decided = await handle.executeUpdate(decideUpdate, {
        args: [{ approver: 'bob', approved: false, comment: 'not during business hours' }],
      });
      expect(decided.status).toBe('rejected');

      const final = await handle.result();
      expect(final.status).toBe('rejected');
      expect(final.decision).toMatchObject({ approver: 'bob', approved: false, comment: 'not during business hours' });
      expect(final.steps.map((s) => s.status)).toEqual(['skipped', 'skipped', 'skipped']);
      expect(acts.stepRuns()).toEqual([]);
      expect(acts.names()).not.toContain('checkCapacity');
      expect(auditSummary(acts)).toEqual(TASK_IDS.map((id) => `${id}:skipped:1`));
      expect(acts.audits().map((a) => a.outcome)).toEqual(
        TASK_IDS.map(() => 'not run: request rejected by bob (not during business hours)'),
      );
      // The requests table gets the decision and its comment.
      expect(acts.records().at(-1)).toMatchObject({
        status: 'rejected',
        decision: { approver: 'bob', approved: false, comment: 'not during business hours' },
      });
      expect(await statusAttribute(handle)).toBe('rejected');
    });
  });

  it('approval timeout: skipped time, not real time; expires, nothing runs, every task audited skipped', async () => {
    const acts = mockActivities();
    await run(acts, async (start) => {
      const { handle } = await start(); // default approval timeout: 24 hours
      const realStart = Date.now();
      const serverStart = await env.currentTimeMs();

      await env.sleep(23 * HOUR);
      expect((await handle.query(requestStateQuery)).status).toBe('pending_approval');
      expect(acts.audits()).toEqual([]);

      await env.sleep(2 * HOUR);
      const final = await handle.result();
      expect(final.status).toBe('expired');
      expect((await env.currentTimeMs()) - serverStart).toBeGreaterThanOrEqual(24 * HOUR);
      expect(Date.now() - realStart).toBeLessThan(20_000);

      expect(final.decision).toBeUndefined();
      expect(acts.stepRuns()).toEqual([]);
      expect(auditSummary(acts)).toEqual(TASK_IDS.map((id) => `${id}:skipped:1`));
      expect(acts.audits()[0]!.outcome).toBe('not run: no decision within 24 hours');
      expect(statusChanges(acts.records())).toEqual(['pending_approval', 'expired']);
      expect(await statusAttribute(handle)).toBe('expired');
    });
  });

  it('update validators refuse without a trace: no approver, a changed plan hash, a second decision, retry and resume out of turn', async () => {
    const firstStep = deferred();
    const acts = mockActivities({
      async runStep(input) {
        if (input.step.taskId === TASK_IDS[0]) await firstStep.promise; // keep the request running while we decide again
        return succeededRun(input.step.playbook);
      },
    });
    await run(acts, async (start) => {
      const { handle } = await start();
      await expectRefused(approve(handle, { approver: '   ' }), Refused.identityRequired);
      await expectRefused(handle.executeUpdate(decideUpdate, { args: [{ approved: true } as DecisionInput] }), Refused.identityRequired);
      await expectRefused(approve(handle, { planHash: 'hash-the-person-looked-at-earlier' }), Refused.planChanged);
      await expectRefused(handle.executeUpdate(retryUpdate, { args: [{ by: 'dave' }] }), Refused.notFailed);
      await expectRefused(handle.executeUpdate(resumeUpdate, { args: [{ by: 'dave' }] }), Refused.notPaused);
      expect((await handle.query(requestStateQuery)).status).toBe('pending_approval');

      expect((await approve(handle)).status).toBe('running');
      await waitForState(handle, (s) => s.steps[0]!.status === 'running', 'step 1 running');
      await expectRefused(approve(handle, { approver: 'mallory' }), Refused.notPendingApproval);
      await expectRefused(
        handle.executeUpdate(decideUpdate, { args: [{ approver: 'mallory', approved: false }] }),
        Refused.notPendingApproval,
      );
      firstStep.resolve();

      const final = await handle.result();
      expect(final.status).toBe('completed');
      expect(final.decision?.approver).toBe('alice');
      // Only the accepted updates are in the history; refused ones left neither an accepted nor a rejected event.
      expect(await acceptedUpdates(handle)).toEqual(['planReady', 'decide']);
      expect(await rejectedUpdateEvents(handle)).toBe(0);
    });
  });

  it('a failed step: its playbook is analyzed, the rest are skipped, the request fails (and stays failed once the retry window closes)', async () => {
    const acts = mockActivities({ runStep: failingFor(TASK_IDS[1]!) });
    await run(acts, async (start) => {
      const { handle } = await start();
      await approve(handle);
      const failed = await waitForStatus(handle, 'failed');

      expect(acts.analyzed()).toEqual([FAILING_PLAYBOOK]);
      expect(acts.stepRuns().map((r) => r.step.taskId)).toEqual([TASK_IDS[0], TASK_IDS[1]]); // a failed playbook is never retried
      expect(failed.steps.map((s) => s.status)).toEqual(['completed', 'failed', 'skipped']);
      expect(failed.steps[1]!.exitCode).toBe(2);
      expect(auditSummary(acts)).toEqual([`${TASK_IDS[0]}:completed:1`, `${TASK_IDS[1]}:failed:1`, `${TASK_IDS[2]}:skipped:1`]);
      const failedAudit = acts.audits()[1]!;
      expect(failedAudit.outcome).toBe(`failed at task "${FAILING_PLAYBOOK}: apply" on localhost: boom`);
      expect(failedAudit.findings).toEqual(FAKE_FINDINGS);
      expect(failedAudit.run?.exitCode).toBe(2);
      expect(acts.audits()[2]!.outcome).toBe('not run: an earlier step failed');
      await expect.poll(() => statusAttribute(handle)).toBe('failed');

      // Nobody retries: after the 7-day retry window (skipped) the workflow ends, still failed.
      const serverStart = await env.currentTimeMs();
      const final = await handle.result();
      expect(final.status).toBe('failed');
      expect((await env.currentTimeMs()) - serverStart).toBeGreaterThanOrEqual(7 * DAY - HOUR);
      expect(statusChanges(acts.records())).toEqual(['pending_approval', 'running', 'failed']);
    });
  });

  it('a step whose worker keeps failing: retried 3 times, then failed without analysis (there is no run to analyze)', async () => {
    const acts = mockActivities({
      async runStep(input) {
        if (input.step.taskId === TASK_IDS[0]) throw new Error('the worker lost its disk');
        return succeededRun(input.step.playbook);
      },
    });
    await run(acts, async (start) => {
      const { handle } = await start({ retryWindow: '1 hour' });
      await approve(handle);
      const final = await handle.result();
      expect(final.status).toBe('failed');
      expect(acts.stepRuns().map((r) => r.step.taskId)).toEqual([TASK_IDS[0], TASK_IDS[0], TASK_IDS[0]]);
      expect(acts.analyzed()).toEqual([]);
      expect(auditSummary(acts)).toEqual([`${TASK_IDS[0]}:failed:1`, `${TASK_IDS[1]}:skipped:1`, `${TASK_IDS[2]}:skipped:1`]);
      expect(acts.audits()[0]!.outcome).toBe('could not run: the worker lost its disk');
    });
  });

  it('cancel while waiting for approval: nothing runs, every task audited skipped, status cancelled', async () => {
    const acts = mockActivities();
    await run(acts, async (start) => {
      const { handle } = await start();
      await waitUntilIdle(handle);
      await handle.cancel();
      const error = await handle.result().catch((err: unknown) => err);
      expect(error).toBeInstanceOf(WorkflowFailedError);
      expect((error as WorkflowFailedError).cause).toBeInstanceOf(CancelledFailure);

      expect(acts.stepRuns()).toEqual([]);
      expect(auditSummary(acts)).toEqual(TASK_IDS.map((id) => `${id}:skipped:1`));
      expect(acts.audits().map((a) => a.outcome)).toEqual(TASK_IDS.map(() => 'not run: request cancelled'));
      expect(statusChanges(acts.records())).toEqual(['pending_approval', 'cancelled']);
      expect((await handle.query(requestStateQuery)).status).toBe('cancelled');
      expect(await statusAttribute(handle)).toBe('cancelled');
    });
  });

  it('cancel during a running step: the step sees the cancellation, is audited cancelled, the rest skipped', async () => {
    const running = deferred();
    const acts = mockActivities({
      runStep: runStepCancellableAt(TASK_IDS[1]!, () => running.resolve()),
    });
    await run(acts, async (start) => {
      const { handle } = await start();
      await approve(handle);
      await running.promise;
      const during = await waitForState(handle, (s) => s.steps[1]!.status === 'running', 'step 2 running');
      expect(during.status).toBe('running');
      expect(during.steps.map((s) => s.status)).toEqual(['completed', 'running', 'pending']);
      await expect.poll(() => statusAttribute(handle)).toBe('running');

      await handle.cancel();
      const error = await handle.result().catch((err: unknown) => err);
      expect(error).toBeInstanceOf(WorkflowFailedError);
      expect((error as WorkflowFailedError).cause).toBeInstanceOf(CancelledFailure);

      // The mocked run waited for its cancellation (WAIT_CANCELLATION_COMPLETED) and was not retried.
      expect(acts.stepRuns().map((r) => r.step.taskId)).toEqual([TASK_IDS[0], TASK_IDS[1]]);
      expect(auditSummary(acts)).toEqual([`${TASK_IDS[0]}:completed:1`, `${TASK_IDS[1]}:cancelled:1`, `${TASK_IDS[2]}:skipped:1`]);
      expect(acts.audits()[1]!.outcome).toBe('cancelled while running; its process tree was stopped');
      expect(acts.audits()[2]!.outcome).toBe('not run: request cancelled');
      const final = await handle.query(requestStateQuery);
      expect(final.status).toBe('cancelled');
      expect(final.steps.map((s) => s.status)).toEqual(['completed', 'cancelled', 'skipped']);
      expect(acts.records().at(-1)?.status).toBe('cancelled');
      expect(await statusAttribute(handle)).toBe('cancelled');
      const history = await handle.fetchHistory();
      expect(history.events?.some((e) => e.activityTaskCanceledEventAttributes != null)).toBe(true);
    });
  });

  it('pause for low capacity, then go on by itself when capacity returns', async () => {
    const reason = 'agent-1: load 3.00 per CPU is above 2';
    let capacityChecks = 0;
    const acts = mockActivities({
      async checkCapacity() {
        capacityChecks += 1;
        return capacityChecks === 1 ? { ok: false, reason } : { ok: true };
      },
    });
    await run(acts, async (start) => {
      const { handle } = await start(); // re-checks after 30 s, then less and less often
      await approve(handle);
      const paused = await waitForStatus(handle, 'paused');
      expect(paused.pausedReason).toBe(reason);
      expect(paused.steps.map((s) => s.status)).toEqual(['pending', 'pending', 'pending']);
      await expect.poll(() => statusAttribute(handle)).toBe('paused');

      await env.sleep(20_000); // before the first re-check: still paused, nothing ran
      expect((await handle.query(requestStateQuery)).status).toBe('paused');
      expect(capacityChecks).toBe(1);
      expect(acts.stepRuns()).toEqual([]);

      const final = await handle.result();
      expect(final.status).toBe('completed');
      expect(final.pausedReason).toBeUndefined();
      expect(acts.stepRuns().map((r) => r.step.taskId)).toEqual(TASK_IDS);
      expect(changesOf(acts.records().map((r) => [r.status, r.pausedReason]))).toEqual([
        ['pending_approval', undefined],
        ['running', undefined],
        ['paused', reason],
        ['running', undefined],
        ['completed', undefined],
      ]);
      expect(await statusUpserts(handle)).toEqual(['pending_approval', 'running', 'paused', 'running', 'completed']);
    });
  });

  it('pause for low capacity, then a capacityChanged signal (an agent has room again) makes it check at once', async () => {
    let room = false;
    const acts = mockActivities({
      checkCapacity: async () => (room ? { ok: true } : { ok: false, reason: 'agent-1: load 9.00 per CPU is above 2' }),
    });
    await run(acts, async (start) => {
      const { handle } = await start({ capacityRecheckMs: DAY }); // its own re-check would wait a day
      await approve(handle);
      await waitForStatus(handle, 'paused');
      room = true;
      await handle.signal(capacityChangedSignal);
      // Polled in real time: the test server skips no time meanwhile, so only the signal can wake it.
      await waitForState(handle, (s) => s.status !== 'paused', 'the request going on');
      expect((await handle.result()).status).toBe('completed');
      expect(acts.calls.filter((c) => c.name === 'checkCapacity')).toHaveLength(TASK_IDS.length + 1);
    });
  });

  it('pause for low capacity, then an operator resumes (resume update): the rest of the run is not held back again', async () => {
    let capacityChecks = 0;
    const acts = mockActivities({
      async checkCapacity() {
        capacityChecks += 1;
        // Busy for the whole run: only the operator's resume lets the steps through, and it lasts.
        return { ok: false, reason: 'agent-1: already runs 4/4 steps' };
      },
    });
    await run(acts, async (start) => {
      const { handle } = await start({ capacityRecheckMs: 6 * HOUR });
      await approve(handle);
      await waitForStatus(handle, 'paused');
      await waitUntilIdle(handle); // the re-check timer has started (and was not elided with the resume)

      await expectRefused(handle.executeUpdate(resumeUpdate, { args: [{ by: ' ' }] }), Refused.identityRequired);
      const resumed = await handle.executeUpdate(resumeUpdate, { args: [{ by: 'carol' } satisfies OperatorAction] });
      expect(resumed.status).toBe('paused'); // the update is accepted; the workflow goes on right after

      const final = await handle.result();
      expect(final.status).toBe('completed');
      // The operator, not the re-check timer: the timer was cancelled, never fired, and capacity was
      // checked once before the pause, once after the resume (still busy: overridden), once per later step.
      const events = (await handle.fetchHistory()).events ?? [];
      const recheckTimers = events
        .filter((e) => Number(e.timerStartedEventAttributes?.startToFireTimeout?.seconds ?? 0) === (6 * HOUR) / 1000)
        .map((e) => e.timerStartedEventAttributes!.timerId);
      expect(recheckTimers).toHaveLength(1);
      expect(events.filter((e) => e.timerCanceledEventAttributes?.timerId === recheckTimers[0])).toHaveLength(1);
      expect(events.filter((e) => e.timerFiredEventAttributes != null)).toHaveLength(0);
      expect(capacityChecks).toBe(4);
      expect(acts.stepRuns().map((r) => r.step.taskId)).toEqual(TASK_IDS);
      expect(statusChanges(acts.records())).toEqual(['pending_approval', 'running', 'paused', 'running', 'completed']);
      expect(await acceptedUpdates(handle)).toEqual(['planReady', 'decide', 'resume']);
      expect(await rejectedUpdateEvents(handle)).toBe(0);
    });
  });

  it('pause for an overloaded agent that runs steps: the agent holds the step, and the request goes on the moment it starts it', async () => {
    const reason = 'no agent has room: agent-1: CPU pressure 95% (some avg10) is above 80% while it runs 2 steps';
    let capacityChecks = 0;
    const release = deferred();
    const acts = mockActivities({
      async checkCapacity() {
        capacityChecks += 1;
        return capacityChecks === 1 ? { ok: false, wait: 'overloaded' as const, reason } : { ok: true };
      },
      async runStep(input) {
        if (input.hold) await release.promise; // held by its agent
        return succeededRun(input.step.playbook);
      },
    });
    await run(acts, async (start) => {
      const { handle } = await start({ capacityRecheckMs: DAY }); // no re-check timer could end this pause
      await approve(handle);
      const paused = await waitForStatus(handle, 'paused');
      expect(paused.pausedReason).toBe(reason);
      expect(paused.steps.map((s) => s.status)).toEqual(['waiting', 'pending', 'pending']);
      expect(paused.steps[0]!.waitingReason).toBe(reason);
      // Handed to the agent while paused, marked to be held, and only after the pause was recorded
      // (the held step watches that record for a resume).
      await expect.poll(() => acts.stepRuns().length).toBe(1);
      expect(acts.stepRuns()[0]).toMatchObject({ hold: true, notifyStart: true, step: { taskId: TASK_IDS[0] } });
      const order = acts.calls.map((c) => (c.name === 'recordRequest' ? `record ${(c.args[0] as { status: string }).status}` : c.name));
      expect(order.indexOf('record paused')).toBeGreaterThan(-1);
      expect(order.indexOf('record paused')).toBeLessThan(order.indexOf('runStep'));
      expect(await statusAttribute(handle)).toBe('paused');

      // The agent has room and starts the step: what the real runStep sends at that moment.
      await handle.signal(stepStartedSignal, { taskId: TASK_IDS[0]!, agent: 'agent-1' });
      const resumed = await waitForState(handle, (s) => s.status === 'running', 'the request going on');
      expect(resumed.pausedReason).toBeUndefined();
      expect(resumed.steps[0]!.status).toBe('running');
      release.resolve();
      expect((await handle.result()).status).toBe('completed');
      expect(acts.stepRuns().map((r) => [r.step.taskId, r.hold])).toEqual([
        [TASK_IDS[0], true],
        [TASK_IDS[1], undefined],
        [TASK_IDS[2], undefined],
      ]);
      expect(changesOf(acts.records().map((r) => [r.status, r.pausedReason]))).toEqual([
        ['pending_approval', undefined],
        ['running', undefined],
        ['paused', reason],
        ['running', undefined],
        ['completed', undefined],
      ]);
      // No pause loop: the agent, not a capacityChanged signal or a timer, ended the pause.
      expect(capacityChecks).toBe(TASK_IDS.length);
    });
  });

  it('an operator resumes a request whose step its agent holds: the resume is recorded (it lifts the hold) and lasts for the run', async () => {
    const reason = 'no agent has room: agent-1: 5.0% memory free is below 10% while it runs 1 step';
    const release = deferred();
    const acts = mockActivities({
      checkCapacity: async () => ({ ok: false, wait: 'overloaded' as const, reason }), // overloaded throughout
      async runStep(input) {
        if (input.hold) await release.promise;
        return succeededRun(input.step.playbook);
      },
    });
    await run(acts, async (start) => {
      const { handle } = await start({ capacityRecheckMs: DAY });
      await approve(handle);
      await waitForStatus(handle, 'paused');
      await expect.poll(() => acts.stepRuns().length).toBe(1);

      await handle.executeUpdate(resumeUpdate, { args: [{ by: 'carol' } satisfies OperatorAction] });
      // Recorded running at once, the step still held until the agent lets it go (the record is what it watches).
      await expect.poll(() => acts.records().at(-1)?.status).toBe('running');
      const state = await handle.query(requestStateQuery);
      expect([state.status, state.pausedReason, state.steps[0]!.status]).toEqual(['running', undefined, 'waiting']);
      await handle.signal(stepStartedSignal, { taskId: TASK_IDS[0]!, agent: 'agent-1' });
      release.resolve();
      expect((await handle.result()).status).toBe('completed');
      // The later steps are not held back again: the operator's resume lasts for this run.
      expect(acts.stepRuns().map((r) => r.hold)).toEqual([true, undefined, undefined]);
      expect(statusChanges(acts.records())).toEqual(['pending_approval', 'running', 'paused', 'running', 'completed']);
      expect(await acceptedUpdates(handle)).toEqual(['planReady', 'decide', 'resume']);
    });
  });

  it('retry from the failed step with an unchanged plan: only steps 2.. re-run, with new task ids, without a new approval', async () => {
    const acts = mockActivities({ runStep: failingFor(TASK_IDS[1]!) });
    await run(acts, async (start) => {
      const { handle } = await start();
      await approve(handle);
      await waitForStatus(handle, 'failed');

      await expectRefused(handle.executeUpdate(retryUpdate, { args: [{ by: '' }] }), Refused.identityRequired);
      await handle.executeUpdate(retryUpdate, { args: [{ by: 'dave' }] });
      const final = await handle.result();

      expect(final.status).toBe('completed');
      expect(acts.names().filter((n) => n === 'refreshPlan')).toHaveLength(1);
      expect(acts.stepRuns().map((r) => r.step.taskId)).toEqual([TASK_IDS[0], TASK_IDS[1], `${TASK_IDS[1]}.r2`, `${TASK_IDS[2]}.r2`]);
      expect(auditSummary(acts)).toEqual([
        `${TASK_IDS[0]}:completed:1`,
        `${TASK_IDS[1]}:failed:1`,
        `${TASK_IDS[2]}:skipped:1`,
        `${TASK_IDS[1]}.r2:completed:2`,
        `${TASK_IDS[2]}.r2:completed:2`,
      ]);
      expect(final.steps.map((s) => [s.taskId, s.attempt, s.status])).toEqual([
        [TASK_IDS[0], 1, 'completed'],
        [`${TASK_IDS[1]}.r2`, 2, 'completed'],
        [`${TASK_IDS[2]}.r2`, 2, 'completed'],
      ]);
      expect(final.previousDecisions).toEqual([]);
      expect(final.decision?.planHash).toBe(PLAN.hash);
      expect(statusChanges(acts.records())).toEqual(['pending_approval', 'running', 'failed', 'running', 'completed']);
      expect(await acceptedUpdates(handle)).toEqual(['planReady', 'decide', 'retryFromFailedStep']);
    });
  });

  it('retry after the playbook changed (new plan hash): pending approval again, and only a decision on the new hash runs it', async () => {
    const fixed: Plan = {
      ...PLAN,
      fingerprint: { ...PLAN.fingerprint, playbooks: { ...PLAN.fingerprint.playbooks, [FAILING_PLAYBOOK]: 'sha-config-fixed' } },
      hash: 'hash-v2',
    };
    const acts = mockActivities({ runStep: failingFor(TASK_IDS[1]!), refreshPlan: async () => fixed });
    await run(acts, async (start) => {
      const { handle } = await start();
      await approve(handle);
      await waitForStatus(handle, 'failed');
      await handle.executeUpdate(retryUpdate, { args: [{ by: 'dave' }] });

      const pending = await waitForStatus(handle, 'pending_approval');
      expect(pending.plan?.hash).toBe('hash-v2');
      expect(pending.decision).toBeUndefined();
      expect(pending.previousDecisions).toMatchObject([{ approver: 'alice', approved: true, planHash: PLAN.hash }]);
      expect(pending.steps.map((s) => [s.taskId, s.attempt, s.status])).toEqual([
        [TASK_IDS[0], 1, 'completed'],
        [`${TASK_IDS[1]}.r2`, 2, 'pending'],
        [`${TASK_IDS[2]}.r2`, 2, 'pending'],
      ]);
      await expect.poll(() => statusAttribute(handle)).toBe('pending_approval');
      expect(acts.stepRuns()).toHaveLength(2); // nothing re-ran yet

      await expectRefused(approve(handle, { planHash: PLAN.hash }), Refused.planChanged);
      await approve(handle, { approver: 'erin', planHash: 'hash-v2' });
      const final = await handle.result();

      expect(final.status).toBe('completed');
      expect(final.decision).toMatchObject({ approver: 'erin', planHash: 'hash-v2' });
      expect(
        acts
          .stepRuns()
          .slice(2)
          .map((r) => [r.step.taskId, r.fingerprint.playbooks[FAILING_PLAYBOOK]]),
      ).toEqual([
        [`${TASK_IDS[1]}.r2`, 'sha-config-fixed'],
        [`${TASK_IDS[2]}.r2`, 'sha-config-fixed'],
      ]);
      expect(statusChanges(acts.records())).toEqual(['pending_approval', 'running', 'failed', 'pending_approval', 'running', 'completed']);
      expect(await acceptedUpdates(handle)).toEqual(['planReady', 'decide', 'retryFromFailedStep', 'decide']);
    });
  });

  it.each([
    ['non-retryable', true],
    ['retryable (the activity options list StalePlan as non-retryable anyway)', false],
  ])('stale plan (%s): status stale_plan with its message, the step is not retried, the rest skipped', async (_label, nonRetryable) => {
    const message = `step 2 (${FAILING_PLAYBOOK}) was not run: playbook ${FAILING_PLAYBOOK} changed since the plan was approved`;
    const acts = mockActivities({
      async runStep(input) {
        if (input.step.taskId === TASK_IDS[1]) throw ApplicationFailure.create({ type: STALE_PLAN, nonRetryable, message });
        return succeededRun(input.step.playbook);
      },
    });
    await run(acts, async (start) => {
      const { handle } = await start();
      await approve(handle);
      const final = await handle.result();

      expect(final.status).toBe('stale_plan');
      expect(final.error?.message).toBe(`${message}; re-plan the request to continue`);
      expect(acts.stepRuns().map((r) => r.step.taskId)).toEqual([TASK_IDS[0], TASK_IDS[1]]);
      expect(acts.analyzed()).toEqual([]);
      expect(auditSummary(acts)).toEqual([`${TASK_IDS[0]}:completed:1`, `${TASK_IDS[1]}:skipped:1`, `${TASK_IDS[2]}:skipped:1`]);
      expect(acts.audits()[1]!.outcome).toBe(`not run: ${message}; re-plan the request to continue`);
      expect(acts.audits()[2]!.outcome).toBe('not run: the plan is stale');
      expect(statusChanges(acts.records())).toEqual(['pending_approval', 'running', 'stale_plan']);
      expect(await statusAttribute(handle)).toBe('stale_plan');
    });
  });

  it('unplannable request (nothing known in it): ends at once with the known services, nothing planned or audited', async () => {
    const acts = mockActivities({
      decompose: async () => ({
        ok: false as const,
        message: 'nothing in the request names a known service',
        knownServices: ['caddy', 'kuma'],
      }),
    });
    await run(acts, async (start) => {
      const { handle, planned } = await start({ message: 'Make me a sandwich' });
      expect(planned.status).toBe('unplannable');
      expect(planned.error).toEqual({ message: 'nothing in the request names a known service', knownServices: ['caddy', 'kuma'] });
      const final = await handle.result();
      expect(final.status).toBe('unplannable');
      expect(final.plan).toBeUndefined();
      expect(acts.names()).toEqual(['decompose', 'recordRequest']);
      expect(await statusAttribute(handle)).toBe('unplannable');
    });
  });

  it('unplannable plan (the planner refuses the intents): ends at once, nothing runs', async () => {
    const acts = mockActivities({
      plan: async () => ({ ok: false as const, message: 'playbook x.yml is not in the catalog', missingVars: [] }),
    });
    await run(acts, async (start) => {
      const { handle, planned } = await start();
      expect(planned.status).toBe('unplannable');
      expect(planned.error?.message).toBe('playbook x.yml is not in the catalog');
      expect((await handle.result()).status).toBe('unplannable');
      expect(acts.names()).toEqual(['decompose', 'plan', 'recordRequest']);
    });
  });
});

describe('a required variable nothing can fill', () => {
  const missing = [{ playbook: 'kuma-config-update.yml', vars: ['kuma_monitors'] }];

  it('waits in needs_input, takes the values from a person (validated), then plans with them', async () => {
    const planCalls: unknown[] = [];
    const acts = mockActivities({
      async plan(_intents, supplied = {}) {
        planCalls.push(supplied);
        if (!supplied['kuma-config-update.yml']?.kuma_monitors) {
          return {
            ok: false as const,
            message: 'required variables have no value: kuma-config-update.yml: kuma_monitors',
            missingVars: missing,
          };
        }
        return { ok: true as const, plan: fakePlan() };
      },
    });
    await run(acts, async (start) => {
      const { handle, planned } = await start();
      expect(planned.status).toBe('needs_input');
      expect(planned.missingInputs).toEqual(missing);
      expect(await statusAttribute(handle)).toBe('needs_input');

      const values = { 'kuma-config-update.yml': { kuma_monitors: [{ name: 'nas', url: 'http://nas.lan' }] } };
      await expectRefused(handle.executeUpdate(provideInputUpdate, { args: [{ by: ' ', values }] }), Refused.identityRequired);
      await expectRefused(
        handle.executeUpdate(provideInputUpdate, { args: [{ by: 'erin', values: { 'x.yml': { y: 1 } } }] }),
        Refused.notNeedingInput,
      );
      // Values too deep for the plan hash are refused, not taken (the API refuses them first).
      let deep: unknown = 1;
      for (let i = 0; i < 3_000; i++) deep = { a: deep };
      await expectRefused(
        handle.executeUpdate(provideInputUpdate, { args: [{ by: 'erin', values: { 'kuma-config-update.yml': { kuma_monitors: deep } } }] }),
        Refused.notNeedingInput,
      );
      await handle.executeUpdate(provideInputUpdate, { args: [{ by: 'erin', values }] });

      await waitForStatus(handle, 'pending_approval');
      expect(planCalls).toEqual([{}, values]);
      const state = await handle.query(requestStateQuery);
      expect(state.missingInputs).toBeUndefined();
      expect(state.operatorActions).toEqual([expect.objectContaining({ action: 'input', by: 'erin' })]);
      // Four eyes: whoever gave the values does not also approve them (by any spelling of the name).
      await expectRefused(approve(handle, { approver: ' Erin' }), Refused.selfApproval);
      await approve(handle);
      expect((await handle.result()).status).toBe('completed');
    });
  });

  it('expires when nobody supplies the values in time', async () => {
    const acts = mockActivities({
      plan: async () => ({
        ok: false as const,
        message: 'required variables have no value: kuma-config-update.yml: kuma_monitors',
        missingVars: missing,
      }),
    });
    await run(acts, async (start) => {
      const { handle, planned } = await start();
      expect(planned.status).toBe('needs_input');
      expect((await handle.result()).status).toBe('expired');
      expect(acts.stepRuns()).toEqual([]);
    });
  });
});

// Records, audits and capacity checks are retried without limit: a PostgreSQL outage delays a request,
// it never fails it or leaves it running and unaudited.
describe('a database outage', () => {
  it('during checkCapacity delays the request, which then goes on', async () => {
    let calls = 0;
    const acts = mockActivities({
      async checkCapacity() {
        calls += 1;
        if (calls <= 5) throw new Error('connect ECONNREFUSED 127.0.0.1:5432');
        return { ok: true };
      },
    });
    await run(acts, async (start) => {
      const { handle } = await start();
      await approve(handle);
      const final = await handle.result();
      expect(final.status).toBe('completed');
    });
  });

  it('during an audit that keeps failing for minutes delays the request, which is then audited in full', async () => {
    let calls = 0;
    const acts = mockActivities({
      async auditTask(input) {
        calls += 1;
        if (calls <= 10) throw new Error('connect ECONNREFUSED 127.0.0.1:5432');
        return { commit: `commit-${input.step.taskId}`, path: `.audit/tasks/${input.step.taskId}.json` };
      },
    });
    await run(acts, async (start) => {
      const { handle } = await start();
      await approve(handle);
      const final = await handle.result();
      expect(final.status).toBe('completed');
      expect(final.steps.every((s) => s.auditCommit)).toBe(true);
    });
  });
});

describe('request workflow: notifications (MOCKED notify)', () => {
  const notifyOn = [...NOTIFICATION_EVENTS];
  const eventsOf = (acts: MockedActivities) => acts.notices().map((n) => `${n.event}:${n.status}`);
  /** The ids of the patches (patched()) recorded in the history. */
  async function patchesOf(handle: RequestHandle): Promise<string[]> {
    const history = await handle.fetchHistory();
    return (history.events ?? [])
      .map((e) => e.markerRecordedEventAttributes)
      .filter((m) => m?.markerName === 'core_patch')
      .map((m) => (JSON.parse(Buffer.from(m!.details!['patch-data']!.payloads![0]!.data!).toString('utf8')) as { id: string }).id);
  }

  it('notifies pending_approval and completed once each, after recording them, with the plan outline and never its vars', async () => {
    const acts = mockActivities();
    await run(acts, async (start) => {
      const { handle, planned } = await start({ notifyOn, requestedBy: 'carol' });
      await approve(handle);
      expect((await handle.result()).status).toBe('completed');
      expect(eventsOf(acts)).toEqual(['approval:pending_approval', 'completed:completed']);
      expect(await patchesOf(handle)).toEqual([PREVIEW_PATCH, NOTIFY_PATCH, SHORT_STEP_PATH_PATCH]);
      const [approval, completed] = acts.notices();
      expect(approval).toMatchObject({
        deliveryId: `${planned.requestId}.1`,
        requestId: planned.requestId,
        requestedBy: 'carol',
        plan: { hash: PLAN.hash, services: ['kuma', 'caddy'], stepCount: 3, playbooks: PLAN.steps.map((s) => s.playbook) },
      });
      expect(completed).toMatchObject({ deliveryId: `${planned.requestId}.2`, approvedBy: 'alice' });
      expect(JSON.stringify(acts.notices())).not.toMatch(/kuma_port|kuma_monitors|portal-1/);
      // Each status is in the requests table before anyone is told about it.
      const names = acts.names().filter((n) => n === 'recordRequest' || n === 'notify');
      expect(names.indexOf('notify')).toBeGreaterThan(0);
      expect(names.at(-1)).toBe('notify');
    });
  });

  it('notifies a failed request (failed, with its step) and only the events asked for; nothing without notifyOn', async () => {
    const acts = mockActivities({ runStep: failingFor(TASK_IDS[1]!) });
    await run(acts, async (start) => {
      const { handle } = await start({ notifyOn: ['failed'], retryWindow: '1 hour' });
      await approve(handle);
      expect((await handle.result()).status).toBe('failed');
      expect(eventsOf(acts)).toEqual(['failed:failed']);
      expect(acts.notices()[0]?.failedStep).toEqual({ index: 1, playbook: FAILING_PLAYBOOK });
    });
    const quiet = mockActivities();
    await run(quiet, async (start) => {
      const { handle } = await start();
      await approve(handle);
      expect((await handle.result()).status).toBe('completed');
      expect(quiet.names()).not.toContain('notify');
      expect(await patchesOf(handle)).toEqual([PREVIEW_PATCH, SHORT_STEP_PATH_PATCH]); // no 'notifications' patch
    });
  });

  it('a notify that always throws never fails nor holds up the request: it completes, then gives up on the notification', async () => {
    const acts = mockActivities({
      async notify() {
        throw ApplicationFailure.retryable('the webhook answered 500', 'NotificationFailed');
      },
    });
    await run(acts, async (start) => {
      const { handle } = await start({ notifyOn });
      await approve(handle); // while the approval's notification is being retried
      await waitForStatus(handle, 'completed');
      const final = await handle.result(); // the retries' backoff (up to an hour) is skipped
      expect(final.status).toBe('completed');
      expect(auditSummary(acts)).toEqual(TASK_IDS.map((id) => `${id}:completed:1`));
      expect(acts.notices().length).toBeGreaterThan(2); // retried
      expect(new Set(acts.notices().map((n) => n.event))).toEqual(new Set(['approval', 'completed']));
    });
  });

  it('does not end before its notifications are settled', async () => {
    const held = deferred();
    const acts = mockActivities({
      async notify(notice) {
        if (notice.event === 'completed') await held.promise;
        return { delivered: ['ntfy' as const] };
      },
    });
    await run(acts, async (start) => {
      const { handle } = await start({ notifyOn });
      await approve(handle);
      await waitForStatus(handle, 'completed');
      await expect.poll(() => acts.notices().length).toBe(2);
      const { status, raw } = await handle.describe();
      expect(status.name).toBe('RUNNING');
      expect((raw.pendingActivities ?? []).map((a) => a.activityType?.name)).toEqual(['notify']);
      held.resolve();
      expect((await handle.result()).status).toBe('completed');
    });
  });
});

describe('the worker fleet', () => {
  /** The orchestration worker (mocked activities) and, inside `fn`, whether to start nas's host worker. */
  async function withFleet<T>(
    acts: MockedActivities,
    nasActs: MockedActivities,
    fn: (start: () => ReturnType<typeof startRequest>, startNas: () => Promise<void>) => Promise<T>,
  ): Promise<T> {
    const taskQueue = freshTaskQueue('fleet');
    let nasRunning: Promise<unknown> | undefined;
    let stopNas: (() => void) | undefined;
    try {
      return await withWorker(env, workflowBundle, taskQueue, acts, () =>
        fn(
          async () => {
            const started = await startRequest(env, taskQueue);
            startedThisTest.push(started.handle);
            return started;
          },
          async () => {
            const stopped = new Promise<void>((resolve) => (stopNas = resolve));
            nasRunning = withWorker(env, workflowBundle, hostTaskQueue(taskQueue, 'nas'), nasActs, () => stopped);
          },
        ),
      );
    } finally {
      stopNas?.();
      await nasRunning;
    }
  }

  it("runs a step with an agent on that agent's task queue, never on the shared one", async () => {
    const acts = mockActivities({ plan: async () => ({ ok: true as const, plan: fakeFleetPlan() }) });
    const nasActs = mockActivities();
    await withFleet(acts, nasActs, async (start, startNas) => {
      await startNas();
      const { handle, planned } = await start();
      expect(planned.steps.map((s) => [s.host, s.agent])).toEqual(TASK_IDS.map(() => ['nas-1', 'nas']));
      await approve(handle);
      expect((await handle.result()).status).toBe('completed');
      expect(nasActs.stepRuns().map((r) => [r.step.taskId, r.step.agent, r.notifyStart])).toEqual(
        TASK_IDS.map((id) => [id, 'nas', undefined]),
      );
      expect(acts.stepRuns()).toEqual([]);
      expect(acts.calls.filter((c) => c.name === 'checkCapacity').map((c) => c.args)).toEqual(TASK_IDS.map(() => ['nas']));
      expect(acts.audits().map((a) => [a.step.taskId, a.step.agent])).toEqual(TASK_IDS.map((id) => [id, 'nas']));
    });
  });

  it('leaves the step of an offline agent waiting (visible, not paused) and runs it once the agent takes it', async () => {
    let online = false;
    const acts = mockActivities({
      plan: async () => ({ ok: true as const, plan: fakeFleetPlan() }),
      checkCapacity: async (agent?: string) =>
        online ? { ok: true } : { ok: false, wait: 'offline' as const, reason: `no worker is online for host ${agent}` },
    });
    const release = deferred();
    const nasActs = mockActivities({
      runStep: async (input) => {
        await release.promise;
        return succeededRun(input.step.playbook);
      },
    });
    await withFleet(acts, nasActs, async (start, startNas) => {
      const { handle } = await start();
      await approve(handle);
      const waiting = await waitForState(handle, (s) => s.steps[0]?.status === 'waiting', 'step 1 waiting');
      expect(waiting.status).toBe('running');
      expect(waiting.steps[0]!.waitingReason).toBe('no worker is online for host nas');
      expect(acts.records().at(-1)?.steps[0]?.status).toBe('waiting'); // mirrored for the dashboard's stream
      // The step sits in nas's task queue: nothing else runs it meanwhile, and nothing gives it up.
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      expect((await handle.query(requestStateQuery)).steps[0]!.status).toBe('waiting');
      expect(acts.stepRuns()).toEqual([]);

      online = true;
      await startNas();
      await expect.poll(() => nasActs.stepRuns().length, { timeout: 10_000 }).toBe(1);
      expect(nasActs.stepRuns()[0]!.notifyStart).toBe(true);
      await handle.signal(stepStartedSignal, { taskId: TASK_IDS[0]!, agent: 'nas' }); // what the real runStep sends
      const running = await waitForState(handle, (s) => s.steps[0]?.status === 'running', 'step 1 running');
      expect(running.steps[0]!.waitingReason).toBeUndefined();
      release.resolve();
      expect((await handle.result()).steps.map((s) => s.status)).toEqual(['completed', 'completed', 'completed']);
    });
  });

  it('four eyes: the requester cannot approve their own request unless allowed; they may reject it', async () => {
    await run(mockActivities(), async (start) => {
      const own = await start({ requestedBy: 'alice' });
      expect(own.planned.requestedBy).toBe('alice');
      await expectRefused(approve(own.handle, { approver: 'alice' }), Refused.selfApproval);
      await expectRefused(approve(own.handle, { approver: 'ALICE' }), Refused.selfApproval);
      expect((await approve(own.handle, { approver: 'bob' })).decision?.approver).toBe('bob');

      const withdrawn = await start({ requestedBy: 'alice' });
      expect((await approve(withdrawn.handle, { approver: 'alice', approved: false })).status).toBe('rejected');

      const allowed = await start({ requestedBy: 'alice', allowSelfApproval: true });
      expect((await approve(allowed.handle, { approver: 'alice' })).status).toBe('running');
      // Each ends here, not in afterEach (see terminateLeftOpen).
      for (const { handle } of [own, allowed]) expect((await handle.result()).status).toBe('completed');
    });
  });
});

describe('request workflow: the preflight (MOCKED previewPlan)', () => {
  const retry = (handle: RequestHandle) => handle.executeUpdate(retryUpdate, { args: [{ by: 'alice' }] });
  const unrunnable =
    (problem: string) =>
    async ({ steps }: { steps: Plan['steps'] }) =>
      steps.map((step, i) => ({ ok: i !== 1, hosts: ['localhost'], tasks: [], problems: i === 1 ? [problem] : [] }));

  it('shows the preview on the request while it waits, and holds an early approval until the preview is clean', async () => {
    const held = deferred();
    const acts = mockActivities({
      async previewPlan(input) {
        await held.promise;
        return mockActivities().previewPlan(input);
      },
    });
    await run(acts, async (start) => {
      const { handle, planned } = await start();
      expect(planned.status).toBe('pending_approval');
      // Approved before the preview is done: held, nothing runs yet.
      expect((await approve(handle)).status).toBe('running');
      await waitForState(handle, (s) => s.preview?.status === 'running', 'the preview running');
      expect(acts.stepRuns()).toEqual([]);
      held.resolve();
      const final = await handle.result();
      expect(final.status).toBe('completed');
      expect(final.preview).toMatchObject({
        status: 'ready',
        steps: PLAN.steps.map((s) => ({ ok: true, tasks: [{ name: `run ${s.playbook}` }] })),
      });
      // Recorded as soon as it was there (the request and its stream show it).
      expect(acts.records().some((r) => r.preview?.status === 'ready')).toBe(true);
      // The preflight ran once, for the approved plan, before any step.
      expect(acts.names().filter((n) => n === 'previewPlan')).toHaveLength(1);
      expect(acts.names().indexOf('previewPlan')).toBeLessThan(acts.names().indexOf('runStep'));
    });
  });

  it('ends unrunnable without an approval when a step cannot run, and a retry plans again', async () => {
    let previews = 0;
    const acts = mockActivities({
      async previewPlan(input) {
        previews += 1;
        return previews === 1 ? unrunnable("the role 'geerlingguy.docker' was not found")(input) : mockActivities().previewPlan(input);
      },
    });
    await run(acts, async (start) => {
      const { handle } = await start();
      const ended = await waitForStatus(handle, 'unrunnable');
      expect(ended.error?.message).toBe("step 2 (kuma-config-update.yml): the role 'geerlingguy.docker' was not found");
      expect(ended.steps.map((s) => s.status)).toEqual(['skipped', 'skipped', 'skipped']);
      await expectRefused(approve(handle), Refused.notPendingApproval);
      expect(acts.stepRuns()).toEqual([]);

      // Fixed in the repository: the retry plans from it again, previews again, and waits for a person.
      await retry(handle);
      await waitForStatus(handle, 'pending_approval');
      await waitForState(handle, (s) => s.preview?.status === 'ready', 'the new preview');
      expect(acts.names().filter((n) => n === 'plan')).toHaveLength(2);
      await approve(handle);
      expect((await handle.result()).status).toBe('completed');
    });
  });

  it('voids an approval given before the preview found the plan cannot run', async () => {
    const held = deferred();
    const acts = mockActivities({
      async previewPlan(input) {
        await held.promise;
        return unrunnable('--tags sonarr selects no task of site.yml')(input);
      },
    });
    await run(acts, async (start) => {
      const { handle } = await start();
      await approve(handle);
      held.resolve();
      const ended = await waitForStatus(handle, 'unrunnable');
      expect(ended.error?.message).toBe(
        'the approval by alice is void: step 2 (kuma-config-update.yml): --tags sonarr selects no task of site.yml',
      );
      expect(acts.stepRuns()).toEqual([]);
      expect(auditSummary(acts)).toEqual(TASK_IDS.map((id) => `${id}:skipped:1`));
    });
  });
});

describe('request workflow: check runs (MOCKED checkStep)', () => {
  const check = (handle: RequestHandle, by = 'bob') => handle.executeUpdate(checkRunUpdate, { args: [{ by }] });
  const checkIds = (n: number) => TASK_IDS.map((id) => `${id}.check${n}`);

  it('checks every step of the pending plan in order, audits each as a check run, and leaves the request waiting', async () => {
    const acts = mockActivities();
    await run(acts, async (start) => {
      const { handle } = await start();
      // Answered at once: the check run goes on in the workflow.
      expect((await check(handle)).checkRun).toMatchObject({ number: 1, status: 'waiting', steps: [] });
      const checked = await waitForState(handle, (s) => s.checkRun?.status === 'completed', 'the check run done');
      expect(checked.status).toBe('pending_approval');
      expect(checked.checkRun).toMatchObject({ number: 1, requestedBy: 'bob', planHash: PLAN.hash });
      expect(checked.checkRun!.steps.map((s) => [s.taskId, s.status, s.tasks[0]?.status, s.auditCommit])).toEqual(
        checkIds(1).map((id) => [id, 'completed', 'changed', `commit-${id}-completed`]),
      );
      expect(checked.checkRun!.steps[0]!.tasks[0]!.diff).toContain('+b');
      expect(acts.calls.filter((c) => c.name === 'checkStep').map((c) => (c.args[0] as { step: { taskId: string } }).step.taskId)).toEqual(
        checkIds(1),
      );
      expect(acts.audits().map((a) => [a.step.taskId, a.mode, a.outcome])).toEqual(
        checkIds(1).map((id) => [id, 'check', 'check: 1 task would change on 1 host']),
      );
      expect(checked.operatorActions.map((a) => [a.action, a.by])).toEqual([['check', 'bob']]);
      expect(acts.stepRuns()).toEqual([]);
      // Recorded when it started and when it ended: the stream shows both.
      // (The preview, done meanwhile, may also have recorded it waiting for that preview.)
      expect(changesOf(acts.records().flatMap((r) => (r.checkRun && r.checkRun.status !== 'waiting' ? [r.checkRun.status] : [])))).toEqual([
        'running',
        'completed',
      ]);

      // A second check run is a new one; the approval then runs the plan for real.
      await check(handle, 'alice');
      await waitForState(handle, (s) => s.checkRun?.number === 2 && s.checkRun.status === 'completed', 'the second check run');
      await approve(handle);
      const final = await handle.result();
      expect(final.status).toBe('completed');
      expect(acts.stepRuns().map((s) => s.step.taskId)).toEqual(TASK_IDS);
      expect(auditSummary(acts)).toEqual(
        [...checkIds(1), ...checkIds(2)].map((id) => `${id}:completed:1`).concat(TASK_IDS.map((id) => `${id}:completed:1`)),
      );
    });
  });

  it('refuses a check run without an identity, beside another one, or once the request runs', async () => {
    const held = deferred();
    const running = deferred();
    const acts = mockActivities({
      async checkStep(input) {
        await held.promise;
        return mockActivities().checkStep(input);
      },
      async runStep(input) {
        await running.promise;
        return succeededRun(input.step.playbook);
      },
    });
    await run(acts, async (start) => {
      const { handle } = await start();
      try {
        await expectRefused(check(handle, ' '), Refused.identityRequired);
        await check(handle);
        await waitForState(handle, (s) => s.checkRun?.status === 'running', 'the check run running');
        await expectRefused(check(handle, 'alice'), Refused.checkRunGoing);
        // Refused Updates leave no trace in the history.
        expect(await acceptedUpdates(handle)).toEqual(['planReady', 'checkRun']);
        held.resolve();
        await waitForState(handle, (s) => s.checkRun?.status === 'completed', 'the check run done');
        // A check run never goes beside the real run.
        await approve(handle);
        await waitForState(handle, (s) => s.steps[0]?.status === 'running', 'the first step running');
        await expectRefused(check(handle), Refused.notPendingApproval);
      } finally {
        // A failed expectation must not leave the worker waiting on an activity.
        held.resolve();
        running.resolve();
      }
      expect((await handle.result()).status).toBe('completed');
    });
  });

  it('holds an approval given during a check run until the check run ended', async () => {
    const held = deferred();
    const acts = mockActivities({
      async checkStep(input) {
        if (input.step.index === 1) await held.promise;
        return mockActivities().checkStep(input);
      },
    });
    await run(acts, async (start) => {
      const { handle } = await start();
      await check(handle);
      await waitForState(handle, (s) => s.checkRun?.steps.length === 1, 'the first step checked');
      expect((await approve(handle)).status).toBe('running');
      await waitForState(handle, (s) => s.decision?.approved === true, 'the approval');
      expect(acts.stepRuns()).toEqual([]);
      held.resolve();
      const final = await handle.result();
      expect(final.status).toBe('completed');
      expect(final.checkRun?.status).toBe('completed');
      const names = acts.names();
      expect(names.lastIndexOf('checkStep')).toBeLessThan(names.indexOf('runStep'));
    });
  });

  it('a check run that fails on one step goes on with the others and says so', async () => {
    const acts = mockActivities({
      async checkStep(input) {
        return input.step.index === 0 ? failedRun(input.step.playbook) : mockActivities().checkStep(input);
      },
    });
    await run(acts, async (start) => {
      const { handle } = await start();
      await check(handle);
      const done = await waitForState(handle, (s) => s.checkRun?.status === 'failed', 'the failed check run');
      expect(done.checkRun!.steps.map((s) => s.status)).toEqual(['failed', 'completed', 'completed']);
      expect(done.checkRun!.message).toBe(`step 1: check failed at task "${PLAN.steps[0]!.playbook}: apply" on localhost: boom`);
      expect(done.status).toBe('pending_approval');
    });
  });

  it('a cancel stops the check run: the step being checked is audited cancelled, and so is the request', async () => {
    const started = deferred();
    const acts = mockActivities({
      checkStep: () => runUntilCancelled(() => started.resolve()),
    });
    await run(acts, async (start) => {
      const { handle } = await start();
      await check(handle);
      await started.promise;
      await handle.executeUpdate(cancelUpdate, { args: [{ by: 'alice' }] });
      const final = await handle.result();
      expect(final.status).toBe('cancelled');
      expect(final.checkRun).toMatchObject({ status: 'cancelled', steps: [{ taskId: `${TASK_IDS[0]}.check1`, status: 'cancelled' }] });
      expect(
        acts
          .audits()
          .filter((a) => a.mode === 'check')
          .map((a) => `${a.step.taskId}:${a.status}`),
      ).toEqual([`${TASK_IDS[0]}.check1:cancelled`]);
    });
  });

  it('a rejection during a check run ends the request once the check run is done and audited', async () => {
    const held = deferred();
    const acts = mockActivities({
      async checkStep(input) {
        await held.promise;
        return mockActivities().checkStep(input);
      },
    });
    await run(acts, async (start) => {
      const { handle } = await start();
      await check(handle);
      await waitForState(handle, (s) => s.checkRun?.status === 'running', 'the check run running');
      await approve(handle, { approved: false, approver: 'alice' });
      held.resolve();
      const final = await handle.result();
      expect(final.status).toBe('rejected');
      expect(final.checkRun?.status).toBe('completed');
      expect(acts.audits().filter((a) => a.mode === 'check')).toHaveLength(3);
    });
  });
});
