// Crash tests on real processes: a Temporal dev server (./temporal-dev.sh, SQLite history in a temp
// file) and Chiffon workers (`node --import tsx workers/main.ts`: one process, so a SIGKILL reaches
// the worker itself, where the `tsx` CLI would be a parent of it), SIGKILLed at the worst moments.
// A request is never lost: it is still there after the crash, and it completes.
//
// At-least-once steps, exactly-once audit:
// - A playbook step runs at least once. A worker that dies mid-step (SIGKILL, OOM, power cut)
//   stops heartbeating; once the step's heartbeat timeout has passed (10 s), Temporal gives the
//   step to another worker (or the same one restarted), which runs the playbook again from its
//   first task. The same happens if a worker dies after the playbook ended but before Temporal
//   heard of it. So every playbook must be safe to re-run from the start after being interrupted
//   at any task (idempotent, as Ansible playbooks are meant to be): tasks that ran before the crash
//   run again. Here the slow step's "started" line ends up in runs.log twice, "done" once.
// - The dead worker's run does not go on beside the retry: the rusage wrapper around
//   ansible-playbook asks the kernel for SIGTERM when its parent dies (PR_SET_PDEATHSIG), stops its
//   whole tree (SIGTERM, then SIGKILL after 2 s) and removes the run's directory (the extra-vars
//   file may hold secrets). A failed playbook, by contrast, is a result and is never retried.
// - A Temporal server that dies and restarts on the same persistence loses nothing: a request
//   waiting for approval still waits with the same plan, and a running step goes on; its worker
//   reports the result once the server is back (had the server timed the step out meanwhile, it
//   would be retried as above).
// - The audit records outcomes, not attempts (its execution_result.activity_attempt says which
//   delivery completed): a task is audited once its step has ended, so an
//   attempt cut short by a crash leaves no audit record, and the task appears exactly once, as
//   completed (one row in the tasks table, one commit of .audit/tasks/<task_id>.json), with the
//   times and results of the run that completed. The interrupted attempt shows in the
//   workflow's Temporal history (attempt 2) and in the audit's activity_attempt.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import git from 'isomorphic-git';
import { serve, type ServerType } from '@hono/node-server';
import { Client, Connection } from '@temporalio/client';
import { afterAll, afterEach, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { createApp } from '../../api/app.js';
import { testCodec, testDataConverter } from '../support/codec.js';
import { createApiToken } from '../../lib/api-tokens.js';
import { loadConfig, type ChiffonConfig } from '../../lib/config.js';
import { fromProjectRoot } from '../../lib/paths.js';
import { startOnFreePorts } from '../../lib/ports.js';
import {
  descendantsOf,
  listProcesses,
  killProcessesMentioning,
  processesMentioning,
  startDevServer,
  startWorkerProcess,
  stopAll,
  waitFor,
  type ManagedProcess,
} from '../support/processes.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';

/** How long the slow step's middle task sleeps: long enough to crash something while it runs. */
const SLOW_SECONDS = 12;
const SLOW_REQUEST = 'run the slow step';
/** Covers the step's heartbeat timeout (10 to 30 s), a worker's start and the retried run. */
const COMPLETION_TIMEOUT_MS = 120_000;

let scratch: string;
let database: TestDatabase;
let devServer: ManagedProcess | undefined;
let devServerOptions: Parameters<typeof startDevServer>[0];
let connection: Connection | undefined;
let http: ServerType | undefined;
let baseUrl: string;
/** API tokens: alice asks, bob approves (and reads). */
let tokens: { requester: string; approver: string };
let config: ChiffonConfig;
let playbookRepo: string;

const SLOW_PLAYBOOK = `---
# Crash-test playbook: appends "started" to runs.log, sleeps, appends "done". Re-running it is
# harmless (it only appends a line), which is what a step's at-least-once execution asks for.
- name: Run the slow step
  hosts: homelab
  gather_facts: false
  tasks:
    - name: Create the slow-step directory
      ansible.builtin.file:
        path: "{{ chiffon_state_dir }}/slow-step"
        state: directory
        mode: "0755"

    - name: Record that a run started
      ansible.builtin.shell: echo started >> {{ (chiffon_state_dir ~ '/slow-step/runs.log') | quote }}
      changed_when: true

    - name: Take a while
      ansible.builtin.command: sleep {{ slow_step_seconds | default(${SLOW_SECONDS}) | int }}
      changed_when: false

    - name: Record that the run finished
      ansible.builtin.shell: echo done >> {{ (chiffon_state_dir ~ '/slow-step/runs.log') | quote }}
      changed_when: true
`;

const SLOW_META = `---
short_description: Run the slow step
description: Appends started to slow-step/runs.log, sleeps, then appends done (crash tests).
argument_specs:
  main:
    short_description: Run the slow step
    description:
      - Appends "started" to slow-step/runs.log under chiffon_state_dir, sleeps, then appends "done".
    examples: |
      ansible-playbook -i inventory/hosts.yml slow-step.yml -e '{"chiffon_state_dir": "/srv/chiffon"}'
    options:
      slow_step_seconds:
        type: int
        default: ${SLOW_SECONDS}
        description: How long the middle task sleeps.
    chiffon:
      service: slow-step
      aliases: [slow step]
      intents:
        - name: run_slow_step
          verbs: [run]
          objects: []
      after: []
      vars_from_inventory: {}
`;

beforeAll(async () => {
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'chiffon-crash-'));
  playbookRepo = path.join(scratch, 'playbooks');
  fs.cpSync(fromProjectRoot('playbooks'), playbookRepo, { recursive: true });
  fs.writeFileSync(path.join(playbookRepo, 'slow-step.yml'), SLOW_PLAYBOOK);
  fs.writeFileSync(path.join(playbookRepo, 'slow-step.meta.yml'), SLOW_META);

  // Side by side; each is assigned as soon as it exists, so afterAll cleans up whatever got made.
  // The server keeps its ports across the restarts below (its clients reconnect to the same address).
  const serverStarting = startOnFreePorts(4, ([port, uiPort, httpPort, metricsPort]) => {
    devServerOptions = {
      dbFile: path.join(scratch, 'temporal', 'temporal.db'),
      port: port!,
      uiPort: uiPort!,
      httpPort: httpPort!,
      metricsPort: metricsPort!,
      logFile: path.join(scratch, 'temporal.log'),
    };
    return startDevServer(devServerOptions);
  });
  serverStarting.catch(() => undefined); // awaited below; a failure must not go unhandled meanwhile
  database = await createTestDatabase();
  devServer = await serverStarting;

  config = {
    ...loadConfig({}),
    temporalAddress: `127.0.0.1:${devServerOptions.port}`,
    taskQueue: `crash-${process.pid}-${Date.now().toString(36)}`,
    playbookRepo,
    auditRepo: path.join(scratch, 'audit'),
    stateDir: path.join(scratch, 'state'),
    workDir: path.join(scratch, 'work'),
  };
  // The API in this process, through its own client: it must ride out the server's restarts too.
  connection = await Connection.connect({ address: config.temporalAddress });
  tokens = {
    requester: (await createApiToken(database.prisma, { name: 'alice', role: 'requester' })).token,
    approver: (await createApiToken(database.prisma, { name: 'bob', role: 'approver' })).token,
  };
  const app = createApp({
    client: new Client({ connection, dataConverter: testDataConverter }),
    codec: testCodec,
    prisma: database.prisma,
    config,
  });
  http = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' });
  await new Promise<void>((resolve) => http?.once('listening', () => resolve()));
  baseUrl = `http://127.0.0.1:${(http.address() as AddressInfo).port}/api/dashboard`;
});

