// The ansible-playbook command line of a plan step, shared by the run (run-playbook.ts) and its
// preview (preview-playbook.ts), so what a person approves is exactly what runs: the same
// inventory sources, --limit, --tags, extra-vars file (every string `!unsafe`) and environment.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { allowedEnv } from '../../lib/child-env.js';

export interface PlaybookCommand {
  /** Absolute inventory sources (`-i` each). */
  inventorySources: string[];
  limit?: string;
  tags?: string[];
  /** The 0600 extra-vars file (serializeVars). */
  varsFile: string;
  /** The playbook's absolute path. */
  playbookPath: string;
  /** A check run: `--check --diff`, Ansible's dry run, which reports what would change. */
  check?: boolean;
}

/** ansible-playbook's arguments for `command`, before any mode flag (--list-tasks, --check). */
export function playbookArgs(command: PlaybookCommand): string[] {
  return [
    ...command.inventorySources.flatMap((source) => ['-i', source]),
    ...(command.limit ? [`--limit=${command.limit}`] : []),
    ...(command.tags && command.tags.length > 0 ? [`--tags=${command.tags.join(',')}`] : []),
    '-e',
    `@${command.varsFile}`,
    ...(command.check ? ['--check', '--diff'] : []),
    command.playbookPath,
  ];
}

export function resolveInventory(repo: string, inventory: string[]): string[] {
  if (inventory.length === 0) throw new Error('no inventory given');
  return inventory.map((source) => {
    const resolved = path.resolve(repo, source);
    // Without it ansible-playbook would warn, fall back to an empty inventory and "succeed".
    if (!existsSync(resolved)) throw new Error(`inventory ${JSON.stringify(source)} not found`);
    return resolved;
  });
}

/**
 * A double-quoted YAML scalar: printable characters as they are; the others, and the characters
 * YAML 1.1 folds as line breaks (NEL, LS, PS), escaped.
 */
function yamlQuoted(text: string): string {
  let quoted = '"';
  for (const char of text) {
    const code = char.codePointAt(0) ?? 0;
    const printable =
      (code >= 0x20 && code <= 0x7e) ||
      (code >= 0xa0 && code <= 0xd7ff && code !== 0x2028 && code !== 0x2029) ||
      (code >= 0xe000 && code <= 0xfffd) ||
      code >= 0x10000;
    if (char === '"' || char === '\\') quoted += `\\${char}`;
    else if (printable) quoted += char;
    // A lone surrogate has no UTF-8 form: it becomes the replacement character.
    else quoted += code >= 0xd800 && code <= 0xdfff ? '\\uFFFD' : `\\u${code.toString(16).padStart(4, '0')}`;
  }
  return `${quoted}"`;
}

/** JSON data as flow-style YAML in which every string, mapping keys included, is `!unsafe`. */
function unsafeYaml(value: unknown): string {
  if (typeof value === 'string') return `!unsafe ${yamlQuoted(value)}`;
  if (typeof value === 'number') {
    const text = String(value);
    // YAML 1.1 (PyYAML) reads `1e+21` without a dot as a string.
    return /e/i.test(text) ? `!!float ${text}` : text;
  }
  if (Array.isArray(value)) return `[${value.map(unsafeYaml).join(', ')}]`;
  if (typeof value === 'object' && value !== null) {
    // Keys too: a loop over `dict2items` or `.keys()` templates them like any value.
    return `{${Object.entries(value)
      .map(([key, item]) => `!unsafe ${yamlQuoted(key)}: ${unsafeYaml(item)}`)
      .join(', ')}}`;
  }
  return String(value); // true, false, null
}

/**
 * The extra-vars file. Ansible templates extra vars: a value (or a mapping key) holding `{{
 * lookup('pipe', ...) }}` would run a command on this machine. Values are data here, so every
 * string and key is marked `!unsafe` and reaches the playbook verbatim; the file is JSON-shaped
 * YAML (JSON cannot carry that tag).
 */
export function serializeVars(vars: Record<string, unknown>, stateDir: string): string {
  let data: unknown;
  try {
    // Through JSON first: toJSON, Dates and undefined behave as JSON-serializable data does.
    data = JSON.parse(JSON.stringify({ ...vars, chiffon_state_dir: stateDir }));
  } catch {
    // Deliberately without the values: they may be secrets.
    throw new Error(`extra vars are not JSON-serializable (keys: ${Object.keys(vars).join(', ')})`);
  }
  return `${unsafeYaml(data)}\n`;
}

/**
 * ansible-playbook's whole environment (given with extendEnv off): the allow-listed part of this
 * process's (lib/child-env.ts, never Chiffon's own secrets), then Chiffon's settings.
 */
export function ansibleEnv(ansiblePlaybook: string, localTemp: string, passEnv: readonly string[] = []): Record<string, string> {
  const allowed = allowedEnv(passEnv);
  return {
    ...allowed,
    // ansible's own helpers (ansible-galaxy, the venv python) before anything else on PATH.
    PATH: [path.dirname(ansiblePlaybook), allowed.PATH].filter(Boolean).join(path.delimiter),
    ANSIBLE_STDOUT_CALLBACK: 'ansible.posix.jsonl',
    // One event per line, whatever an ansible.cfg says about indenting.
    ANSIBLE_JSON_INDENT: '0',
    PYTHONUNBUFFERED: '1',
    ANSIBLE_NOCOLOR: '1',
    ANSIBLE_FORCE_COLOR: '0',
    ANSIBLE_RETRY_FILES_ENABLED: '0',
    ANSIBLE_LOCAL_TEMP: localTemp,
    // An unreadable inventory is an error, not a warning followed by a run on no hosts.
    ANSIBLE_INVENTORY_UNPARSED_FAILED: '1',
  };
}
