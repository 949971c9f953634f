// The time-skipping Temporal test environment for workflow tests (and scripts/record-histories.ts):
// the Java test server from the project's virtualenv, Chiffon's search attributes registered, the
// workflow code bundled once, and small helpers to drive a request workflow the way the API does.
import { setTimeout as sleep } from 'node:timers/promises';
import { ApplicationFailure, WithStartWorkflowOperation, WorkflowUpdateFailedError, type WorkflowHandle } from '@temporalio/client';
import searchAttributes from '@temporalio/common/lib/search-attributes.js';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { expect } from 'vitest';
import {
  bundleWorkflowCode,
  DefaultLogger,
  makeTelemetryFilterString,
  Runtime,
  Worker,
  type LogLevel,
  type WorkflowBundleWithSourceMap,
} from '@temporalio/worker';
import { workflowIdFor, type RequestInput, type RequestState, type RequestStatus } from '../../domain/request-state.js';
import { scheduleRunWorkflowId } from '../../domain/schedules.js';
import { startOnFreePorts } from '../../lib/ports.js';
import { tools } from '../../lib/tools.js';
import { workflowsPath } from '../../workers/worker.js';
import { requestWorkflow } from '../../workflows/index.js';
import { planReadyUpdate, requestStateQuery, servicesSearchAttribute, statusSearchAttribute } from '../../workflows/messages.js';
import { testDataConverter } from './codec.js';
import type { MockedActivities } from './mock-activities.js';

export type RequestHandle = WorkflowHandle<typeof requestWorkflow>;

/** webpack's report of every bundled module is noise in a test run. */
const quietLogger = new DefaultLogger('WARN');

/**
 * Quieter logs for workflow tests. The SDK logs every failed activity attempt at WARN with its stack,
 * and these tests fail activities on purpose; Core warns at every worker start that the test server
 * does not advertise a heartbeat capability (target temporalio_sdk_core::worker). Core's other
 * warnings, e.g. a workflow task the server refused (temporalio_sdk_core::worker::workflow), still
 * show. CHIFFON_TEST_LOG_LEVEL=WARN (or INFO, DEBUG) shows everything at that level.
 */
export function installQuietRuntime(): void {
  const level = process.env.CHIFFON_TEST_LOG_LEVEL as LogLevel | undefined;
  const filter = level
    ? makeTelemetryFilterString({ core: level, other: level })
    : `${makeTelemetryFilterString({ core: 'WARN' })},temporalio_sdk_core::worker=ERROR,temporalio_sdk_core::worker::workflow=WARN`;
  try {
    Runtime.install({ logger: new DefaultLogger(level ?? 'ERROR'), telemetryOptions: { logging: { filter, console: {} } } });
  } catch {
    // Already installed in this process (another environment was created first): keep it.
  }
}

/**
 * Starts the time-skipping test server (temporal-test-server from .tools/venv) and registers the
 * search attributes the workflow upserts: the test server refuses an upsert of an unknown one,
 * which fails every workflow task (the workflow would never get past planning).
 */
export async function createTimeSkippingEnv(): Promise<TestWorkflowEnvironment> {
  installQuietRuntime();
  const env = await startOnFreePorts(1, ([port]) =>
    TestWorkflowEnvironment.createTimeSkipping({
      server: { executable: { type: 'existing-path', path: tools.temporalTestServer() }, port },
      client: { dataConverter: testDataConverter },
    }),
  );
  try {
    await env.connection.operatorService.addSearchAttributes({
      namespace: env.namespace ?? 'default',
      searchAttributes: Object.fromEntries(
        [statusSearchAttribute, servicesSearchAttribute].map((key) => [
          key.name,
          searchAttributes.encodeSearchAttributeIndexedValueType(key.type)!,
        ]),
      ),
    });
  } catch (err) {
    await env.teardown();
    throw err;
  }
  return env;
}

/** The workflow code a Chiffon worker registers (workers/worker.ts), bundled once; or another copy of it. */
export function bundleChiffonWorkflows(path: string = workflowsPath): Promise<WorkflowBundleWithSourceMap> {
  return bundleWorkflowCode({ workflowsPath: path, logger: quietLogger });
}

