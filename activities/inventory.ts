// Reads the inventory through `ansible-inventory --list`, so every inventory format and plugin
// Ansible understands (YAML, INI, folders with group_vars/host_vars) reads the same way. The result
// is memoized by the content of what ansible-inventory reads (inventory-cache.ts): it runs again
// only when the inventory changed.
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { parseInventoryList } from '../domain/inventory.js';
import type { Inventory } from '../domain/types.js';
import { tools } from '../lib/tools.js';
import { createInventoryCache, type InventoryCache } from './inventory-cache.js';

export interface ReadInventoryOptions {
  /** Working folder of ansible-inventory (where it would read an ansible.cfg); default: this process's. */
  cwd?: string;
  timeoutMs?: number;
  /** The memo to use; default: the process's. `null` reads through ansible-inventory every time. */
  cache?: InventoryCache | null;
  /** What runs ansible-inventory (tests count the runs); default: listInventory. */
  run?: (source: string, options: ReadInventoryOptions) => Promise<Inventory>;
}

const STDERR_TAIL_CHARS = 2000;

/** The process's memo of parsed inventories (a worker plans against one or two inventories). */
export const inventoryCache: InventoryCache = createInventoryCache({ maxEntries: 16 });

/** The inventory at `inventoryPath`, from the memo when nothing ansible-inventory reads has changed. */
export async function readInventory(inventoryPath: string, options: ReadInventoryOptions = {}): Promise<Inventory> {
  const source = path.resolve(inventoryPath);
  const found = await stat(source).catch(() => undefined);
  if (!found) throw new Error(`inventory ${source} does not exist`);
  const run = options.run ?? listInventory;
  const cache = options.cache === undefined ? inventoryCache : options.cache;
  if (!cache) return run(source, options);
  const context = { source, cwd: path.resolve(options.cwd ?? process.cwd()), binary: tools.ansibleInventory() };
  return cache.read(context, () => run(source, options));
}

/** Runs `ansible-inventory -i <source> --list` and parses its output; no memo. */
export async function listInventory(inventoryPath: string, options: ReadInventoryOptions = {}): Promise<Inventory> {
  const source = path.resolve(inventoryPath);
  const found = await stat(source).catch(() => undefined);
  if (!found) throw new Error(`inventory ${source} does not exist`);

  const binary = tools.ansibleInventory();
  const args = ['-i', source, '--list'];
  const result = await execa(binary, args, {
    ...(options.cwd ? { cwd: options.cwd } : {}),
    env: {
      ANSIBLE_NOCOLOR: '1',
      ANSIBLE_FORCE_COLOR: '0',
      // Without these, an inventory Ansible cannot parse is a warning and the list is empty.
      ANSIBLE_INVENTORY_UNPARSED_FAILED: 'true',
      ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED: 'true',
    },
    stdin: 'ignore',
    reject: false,
    timeout: options.timeoutMs ?? 60_000,
    maxBuffer: 64 * 1024 * 1024,
  });

  if (result.failed || result.exitCode !== 0) {
    const why = result.timedOut ? `timed out after ${options.timeoutMs ?? 60_000} ms` : `exit code ${result.exitCode ?? result.signal ?? 'unknown'}`;
    const stderr = String(result.stderr ?? '').trim();
    const detail = stderr ? `:\n${stderr.slice(-STDERR_TAIL_CHARS)}` : result.failed && !result.exitCode ? `: ${result.shortMessage}` : '';
    throw new Error(`ansible-inventory could not read ${source} (${why})${detail}`);
  }

  let json: unknown;
  try {
    json = JSON.parse(String(result.stdout));
  } catch (err) {
    throw new Error(`ansible-inventory printed no JSON for ${source}: ${err instanceof Error ? err.message : String(err)}`);
  }
  return parseInventoryList(json);
}
