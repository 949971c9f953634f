// The hosts a clause of a request names, read against the inventory.
import { describe, expect, it } from 'vitest';
import { scopeOfClause } from '../../domain/scope.js';
import type { Inventory } from '../../domain/types.js';

const inventory: Inventory = {
  hosts: [
    { name: 'nas', groups: ['storage', 'homelab'], vars: {} },
    { name: 'meeseeks', groups: ['servers', 'homelab'], vars: {} },
    { name: 'portal-1', groups: ['portals'], vars: {} },
  ],
};

describe('scopeOfClause', () => {
  it('reads "on <host>", "on the <group>", plurals and several names', () => {
    expect(scopeOfClause('radarr on the nas', inventory)).toEqual({ kind: 'limit', names: ['nas'] });
    expect(scopeOfClause('deploy kuma to homelab', inventory)).toEqual({ kind: 'limit', names: ['homelab'] });
    expect(scopeOfClause('update it on all my server', inventory)).toEqual({ kind: 'limit', names: ['servers'] });
    expect(scopeOfClause('on nas and on meeseeks', inventory)).toEqual({ kind: 'limit', names: ['nas', 'meeseeks'] });
  });

  it('reads the whole fleet as every host, and a clause without a place as none', () => {
    expect(scopeOfClause('upgrade packages on the fleet', inventory)).toEqual({ kind: 'all' });
    expect(scopeOfClause('deploy jellyfin', inventory)).toEqual({ kind: 'none' });
  });

  it('refuses "on X" for an X the inventory does not have, but lets "to the config" be', () => {
    expect(scopeOfClause('deploy plex on mars', inventory)).toEqual({ kind: 'unknown', name: 'mars' });
    expect(scopeOfClause('add our existing portals to the config', inventory, { ignore: ['portals'] })).toEqual({ kind: 'none' });
    expect(scopeOfClause('start docker on boot', inventory)).toEqual({ kind: 'none' });
  });

  it('takes a bare host name only where asked to (actions on hosts), and never an ignored word', () => {
    expect(scopeOfClause('reboot the nas', inventory)).toEqual({ kind: 'none' });
    expect(scopeOfClause('reboot the nas', inventory, { bareNames: true })).toEqual({ kind: 'limit', names: ['nas'] });
    expect(scopeOfClause('add the portals', inventory, { bareNames: true, ignore: ['portals'] })).toEqual({ kind: 'none' });
  });
});
