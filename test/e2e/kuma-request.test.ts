// End to end through the HTTP API on real parts: a local Temporal dev server from the project's
// binaries, PostgreSQL, the real ansible-playbook and ansible-lint, and a temporary audit git repo.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import git from 'isomorphic-git';
import { serve, type ServerType } from '@hono/node-server';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../api/app.js';
import { loadConfig, type ChiffonConfig } from '../../lib/config.js';
import { fromProjectRoot } from '../../lib/paths.js';
import { tools } from '../../lib/tools.js';
import { createChiffonWorker, workflowsPath } from '../../workers/worker.js';
import { servicesSearchAttribute, statusSearchAttribute } from '../../workflows/messages.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';

let env: TestWorkflowEnvironment;
let database: TestDatabase;
let workflowBundle: WorkflowBundleWithSourceMap;
let server: ServerType;
let baseUrl: string;
let config: ChiffonConfig;
let scratch: string;

beforeAll(async () => {
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'chiffon-e2e-'));
  config = {
    ...loadConfig({}),
    taskQueue: `e2e-${process.pid}`,
    playbookRepo: fromProjectRoot('playbooks'),
    auditRepo: path.join(scratch, 'audit'),
    stateDir: path.join(scratch, 'state'),
    workDir: path.join(scratch, 'work'),
  };
  [env, database, workflowBundle] = await Promise.all([
    TestWorkflowEnvironment.createLocal({
      server: {
        executable: { type: 'existing-path', path: tools.temporalCli() },
        searchAttributes: [statusSearchAttribute, servicesSearchAttribute],
      },
    }),
    createTestDatabase(),
    bundleWorkflowCode({ workflowsPath }),
  ]);
  const app = createApp({ client: env.client, prisma: database.prisma, config });
  server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' });
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/dashboard`;
});

afterAll(async () => {
  await new Promise((resolve) => server?.close(resolve));
  await env?.teardown();
  await database?.drop();
  fs.rmSync(scratch, { recursive: true, force: true });
});

/** Runs `fn` while a real Chiffon worker (real activities) polls the test's task queue. */
async function withWorker<T>(fn: () => Promise<T>): Promise<T> {
  const worker = await createChiffonWorker({
    connection: env.nativeConnection,
    config: { ...config, temporalNamespace: env.namespace ?? 'default' },
    prisma: database.prisma,
    workflowBundle,
  });
  return worker.runUntil(fn);
}

async function call(method: string, route: string, body?: unknown, headers: Record<string, string> = {}) {
  const response = await fetch(`${baseUrl}${route}`, {
    method,
    headers: { 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as any };
}

async function waitForStatus(requestId: string, statuses: string[], timeoutMs = 90_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { body } = await call('GET', `/requests/${requestId}`);
    if (statuses.includes(body.status)) return body;
    if (Date.now() > deadline) throw new Error(`request ${requestId} still ${body.status} after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

async function auditCommitMessages(): Promise<string[]> {
  const log = await git.log({ fs, dir: config.auditRepo });
  return log.map((entry) => entry.commit.message.trim());
}