afterAll(async () => {
  // Every process this file started goes, whatever state the tests left them in: the workers and
  // the server, then anything else still working in this file's temp directory.
  await stopAll();
  if (scratch) killProcessesMentioning(`${scratch}${path.sep}`);
  await new Promise((resolve) => (http ? http.close(resolve) : resolve(undefined)));
  await connection?.close().catch(() => undefined);
  await database?.drop();
  if (scratch) fs.rmSync(scratch, { recursive: true, force: true });
});

/** Workers of the current test: stopped after it, so the next test starts with none. */
const testWorkers: ManagedProcess[] = [];

afterEach(async () => {
  await Promise.all(testWorkers.splice(0).map((worker) => worker.kill('SIGKILL')));
});

/** Everything one test writes, apart from the shared database, audit repository and server. */
function scenario(name: string) {
  const dir = path.join(scratch, name);
  const stateDir = path.join(dir, 'state');
  const workDir = path.join(dir, 'work');
  fs.mkdirSync(dir, { recursive: true });
  let workers = 0;
  const logs: string[] = [];
  onTestFailed(() => {
    for (const file of [...logs, devServerOptions.logFile]) {
      const text = fs.existsSync(file) ? fs.readFileSync(file, 'utf8').slice(-6_000) : '(none)';
      console.error(`--- ${file} ---\n${text}`);
    }
  });
  return {
    stateDir,
    workDir,
    runsLog: path.join(stateDir, 'slow-step', 'runs.log'),
    async startWorker(): Promise<ManagedProcess> {
      const logFile = path.join(dir, `worker-${++workers}.log`);
      logs.push(logFile);
      const worker = await startWorkerProcess(
        {
          TEMPORAL_ADDRESS: config.temporalAddress,
          TEMPORAL_NAMESPACE: 'default',
          DATABASE_URL: database.url,
          CHIFFON_PLAYBOOK_REPO: playbookRepo,
          CHIFFON_AUDIT_REPO: config.auditRepo,
          CHIFFON_STATE_DIR: stateDir,
          CHIFFON_WORK_DIR: workDir,
          CHIFFON_TASK_QUEUE: config.taskQueue,
          // Crashes are the subject here, not capacity: a busy test machine must not pause requests.
          CHIFFON_MAX_LOAD_PER_CPU: '1000',
          CHIFFON_MIN_FREE_MEMORY_PERCENT: '0.001',
        },
        logFile,
      );
      testWorkers.push(worker);
      return worker;
    },
    /** The lines the slow step appended: one "started" per run begun, one "done" per run finished. */
    runs(): { started: number; done: number } {
      const lines = fs.existsSync(this.runsLog) ? fs.readFileSync(this.runsLog, 'utf8').split('\n') : [];
      return { started: lines.filter((l) => l === 'started').length, done: lines.filter((l) => l === 'done').length };
    },
    leftoverRunDirs(): string[] {
      return fs.existsSync(workDir) ? fs.readdirSync(workDir).filter((entry) => entry.startsWith('ansible-run-')) : [];
    },
  };
}

