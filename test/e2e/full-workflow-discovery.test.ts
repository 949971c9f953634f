// E2E-02 config discovery, on the real stack (Temporal dev server, PostgreSQL, a Chiffon worker, the
// HTTP API): the playbook repository is scanned into the catalog (GET /playbooks), the inventory's
// portals are found and proposed for the kuma request, and the scan's results land in
// playbook_cache. The repository is a copy of the samples with one malformed metadata file next to
// them, which must be a warning with its file and line and stop nothing.
//
// Written to be merged into full-workflow.test.ts; until then it runs alone:
//   npx vitest run test/e2e/full-workflow-discovery.test.ts
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { once, playbookRepoCopy, startServices, startStack, type E2EServices, type Stack } from '../support/e2e-stack.js';

const KUMA_REQUEST = 'Deploy Kuma Uptime to homelab and add our existing portals to the config';
const PORTALS = [
  { name: 'portal-1', portal_url: 'https://portal-1.homelab.lan' },
  { name: 'portal-2', portal_url: 'https://portal-2.homelab.lan' },
];
/** A playbook whose metadata has a YAML error on line 5 (a key given twice). */
const BROKEN = {
  'broken.yml': '- hosts: homelab\n  tasks: []\n',
  'broken.meta.yml': [
    'argument_specs:',
    '  main:',
    '    options:',
    '      broken_port: {type: int, default: 1}',
    '      broken_port: {type: str}',
    '    chiffon:',
    '      service: broken',
    '      intents: [{name: do_broken, verbs: [break]}]',
    '',
  ].join('\n'),
};

let services: E2EServices;

beforeAll(async () => {
  services = await startServices('full-workflow-discovery');
});

afterAll(async () => {
  await services?.stop();
});

