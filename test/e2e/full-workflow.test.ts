// The seed's acceptance suite, end to end on real parts: a Temporal dev server from the project's
// binary, a PostgreSQL database of this file's own, real Chiffon workers, the real ansible-playbook
// against localhost, a temporary audit git repository and the HTTP API over real HTTP.
//
// Each describe group starts its own stack (worker + API on a task queue of its own, its own state
// directory and audit repository) in its beforeAll, so a group runs alone by name:
//   npx vitest run test/e2e/full-workflow.test.ts -t "E2E-01"
// Inside a group, tests share one request, made the first time a test asks for it (once()), so a
// single test also runs alone: -t "playbooks run in sequence".
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256, planHash } from '../../domain/plan-hash.js';
import type { Plan } from '../../domain/types.js';
import { loadLlmConfig } from '../../lib/llm-config.js';
import { fromProjectRoot } from '../../lib/paths.js';
import { startAgentReporter } from '../../workers/agent-reporter.js';
import { servicesSearchAttribute, statusSearchAttribute } from '../../workflows/messages.js';
import { anthropicFake, closeAllFakes, openAiFake, quotaFake } from '../support/provider-fakes.js';
import { once, requestRow, sleep, startServices, startStack, type E2EServices, type Stack } from '../support/e2e-stack.js';

const KUMA_REQUEST = 'Deploy Kuma Uptime to homelab and add our existing portals to the config';
const KUMA_PLAYBOOKS = ['kuma-deploy.yml', 'kuma-config-update.yml'];
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

let services: E2EServices;

beforeAll(async () => {
  services = await startServices('full-workflow');
});

afterAll(async () => {
  await services?.stop();
  await closeAllFakes();
});

function workflowHandle(requestId: string) {
  return services.env.client.workflow.getHandle(`request-${requestId}`);
}

interface HistoryFacts {
  /** Index in the history of the accepted `decide` update, or -1. */
  decisionAccepted: number;
  /** The runStep activities, in the order they were scheduled, with what they ran. */
  runSteps: { scheduled: number; completed: number; playbook: string; taskId: string }[];
}

/** What the workflow's Temporal history says about the decision and the playbook steps. */
async function historyFacts(requestId: string): Promise<HistoryFacts> {
  const events = (await workflowHandle(requestId).fetchHistory()).events ?? [];
  const idIndex = new Map(events.map((e, i) => [String(e.eventId), i]));
  const runSteps: HistoryFacts['runSteps'] = [];
  events.forEach((event, index) => {
    const scheduled = event.activityTaskScheduledEventAttributes;
    if (scheduled?.activityType?.name !== 'runStep') return;
    const data = scheduled.input?.payloads?.[0]?.data;
    const input = JSON.parse(Buffer.from(data ?? new Uint8Array()).toString('utf8'));
    const completedAt = events.findIndex(
      (e) => e.activityTaskCompletedEventAttributes && idIndex.get(String(e.activityTaskCompletedEventAttributes.scheduledEventId)) === index,
    );
    runSteps.push({ scheduled: index, completed: completedAt, playbook: input.step.playbook, taskId: input.step.taskId });
  });
  const decisionAccepted = events.findIndex((e) => e.workflowExecutionUpdateAcceptedEventAttributes?.acceptedRequest?.input?.name === 'decide');
  return { decisionAccepted, runSteps };
}

/** The names of a playbook's tasks, read from the file itself. */
function taskNamesOf(playbook: string): string[] {
  const plays = YAML.parse(fs.readFileSync(fromProjectRoot('playbooks', playbook), 'utf8')) as { tasks: { name: string }[] }[];
  return plays.flatMap((play) => play.tasks.map((task) => task.name));
}

function fileSha(file: string): string {
  return sha256(fs.readFileSync(file));
}

async function submitKuma(stack: Stack): Promise<any> {
  const chat = await stack.call('POST', '/chat', { message: KUMA_REQUEST });
  expect(chat.status, JSON.stringify(chat.body)).toBe(201);
  return chat.body;
}

