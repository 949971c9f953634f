// Through the HTTP API on the real stack (see test/support/e2e-stack.ts): a rejected request, and
// every kind of bad input (and a missing token or a role that may not) getting a clear JSON error.
// The Kuma request to completion and a failing playbook are in full-workflow.test.ts; cancel, retry,
// stale plans and expiry in request-lifecycle.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requestRow, startServices, startStack, type E2EServices, type Stack } from '../support/e2e-stack.js';

let services: E2EServices;
let stack: Stack;

beforeAll(async () => {
  services = await startServices('decisions');
  stack = await startStack(services, 'decisions');
});

afterAll(async () => {
  await stack?.stop();
  await services?.stop();
});

describe('a rejected request', () => {
  it('runs nothing, audits the skipped tasks with the comment and cannot be decided again', async () => {
    const chat = await stack.call('POST', '/chat', { message: 'Set up postgres' });
    expect(chat.status).toBe(201);
    const requestId = chat.body.request_id;
    const reject = await stack.call('POST', '/approve', { request_id: requestId, approved: false, comment: 'not today' }, {}, 'admin');
    expect(reject).toEqual({ status: 200, body: { request_id: requestId, dispatch_started: false, status: 'rejected' } });
    const again = await stack.call('POST', '/approve', { request_id: requestId, approved: true }, {}, 'admin');
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe('conflict');

    const done = await stack.waitForRequest(
      requestId,
      'an audited skipped step',
      (body) => body.steps[0].status === 'skipped' && body.steps[0].audit_commit !== null,
    );
    expect(done.status).toBe('rejected');
    expect(done.decision).toMatchObject({ approver: 'carol', approved: false, comment: 'not today', plan_hash: chat.body.plan.hash });
    expect(fs.existsSync(path.join(stack.config.stateDir, 'postgres'))).toBe(false);
    const audit = await stack.call('GET', `/audit/task/${done.steps[0].task_id}`);
    expect(audit.status).toBe(200);
    expect(audit.body.task).toMatchObject({ status: 'skipped', exit_code: null });
    expect(audit.body.task.outcome).toContain('not today');
    expect(audit.body.git.content).toMatchObject({ status: 'skipped', execution_result: null });
  });
});

describe('four-eyes approval', () => {
  it('records who asked, and refuses their own approval with 403 self_approval while another person may decide', async () => {
    const chat = await stack.call('POST', '/chat', { message: 'Set up postgres' }, {}, 'admin');
    expect(chat.status).toBe(201);
    const requestId = chat.body.request_id;
    expect(chat.body.requested_by).toBe('carol');
    await requestRow(services, requestId, { requestedBy: 'carol', status: 'pending_approval' });

    const self = await stack.call(
      'POST',
      '/approve',
      { request_id: requestId, approved: true, plan_hash: chat.body.plan.hash },
      {},
      'admin',
    );
    expect(self.status).toBe(403);
    expect(self.body.error.code).toBe('self_approval');
    expect((await stack.call('GET', `/requests/${requestId}`)).body).toMatchObject({
      status: 'pending_approval',
      decision: null,
      requested_by: 'carol',
    });

    // Someone else decides (a rejection here, so nothing runs).
    const other = await stack.call('POST', '/approve', { request_id: requestId, approved: false, comment: 'four eyes' });
    expect(other).toEqual({ status: 200, body: { request_id: requestId, dispatch_started: false, status: 'rejected' } });
    const done = await stack.waitForStatus(requestId, 'rejected');
    expect(done.decision).toMatchObject({ approver: 'bob', approved: false });
    await requestRow(services, requestId, { requestedBy: 'carol', approver: 'bob', approved: false });
  });
});

describe('bad input to the API', () => {
  it('answers 400 for malformed, missing, empty or oversized input, as JSON without a stack', async () => {
    const badJson = await stack.call('POST', '/chat', '{"message": ');
    expect(badJson.status).toBe(400);
    expect(badJson.body.error.code).toBe('bad_request');
    for (const body of [{}, { message: '' }, { message: '   ' }, { message: 42 }]) {
      const response = await stack.call('POST', '/chat', body);
      expect(response.status).toBe(400);
      expect(response.body.error).toMatchObject({ code: 'invalid_input', message: expect.stringContaining('message') });
    }
    const oversized = await stack.call('POST', '/chat', { message: 'x'.repeat(100_000) });
    expect(oversized.status).toBe(400);
    expect(oversized.body.error.code).toBe('body_too_large');
    const anonymous = await stack.call('POST', '/approve', { request_id: 'abc', approved: true }, {}, 'none');
    expect(anonymous.status).toBe(401);
    expect(anonymous.body.error.code).toBe('unauthorized');
    const requester = await stack.call('POST', '/approve', { request_id: 'abc', approved: true }, {}, 'requester');
    expect(requester.status).toBe(403);
    expect(requester.body.error).toMatchObject({ code: 'forbidden', role: 'requester' });
    const notBoolean = await stack.call('POST', '/approve', { request_id: 'abc', approved: 'yes' });
    expect(notBoolean.status).toBe(400);
    const badHash = await stack.call('POST', '/approve', { request_id: 'abc', approved: true, plan_hash: 'nothex' });
    expect(badHash.status).toBe(400);
    for (const response of [badJson, oversized, anonymous, requester, notBoolean])
      expect(JSON.stringify(response.body)).not.toMatch(/\bat .*\.ts:\d+/);
  });

  it('answers 404 for unknown requests, tasks and routes', async () => {
    expect((await stack.call('GET', '/requests/doesnotexist')).status).toBe(404);
    expect((await stack.call('POST', '/approve', { request_id: 'doesnotexist', approved: true })).status).toBe(404);
    for (const action of ['cancel', 'retry', 'resume']) {
      expect((await stack.call('POST', `/requests/doesnotexist/${action}`)).status).toBe(404);
    }
    const task = await stack.call('GET', '/audit/task/00000000-0000-0000-0000-000000000000');
    expect(task).toEqual({ status: 404, body: { error: { code: 'not_found', message: 'no task 00000000-0000-0000-0000-000000000000' } } });
    expect((await stack.call('GET', '/nowhere')).status).toBe(404);
  });

  it('answers 422 naming the known services when a request asks for nothing Chiffon can do', async () => {
    const response = await stack.call('POST', '/chat', { message: 'Bake a chocolate cake' });
    expect(response.status).toBe(422);
    expect(response.body.error.code).toBe('unplannable');
    expect(response.body.error.known_services).toEqual(expect.arrayContaining(['kuma', 'postgres']));
    expect(response.body.error.message).toContain('kuma');
  });
});
