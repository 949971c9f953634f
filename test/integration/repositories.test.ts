// Chiffon on repositories that have no Chiffon files (test/fixtures/repos, see its README): each is
// scanned, its inventory found and read as Ansible does (real ansible-config and ansible-inventory),
// and the requests a person would make there are decomposed and planned. The plan must be the
// command line the repository's owner would type: the playbook, --tags, the switches, --limit.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { scanCatalog } from '../../services/catalog/catalog.js';
import { readInventory } from '../../services/inventory/inventory.js';
import { locateInventory } from '../../services/inventory/inventory-source.js';
import { decomposeRequest } from '../../domain/decompose.js';
import { planRequest, type PlanResult } from '../../domain/plan.js';
import type { Catalog, Inventory } from '../../domain/types.js';
import { fromProjectRoot } from '../../lib/paths.js';

const reposDir = fromProjectRoot('test', 'fixtures', 'repos');

interface Repository {
  catalog: Catalog;
  inventory: Inventory;
  inventoryDisplay: string;
}

async function open(name: string, dir = path.join(reposDir, name)): Promise<Repository> {
  const [catalog, location] = await Promise.all([scanCatalog(dir), locateInventory(dir, undefined)]);
  const inventory = await readInventory(location.sources, { cwd: dir, cache: null });
  return { catalog, inventory, inventoryDisplay: location.display };
}

function ask(repo: Repository, message: string): PlanResult {
  const decomposed = decomposeRequest(message, repo.catalog);
  if (!decomposed.ok) return { ok: false, message: decomposed.message, missingVars: [] };
  let next = 0;
  return planRequest(
    decomposed.intents,
    repo.catalog,
    repo.inventory,
    { planId: 'p', newTaskId: () => `t${next++}` },
    {},
    { controllerAgent: 'controller' },
  );
}

/** The parts of each step that make its command line. */
function commandLines(result: PlanResult) {
  if (!result.ok) throw new Error(result.message);
  return result.plan.steps.map((s) => ({ playbook: s.playbook, tags: s.tags, limit: s.limit, vars: s.vars, agent: s.agent }));
}

describe('a playbook per service (one-per-service)', () => {
  it('plans the service playbook whole, the fleet update by its verb, and "on <host>" as --limit', async () => {
    const repo = await open('one-per-service');
    expect(repo.inventoryDisplay).toBe('hosts.ini');
    expect(repo.catalog.warnings).toEqual([]);
    expect(repo.catalog.playbooks.map((p) => [p.path, p.service])).toEqual([
      ['deploy-nextcloud.yml', 'nextcloud'],
      ['jellyfin.yml', 'jellyfin'],
      ['update.yml', 'update'],
    ]);
    expect(commandLines(ask(repo, 'install jellyfin'))).toEqual([
      { playbook: 'jellyfin.yml', tags: undefined, limit: undefined, vars: {}, agent: 'controller' },
    ]);
    // "all my servers" names the group `servers` here; without such a group it would be every host.
    expect(commandLines(ask(repo, 'update all my servers'))).toEqual([
      { playbook: 'update.yml', tags: undefined, limit: 'servers', vars: {}, agent: 'controller' },
    ]);
    expect(commandLines(ask(repo, 'update everything'))).toEqual([
      { playbook: 'update.yml', tags: undefined, limit: undefined, vars: {}, agent: 'controller' },
    ]);
    expect(commandLines(ask(repo, 'deploy nextcloud on nc1'))).toMatchObject([{ playbook: 'deploy-nextcloud.yml', limit: 'nc1' }]);
  });

  it('refuses a host the inventory does not have, naming the hosts and groups it has', async () => {
    const repo = await open('one-per-service');
    const result = ask(repo, 'deploy nextcloud on meeseeks');
    expect(result).toMatchObject({ ok: false, message: expect.stringContaining('"meeseeks" is not a host or group of the inventory') });
    expect(!result.ok && result.message).toContain('hosts: jf1, nc1; groups: cloud, media, servers');
  });

  it('says which services exist when nothing in the repository does what is asked', async () => {
    const repo = await open('one-per-service');
    const decomposed = decomposeRequest('reboot the nas', repo.catalog);
    expect(decomposed).toMatchObject({ ok: false, knownServices: ['jellyfin', 'nextcloud', 'update'] });
  });
});

