// The durable paths of a request, through the HTTP API on the real stack (Temporal dev server,
// PostgreSQL, real workers, ansible-playbook against localhost, a temporary audit git repository):
// cancel during a running playbook, retry from the failed step, a plan gone stale between approval
// and run, approval expiry, a required variable supplied by a person (needs_input), and the refusals
// (wrong plan hash, no token or the wrong role, actions that do not fit).
//
// Every test starts its own stack on a copy of the sample playbook repository with three extra
// playbooks, so it may edit the playbooks without touching another test:
// - gate.yml:  writes gate/started, waits (up to 30 s) until the test creates gate/open, writes gate/done;
// - note.yml:  appends a line to note/runs.log;
// - flaky.yml: fails at the task "Break on purpose" until the test replaces it (FLAKY_FIXED_TASK).
// Each describe runs alone by name: npx vitest run test/e2e/request-lifecycle.test.ts -t "stale plan"
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiToken } from '../../lib/api-tokens.js';
import type { ChiffonConfig } from '../../lib/config.js';
import { statusSearchAttribute } from '../../workflows/messages.js';
import { processesMentioning } from '../support/processes.js';
import { playbookRepoCopy, requestRow, sleep, startServices, startStack, type E2EServices, type Stack } from '../support/e2e-stack.js';

const GATE_PLAYBOOK = `---
- name: Wait at the gate
  hosts: homelab
  gather_facts: false
  tasks:
    - name: Create the gate directory
      ansible.builtin.file:
        path: "{{ chiffon_state_dir }}/gate"
        state: directory
        mode: "0755"

    - name: Record that the step started
      ansible.builtin.shell: date -u +%Y-%m-%dT%H:%M:%S.%NZ > {{ (chiffon_state_dir ~ '/gate/started') | quote }}
      changed_when: true

    - name: Wait until the gate opens
      ansible.builtin.shell: |
        for tick in $(seq 1 {{ gate_ticks | int }}); do
          if [ -e {{ (chiffon_state_dir ~ '/gate/open') | quote }} ]; then exit 0; fi
          sleep 0.2
        done
        echo "the gate never opened" >&2
        exit 1
      changed_when: false

    - name: Record that the step finished
      ansible.builtin.shell: date -u +%Y-%m-%dT%H:%M:%S.%NZ > {{ (chiffon_state_dir ~ '/gate/done') | quote }}
      changed_when: true
`;

const GATE_META = `---
short_description: Wait at the gate
description: Writes gate/started, waits until gate/open exists, then writes gate/done (tests).
argument_specs:
  main:
    short_description: Wait at the gate
    description:
      - Writes gate/started under chiffon_state_dir, waits until gate/open exists, then writes gate/done.
    examples: |
      ansible-playbook -i inventory/hosts.yml gate.yml -e '{"chiffon_state_dir": "/srv/chiffon"}'
    options:
      gate_ticks:
        type: int
        default: 150
        description: How many 0.2 s checks of gate/open before giving up (30 s).
    chiffon:
      service: gate
      aliases: [gate step]
      intents:
        - name: run_gate_step
          verbs: [run]
          objects: []
      after: []
      vars_from_inventory: {}
`;

const NOTE_PLAYBOOK = `---
- name: Write the note
  hosts: homelab
  gather_facts: false
  tasks:
    - name: Create the note directory
      ansible.builtin.file:
        path: "{{ chiffon_state_dir }}/note"
        state: directory
        mode: "0755"

    - name: Append to the note
      ansible.builtin.shell: echo ran >> {{ (chiffon_state_dir ~ '/note/runs.log') | quote }}
      changed_when: true
`;

const NOTE_META = `---
short_description: Write the note
description: Appends a line to note/runs.log (tests).
argument_specs:
  main:
    short_description: Write the note
    description:
      - Appends a line to note/runs.log under chiffon_state_dir.
    examples: |
      ansible-playbook -i inventory/hosts.yml note.yml -e '{"chiffon_state_dir": "/srv/chiffon"}'
    options: {}
    chiffon:
      service: note
      aliases: []
      intents:
        - name: write_note
          verbs: [write]
          objects: []
      after: []
      vars_from_inventory: {}
`;

