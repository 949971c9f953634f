// locateInventory (services/inventory/inventory-source.ts) with the real ansible-config and ansible-inventory,
// on small repositories written here: CHIFFON_INVENTORY, then the repository's ansible.cfg, then the
// conventional names; the errors that say what to do; the memo of ansible-config's answer; and the
// repository's ansible.cfg applying to ansible-inventory when planning as it does when running.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { readInventory } from '../../services/inventory/inventory.js';
import {
  askAnsibleConfig,
  InventoryNotFoundError,
  locateInventory,
  type ConfiguredInventory,
  type LocateInventoryOptions,
} from '../../services/inventory/inventory-source.js';
import { createPlanningActivities } from '../../activities/planning.js';
import { loadConfig } from '../../lib/config.js';
import { fromProjectRoot } from '../../lib/paths.js';
import { createTestDatabase } from '../support/test-database.js';

const temps: string[] = [];
afterAll(async () => {
  await Promise.all(temps.map((d) => rm(d, { recursive: true, force: true })));
});

/** A repository with these files (path → content; a path ending in / is a folder). */
async function repoWith(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'chiffon-inventory-source-'));
  temps.push(dir);
  for (const [name, content] of Object.entries(files)) {
    const full = path.join(dir, name);
    if (name.endsWith('/')) {
      await mkdir(full, { recursive: true });
      continue;
    }
    await mkdir(path.dirname(full), { recursive: true });
    await writeFile(full, content);
  }
  return dir;
}

const INI = '[home]\nnas ansible_host=192.0.2.10\n';
const YAML = 'all:\n  children:\n    lab:\n      hosts:\n        pi:\n          ansible_host: 192.0.2.20\n';

let asked: string[];
let options: LocateInventoryOptions;
beforeEach(() => {
  asked = [];
  // A memo of the test's own and a counter of the real ansible-config runs.
  options = {
    memo: new Map(),
    askConfig: (repo: string): Promise<ConfiguredInventory | undefined> => {
      asked.push(repo);
      return askAnsibleConfig(repo);
    },
  };
});

const locate = (repo: string, configured?: string) => locateInventory(repo, configured, options);
const failure = async (promise: Promise<unknown>): Promise<InventoryNotFoundError> => {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(InventoryNotFoundError);
  return err as InventoryNotFoundError;
};

