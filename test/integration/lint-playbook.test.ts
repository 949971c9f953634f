// lintPlaybook and runAnsibleLint (its fixer) with the real ansible-lint, on playbooks written here.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lintPlaybook, runAnsibleLint } from '../../services/ansible/lint-playbook.js';

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
  return createHash('sha256')
    .update(await readFile(file))
    .digest('hex');
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
      // What to change, whether ansible-lint can, and which version of the playbook it is about.
      expect(finding.suggestedChange?.length).toBeGreaterThan(0);
      expect(typeof finding.fixable).toBe('boolean');
      expect(finding.playbookSha256).toBe(before);
    }
    expect(findings.find((f) => f.rule === 'deprecated-local-action')).toMatchObject({
      fixable: true,
      suggestedChange: 'replace local_action: with the module itself plus delegate_to: localhost',
    });
    expect(findings.find((f) => f.rule === 'no-changed-when')).toMatchObject({ fixable: false });
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

  it('fixes one rule on the copy and hands back the fixed playbook, leaving the repository alone', async () => {
    const file = path.join(repo, 'plays', 'violations.yml');
    const before = await digest(file);
    const run = await runAnsibleLint({ playbookRepo: repo, playbook: 'plays/violations.yml', workDir, fix: 'deprecated-local-action' });

    expect(run.playbookSha256).toBe(before);
    const fixed = run.fixed?.toString('utf8') ?? '';
    expect(fixed).toContain('delegate_to: localhost');
    expect(fixed).not.toContain('local_action');
    // What remains is reported; the fixed rule is not.
    const remaining = run.findings.map((f) => f.rule);
    expect(remaining).not.toContain('deprecated-local-action');
    expect(remaining).toEqual(expect.arrayContaining(['no-changed-when', 'package-latest']));
    expect(await digest(file)).toBe(before);
    expect(leftovers()).toEqual([]);
  });

  it('says when the fixer changed nothing, and takes only a rule id for --fix', async () => {
    const run = await runAnsibleLint({ playbookRepo: repo, playbook: 'clean.yml', workDir, fix: 'fqcn' });
    expect(run.fixed).toBeUndefined();
    expect(run.findings).toEqual([]);
    await expect(runAnsibleLint({ playbookRepo: repo, playbook: 'clean.yml', workDir, fix: 'fqcn,yaml' })).rejects.toThrow(/not a rule id/);
    await expect(runAnsibleLint({ playbookRepo: repo, playbook: 'clean.yml', workDir, fix: '--offline' })).rejects.toThrow(/not a rule id/);
  });

  it('refuses playbooks outside the repository or missing', async () => {
    await expect(lintPlaybook({ playbookRepo: repo, playbook: '../fixing/site.yml', workDir })).rejects.toThrow(/leaves/);
    await expect(lintPlaybook({ playbookRepo: repo, playbook: 'nope.yml', workDir })).rejects.toThrow(/not found/);
  });
});