async function call(method: string, route: string, body?: unknown) {
  const token = method === 'POST' && route === '/chat' ? tokens.requester : tokens.approver;
  const response = await fetch(`${baseUrl}${route}`, {
    method,
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(30_000),
  });
  return { status: response.status, body: (await response.json()) as any };
}

const FINAL = ['completed', 'failed', 'rejected', 'unplannable', 'expired', 'stale_plan', 'cancelled'];

/** Polls GET /requests/:id (failures, e.g. while the server restarts, are retried) until `wanted`. */
async function waitForStatus(requestId: string, wanted: string, timeoutMs = COMPLETION_TIMEOUT_MS) {
  let last: unknown;
  return waitFor(
    `request ${requestId} to be ${wanted}`,
    async () => {
      const { status, body } = await call('GET', `/requests/${requestId}`);
      last = body;
      if (status !== 200) throw new Error(`GET /requests/${requestId}: ${status} ${JSON.stringify(body)}`);
      if (body.status === wanted) return body;
      if (FINAL.includes(body.status)) throw new Error(`request ${requestId} ended ${body.status}, not ${wanted}: ${JSON.stringify(last)}`);
      return undefined;
    },
    timeoutMs,
    250,
  ).catch((error: Error) => {
    throw new Error(`${error.message}; last answer: ${JSON.stringify(last)}`);
  });
}