describe('the Kuma request', () => {
  it('plans deploy then configure, waits for approval, runs both playbooks in order and audits each task', async () => {
    await withWorker(async () => {
      const chat = await call('POST', '/chat', { message: 'Deploy Kuma Uptime to homelab and add our existing portals to the config' });
      expect(chat.status).toBe(201);
      expect(chat.body.status).toBe('pending_approval');
      expect(chat.body.workflow_id).toBe(`request-${chat.body.request_id}`);
      expect(chat.body.intents.map((i: any) => i.name)).toEqual(['deploy_kuma', 'add_portals_to_config']);
      const steps = chat.body.plan.steps;
      expect(steps.map((s: any) => s.playbook)).toEqual(['kuma-deploy.yml', 'kuma-config-update.yml']);
      expect(steps.every((s: any) => s.status === 'pending')).toBe(true);
      const monitors = steps[1].vars.kuma_monitors.map((m: any) => m.name);
      expect(monitors).toEqual(expect.arrayContaining(['portal-1', 'portal-2']));
      expect(steps[1].var_sources.kuma_monitors).toBe('inventory:portals');

      // Nothing runs before the decision.
      const requestId = chat.body.request_id;
      expect((await call('GET', `/requests/${requestId}`)).body.status).toBe('pending_approval');
      expect(fs.existsSync(path.join(config.stateDir, 'kuma'))).toBe(false);

      const approve = await call('POST', '/approve', { request_id: requestId, approved: true, comment: 'go', approver: 'alice' });
      expect(approve).toEqual({ status: 200, body: { request_id: requestId, dispatch_started: true, status: 'running' } });
      expect((await call('POST', '/approve', { request_id: requestId, approved: true, approver: 'bob' })).status).toBe(409);

      const done = await waitForStatus(requestId, ['completed', 'failed']);
      expect(done.status).toBe('completed');
      expect(done.decision).toMatchObject({ approver: 'alice', approved: true, comment: 'go' });
      const [first, second] = done.steps;
      expect([first.status, second.status]).toEqual(['completed', 'completed']);
      expect([first.exit_code, second.exit_code]).toEqual([0, 0]);
      expect(Date.parse(first.finished_at)).toBeLessThanOrEqual(Date.parse(second.started_at));

      // The playbooks' effects, inside the state directory only.
      const compose = fs.readFileSync(path.join(config.stateDir, 'kuma', 'docker-compose.yml'), 'utf8');
      expect(compose).toContain('uptime-kuma');
      const monitorsFile = fs.readFileSync(path.join(config.stateDir, 'kuma', 'monitors.json'), 'utf8');
      expect(monitorsFile).toContain('portal-1');
      expect(monitorsFile).toContain('portal-2');

      // Each task: a PostgreSQL row and a commit in the audit repository, which the API joins.
      for (const step of done.steps) {
        const audit = await call('GET', `/audit/task/${step.task_id}`);
        expect(audit.status).toBe(200);
        expect(audit.body.task).toMatchObject({ task_id: step.task_id, request_id: requestId, status: 'completed', exit_code: 0, playbook: step.playbook });
        expect(audit.body.task.resources.wallMs).toBeGreaterThan(0);
        expect(audit.body.git.path).toBe(`.audit/tasks/${step.task_id}.json`);
        expect(audit.body.git.commit).toBe(step.audit_commit);
        expect(audit.body.git.content).toMatchObject({
          task_id: step.task_id,
          status: 'completed',
          plan_id: chat.body.plan.plan_id,
          request_id: requestId,
          playbook: step.playbook,
          execution_result: { exit_code: 0 },
        });
      }
      const rows = await database.prisma.task.findMany({ where: { requestId }, orderBy: { stepIndex: 'asc' } });
      expect(rows.map((r) => [r.playbook, r.status])).toEqual([
        ['kuma-deploy.yml', 'completed'],
        ['kuma-config-update.yml', 'completed'],
      ]);
      const request = await database.prisma.request.findUniqueOrThrow({ where: { id: requestId } });
      expect(request).toMatchObject({ status: 'completed', approver: 'alice', approved: true });
      const messages = await auditCommitMessages();
      for (const row of rows) expect(messages.some((m) => m.includes(row.id))).toBe(true);
    });
  });
});

describe('a failing playbook', () => {
  it('ends failed, with ansible-lint findings stored and the task audited', async () => {
    await withWorker(async () => {
      const chat = await call('POST', '/chat', { message: 'Run the failure drill' });
      expect(chat.status).toBe(201);
      expect(chat.body.plan.steps.map((s: any) => s.playbook)).toEqual(['failure-drill.yml']);
      const requestId = chat.body.request_id;
      await call('POST', '/approve', { request_id: requestId, approved: true, approver: 'alice' });
      const done = await waitForStatus(requestId, ['completed', 'failed']);
      expect(done.status).toBe('failed');
      const [step] = done.steps;
      expect(step.status).toBe('failed');
      expect(step.exit_code).not.toBe(0);

      const audit = await call('GET', `/audit/task/${step.task_id}`);
      expect(audit.body.task.status).toBe('failed');
      expect(audit.body.task.outcome).toMatch(/failed at task/);
      expect(audit.body.task.suggestions.length).toBeGreaterThan(0);
      for (const suggestion of audit.body.task.suggestions) {
        expect(suggestion).toMatchObject({ path: expect.stringContaining('failure-drill.yml'), status: 'open' });
        expect(['idempotency', 'error_handling', 'security', 'deprecation', 'formatting', 'other']).toContain(suggestion.category);
      }
      const stored = await database.prisma.playbookSuggestion.count({ where: { taskId: step.task_id } });
      expect(stored).toBe(audit.body.task.suggestions.length);
      expect(audit.body.git.content.analysis.lint_findings).toHaveLength(stored);
    });
  });
});