describe('E2E-01 full request flow', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack(services, 'e2e01');
  });
  afterAll(async () => {
    await stack?.stop();
  });

  const submitted = once(() => submitKuma(stack));

  it('user submits kuma deployment request', async () => {
    const request = await submitted();
    expect(request.request_id).toMatch(/^[0-9a-f]{12}$/);
    expect(request).toMatchObject({ workflow_id: `request-${request.request_id}`, status: 'pending_approval', message: KUMA_REQUEST });

    // It is a live Temporal workflow on the worker's task queue, listed by its status.
    const description = await workflowHandle(request.request_id).describe();
    expect(description.status.name).toBe('RUNNING');
    expect(description.taskQueue).toBe(stack.config.taskQueue);
    expect(description.typedSearchAttributes.get(statusSearchAttribute)).toBe('pending_approval');
    expect(description.typedSearchAttributes.get(servicesSearchAttribute)).toEqual(['kuma']);

    // ... and a row of the requests table.
    await requestRow(services, request.request_id, { workflowId: `request-${request.request_id}`, message: KUMA_REQUEST, status: 'pending_approval', approver: null });

    const fetched = await stack.call('GET', `/requests/${request.request_id}`);
    expect(fetched.status).toBe(200);
    expect(fetched.body).toMatchObject({ request_id: request.request_id, status: 'pending_approval', message: KUMA_REQUEST });
  });

  it('orchestrator parses intent', async () => {
    const request = await submitted();
    expect(request.intents).toEqual([
      { name: 'deploy_kuma', service: 'kuma', playbook: 'kuma-deploy.yml', source: 'Deploy Kuma Uptime to homelab' },
      { name: 'add_portals_to_config', service: 'kuma', playbook: 'kuma-config-update.yml', source: 'add our existing portals to the config' },
    ]);
    const row = await requestRow(services, request.request_id, { status: 'pending_approval' });
    expect((row.intents as { name: string }[]).map((i) => i.name)).toEqual(['deploy_kuma', 'add_portals_to_config']);

    // Intents come from the playbook catalog: a request it cannot serve is refused, naming what it knows.
    const nothing = await stack.call('POST', '/chat', { message: 'Paint the fence' });
    expect(nothing.status).toBe(422);
    expect(nothing.body.error).toMatchObject({ code: 'unplannable', known_services: expect.arrayContaining(['kuma', 'postgres']) });
  });

  it('generates multi-step plan', async () => {
    const request = await submitted();
    const { plan } = request;
    expect(plan.plan_id).toMatch(UUID);
    expect(plan.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(plan.steps.map((s: any) => [s.index, s.playbook, s.service, s.intent, s.status])).toEqual([
      [0, 'kuma-deploy.yml', 'kuma', 'deploy_kuma', 'pending'],
      [1, 'kuma-config-update.yml', 'kuma', 'add_portals_to_config', 'pending'],
    ]);
    // Variables filled from the playbooks' metadata defaults and from the inventory.
    expect(plan.steps[0].vars).toMatchObject({ kuma_port: 3001, kuma_image_tag: '1' });
    expect(plan.steps[0].var_sources.kuma_port).toBe('default');
    expect(plan.steps[1].vars.kuma_monitors).toEqual([
      { name: 'portal-1', portal_url: 'https://portal-1.homelab.lan' },
      { name: 'portal-2', portal_url: 'https://portal-2.homelab.lan' },
    ]);
    expect(plan.steps[1].var_sources.kuma_monitors).toBe('inventory:portals');
    // Every step is a task with its own id from planning on.
    const taskIds = plan.steps.map((s: any) => s.task_id);
    for (const id of taskIds) expect(id).toMatch(UUID);
    expect(new Set(taskIds).size).toBe(2);
    expect(request.steps.map((s: any) => [s.task_id, s.status, s.attempt])).toEqual(taskIds.map((id: string) => [id, 'pending', 1]));

    // The plan is the workflow's (GET shows the same) and is stored with the fingerprint of the files
    // it was made from; its hash covers the steps and those files.
    expect((await stack.call('GET', `/requests/${request.request_id}`)).body.plan).toEqual(plan);
    const row = await requestRow(services, request.request_id, { status: 'pending_approval' });
    const stored = row.plan as unknown as Plan;
    expect(row.planId).toBe(plan.plan_id);
    expect(stored.hash).toBe(plan.hash);
    expect(stored.fingerprint.playbooks).toEqual(Object.fromEntries(KUMA_PLAYBOOKS.map((p) => [p, fileSha(fromProjectRoot('playbooks', p))])));
    expect(stored.fingerprint.inventory).toBe(fileSha(fromProjectRoot('playbooks', 'inventory', 'hosts.yml')));
    expect(planHash(stored.steps, stored.fingerprint)).toBe(plan.hash);
  });

  it('plan requires user approval', async () => {
    const request = await submitted();
    const id = request.request_id;
    await sleep(1_000);
    const waiting = await stack.call('GET', `/requests/${id}`);
    expect(waiting.body).toMatchObject({ status: 'pending_approval', decision: null });
    expect(waiting.body.steps.map((s: any) => s.status)).toEqual(['pending', 'pending']);

    // A decision without an identity is refused and changes nothing.
    const anonymous = await stack.call('POST', '/approve', { request_id: id, approved: true });
    expect(anonymous.status).toBe(400);
    expect(anonymous.body.error.code).toBe('identity_required');
    expect((await stack.call('GET', `/requests/${id}`)).body).toMatchObject({ status: 'pending_approval', decision: null });

    // Nothing ran: no playbook activity, no effect, no task record, no audit commit.
    expect((await historyFacts(id)).runSteps).toEqual([]);
    expect(fs.existsSync(path.join(stack.config.stateDir, 'kuma'))).toBe(false);
    expect(await services.database.prisma.task.count({ where: { requestId: id } })).toBe(0);
    expect(await stack.auditLog()).toEqual([]);
    await requestRow(services, id, { status: 'pending_approval', approver: null, approved: null });
  });

  it('user approves plan', async () => {
    const request = await submitted();
    const id = request.request_id;
    const approve = await stack.call('POST', '/approve', {
      request_id: id,
      approved: true,
      approver: 'alice',
      comment: 'ship it',
      plan_hash: request.plan.hash,
    });
    expect(approve).toEqual({ status: 200, body: { request_id: id, dispatch_started: true, status: 'running' } });
    const decided = (await stack.call('GET', `/requests/${id}`)).body;
    expect(decided.decision).toMatchObject({ approver: 'alice', approved: true, comment: 'ship it', plan_hash: request.plan.hash });
    expect(Date.parse(decided.decision.decided_at)).not.toBeNaN();

    // One decision per plan.
    const second = await stack.call('POST', '/approve', { request_id: id, approved: false, approver: 'bob' });
    expect(second.status).toBe(409);
    expect(second.body.error.code).toBe('conflict');

    const done = await stack.waitForStatus(id, 'completed');
    expect(done.decision.approver).toBe('alice');
    expect(done.steps.map((s: any) => s.status)).toEqual(['completed', 'completed']);
    expect(fs.existsSync(path.join(stack.config.stateDir, 'kuma', 'monitors.json'))).toBe(true);
    await requestRow(services, id, {
      status: 'completed',
      approver: 'alice',
      approved: true,
      decisionComment: 'ship it',
    });
  });
});

