// Records the replay guard's fixtures: runs representative request workflows on the time-skipping
// test server with MOCKED activities (test/support/mock-activities.ts) and writes each closed
// workflow's event history to test/fixtures/histories/<name>.json, its payloads sealed with the
// test key (test/support/codec.ts). test/workflow/replay.test.ts
// replays them with Worker.runReplayHistories against the current workflow code.
//
// Format: the History message's own JSON (`JSON.stringify(history)`: protobufjs toJSON, so int64 as
// strings, enums by name, bytes in base64), read back with History.fromObject (see
// test/support/history-fixtures.ts). Not the CLI's proto3 JSON: the SDK's historyToJSON /
// historyFromJSON throw "type must be a Type" in this install, because @temporalio/common and
// @temporalio/proto each carry their own copy of protobufjs 8.
//
//   npx tsx scripts/record-histories.ts            # every scenario
//   npx tsx scripts/record-histories.ts happy failed   # only these
//
// Re-record only when a change to the workflow is meant to change its histories, and only once
// no workflow recorded with the old code can still be running (see README: "Workflow changes").
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import type { RunStepInput } from '../activities/steps.js';
import { STALE_PLAN, type RequestInput } from '../domain/request-state.js';
import { hostTaskQueue } from '../domain/fleet.js';
import { decideUpdate, resumeUpdate, retryUpdate, stepStartedSignal } from '../workflows/messages.js';
import { historiesDir, historyFixtureText } from '../test/support/history-fixtures.js';
import {
  deferred,
  failedRun,
  fakeFleetPlan,
  fakePlan,
  mockActivities,
  runUntilCancelled,
  succeededRun,
  type MockedActivities,
} from '../test/support/mock-activities.js';
import {
  bundleChiffonWorkflows,
  createTimeSkippingEnv,
  freshTaskQueue,
  startRequest,
  waitForState,
  waitForStatus,
  waitUntilIdle,
  withWorker,
  type RequestHandle,
} from '../test/support/workflow-env.js';

const PLAN = fakePlan();
const approve = (handle: RequestHandle, planHash = PLAN.hash) =>
  handle.executeUpdate(decideUpdate, { args: [{ approver: 'alice', approved: true, comment: 'ship it', planHash }] });
/** runStep: the second step's playbook fails (a result, not an exception); the others succeed. */
const failSecondStep = () => async (input: RunStepInput) =>
  input.step.taskId === 'task-1' ? failedRun(input.step.playbook) : succeededRun(input.step.playbook);

/** runStep: a step that `waits` (as its input says) runs until `release`; every step succeeds. */
const succeedOnceReleased =
  (release: { promise: Promise<void> }, waits: (input: RunStepInput) => boolean | undefined) => async (input: RunStepInput) => {
    if (waits(input)) await release.promise;
    return succeededRun(input.step.playbook);
  };

interface Scenario {
  input?: Partial<RequestInput>;
  activities: () => MockedActivities;
  /** A host worker for the plan's agent, on that agent's own task queue. */
  hostWorker?: { agent: string; activities: () => MockedActivities };
  /** Drives the request from pending approval (or unplannable) to its end. */
  drive: (handle: RequestHandle) => Promise<void>;
}

/** Awaits the end (skipping time); a cancelled workflow's result is a failure, which is expected. */
async function ended(handle: RequestHandle): Promise<void> {
  await handle.result().catch(() => undefined);
}

