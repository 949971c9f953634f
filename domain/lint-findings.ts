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
//
// Each finding also says what to change (`suggestedChange`: a sentence per known rule, worded from
// the issue's own details where they name the module, the mode or the template; a generic sentence
// from the rule's description otherwise) and whether ansible-lint's `--fix` rewrites it (`fixable`).
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
  const line = isObject(lines) ? lines.begin : isObject(positions) && isObject(positions.begin) ? positions.begin.line : undefined;
  return typeof line === 'number' && line > 0 ? line : undefined;
}

/** Paths relative to the repository, with `/` separators; a file outside it keeps its absolute path. */
function repoPath(file: string, root: string | undefined): string {
  let result = file;
  if (root && path.isAbsolute(file)) {
    const relative = path.relative(root, file);
    if (relative && !relative.startsWith('..') && !path.isAbsolute(relative)) result = relative;
  }
  return result
    .split(path.sep)
    .join('/')
    .replace(/^(\.\/)+/, '');
}

/** The issue's description and details (ansible-lint writes the literal "None" when a rule has none). */
function textOf(issue: Json): { description: string; details: string } {
  const description = typeof issue.description === 'string' ? issue.description.trim() : '';
  const body = isObject(issue.content) && typeof issue.content.body === 'string' ? issue.content.body.trim() : '';
  return { description, details: body && body !== 'None' && body !== description ? body : '' };
}

function messageOf({ description, details }: { description: string; details: string }): string {
  return details ? `${description} (${details})` : description;
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
    const text = textOf(issue);
    const finding: LintFinding = {
      rule,
      category: lintCategory(rule, tags),
      severity: typeof issue.severity === 'string' ? issue.severity : 'unknown',
      message: messageOf(text),
      path: repoPath(typeof location.path === 'string' ? location.path : '', options.root),
    };
    const line = lineOf(location);
    if (line !== undefined) finding.line = line;
    finding.suggestedChange = suggestedChange(rule, text);
    finding.fixable = isFixable(rule);
    findings.push(finding);
  }
  return findings;
}

// ---------------------------------------------------------------------------------------------
// Fixability and suggested changes.

/**
 * What ansible-lint 26's `--fix` rewrites: the rules with a transform (`TransformMixin` in
 * `ansiblelint/rules/*.py`), some only for some sub-rules, and the YAML formatting its reformatter
 * repairs on every `--fix` run (all yaml[...] but line-length and key-duplicates, measured here).
 */
const FIXABLE_RULES = new Set([
  'command-instead-of-shell',
  'deprecated-local-action',
  'fqcn[action-core]',
  'fqcn[action]',
  'fqcn[canonical]',
  'jinja[spacing]',
  'key-order[play]',
  'key-order[task]',
  'name[casing]',
  'no-free-form',
  'no-free-form[raw]',
  'no-jinja-when',
  'no-log-password',
  'partial-become',
  'partial-become[play]',
  'partial-become[task]',
  ...[
    'braces',
    'brackets',
    'colons',
    'commas',
    'comments',
    'comments-indentation',
    'document-start',
    'empty-lines',
    'hyphens',
    'indentation',
    'new-line-at-end-of-file',
    'new-lines',
    'octal-values',
    'trailing-spaces',
    'truthy',
  ].map((sub) => `yaml[${sub}]`),
]);

/** Whether `ansible-lint --fix <base rule id>` repairs this rule (sub-rule ids as ansible-lint reports them). */
export function isFixable(rule: string): boolean {
  return FIXABLE_RULES.has(rule);
}

/** What an issue says, as a suggestion is worded from it. */
export interface FindingText {
  description: string;
  /** The issue's details (codeclimate `content.body`), often `Task/Handler: <task>`; may be empty. */
  details: string;
}

type Suggest = (text: FindingText & { task?: string }) => string | undefined;