describe('E2E-03 deployment execution', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack(services, 'e2e03');
  });
  afterAll(async () => {
    await stack?.stop();
  });

  const kumaDir = () => path.join(stack.config.stateDir, 'kuma');

  /** The Kuma request, planned and waiting, with what was there a second later, before the decision. */
  const submitted = once(async () => {
    const request = await submitKuma(stack);
    await sleep(1_000);
    const before = {
      status: (await stack.call('GET', `/requests/${request.request_id}`)).body.status,
      kumaDirExists: fs.existsSync(kumaDir()),
      taskRows: await services.database.prisma.task.count({ where: { requestId: request.request_id } }),
      history: await historyFacts(request.request_id),
    };
    return { request, before };
  });
  const approved = once(async () => {
    const { request, before } = await submitted();
    const approve = await stack.call('POST', '/approve', { request_id: request.request_id, approved: true, approver: 'alice', plan_hash: request.plan.hash });
    return { request, before, approve };
  });
  const completed = once(async () => {
    const { request } = await approved();
    const done = await stack.waitForStatus(request.request_id, 'completed');
    return { request, done };
  });

  it('approve then execution starts', async () => {
    const { request, before, approve } = await approved();
    const id = request.request_id;
    expect(before).toEqual({ status: 'pending_approval', kumaDirExists: false, taskRows: 0, history: { decisionAccepted: -1, runSteps: [] } });
    expect(approve).toEqual({ status: 200, body: { request_id: id, dispatch_started: true, status: 'running' } });

    // The first step starts after the decision, without anything else asked of anyone.
    const started = await stack.waitForRequest(id, 'first step started', (body) => ['running', 'completed'].includes(body.steps[0].status));
    expect(started.steps[0].started_at).not.toBeNull();
    expect(Date.parse(started.steps[0].started_at)).toBeGreaterThanOrEqual(Date.parse(started.decision.decided_at));
    const history = await historyFacts(id);
    expect(history.decisionAccepted).toBeGreaterThan(-1);
    expect(history.runSteps[0]).toMatchObject({ playbook: 'kuma-deploy.yml', taskId: request.plan.steps[0].task_id });
    expect(history.runSteps[0]!.scheduled).toBeGreaterThan(history.decisionAccepted);
    // ... and ansible-playbook really runs: the deployment directory appears.
    await expect.poll(() => fs.existsSync(kumaDir()), { timeout: 60_000, interval: 200 }).toBe(true);
  });

  it('playbooks run in sequence', async () => {
    const { request, done } = await completed();
    const [first, second] = done.steps;
    expect([first.playbook, second.playbook]).toEqual(KUMA_PLAYBOOKS);
    expect([first.exit_code, second.exit_code]).toEqual([0, 0]);
    expect(Date.parse(first.started_at)).toBeLessThan(Date.parse(first.finished_at));
    expect(Date.parse(first.finished_at)).toBeLessThanOrEqual(Date.parse(second.started_at));
    expect(Date.parse(second.started_at)).toBeLessThan(Date.parse(second.finished_at));

    // Temporal scheduled the second playbook only once the first had completed.
    const { runSteps } = await historyFacts(request.request_id);
    expect(runSteps.map((s) => s.playbook)).toEqual(KUMA_PLAYBOOKS);
    expect(runSteps[0]!.completed).toBeGreaterThan(runSteps[0]!.scheduled);
    expect(runSteps[1]!.scheduled).toBeGreaterThan(runSteps[0]!.completed);

    // What they wrote, in that order (kuma-config-update.yml refuses to run before kuma-deploy.yml).
    const compose = fs.statSync(path.join(kumaDir(), 'docker-compose.yml'));
    const monitors = fs.statSync(path.join(kumaDir(), 'monitors.json'));
    expect(monitors.mtimeMs).toBeGreaterThanOrEqual(compose.mtimeMs);

    // The audit commits follow the same order (the log is newest first).
    const log = await stack.auditLog();
    const position = (taskId: string) => log.findIndex((c) => c.message.includes(taskId));
    expect(position(first.task_id)).toBeGreaterThan(position(second.task_id));
    expect(position(second.task_id)).toBeGreaterThanOrEqual(0);
  });

  it('execution output captured', async () => {
    const { done } = await completed();
    for (const step of done.steps) {
      const audit = await stack.call('GET', `/audit/task/${step.task_id}`);
      expect(audit.status).toBe(200);
      const result = audit.body.git.content.execution_result;
      // Every task of the playbook file, as ansible reported it for localhost.
      const names = taskNamesOf(step.playbook);
      expect(new Set(result.tasks.map((t: any) => t.name))).toEqual(new Set(names));
      for (const task of result.tasks) {
        expect(task.host).toBe('localhost');
        expect(['ok', 'changed']).toContain(task.status);
      }
      expect(result.stats.localhost).toMatchObject({ failures: 0, unreachable: 0 });
      expect(result.stats.localhost.ok).toBeGreaterThanOrEqual(names.length);
      expect(result.stats.localhost.changed).toBeGreaterThanOrEqual(1);
      expect(result.failed_tasks).toEqual([]);
      expect(result.exit_code).toBe(0);
      expect(result.resources.wallMs).toBeGreaterThan(0);
      expect(result.resources.userCpuMs + result.resources.systemCpuMs).toBeGreaterThan(0);
      expect(result.resources.maxRssKb).toBeGreaterThan(0);
      // The PostgreSQL record holds the same recap.
      expect(audit.body.task.result.stats).toEqual(result.stats);
      expect(audit.body.task.outcome).toMatch(/^completed: \d+ task results, [1-9]\d* changed$/);
    }
    const deploy = (await stack.call('GET', `/audit/task/${done.steps[0].task_id}`)).body.git.content.execution_result;
    expect(deploy.tasks).toContainEqual({ name: 'Write the Uptime Kuma compose file', host: 'localhost', status: 'changed' });
    const configure = (await stack.call('GET', `/audit/task/${done.steps[1].task_id}`)).body.git.content.execution_result;
    expect(configure.tasks).toContainEqual({ name: 'Write the Uptime Kuma monitor list', host: 'localhost', status: 'changed' });
  });

  it('all steps logged to PostgreSQL', async () => {
    const { request, done } = await completed();
    const id = request.request_id;
    const rows = await services.database.prisma.task.findMany({ where: { requestId: id }, orderBy: { stepIndex: 'asc' } });
    expect(rows).toHaveLength(2);
    rows.forEach((row, index) => {
      const step = done.steps[index];
      expect(row).toMatchObject({
        id: step.task_id,
        planId: request.plan.plan_id,
        stepIndex: index,
        attempt: 1,
        playbook: KUMA_PLAYBOOKS[index],
        status: 'completed',
        exitCode: 0,
        auditCommit: step.audit_commit,
        auditPath: `.audit/tasks/${step.task_id}.json`,
      });
      expect(row.startedAt?.toISOString()).toBe(new Date(step.started_at).toISOString());
      expect(row.finishedAt?.toISOString()).toBe(new Date(step.finished_at).toISOString());
      expect((row.resources as { wallMs: number }).wallMs).toBeGreaterThan(0);
    });
    expect(rows[0]!.finishedAt!.getTime()).toBeLessThanOrEqual(rows[1]!.startedAt!.getTime());
    await requestRow(services, id, {
      status: 'completed',
      approver: 'alice',
      approved: true,
      planId: request.plan.plan_id,
    });
    // Each row points at a real commit of the audit repository holding the same task.
    const log = await stack.auditLog();
    for (const row of rows) {
      const commit = log.find((c) => c.oid === row.auditCommit);
      expect(commit?.message).toContain(`audit: task ${row.id} completed`);
    }
  });

  it('failures handled gracefully', async () => {
    const chat = await stack.call('POST', '/chat', { message: 'Run the failure drill, then set up postgres' });
    expect(chat.status, JSON.stringify(chat.body)).toBe(201);
    const id = chat.body.request_id;
    expect(chat.body.plan.steps.map((s: any) => s.playbook)).toEqual(['failure-drill.yml', 'postgres-setup.yml']);
    await stack.call('POST', '/approve', { request_id: id, approved: true, approver: 'alice' });

    const failed = await stack.waitForStatus(id, 'failed');
    const [drill, postgres] = failed.steps;
    expect(drill).toMatchObject({ playbook: 'failure-drill.yml', status: 'failed' });
    expect(drill.exit_code).not.toBe(0);
    expect(drill.exit_code).not.toBeNull();
    // The step after the failure is not run, and says why.
    expect(postgres).toMatchObject({ playbook: 'postgres-setup.yml', status: 'skipped', exit_code: null });
    expect(fs.existsSync(path.join(stack.config.stateDir, 'failure-drill', 'started-at'))).toBe(true);
    expect(fs.existsSync(path.join(stack.config.stateDir, 'postgres'))).toBe(false);

    // The failure is captured and analysed: the failing task, its message, the lint findings.
    const audit = await stack.call('GET', `/audit/task/${drill.task_id}`);
    expect(audit.body.task).toMatchObject({ status: 'failed', exit_code: drill.exit_code });
    expect(audit.body.task.outcome).toMatch(/^failed at task "fail on purpose" on localhost/);
    const result = audit.body.git.content.execution_result;
    expect(result.failed_tasks).toEqual([expect.objectContaining({ task: 'fail on purpose', host: 'localhost' })]);
    expect(result.tasks).toContainEqual({ name: 'fail on purpose', host: 'localhost', status: 'failed' });
    expect(result.stats.localhost.failures).toBe(1);
    expect(audit.body.task.suggestions.length).toBeGreaterThan(0);
    expect(await services.database.prisma.playbookSuggestion.count({ where: { taskId: drill.task_id } })).toBe(audit.body.task.suggestions.length);
    const skipped = await stack.call('GET', `/audit/task/${postgres.task_id}`);
    expect(skipped.body.task).toMatchObject({ status: 'skipped', exit_code: null, outcome: 'not run: an earlier step failed' });
    expect(skipped.body.git.commit).toBe(postgres.audit_commit);
    await requestRow(services, id, { status: 'failed' });

    // The request stays open for a retry, and the worker goes on serving other requests.
    expect((await workflowHandle(id).describe()).status.name).toBe('RUNNING');
    const next = await stack.call('POST', '/chat', { message: 'Set up postgres' });
    expect(next.status).toBe(201);
    await stack.call('POST', '/approve', { request_id: next.body.request_id, approved: true, approver: 'alice' });
    await stack.waitForStatus(next.body.request_id, 'completed');
    expect(fs.existsSync(path.join(stack.config.stateDir, 'postgres', 'postgresql.conf'))).toBe(true);
  });
});