const scenarios: Record<string, Scenario> = {
  happy: {
    activities: () => mockActivities(),
    drive: async (handle) => {
      await approve(handle);
      await ended(handle);
    },
  },
  // The happy path again, recorded with sealed payloads (as every history is since the payload codec,
  // test/support/codec.ts): the others were recorded before and hold theirs in clear.
  sealed: {
    activities: () => mockActivities(),
    drive: async (handle) => {
      await approve(handle);
      await ended(handle);
    },
  },
  // The happy path with notifications on (behind patched('notifications')): pending_approval and
  // completed each start a notify activity, and the workflow ends once both are settled.
  notified: {
    input: { notifyOn: ['approval', 'input', 'failed', 'completed'] },
    activities: () => mockActivities(),
    drive: async (handle) => {
      await approve(handle);
      await ended(handle);
    },
  },
  // The happy path since the step's critical path was shortened (behind patched('short-step-path')):
  // the approval's record beside the first capacity check, each audit beside the next step.
  'short-step-path': {
    activities: () => mockActivities(),
    drive: async (handle) => {
      await approve(handle);
      await ended(handle);
    },
  },
  // A run a Schedule started, approved by a person as standing: the standing approval is recorded.
  'scheduled-approved-standing': {
    input: { schedule: { id: 'schedule-00c0ffee00c0ffee' }, requestedBy: 'carol' },
    activities: () => mockActivities(),
    drive: async (handle) => {
      await handle.executeUpdate(decideUpdate, { args: [{ approver: 'alice', approved: true, planHash: 'hash-v1', standing: true }] });
      await ended(handle);
    },
  },
  // A later run of that schedule: its standing approval names the same plan, so nobody decides.
  'scheduled-standing': {
    input: { schedule: { id: 'schedule-00c0ffee00c0ffee' }, requestedBy: 'carol', notifyOn: ['approval', 'input', 'failed', 'completed'] },
    activities: () =>
      mockActivities({
        findStandingApproval: async ({ scheduleId, planHash }) => ({
          approval: {
            id: 'standing-schedule-00c0ffee00c0ffee-2026-12-06T04:00:00Z',
            scheduleId,
            planHash,
            approver: 'alice',
            requestId: 'schedule-00c0ffee00c0ffee-2026-12-06T04:00:00Z',
            approvedAt: '2026-12-06T04:01:00.000Z',
          },
        }),
      }),
    drive: ended,
  },
  rejected: {
    activities: () => mockActivities(),
    drive: async (handle) => {
      await handle.executeUpdate(decideUpdate, { args: [{ approver: 'bob', approved: false, comment: 'not today' }] });
      await ended(handle);
    },
  },
  expired: {
    activities: () => mockActivities(),
    drive: ended, // the 24-hour approval timeout is skipped
  },
  failed: {
    input: { retryWindow: '1 day' },
    activities: () => mockActivities({ runStep: failSecondStep() }),
    drive: async (handle) => {
      await approve(handle);
      await ended(handle); // nobody retries within the window
    },
  },
  'paused-then-resumed': {
    activities: () => {
      let checks = 0;
      return mockActivities({
        checkCapacity: async () => (++checks === 1 ? { ok: false, reason: 'agent-1: load 3.00 per CPU is above 2' } : { ok: true }),
      });
    },
    drive: async (handle) => {
      await approve(handle);
      await ended(handle); // the 30 s capacity re-check is skipped
    },
  },
  'operator-resumed': {
    input: { capacityRecheckMs: 6 * 60 * 60 * 1000 },
    activities: () => {
      let checks = 0;
      return mockActivities({
        checkCapacity: async () => (++checks <= 2 ? { ok: false, reason: 'agent-1: already runs 4/4 steps' } : { ok: true }),
      });
    },
    drive: async (handle) => {
      await approve(handle);
      await waitForStatus(handle, 'paused');
      await handle.executeUpdate(resumeUpdate, { args: [{ by: 'carol' }] });
      await ended(handle);
    },
  },
  'cancelled-awaiting-approval': {
    activities: () => mockActivities(),
    drive: async (handle) => {
      await waitUntilIdle(handle);
      await handle.cancel();
      await ended(handle);
    },
  },
  'cancelled-running': {
    activities: () =>
      mockActivities({
        runStep: async (input) => (input.step.taskId === 'task-1' ? runUntilCancelled() : succeededRun(input.step.playbook)),
      }),
    drive: async (handle) => {
      await approve(handle);
      await waitForRunning(handle, 1);
      await handle.cancel();
      await ended(handle);
    },
  },
  retried: {
    activities: () => mockActivities({ runStep: failSecondStep() }),
    drive: async (handle) => {
      await approve(handle);
      await waitForStatus(handle, 'failed');
      await handle.executeUpdate(retryUpdate, { args: [{ by: 'dave' }] });
      await ended(handle);
    },
  },
  'retried-reapproved': {
    activities: () =>
      mockActivities({
        runStep: failSecondStep(),
        refreshPlan: async (plan) => ({
          ...plan,
          fingerprint: { ...plan.fingerprint, playbooks: { ...plan.fingerprint.playbooks, 'kuma-config-update.yml': 'sha-config-fixed' } },
          hash: 'hash-v2',
        }),
      }),
    drive: async (handle) => {
      await approve(handle);
      await waitForStatus(handle, 'failed');
      await handle.executeUpdate(retryUpdate, { args: [{ by: 'dave' }] });
      await waitForStatus(handle, 'pending_approval');
      await approve(handle, 'hash-v2');
      await ended(handle);
    },
  },
  'stale-plan': {
    activities: () =>
      mockActivities({
        runStep: async (input) => {
          if (input.step.taskId === 'task-1') {
            throw ApplicationFailure.create({
              type: STALE_PLAN,
              nonRetryable: true,
              message: 'step 2 (kuma-config-update.yml) was not run: playbook kuma-config-update.yml changed since the plan was approved',
            });
          }
          return succeededRun(input.step.playbook);
        },
      }),
    drive: async (handle) => {
      await approve(handle);
      await ended(handle);
    },
  },
  'fleet-waiting': (() => {
    // Step 1's agent is offline at first: the step waits in the agent's queue, signals when it starts.
    const release = deferred();
    let offline = true;
    return {
      activities: () =>
        mockActivities({
          plan: async () => ({ ok: true as const, plan: fakeFleetPlan() }),
          checkCapacity: async (agent?: string) => {
            if (!offline) return { ok: true };
            offline = false;
            return { ok: false, wait: 'offline' as const, reason: `no worker is online for host ${agent}` };
          },
        }),
      hostWorker: {
        agent: 'nas',
        activities: () =>
          mockActivities({
            runStep: succeedOnceReleased(release, (input) => input.notifyStart),
          }),
      },
      drive: async (handle: RequestHandle) => {
        await approve(handle);
        await waitForState(handle, (s) => s.steps[0]?.status === 'waiting', 'step 1 waiting');
        await handle.signal(stepStartedSignal, { taskId: 'task-0', agent: 'nas' });
        await waitForRunning(handle, 0);
        release.resolve();
        await ended(handle);
      },
    };
  })(),
  'held-by-agent': (() => {
    // Step 1's agent is overloaded while it runs steps: the request pauses, the agent holds the
    // step and starts it when it has room (its start signal ends the pause).
    const release = deferred();
    let overloaded = true;
    const reason = 'no agent has room: agent-1: CPU pressure 95% (some avg10) is above 80% while it runs 2 steps';
    return {
      activities: () =>
        mockActivities({
          checkCapacity: async () => {
            if (!overloaded) return { ok: true };
            overloaded = false;
            return { ok: false, wait: 'overloaded' as const, reason };
          },
          runStep: succeedOnceReleased(release, (input) => input.hold),
        }),
      drive: async (handle: RequestHandle) => {
        await approve(handle);
        await waitForStatus(handle, 'paused');
        await handle.signal(stepStartedSignal, { taskId: 'task-0', agent: 'agent-1' });
        await waitForRunning(handle, 0);
        release.resolve();
        await ended(handle);
      },
    };
  })(),
  'held-then-resumed': (() => {
    // The same, but an operator resumes the request while its agent holds the step.
    const release = deferred();
    const reason = 'no agent has room: agent-1: 5.0% memory free is below 10% while it runs 1 step';
    return {
      input: { capacityRecheckMs: 6 * 60 * 60 * 1000 },
      activities: () =>
        mockActivities({
          checkCapacity: async () => ({ ok: false, wait: 'overloaded' as const, reason }),
          runStep: succeedOnceReleased(release, (input) => input.hold),
        }),
      drive: async (handle: RequestHandle) => {
        await approve(handle);
        await waitForStatus(handle, 'paused');
        await handle.executeUpdate(resumeUpdate, { args: [{ by: 'carol' }] });
        await waitForStatus(handle, 'running');
        await handle.signal(stepStartedSignal, { taskId: 'task-0', agent: 'agent-1' });
        await waitForRunning(handle, 0);
        release.resolve();
        await ended(handle);
      },
    };
  })(),
  unplannable: {
    input: { message: 'Make me a sandwich' },
    activities: () =>
      mockActivities({
        decompose: async () => ({
          ok: false as const,
          message: 'nothing in the request names a known service',
          knownServices: ['caddy', 'kuma'],
        }),
      }),
    drive: ended,
  },
};

