// The codeclimate mapping on a report captured from the real ansible-lint
// (test/fixtures/ansible/README.md says how it was produced).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { baseRuleId, lintCategory, lintFindingsFromCodeclimate, ruleName } from '../../domain/lint-findings.js';

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
        { type: 'issue', check_name: 'yaml', categories: ['formatting', 'yaml'], severity: 'minor', description: 'd', location: { path: '/tmp/copy/roles/a/tasks/main.yml', lines: { begin: 3 } } },
        { type: 'issue', check_name: 'yaml', categories: [], severity: 'minor', description: 'd', location: { path: '/etc/ansible/roles/x.yml', lines: { begin: 1 } } },
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
      { check_name: 'load-failure[filenotfounderror]', categories: ['core', 'unskippable'], severity: 'minor', description: 'No such file', content: { body: 'None' }, location: { path: 'x.yml', lines: { begin: 1 } } },
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
