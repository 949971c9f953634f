// The warm ansible-playbook (services/ansible/warm-ansible.ts) against the real one: the same
// command gives the same output and exit code warm as cold, an edited ansible.cfg gets a warm
// process of its own, a command over its time is killed, and a dead warm process is replaced.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { ansibleEnv } from '../../services/ansible/playbook-command.js';
import { runWarmAnsiblePlaybook, stopWarmAnsible } from '../../services/ansible/warm-ansible.js';
import { tools } from '../../lib/tools.js';

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'chiffon-warm-'));
afterAll(() => {
  stopWarmAnsible();
  fs.rmSync(scratch, { recursive: true, force: true });
});

const ansiblePlaybook = tools.ansiblePlaybook();
let outputs = 0;

function repoWith(files: Record<string, string>): string {
  const repo = fs.mkdtempSync(path.join(scratch, 'repo-'));
  for (const [file, content] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(repo, file)), { recursive: true });
    fs.writeFileSync(path.join(repo, file), content);
  }
  return repo;
}

async function warm(repo: string, argv: string[], timeoutMs = 60_000) {
  const outputDir = path.join(scratch, `out-${++outputs}`);
  fs.mkdirSync(outputDir);
  const run = await runWarmAnsiblePlaybook({ ansiblePlaybook, repo, argv, outputDir, timeoutMs, passEnv: [] });
  expect(run, 'the warm process ran it').toBeDefined();
  return run!;
}

async function cold(repo: string, argv: string[]) {
  const localTemp = fs.mkdtempSync(path.join(scratch, 'tmp-'));
  const result = await execa(ansiblePlaybook, argv, {
    cwd: repo,
    env: ansibleEnv(ansiblePlaybook, localTemp),
    extendEnv: false,
    stdin: 'ignore',
    reject: false,
  });
  return { exitCode: result.exitCode, stdout: result.stdout, stderr: result.stderr };
}

const PLAY = '- name: Web\n  hosts: all\n  gather_facts: false\n  roles: [web]\n';
const ROLE = { 'roles/web/tasks/main.yml': '- name: Say hello\n  ansible.builtin.debug:\n    msg: hello\n  tags: [hello]\n' };

describe('the warm ansible-playbook', () => {
  it('answers as ansible-playbook does: the same listing, and the same exit code and error for a broken playbook', async () => {
    const repo = repoWith({
      'hosts.ini': 'web1 ansible_connection=local\nweb2 ansible_connection=local\n',
      'site.yml': PLAY,
      ...ROLE,
      'broken.yml': '- hosts: all\n  tasks:\n    - not.a.module: {}\n',
    });
    const list = ['-i', 'hosts.ini', '--limit=web2', 'site.yml', '--list-hosts', '--list-tasks'];
    const [warmList, coldList] = [await warm(repo, list), await cold(repo, list)];
    expect(warmList).toMatchObject({ exitCode: 0, timedOut: false });
    expect(warmList.stdout.trim()).toBe(coldList.stdout.trim());
    expect(warmList.stdout).toContain('web : Say hello');
    expect(warmList.stdout).not.toContain('web1');

    const broken = ['-i', 'hosts.ini', 'broken.yml', '--list-tasks'];
    const [warmBroken, coldBroken] = [await warm(repo, broken), await cold(repo, broken)];
    expect(warmBroken.exitCode).toBe(coldBroken.exitCode);
    expect(warmBroken.exitCode).not.toBe(0);
    expect(warmBroken.stderr).toContain('not.a.module');
  });

  it('reads an edited ansible.cfg: a warm process of its own', async () => {
    // The role lives where only ansible.cfg's roles_path says.
    const repo = repoWith({
      'hosts.ini': 'web1 ansible_connection=local\n',
      'site.yml': PLAY,
      'elsewhere/web/tasks/main.yml': ROLE['roles/web/tasks/main.yml'],
    });
    const list = ['-i', 'hosts.ini', 'site.yml', '--list-tasks'];
    expect((await warm(repo, list)).exitCode).not.toBe(0);
    fs.writeFileSync(path.join(repo, 'ansible.cfg'), '[defaults]\nroles_path = elsewhere\n');
    const fixed = await warm(repo, list);
    expect(fixed.exitCode).toBe(0);
    expect(fixed.stdout).toContain('web : Say hello');
  });

  it('stops a command that takes longer than its time, with what it started', async () => {
    // An inventory script that never answers in time (as one behind a dead API would not).
    const repo = repoWith({ 'inventory.sh': '#!/bin/sh\nsleep 30\necho "{}"\n', 'site.yml': PLAY, ...ROLE });
    fs.chmodSync(path.join(repo, 'inventory.sh'), 0o755);
    const started = Date.now();
    const run = await warm(repo, ['-i', 'inventory.sh', 'site.yml', '--list-tasks'], 1_000);
    expect(run.timedOut).toBe(true);
    expect(run.exitCode).not.toBe(0);
    expect(Date.now() - started).toBeLessThan(10_000);
    // Its inventory script went with it.
    const { stdout } = await execa('ps', ['-eo', 'args'], { reject: false });
    expect(stdout.split('\n').filter((line) => line.includes(path.join(repo, 'inventory.sh')))).toEqual([]);
  });
});
