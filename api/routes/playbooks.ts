// GET /playbooks: the playbook catalog (from the cached scan) with its discovery warnings, and the
// inventory: its groups and hosts, and the existing services in it that playbooks can take in (the
// portals, which kuma-config-update.yml turns into monitors). A bad playbook, metadata file or
// inventory is reported in `warnings`; it never makes the answer fail.
import { Hono } from 'hono';
import { z } from 'zod';
import { scanCatalogCached } from '../../services/catalog/catalog-cache.js';
import { readInventory } from '../../services/inventory/inventory.js';
import { locateInventory, type InventoryLocation } from '../../services/inventory/inventory-source.js';
import { hostsInGroup } from '../../domain/inventory.js';
import type { Inventory, InventoryHost, PlaybookEntry, PlaybookVar } from '../../domain/types.js';
import { anyRole, type AuthEnv } from '../auth.js';
import type { ApiDeps } from '../deps.js';
import { ApiError } from '../errors.js';
import { answer, docs, errors } from '../openapi.js';

/** Host variables whose values the answer never shows. */
const SECRET_VAR = /(^|_)pass(word|wd)?($|_)|secret|token|api_?key|private_?key|credential/i;
const HIDDEN = '********';

const catalogAnswer = z.object({
  playbooks: z.array(
    z.object({
      path: z.string(),
      service: z.string(),
      aliases: z.array(z.string()),
      description: z.string().optional(),
      source: z.string().meta({
        description:
          'where Chiffon learned of it: `metadata x.meta.yml`, `role jellyfin, tag jellyfin, switch jellyfin_enabled`, `file update.yml`',
      }),
      hosts: z.string().nullable().meta({ description: 'the `hosts:` pattern of the plays that do it' }),
      run: z.object({
        tags: z.array(z.string()).meta({ description: 'the --tags that select it; empty: the whole playbook' }),
        switches: z.record(z.string(), z.boolean()).meta({ description: 'extra vars that switch it on' }),
      }),
      coordinated: z.boolean().meta({ description: 'its plays coordinate their hosts (run_once, groups[...]): one step over all of them' }),
      become: z.boolean(),
      intents: z.array(z.object({ name: z.string(), verbs: z.array(z.string()), objects: z.array(z.string()), fleet: z.boolean() })),
      vars: z.array(
        z.object({
          name: z.string(),
          type: z.string(),
          required: z.boolean(),
          default: z.unknown().meta({ description: 'null for a secret var' }),
          has_default: z.boolean(),
          ansible_default: z.unknown().meta({
            description: 'a default Ansible applies itself (role defaults, argument_specs): shown, never passed; null for a secret var',
          }),
          choices: z.array(z.unknown()).nullable(),
          description: z.string().nullable(),
          secret: z.boolean(),
          from_inventory_group: z.string().nullable(),
        }),
      ),
      after: z.array(z.string()),
    }),
  ),
  warnings: z.array(z.object({ file: z.string(), line: z.number().int().nullable(), message: z.string() })),
  inventory: z.looseObject({
    file: z.string().meta({ description: 'the inventory source(s), relative to the repository, comma-joined; empty when none was found' }),
    origin: z.enum(['CHIFFON_INVENTORY', 'ansible.cfg', 'convention']).nullable(),
    groups: z.record(z.string(), z.array(z.string())),
    hosts: z.array(z.object({ name: z.string(), groups: z.array(z.string()), vars: z.record(z.string(), z.unknown()) })),
    services: z.array(z.looseObject({ group: z.string(), source: z.string() })),
  }),
  scan: z.looseObject({}),
});

export function playbookRoutes({ prisma, config }: ApiDeps) {
  return new Hono<AuthEnv>().get(
    '/playbooks',
    docs({
      summary: 'The playbook catalog, its warnings and the inventory',
      description:
        'From the cached scan of CHIFFON_PLAYBOOK_REPO; a bad file is a warning, never a failure. Secret values are never shown.',
      tags: ['playbooks'],
      responses: { 200: answer('the catalog', catalogAnswer), ...errors({ 503: 'the playbook repository cannot be scanned' }) },
    }),
    anyRole(),
    async (c) => {
      const [catalog, { location, ...inventory }] = await Promise.all([
        scanCatalogCached(prisma, config.playbookRepo).catch((err: unknown) => {
          throw new ApiError(503, 'catalog_unavailable', errorMessage(err));
        }),
        // A missing inventory (or several candidates) is the answer's `inventory.error`, not a failure.
        locateInventory(config.playbookRepo, config.inventory).then(
          (found: InventoryLocation) =>
            readInventory(found.sources, { cwd: config.playbookRepo }).then(
              (value) => ({ location: found, value }),
              (err: unknown) => ({ location: found, error: errorMessage(err) }),
            ),
          (err: unknown) => ({ location: undefined, error: errorMessage(err) }),
        ),
      ]);
      const inventoryFile = location?.display ?? '';
      const inventoryOrigin = location?.origin ?? null;

      const warnings = catalog.warnings.map((w) => ({ file: w.file, line: w.line ?? null, message: w.message }));
      let inventorySection: Record<string, unknown>;
      if ('value' in inventory) {
        const services = discoverServices(inventory.value, catalog.playbooks);
        for (const consumer of consumersOf(catalog.playbooks)) {
          if (hostsInGroup(inventory.value, consumer.group).length === 0) {
            warnings.push({
              file: consumer.playbook,
              line: null,
              message: `fills ${consumer.var} from the inventory group ${consumer.group}, which has no hosts in ${inventoryFile}`,
            });
          }
        }
        inventorySection = {
          file: inventoryFile,
          origin: inventoryOrigin,
          groups: groupsOf(inventory.value),
          hosts: inventory.value.hosts.map((h) => ({ name: h.name, groups: h.groups, vars: shownVars(h.vars) })),
          services,
        };
      } else {
        warnings.push({
          file: inventoryFile || 'inventory',
          line: null,
          message: location ? `cannot read the inventory: ${inventory.error}` : inventory.error,
        });
        inventorySection = { file: inventoryFile, origin: inventoryOrigin, groups: {}, hosts: [], services: [], error: inventory.error };
      }

      return c.json({
        playbooks: catalog.playbooks.map(presentPlaybook),
        warnings,
        inventory: inventorySection,
        scan: { ...catalog.stats, ...(catalog.cacheError ? { cache_error: catalog.cacheError } : {}) },
      });
    },
  );
}