async function askForSlowStep() {
  const chat = await call('POST', '/chat', { message: SLOW_REQUEST });
  expect(chat.status, JSON.stringify(chat.body)).toBe(201);
  expect(chat.body.status).toBe('pending_approval');
  expect(chat.body.plan.steps.map((s: any) => s.playbook)).toEqual(['slow-step.yml']);
  return { requestId: chat.body.request_id as string, taskId: chat.body.plan.steps[0].task_id as string, plan: chat.body.plan };
}

async function approve(requestId: string, planHash: string) {
  const answer = await call('POST', '/approve', { request_id: requestId, approved: true, comment: 'crash test', plan_hash: planHash });
  expect(answer.status, JSON.stringify(answer.body)).toBe(200);
  expect(answer.body).toMatchObject({ request_id: requestId, dispatch_started: true });
}

/** The task's audit: exactly one row and one commit, both "completed". Returns the audited document. */
async function expectAuditedOnceAsCompleted(requestId: string, taskId: string) {
  const rows = await database.prisma.task.findMany({ where: { requestId } });
  expect(rows.map((r) => [r.id, r.status, r.exitCode])).toEqual([[taskId, 'completed', 0]]);

  const log = await git.log({ fs, dir: config.auditRepo });
  const commits = log.filter((entry) => entry.commit.message.includes(taskId));
  expect(commits).toHaveLength(1);
  expect(commits[0]?.commit.message).toMatch(/completed/);

  const audit = await call('GET', `/audit/task/${taskId}`);
  expect(audit.status).toBe(200);
  expect(audit.body.task).toMatchObject({ task_id: taskId, request_id: requestId, status: 'completed', exit_code: 0 });
  expect(audit.body.git.commit).toBe(commits[0]?.oid);
  expect(audit.body.git.content).toMatchObject({ task_id: taskId, status: 'completed', execution_result: { exit_code: 0 } });
  return audit.body.git.content;
}

/** Attempt numbers of the step activity's recorded starts, from the workflow's Temporal history. */
async function stepAttempts(requestId: string): Promise<number[]> {
  const client = new Client({ connection: connection as Connection });
  const history = await client.workflow.getHandle(`request-${requestId}`).fetchHistory();
  const runStepIds = new Set(
    (history.events ?? [])
      .filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'runStep')
      .map((e) => String(e.eventId)),
  );
  return (history.events ?? [])
    .filter((e) => e.activityTaskStartedEventAttributes && runStepIds.has(String(e.activityTaskStartedEventAttributes.scheduledEventId)))
    .map((e) => e.activityTaskStartedEventAttributes?.attempt ?? 0);
}