describe('full workflow integration', () => {
  it('complete kuma workflow', async () => {
    const stack = await startStack(services, 'complete');
    try {
      const request = await submitKuma(stack);
      const id = request.request_id;
      expect(request.intents.map((i: any) => i.name)).toEqual(['deploy_kuma', 'add_portals_to_config']);
      expect(request.plan.steps.map((s: any) => s.playbook)).toEqual(KUMA_PLAYBOOKS);
      expect(fs.existsSync(stack.config.stateDir)).toBe(false);

      const approve = await stack.call('POST', '/approve', { request_id: id, approved: true, approver: 'alice', plan_hash: request.plan.hash }, {});
      expect(approve.body).toMatchObject({ dispatch_started: true, status: 'running' });
      const done = await stack.waitForStatus(id, 'completed');
      expect(done.steps.map((s: any) => [s.playbook, s.status, s.exit_code, s.attempt])).toEqual([
        ['kuma-deploy.yml', 'completed', 0, 1],
        ['kuma-config-update.yml', 'completed', 0, 1],
      ]);

      // What the playbooks did, under the state directory.
      const compose = fs.readFileSync(path.join(stack.config.stateDir, 'kuma', 'docker-compose.yml'), 'utf8');
      expect(compose).toContain('image: louislam/uptime-kuma:1');
      expect(compose).toContain('"3001:3001"');
      expect(fs.statSync(path.join(stack.config.stateDir, 'kuma', 'data')).isDirectory()).toBe(true);
      const monitors = JSON.parse(fs.readFileSync(path.join(stack.config.stateDir, 'kuma', 'monitors.json'), 'utf8'));
      expect(monitors).toEqual({
        managed_by: 'chiffon',
        monitors: [
          { name: 'portal-1', type: 'http', url: 'https://portal-1.homelab.lan', interval: 60 },
          { name: 'portal-2', type: 'http', url: 'https://portal-2.homelab.lan', interval: 60 },
        ],
      });

      // Audited: one commit per task, the API joining PostgreSQL and git.
      const log = await stack.auditLog();
      expect(log.map((c) => c.message)).toEqual([
        `audit: task ${done.steps[1].task_id} completed (kuma-config-update.yml, request ${id})`,
        `audit: task ${done.steps[0].task_id} completed (kuma-deploy.yml, request ${id})`,
      ]);
      for (const step of done.steps) {
        const audit = await stack.call('GET', `/audit/task/${step.task_id}`);
        expect(audit.body.task).toMatchObject({ task_id: step.task_id, request_id: id, status: 'completed', exit_code: 0 });
        expect(audit.body.git).toMatchObject({ commit: step.audit_commit, path: `.audit/tasks/${step.task_id}.json` });
        expect(audit.body.git.content).toMatchObject({ task_id: step.task_id, plan_id: request.plan.plan_id, attempt: 1, status: 'completed' });
        const committed = fs.readFileSync(path.join(stack.config.auditRepo, `.audit/tasks/${step.task_id}.json`), 'utf8');
        expect(JSON.parse(committed)).toEqual(audit.body.git.content);
      }
      expect(await services.database.prisma.task.count({ where: { requestId: id, status: 'completed' } })).toBe(2);
      await requestRow(services, id, { status: 'completed', approver: 'alice' });

      // The workflow has ended, findable by its search attributes; an ended request cannot be cancelled.
      const description = await workflowHandle(id).describe();
      expect(description.status.name).toBe('COMPLETED');
      expect(description.typedSearchAttributes.get(statusSearchAttribute)).toBe('completed');
      expect(description.typedSearchAttributes.get(servicesSearchAttribute)).toEqual(['kuma']);
      expect((await stack.call('POST', `/requests/${id}/cancel`, { by: 'alice' })).status).toBe(409);
      // Nothing of the runs is left behind in the work directory.
      expect(fs.readdirSync(stack.config.workDir).filter((e) => e.startsWith('ansible-run-'))).toEqual([]);
    } finally {
      await stack.stop();
    }
  });

  it('workflow with resource constraints pauses', async () => {
    // The worker's thresholds leave no agent room (no machine has 100% of its memory free; the load
    // limit is out of the way so the reason is always the memory), and a real agent reporter puts
    // this process in the registry for the stack's task queue.
    const stack = await startStack(services, 'paused', {
      config: { minFreeMemoryPercent: 100, maxLoadPerCpu: 1_000_000, capacityRecheckMs: 300 },
    });
    const reporter = startAgentReporter(services.database.prisma, stack.config);
    const agentId = `${os.hostname()}:${process.pid}`;
    try {
      await expect
        .poll(() => services.database.prisma.agent.count({ where: { id: agentId, taskQueue: stack.config.taskQueue } }), { timeout: 10_000 })
        .toBe(1);
      const request = await submitKuma(stack);
      const id = request.request_id;
      const approve = await stack.call('POST', '/approve', { request_id: id, approved: true, approver: 'alice' });
      expect(approve.status).toBe(200);

      const paused = await stack.waitForStatus(id, 'paused');
      expect(paused.paused_reason).toContain(agentId);
      expect(paused.paused_reason).toMatch(/memory free is below 100%/);
      expect(paused.steps.map((s: any) => s.status)).toEqual(['pending', 'pending']);

      // The pause lasts while capacity stays low: several re-checks later, across a worker restart
      // (the new worker rebuilds the state from the workflow's history to answer), nothing ran.
      await sleep(2_000);
      await stack.stopWorker();
      await stack.startWorker();
      await sleep(1_000);
      const still = (await stack.call('GET', `/requests/${id}`)).body;
      expect(still.status).toBe('paused');
      expect(still.paused_reason).toContain(agentId);
      expect(still.steps.map((s: any) => s.status)).toEqual(['pending', 'pending']);
      expect((await historyFacts(id)).runSteps).toEqual([]);
      expect(fs.existsSync(path.join(stack.config.stateDir, 'kuma'))).toBe(false);
      expect(await services.database.prisma.task.count({ where: { requestId: id } })).toBe(0);
      await requestRow(services, id, { status: 'paused' });
      expect((await workflowHandle(id).describe()).typedSearchAttributes.get(statusSearchAttribute)).toBe('paused');

      // A resume needs an identity.
      const anonymous = await stack.call('POST', `/requests/${id}/resume`, {});
      expect(anonymous.status).toBe(400);
      expect(anonymous.body.error.code).toBe('identity_required');

      // Resumed by a person: the rest of the run goes on although the machine is still "full"
      // (the operator's resume lasts for this run), and the resume is recorded with who asked.
      const resume = await stack.call('POST', `/requests/${id}/resume`, {}, { 'x-chiffon-user': 'dave' });
      expect(resume.status).toBe(202);
      const done = await stack.waitForStatus(id, 'completed');
      expect(done.paused_reason).toBeNull();
      expect(done.operator_actions).toEqual([expect.objectContaining({ action: 'resume', by: 'dave' })]);
      expect(done.steps.map((s: any) => [s.status, s.exit_code])).toEqual([
        ['completed', 0],
        ['completed', 0],
      ]);
      expect(fs.existsSync(path.join(stack.config.stateDir, 'kuma', 'monitors.json'))).toBe(true);
      expect(await services.database.prisma.task.count({ where: { requestId: id, status: 'completed' } })).toBe(2);
      // Resuming a request that is no longer paused is refused.
      expect((await stack.call('POST', `/requests/${id}/resume`, { by: 'dave' })).status).toBe(409);
    } finally {
      await reporter.stop();
      await stack.stop();
    }
  });
});

