import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { hostsInGroup, parseInventoryList, resolveHostPattern } from '../../domain/inventory.js';
import type { Inventory } from '../../domain/types.js';

// Real `ansible-inventory --list` output (ansible-core 2.19.14): of playbooks/inventory/hosts.yml,
// and of test/fixtures/inventory/nested-inventory.yml (child groups, group vars, an ungrouped host).
const fixture = (name: string): unknown => JSON.parse(readFileSync(new URL(`../fixtures/inventory/${name}`, import.meta.url), 'utf8'));

describe('parseInventoryList', () => {
  it('reads the sample homelab inventory', () => {
    const inventory = parseInventoryList(fixture('homelab-inventory-list.json'));
    expect(inventory.hosts).toEqual([
      {
        name: 'localhost',
        groups: ['homelab'],
        vars: { ansible_connection: 'local', ansible_python_interpreter: '{{ ansible_playbook_python }}' },
      },
      { name: 'portal-1', groups: ['portals'], vars: { portal_url: 'https://portal-1.homelab.lan' } },
      { name: 'portal-2', groups: ['portals'], vars: { portal_url: 'https://portal-2.homelab.lan' } },
    ]);
    expect(hostsInGroup(inventory, 'portals').map((h) => [h.name, h.vars.portal_url])).toEqual([
      ['portal-1', 'https://portal-1.homelab.lan'],
      ['portal-2', 'https://portal-2.homelab.lan'],
    ]);
    expect(hostsInGroup(inventory, 'homelab').map((h) => h.name)).toEqual(['localhost']);
  });

  it('follows child groups and keeps the merged host vars', () => {
    const inventory = parseInventoryList(fixture('nested-inventory-list.json'));
    const byName = Object.fromEntries(inventory.hosts.map((h) => [h.name, h]));
    expect(Object.keys(byName)).toEqual(['grafana', 'localhost', 'nas', 'portal-1', 'portal-2']);
    expect(byName['portal-1']!.groups).toEqual(['dashboards', 'portals', 'web']);
    expect(byName['portal-2']!.groups).toEqual(['portals', 'web']);
    expect(byName['nas']!.groups).toEqual(['ungrouped']);
    expect(byName['portal-2']!.vars).toEqual({
      homelab_domain: 'homelab.lan',
      portal_owner: 'media',
      portal_url: 'https://portal-2.homelab.lan',
    });

    expect(hostsInGroup(inventory, 'web').map((h) => h.name)).toEqual(['grafana', 'portal-1', 'portal-2']);
    expect(hostsInGroup(inventory, 'dashboards').map((h) => h.name)).toEqual(['grafana', 'portal-1']);
    expect(hostsInGroup(inventory, 'all')).toHaveLength(5);
    expect(hostsInGroup(inventory, 'empty_group')).toEqual([]);
    expect(hostsInGroup(inventory, 'no_such_group')).toEqual([]);
  });

  it('lists a host that is in a group but has no host vars entry', () => {
    const inventory = parseInventoryList({ _meta: { hostvars: {} }, all: { children: ['g'] }, g: { hosts: ['h1'] } });
    expect(inventory.hosts).toEqual([{ name: 'h1', groups: ['g'], vars: {} }]);
  });

  it('refuses what is not ansible-inventory --list output', () => {
    expect(() => parseInventoryList('nope')).toThrow(/not ansible-inventory --list output/);
    expect(() => parseInventoryList({ _meta: { hostvars: [] } })).toThrow(/not ansible-inventory --list output/);
    expect(() => parseInventoryList({ web: { hosts: 'a' } })).toThrow(/group web/);
  });
});

describe('resolveHostPattern', () => {
  const inventory: Inventory = {
    hosts: [
      { name: 'nas-1', groups: ['homelab', 'storage'], vars: {} },
      { name: 'nas-2', groups: ['homelab', 'storage'], vars: {} },
      { name: 'pi', groups: ['homelab'], vars: {} },
      { name: 'portal-1', groups: ['portals'], vars: {} },
    ],
  };

  it.each([
    ['homelab', ['nas-1', 'nas-2', 'pi']],
    ['all', ['nas-1', 'nas-2', 'pi', 'portal-1']],
    ['pi,portal-1', ['pi', 'portal-1']],
    ['homelab:!storage', ['pi']],
    ['homelab:&storage', ['nas-1', 'nas-2']],
    ['nas-*', ['nas-1', 'nas-2']],
    ['stor*', ['nas-1', 'nas-2']],
    ['localhost', ['localhost']],
    ['nowhere', []],
  ])('%s → %j', (pattern, hosts) => {
    expect(resolveHostPattern(inventory, pattern)).toEqual(hosts);
  });
});