describe('ansible.cfg [defaults] inventory', () => {
  it('is resolved relative to the ansible.cfg, whatever folder the repository is opened from (INI)', async () => {
    const repo = await repoWith({
      'ansible.cfg': '[defaults]\ninventory = ./inventories/home/hosts.ini\n',
      'inventories/home/hosts.ini': INI,
      'inventories/lab/hosts.yml': YAML,
    });
    const cwd = process.cwd();
    process.chdir(os.tmpdir());
    try {
      const found = await locate(path.relative(os.tmpdir(), repo));
      expect(found).toEqual({
        sources: [path.join(repo, 'inventories/home/hosts.ini')],
        origin: 'ansible.cfg',
        display: 'inventories/home/hosts.ini',
      });
    } finally {
      process.chdir(cwd);
    }
    const inventory = await readInventory((await locate(repo)).sources, { cwd: repo, cache: null });
    expect(inventory.hosts.map((h) => [h.name, h.groups])).toEqual([['nas', ['home']]]);
  });

  it('may be a comma list of sources, INI and YAML, each passed as -i', async () => {
    const repo = await repoWith({
      'ansible.cfg': '[defaults]\ninventory = hosts.ini, inventories/lab/hosts.yml\n',
      'hosts.ini': INI,
      'inventories/lab/hosts.yml': YAML,
    });
    const found = await locate(repo);
    expect(found).toEqual({
      sources: [path.join(repo, 'hosts.ini'), path.join(repo, 'inventories/lab/hosts.yml')],
      origin: 'ansible.cfg',
      display: 'hosts.ini,inventories/lab/hosts.yml',
    });
    const inventory = await readInventory(found.sources, { cwd: repo, cache: null });
    expect(inventory.hosts.map((h) => h.name).sort()).toEqual(['nas', 'pi']);
  });

  it('may be a folder, passed as the folder', async () => {
    const repo = await repoWith({ 'ansible.cfg': '[defaults]\ninventory = site/\n', 'site/hosts.ini': INI, 'site/lab.yml': YAML });
    const found = await locate(repo);
    expect(found).toEqual({ sources: [path.join(repo, 'site')], origin: 'ansible.cfg', display: 'site' });
    expect((await readInventory(found.sources, { cwd: repo, cache: null })).hosts.map((h) => h.name).sort()).toEqual(['nas', 'pi']);
  });

  it('names the configured file and the example next to it when only the example is committed', async () => {
    const repo = await repoWith({ 'ansible.cfg': '[defaults]\ninventory = ./inventory.ini\n', 'example.inventory.ini': INI });
    const err = await failure(locate(repo));
    expect(err.message).toBe(
      'ansible.cfg sets inventory = inventory.ini, which does not exist; the repository has example.inventory.ini: copy it to inventory.ini or set CHIFFON_INVENTORY',
    );
  });

  it('says what to do when the configured file is missing and there is no example', async () => {
    const repo = await repoWith({ 'ansible.cfg': '[defaults]\ninventory = ./hosts.ini\n', 'hosts.yml': YAML });
    const err = await failure(locate(repo));
    expect(err.message).toBe(
      'ansible.cfg sets inventory = hosts.ini, which does not exist: create it, fix [defaults] inventory in ansible.cfg or set CHIFFON_INVENTORY',
    );
  });

  it('loses to CHIFFON_INVENTORY, which does not ask ansible-config at all', async () => {
    const repo = await repoWith({ 'ansible.cfg': '[defaults]\ninventory = hosts.ini\n', 'hosts.ini': INI, 'inventory/x.yml': YAML });
    expect(await locate(repo, 'inventory/x.yml')).toEqual({
      sources: [path.join(repo, 'inventory/x.yml')],
      origin: 'CHIFFON_INVENTORY',
      display: 'inventory/x.yml',
    });
    expect(asked).toEqual([]);
    const err = await failure(locate(repo, 'inventory/nope.yml'));
    expect(err.message).toBe(
      'CHIFFON_INVENTORY=inventory/nope.yml names inventory/nope.yml, which does not exist: create it or fix CHIFFON_INVENTORY',
    );
  });
});

describe('conventional names', () => {
  it.each([
    ['inventory/', { 'inventory/hosts.yml': YAML }, 'inventory'],
    ['inventories/<name>/ alone', { 'inventories/home/hosts.ini': INI }, 'inventories/home'],
    ['hosts.ini', { 'hosts.ini': INI, 'example.hosts.yml': YAML }, 'hosts.ini'],
    ['hosts.yml', { 'hosts.yml': YAML }, 'hosts.yml'],
  ])('finds %s', async (_, files, display) => {
    const repo = await repoWith({ 'site.yml': '---\n', ...files });
    const found = await locate(repo);
    expect(found).toEqual({ sources: [path.join(repo, display)], origin: 'convention', display });
    expect((await readInventory(found.sources, { cwd: repo, cache: null })).hosts.length).toBe(1);
  });

  it('names several candidates and how to choose', async () => {
    const repo = await repoWith({ 'inventories/home/hosts.ini': INI, 'inventories/lab/hosts.yml': YAML });
    expect((await failure(locate(repo))).message).toBe(
      'found inventories/home and inventories/lab: set CHIFFON_INVENTORY=inventories/home or [defaults] inventory in ansible.cfg',
    );
    const three = await repoWith({ 'inventory/hosts.yml': YAML, hosts: INI, 'hosts.yml': YAML });
    expect((await failure(locate(three))).message).toBe(
      'found inventory, hosts and hosts.yml: set CHIFFON_INVENTORY=inventory or [defaults] inventory in ansible.cfg',
    );
  });

  it('says what it looked for when there is nothing, and names an example when there is one', async () => {
    const empty = await repoWith({ 'site.yml': '---\n' });
    expect((await failure(locate(empty))).message).toBe(
      `no inventory found in ${empty}: looked for [defaults] inventory in ansible.cfg, inventory/, inventories/<name>/, hosts, hosts.ini, inventory.ini, hosts.yml, inventory.yml; set CHIFFON_INVENTORY`,
    );
    const example = await repoWith({ 'hosts.ini.example': INI });
    expect((await failure(locate(example))).message).toBe(
      `no inventory found in ${example}; the repository has hosts.ini.example: copy it to hosts.ini or set CHIFFON_INVENTORY`,
    );
  });

  it('finds the sample repository inventory/ folder', async () => {
    const repo = fromProjectRoot('playbooks');
    const found = await locate(repo);
    expect(found).toEqual({ sources: [path.join(repo, 'inventory')], origin: 'convention', display: 'inventory' });
    const inventory = await readInventory(found.sources, { cwd: repo, cache: null });
    expect(inventory.hosts.map((h) => h.name)).toEqual(expect.arrayContaining(['localhost', 'portal-1', 'portal-2']));
  });
});