describe('E2E-02 config discovery', () => {
  let stack: Stack;
  let repo: string;
  beforeAll(async () => {
    repo = playbookRepoCopy(path.join(services.scratch, 'playbooks'), BROKEN);
    stack = await startStack(services, 'e2e02', { config: { playbookRepo: repo } });
  });
  afterAll(async () => {
    await stack?.stop();
  });

  const catalog = once(async () => {
    const answer = await stack.call('GET', '/playbooks');
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    return answer.body;
  });
  const submitted = once(async () => {
    const chat = await stack.call('POST', '/chat', { message: KUMA_REQUEST });
    expect(chat.status, JSON.stringify(chat.body)).toBe(201);
    return chat.body;
  });

  it('finds kuma playbooks', async () => {
    const body = await catalog();
    expect(body.playbooks.map((p: any) => p.path)).toEqual(['failure-drill.yml', 'kuma-config-update.yml', 'kuma-deploy.yml', 'postgres-setup.yml']);
    expect(body.playbooks.filter((p: any) => p.service === 'kuma').map((p: any) => p.path)).toEqual(['kuma-config-update.yml', 'kuma-deploy.yml']);
    expect(body.scan).toMatchObject({ scanned: 5 });

    // The malformed metadata is a warning with its file and line; the scan went on.
    expect(body.warnings).toContainEqual({ file: 'broken.meta.yml', line: 5, message: expect.stringMatching(/^YAML: /) });
    expect(body.warnings).toContainEqual({ file: 'broken.yml', line: null, message: expect.stringContaining('cannot be planned') });
    expect(body.warnings.filter((w: any) => !w.file.startsWith('broken.'))).toEqual([]);
  });

  it('identifies service metadata', async () => {
    const body = await catalog();
    const byPath = Object.fromEntries(body.playbooks.map((p: any) => [p.path, p]));
    expect(byPath['kuma-deploy.yml']).toEqual({
      path: 'kuma-deploy.yml',
      service: 'kuma',
      aliases: ['uptime kuma', 'kuma uptime', 'uptime-kuma'],
      description: 'Deploy Uptime Kuma',
      intents: [{ name: 'deploy_kuma', verbs: ['deploy', 'install', 'set up', 'start'], objects: [] }],
      vars: [
        {
          name: 'kuma_port',
          type: 'int',
          required: false,
          default: 3001,
          has_default: true,
          description: 'Host port the Uptime Kuma web UI is published on.',
          secret: false,
          from_inventory_group: null,
        },
        expect.objectContaining({ name: 'kuma_image_tag', type: 'str', default: '1' }),
      ],
      after: [],
    });
    expect(byPath['kuma-config-update.yml']).toMatchObject({
      service: 'kuma',
      description: 'Update the Uptime Kuma monitors',
      intents: [expect.objectContaining({ name: 'add_portals_to_config', objects: ['portals'] }), expect.objectContaining({ name: 'configure_kuma' })],
      after: ['kuma-deploy.yml'],
    });
    expect(byPath['kuma-config-update.yml'].vars).toContainEqual(
      expect.objectContaining({ name: 'kuma_monitors', type: 'list', required: true, default: null, has_default: false, from_inventory_group: 'portals' }),
    );
    expect(byPath['postgres-setup.yml']).toMatchObject({ service: 'postgres', aliases: ['postgresql', 'database'] });
    // A secret var is marked; its default (if any) is never shown.
    expect(byPath['postgres-setup.yml'].vars).toContainEqual(expect.objectContaining({ name: 'postgres_superuser_password', secret: true, default: null }));
  });

  it('suggests portals to include', async () => {
    const body = await catalog();
    expect(body.inventory.groups).toEqual({ homelab: ['localhost'], portals: ['portal-1', 'portal-2'] });
    // The portals are an existing service of the inventory, and kuma-config-update.yml takes them in.
    expect(body.inventory.services).toEqual([
      {
        group: 'portals',
        source: 'inventory:portals',
        hosts: [
          { name: 'portal-1', url: 'https://portal-1.homelab.lan' },
          { name: 'portal-2', url: 'https://portal-2.homelab.lan' },
        ],
        fills: [{ playbook: 'kuma-config-update.yml', service: 'kuma', var: 'kuma_monitors', required: true, intents: ['add_portals_to_config', 'configure_kuma'] }],
        suggestion: expect.stringContaining('portal-1, portal-2'),
      },
    ]);

    // The kuma request's plan includes them, and says where they came from.
    const { plan } = await submitted();
    const update = plan.steps.find((s: any) => s.playbook === 'kuma-config-update.yml');
    expect(update.var_sources).toMatchObject({ kuma_monitors: 'inventory:portals' });
    expect(update.vars.kuma_monitors).toEqual(PORTALS);
    expect(plan.steps.map((s: any) => s.playbook)).toEqual(['kuma-deploy.yml', 'kuma-config-update.yml']);
  });

  it('playbook cache populated', async () => {
    await submitted();
    const rowsOf = () => services.database.prisma.playbookCache.findMany({ where: { repo: path.resolve(repo) }, orderBy: { path: 'asc' } });
    const rows = await rowsOf();
    expect(rows.map((r) => r.path)).toEqual(['broken.yml', 'failure-drill.yml', 'kuma-config-update.yml', 'kuma-deploy.yml', 'postgres-setup.yml']);
    for (const row of rows) expect(row.contentHash).toMatch(/^[0-9a-f]{64}$/);
    const byPath = Object.fromEntries(rows.map((r) => [r.path, r]));
    expect(byPath['kuma-deploy.yml']!.entry).toMatchObject({ path: 'kuma-deploy.yml', service: 'kuma' });
    expect(byPath['kuma-config-update.yml']!.entry).toMatchObject({ vars: expect.arrayContaining([expect.objectContaining({ name: 'kuma_monitors', fromInventoryGroup: 'portals' })]) });
    // The unplannable one is cached with its warnings, so it is not parsed again either.
    expect(byPath['broken.yml']!.entry).toBeNull();
    expect(byPath['broken.yml']!.warnings).toContainEqual(expect.objectContaining({ file: 'broken.meta.yml', line: 5 }));

    // Fixing the metadata: the next scan parses that playbook alone, and it becomes plannable.
    fs.writeFileSync(
      path.join(repo, 'broken.meta.yml'),
      'argument_specs:\n  main:\n    options: {}\n    chiffon:\n      service: mended\n      intents: [{name: mend_things, verbs: [mend]}]\n',
    );
    const rescan = await stack.call('GET', '/playbooks');
    expect(rescan.status).toBe(200);
    expect(rescan.body.scan).toMatchObject({ scanned: 5, parsed: 1, reused: 4, dropped: 0 });
    expect(rescan.body.playbooks.map((p: any) => p.service)).toContain('mended');
    expect(rescan.body.warnings).toEqual([]);
    const after = Object.fromEntries((await rowsOf()).map((r) => [r.path, r]));
    expect(after['broken.yml']!.entry).toMatchObject({ service: 'mended' });
    expect(after['broken.yml']!.contentHash).not.toBe(byPath['broken.yml']!.contentHash);
    for (const p of ['failure-drill.yml', 'kuma-config-update.yml', 'kuma-deploy.yml', 'postgres-setup.yml']) {
      expect(after[p]!.contentHash).toBe(byPath[p]!.contentHash);
      expect(after[p]!.scannedAt).toEqual(byPath[p]!.scannedAt);
    }
  });
});
