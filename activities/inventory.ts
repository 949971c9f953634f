// Reads the inventory through `ansible-inventory --list`, so every inventory format and plugin
// Ansible understands (YAML, INI, folders with group_vars/host_vars) reads the same way.
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { parseInventoryList } from '../domain/inventory.js';
import type { Inventory } from '../domain/types.js';
import { tools } from '../lib/tools.js';

export interface ReadInventoryOptions {
  /** Working folder of ansible-inventory (where it would read an ansible.cfg); default: this process's. */
  cwd?: string;
  timeoutMs?: number;
}

const STDERR_TAIL_CHARS = 2000;

export async function readInventory(inventoryPath: string, options: ReadInventoryOptions = {}): Promise<Inventory> {
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
