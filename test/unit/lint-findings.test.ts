// The codeclimate mapping on a report captured from the real ansible-lint
// (test/fixtures/ansible/README.md says how it was produced).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { baseRuleId, isFixable, lintCategory, lintFindingsFromCodeclimate, ruleName, suggestedChange } from '../../domain/lint-findings.js';

const report: unknown = JSON.parse(
  readFileSync(fileURLToPath(new URL('../fixtures/ansible/lint/violations.codeclimate.json', import.meta.url)), 'utf8'),
);

describe('lintFindingsFromCodeclimate', () => {
  const findings = lintFindingsFromCodeclimate(report);

  it('keeps every issue with its rule, severity, path and line', () => {
    expect(findings).toHaveLength(17);
    expect(findings[0]).toEqual({
      rule: 'name[casing]',
      category: 'other',
      severity: 'major',
      message: 'All names should start with an uppercase letter.',
      path: 'sub/violations.yml',
      line: 2,
      suggestedChange: 'start the name with an uppercase letter',
      fixable: true,
    });
    // `lines.begin` and `positions.begin.line` both give the line.
    expect(findings.map((f) => f.line)).toEqual([2, 2, 6, 6, 6, 6, 7, 11, 11, 13, 14, 19, 23, 23, 25, 27, 28]);
    expect(findings.filter((f) => f.severity === 'minor').map((f) => f.rule)).toEqual(['jinja[spacing]', 'jinja[spacing]']);
  });

  it('adds the details to the description', () => {
    expect(findings.find((f) => f.rule === 'fqcn[action-core]')?.message).toBe(
      'Use FQCN for builtin module actions (shell). (Use `ansible.builtin.shell` or `ansible.legacy.shell` instead.)',
    );
  });

  it('categorizes the captured rules', () => {
    const byRule = Object.fromEntries(findings.map((f) => [f.rule, f.category]));
    expect(byRule).toEqual({
      'name[casing]': 'other',
      'partial-become[play]': 'security',
      'fqcn[action-core]': 'formatting',
      'name[missing]': 'other',
      'no-changed-when': 'idempotency',
      'risky-shell-pipe': 'error_handling',
      'package-latest': 'idempotency',
      'ignore-errors': 'error_handling',
      'yaml[truthy]': 'formatting',
      'risky-octal': 'security',
      'risky-file-permissions': 'security',
      'deprecated-local-action': 'deprecation',
      'no-jinja-when': 'deprecation',
      'jinja[spacing]': 'formatting',
    });
  });

  it('makes absolute paths under the root relative and leaves others alone', () => {
    const mapped = lintFindingsFromCodeclimate(
      [
        {
          type: 'issue',
          check_name: 'yaml',
          categories: ['formatting', 'yaml'],
          severity: 'minor',
          description: 'd',
          location: { path: '/tmp/copy/roles/a/tasks/main.yml', lines: { begin: 3 } },
        },
        {
          type: 'issue',
          check_name: 'yaml',
          categories: [],
          severity: 'minor',
          description: 'd',
          location: { path: '/etc/ansible/roles/x.yml', lines: { begin: 1 } },
        },
        { type: 'issue', check_name: 'yaml', categories: [], severity: 'minor', description: 'd', location: { path: './site.yml' } },
      ],
      { root: '/tmp/copy' },
    );
    expect(mapped.map((f) => [f.path, f.line])).toEqual([
      ['roles/a/tasks/main.yml', 3],
      ['/etc/ansible/roles/x.yml', 1],
      ['site.yml', undefined],
    ]);
    expect(mapped[2]).not.toHaveProperty('line');
  });

  it('skips entries that are not issues and refuses a report that is not a list', () => {
    expect(lintFindingsFromCodeclimate([{ type: 'other', check_name: 'x' }, 42, { description: 'no check' }])).toEqual([]);
    expect(lintFindingsFromCodeclimate([])).toEqual([]);
    expect(() => lintFindingsFromCodeclimate({ issues: [] })).toThrow(/not a JSON array/);
  });

  it('drops the literal "None" ansible-lint writes for missing details', () => {
    const [finding] = lintFindingsFromCodeclimate([
      {
        check_name: 'load-failure[filenotfounderror]',
        categories: ['core', 'unskippable'],
        severity: 'minor',
        description: 'No such file',
        content: { body: 'None' },
        location: { path: 'x.yml', lines: { begin: 1 } },
      },
    ]);
    expect(finding).toMatchObject({ rule: 'load-failure[filenotfounderror]', category: 'other', message: 'No such file' });
  });
});

describe('rule names and categories', () => {
  it('strips prefixes but keeps the sub-rule', () => {
    expect(ruleName('yaml[truthy]')).toBe('yaml[truthy]');
    expect(ruleName('ansible-lint/no-changed-when')).toBe('no-changed-when');
    expect(ruleName('[E301] no-changed-when')).toBe('no-changed-when');
    expect(baseRuleId('fqcn[action-core]')).toBe('fqcn');
  });

  it('maps by rule first, then by the first matching tag', () => {
    expect(lintCategory('no-log-password', ['opt-in', 'security', 'experimental'])).toBe('security');
    expect(lintCategory('latest[git]', ['idempotency'])).toBe('idempotency');
    expect(lintCategory('command-instead-of-module', ['command-shell', 'idiom'])).toBe('idempotency');
    expect(lintCategory('command-instead-of-shell', ['command-shell', 'idiom'])).toBe('other');
    expect(lintCategory('role-name', ['deprecations', 'metadata'])).toBe('deprecation');
    expect(lintCategory('avoid-implicit[copy-content]', ['unpredictability'])).toBe('error_handling');
    expect(lintCategory('key-order[task]', ['formatting'])).toBe('formatting');
    expect(lintCategory('syntax-check[unknown-module]', ['core', 'unskippable'])).toBe('other');
    expect(lintCategory('var-naming[pattern]', ['idiom'])).toBe('other');
  });
});

