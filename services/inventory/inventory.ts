// Reads the inventory through `ansible-inventory --list`, so every inventory format and plugin
// Ansible understands (YAML, INI, folders with group_vars/host_vars) reads the same way. The result
// is memoized by the content of what ansible-inventory reads (inventory-cache.ts): it runs again
// only when the inventory changed. The sources come from locateInventory (inventory-source.ts); it
// runs in the repository (`cwd`) so the repository's ansible.cfg applies exactly as when running.
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { parseInventoryList } from '../../domain/inventory.js';
import type { Inventory } from '../../domain/types.js';
import { allowedEnv } from '../../lib/child-env.js';
import { tools } from '../../lib/tools.js';
import { createInventoryCache, type InventoryCache } from './inventory-cache.js';

export interface ReadInventoryOptions {
  /** Working folder of ansible-inventory (where it reads an ansible.cfg): the repository; default: this process's. */
  cwd?: string;
  timeoutMs?: number;
  /** The memo to use; default: the process's. `null` reads through ansible-inventory every time. */
  cache?: InventoryCache | null;
  /** What runs ansible-inventory (tests count the runs); default: listInventory. */
  run?: (sources: string[], options: ReadInventoryOptions) => Promise<Inventory>;
}

const STDERR_TAIL_CHARS = 2000;

/** The process's memo of parsed inventories (a worker plans against one or two inventories). */
export const inventoryCache: InventoryCache = createInventoryCache({ maxEntries: 16 });

/** Absolute paths of the sources; each must exist (ansible-inventory would warn and list nothing). */
async function existingSources(inventory: string | readonly string[], cwd: string | undefined): Promise<string[]> {
  const sources = (typeof inventory === 'string' ? [inventory] : [...inventory]).map((s) => path.resolve(cwd ?? process.cwd(), s));
  if (sources.length === 0) throw new Error('no inventory source given');
  for (const source of sources) {
    if (!(await stat(source).catch(() => undefined))) throw new Error(`inventory ${source} does not exist`);
  }
  return sources;
}

/** The inventory of these sources (each an `-i`), from the memo when nothing ansible-inventory reads has changed. */
export async function readInventory(inventory: string | readonly string[], options: ReadInventoryOptions = {}): Promise<Inventory> {
  const sources = await existingSources(inventory, options.cwd);
  const run = options.run ?? listInventory;
  const cache = options.cache === undefined ? inventoryCache : options.cache;
  if (!cache) return run(sources, options);
  const context = { sources, cwd: path.resolve(options.cwd ?? process.cwd()), binary: tools.ansibleInventory() };
  return cache.read(context, () => run(sources, options));
}

/** Runs `ansible-inventory -i <a> -i <b> --list` and parses its output; no memo. */
export async function listInventory(inventory: string | readonly string[], options: ReadInventoryOptions = {}): Promise<Inventory> {
  const sources = await existingSources(inventory, options.cwd);
  const source = sources.join(', ');

  const binary = tools.ansibleInventory();
  const args = [...sources.flatMap((s) => ['-i', s]), '--list'];
  const result = await execa(binary, args, {
    ...(options.cwd ? { cwd: options.cwd } : {}),
    // The allow-listed environment only (lib/child-env.ts): an inventory script gets no secret of Chiffon's.
    env: {
      ...allowedEnv(),
      ANSIBLE_NOCOLOR: '1',
      ANSIBLE_FORCE_COLOR: '0',
      // Without these, an inventory Ansible cannot parse is a warning and the list is empty.
      ANSIBLE_INVENTORY_UNPARSED_FAILED: 'true',
      ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED: 'true',
    },
    extendEnv: false,
    stdin: 'ignore',
    reject: false,
    timeout: options.timeoutMs ?? 60_000,
    maxBuffer: 64 * 1024 * 1024,
  });

  if (result.failed || result.exitCode !== 0) {
    const why = result.timedOut
      ? `timed out after ${options.timeoutMs ?? 60_000} ms`
      : `exit code ${result.exitCode ?? result.signal ?? 'unknown'}`;
    const stderr = String(result.stderr ?? '').trim();
    const detail = stderr ? `:\n${stderr.slice(-STDERR_TAIL_CHARS)}` : result.failed && !result.exitCode ? `: ${result.shortMessage}` : '';
    throw new Error(`ansible-inventory could not read ${source} (${why})${detail}`);
  }

  let json: unknown;
  try {
    json = JSON.parse(String(result.stdout));
  } catch (err) {
    throw new Error(`ansible-inventory printed no JSON for ${source}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  return parseInventoryList(json);
}