/** Texts between backticks, in order. */
function quoted(text: string): string[] {
  return [...text.matchAll(/`([^`]+)`/g)].map((m) => m[1]!);
}

function forTask(task: string | undefined): string {
  return task ? ` in the task "${task}"` : '';
}

function lowerFirst(text: string): string {
  return text.charAt(0).toLowerCase() + text.slice(1);
}

/** By the exact rule id first, then by the base rule id. */
const SUGGESTIONS: Record<string, Suggest> = {
  'fqcn[action-core]': ({ description, details }) => {
    const module = /\(([^)]+)\)/.exec(description)?.[1];
    const target = quoted(details)[0] ?? (module ? `ansible.builtin.${module}` : undefined);
    return module && target ? `use ${target} instead of ${module}` : undefined;
  },
  'fqcn[action]': ({ description, details }) => {
    const [target] = quoted(description);
    const [module] = quoted(details);
    return target && module ? `use ${target} instead of ${module}` : undefined;
  },
  'fqcn[canonical]': ({ description }) => {
    const [canonical, current] = quoted(description);
    return canonical && current ? `use the canonical name ${canonical} instead of ${current}` : undefined;
  },
  'fqcn[keyword]': () => 'drop the collections: keyword and write fully-qualified module names (namespace.collection.module) in the tasks',
  fqcn: () => 'use the fully-qualified collection name of the module (ansible.builtin.<module> for a builtin module)',
  'name[missing]': ({ task }) => `give the task a name: add name: <what it does>${task ? ` to the task that runs "${task}"` : ''}`,
  'name[casing]': ({ task }) =>
    task
      ? `start the name with an uppercase letter: "${task.charAt(0).toUpperCase()}${task.slice(1)}"`
      : 'start the name with an uppercase letter',
  'name[play]': () => 'give the play a name: add name: <what it does> to the play',
  'name[template]': () => 'put Jinja templates only at the end of the name',
  'name[prefix]': () => 'prefix the task name with the file name stem: "<stem> | <Task name>"',
  name: () => 'name every play and task, starting with an uppercase letter',
  'no-changed-when': ({ task }) =>
    `add changed_when: (a condition) to the command task${task ? ` "${task}"` : ''}: the condition under which it changed something, or false if it never does`,
  'risky-file-permissions': ({ task }) =>
    `set mode: explicitly${forTask(task)}, e.g. mode: "0644" for a file or mode: "0755" for a directory`,
  'risky-octal': ({ description }) => {
    const digits = /mode: (\d+)/.exec(description)?.[1];
    const mode = digits ? `"${digits.padStart(4, '0')}"` : '"0644"';
    return `quote the mode as an octal string with a leading zero: mode: ${mode} (or use a symbolic mode such as u=rw,g=r,o=r)`;
  },
  'risky-shell-pipe': ({ task }) =>
    `start the shell command with set -o pipefail && and set executable: /bin/bash${forTask(task)}, so a failure inside the pipe fails the task`,
  'ignore-errors': ({ task }) => `replace ignore_errors: with failed_when: (the condition under which it really failed)${forTask(task)}`,
  'package-latest': ({ task }) => `use state: present (or pin a version) instead of state: latest${forTask(task)}`,
  latest: () => 'pin version: to a tag or a commit instead of following the latest revision',
  'command-instead-of-module': ({ description }) => {
    const match = /^(\S+) used in place of (\S+) module/.exec(description);
    return match
      ? `use the ${match[2]} module instead of running ${match[1]}`
      : 'use the Ansible module that does this instead of running the command';
  },
  'command-instead-of-shell': () => 'use ansible.builtin.command instead of ansible.builtin.shell: the command uses no shell features',
  'deprecated-local-action': () => 'replace local_action: with the module itself plus delegate_to: localhost',
  'deprecated-bare-vars': () => 'write the loop variable as a template: loop: "{{ items }}"',
  'deprecated-module': ({ description }) => `replace the deprecated module with the module that succeeds it (${description})`,
  'no-jinja-when': () => 'remove the {{ }} around the when: condition (when: is already a Jinja expression)',
  'jinja[spacing]': ({ description }) => {
    const match = /: (.+) -> (.+)$/.exec(description);
    return match
      ? `write ${match[2]} instead of ${match[1]}`
      : 'put one space inside {{ }} and around operators and filters: {{ name | default("x") }}';
  },
  'jinja[invalid]': ({ description, details }) => `fix the Jinja template so that it renders: ${details || description}`,
  'yaml[truthy]': () => 'use true / false instead of yes, no, on or off',
  'yaml[line-length]': () => 'break the line (e.g. with a folded block scalar >-) so that it is at most 160 characters long',
  'yaml[key-duplicates]': () => 'remove the duplicated key: only its last value counts',
  yaml: ({ description }) => `reformat the YAML: ${lowerFirst(description)}`,
  'partial-become': () => 'set become: true at the same level as become_user:',
  'no-same-owner': () =>
    'do not carry the owner over from the controller: set owner: false and group: false (synchronize) or extra_opts: [--no-same-owner] (unarchive)',
  'no-free-form': () => 'pass the module arguments as a YAML mapping instead of key=value text',
  'key-order': () => 'put name: first and block / rescue / always last',
  'no-tabs': () => 'replace the tab characters with spaces',
  'no-log-password': () => 'add no_log: true to the task that handles the password',
  'literal-compare': () => 'use when: result (or when: not result) instead of comparing with == true / == false',
  'empty-string-compare': () => 'use when: value | length > 0 (or | length == 0) instead of comparing with ""',
  'no-handler': () => 'move the task into a handler and notify: it, instead of running it when: result.changed',
  'no-relative-paths': () => 'drop the ../ from the path: keep the file under files/ or templates/ and name it directly',
  'var-naming': ({ description }) => `rename the variable to snake_case: lowercase letters, digits and _ (${description})`,
  'inline-env-var': () => 'set the environment variable with environment: instead of on the command line',
  'avoid-implicit': ({ description }) => `say it explicitly: ${lowerFirst(description)}`,
  'run-once': () => 'drop run_once: or run the play with strategy: linear',
  'no-prompting': () => 'pass the value as a variable instead of prompting for it',
  'playbook-extension': () => 'rename the playbook so that it ends with .yml or .yaml',
  'role-name': () => 'rename the role to lowercase letters, digits and _',
  complexity: () => 'split the play or block into smaller ones',
  'syntax-check': ({ description, details }) => `fix the playbook so that Ansible can load it: ${details || description}`,
  'load-failure': ({ description }) => `fix the file so that it can be read: ${description}`,
  schema: ({ description, details }) => `fix the value the schema refuses: ${details || description}`,
};

/** A concrete sentence for a known rule; for another, one made from the rule's description. */
export function suggestedChange(rule: string, text: FindingText): string {
  const task = /^Task\/Handler:\s*(.+)$/s.exec(text.details)?.[1]?.trim();
  const input = { ...text, ...(task ? { task } : {}) };
  const suggest = (id: string) => (Object.hasOwn(SUGGESTIONS, id) ? SUGGESTIONS[id]!(input) : undefined);
  const specific = suggest(rule) ?? suggest(baseRuleId(rule));
  if (specific) return specific;
  const what = text.description ? lowerFirst(text.description.replace(/\.$/, '')) : `what the ${rule} rule asks`;
  return `change the playbook so that ansible-lint's ${rule} rule passes: ${what}`;
}