describe('the memo of ansible-config', () => {
  it('asks once while nothing changed, and again when ansible.cfg changes', async () => {
    const repo = await repoWith({ 'ansible.cfg': '[defaults]\ninventory = hosts.ini\n', 'hosts.ini': INI, 'lab.yml': YAML });
    expect((await locate(repo)).display).toBe('hosts.ini');
    expect((await locate(repo)).display).toBe('hosts.ini');
    expect(asked).toHaveLength(1);

    const started = performance.now();
    for (let i = 0; i < 20; i++) await locate(repo);
    expect((performance.now() - started) / 20).toBeLessThan(20);
    expect(asked).toHaveLength(1);

    await writeFile(path.join(repo, 'ansible.cfg'), '[defaults]\ninventory = lab.yml\n');
    expect((await locate(repo)).display).toBe('lab.yml');
    expect(asked).toHaveLength(2);
    await rm(path.join(repo, 'ansible.cfg'));
    // No ansible.cfg any more: Ansible's default (/etc/ansible/hosts) is no choice, so the conventions decide.
    expect(await locate(repo)).toMatchObject({ origin: 'convention', display: 'hosts.ini' });
    expect(asked).toHaveLength(3);
  });

  it('reports what ansible-config printed for the default as nothing configured', async () => {
    const repo = await repoWith({ 'hosts.yml': YAML });
    expect(await askAnsibleConfig(repo)).toBeUndefined();
  });
});

describe("the repository's ansible.cfg when planning", () => {
  it('applies to ansible-inventory run in the repository, as it does to ansible-playbook', async () => {
    const repo = await repoWith({
      // A setting that changes what ansible-inventory lists: files ending .off are not inventory.
      'ansible.cfg': '[defaults]\ninventory = site\n\n[inventory]\nignore_extensions = .off\n',
      'site/hosts.ini': INI,
      'site/retired.off': '[retired]\nold-nas\n',
    });
    const { sources } = await locate(repo);
    const inRepo = await readInventory(sources, { cwd: repo, cache: null });
    const elsewhere = await readInventory(sources, { cwd: os.tmpdir(), cache: null });
    expect(inRepo.hosts.map((h) => h.name)).toEqual(['nas']);
    expect(elsewhere.hosts.map((h) => h.name).sort()).toEqual(['nas', 'old-nas']);
  });

  it('makes the plan activity answer unplannable with the message, never throw', async () => {
    const database = await createTestDatabase();
    try {
      const repo = await repoWith({
        'ansible.cfg': '[defaults]\ninventory = ./hosts.ini\n',
        'example.hosts.ini': INI,
        'site.yml': '---\n- hosts: all\n  tasks: []\n',
      });
      const config = { ...loadConfig({}), playbookRepo: repo };
      const decomposer = Object.assign(
        async (): Promise<never> => {
          throw new Error('not used');
        },
        { providers: [] },
      );
      const { plan } = createPlanningActivities(config, database.prisma, decomposer);
      expect(await plan([])).toEqual({
        ok: false,
        message:
          'ansible.cfg sets inventory = hosts.ini, which does not exist; the repository has example.hosts.ini: copy it to hosts.ini or set CHIFFON_INVENTORY',
        missingVars: [],
      });
      await writeFile(path.join(repo, 'hosts.ini'), '[home\nnas\n');
      const broken = await plan([]);
      expect(broken).toMatchObject({
        ok: false,
        missingVars: [],
        message: expect.stringMatching(/^cannot read the inventory: ansible-inventory could not read .*hosts\.ini/),
      });
    } finally {
      await database.drop();
    }
  });
});