const FLAKY_BROKEN_TASK = `    - name: Break on purpose
      ansible.builtin.fail:
        msg: the flaky step is broken
`;

const FLAKY_FIXED_TASK = `    - name: Record the fix
      ansible.builtin.copy:
        content: "fixed\\n"
        dest: "{{ chiffon_state_dir }}/flaky/fixed"
        mode: "0644"
`;

const flakyPlaybook = (lastTask: string) => `---
- name: Run the flaky step
  hosts: homelab
  gather_facts: false
  tasks:
    - name: Create the flaky directory
      ansible.builtin.file:
        path: "{{ chiffon_state_dir }}/flaky"
        state: directory
        mode: "0755"

${lastTask}`;

const FLAKY_META = `---
short_description: Run the flaky step
description: Fails until someone fixes it (tests).
argument_specs:
  main:
    short_description: Run the flaky step
    description:
      - Fails at "Break on purpose" until that task is replaced.
    examples: |
      ansible-playbook -i inventory/hosts.yml flaky.yml -e '{"chiffon_state_dir": "/srv/chiffon"}'
    options: {}
    chiffon:
      service: flaky
      aliases: [flaky step]
      intents:
        - name: run_flaky_step
          verbs: [run]
          objects: []
      after: [note.yml]
      vars_from_inventory: {}
`;

const GREET_PLAYBOOK = `---
- name: Write the greeting
  hosts: homelab
  gather_facts: false
  tasks:
    - name: Create the greeting directory
      ansible.builtin.file:
        path: "{{ chiffon_state_dir }}/greet"
        state: directory
        mode: "0755"

    - name: Write the greeting
      ansible.builtin.copy:
        content: "{{ greeting }}\\n"
        dest: "{{ chiffon_state_dir }}/greet/greeting.txt"
        mode: "0644"
`;

const GREET_META = `---
short_description: Write the greeting
description: Writes the required var greeting to greet/greeting.txt (tests).
argument_specs:
  main:
    short_description: Write the greeting
    description:
      - Writes greeting to greet/greeting.txt under chiffon_state_dir.
    examples: |
      ansible-playbook -i inventory/hosts.yml greet.yml -e '{"chiffon_state_dir": "/srv/chiffon", "greeting": "hi"}'
    options:
      greeting:
        type: str
        required: true
        description: What to write; nothing in the inventory or the defaults fills it.
    chiffon:
      service: greet
      aliases: [greeting]
      intents:
        - name: write_greeting
          verbs: [write]
          objects: []
      after: []
      vars_from_inventory: {}
`;

let services: E2EServices;

beforeAll(async () => {
  services = await startServices('lifecycle');
});

afterAll(async () => {
  await services?.stop();
});

let repos = 0;

/** A stack on a fresh copy of the playbook repository with the test playbooks. */
async function lifecycleStack(name: string, config: Partial<ChiffonConfig> = {}): Promise<Stack & { repo: string }> {
  const repo = playbookRepoCopy(path.join(services.scratch, `playbooks-${++repos}`), {
    'gate.yml': GATE_PLAYBOOK,
    'gate.meta.yml': GATE_META,
    'note.yml': NOTE_PLAYBOOK,
    'note.meta.yml': NOTE_META,
    'flaky.yml': flakyPlaybook(FLAKY_BROKEN_TASK),
    'flaky.meta.yml': FLAKY_META,
    'greet.yml': GREET_PLAYBOOK,
    'greet.meta.yml': GREET_META,
  });
  const stack = await startStack(services, name, { config: { playbookRepo: repo, ...config } });
  return Object.assign(stack, { repo });
}

async function ask(stack: Stack, message: string, playbooks: string[]): Promise<any> {
  const chat = await stack.call('POST', '/chat', { message });
  expect(chat.status, JSON.stringify(chat.body)).toBe(201);
  expect(chat.body.status).toBe('pending_approval');
  expect(chat.body.plan.steps.map((s: any) => s.playbook)).toEqual(playbooks);
  return chat.body;
}

