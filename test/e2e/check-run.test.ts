// Check runs on the real stack (Temporal dev server, PostgreSQL, a real worker, ansible-playbook
// --check --diff on localhost, the git audit, the HTTP API): POST /requests/:id/preview {"check": true}
// shows what a pending plan would change, streamed and audited as a check run, and changes nothing.
//   1. "deploy kuma" checked before it ever ran: the directories and the compose file would be
//      created (with the compose file's diff), nothing is created, the approval then runs it;
//   2. the whole Kuma request afterwards: the deploy would change nothing, the monitors file would
//      be written; a check run of a request that ended is refused.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiToken } from '../../lib/api-tokens.js';
import { once, startServices, startStack, type E2EServices, type Stack } from '../support/e2e-stack.js';

let services: E2EServices;
let stack: Stack;

beforeAll(async () => {
  services = await startServices('check-run');
  stack = await startStack(services, 'check-run');
});

afterAll(async () => {
  await stack?.stop();
  await services?.stop();
});

const kumaDir = () => path.join(stack.config.stateDir, 'kuma');

async function pendingRequest(message: string): Promise<any> {
  const chat = await stack.call('POST', '/chat', { message });
  expect(chat.status).toBe(201);
  return stack.waitForRequest(
    chat.body.request_id,
    'a clean preview',
    (r) => r.status === 'pending_approval' && r.plan?.preview_status === 'ready',
  );
}

const checkDone = (id: string) =>
  stack.waitForRequest(
    id,
    'the check run ended',
    (r) => ['completed', 'failed', 'not_run', 'cancelled'].includes(r.check_run?.status),
    120_000,
  );

async function eventsOf(id: string): Promise<any[]> {
  const page = await stack.call('GET', `/requests/${id}/events?format=json&after_seq=0`);
  expect(page.status).toBe(200);
  return page.body.events;
}

describe('a check run of a plan that never ran', () => {
  const request = once(() => pendingRequest('Deploy Kuma Uptime to homelab'));

  it('refuses what is not a check run, and a requester checking a request of someone else', async () => {
    const { request_id: id } = await request();
    const notCheck = await stack.call('POST', `/requests/${id}/preview`, {});
    expect(notCheck.status).toBe(400);
    expect(notCheck.body.error.message).toContain('{"check": true}');
    const unknown = await stack.call('POST', '/requests/no-such-request/preview', { check: true });
    expect(unknown.status).toBe(404);
    const dave = await createApiToken(services.database.prisma, { name: 'dave', role: 'requester' });
    const notTheirs = await stack.call('POST', `/requests/${id}/preview`, { check: true }, { authorization: `Bearer ${dave.token}` });
    expect(notTheirs.status).toBe(403);
    expect(notTheirs.body.error.message).toContain('dave did not ask for request');
  });

  it('shows what would change, with diffs, streamed and audited as a check run, and changes nothing', async () => {
    const { request_id: id, plan } = await request();
    const asked = await stack.call('POST', `/requests/${id}/preview`, { check: true });
    expect(asked.status).toBe(202);
    expect(asked.body.check_run).toMatchObject({ number: 1, requested_by: 'bob', plan_hash: plan.hash });
    // One check run at a time.
    const again = await stack.call('POST', `/requests/${id}/preview`, { check: true });
    expect(again.status).toBe(409);

    const done = await checkDone(id);
    expect(done.status).toBe('pending_approval');
    const checkRun = done.check_run;
    expect(checkRun).toMatchObject({
      status: 'completed',
      for_current_plan: true,
      nothing_would_change: false,
      hosts_changed: ['localhost'],
    });
    expect(checkRun.summary).toBe(`${checkRun.would_change} tasks would change on 1 host`);
    const tasks = checkRun.steps[0].tasks;
    expect(checkRun.steps[0].task_id).toBe(`${plan.steps[0].task_id}.check1`);
    const compose = tasks.find((t: any) => t.task === 'Write the Uptime Kuma compose file');
    expect(compose).toMatchObject({ host: 'localhost', status: 'changed' });
    // A new file: every line added (the template module names its rendered source as the header).
    expect(compose.diff).toMatch(/^--- before\n\+\+\+ after: .*kuma-docker-compose\.yml\.j2\n@@ -0,0 \+1,\d+ @@\n/);
    expect(compose.diff).toContain('+services:');
    expect(tasks.find((t: any) => t.task === 'Create the Uptime Kuma directories')).toMatchObject({ status: 'changed' });
    // Nothing was created.
    expect(fs.existsSync(kumaDir())).toBe(false);

    // The stream: the check's own events, marked as such, and its outcome.
    const events = await eventsOf(id);
    const checkEvents = events.filter((e) => e.task_id === checkRun.steps[0].task_id);
    expect(checkEvents.length).toBeGreaterThan(3);
    expect(checkEvents.every((e) => e.payload.mode === 'check')).toBe(true);
    expect(checkEvents.some((e) => e.kind === 'task_result' && e.payload.diff?.includes('+services:'))).toBe(true);
    expect(events.filter((e) => e.kind === 'check_run').map((e) => e.payload.status)).toEqual(['running', 'completed']);

    // Audited as a check run, in PostgreSQL and git, and never as a deployment.
    const audit = await stack.call('GET', `/audit/task/${checkRun.steps[0].task_id}`);
    expect(audit.status).toBe(200);
    expect(audit.body.task).toMatchObject({ mode: 'check', status: 'completed' });
    expect(audit.body.git.content).toMatchObject({ mode: 'check', task_id: checkRun.steps[0].task_id });
    expect(audit.body.git.content.execution_result.tasks.some((t: any) => t.diff)).toBe(true);
    const log = await stack.auditLog();
    expect(log.some((c) => c.message.startsWith(`audit: check run ${checkRun.steps[0].task_id} completed`))).toBe(true);
  });

  it("says a later step's check failed when it depends on what an earlier step would do", async () => {
    const both = await pendingRequest('Deploy Kuma Uptime to homelab and add our existing portals to the config');
    expect((await stack.call('POST', `/requests/${both.request_id}/preview`, { check: true })).status).toBe(202);
    const checked = (await checkDone(both.request_id)).check_run;
    expect(checked.status).toBe('failed');
    expect(checked.steps.map((s: any) => s.status)).toEqual(['completed', 'failed']);
    expect(checked.summary).toMatch(
      /^the check run failed \(step 2: check failed at task "Require Uptime Kuma to be deployed first" on localhost: Uptime Kuma is not deployed: .*\); 2 tasks would change on 1 host$/,
    );
    expect(fs.existsSync(kumaDir())).toBe(false);
    await stack.call('POST', '/approve', { request_id: both.request_id, approved: false, comment: 'checked only' });
  });

  it('the approval then runs the plan for real', async () => {
    const { request_id: id, plan } = await request();
    await checkDone(id);
    const approve = await stack.call('POST', '/approve', { request_id: id, approved: true, plan_hash: plan.hash });
    expect(approve.status).toBe(200);
    await stack.waitForStatus(id, 'completed');
    expect(fs.existsSync(path.join(kumaDir(), 'docker-compose.yml'))).toBe(true);
  });
});