describe('workflow with external AI fallback', () => {
  it('quota below 20% routes to the external provider', async () => {
    const openAiKey = 'sk-e2e-primary-5b7c1d';
    const anthropicKey = 'sk-ant-e2e-fallback-9a2e4f';
    const answer = JSON.stringify({
      intents: [
        { name: 'deploy_kuma', playbook: 'kuma-deploy.yml', source: 'Deploy Kuma Uptime to homelab' },
        { name: 'add_portals_to_config', playbook: 'kuma-config-update.yml', source: 'add our existing portals to the config' },
      ],
    });
    // Real HTTP fakes on loopback: the primary model (which must not be asked), its quota endpoint
    // reporting 15% left, and Anthropic's Messages API.
    const primary = await openAiFake({ content: answer });
    const quota = await quotaFake({ remaining_fraction: 0.15 });
    const claude = await anthropicFake(anthropicKey, { text: answer });
    const llm = loadLlmConfig({
      CHIFFON_LLM_BASE_URL: `${primary.url}/v1`,
      CHIFFON_LLM_MODEL: 'homelab-planner',
      CHIFFON_LLM_API_KEY: openAiKey,
      CHIFFON_LLM_QUOTA_URL: `${quota.url}/quota`,
      ANTHROPIC_API_KEY: anthropicKey,
      CHIFFON_ANTHROPIC_BASE_URL: claude.url,
    });
    const stack = await startStack(services, 'ai-fallback', { llm });
    try {
      const request = await submitKuma(stack);
      expect(request.intents.map((i: any) => i.name)).toEqual(['deploy_kuma', 'add_portals_to_config']);
      expect(request.decomposition).toEqual({
        decided_by: 'anthropic',
        model: 'claude-haiku-4-5',
        skipped: [{ provider: 'openai-compatible', reason: expect.stringContaining('quota 15% below 20%') }],
      });
      expect(primary.requests).toHaveLength(0);
      expect(claude.requests).toHaveLength(1);

      const id = request.request_id;
      expect((await stack.call('POST', '/approve', { request_id: id, approved: true, approver: 'alice', plan_hash: request.plan.hash })).status).toBe(200);
      const done = await stack.waitForStatus(id, 'completed');
      // Recorded in PostgreSQL and in the audit of each task; no key anywhere.
      await requestRow(services, id, { status: 'completed', decomposition: expect.objectContaining({ decidedBy: 'anthropic' }) });
      const audit = await stack.call('GET', `/audit/task/${done.steps[0].task_id}`);
      expect(audit.body.git.content.decomposition).toMatchObject({ decidedBy: 'anthropic', skipped: [{ provider: 'openai-compatible' }] });
      const row = await services.database.prisma.request.findUniqueOrThrow({ where: { id } });
      for (const text of [JSON.stringify(request), JSON.stringify(done), JSON.stringify(audit.body), JSON.stringify(row)]) {
        expect(text).not.toContain(openAiKey);
        expect(text).not.toContain(anthropicKey);
      }
    } finally {
      await stack.stop();
    }
  });
});
