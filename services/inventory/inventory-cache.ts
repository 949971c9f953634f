// A process-local memo of parsed inventories, so `ansible-inventory --list` (a Python process,
// 0.6-0.7 s) runs only when what it reads has changed, not on every plan.
//
// The memo is keyed by the inventory's sources (one or several `-i`, in order) and working folder and
// holds the sha256 of everything `ansible-inventory --list` reads for them, for each source:
//   - a file inventory: the file, and every file under the group_vars/ and host_vars/ folders next
//     to it (Ansible's host_group_vars plugin reads those relative to the inventory source's folder);
//   - a folder inventory: every file below the folder (Ansible reads each file of it as an inventory
//     source and each group_vars/ host_vars/ at every level: hashing them all is a superset);
//   - the ansible.cfg files Ansible may read (ANSIBLE_CONFIG, ./ansible.cfg of the working folder,
//     ~/.ansible.cfg, /etc/ansible/ansible.cfg), the ANSIBLE_* environment and the binary's path:
//     they choose the inventory and vars plugins.
// Names starting with '.' are left out, as Ansible leaves them out of folder inventories and vars
// folders. A lookup re-hashes those files (well under a millisecond for a homelab inventory), so a
// change made by anything (an editor, git pull) is seen on the next plan.
//
// Not cached, read every time: inventories whose output does not follow from their files, i.e. an
// executable file (an inventory script) or a YAML file naming an inventory `plugin:` (cloud and
// other dynamic plugins); and inventories too large to hash cheaply (a source of more than MAX_FILES
// files or MAX_BYTES bytes). Failures are never cached. Callers get their own copy of the inventory.
import { createHash } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Inventory } from '../../domain/types.js';

export interface InventoryReadContext {
  /** The inventory's sources (absolute paths, each an `-i`, in order). */
  sources: string[];
  /** ansible-inventory's working folder (where it reads ./ansible.cfg). */
  cwd: string;
  /** The ansible-inventory binary. */
  binary: string;
}

/** Runs ansible-inventory (or, in tests, anything standing in for it). */
export type InventoryLoader = () => Promise<Inventory>;

export interface InventoryCacheOptions {
  /** Inventories (path and working folder) remembered at once; the least recently used goes first. Default 16. */
  maxEntries?: number;
}

export interface InventoryCache {
  /** The inventory for `context`, from the memo when nothing it reads has changed; `load` otherwise. */
  read(context: InventoryReadContext, load: InventoryLoader): Promise<Inventory>;
  /** Forgets everything (tests). */
  clear(): void;
  readonly size: number;
}

const MAX_FILES = 2_000;
const MAX_BYTES = 16 * 1024 * 1024;
const VARS_DIRS = ['group_vars', 'host_vars'];
/** A YAML inventory plugin configuration (`plugin: amazon.aws.aws_ec2`, `plugin: constructed`, ...). */
const PLUGIN_CONFIG = /^plugin\s*:/m;

/** Why an inventory is read every time instead of from the memo. */
export type Uncacheable = { uncacheable: string };

export function createInventoryCache(options: InventoryCacheOptions = {}): InventoryCache {
  const maxEntries = Math.max(1, options.maxEntries ?? 16);
  /** By path and working folder: the hash of what was read and the result. Map order = recency. */
  const entries = new Map<string, { hash: string; inventory: Inventory }>();
  /** Runs in flight, by content hash: concurrent plans share one ansible-inventory. */
  const inflight = new Map<string, Promise<Inventory>>();

  const remember = (slot: string, hash: string, inventory: Inventory) => {
    entries.delete(slot);
    entries.set(slot, { hash, inventory });
    while (entries.size > maxEntries) entries.delete(entries.keys().next().value!);
  };

  return {
    async read(context, load) {
      const hash = await inventoryContentHash(context);
      if (typeof hash !== 'string') return load();
      const slot = `${context.sources.join('\0')}\0\0${context.cwd}`;
      const known = entries.get(slot);
      if (known?.hash === hash) {
        remember(slot, hash, known.inventory);
        return structuredClone(known.inventory);
      }
      let running = inflight.get(hash);
      if (!running) {
        running = (async () => {
          const inventory = await load();
          // Kept only if the files did not change while ansible-inventory read them: otherwise the
          // result might belong to other content than `hash` says.
          if ((await inventoryContentHash(context)) === hash) remember(slot, hash, inventory);
          return inventory;
        })().finally(() => inflight.delete(hash));
        inflight.set(hash, running);
      }
      return structuredClone(await running);
    },
    clear() {
      entries.clear();
    },
    get size() {
      return entries.size;
    },
  };
}