describe('a check run of a plan that ran before', () => {
  it('says the deploy would change nothing and the config would, and refuses once the request ended', async () => {
    // After the deploy of the group above (its last test), or deployed here when run alone.
    if (!fs.existsSync(path.join(kumaDir(), 'docker-compose.yml'))) {
      const deploy = await pendingRequest('Deploy Kuma Uptime to homelab');
      await stack.call('POST', '/approve', { request_id: deploy.request_id, approved: true, plan_hash: deploy.plan.hash });
      await stack.waitForStatus(deploy.request_id, 'completed');
    }
    const again = await pendingRequest('Deploy Kuma Uptime to homelab');
    expect((await stack.call('POST', `/requests/${again.request_id}/preview`, { check: true })).status).toBe(202);
    const unchanged = (await checkDone(again.request_id)).check_run;
    expect(unchanged).toMatchObject({ status: 'completed', nothing_would_change: true, summary: 'nothing would change', would_change: 0 });

    const both = await pendingRequest('Deploy Kuma Uptime to homelab and add our existing portals to the config');
    // A requester may check their own request.
    expect((await stack.call('POST', `/requests/${both.request_id}/preview`, { check: true }, {}, 'requester')).status).toBe(202);
    const checked = (await checkDone(both.request_id)).check_run;
    expect(checked.status).toBe('completed');
    expect(checked.steps.map((s: any) => s.tasks.filter((t: any) => t.status === 'changed').length)).toEqual([0, 1]);
    expect(checked.summary).toBe('1 task would change on 1 host');
    expect(fs.existsSync(path.join(kumaDir(), 'monitors.json'))).toBe(false);

    // Rejected: the request has ended, and nothing is checked any more.
    await stack.call('POST', '/approve', { request_id: both.request_id, approved: false, comment: 'not now' });
    await stack.waitForStatus(both.request_id, 'rejected');
    const late = await stack.call('POST', `/requests/${both.request_id}/preview`, { check: true });
    expect(late.status).toBe(409);
  });
});