/** Approves with the approver's token (bob), or the admin's (carol). */
async function approve(stack: Stack, request: any, as: 'approver' | 'admin' = 'approver') {
  const answer = await stack.call(
    'POST',
    '/approve',
    { request_id: request.request_id, approved: true, plan_hash: request.plan.hash },
    {},
    as,
  );
  expect(answer.status, JSON.stringify(answer.body)).toBe(200);
  expect(answer.body).toMatchObject({ dispatch_started: true, status: 'running' });
}

const stateFile = (stack: Stack, ...parts: string[]) => path.join(stack.config.stateDir, ...parts);

async function taskRow(taskId: string) {
  return services.database.prisma.task.findUnique({ where: { id: taskId } });
}

describe('cancel during a running playbook', () => {
  it('stops the playbook process tree, audits the step cancelled and the rest skipped', async () => {
    const stack = await lifecycleStack('cancel');
    try {
      const request = await ask(stack, 'Run the gate step, then set up postgres', ['gate.yml', 'postgres-setup.yml']);
      const id = request.request_id;
      await approve(stack, request);
      await expect.poll(() => fs.existsSync(stateFile(stack, 'gate', 'started')), { timeout: 60_000, interval: 100 }).toBe(true);
      // The playbook is running: ansible-playbook (its extra vars are in the work directory) and the
      // shell of the task waiting at the gate (its command line names the state directory).
      expect(processesMentioning(stack.config.workDir).length).toBeGreaterThan(0);
      await expect.poll(() => processesMentioning(stack.config.stateDir).length, { timeout: 30_000, interval: 100 }).toBeGreaterThan(0);
      expect((await stack.call('GET', `/requests/${id}`)).body.steps[0].status).toBe('running');

      const anonymous = await stack.call('POST', `/requests/${id}/cancel`, {}, {}, 'none');
      expect(anonymous.status).toBe(401);
      // The requester (alice) may cancel her own request.
      const cancel = await stack.call('POST', `/requests/${id}/cancel`, {}, {}, 'requester');
      expect(cancel.status, JSON.stringify(cancel.body)).toBe(202);
      expect(cancel.body.request_id).toBe(id);

      const cancelled = await stack.waitForStatus(id, 'cancelled', 60_000);
      expect(cancelled.steps.map((s: any) => [s.playbook, s.status])).toEqual([
        ['gate.yml', 'cancelled'],
        ['postgres-setup.yml', 'skipped'],
      ]);

      // No process of that run is left: opening the gate now makes nobody write gate/done.
      expect(processesMentioning(stack.config.stateDir)).toEqual([]);
      expect(processesMentioning(stack.config.workDir)).toEqual([]);
      fs.writeFileSync(stateFile(stack, 'gate', 'open'), '');
      await sleep(1_500);
      expect(fs.existsSync(stateFile(stack, 'gate', 'done'))).toBe(false);
      expect(fs.existsSync(stateFile(stack, 'postgres'))).toBe(false);
      expect(fs.readdirSync(stack.config.workDir).filter((e) => e.startsWith('ansible-run-'))).toEqual([]);

      // Audited in PostgreSQL and git.
      const [gate, postgres] = cancelled.steps;
      // Audited in PostgreSQL and git, naming who cancelled.
      expect(await taskRow(gate.task_id)).toMatchObject({
        status: 'cancelled',
        outcome: 'cancelled by alice while running; its process tree was stopped',
        auditCommit: gate.audit_commit,
      });
      expect(await taskRow(postgres.task_id)).toMatchObject({
        status: 'skipped',
        outcome: 'not run: request cancelled by alice',
        exitCode: null,
        auditCommit: postgres.audit_commit,
      });
      const messages = (await stack.auditLog()).map((c) => c.message);
      expect(messages).toContain(`audit: task ${gate.task_id} cancelled (gate.yml, request ${id})`);
      expect(messages).toContain(`audit: task ${postgres.task_id} skipped (postgres-setup.yml, request ${id})`);
      await requestRow(services, id, { status: 'cancelled' });
      // Cancelled through Chiffon, the workflow itself ends normally, listed as cancelled.
      const description = await services.env.client.workflow.getHandle(`request-${id}`).describe();
      expect(description.status.name).toBe('COMPLETED');
      expect(description.typedSearchAttributes.get(statusSearchAttribute)).toBe('cancelled');

      // It has ended: a second cancel is refused.
      expect((await stack.call('POST', `/requests/${id}/cancel`)).status).toBe(409);
    } finally {
      await stack.stop();
    }
  });
});