async function waitForRunning(handle: RequestHandle, stepIndex: number): Promise<void> {
  await waitForState(handle, (s) => s.steps[stepIndex]?.status === 'running', `step ${stepIndex + 1} running`);
}

async function main(): Promise<void> {
  const wanted = process.argv.slice(2);
  const unknown = wanted.filter((name) => !(name in scenarios));
  if (unknown.length > 0) throw new Error(`unknown scenario(s) ${unknown.join(', ')}; known: ${Object.keys(scenarios).join(', ')}`);
  const names = wanted.length > 0 ? wanted : Object.keys(scenarios);

  await mkdir(historiesDir, { recursive: true });
  const [env, workflowBundle] = await Promise.all([createTimeSkippingEnv(), bundleChiffonWorkflows()]);
  try {
    for (const name of names) {
      const scenario = scenarios[name]!;
      const activities = scenario.activities();
      const taskQueue = freshTaskQueue('record');
      const record = async () => {
        const { handle } = await startRequest(env, taskQueue, { requestId: `fixture-${name}`, ...scenario.input });
        await scenario.drive(handle);
        const { status } = await handle.describe();
        if (status.name === 'RUNNING') throw new Error(`scenario ${name} left its workflow running`);
        return { history: await handle.fetchHistory(), status: status.name };
      };
      const host = scenario.hostWorker;
      const history = await withWorker(env, workflowBundle, taskQueue, activities, () =>
        host ? withWorker(env, workflowBundle, hostTaskQueue(taskQueue, host.agent), host.activities(), record) : record(),
      );
      const file = path.join(historiesDir, `${name}.json`);
      await writeFile(file, historyFixtureText(history.history));
      console.log(
        `${path.relative(process.cwd(), file)}: ${history.history.events?.length ?? 0} events, workflow ${history.status.toLowerCase()}`,
      );
    }
  } finally {
    await env.teardown();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
