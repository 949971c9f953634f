// Playbooks on hosts reached over SSH, on the real stack (Temporal dev server, PostgreSQL, real
// workers, ansible-playbook, the git audit). The "hosts" are sshd processes of this machine, each on
// a loopback address and port of its own (test/support/ssh-hosts.ts): key-only auth with a key made
// for the run, a non-root login user with passwordless sudo, host keys checked against a known_hosts
// file as the repository's ansible.cfg says (host_key_checking = True). Nothing in Chiffon knows
// about SSH: the inventory (ansible_host, ansible_port, ansible_user, ansible_ssh_private_key_file)
// and the repository's ansible.cfg say it all, as they would on a real homelab.
//
// The repository is a copy of the sample one with an SSH inventory:
//   homelab: ssh-1          pair: ssh-1, ssh-2          mixed: ssh-2, ssh-3 (chiffon_agent: edge)
// and three playbooks without Chiffon metadata (their services are inferred from the file names):
// - pair-check.yml  (hosts pair):  records, per host, who logged in, where, and which agent ran it;
// - route-check.yml (hosts mixed): the same, for the mixed group;
// - rootfile.yml    (hosts homelab): `id -u` through sudo (become) must be 0, then a root-owned file.
// The playbooks write under chiffon_state_dir, which is on the "remote" side: here the same
// filesystem, written by the login user, so the stack's state folder is one every user may write.
//
// Without sshd and sudo (scripts/setup.sh --with-test-hosts installs them where it can) the tests
// are skipped with a warning, and fail under CI=true.
// Each describe runs alone by name: npx vitest run test/e2e/ssh.test.ts -t "unreachable"
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { playbookRepoCopy, requestRow, startAgent, startServices, startStack, type E2EServices, type Stack } from '../support/e2e-stack.js';
import {
  describeWithSshHosts,
  ensurePasswordSudoUser,
  SSH_LOGIN_USER,
  SSH_PASSWORD_SUDO_USER,
  startSshHosts,
  uidOf,
  type SshHost,
  type SshHosts,
} from '../support/ssh-hosts.js';
import { openPayloadsIn } from '../support/codec.js';

/** Who ran a host's share: the login user (`whoami` there), the address ansible connected to, and the agent. */
const checkPlaybook = (play: string, hosts: string, dir: string) => `---
- name: ${play}
  hosts: ${hosts}
  gather_facts: false
  tasks:
    - name: Ask who the login user is
      ansible.builtin.command: whoami
      register: login

    - name: Create the check-in directory
      ansible.builtin.file:
        path: "{{ chiffon_state_dir }}/${dir}"
        state: directory
        mode: "0777"

    - name: Record the check-in
      ansible.builtin.copy:
        dest: "{{ chiffon_state_dir }}/${dir}/{{ inventory_hostname }}.txt"
        content: "{{ login.stdout }} {{ ansible_host }} {{ chiffon_agent }}\\n"
        mode: "0644"
`;

const ROOTFILE_PLAYBOOK = `---
- name: Write a root-owned file through sudo
  hosts: homelab
  gather_facts: false
  tasks:
    - name: Read the uid sudo gives
      ansible.builtin.command: id -u
      become: true
      register: become_uid
      changed_when: false

    - name: Check that sudo made us root
      ansible.builtin.assert:
        that:
          - become_uid.stdout == '0'
        quiet: true

    - name: Create the rootfile directory
      ansible.builtin.file:
        path: "{{ chiffon_state_dir }}/rootfile"
        state: directory
        mode: "0755"
      become: true

    - name: Write the root-owned file
      ansible.builtin.copy:
        dest: "{{ chiffon_state_dir }}/rootfile/{{ inventory_hostname }}.txt"
        content: "uid {{ become_uid.stdout }} through {{ ansible_user }}\\n"
        mode: "0644"
      become: true
`;

const PAIR_REQUEST = 'Run the pair check';
const ROUTE_REQUEST = 'Run the route check';
const ROOTFILE_REQUEST = 'Run rootfile on homelab';
const KUMA_REQUEST = 'Deploy Kuma Uptime to homelab';