describe('cancel before approval', () => {
  it('cancels a waiting request through the API or from Temporal, running nothing', async () => {
    const stack = await lifecycleStack('cancel-waiting');
    try {
      const viaApi = await ask(stack, 'Write the note', ['note.yml']);
      const cancel = await stack.call('POST', `/requests/${viaApi.request_id}/cancel`);
      expect(cancel.status, JSON.stringify(cancel.body)).toBe(202);
      const cancelled = await stack.waitForStatus(viaApi.request_id, 'cancelled');
      expect(cancelled.steps.map((s: any) => s.status)).toEqual(['skipped']);
      expect(await taskRow(cancelled.steps[0].task_id)).toMatchObject({ status: 'skipped', outcome: 'not run: request cancelled by bob' });
      expect((await stack.call('POST', '/approve', { request_id: viaApi.request_id, approved: true })).status).toBe(409);

      // Cancelled from the Temporal UI or CLI (a workflow cancellation): the same clean ending,
      // and the workflow shows as Canceled in Temporal.
      const fromTemporal = await ask(stack, 'Write the note', ['note.yml']);
      const handle = services.env.client.workflow.getHandle(`request-${fromTemporal.request_id}`);
      await handle.cancel();
      const ended = await stack.waitForStatus(fromTemporal.request_id, 'cancelled');
      expect(ended.steps.map((s: any) => s.status)).toEqual(['skipped']);
      expect(await taskRow(ended.steps[0].task_id)).toMatchObject({ status: 'skipped', outcome: 'not run: request cancelled' });
      expect((await handle.describe()).status.name).toBe('CANCELLED');
      await requestRow(services, viaApi.request_id, { status: 'cancelled' });
      await requestRow(services, fromTemporal.request_id, { status: 'cancelled' });
      expect(fs.existsSync(stateFile(stack, 'note'))).toBe(false);
    } finally {
      await stack.stop();
    }
  });
});