let taskQueueCounter = 0;

/** A task queue no other test uses, so a workflow left open by one test never meets another's worker. */
export function freshTaskQueue(prefix = 'wf'): string {
  taskQueueCounter += 1;
  return `${prefix}-${process.pid}-${taskQueueCounter}`;
}

/** Runs `fn` while a worker with the mocked activities polls `taskQueue`. */
export async function withWorker<T>(
  env: TestWorkflowEnvironment,
  workflowBundle: WorkflowBundleWithSourceMap,
  taskQueue: string,
  activities: MockedActivities,
  fn: () => Promise<T>,
): Promise<T> {
  const worker = await Worker.create({
    connection: env.nativeConnection,
    namespace: env.namespace ?? 'default',
    taskQueue,
    workflowBundle,
    activities,
    dataConverter: testDataConverter,
    // The SDK sends at most one heartbeat per 80% of the heartbeat timeout (8 s for runStep), and a
    // cancellation reaches an activity only in a heartbeat's answer: without this a cancelled mocked
    // step would notice up to 8 s later.
    maxHeartbeatThrottleInterval: 50,
  });
  return worker.runUntil(fn);
}

let requestCounter = 0;

/**
 * Starts a request the way POST /chat does (update-with-start of planReady, status search attribute
 * `planning`) and returns its handle with the state once planning has ended.
 */
export async function startRequest(
  env: TestWorkflowEnvironment,
  taskQueue: string,
  input: Partial<RequestInput> = {},
): Promise<{ handle: RequestHandle; planned: RequestState }> {
  requestCounter += 1;
  const requestId = input.requestId ?? `req-${process.pid}-${requestCounter}`;
  const startWorkflowOperation = new WithStartWorkflowOperation(requestWorkflow, {
    workflowId: workflowIdFor(requestId),
    taskQueue,
    args: [{ requestId, message: 'Deploy Kuma Uptime, add our existing portals to the config and reload the proxy', ...input }],
    workflowIdConflictPolicy: 'FAIL',
    typedSearchAttributes: [{ key: statusSearchAttribute, value: 'planning' }],
  });
  const planned = await env.client.workflow.executeUpdateWithStart(planReadyUpdate, { startWorkflowOperation });
  const handle = await startWorkflowOperation.workflowHandle();
  return { handle, planned };
}

/**
 * Starts a run the way a Temporal Schedule does: workflow id `request-<schedule id>-<scheduled time>`
 * and no request id in the input (the workflow takes it from its workflow id).
 */
export async function startScheduledRun(
  env: TestWorkflowEnvironment,
  taskQueue: string,
  scheduleId: string,
  scheduledAt: string,
  input: Partial<RequestInput> = {},
): Promise<{ handle: RequestHandle; planned: RequestState }> {
  const startWorkflowOperation = new WithStartWorkflowOperation(requestWorkflow, {
    workflowId: `${scheduleRunWorkflowId(scheduleId)}-${scheduledAt}`,
    taskQueue,
    args: [{ message: 'Update all my servers', schedule: { id: scheduleId }, requestedBy: 'carol', ...input }],
    workflowIdConflictPolicy: 'FAIL',
    typedSearchAttributes: [{ key: statusSearchAttribute, value: 'planning' }],
  });
  const planned = await env.client.workflow.executeUpdateWithStart(planReadyUpdate, { startWorkflowOperation });
  return { handle: await startWorkflowOperation.workflowHandle(), planned };
}