function presentPlaybook(p: PlaybookEntry) {
  return {
    path: p.path,
    service: p.service,
    aliases: p.aliases,
    description: p.description,
    source: p.source ?? `metadata ${p.path.replace(/\.ya?ml$/i, '')}.meta.yml`,
    hosts: p.hosts ?? null,
    run: { tags: p.run?.tags ?? [], switches: p.run?.switches ?? {} },
    coordinated: p.coordinated === true,
    become: p.become === true,
    intents: p.intents.map((i) => ({ name: i.name, verbs: i.verbs, objects: i.objects, fleet: i.fleet === true })),
    vars: p.vars.map(presentVar),
    after: p.after,
  };
}

/** A secret var's default is never shown; `has_default` still says whether there is one. */
function presentVar(v: PlaybookVar) {
  return {
    name: v.name,
    type: v.type,
    required: v.required,
    default: v.secret || v.default === undefined ? null : v.default,
    has_default: v.default !== undefined,
    ansible_default: v.secret || v.ansibleDefault === undefined ? null : v.ansibleDefault,
    choices: v.choices ?? null,
    description: v.description ?? null,
    secret: v.secret === true,
    from_inventory_group: v.fromInventoryGroup ?? null,
  };
}

interface Consumer {
  group: string;
  playbook: string;
  service: string;
  var: string;
  required: boolean;
  intents: string[];
}

/** Every playbook var filled from an inventory group (metadata `vars_from_inventory`). */
function consumersOf(playbooks: PlaybookEntry[]): Consumer[] {
  return playbooks.flatMap((p) =>
    p.vars
      .filter((v) => v.fromInventoryGroup !== undefined)
      .map((v) => ({
        group: v.fromInventoryGroup!,
        playbook: p.path,
        service: p.service,
        var: v.name,
        required: v.required,
        intents: p.intents.map((i) => i.name),
      })),
  );
}

/** Group name -> its hosts (through child groups too), sorted; `all` left out. */
function groupsOf(inventory: Inventory): Record<string, string[]> {
  const names = [...new Set(inventory.hosts.flatMap((h) => h.groups))].sort();
  return Object.fromEntries(names.map((g) => [g, hostsInGroup(inventory, g).map((h) => h.name)]));
}

/**
 * Existing services the inventory describes: groups a playbook fills a var from, and groups whose
 * hosts carry a URL. Each lists its hosts with their URL and the playbook vars it would fill, which is
 * what the planner does when a request asks for them (the plan's var_sources say `inventory:<group>`).
 */
function discoverServices(inventory: Inventory, playbooks: PlaybookEntry[]) {
  const consumers = consumersOf(playbooks);
  const services = [];
  for (const [group, hostNames] of Object.entries(groupsOf(inventory))) {
    const hosts = hostsInGroup(inventory, group).map((h) => ({ name: h.name, url: urlOf(h) }));
    const fills = consumers.filter((c) => c.group === group).map(({ group: _group, ...rest }) => rest);
    if (fills.length === 0 && hosts.every((h) => h.url === null)) continue;
    services.push({
      group,
      source: `inventory:${group}`,
      hosts,
      fills,
      suggestion:
        fills.length > 0
          ? fills
              .map(
                (f) =>
                  `${f.playbook} (${f.service}) fills ${f.var} with the ${hostNames.length} host${hostNames.length === 1 ? '' : 's'} of ${group}: ${hostNames.join(', ')}`,
              )
              .join('; ')
          : `no playbook takes the group ${group} in yet`,
    });
  }
  return services;
}

/** A host's URL: `url`, `portal_url`, or another `*_url` variable holding an http(s) URL. */
function urlOf(host: InventoryHost): string | null {
  const isUrl = (v: unknown): v is string => typeof v === 'string' && /^https?:\/\//i.test(v);
  for (const key of ['url', 'portal_url']) if (isUrl(host.vars[key])) return host.vars[key] as string;
  const other = Object.keys(host.vars)
    .sort()
    .find((k) => k.endsWith('_url') && isUrl(host.vars[k]));
  return other === undefined ? null : (host.vars[other] as string);
}

/** Host vars as shown: secret-looking names and vault-encrypted values hidden. */
function shownVars(vars: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(vars).map(([k, v]) => {
      const vaulted = typeof v === 'object' && v !== null && '__ansible_vault' in v;
      return [k, SECRET_VAR.test(k) || vaulted ? HIDDEN : v];
    }),
  );
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