/** sha256 over everything `ansible-inventory --list` reads for `context`, or why it cannot be cached. */
export async function inventoryContentHash(context: InventoryReadContext): Promise<string | Uncacheable> {
  const hash = createHash('sha256');
  const part = (label: string, value: string | Buffer) => {
    const length = typeof value === 'string' ? Buffer.byteLength(value) : value.length;
    hash.update(`${label}:${length}:`);
    hash.update(value);
  };
  part('binary', context.binary);
  for (const source of context.sources) part('source', source);
  part('cwd', context.cwd);
  for (const [name, value] of Object.entries(process.env)
    .filter(([name]) => name.startsWith('ANSIBLE_'))
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    part(`env:${name}`, value ?? '');
  }
  const configs = [
    process.env.ANSIBLE_CONFIG,
    path.join(context.cwd, 'ansible.cfg'),
    path.join(os.homedir(), '.ansible.cfg'),
    '/etc/ansible/ansible.cfg',
  ];
  for (const config of configs) {
    if (!config) continue;
    const bytes = await readFile(config).catch(() => undefined);
    part(`config:${config}`, bytes ?? 'missing');
  }

  for (const source of context.sources) {
    const why = await hashSource(source, part);
    if (why) return why;
  }
  return hash.digest('hex');
}

/** Hashes (through `part`) every file ansible-inventory reads for one source, or says why it cannot be cached. */
async function hashSource(source: string, part: (label: string, value: string | Buffer) => void): Promise<Uncacheable | undefined> {
  part('files-of', source);
  const files: { file: string; inventory: boolean }[] = [];
  const found = await stat(source).catch(() => undefined);
  if (!found) return { uncacheable: 'the inventory does not exist' };
  const walk = async (dir: string, inventory: boolean): Promise<Uncacheable | undefined> => {
    let names;
    try {
      names = (await readdir(dir, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined;
      return { uncacheable: `cannot list ${dir}` };
    }
    for (const entry of names) {
      if (entry.name.startsWith('.')) continue;
      const full = path.join(dir, entry.name);
      // Symbolic links are followed (stat), as Ansible follows them.
      const info = entry.isSymbolicLink() ? await stat(full).catch(() => undefined) : entry;
      if (!info) continue;
      if (info.isDirectory()) {
        const why = await walk(full, inventory && !VARS_DIRS.includes(entry.name));
        if (why) return why;
      } else if (info.isFile()) {
        files.push({ file: full, inventory });
        if (files.length > MAX_FILES) return { uncacheable: `more than ${MAX_FILES} files` };
      }
    }
    return undefined;
  };
  if (found.isDirectory()) {
    const why = await walk(source, true);
    if (why) return why;
  } else {
    files.push({ file: source, inventory: true });
    for (const dir of VARS_DIRS) {
      const why = await walk(path.join(path.dirname(source), dir), false);
      if (why) return why;
    }
  }

  let bytes = 0;
  for (const { file, inventory } of files) {
    const [content, info] = await Promise.all([readFile(file).catch(() => undefined), stat(file).catch(() => undefined)]);
    if (!content || !info) return { uncacheable: `cannot read ${file}` };
    bytes += content.length;
    if (bytes > MAX_BYTES) return { uncacheable: `more than ${MAX_BYTES} bytes` };
    if (inventory) {
      if (info.mode & 0o111) return { uncacheable: `${file} is executable (an inventory script)` };
      if (PLUGIN_CONFIG.test(content.toString('utf8'))) return { uncacheable: `${file} configures an inventory plugin` };
    }
    part(`file:${path.relative(source, file)}`, content);
  }
  return undefined;
}