describe('a site playbook of tagged roles with switches (site-roles)', () => {
  it('finds each role with its tag, its switch and where that came from; the inventory under inventories/home', async () => {
    const repo = await open('site-roles');
    expect(repo.inventoryDisplay).toBe('inventories/home');
    expect(repo.catalog.warnings).toEqual([]);
    expect(repo.catalog.playbooks).toHaveLength(10);
    expect(repo.catalog.playbooks.find((p) => p.service === 'sonarr')).toMatchObject({
      path: 'site.yml',
      run: { tags: ['sonarr'], switches: { sonarr_enabled: true } },
      source: 'role sonarr, tag sonarr, switch sonarr_enabled, galaxy_info',
      description: 'Runs sonarr in a container',
      become: true,
    });
  });

  it('"enable sonarr and radarr on the nas" is one run of site.yml with both tags, both switches, limited to the nas', async () => {
    const repo = await open('site-roles');
    expect(commandLines(ask(repo, 'Enable sonarr and radarr on the nas'))).toEqual([
      {
        playbook: 'site.yml',
        tags: ['sonarr', 'radarr'],
        limit: 'nas',
        vars: { sonarr_enabled: true, radarr_enabled: true },
        agent: 'controller',
      },
    ]);
    // Never the whole site: a role alone is its tag and its switch.
    expect(commandLines(ask(repo, 'deploy jellyfin'))).toEqual([
      { playbook: 'site.yml', tags: ['jellyfin'], limit: undefined, vars: { jellyfin_enabled: true }, agent: 'controller' },
    ]);
  });
});

describe('task files imported behind switches, inventory named by ansible.cfg (tasks-switches)', () => {
  it('switches the service on (and selects it by its tag where the import has one)', async () => {
    const repo = await open('tasks-switches');
    expect(repo.inventoryDisplay).toBe('lab.ini');
    expect(repo.inventory.hosts.map((h) => h.name)).toEqual(['box1']);
    expect(commandLines(ask(repo, 'deploy jellyfin'))).toEqual([
      { playbook: 'main.yml', tags: ['jellyfin'], limit: undefined, vars: { jellyfin_enable: true }, agent: 'controller' },
    ]);
    expect(commandLines(ask(repo, 'set up paperless and syncthing'))).toEqual([
      {
        playbook: 'main.yml',
        tags: undefined,
        limit: undefined,
        vars: { paperless_enable: true, syncthing_enable: true },
        agent: 'controller',
      },
    ]);
    expect(repo.catalog.playbooks.find((p) => p.service === 'syncthing')?.source).toBe(
      'include_tasks tasks/syncthing.yml, switch syncthing_enable',
    );
  });
});

describe('per-host plays (per-host-plays)', () => {
  it('knows which hosts each role is applied to and selects it by its tag', async () => {
    const repo = await open('per-host-plays');
    expect(repo.catalog.playbooks.map((p) => [p.service, p.hosts])).toEqual([
      ['docker', 'nas,meeseeks'],
      ['pihole', 'pi'],
      ['plex', 'meeseeks'],
      ['samba', 'nas'],
    ]);
    expect(commandLines(ask(repo, 'deploy samba on nas'))).toEqual([
      { playbook: 'servers.yml', tags: ['samba'], limit: 'nas', vars: {}, agent: 'controller' },
    ]);
    expect(ask(repo, 'deploy samba on pi')).toMatchObject({
      ok: false,
      message: expect.stringContaining('pi is not among the hosts servers.yml applies to'),
    });
  });
});

