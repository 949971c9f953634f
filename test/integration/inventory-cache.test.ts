// The inventory memo (services/inventory/inventory-cache.ts) with the real ansible-inventory: a second read
// of an unchanged inventory runs nothing, and any change to what ansible-inventory reads (the file,
// group_vars/host_vars next to it, a file of a folder inventory) is read again.
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { hostsInGroup } from '../../domain/inventory.js';
import type { Inventory } from '../../domain/types.js';
import { createInventoryCache, inventoryContentHash, type InventoryCache } from '../../services/inventory/inventory-cache.js';
import { listInventory, readInventory, type ReadInventoryOptions } from '../../services/inventory/inventory.js';

const temps: string[] = [];
afterAll(async () => {
  await Promise.all(temps.map((d) => rm(d, { recursive: true, force: true })));
});
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'chiffon-inventory-cache-'));
  temps.push(dir);
  return dir;
}

const HOSTS = `all:
  children:
    homelab:
      hosts:
        localhost:
          ansible_connection: local
    portals:
      hosts:
        portal-1:
          portal_url: https://portal-1.homelab.lan
`;

let cache: InventoryCache;
let runs: string[];
/** readInventory with a memo of the test's own and a runner that counts the real ansible-inventory runs. */
const read = (file: string) => {
  const options: ReadInventoryOptions = {
    cache,
    run: (source, opts) => {
      runs.push(source.join(','));
      return listInventory(source, opts);
    },
  };
  return readInventory(file, options);
};
const portalUrl = (inventory: Inventory) => hostsInGroup(inventory, 'portals').map((h) => h.vars.portal_url);

beforeEach(() => {
  cache = createInventoryCache({ maxEntries: 4 });
  runs = [];
});

describe('the inventory memo', () => {
  it('runs ansible-inventory once for an unchanged file and again when the file changes', async () => {
    const dir = await tempDir();
    const file = path.join(dir, 'hosts.yml');
    await writeFile(file, HOSTS);

    const first = await read(file);
    expect(portalUrl(first)).toEqual(['https://portal-1.homelab.lan']);
    expect(runs).toHaveLength(1);

    const second = await read(file);
    expect(second).toEqual(first);
    expect(runs).toHaveLength(1);
    // Each caller gets its own copy: changing one changes nothing in the memo.
    second.hosts[0]!.vars.changed = true;
    expect((await read(file)).hosts[0]!.vars.changed).toBeUndefined();
    expect(runs).toHaveLength(1);

    await writeFile(file, HOSTS.replace('portal-1.homelab.lan', 'portal-1.example.org'));
    expect(portalUrl(await read(file))).toEqual(['https://portal-1.example.org']);
    expect(runs).toHaveLength(2);
    await read(file);
    expect(runs).toHaveLength(2);
  });

  it('reads again when group_vars or host_vars next to the file change', async () => {
    const dir = await tempDir();
    const file = path.join(dir, 'hosts.yml');
    await writeFile(file, HOSTS);
    await mkdir(path.join(dir, 'group_vars'));
    await writeFile(path.join(dir, 'group_vars', 'portals.yml'), 'portal_owner: media\n');

    const owner = async () => hostsInGroup(await read(file), 'portals')[0]!.vars;
    expect(await owner()).toMatchObject({ portal_owner: 'media' });
    expect(await owner()).toMatchObject({ portal_owner: 'media' });
    expect(runs).toHaveLength(1);

    await writeFile(path.join(dir, 'group_vars', 'portals.yml'), 'portal_owner: family\n');
    expect(await owner()).toMatchObject({ portal_owner: 'family' });
    expect(runs).toHaveLength(2);

    await mkdir(path.join(dir, 'host_vars'));
    await writeFile(path.join(dir, 'host_vars', 'portal-1.yml'), 'portal_rack: 2\n');
    expect(await owner()).toMatchObject({ portal_owner: 'family', portal_rack: 2 });
    expect(runs).toHaveLength(3);
  });

  it('caches a folder inventory and reads it again when any file in it changes', async () => {
    const dir = path.join(await tempDir(), 'inventory');
    await mkdir(path.join(dir, 'group_vars'), { recursive: true });
    await writeFile(path.join(dir, 'hosts.yml'), HOSTS);
    await writeFile(path.join(dir, 'group_vars', 'all.yml'), 'homelab_domain: homelab.lan\n');

    expect((await read(dir)).hosts.map((h) => h.name)).toEqual(['localhost', 'portal-1']);
    await read(dir);
    expect(runs).toHaveLength(1);

    await writeFile(path.join(dir, 'more.yml'), 'all:\n  hosts:\n    nas:\n');
    expect((await read(dir)).hosts.map((h) => h.name)).toEqual(['localhost', 'nas', 'portal-1']);
    expect(runs).toHaveLength(2);
  });

  it('shares one run between concurrent reads', async () => {
    const dir = await tempDir();
    const file = path.join(dir, 'hosts.yml');
    await writeFile(file, HOSTS);
    const all = await Promise.all(Array.from({ length: 5 }, () => read(file)));
    expect(new Set(all.map((i) => JSON.stringify(i))).size).toBe(1);
    expect(runs).toHaveLength(1);
  });

  it('never caches a failure', async () => {
    const dir = await tempDir();
    const file = path.join(dir, 'hosts.yml');
    await writeFile(file, 'all:\n  hosts: [oops\n');
    await expect(read(file)).rejects.toThrow(/ansible-inventory could not read/);
    await expect(read(file)).rejects.toThrow(/ansible-inventory could not read/);
    expect(runs).toHaveLength(2);
    await writeFile(file, HOSTS);
    expect(portalUrl(await read(file))).toEqual(['https://portal-1.homelab.lan']);
  });

  it('reads inventory scripts and plugin configurations every time', async () => {
    const dir = await tempDir();
    const script = path.join(dir, 'inventory.sh');
    await writeFile(script, '#!/bin/sh\necho \'{"homelab": {"hosts": ["localhost"]}, "_meta": {"hostvars": {}}}\'\n');
    await chmod(script, 0o755);
    expect(await inventoryContentHash({ sources: [script], cwd: dir, binary: 'x' })).toEqual({
      uncacheable: expect.stringMatching(/executable/),
    });
    const plugin = path.join(dir, 'aws_ec2.yml');
    await writeFile(plugin, 'plugin: amazon.aws.aws_ec2\nregions: [eu-west-1]\n');
    expect(await inventoryContentHash({ sources: [plugin], cwd: dir, binary: 'x' })).toEqual({
      uncacheable: expect.stringMatching(/plugin/),
    });

    expect((await read(script)).hosts.map((h) => h.name)).toEqual(['localhost']);
    await read(script);
    expect(runs).toHaveLength(2);
    expect(cache.size).toBe(0);
  });

  it('remembers at most maxEntries inventories', async () => {
    const dir = await tempDir();
    const fake = async () => ({ hosts: [] });
    for (let i = 0; i < 6; i++) {
      const file = path.join(dir, `hosts-${i}.yml`);
      await writeFile(file, `all:\n  hosts:\n    h${i}:\n`);
      await readInventory(file, { cache, run: fake });
    }
    expect(cache.size).toBe(4);
  });
});
