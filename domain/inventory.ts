// The inventory as `ansible-inventory --list` reports it, reduced to hosts with their groups and
// variables. Pure: no I/O and no Node built-ins (safe to import from workflow code).
//
// `--list` prints one object: `_meta.hostvars` holds every host's variables (group variables
// already merged in), and every other key is a group with its direct `hosts` and its `children`
// groups. A host belongs to a group when it is listed in it or in any of its descendants.
import { z } from 'zod';
import type { Inventory, InventoryHost } from './types.js';

/** Every host is in `all`; it is left out of InventoryHost.groups, as Ansible's group_names does. */
export const ALL_GROUP = 'all';

const groupSchema = z.looseObject({
  hosts: z.array(z.string()).optional(),
  children: z.array(z.string()).optional(),
});

const listSchema = z.looseObject({
  _meta: z
    .looseObject({
      hostvars: z.record(z.string(), z.record(z.string(), z.unknown())).optional(),
    })
    .optional(),
});

/** Parses `ansible-inventory --list` output (already JSON-decoded). Throws when it has another shape. */
export function parseInventoryList(json: unknown): Inventory {
  const parsed = listSchema.safeParse(json);
  if (!parsed.success) {
    throw new Error(`not ansible-inventory --list output: ${z.prettifyError(parsed.error)}`);
  }
  const hostvars = parsed.data._meta?.hostvars ?? {};

  const groups = new Map<string, { hosts: string[]; children: string[] }>();
  for (const [name, value] of Object.entries(parsed.data)) {
    if (name === '_meta') continue;
    const group = groupSchema.safeParse(value);
    if (!group.success) {
      throw new Error(`not ansible-inventory --list output: group ${name}: ${z.prettifyError(group.error)}`);
    }
    groups.set(name, { hosts: group.data.hosts ?? [], children: group.data.children ?? [] });
  }

  // All hosts of each group, its descendants included (cycle-safe).
  const members = new Map<string, Set<string>>();
  const collect = (name: string, visiting: Set<string>): Set<string> => {
    const done = members.get(name);
    if (done) return done;
    const result = new Set<string>(groups.get(name)?.hosts ?? []);
    if (!visiting.has(name)) {
      visiting.add(name);
      for (const child of groups.get(name)?.children ?? []) for (const h of collect(child, visiting)) result.add(h);
      visiting.delete(name);
    }
    members.set(name, result);
    return result;
  };
  const groupNames = new Set<string>([...groups.keys(), ...[...groups.values()].flatMap((g) => g.children)]);
  for (const name of groupNames) collect(name, new Set());

  const hostNames = new Set<string>(Object.keys(hostvars));
  for (const set of members.values()) for (const h of set) hostNames.add(h);

  const hosts: InventoryHost[] = [...hostNames].sort(compare).map((name) => ({
    name,
    groups: [...groupNames].filter((g) => g !== ALL_GROUP && members.get(g)?.has(name)).sort(compare),
    vars: { ...(hostvars[name] ?? {}) },
  }));
  return { hosts };
}

/** The hosts of `group` (directly or through its child groups), sorted by name; `all` gives every host. */
export function hostsInGroup(inventory: Inventory, group: string): InventoryHost[] {
  if (group === ALL_GROUP) return [...inventory.hosts];
  return inventory.hosts.filter((h) => h.groups.includes(group));
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The hosts an Ansible host pattern targets, sorted: `homelab`, `web,db`, `all:!portals`,
 * `homelab:&debian`, `nas*`. As Ansible does, the plain terms are joined first, then `&` terms
 * intersect and `!` terms remove; a term is a group, a host or a `*` glob over either. `localhost`
 * not in the inventory is Ansible's implicit localhost.
 */
export function resolveHostPattern(inventory: Inventory, pattern: string): string[] {
  const terms = pattern
    .split(/[,:]/)
    .map((t) => t.trim())
    .filter(Boolean);
  const groupNames = new Set(inventory.hosts.flatMap((h) => h.groups));
  const hostNames = new Set(inventory.hosts.map((h) => h.name));
  const matchTerm = (term: string): Set<string> => {
    if (term === ALL_GROUP || term === '*') return new Set(hostNames);
    if (term.includes('*') || term.includes('?')) {
      const glob = new RegExp(
        `^${term
          .replace(/[.+^${}()|[\]\\]/g, '\\$&')
          .replace(/\*/g, '.*')
          .replace(/\?/g, '.')}$`,
      );
      const matched = new Set([...hostNames].filter((h) => glob.test(h)));
      for (const group of groupNames) if (glob.test(group)) for (const h of hostsInGroup(inventory, group)) matched.add(h.name);
      return matched;
    }
    if (groupNames.has(term)) return new Set(hostsInGroup(inventory, term).map((h) => h.name));
    if (hostNames.has(term) || term === 'localhost' || term === '127.0.0.1') return new Set([term]);
    return new Set();
  };
  const selected = new Set<string>();
  for (const term of terms) if (!term.startsWith('&') && !term.startsWith('!')) for (const h of matchTerm(term)) selected.add(h);
  for (const term of terms.filter((t) => t.startsWith('&'))) {
    const keep = matchTerm(term.slice(1));
    for (const h of selected) if (!keep.has(h)) selected.delete(h);
  }
  for (const term of terms.filter((t) => t.startsWith('!'))) for (const h of matchTerm(term.slice(1))) selected.delete(h);
  return [...selected].sort(compare);
}