describe('a cluster play (cluster)', () => {
  it('runs as one step over all its hosts, never split per host', async () => {
    const repo = await open('cluster');
    expect(repo.catalog.playbooks).toMatchObject([{ path: 'k3s.yml', service: 'k3s', coordinated: true, hosts: 'servers,localhost' }]);
    expect(commandLines(ask(repo, 'deploy k3s'))).toEqual([
      { playbook: 'k3s.yml', tags: undefined, limit: undefined, vars: {}, agent: 'controller' },
    ]);
  });

  it('routes to the agent the inventory names, as one step even when hosts name several agents', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chiffon-cluster-'));
    try {
      fs.cpSync(path.join(reposDir, 'cluster'), dir, { recursive: true });
      const hosts = fs.readFileSync(path.join(dir, 'inventory', 'hosts.yml'), 'utf8');
      fs.writeFileSync(
        path.join(dir, 'inventory', 'hosts.yml'),
        hosts.replace('k3s-1: {}', 'k3s-1: { chiffon_agent: rack }').replace('k3s-2: {}', 'k3s-2: { chiffon_agent: shelf }'),
      );
      const repo = await open('cluster', dir);
      expect(commandLines(ask(repo, 'deploy k3s'))).toMatchObject([{ playbook: 'k3s.yml', agent: 'controller' }]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('role argument_specs and vars_prompt (argspecs-prompts)', () => {
  it('asks for what is required and nothing fills, and marks secrets', async () => {
    const repo = await open('argspecs-prompts');
    const vault = repo.catalog.playbooks.find((p) => p.service === 'vaultwarden')!;
    expect(vault.vars).toEqual([
      { name: 'vaultwarden_domain', type: 'str', required: true, description: 'Public name of the vault, e.g. vault.example.org.' },
      { name: 'vaultwarden_admin_token', type: 'str', required: true, description: 'Token of the admin page.', secret: true },
      { name: 'vaultwarden_port', type: 'int', required: false, description: 'Port the container listens on.', ansibleDefault: 8080 },
      { name: 'vaultwarden_signups', type: 'str', required: false, ansibleDefault: 'invite', choices: ['open', 'invite', 'closed'] },
    ]);
    expect(ask(repo, 'deploy vaultwarden')).toEqual({
      ok: false,
      message: 'required variables have no value: vaultwarden.yml: vaultwarden_domain, vaultwarden_admin_token',
      missingVars: [{ playbook: 'vaultwarden.yml', vars: ['vaultwarden_domain', 'vaultwarden_admin_token'] }],
    });
    // Role defaults stay Ansible's: never passed as extra vars (they would override group_vars).
    const decomposed = decomposeRequest('deploy vaultwarden', repo.catalog);
    if (!decomposed.ok) throw new Error(decomposed.message);
    const supplied = { 'vaultwarden.yml': { vaultwarden_domain: 'vault.lan', vaultwarden_admin_token: 's3cret' } };
    const planned = planRequest(decomposed.intents, repo.catalog, repo.inventory, { planId: 'p', newTaskId: () => 't' }, supplied, {
      controllerAgent: 'controller',
    });
    if (!planned.ok) throw new Error(planned.message);
    expect(planned.plan.steps[0]).toMatchObject({
      vars: supplied['vaultwarden.yml'],
      secretVars: expect.arrayContaining(['vaultwarden_admin_token']),
    });

    expect(ask(repo, 'run the backup')).toMatchObject({
      ok: false,
      missingVars: [{ playbook: 'backup.yml', vars: ['backup_passphrase'] }],
    });
    expect(repo.catalog.playbooks.find((p) => p.service === 'backup')!.vars).toEqual([
      { name: 'backup_passphrase', type: 'str', required: true, description: 'Passphrase of the backup archive', secret: true },
      { name: 'backup_target', type: 'str', required: false, description: 'Where the archive goes', default: '/srv/backup' },
    ]);
  });

  it('leaves a required var to Ansible when every target host already has it', async () => {
    const repo = await open('argspecs-prompts');
    const app1 = repo.inventory.hosts.find((h) => h.name === 'app1')!;
    app1.vars.vaultwarden_domain = 'vault.lan';
    expect(ask(repo, 'deploy vaultwarden')).toMatchObject({
      ok: false,
      missingVars: [{ playbook: 'vaultwarden.yml', vars: ['vaultwarden_admin_token'] }],
    });
  });
});

describe('playbooks among compose files, charts, molecule and CI files (mixed-files)', () => {
  it('lists only the playbooks, and warns only about the role that is not installed, saying how to install it', async () => {
    const repo = await open('mixed-files');
    expect(repo.catalog.playbooks.map((p) => p.path)).toEqual(['monitoring.yml', 'web.yml']);
    expect(repo.catalog.warnings).toEqual([
      {
        file: 'monitoring.yml',
        message:
          'uses the role geerlingguy.node_exporter, which is not in the repository; install it with: ansible-galaxy install -r requirements.yml',
      },
    ]);
  });
});
