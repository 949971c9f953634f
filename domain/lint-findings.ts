// Turning ansible-lint's codeclimate report into Chiffon's LintFinding list.
//
// Each issue of `ansible-lint -f codeclimate` looks like
//   {type: "issue", check_name: "no-changed-when" | "yaml[truthy]", categories: [rule tags],
//    severity: "major" | "minor", description, content?: {body}, location: {path, lines: {begin} |
//    positions: {begin: {line, column}}}}
// where `major` is an error and `minor` a warning (ansible-lint's own mapping).
//
// Category: a few rules are placed by id, where their tags say less than what they are about; the
// others by their tags, first match wins (tags as of ansible-lint 26, `ansiblelint/rules/*.py`):
//   rule ignore-errors, risky-shell-pipe                  → error_handling (failures hidden)
//   rule risky-file-permissions, risky-octal, partial-become,
//        no-same-owner                                     → security (permissions, privileges)
//   rule command-instead-of-module                         → idempotency (modules report changes)
//   tag  security                                          → security
//   tag  idempotency   (latest, package-latest, no-changed-when) → idempotency
//   tag  deprecations  (deprecated-*, no-jinja-when, role-name)  → deprecation
//   tag  unpredictability (avoid-implicit, ...)            → error_handling
//   tag  formatting, yaml (fqcn, jinja, key-order, no-tabs, yaml, ...) → formatting
//   anything else (idiom, metadata, syntax, core: name, var-naming, syntax-check, load-failure,
//        command-instead-of-shell, inline-env-var, ...)   → other
import path from 'node:path';
import type { LintCategory, LintFinding } from './types.js';

const RULE_CATEGORY: Record<string, LintCategory> = {
  'ignore-errors': 'error_handling',
  'risky-shell-pipe': 'error_handling',
  'risky-file-permissions': 'security',
  'risky-octal': 'security',
  'partial-become': 'security',
  'no-same-owner': 'security',
  'command-instead-of-module': 'idempotency',
};

const TAG_CATEGORY: [tag: string, category: LintCategory][] = [
  ['security', 'security'],
  ['idempotency', 'idempotency'],
  ['deprecations', 'deprecation'],
  ['unpredictability', 'error_handling'],
  ['formatting', 'formatting'],
  ['yaml', 'formatting'],
];

/** `yaml[truthy]` → `yaml`: the rule a sub-rule belongs to. */
export function baseRuleId(rule: string): string {
  return rule.replace(/\[.*$/, '');
}

export function lintCategory(rule: string, tags: readonly string[]): LintCategory {
  const byRule = RULE_CATEGORY[baseRuleId(rule)];
  if (byRule) return byRule;
  return TAG_CATEGORY.find(([tag]) => tags.includes(tag))?.[1] ?? 'other';
}

/**
 * The rule as ansible-lint names it in skip lists and `# noqa` (`yaml[truthy]`), without a
 * prefix some tools put before it: a path-like `ansible-lint/` or an old-style `[E301] `.
 */
export function ruleName(checkName: string): string {
  return checkName
    .trim()
    .replace(/^\[[^\]]*\]\s*/, '')
    .replace(/^[^[\]]*\//, '');
}

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function lineOf(location: Json): number | undefined {
  const lines = location.lines;
  const positions = location.positions;
  const line = isObject(lines)
    ? lines.begin
    : isObject(positions) && isObject(positions.begin)
      ? positions.begin.line
      : undefined;
  return typeof line === 'number' && line > 0 ? line : undefined;
}

/** Paths relative to the repository, with `/` separators; a file outside it keeps its absolute path. */
function repoPath(file: string, root: string | undefined): string {
  let result = file;
  if (root && path.isAbsolute(file)) {
    const relative = path.relative(root, file);
    if (relative && !relative.startsWith('..') && !path.isAbsolute(relative)) result = relative;
  }
  return result.split(path.sep).join('/').replace(/^(\.\/)+/, '');
}

function messageOf(issue: Json): string {
  const description = typeof issue.description === 'string' ? issue.description.trim() : '';
  const body = isObject(issue.content) && typeof issue.content.body === 'string' ? issue.content.body.trim() : '';
  // ansible-lint writes the literal "None" when a rule has no details.
  return body && body !== 'None' && body !== description ? `${description} (${body})` : description;
}

/**
 * Maps a parsed codeclimate report. `root` is the directory ansible-lint ran in: absolute paths
 * under it become relative. Entries that are not issues are skipped.
 */
export function lintFindingsFromCodeclimate(report: unknown, options: { root?: string } = {}): LintFinding[] {
  if (!Array.isArray(report)) throw new Error('ansible-lint codeclimate report is not a JSON array');
  const findings: LintFinding[] = [];
  for (const issue of report) {
    if (!isObject(issue) || typeof issue.check_name !== 'string') continue;
    if (issue.type !== undefined && issue.type !== 'issue') continue;
    const tags = Array.isArray(issue.categories) ? issue.categories.filter((t): t is string => typeof t === 'string') : [];
    const location = isObject(issue.location) ? issue.location : {};
    const rule = ruleName(issue.check_name);
    const finding: LintFinding = {
      rule,
      category: lintCategory(rule, tags),
      severity: typeof issue.severity === 'string' ? issue.severity : 'unknown',
      message: messageOf(issue),
      path: repoPath(typeof location.path === 'string' ? location.path : '', options.root),
    };
    const line = lineOf(location);
    if (line !== undefined) finding.line = line;
    findings.push(finding);
  }
  return findings;
}
