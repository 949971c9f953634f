// The sample playbook repository (playbooks/) end to end: its catalog, its inventory, and the real
// ansible-playbook running each playbook against localhost with a throw-away chiffon_state_dir.
import { lstat, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scanCatalog } from '../../services/catalog/catalog.js';
import { readInventory } from '../../services/inventory/inventory.js';
import { hostsInGroup } from '../../domain/inventory.js';
import type { Inventory } from '../../domain/types.js';
import { fromProjectRoot } from '../../lib/paths.js';
import { tools } from '../../lib/tools.js';

const repo = fromProjectRoot('playbooks');
const inventoryPath = path.join(repo, 'inventory', 'hosts.yml');

const temps: string[] = [];
async function tempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  temps.push(dir);
  return dir;
}
afterAll(async () => {
  await Promise.all(temps.map((d) => rm(d, { recursive: true, force: true })));
});

/** Every file and folder under `dir` (relative, `/`-separated), with size and mtime for files. */
async function tree(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const walk = async (current: string): Promise<void> => {
    for (const entry of await readdir(current, { withFileTypes: true })) {
      const full = path.join(current, entry.name);
      const rel = path.relative(dir, full).split(path.sep).join('/');
      if (entry.isDirectory()) {
        out.set(`${rel}/`, 'dir');
        await walk(full);
      } else {
        const s = await lstat(full);
        out.set(rel, `${s.size}:${s.mtimeMs}`);
      }
    }
  };
  await walk(dir);
  return out;
}

interface Run {
  /** The temp folder of this run: state/, an empty cwd/, home/ (HOME and ANSIBLE_HOME), vars-*.json. */
  root: string;
  stateDir: string;
  exitCode: number | undefined;
  output: string;
}

/**
 * Runs playbooks one after the other in a fresh sandbox, as Chiffon does: argument array, no shell,
 * extra vars in a 0600 JSON file passed with `-e @file`, chiffon_state_dir inside the sandbox.
 */
async function runInSandbox(
  steps: { playbook: string; vars?: Record<string, unknown>; stateDir?: (root: string) => unknown }[],
): Promise<Run[]> {
  const root = await tempDir('chiffon-playbook-run-');
  const stateDir = path.join(root, 'state');
  const cwd = path.join(root, 'cwd');
  const home = path.join(root, 'home');
  await Promise.all([mkdir(stateDir), mkdir(cwd), mkdir(home)]);
  const runs: Run[] = [];
  for (const [i, step] of steps.entries()) {
    const vars: Record<string, unknown> = { ...step.vars };
    const stateValue = step.stateDir ? step.stateDir(root) : stateDir;
    if (stateValue !== undefined) vars.chiffon_state_dir = stateValue;
    const varsFile = path.join(root, `vars-${i}.json`);
    await writeFile(varsFile, JSON.stringify(vars), { mode: 0o600 });
    const result = await execa(tools.ansiblePlaybook(), ['-i', inventoryPath, '-e', `@${varsFile}`, path.join(repo, step.playbook)], {
      cwd,
      env: {
        HOME: home,
        ANSIBLE_HOME: path.join(home, '.ansible'),
        ANSIBLE_LOCAL_TEMP: path.join(home, '.ansible', 'tmp'),
        ANSIBLE_REMOTE_TEMP: path.join(home, '.ansible', 'remote-tmp'),
        ANSIBLE_NOCOLOR: '1',
        ANSIBLE_RETRY_FILES_ENABLED: 'false',
        ANSIBLE_STDOUT_CALLBACK: 'default',
      },
      stdin: 'ignore',
      reject: false,
      all: true,
      timeout: 60_000,
    });
    runs.push({ root, stateDir, exitCode: result.exitCode, output: String(result.all ?? '') });
  }
  return runs;
}

/** Regular files of a sandbox outside state/, except the vars files the test wrote itself. */
async function filesOutsideState(root: string): Promise<string[]> {
  const all = await tree(root);
  return [...all.entries()]
    .filter(([rel, kind]) => kind !== 'dir' && !rel.startsWith('state/') && !/^vars-\d+\.json$/.test(rel))
    .map(([rel]) => rel);
}