let services: E2EServices;
let ssh: SshHosts;
let stack: Stack;
let edge: { stop(): Promise<void> } | undefined;
let host1: SshHost;
let host2: SshHost;
let host3: SshHost;

/** A copy of the sample repository with the SSH inventory, the repository's ansible.cfg and the test playbooks. */
function sshRepo(name: string, inventory: string): string {
  return playbookRepoCopy(path.join(services.scratch, `repo-${name}`), {
    'ansible.cfg': ssh.ansibleCfg(),
    'inventory/hosts.yml': inventory,
    'pair-check.yml': checkPlaybook('Check in from both hosts of the pair', 'pair', 'pair'),
    'route-check.yml': checkPlaybook('Record which agent ran each host', 'mixed', 'route'),
    'rootfile.yml': ROOTFILE_PLAYBOOK,
  });
}

async function ask(on: Stack, message: string) {
  const asked = await on.call('POST', '/chat', { message });
  expect(asked.status, JSON.stringify(asked.body)).toBe(201);
  expect(asked.body.status).toBe('pending_approval');
  return asked.body;
}

async function approve(on: Stack, request: any) {
  const approved = await on.call('POST', '/approve', { request_id: request.request_id, approved: true, plan_hash: request.plan.hash });
  expect(approved.status, JSON.stringify(approved.body)).toBe(200);
}

/** The step's audit: its commit is in the audit repository, and the API serves the committed record. */
async function auditOf(on: Stack, requestId: string, step: any, status: string) {
  expect(step.audit_commit).toMatch(/^[0-9a-f]{40}$/);
  const commit = (await on.auditLog()).find((c) => c.oid === step.audit_commit);
  expect(commit?.message).toBe(`audit: task ${step.task_id} ${status} (${step.playbook}, request ${requestId})`);
  const trail = await on.call('GET', `/audit/task/${step.task_id}`);
  expect(trail.status).toBe(200);
  expect(trail.body.git).toMatchObject({ commit: step.audit_commit, path: `.audit/tasks/${step.task_id}.json` });
  return trail.body;
}

function stateFile(on: Stack, ...parts: string[]): string {
  return path.join(on.config.stateDir, ...parts);
}

/** How many key logins of `user` the host's sshd accepted so far (its log says "Accepted publickey for <user>"). */
function acceptedLogins(host: SshHost, user = SSH_LOGIN_USER): number {
  return fs
    .readFileSync(host.logFile, 'utf8')
    .split('\n')
    .filter((line) => line.includes(`Accepted publickey for ${user} `)).length;
}

/** Names and statuses of the workflow's activities, in the order they were scheduled. */
async function activityRuns(requestId: string) {
  const events = (await services.env.client.workflow.getHandle(`request-${requestId}`).fetchHistory()).events ?? [];
  const completedIds = new Set(events.map((e) => String(e.activityTaskCompletedEventAttributes?.scheduledEventId ?? '')));
  return events
    .filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name)
    .map((e) => ({ name: e.activityTaskScheduledEventAttributes!.activityType!.name!, completed: completedIds.has(String(e.eventId)) }));
}