describe('a rejected request', () => {
  it('runs nothing, audits the skipped tasks with the comment and cannot be decided again', async () => {
    await withWorker(async () => {
      const chat = await call('POST', '/chat', { message: 'Set up postgres' });
      expect(chat.status).toBe(201);
      const requestId = chat.body.request_id;
      const reject = await call('POST', '/approve', { request_id: requestId, approved: false, comment: 'not today' }, { 'x-chiffon-user': 'carol' });
      expect(reject).toEqual({ status: 200, body: { request_id: requestId, dispatch_started: false, status: 'rejected' } });
      const again = await call('POST', '/approve', { request_id: requestId, approved: true, approver: 'carol' });
      expect(again.status).toBe(409);
      expect(again.body.error.code).toBe('conflict');

      const done = await waitForStatus(requestId, ['rejected']);
      expect(done.decision).toMatchObject({ approver: 'carol', approved: false, comment: 'not today' });
      await expect.poll(async () => (await call('GET', `/requests/${requestId}`)).body.steps[0].status).toBe('skipped');
      expect(fs.existsSync(path.join(config.stateDir, 'postgres'))).toBe(false);
      const taskId = done.steps[0].task_id;
      await expect.poll(async () => (await call('GET', `/audit/task/${taskId}`)).status).toBe(200);
      const audit = await call('GET', `/audit/task/${taskId}`);
      expect(audit.body.task).toMatchObject({ status: 'skipped', exit_code: null });
      expect(audit.body.task.outcome).toContain('not today');
    });
  });
});

describe('bad input to the API', () => {
  it('answers 400 for malformed, missing, empty or oversized input, as JSON without a stack', async () => {
    const badJson = await call('POST', '/chat', '{"message": ');
    expect(badJson.status).toBe(400);
    expect(badJson.body.error.code).toBe('bad_request');
    for (const body of [{}, { message: '' }, { message: '   ' }, { message: 42 }]) {
      const response = await call('POST', '/chat', body);
      expect(response.status).toBe(400);
      expect(response.body.error).toMatchObject({ code: 'invalid_input', message: expect.stringContaining('message') });
    }
    const oversized = await call('POST', '/chat', { message: 'x'.repeat(100_000) });
    expect(oversized.status).toBe(400);
    expect(oversized.body.error.code).toBe('body_too_large');
    const noApprover = await call('POST', '/approve', { request_id: 'abc', approved: true });
    expect(noApprover.status).toBe(400);
    expect(noApprover.body.error.code).toBe('identity_required');
    const notBoolean = await call('POST', '/approve', { request_id: 'abc', approved: 'yes', approver: 'alice' });
    expect(notBoolean.status).toBe(400);
    for (const response of [badJson, oversized, noApprover]) expect(JSON.stringify(response.body)).not.toMatch(/\bat .*\.ts:\d+/);
  });

  it('answers 404 for unknown requests and tasks', async () => {
    expect((await call('GET', '/requests/doesnotexist')).status).toBe(404);
    expect((await call('POST', '/approve', { request_id: 'doesnotexist', approved: true, approver: 'alice' })).status).toBe(404);
    const task = await call('GET', '/audit/task/00000000-0000-0000-0000-000000000000');
    expect(task).toEqual({ status: 404, body: { error: { code: 'not_found', message: 'no task 00000000-0000-0000-0000-000000000000' } } });
    expect((await call('GET', '/nowhere')).status).toBe(404);
  });

  it('answers 422 naming the known services when a request asks for nothing Chiffon can do', async () => {
    await withWorker(async () => {
      const response = await call('POST', '/chat', { message: 'Bake a chocolate cake' });
      expect(response.status).toBe(422);
      expect(response.body.error.code).toBe('unplannable');
      expect(response.body.error.known_services).toEqual(expect.arrayContaining(['kuma', 'postgres']));
      expect(response.body.error.message).toContain('kuma');
    });
  });
});