describe('suggested changes', () => {
  const findings = lintFindingsFromCodeclimate(report);
  const changeOf = (rule: string, line?: number) =>
    findings.find((f) => f.rule === rule && (line === undefined || f.line === line))?.suggestedChange;

  it('words a concrete change for every captured finding, from its own details', () => {
    expect(changeOf('fqcn[action-core]')).toBe('use ansible.builtin.shell instead of shell');
    expect(changeOf('no-changed-when', 6)).toBe(
      'add changed_when: (a condition) to the command task "shell echo hello | grep h": the condition under which it changed something, or false if it never does',
    );
    expect(changeOf('name[missing]')).toBe(
      'give the task a name: add name: <what it does> to the task that runs "shell echo hello | grep h"',
    );
    expect(changeOf('risky-file-permissions')).toBe(
      'set mode: explicitly in the task "Fetch without mode", e.g. mode: "0644" for a file or mode: "0755" for a directory',
    );
    // `mode: 644` meant 0644 (ansible-lint's own hint, 01204, is the decimal read as octal).
    expect(changeOf('risky-octal')).toBe(
      'quote the mode as an octal string with a leading zero: mode: "0644" (or use a symbolic mode such as u=rw,g=r,o=r)',
    );
    expect(changeOf('jinja[spacing]', 27)).toBe('write {{ foo }} instead of {{foo}}');
    expect(changeOf('package-latest')).toBe('use state: present (or pin a version) instead of state: latest in the task "Install latest"');
    expect(changeOf('deprecated-local-action')).toBe('replace local_action: with the module itself plus delegate_to: localhost');
    expect(changeOf('yaml[truthy]')).toBe('use true / false instead of yes, no, on or off');
    expect(changeOf('partial-become[play]')).toBe('set become: true at the same level as become_user:');
    for (const finding of findings) {
      expect(finding.suggestedChange, finding.rule).toMatch(/^[a-z]/);
      expect(finding.suggestedChange, finding.rule).not.toMatch(/undefined|\bnull\b/);
    }
  });

  it('names the task of a task-level name[casing] with its fixed name', () => {
    expect(
      suggestedChange('name[casing]', {
        description: 'All names should start with an uppercase letter.',
        details: 'Task/Handler: fail on purpose',
      }),
    ).toBe('start the name with an uppercase letter: "Fail on purpose"');
  });

  it('reads the module names of the other fqcn sub-rules', () => {
    expect(
      suggestedChange('fqcn[action]', {
        description: 'Use FQCN for module actions, such `community.general.ufw`.',
        details: 'Action `ufw` is not FQCN.',
      }),
    ).toBe('use community.general.ufw instead of ufw');
    expect(
      suggestedChange('fqcn[canonical]', {
        description: 'You should use canonical module name `ansible.builtin.copy` instead of `ansible.legacy.copy`.',
        details: '',
      }),
    ).toBe('use the canonical name ansible.builtin.copy instead of ansible.legacy.copy');
    // Details that do not say which module: the general advice.
    expect(suggestedChange('fqcn[action]', { description: 'Use FQCN.', details: '' })).toBe(
      'use the fully-qualified collection name of the module (ansible.builtin.<module> for a builtin module)',
    );
  });

  it('falls back to a sentence made from the description of an unknown rule', () => {
    expect(suggestedChange('my-org-rule[x]', { description: 'Tasks must carry an owner tag.', details: '' })).toBe(
      "change the playbook so that ansible-lint's my-org-rule[x] rule passes: tasks must carry an owner tag",
    );
    expect(suggestedChange('constructor', { description: '', details: '' })).toBe(
      "change the playbook so that ansible-lint's constructor rule passes: what the constructor rule asks",
    );
    // A sub-rule without a sentence of its own gets its rule's.
    expect(suggestedChange('yaml[colons]', { description: 'Too many spaces after colon', details: '' })).toBe(
      'reformat the YAML: too many spaces after colon',
    );
  });
});

describe('fixable', () => {
  it('follows what ansible-lint --fix rewrites, sub-rule by sub-rule', () => {
    for (const rule of [
      'fqcn[action-core]',
      'fqcn[action]',
      'fqcn[canonical]',
      'name[casing]',
      'jinja[spacing]',
      'yaml[truthy]',
      'yaml[indentation]',
      'no-jinja-when',
      'deprecated-local-action',
      'command-instead-of-shell',
      'no-free-form',
      'key-order[task]',
    ]) {
      expect(isFixable(rule), rule).toBe(true);
    }
    for (const rule of [
      'fqcn[keyword]',
      'name[missing]',
      'name[template]',
      'no-changed-when',
      'risky-file-permissions',
      'risky-octal',
      'risky-shell-pipe',
      'package-latest',
      'ignore-errors',
      'jinja[invalid]',
      'yaml[line-length]',
      'yaml[key-duplicates]',
      'no-free-form[raw-non-string]',
      'syntax-check[specific]',
    ]) {
      expect(isFixable(rule), rule).toBe(false);
    }
    const findings = lintFindingsFromCodeclimate(report);
    expect(findings.filter((f) => f.fixable).map((f) => f.rule)).toEqual([
      'name[casing]',
      'partial-become[play]',
      'fqcn[action-core]',
      'yaml[truthy]',
      'deprecated-local-action',
      'no-jinja-when',
      'jinja[spacing]',
      'jinja[spacing]',
    ]);
  });
});
