// lintPlaybook with the real ansible-lint, on playbooks written here.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lintPlaybook } from '../../activities/ansible/lint-playbook.js';

let root: string;
let repo: string;
let workDir: string;

const VIOLATIONS = `---
- name: Violations
  hosts: all
  tasks:
    - name: Pipe without pipefail
      ansible.builtin.shell: cat /etc/hostname | tr a-z A-Z
    - name: Install the latest curl
      ansible.builtin.package:
        name: curl
        state: latest
    - name: Ignore failures
      ansible.builtin.command: /bin/false
      changed_when: false
      ignore_errors: yes
    - name: Old style
      local_action: ansible.builtin.debug msg=hi
    - name: Octal mode as a number
      ansible.builtin.copy:
        content: hi
        dest: /tmp/chiffon-lint-test
        mode: 644
`;

const CLEAN = `---
- name: Clean
  hosts: all
  gather_facts: false
  tasks:
    - name: Say hello
      ansible.builtin.debug:
        msg: hello
`;

async function digest(file: string): Promise<string> {
  return createHash('sha256').update(await readFile(file)).digest('hex');
}

beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'chiffon-lint-playbook-'));
  repo = path.join(root, 'repo');
  workDir = path.join(root, 'work');
  await mkdir(path.join(repo, 'plays'), { recursive: true });
  await writeFile(path.join(repo, 'plays', 'violations.yml'), VIOLATIONS);
  await writeFile(path.join(repo, 'clean.yml'), CLEAN);
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

function leftovers(): string[] {
  return existsSync(workDir) ? readdirSync(workDir).filter((name) => name.startsWith('ansible-lint-')) : [];
}

describe('lintPlaybook', () => {
  it('reports categorized findings with lines, and leaves the playbook as it was', async () => {
    const file = path.join(repo, 'plays', 'violations.yml');
    const before = await digest(file);
    const findings = await lintPlaybook({ playbookRepo: repo, playbook: 'plays/violations.yml', workDir });

    const summary = findings.map((f) => `${f.rule}@${f.line}:${f.category}`);
    expect(summary).toEqual(
      expect.arrayContaining([
        'risky-shell-pipe@5:error_handling',
        'no-changed-when@5:idempotency',
        'package-latest@7:idempotency',
        'ignore-errors@11:error_handling',
        'yaml[truthy]@14:formatting',
        'deprecated-local-action@15:deprecation',
        'risky-octal@17:security',
      ]),
    );
    for (const finding of findings) {
      expect(finding.path).toBe('plays/violations.yml');
      expect(finding.message.length).toBeGreaterThan(0);
      expect(['major', 'minor']).toContain(finding.severity);
    }
    expect(await digest(file)).toBe(before);
    expect(leftovers()).toEqual([]);
  });

  it('finds nothing in a clean playbook', async () => {
    expect(await lintPlaybook({ playbookRepo: repo, playbook: 'clean.yml', workDir })).toEqual([]);
  });

  it('does not let a repository config rewrite the playbook, and reports what is there', async () => {
    const fixing = path.join(root, 'fixing');
    await mkdir(fixing, { recursive: true });
    await writeFile(path.join(fixing, '.ansible-lint'), '---\nwrite_list:\n  - all\n');
    await writeFile(path.join(fixing, 'site.yml'), VIOLATIONS);
    const before = await digest(path.join(fixing, 'site.yml'));
    const configBefore = await digest(path.join(fixing, '.ansible-lint'));

    const findings = await lintPlaybook({ playbookRepo: fixing, playbook: 'site.yml', workDir });

    expect(await digest(path.join(fixing, 'site.yml'))).toBe(before);
    expect(await digest(path.join(fixing, '.ansible-lint'))).toBe(configBefore);
    // Fixable findings (yaml[truthy], fqcn...) are still reported: the copy was linted unfixed.
    expect(findings.map((f) => f.rule)).toContain('yaml[truthy]');
    expect(findings.map((f) => f.path)).toContain('site.yml');
  });

  it('refuses playbooks outside the repository or missing', async () => {
    await expect(lintPlaybook({ playbookRepo: repo, playbook: '../fixing/site.yml', workDir })).rejects.toThrow(/leaves/);
    await expect(lintPlaybook({ playbookRepo: repo, playbook: 'nope.yml', workDir })).rejects.toThrow(/not found/);
  });
});