/** Polls the requestState query (in real time: the test server skips no time meanwhile) until `predicate` holds. */
export async function waitForState(
  handle: RequestHandle,
  predicate: (state: RequestState) => boolean,
  what = 'the expected state',
  timeoutMs = 15_000,
): Promise<RequestState> {
  const deadline = Date.now() + timeoutMs;
  let last: RequestState | undefined;
  for (;;) {
    last = await handle.query(requestStateQuery);
    if (predicate(last)) return last;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; the request is ${last.status}: ${JSON.stringify(last)}`);
    await sleep(25);
  }
}

export function waitForStatus(handle: RequestHandle, status: RequestStatus, timeoutMs?: number): Promise<RequestState> {
  return waitForState(handle, (s) => s.status === status, `status ${status}`, timeoutMs);
}

/**
 * Waits until the workflow has nothing in flight (no activity, no workflow task). The time-skipping
 * test server, unlike the real one, answers a workflow task that requests the cancellation of an
 * activity which completed meanwhile with ACTIVITY_UNKNOWN, and the workflow then hangs; a test that
 * cancels right after planReady (whose recordRequest may still be running) waits for this first.
 */
export async function waitUntilIdle(handle: RequestHandle, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { raw } = await handle.describe();
    if ((raw.pendingActivities ?? []).length === 0 && !raw.pendingWorkflowTask) return;
    if (Date.now() > deadline) throw new Error(`workflow ${handle.workflowId} still busy after ${timeoutMs} ms`);
    await sleep(25);
  }
}

/**
 * Terminates the workflows a failed test left open, once nothing of theirs is in flight. Tests end
 * their own requests (a decision, a cancel they await): the time-skipping test server stops skipping
 * time for good once a request waiting for its approval is terminated or cancelled from outside (seen
 * here with 1.40.0; akin to sdk-java#1138), and every later long wait of the file then takes real time.
 */
export async function terminateLeftOpen(handles: RequestHandle[], reason: string): Promise<void> {
  for (const handle of handles) {
    const { status } = await handle.describe();
    if (status.name !== 'RUNNING') continue;
    await waitUntilIdle(handle).catch(() => undefined); // an activity held forever: terminate it anyway
    await handle.terminate(reason).catch(() => undefined); // it may have ended meanwhile
  }
}

/** The ChiffonStatus search attribute as the server holds it. */
export async function statusAttribute(handle: RequestHandle): Promise<string | undefined> {
  return (await handle.describe()).typedSearchAttributes.get(statusSearchAttribute);
}

export async function servicesAttribute(handle: RequestHandle): Promise<string[] | undefined> {
  return (await handle.describe()).typedSearchAttributes.get(servicesSearchAttribute);
}

/** Names of the updates the server accepted into the workflow's history, in order. */
export async function acceptedUpdates(handle: RequestHandle): Promise<string[]> {
  const history = await handle.fetchHistory();
  return (history.events ?? [])
    .map((e) => e.workflowExecutionUpdateAcceptedEventAttributes?.acceptedRequest?.input?.name)
    .filter((name): name is string => typeof name === 'string');
}

/** How many history events record a rejected update (validators that refuse should leave none at all). */
export async function rejectedUpdateEvents(handle: RequestHandle): Promise<number> {
  const history = await handle.fetchHistory();
  return (history.events ?? []).filter((e) => e.workflowExecutionUpdateRejectedEventAttributes != null).length;
}

/** Every value ChiffonStatus was upserted to, in order (from the history). */
export async function statusUpserts(handle: RequestHandle): Promise<string[]> {
  const history = await handle.fetchHistory();
  const values: string[] = [];
  for (const event of history.events ?? []) {
    const payload = event.upsertWorkflowSearchAttributesEventAttributes?.searchAttributes?.indexedFields?.[statusSearchAttribute.name];
    if (payload?.data) values.push(...([] as string[]).concat(JSON.parse(Buffer.from(payload.data).toString('utf8'))));
  }
  return values;
}

/** The Update was refused by its validator with this failure type (and so left no trace in the history). */
export async function expectRefused(update: Promise<unknown>, type: string): Promise<void> {
  const error = await update.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(error, `expected a refusal of type ${type}`).toBeInstanceOf(WorkflowUpdateFailedError);
  const cause = (error as WorkflowUpdateFailedError).cause;
  expect(cause).toBeInstanceOf(ApplicationFailure);
  expect((cause as ApplicationFailure).type).toBe(type);
}