describe('retry from the failed step', () => {
  it('re-runs only the failed step, as <task id>.r2, after a new approval of the fixed playbook', async () => {
    const stack = await lifecycleStack('retry');
    try {
      const request = await ask(stack, 'Write the note and run the flaky step', ['note.yml', 'flaky.yml']);
      const id = request.request_id;
      const [noteTaskId, flakyTaskId] = request.plan.steps.map((s: any) => s.task_id);
      await approve(stack, request);

      const failed = await stack.waitForStatus(id, 'failed');
      expect(failed.steps.map((s: any) => [s.task_id, s.status, s.attempt])).toEqual([
        [noteTaskId, 'completed', 1],
        [flakyTaskId, 'failed', 1],
      ]);
      const failedRow = await taskRow(flakyTaskId);
      expect(failedRow).toMatchObject({ status: 'failed', attempt: 1 });
      expect(failedRow?.outcome).toContain('failed at task "Break on purpose" on localhost: the flaky step is broken');

      // Someone fixes the playbook and an approver asks for a retry (a requester may not).
      fs.writeFileSync(path.join(stack.repo, 'flaky.yml'), flakyPlaybook(FLAKY_FIXED_TASK));
      expect((await stack.call('POST', `/requests/${id}/retry`, {}, {}, 'requester')).status).toBe(403);
      const retry = await stack.call('POST', `/requests/${id}/retry`);
      expect(retry.status, JSON.stringify(retry.body)).toBe(202);

      // The playbook changed, so the plan hash did: the retry waits for a new approval.
      // (While the plan is read again the request still says failed, so this waits past that.)
      const pending = await stack.waitForRequest(id, 'a new approval', (body) => body.status === 'pending_approval');
      expect(pending.plan.plan_id).toBe(request.plan.plan_id);
      expect(pending.plan.hash).not.toBe(request.plan.hash);
      expect(pending.decision).toBeNull();
      expect(pending.previous_decisions).toEqual([
        expect.objectContaining({ approver: 'bob', approved: true, plan_hash: request.plan.hash }),
      ]);
      expect(pending.operator_actions).toEqual([expect.objectContaining({ action: 'retry', by: 'bob' })]);
      expect(pending.steps.map((s: any) => [s.task_id, s.status, s.attempt])).toEqual([
        [noteTaskId, 'completed', 1],
        [`${flakyTaskId}.r2`, 'pending', 2],
      ]);
      // An approval of the old plan is refused; nothing runs before the new one.
      const stale = await stack.call('POST', '/approve', { request_id: id, approved: true, plan_hash: request.plan.hash });
      expect(stale.status).toBe(409);
      expect(fs.existsSync(stateFile(stack, 'flaky', 'fixed'))).toBe(false);
      await approve(stack, pending, 'admin');

      const done = await stack.waitForStatus(id, 'completed');
      expect(done.steps.map((s: any) => [s.task_id, s.status, s.attempt, s.exit_code])).toEqual([
        [noteTaskId, 'completed', 1, 0],
        [`${flakyTaskId}.r2`, 'completed', 2, 0],
      ]);
      expect(done.decision).toMatchObject({ approver: 'carol', plan_hash: pending.plan.hash });
      expect(fs.readFileSync(stateFile(stack, 'flaky', 'fixed'), 'utf8')).toBe('fixed\n');
      // The step before the failed one did not run again.
      expect(fs.readFileSync(stateFile(stack, 'note', 'runs.log'), 'utf8')).toBe('ran\n');

      // Both runs of the step are on record: the failed one is kept, the retry is its own task.
      expect(await taskRow(flakyTaskId)).toMatchObject({ status: 'failed', attempt: 1, auditCommit: failedRow?.auditCommit });
      expect(await taskRow(`${flakyTaskId}.r2`)).toMatchObject({ status: 'completed', attempt: 2, stepIndex: 1, exitCode: 0 });
      const oldAudit = await stack.call('GET', `/audit/task/${flakyTaskId}`);
      expect(oldAudit.body.git.content).toMatchObject({ task_id: flakyTaskId, status: 'failed', attempt: 1 });
      const newAudit = await stack.call('GET', `/audit/task/${flakyTaskId}.r2`);
      expect(newAudit.body.git.content).toMatchObject({ task_id: `${flakyTaskId}.r2`, status: 'completed', attempt: 2, step_index: 1 });
      expect(newAudit.body.git.content.execution_result.tasks).toContainEqual({
        name: 'Record the fix',
        host: 'localhost',
        status: 'changed',
      });
      const messages = (await stack.auditLog()).map((c) => c.message);
      expect(messages).toEqual([
        `audit: task ${flakyTaskId}.r2 completed (flaky.yml, request ${id})`,
        `audit: task ${flakyTaskId} failed (flaky.yml, request ${id})`,
        `audit: task ${noteTaskId} completed (note.yml, request ${id})`,
      ]);
    } finally {
      await stack.stop();
    }
  });
});