describe('a worker SIGKILLed while a playbook step runs', () => {
  it('leaves no ansible process behind; a new worker runs the step again and the request completes, audited once', async () => {
    const run = scenario('worker-kill');
    const first = await run.startWorker();
    const { requestId, taskId, plan } = await askForSlowStep();
    await approve(requestId, plan.hash);

    // Mid-step: the playbook has written "started" and is sleeping.
    await waitFor('the slow step to start', () => (run.runs().started === 1 ? true : undefined), 60_000);
    const tree = descendantsOf(first.pid);
    // One run of ansible-playbook (and its forks), reading its extra vars from the run's own directory.
    const runDirs = new Set(tree.flatMap((p) => /@(\S+)\/extra-vars\.yml/.exec(p.cmdline)?.[1] ?? []));
    expect(runDirs.size).toBe(1);
    const runDir = [...runDirs][0];
    // The worker's launcher (services/ansible/playbook-launcher.ts) started it, and goes with the worker.
    const launched = tree.filter((p) => p.cmdline.includes('ansible_launcher.py')); // the launcher and its run's supervisor
    const launchers = launched.filter((p) => !launched.some((parent) => parent.pid === p.ppid)).map((p) => p.pid);
    expect(launchers).toHaveLength(1);

    const killedAt = Date.now();
    await first.kill('SIGKILL');

    // The dead worker's ansible-playbook tree stops by itself (the wrapper's parent-death signal),
    // and its run directory (extra vars, possibly secrets) goes with it.
    await waitFor(
      'the killed worker’s ansible processes to end',
      () => (processesMentioning(runDir as string).length === 0 && !fs.existsSync(runDir as string) ? true : undefined),
      15_000,
    );
    expect(processesMentioning(runDir as string)).toEqual([]);
    expect(Date.now() - killedAt).toBeLessThan(15_000);
    await waitFor(
      'the killed worker’s launcher to exit',
      () => (listProcesses().some((p) => p.pid === launchers[0]) ? undefined : true),
      15_000,
    );

    // Nothing is lost: another worker picks the step up once its heartbeat timeout has passed.
    await run.startWorker();
    const done = await waitForStatus(requestId, 'completed');
    expect(done.steps).toHaveLength(1);
    expect(done.steps[0]).toMatchObject({ task_id: taskId, status: 'completed', exit_code: 0 });
    // The step ran again from its first task (at least once), and only the retry finished.
    expect(run.runs()).toEqual({ started: 2, done: 1 });
    expect(Date.parse(done.steps[0].started_at)).toBeGreaterThanOrEqual(killedAt);

    const audited = await expectAuditedOnceAsCompleted(requestId, taskId);
    expect(Date.parse(audited.execution_result.started_at)).toBeGreaterThanOrEqual(killedAt);
    expect(await stepAttempts(requestId)).toEqual([2]);
    // The audit says the completed run was the step's second delivery: an interruption happened.
    expect(audited.execution_result.activity_attempt).toBe(2);
    expect(run.leftoverRunDirs()).toEqual([]);
  }, 180_000);
});

describe('the Temporal server SIGKILLed and restarted', () => {
  it('keeps a request that waits for approval pending; approval then completes it', async () => {
    const run = scenario('server-kill-approval');
    await run.startWorker();
    const { requestId, taskId, plan } = await askForSlowStep();

    await devServer?.kill('SIGKILL');
    devServer = await startDevServer(devServerOptions);

    // Still there, still waiting, same plan, and nothing ran.
    const pending = await waitForStatus(requestId, 'pending_approval', 60_000);
    expect(pending.plan).toMatchObject({ plan_id: plan.plan_id, hash: plan.hash });
    expect(pending.steps[0]).toMatchObject({ task_id: taskId, status: 'pending' });
    expect(run.runs()).toEqual({ started: 0, done: 0 });

    await approve(requestId, plan.hash);
    const done = await waitForStatus(requestId, 'completed');
    expect(done.steps[0]).toMatchObject({ task_id: taskId, status: 'completed', exit_code: 0 });
    expect(run.runs()).toEqual({ started: 1, done: 1 });
    await expectAuditedOnceAsCompleted(requestId, taskId);
    expect(await stepAttempts(requestId)).toEqual([1]);
  }, 180_000);

  it('lets a step that runs across the restart continue, and the request completes', async () => {
    const run = scenario('server-kill-running');
    await run.startWorker();
    const { requestId, taskId, plan } = await askForSlowStep();
    await approve(requestId, plan.hash);
    await waitFor('the slow step to start', () => (run.runs().started === 1 ? true : undefined), 60_000);

    await devServer?.kill('SIGKILL');
    devServer = await startDevServer(devServerOptions);
    // The server was down and is back while the step still runs.
    expect(run.runs()).toEqual({ started: 1, done: 0 });

    const done = await waitForStatus(requestId, 'completed');
    expect(done.steps[0]).toMatchObject({ task_id: taskId, status: 'completed', exit_code: 0 });
    await expectAuditedOnceAsCompleted(requestId, taskId);
    // Normally the worker reports the first run once the server is back (one run, attempt 1). Had
    // the server timed the step out meanwhile, the retry would have run it again: both are allowed.
    const attempts = await stepAttempts(requestId);
    const runs = run.runs();
    expect(attempts).toHaveLength(1);
    expect(runs.started).toBe(attempts[0]);
    expect(runs.done).toBeGreaterThanOrEqual(1);
    expect(run.leftoverRunDirs()).toEqual([]);
  }, 180_000);
});