describeWithSshHosts('playbooks on hosts reached over SSH', () => {
  beforeAll(async () => {
    [services, ssh] = await Promise.all([startServices('ssh'), startSshHosts(3)]);
    [host1, host2, host3] = ssh.hosts as [SshHost, SshHost, SshHost];
    const inventory = ssh.inventory({
      homelab: [host1],
      pair: [host1, host2],
      mixed: [host2, { host: host3, vars: { chiffon_agent: 'edge' } }],
    });
    // The controller is the stack's own worker (agent `controller`); `edge` is a host worker beside it.
    stack = await startStack(services, 'ssh', {
      config: { playbookRepo: sshRepo('main', inventory), workerHost: 'controller', stateDir: ssh.sharedStateDir('main') },
    });
    edge = await startAgent(services, stack.config, 'edge');
  });

  afterAll(async () => {
    await edge?.stop();
    await stack?.stop();
    await ssh?.stop();
    await services?.stop();
  });

  it('checks, then deploys Kuma to a homelab host that is not localhost, as the SSH login user', async () => {
    const logins = acceptedLogins(host1);
    const request = await ask(stack, KUMA_REQUEST);
    expect(request.plan.steps.map((s: any) => [s.playbook, s.agent])).toEqual([['kuma-deploy.yml', 'controller']]);

    // First a check run over SSH: what would change on ssh-1, and nothing changes there.
    expect((await stack.call('POST', `/requests/${request.request_id}/preview`, { check: true })).status).toBe(202);
    const checked = await stack.waitForRequest(request.request_id, 'the check run', (r) => r.check_run?.status === 'completed');
    expect(checked.check_run).toMatchObject({ hosts_changed: ['ssh-1'], nothing_would_change: false });
    expect(checked.check_run.steps[0].tasks).toContainEqual(
      expect.objectContaining({ task: 'Write the Uptime Kuma compose file', host: 'ssh-1', status: 'changed' }),
    );
    expect(acceptedLogins(host1)).toBeGreaterThan(logins);
    expect(fs.existsSync(stateFile(stack, 'kuma'))).toBe(false);

    await approve(stack, request);
    const done = await stack.waitForStatus(request.request_id, 'completed');
    const [step] = done.steps;
    expect(step).toMatchObject({ playbook: 'kuma-deploy.yml', status: 'completed', exit_code: 0, agent: 'controller' });

    // It went through host 1's sshd, as the login user, and only there.
    expect(acceptedLogins(host1)).toBeGreaterThan(logins);
    const audit = await auditOf(stack, request.request_id, step, 'completed');
    const result = audit.git.content.execution_result;
    expect(Object.keys(result.stats)).toEqual(['ssh-1']);
    expect(result.stats['ssh-1']).toMatchObject({ failures: 0, unreachable: 0 });
    expect(result.tasks).toContainEqual({ name: 'Write the Uptime Kuma compose file', host: 'ssh-1', status: 'changed' });
    expect(audit.git.content.agent).toBe('controller');

    // The files are the login user's: written on the "remote" side, not by the worker (root).
    const uid = uidOf(SSH_LOGIN_USER);
    for (const file of ['kuma', 'kuma/data', 'kuma/docker-compose.yml']) expect(fs.statSync(stateFile(stack, file)).uid, file).toBe(uid);
    expect(fs.readFileSync(stateFile(stack, 'kuma', 'docker-compose.yml'), 'utf8')).toContain('louislam/uptime-kuma:1');
  });

  it('runs a play over two SSH hosts as one step', async () => {
    const request = await ask(stack, PAIR_REQUEST);
    // Both hosts are the controller's: one ansible-playbook run over the play's hosts, no --limit.
    expect(request.plan.steps).toHaveLength(1);
    expect(request.plan.steps[0]).toMatchObject({ playbook: 'pair-check.yml', agent: 'controller' });
    expect(request.plan.steps[0].host ?? null).toBeNull();
    await approve(stack, request);
    const done = await stack.waitForStatus(request.request_id, 'completed');
    expect(done.steps.map((s: any) => [s.status, s.exit_code, s.agent])).toEqual([['completed', 0, 'controller']]);

    const result = (await auditOf(stack, request.request_id, done.steps[0], 'completed')).git.content.execution_result;
    expect(Object.keys(result.stats).sort()).toEqual(['ssh-1', 'ssh-2']);
    expect(
      result.tasks
        .filter((t: any) => t.name === 'Record the check-in')
        .map((t: any) => t.host)
        .sort(),
    ).toEqual(['ssh-1', 'ssh-2']);
    expect(fs.readFileSync(stateFile(stack, 'pair', 'ssh-1.txt'), 'utf8')).toBe(`${SSH_LOGIN_USER} ${host1.address} controller\n`);
    expect(fs.readFileSync(stateFile(stack, 'pair', 'ssh-2.txt'), 'utf8')).toBe(`${SSH_LOGIN_USER} ${host2.address} controller\n`);
    expect(fs.statSync(stateFile(stack, 'pair', 'ssh-2.txt')).uid).toBe(uidOf(SSH_LOGIN_USER));
  });

  it('fails the step with exit code 4 when a host is unreachable (sshd stopped), analyzed and audited; a retry once it is back completes', async () => {
    await host2.stop();
    let id: string;
    try {
      const request = await ask(stack, PAIR_REQUEST);
      id = request.request_id;
      await approve(stack, request);
      const failed = await stack.waitForStatus(id, 'failed');
      const [step] = failed.steps;
      expect(step).toMatchObject({ playbook: 'pair-check.yml', status: 'failed', exit_code: 4 });

      // Ansible's own words, in the run's record and in the audit.
      const unreachable = expect.stringMatching(
        new RegExp(`Data could not be sent to remote host "${host2.address.replaceAll('.', '\\.')}".*Connection refused`, 's'),
      );
      const audit = await auditOf(stack, id, step, 'failed');
      expect(audit.task).toMatchObject({ status: 'failed', exit_code: 4 });
      expect(audit.task.outcome).toMatch(
        new RegExp(`^failed at task "Ask who the login user is" on ssh-2: .*Data could not be sent to remote host`, 's'),
      );
      const result = audit.git.content.execution_result;
      expect(result.exit_code).toBe(4);
      expect(result.failed_tasks).toEqual([{ task: 'Ask who the login user is', host: 'ssh-2', message: unreachable }]);
      expect(result.tasks).toContainEqual({ name: 'Ask who the login user is', host: 'ssh-2', status: 'unreachable' });
      expect(result.stats['ssh-2']).toMatchObject({ unreachable: 1 });
      // The other host of the play went on.
      expect(result.stats['ssh-1']).toMatchObject({ unreachable: 0, failures: 0 });
      expect(result.tasks).toContainEqual({ name: 'Record the check-in', host: 'ssh-1', status: expect.stringMatching(/^(ok|changed)$/) });
      const row = await requestRow(services, id, { status: 'failed' });
      expect(row.status).toBe('failed');
      const task = await services.database.prisma.task.findUniqueOrThrow({ where: { id: step.task_id } });
      expect(task).toMatchObject({ status: 'failed', exitCode: 4, auditCommit: step.audit_commit });
      // The live events said so as it happened.
      const events = await stack.call('GET', `/requests/${id}/events?format=json`);
      expect(events.body.events).toContainEqual(
        expect.objectContaining({
          kind: 'task_result',
          payload: expect.objectContaining({ host: 'ssh-2', status: 'unreachable', message: unreachable }),
        }),
      );

      // The failure was analyzed (ansible-lint over the playbook) before it was audited: its findings are suggestions.
      const runs = await activityRuns(id);
      const names = runs.map((r) => r.name);
      expect(names.indexOf('analyzeFailure')).toBeGreaterThan(names.indexOf('runStep'));
      expect(names.lastIndexOf('auditTask')).toBeGreaterThan(names.indexOf('analyzeFailure'));
      expect(runs.find((r) => r.name === 'analyzeFailure')?.completed).toBe(true);
      expect(audit.git.content.analysis.lint_findings).toEqual(
        expect.arrayContaining([expect.objectContaining({ rule: 'no-changed-when', path: 'pair-check.yml' })]),
      );
      expect(audit.task.suggestions).toEqual(expect.arrayContaining([expect.objectContaining({ rule: 'no-changed-when' })]));
    } finally {
      await host2.start();
    }

    // The host is back; nothing in the repository changed, so the retry runs at once and completes.
    const retry = await stack.call('POST', `/requests/${id}/retry`);
    expect(retry.status, JSON.stringify(retry.body)).toBe(202);
    const done = await stack.waitForStatus(id, 'completed');
    expect(done.steps.map((s: any) => [s.status, s.exit_code, s.attempt])).toEqual([['completed', 0, 2]]);
  });

  it('fails the step when a host key changed (host_key_checking = True, known_hosts holds the old key)', async () => {
    const knownBefore = fs.readFileSync(ssh.knownHostsFile, 'utf8');
    const oldKey = host2.publicHostKey();
    await host2.regenerateHostKey();
    try {
      expect(host2.publicHostKey()).not.toBe(oldKey);
      expect(fs.readFileSync(ssh.knownHostsFile, 'utf8')).toBe(knownBefore);
      const logins = acceptedLogins(host2);
      const request = await ask(stack, PAIR_REQUEST);
      await approve(stack, request);
      const failed = await stack.waitForStatus(request.request_id, 'failed');
      const [step] = failed.steps;
      expect(step).toMatchObject({ status: 'failed', exit_code: 4 });
      const result = (await auditOf(stack, request.request_id, step, 'failed')).git.content.execution_result;
      expect(result.failed_tasks).toEqual([
        {
          task: 'Ask who the login user is',
          host: 'ssh-2',
          message: expect.stringMatching(/REMOTE HOST IDENTIFICATION HAS CHANGED[\s\S]*Host key verification failed/),
        },
      ]);
      expect(result.stats['ssh-2']).toMatchObject({ unreachable: 1 });
      expect(result.stats['ssh-1']).toMatchObject({ unreachable: 0, failures: 0 });
      // ssh refused before logging in: the changed host saw no login.
      expect(acceptedLogins(host2)).toBe(logins);
    } finally {
      // Trusted again for the tests after this one.
      ssh.trustHostKeys();
    }
  });

  it("runs a host without chiffon_agent from the controller, and a host with chiffon_agent on that agent's worker", async () => {
    const request = await ask(stack, ROUTE_REQUEST);
    expect(request.plan.steps.map((s: any) => [s.playbook, s.host, s.agent])).toEqual([
      ['route-check.yml', 'ssh-2', 'controller'],
      ['route-check.yml', 'ssh-3', 'edge'],
    ]);
    await approve(stack, request);
    const done = await stack.waitForStatus(request.request_id, 'completed');
    expect(done.steps.map((s: any) => [s.host, s.status, s.agent])).toEqual([
      ['ssh-2', 'completed', 'controller'],
      ['ssh-3', 'completed', 'edge'],
    ]);
    // Each worker passes its own agent name as chiffon_agent: the playbook wrote who ran each host.
    expect(fs.readFileSync(stateFile(stack, 'route', 'ssh-2.txt'), 'utf8')).toBe(`${SSH_LOGIN_USER} ${host2.address} controller\n`);
    expect(fs.readFileSync(stateFile(stack, 'route', 'ssh-3.txt'), 'utf8')).toBe(`${SSH_LOGIN_USER} ${host3.address} edge\n`);
    for (const [i, [host, agent]] of [
      ['ssh-2', 'controller'],
      ['ssh-3', 'edge'],
    ].entries()) {
      const audit = (await auditOf(stack, request.request_id, done.steps[i], 'completed')).git.content;
      expect([audit.host, audit.agent]).toEqual([host, agent]);
      expect(Object.keys(audit.execution_result.stats)).toEqual([host]);
    }
    const events = await stack.call('GET', `/requests/${request.request_id}/events?format=json`);
    const running = events.body.events
      .filter((e: any) => e.kind === 'step_status' && e.payload.status === 'running')
      .map((e: any) => [e.payload.host, e.payload.agent]);
    expect(running).toEqual([
      ['ssh-2', 'controller'],
      ['ssh-3', 'edge'],
    ]);
  });

  it('runs a become task through passwordless sudo', async () => {
    const request = await ask(stack, ROOTFILE_REQUEST);
    expect(request.plan.steps.map((s: any) => [s.playbook, s.agent, s.become])).toEqual([['rootfile.yml', 'controller', true]]);
    await approve(stack, request);
    const done = await stack.waitForStatus(request.request_id, 'completed');
    expect(done.steps[0]).toMatchObject({ status: 'completed', exit_code: 0 });
    const file = stateFile(stack, 'rootfile', 'ssh-1.txt');
    expect(fs.readFileSync(file, 'utf8')).toBe(`uid 0 through ${SSH_LOGIN_USER}\n`);
    expect(fs.statSync(file).uid).toBe(0);
    const result = (await auditOf(stack, request.request_id, done.steps[0], 'completed')).git.content.execution_result;
    expect(result.tasks).toContainEqual({ name: 'Read the uid sudo gives', host: 'ssh-1', status: 'ok' });
  });

  it('runs a become task with the become password from CHIFFON_BECOME_PASSWORD, which appears nowhere', async () => {
    const password = ensurePasswordSudoUser();
    // This login user's sudo really wants a password.
    expect(() => execFileSync('runuser', ['-u', SSH_PASSWORD_SUDO_USER, '--', 'sudo', '-n', 'true'], { stdio: 'pipe' })).toThrow();

    const inventory = ssh.inventory({ homelab: [{ host: host1, vars: { ansible_user: SSH_PASSWORD_SUDO_USER } }] });
    const secretStack = await startStack(services, 'ssh-become', {
      config: {
        playbookRepo: sshRepo('become', inventory),
        workerHost: 'controller',
        stateDir: ssh.sharedStateDir('become'),
        becomePassword: password,
      },
    });
    try {
      const request = await ask(secretStack, ROOTFILE_REQUEST);
      expect(request.plan.steps.map((s: any) => [s.playbook, s.become])).toEqual([['rootfile.yml', true]]);
      await approve(secretStack, request);
      const done = await secretStack.waitForStatus(request.request_id, 'completed');
      const [step] = done.steps;
      expect(step).toMatchObject({ status: 'completed', exit_code: 0 });
      expect(fs.readFileSync(stateFile(secretStack, 'rootfile', 'ssh-1.txt'), 'utf8')).toBe(`uid 0 through ${SSH_PASSWORD_SUDO_USER}\n`);
      expect(acceptedLogins(host1, SSH_PASSWORD_SUDO_USER)).toBeGreaterThan(0);

      // The password is nowhere Chiffon writes: the request's events, its task rows, the audit repository, the workflow history.
      const id = request.request_id;
      const events = await services.database.prisma.requestEvent.findMany({ where: { requestId: id } });
      expect(events.length).toBeGreaterThan(0);
      expect(asText(events)).not.toContain(password);
      const tasks = await services.database.prisma.task.findMany({ where: { requestId: id } });
      expect(tasks).toHaveLength(1);
      expect(asText(tasks)).not.toContain(password);
      const requestRowText = asText(await services.database.prisma.request.findUnique({ where: { id } }));
      expect(requestRowText).not.toContain(password);
      const auditFile = path.join(secretStack.config.auditRepo, '.audit', 'tasks', `${step.task_id}.json`);
      expect(fs.readFileSync(auditFile, 'utf8')).not.toContain(password);
      for (const file of fs.readdirSync(secretStack.config.auditRepo, { recursive: true, withFileTypes: true }) as fs.Dirent[]) {
        if (file.isFile() && !file.parentPath.includes(`${path.sep}.git`))
          expect(fs.readFileSync(path.join(file.parentPath, file.name), 'utf8')).not.toContain(password);
      }
      const committed = await secretStack.call('GET', `/audit/task/${step.task_id}`);
      expect(JSON.stringify(committed.body)).not.toContain(password);
      const history = await openPayloadsIn(await services.env.client.workflow.getHandle(`request-${id}`).fetchHistory());
      const historyText = historyStrings(history).join('\n');
      expect(historyText).toContain('rootfile.yml');
      expect(historyText).not.toContain(password);
    } finally {
      await secretStack.stop();
    }
  });
});

/** Rows as JSON (ids and sequence numbers may be BigInts). */
function asText(rows: unknown): string {
  return JSON.stringify(rows, (_key, value: unknown) => (typeof value === 'bigint' ? value.toString() : value));
}

/** Every string of the history, payload bytes decoded (they hold the activities' JSON inputs and results). */
function historyStrings(value: unknown, into: string[] = []): string[] {
  if (typeof value === 'string') into.push(value);
  else if (value instanceof Uint8Array) into.push(Buffer.from(value).toString('utf8'));
  else if (Array.isArray(value)) value.forEach((item) => historyStrings(item, into));
  else if (value && typeof value === 'object') Object.values(value).forEach((item) => historyStrings(item, into));
  return into;
}