describe('stale plan', () => {
  it('does not run a step whose playbook changed after the approval', async () => {
    const stack = await lifecycleStack('stale');
    try {
      const request = await ask(stack, 'Run the gate step, then set up postgres', ['gate.yml', 'postgres-setup.yml']);
      const id = request.request_id;
      await approve(stack, request);
      // While step 1 runs, someone edits step 2's playbook.
      await expect.poll(() => fs.existsSync(stateFile(stack, 'gate', 'started')), { timeout: 60_000, interval: 100 }).toBe(true);
      fs.appendFileSync(path.join(stack.repo, 'postgres-setup.yml'), '# edited after the approval\n');
      fs.writeFileSync(stateFile(stack, 'gate', 'open'), '');

      const stale = await stack.waitForStatus(id, 'stale_plan');
      expect(stale.error.message).toContain('postgres-setup.yml changed');
      expect(stale.error.message).toMatch(/^step 2 \(postgres-setup\.yml\) was not run/);
      const [gate, postgres] = stale.steps;
      expect(gate).toMatchObject({ status: 'completed', exit_code: 0 });
      expect(postgres).toMatchObject({ status: 'skipped', exit_code: null, finished_at: null });
      expect(await taskRow(postgres.task_id)).toMatchObject({ status: 'skipped', exitCode: null, startedAt: null, finishedAt: null });
      expect(fs.existsSync(stateFile(stack, 'gate', 'done'))).toBe(true);
      expect(fs.existsSync(stateFile(stack, 'postgres'))).toBe(false);

      const audit = await stack.call('GET', `/audit/task/${postgres.task_id}`);
      expect(audit.body.task).toMatchObject({ status: 'skipped', exit_code: null });
      expect(audit.body.task.outcome).toContain('postgres-setup.yml changed since the plan was approved');
      expect(audit.body.git.content.execution_result).toBeNull();
      await requestRow(services, id, { status: 'stale_plan' });
      expect((await stack.call('POST', `/requests/${id}/cancel`)).status).toBe(409);
    } finally {
      await stack.stop();
    }
  });
});

describe('refused actions', () => {
  it('answers 409 for a wrong plan hash, 401 without a token, 403 to a requester, 409 for actions that do not fit the status', async () => {
    const stack = await lifecycleStack('refusals');
    try {
      const request = await ask(stack, 'Write the note', ['note.yml']);
      const id = request.request_id;

      const noToken = await stack.call('POST', '/approve', { request_id: id, approved: true }, {}, 'none');
      expect(noToken.status).toBe(401);
      expect(noToken.body.error.code).toBe('unauthorized');
      const requester = await stack.call('POST', '/approve', { request_id: id, approved: true }, {}, 'requester');
      expect(requester.status).toBe(403);
      expect(requester.body.error.code).toBe('forbidden');

      const wrongHash = await stack.call('POST', '/approve', { request_id: id, approved: true, plan_hash: 'f'.repeat(64) });
      expect(wrongHash.status).toBe(409);
      expect(wrongHash.body.error.message).toContain(request.plan.hash);
      expect((await stack.call('POST', '/approve', { request_id: id, approved: true, plan_hash: 'not-a-hash' })).status).toBe(400);

      // Neither resume nor retry fits a request waiting for approval.
      expect((await stack.call('POST', `/requests/${id}/resume`)).status).toBe(409);
      expect((await stack.call('POST', `/requests/${id}/retry`)).status).toBe(409);

      // None of that decided anything.
      const waiting = (await stack.call('GET', `/requests/${id}`)).body;
      expect(waiting).toMatchObject({ status: 'pending_approval', decision: null });
      await requestRow(services, id, { approver: null });
      expect(fs.existsSync(stateFile(stack, 'note'))).toBe(false);

      const approved = await stack.call('POST', '/approve', { request_id: id, approved: true, plan_hash: request.plan.hash }, {}, 'admin');
      expect(approved.status).toBe(200);
      const done = await stack.waitForStatus(id, 'completed');
      expect(done.decision).toMatchObject({ approver: 'carol', plan_hash: request.plan.hash });

      const cancel = await stack.call('POST', `/requests/${id}/cancel`, {}, {}, 'admin');
      expect(cancel.status).toBe(409);
      expect(cancel.body.error).toMatchObject({ code: 'conflict', message: expect.stringContaining('completed') });
      const resume = await stack.call('POST', `/requests/${id}/resume`, {}, {}, 'admin');
      expect(resume.status).toBe(409);
      expect(resume.body.error).toMatchObject({ code: 'conflict', message: expect.stringContaining('completed') });
      expect((await stack.call('POST', `/requests/${id}/retry`, {}, {}, 'admin')).status).toBe(409);
      expect((await stack.call('POST', `/requests/doesnotexist/cancel`, {}, {}, 'admin')).status).toBe(404);
      expect(fs.readFileSync(stateFile(stack, 'note', 'runs.log'), 'utf8')).toBe('ran\n');
    } finally {
      await stack.stop();
    }
  });
});

