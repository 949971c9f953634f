// Which inventory a playbook repository means, found the way Ansible (and the people who wrote the
// repository) would find it, so planning and running use the same one. In this order:
//   1. CHIFFON_INVENTORY (config.inventory): a path or comma list, relative to the repository.
//   2. `[defaults] inventory` of the ansible.cfg that ansible-playbook would read when run in the
//      repository. Ansible answers that itself (`ansible-config dump`: it picks the file, resolves
//      paths relative to it, splits comma lists), so nothing here parses ansible.cfg.
//   3. The conventional names at the repository's top: inventory (folder or file), inventories/<name>/,
//      hosts, hosts.ini, inventory.ini, hosts.yml, inventory.yml (and .yaml). Exactly one may exist.
// Anything else (nothing found, several candidates, a configured path that does not exist) is an
// InventoryNotFoundError that says what was looked at and what to do.
import { readdir, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { allowedEnv } from '../../lib/child-env.js';
import { ansibleConfigKey } from '../ansible/config-key.js';
import { tools } from '../../lib/tools.js';

export interface InventoryLocation {
  /** Absolute paths, each passed as `-i`. */
  sources: string[];
  origin: 'CHIFFON_INVENTORY' | 'ansible.cfg' | 'convention';
  /** The sources relative to the repository, comma-joined, for messages. */
  display: string;
}

export class InventoryNotFoundError extends Error {
  override readonly name = 'InventoryNotFoundError';
}

/** What ansible-config says DEFAULT_HOST_LIST is, when a config file sets it. */
export interface ConfiguredInventory {
  /** Absolute paths, as Ansible resolved them. */
  sources: string[];
  /** The ansible.cfg that sets them. */
  configFile: string;
}

export interface LocateInventoryOptions {
  /** What asks ansible-config (tests count the runs); default: askAnsibleConfig. */
  askConfig?: (repoDir: string) => Promise<ConfiguredInventory | undefined>;
  /** The memo of ansible-config answers; default: the process's. */
  memo?: Map<string, Promise<ConfiguredInventory | undefined>>;
}

/** Names an inventory conventionally has at the top of a repository (`inventories/<name>/` aside). */
const CONVENTIONAL = ['inventory', 'hosts', 'hosts.ini', 'inventory.ini', 'hosts.yml', 'hosts.yaml', 'inventory.yml', 'inventory.yaml'];
const LOOKED_FOR = 'inventory/, inventories/<name>/, hosts, hosts.ini, inventory.ini, hosts.yml, inventory.yml';
/** `example.hosts.ini`, `hosts.ini.example`, `hosts.example.ini`, `hosts.ini.sample`, ... of a name. */
const EXAMPLE_WORD = /(^|[._-])(example|sample|dist|template)(?=$|[._-])/i;
const MEMO_ENTRIES = 16;

const processMemo = new Map<string, Promise<ConfiguredInventory | undefined>>();

export async function locateInventory(
  repoDir: string,
  configured: string | undefined,
  options: LocateInventoryOptions = {},
): Promise<InventoryLocation> {
  const repo = path.resolve(repoDir);
  const rel = (p: string) => displayPath(repo, p);

  if (configured && configured.trim() !== '') {
    const sources = splitList(configured).map((s) => path.resolve(repo, s));
    const missing = await missingOf(sources);
    if (missing.length > 0) {
      const what =
        sources.length === 1
          ? `CHIFFON_INVENTORY=${configured} names ${rel(missing[0]!)}, which does not exist`
          : `CHIFFON_INVENTORY=${configured}: ${missing.map(rel).join(', ')} does not exist`;
      const example = await exampleOf(repo, missing);
      throw new InventoryNotFoundError(
        example ? `${what}; ${example} or fix CHIFFON_INVENTORY` : `${what}: create it or fix CHIFFON_INVENTORY`,
      );
    }
    return location(repo, sources, 'CHIFFON_INVENTORY');
  }

  // The conventional names are looked at meanwhile (they are only read): they count when ansible.cfg sets no inventory.
  const conventional = conventionalCandidates(repo);
  const fromConfig = await configuredInventory(repo, options);
  if (fromConfig) {
    const cfg = rel(fromConfig.configFile);
    const missing = await missingOf(fromConfig.sources);
    if (missing.length > 0) {
      const list = fromConfig.sources.map(rel).join(', ');
      const what =
        fromConfig.sources.length === 1
          ? `${cfg} sets inventory = ${list}, which does not exist`
          : `${cfg} sets inventory = ${list}; ${missing.map(rel).join(', ')} does not exist`;
      const example = await exampleOf(repo, missing);
      throw new InventoryNotFoundError(
        example
          ? `${what}; ${example} or set CHIFFON_INVENTORY`
          : `${what}: create it, fix [defaults] inventory in ${cfg} or set CHIFFON_INVENTORY`,
      );
    }
    return location(repo, fromConfig.sources, 'ansible.cfg');
  }

  const found = await conventional;
  if (found.length === 1) return location(repo, found, 'convention');
  if (found.length > 1) {
    const names = found.map(rel);
    throw new InventoryNotFoundError(
      `found ${names.slice(0, -1).join(', ')} and ${names.at(-1)}: set CHIFFON_INVENTORY=${names[0]} or [defaults] inventory in ansible.cfg`,
    );
  }
  const example = await exampleOf(
    repo,
    CONVENTIONAL.map((name) => path.join(repo, name)),
  );
  throw new InventoryNotFoundError(
    example
      ? `no inventory found in ${repo}; ${example} or set CHIFFON_INVENTORY`
      : `no inventory found in ${repo}: looked for [defaults] inventory in ansible.cfg, ${LOOKED_FOR}; set CHIFFON_INVENTORY`,
  );
}

function location(repo: string, sources: string[], origin: InventoryLocation['origin']): InventoryLocation {
  return { sources, origin, display: sources.map((s) => displayPath(repo, s)).join(',') };
}

/** Repository-relative when inside it, absolute otherwise. */
function displayPath(repo: string, file: string): string {
  const relative = path.relative(repo, file);
  return relative === '' ? '.' : relative.startsWith('..') || path.isAbsolute(relative) ? file : relative;
}

function splitList(value: string): string[] {
  return value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

async function exists(file: string): Promise<boolean> {
  return (await stat(file).catch(() => undefined)) !== undefined;
}

async function missingOf(sources: string[]): Promise<string[]> {
  const present = await Promise.all(sources.map(exists));
  return sources.filter((_, i) => !present[i]);
}

/** The conventional inventories at the top of the repository that exist, in CONVENTIONAL's order; never rejects. */
async function conventionalCandidates(repo: string): Promise<string[]> {
  const files = CONVENTIONAL.map((name) => path.join(repo, name));
  const [present, inventories] = await Promise.all([Promise.all(files.map(exists)), subfolders(path.join(repo, 'inventories'))]);
  return CONVENTIONAL.flatMap((name, i) => [...(present[i] ? [files[i]!] : []), ...(name === 'inventory' ? inventories : [])]);
}

async function subfolders(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  const folders: string[] = [];
  for (const entry of entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    if (entry.name.startsWith('.')) continue;
    const full = path.join(dir, entry.name);
    if (entry.isDirectory() || (entry.isSymbolicLink() && (await stat(full).catch(() => undefined))?.isDirectory())) folders.push(full);
  }
  return folders;
}

/** An example copy of one of the missing files next to it (`example.hosts.ini` for `hosts.ini`), as a sentence. */
async function exampleOf(repo: string, missing: string[]): Promise<string | undefined> {
  for (const file of missing) {
    const dir = path.dirname(file);
    const wanted = path.basename(file);
    const names = await readdir(dir).catch(() => [] as string[]);
    const example = names
      .sort()
      .find((name) => name !== wanted && EXAMPLE_WORD.test(name) && name.replace(EXAMPLE_WORD, '').replace(/^[._-]/, '') === wanted);
    if (example) return `the repository has ${displayPath(repo, path.join(dir, example))}: copy it to ${displayPath(repo, file)}`;
  }
  return undefined;
}

/** ansible-config's answer for the repository, memoized by everything that answer depends on. */
async function configuredInventory(repo: string, options: LocateInventoryOptions): Promise<ConfiguredInventory | undefined> {
  const ask = options.askConfig ?? askAnsibleConfig;
  const memo = options.memo ?? processMemo;
  let binary: string;
  try {
    binary = tools.ansibleConfig();
  } catch (err) {
    throw new InventoryNotFoundError(
      `cannot ask Ansible which inventory ${repo} configures: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
  const key = await ansibleConfigKey(repo, binary, configEnv(binary));
  let answer = memo.get(key);
  if (answer) {
    // Most recently used last, so the oldest goes first.
    memo.delete(key);
    memo.set(key, answer);
    return answer;
  }
  answer = ask(repo);
  memo.set(key, answer);
  while (memo.size > MEMO_ENTRIES) memo.delete(memo.keys().next().value!);
  // A failure is not remembered: the next plan asks again.
  answer.catch(() => memo.get(key) === answer && memo.delete(key));
  return answer;
}

/** The environment ansible-config runs with: no ANSIBLE_CONFIG (the repository's ansible.cfg decides) nor ANSIBLE_INVENTORY. */
function configEnv(binary: string): Record<string, string> {
  // The allow-listed environment (lib/child-env.ts), as every Ansible process gets it.
  const allowed = allowedEnv();
  return {
    ...allowed,
    PATH: [path.dirname(binary), allowed.PATH].filter(Boolean).join(path.delimiter),
    HOME: allowed.HOME ?? os.homedir(),
    ANSIBLE_NOCOLOR: '1',
  };
}

/** Runs `ansible-config dump --format json` in the repository: DEFAULT_HOST_LIST unless it is Ansible's default. */
export async function askAnsibleConfig(repoDir: string): Promise<ConfiguredInventory | undefined> {
  const binary = tools.ansibleConfig();
  const result = await execa(binary, ['dump', '--format', 'json'], {
    cwd: repoDir,
    env: configEnv(binary),
    extendEnv: false,
    stdin: 'ignore',
    reject: false,
    timeout: 30_000,
    maxBuffer: 16 * 1024 * 1024,
  });
  if (result.failed || result.exitCode !== 0) {
    const stderr = String(result.stderr ?? '').trim();
    throw new InventoryNotFoundError(
      `ansible-config could not read the settings of ${repoDir} (${result.timedOut ? 'timed out' : `exit code ${result.exitCode ?? result.signal}`})${stderr ? `: ${stderr.slice(-2000)}` : ''}`,
    );
  }
  let settings: unknown;
  try {
    settings = JSON.parse(String(result.stdout));
  } catch {
    throw new InventoryNotFoundError(`ansible-config printed no JSON for ${repoDir}`);
  }
  const entry = Array.isArray(settings)
    ? settings.find((s): s is { origin?: unknown; value?: unknown } => s?.name === 'DEFAULT_HOST_LIST')
    : undefined;
  // origin is `default` for Ansible's own /etc/ansible/hosts, else the config file (or `env: NAME`).
  if (!entry || typeof entry.origin !== 'string' || entry.origin === 'default') return undefined;
  const values = Array.isArray(entry.value) ? entry.value : typeof entry.value === 'string' ? splitList(entry.value) : [];
  const sources = values.filter((v): v is string => typeof v === 'string' && v !== '').map((v) => path.resolve(repoDir, v));
  if (sources.length === 0) return undefined;
  return { sources, configFile: entry.origin };
}