describe('the sample playbook catalog', () => {
  it('finds the four playbooks with their metadata and no warnings', async () => {
    const catalog = await scanCatalog(repo);
    expect(catalog.warnings).toEqual([]);
    expect(catalog.playbooks.map((p) => p.path)).toEqual([
      'failure-drill.yml',
      'kuma-config-update.yml',
      'kuma-deploy.yml',
      'postgres-setup.yml',
    ]);
    const byPath = Object.fromEntries(catalog.playbooks.map((p) => [p.path, p]));

    expect(byPath['kuma-deploy.yml']).toMatchObject({
      service: 'kuma',
      aliases: ['uptime kuma', 'kuma uptime', 'uptime-kuma'],
      intents: [{ name: 'deploy_kuma', verbs: ['deploy', 'install', 'set up', 'start'], objects: [] }],
      after: [],
    });
    expect(byPath['kuma-deploy.yml']!.vars).toContainEqual(
      expect.objectContaining({ name: 'kuma_port', type: 'int', required: false, default: 3001 }),
    );

    expect(byPath['kuma-config-update.yml']).toMatchObject({
      service: 'kuma',
      intents: [
        { name: 'add_portals_to_config', verbs: ['add', 'include', 'register', 'monitor'], objects: ['portals'] },
        { name: 'configure_kuma', verbs: ['configure', 'update', 'reconfigure'], objects: [] },
      ],
      after: ['kuma-deploy.yml'],
    });
    expect(byPath['kuma-config-update.yml']!.vars).toContainEqual(
      expect.objectContaining({ name: 'kuma_monitors', type: 'list', required: true, fromInventoryGroup: 'portals' }),
    );

    expect(byPath['postgres-setup.yml']).toMatchObject({
      service: 'postgres',
      aliases: ['postgresql', 'database'],
      intents: [{ name: 'setup_postgres' }],
    });
    expect(byPath['postgres-setup.yml']!.vars).toContainEqual(
      expect.objectContaining({ name: 'postgres_superuser_password', secret: true, required: false }),
    );

    expect(byPath['failure-drill.yml']).toMatchObject({
      service: 'failure-drill',
      aliases: ['failure drill', 'drill'],
      intents: [{ name: 'run_failure_drill', verbs: ['run', 'start', 'trigger'], objects: [] }],
      vars: [],
    });
  });

  it('reports bad files as warnings and keeps scanning', async () => {
    const dir = await tempDir('chiffon-catalog-');
    const files: Record<string, string> = {
      'good.yml': '- hosts: homelab\n  tasks: []\n',
      'good.meta.yml':
        'argument_specs:\n  main:\n    options: {}\n    chiffon:\n      service: good\n      intents: [{name: do_good, verbs: [do]}]\n      after: [nested/deep.yml, missing.yml]\n',
      'no-meta.yaml': '- hosts: homelab\n  tasks: []\n',
      'broken.yml': '- hosts: homelab\n',
      'broken.meta.yml': 'argument_specs:\n  main:\n    options: {kuma_port: {type: int\n',
      'not-a-playbook.yml': 'just: a mapping\n',
      'not-a-playbook.meta.yml': 'argument_specs:\n  main:\n    options: {}\n    chiffon: {service: x, intents: [{name: x, verbs: [x]}]}\n',
      'orphan.meta.yml': 'argument_specs: {}\n',
      'nested/deep.yml': '- hosts: homelab\n  tasks: []\n',
      'nested/deep.meta.yaml':
        'argument_specs:\n  main:\n    options: {}\n    chiffon:\n      service: deep\n      intents: [{name: do_good, verbs: [go]}]\n      after: [../good.yml]\n',
      'inventory/hosts.yml': 'all: {}\n',
      'group_vars/all.yml': 'x: 1\n',
      'nested/host_vars/h.yml': 'x: 1\n',
      'roles/r/tasks/main.yml': '- name: t\n',
      '.github/workflows/ci.yml': 'on: push\n',
      'templates/compose.yml': 'services: {}\n',
      'docker-compose.yml': 'services:\n  web:\n    image: nginx\n',
      'charts/app/Chart.yaml': 'apiVersion: v2\nname: app\n',
      'charts/app/templates/deploy.yaml': 'kind: Deployment\nmetadata: {name: {{ .Release.Name }}}\n',
      'requirements.yml': '- src: geerlingguy.docker\n',
      'molecule/default/converge.yml': '- hosts: all\n  roles: [r]\n',
      'vars.yml': 'x: 1\n',
    };
    for (const [rel, text] of Object.entries(files)) {
      await mkdir(path.dirname(path.join(dir, rel)), { recursive: true });
      await writeFile(path.join(dir, rel), text);
    }

    const catalog = await scanCatalog(dir);
    expect(catalog.playbooks.map((p) => [p.path, p.after])).toEqual([
      ['good.yml', ['nested/deep.yml', 'missing.yml']],
      ['nested/deep.yml', ['good.yml']],
      ['no-meta.yaml', []],
    ]);
    // Without metadata, what the playbook does is read from the playbook itself (its file name here).
    expect(catalog.playbooks.find((p) => p.path === 'no-meta.yaml')).toMatchObject({ service: 'no-meta', source: 'file no-meta.yaml' });
    const byFile = (file: string) => catalog.warnings.filter((w) => w.file === file).map((w) => w.message);
    expect(byFile('no-meta.yaml')).toEqual([]);
    expect(catalog.warnings.find((w) => w.file === 'broken.meta.yml')).toMatchObject({
      line: expect.any(Number),
      message: expect.stringMatching(/^YAML: /),
    });
    expect(byFile('broken.yml')).toEqual([expect.stringContaining('not valid')]);
    expect(byFile('not-a-playbook.yml')).toEqual([expect.stringContaining('not a playbook')]);
    expect(byFile('orphan.meta.yml')).toEqual([expect.stringContaining('without a playbook')]);
    expect(byFile('good.yml')).toEqual([expect.stringContaining('missing.yml')]);
    expect(byFile('nested/deep.yml')).toEqual([expect.stringContaining('intent do_good is also declared by good.yml')]);
    // Nothing from the folders that hold no playbooks.
    expect(catalog.warnings.filter((w) => /^(inventory|group_vars|nested\/host_vars|roles|\.github|templates)\//.test(w.file))).toEqual([]);
    // Nor from YAML that is no playbook: compose files, charts, requirements, molecule, vars.
    expect(catalog.warnings.filter((w) => /^(docker-compose|charts|requirements|molecule|vars)/.test(w.file))).toEqual([]);
  });

  it('refuses a repository that is not a folder', async () => {
    await expect(scanCatalog(path.join(os.tmpdir(), 'chiffon-no-such-repo'))).rejects.toThrow(/is not a directory/);
  });
});

describe('the sample inventory', () => {
  let inventory: Inventory;
  beforeAll(async () => {
    inventory = await readInventory(inventoryPath);
  });

  it('has the portals with their URLs and localhost in homelab', () => {
    expect(hostsInGroup(inventory, 'portals').map((h) => ({ name: h.name, url: h.vars.portal_url }))).toEqual([
      { name: 'portal-1', url: 'https://portal-1.homelab.lan' },
      { name: 'portal-2', url: 'https://portal-2.homelab.lan' },
    ]);
    expect(hostsInGroup(inventory, 'homelab')).toEqual([
      { name: 'localhost', groups: ['homelab'], vars: expect.objectContaining({ ansible_connection: 'local' }) },
    ]);
  });

  it('fails clearly for a missing or broken inventory', async () => {
    await expect(readInventory(path.join(os.tmpdir(), 'chiffon-no-such-inventory.yml'))).rejects.toThrow(/does not exist/);
    const dir = await tempDir('chiffon-inventory-');
    const broken = path.join(dir, 'hosts.yml');
    await writeFile(broken, 'all:\n  hosts: [oops\n');
    await expect(readInventory(broken)).rejects.toThrow(/ansible-inventory could not read .*hosts\.yml \(exit code \d+\)/s);
  });
});

describe('running the sample playbooks', () => {
  let repoBefore: Map<string, string>;
  let deployThenUpdate: Run[];
  let updateAlone: Run[];
  let drill: Run[];
  let postgres: Run[];
  let withoutStateDir: Run[];
  let monitors: Record<string, unknown>[];

  beforeAll(async () => {
    repoBefore = await tree(repo);
    const inventory = await readInventory(inventoryPath);
    // What the planner passes: each portal as {name, ...its host vars without ansible_*}; plus a
    // monitor given as {name, url}, the other shape the playbook accepts.
    monitors = [
      ...hostsInGroup(inventory, 'portals').map((h) => ({ name: h.name, portal_url: h.vars.portal_url })),
      { name: 'status-page', url: 'https://status.homelab.lan/health' },
    ];
    // Independent sandboxes run in parallel; the steps inside one run in order.
    [deployThenUpdate, updateAlone, drill, postgres, withoutStateDir] = await Promise.all([
      runInSandbox([
        { playbook: 'kuma-deploy.yml', vars: { kuma_port: 3101 } },
        { playbook: 'kuma-config-update.yml', vars: { kuma_monitors: monitors } },
      ]),
      runInSandbox([{ playbook: 'kuma-config-update.yml', vars: { kuma_monitors: monitors } }]),
      runInSandbox([{ playbook: 'failure-drill.yml' }]),
      runInSandbox([
        { playbook: 'postgres-setup.yml', vars: { postgres_databases: ['app', 'grafana'], postgres_superuser_password: 's3cret-pw' } },
      ]),
      runInSandbox([
        { playbook: 'kuma-deploy.yml', stateDir: () => undefined },
        { playbook: 'postgres-setup.yml', stateDir: () => 'relative/state' },
      ]),
    ]);
  });

  it('kuma-deploy then kuma-config-update write the compose file and the portals as monitors', async () => {
    const [deploy, update] = deployThenUpdate as [Run, Run];
    expect(deploy.exitCode, deploy.output).toBe(0);
    expect(update.exitCode, update.output).toBe(0);

    const compose = await readFile(path.join(deploy.stateDir, 'kuma', 'docker-compose.yml'), 'utf8');
    expect(compose).toContain('image: louislam/uptime-kuma:1');
    expect(compose).toContain('"3101:3001"');
    expect(compose).toContain('./data:/app/data');
    expect((await lstat(path.join(deploy.stateDir, 'kuma', 'data'))).isDirectory()).toBe(true);

    const written = JSON.parse(await readFile(path.join(deploy.stateDir, 'kuma', 'monitors.json'), 'utf8'));
    expect(written).toEqual({
      managed_by: 'chiffon',
      monitors: [
        { name: 'portal-1', type: 'http', url: 'https://portal-1.homelab.lan', interval: 60 },
        { name: 'portal-2', type: 'http', url: 'https://portal-2.homelab.lan', interval: 60 },
        { name: 'status-page', type: 'http', url: 'https://status.homelab.lan/health', interval: 60 },
      ],
    });
    expect([...(await tree(deploy.stateDir)).keys()].sort()).toEqual([
      'kuma/',
      'kuma/data/',
      'kuma/docker-compose.yml',
      'kuma/monitors.json',
    ]);
  });

  it('kuma-config-update alone fails with a clear message and writes nothing', async () => {
    const [run] = updateAlone as [Run];
    expect(run.exitCode).toBe(2);
    expect(run.output).toContain(
      `Uptime Kuma is not deployed: ${run.stateDir}/kuma/docker-compose.yml is missing. Run kuma-deploy.yml first.`,
    );
    expect(await tree(run.stateDir)).toEqual(new Map());
  });

  it('failure-drill fails after a task that succeeded', async () => {
    const [run] = drill as [Run];
    expect(run.exitCode).toBe(2);
    expect(run.output).toContain('failure drill - this task fails on purpose');
    expect(run.output).toMatch(/failed=1/);
    const startedAt = await readFile(path.join(run.stateDir, 'failure-drill', 'started-at'), 'utf8');
    expect(startedAt.trim()).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  });

  it('postgres-setup writes its configuration, and the secret only to a 0600 file', async () => {
    const [run] = postgres as [Run];
    expect(run.exitCode, run.output).toBe(0);
    const conf = await readFile(path.join(run.stateDir, 'postgres', 'postgresql.conf'), 'utf8');
    expect(conf).toContain('port = 5432');
    expect(conf).toContain("listen_addresses = 'localhost'");
    expect(conf).toContain('max_connections = 100');
    expect(JSON.parse(await readFile(path.join(run.stateDir, 'postgres', 'databases.json'), 'utf8'))).toEqual({
      version: '16',
      databases: ['app', 'grafana'],
    });
    const secretFile = path.join(run.stateDir, 'postgres', 'superuser-password');
    expect(await readFile(secretFile, 'utf8')).toBe('s3cret-pw');
    expect((await lstat(secretFile)).mode & 0o777).toBe(0o600);
    expect(run.output).not.toContain('s3cret-pw');
  });

  it('refuses to run without an absolute chiffon_state_dir', async () => {
    const [missing, relative] = withoutStateDir as [Run, Run];
    for (const run of [missing, relative]) {
      expect(run.exitCode).toBe(2);
      expect(run.output).toContain('chiffon_state_dir must be set to an absolute directory path');
    }
    expect(await filesOutsideState(missing.root)).toEqual([]);
    expect(await tree(missing.stateDir)).toEqual(new Map());
  });

  it('writes nothing outside the state directory', async () => {
    for (const [run] of [deployThenUpdate, updateAlone, drill, postgres, withoutStateDir] as Run[][]) {
      expect(await filesOutsideState(run!.root), run!.root).toEqual([]);
      expect(await tree(path.join(run!.root, 'cwd'))).toEqual(new Map());
    }
    expect(await tree(repo)).toEqual(repoBefore);
  });
});