describe('approval timeout', () => {
  it('expires a plan nobody decided on, runs nothing and audits the steps skipped', async () => {
    const stack = await lifecycleStack('expiry', { approvalTimeout: '3 seconds' });
    try {
      const askedAt = Date.now();
      const request = await ask(stack, 'Write the note', ['note.yml']);
      const id = request.request_id;
      const expired = await stack.waitForStatus(id, 'expired', 30_000);
      expect(Date.now() - askedAt).toBeGreaterThanOrEqual(3_000);
      expect(expired.decision).toBeNull();
      expect(expired.steps.map((s: any) => s.status)).toEqual(['skipped']);
      expect(fs.existsSync(stateFile(stack, 'note'))).toBe(false);

      const taskId = expired.steps[0].task_id;
      expect(await taskRow(taskId)).toMatchObject({ status: 'skipped', outcome: 'not run: no decision within 3 seconds', exitCode: null });
      await requestRow(services, id, { status: 'expired', approver: null });
      expect((await stack.auditLog()).map((c) => c.message)).toEqual([`audit: task ${taskId} skipped (note.yml, request ${id})`]);

      const late = await stack.call('POST', '/approve', { request_id: id, approved: true });
      expect(late.status).toBe(409);
      expect(fs.existsSync(stateFile(stack, 'note'))).toBe(false);
    } finally {
      await stack.stop();
    }
  });
});

describe('needs input', () => {
  it('asks a person for a required variable nothing could fill, then plans and runs with it', async () => {
    const stack = await lifecycleStack('needs-input');
    try {
      const chat = await stack.call('POST', '/chat', { message: 'Write the greeting' });
      expect(chat.status, JSON.stringify(chat.body)).toBe(201);
      expect(chat.body).toMatchObject({
        status: 'needs_input',
        plan: null,
        missing_inputs: [{ playbook: 'greet.yml', vars: ['greeting'] }],
      });
      const id = chat.body.request_id;

      // Values come from the person who asked (or an approver or admin), and only for what is missing.
      const dave = await createApiToken(services.database.prisma, { name: 'dave', role: 'requester' });
      const notTheirs = await stack.call(
        'POST',
        `/requests/${id}/input`,
        { values: { 'greet.yml': { greeting: 'hello' } } },
        { authorization: `Bearer ${dave.token}` },
      );
      expect(notTheirs.status).toBe(403);
      expect((await stack.call('POST', `/requests/${id}/input`, { values: { 'greet.yml': { other: 1 } } })).status).toBe(409);

      const input = await stack.call('POST', `/requests/${id}/input`, { values: { 'greet.yml': { greeting: 'hello from chiffon' } } });
      expect(input.status, JSON.stringify(input.body)).toBe(202);
      const planned = await stack.waitForStatus(id, 'pending_approval');
      expect(planned.plan.steps[0]).toMatchObject({
        playbook: 'greet.yml',
        vars: { greeting: 'hello from chiffon' },
        var_sources: { greeting: 'input' },
      });
      expect(planned.missing_inputs).toBeNull();
      expect(planned.operator_actions).toEqual([expect.objectContaining({ action: 'input', by: 'alice' })]);

      await approve(stack, planned);
      await stack.waitForStatus(id, 'completed');
      expect(fs.readFileSync(stateFile(stack, 'greet', 'greeting.txt'), 'utf8')).toBe('hello from chiffon\n');
    } finally {
      await stack.stop();
    }
  });
});
