// Scheduled runs and standing approvals, on the time-skipping test server with MOCKED activities
// (test/support/mock-activities.ts keeps standing approvals in memory, as the table keeps them).
// A Temporal Schedule is not part of the test server: each run is started here the way a Schedule
// starts it (workflow id `request-<schedule id>-<time>`, no request id). The Schedule itself is
// tested on the dev server (test/e2e/schedules.test.ts).
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { NOTIFICATION_EVENTS } from '../../domain/notifications.js';
import type { DecisionInput, RequestInput } from '../../domain/request-state.js';
import { decideUpdate, Refused } from '../../workflows/messages.js';
import { fakePlan, mockActivities, type MockedActivities } from '../support/mock-activities.js';
import {
  bundleChiffonWorkflows,
  createTimeSkippingEnv,
  expectRefused,
  freshTaskQueue,
  startRequest,
  startScheduledRun,
  terminateLeftOpen,
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

const started: RequestHandle[] = [];
afterEach(() => terminateLeftOpen(started.splice(0), 'left open by a scheduled-run test'));

const SCHEDULE = 'schedule-00c0ffee00c0ffee';
const PLAN = fakePlan();
const notifyOn = [...NOTIFICATION_EVENTS];

/** A worker with `acts`; `fn` starts runs of SCHEDULE at the given times (ISO, as Temporal appends them). */
function withSchedule<T>(
  acts: MockedActivities,
  fn: (runAt: (time: string, input?: Partial<RequestInput>) => ReturnType<typeof startScheduledRun>) => Promise<T>,
): Promise<T> {
  const taskQueue = freshTaskQueue('sched');
  return withWorker(env, workflowBundle, taskQueue, acts, () =>
    fn(async (time, input) => {
      const run = await startScheduledRun(env, taskQueue, SCHEDULE, time, { notifyOn, ...input });
      started.push(run.handle);
      return run;
    }),
  );
}

const decide = (handle: RequestHandle, decision: Partial<DecisionInput> = {}) =>
  handle.executeUpdate(decideUpdate, { args: [{ approver: 'alice', approved: true, planHash: PLAN.hash, ...decision }] });

const noticesOf = (acts: MockedActivities) => acts.notices().map((n) => `${n.requestId}:${n.event}`);

describe('scheduled runs (MOCKED activities)', () => {
  it('the first run waits for a person; approved as standing, the next run with the same plan runs without anyone deciding', async () => {
    const acts = mockActivities();
    await withSchedule(acts, async (runAt) => {
      const first = await runAt('2026-12-06T04:00:00Z');
      const firstId = `${SCHEDULE}-2026-12-06T04:00:00Z`;
      expect(first.planned.requestId).toBe(firstId); // from the workflow id the Schedule gave it
      expect(first.planned.status).toBe('pending_approval');
      expect(first.planned.schedule).toEqual({ id: SCHEDULE });
      expect(first.planned.decision).toBeUndefined();

      expect((await decide(first.handle, { standing: true, comment: 'every Sunday' })).decision).toMatchObject({ standing: true });
      expect((await first.handle.result()).status).toBe('completed');
      const recorded = acts.calls.filter((c) => c.name === 'recordStandingApproval').map((c) => c.args[0]);
      expect(recorded).toEqual([
        { scheduleId: SCHEDULE, requestId: firstId, planHash: PLAN.hash, approver: 'alice', comment: 'every Sunday' },
      ]);

      const second = await runAt('2026-12-13T04:00:00Z');
      const secondId = `${SCHEDULE}-2026-12-13T04:00:00Z`;
      expect(second.planned.status).toBe('running'); // no pending_approval on its way
      expect(second.planned.decision).toMatchObject({
        approver: 'alice',
        approved: true,
        planHash: PLAN.hash,
        standingApprovalId: `standing-${firstId}`,
      });
      const final = await second.handle.result();
      expect(final.status).toBe('completed');
      expect(final.schedule).toEqual({ id: SCHEDULE, standingApprovalId: `standing-${firstId}` });
      // Its own request in the audit, naming the schedule and the standing approval.
      const audits = acts.audits().filter((a) => a.requestId === secondId);
      expect(audits.map((a) => [a.status, a.schedule])).toEqual(
        PLAN.steps.map(() => ['completed', { id: SCHEDULE, standingApprovalId: `standing-${firstId}` }]),
      );
      expect(acts.records().filter((r) => r.requestId === secondId && r.status === 'pending_approval')).toEqual([]);
      // Only the first run asked anyone for an approval.
      expect(noticesOf(acts)).toEqual([`${firstId}:approval`, `${firstId}:completed`, `${secondId}:completed`]);
    });
  });

  it('a run whose plan changed waits for a new approval and says so in its notice; the standing approval stays with the old plan', async () => {
    let planned = 0;
    const acts = mockActivities({
      async plan() {
        planned += 1;
        return { ok: true as const, plan: fakePlan(planned === 1 ? 'hash-v1' : 'hash-v2') };
      },
    });
    await withSchedule(acts, async (runAt) => {
      const first = await runAt('2026-12-06T04:00:00Z');
      await decide(first.handle, { standing: true });
      expect((await first.handle.result()).status).toBe('completed');

      const second = await runAt('2026-12-13T04:00:00Z');
      expect(second.planned.status).toBe('pending_approval');
      expect(second.planned.schedule).toEqual({ id: SCHEDULE, planChangedFrom: 'hash-v1' });
      // The notification goes out beside the wait (never on its critical path).
      await expect
        .poll(() => acts.notices().find((n) => n.requestId === second.planned.requestId && n.event === 'approval')?.schedule)
        .toEqual({ id: SCHEDULE, planChangedFrom: 'hash-v1' });

      await decide(second.handle, { planHash: 'hash-v2', approver: 'bob' }); // approved for this run only
      const final = await second.handle.result();
      expect(final.status).toBe('completed');
      expect(final.decision).toMatchObject({ approver: 'bob', planHash: 'hash-v2' });
      expect(final.decision?.standingApprovalId).toBeUndefined();
      expect(acts.calls.filter((c) => c.name === 'recordStandingApproval')).toHaveLength(1);

      // The next run plans hash-v2 again: nobody made that plan standing, so it waits too.
      const third = await runAt('2026-12-20T04:00:00Z');
      expect(third.planned.status).toBe('pending_approval');
      expect(third.planned.schedule?.planChangedFrom).toBe('hash-v1');
      await decide(third.handle, { approved: false, planHash: 'hash-v2' }); // this run only: the schedule goes on
      expect((await third.handle.result()).status).toBe('rejected');
    });
  });

  it('a standing approval never skips the preflight: a plan that cannot run is not run', async () => {
    let previews = 0;
    const acts = mockActivities({
      async previewPlan({ steps }) {
        previews += 1;
        return steps.map((step) => ({
          ok: previews === 1,
          hosts: ['localhost'],
          tasks: [],
          problems: previews === 1 ? [] : [`role ${step.playbook} is not installed`],
        }));
      },
    });
    await withSchedule(acts, async (runAt) => {
      const first = await runAt('2026-12-06T04:00:00Z');
      await decide(first.handle, { standing: true });
      expect((await first.handle.result()).status).toBe('completed');
      const runsBefore = acts.stepRuns().length;

      const second = await runAt('2026-12-13T04:00:00Z', { retryWindow: '1 hour' });
      const final = await second.handle.result();
      expect(final.status).toBe('unrunnable');
      expect(final.error?.message).toMatch(/the approval by alice is void: .*not installed/);
      expect(acts.stepRuns()).toHaveLength(runsBefore);
    });
  });

  it('refuses standing on a request no schedule started, a standing rejection, and a standing self-approval', async () => {
    const acts = mockActivities();
    const taskQueue = freshTaskQueue('sched');
    await withWorker(env, workflowBundle, taskQueue, acts, async () => {
      const asked = await startRequest(env, taskQueue, { requestedBy: 'carol' });
      started.push(asked.handle);
      await expectRefused(decide(asked.handle, { standing: true }), Refused.notScheduled);

      const scheduled = await startScheduledRun(env, taskQueue, SCHEDULE, '2026-12-06T04:00:00Z', { requestedBy: 'carol' });
      started.push(scheduled.handle);
      await expectRefused(decide(scheduled.handle, { standing: true, approved: false }), Refused.notScheduled);
      await expectRefused(decide(scheduled.handle, { standing: true, approver: 'carol' }), Refused.selfApproval);
      expect(acts.calls.filter((c) => c.name === 'recordStandingApproval')).toEqual([]);
      // Both end by a person's decision (see terminateLeftOpen); a plain rejection stands for nothing.
      for (const { handle } of [asked, scheduled]) await decide(handle, { approved: false });
      expect((await scheduled.handle.result()).status).toBe('rejected');
    });
  });
});
