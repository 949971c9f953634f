import { describe, expect, it } from 'vitest';
import { parseListing } from '../../domain/ansible-listing.js';

const LISTING = `
playbook: k3s.yml

  play #1 (servers): K3s cluster	TAGS: []
    pattern: ['servers']
    hosts (2):
      k3s-1
      k3s-2
    tasks:
      Create the cluster folder	TAGS: []
      k3s : Join the cluster	TAGS: [join, k3s]

  play #2 (localhost): 	TAGS: [kubeconfig]
    pattern: ['localhost']
    hosts (1):
      localhost
    tasks:
      Write the kubeconfig	TAGS: [kubeconfig]
`;

describe('parseListing', () => {
  it('reads each play with its hosts and its tasks (role, name, tags)', () => {
    expect(parseListing(LISTING)).toEqual([
      {
        name: 'K3s cluster',
        hosts: ['k3s-1', 'k3s-2'],
        tasks: [
          { play: 'K3s cluster', name: 'Create the cluster folder', tags: [] },
          { play: 'K3s cluster', role: 'k3s', name: 'Join the cluster', tags: ['join', 'k3s'] },
        ],
      },
      { name: 'localhost', hosts: ['localhost'], tasks: [{ play: 'localhost', name: 'Write the kubeconfig', tags: ['kubeconfig'] }] },
    ]);
  });

  it('reads nothing from output without plays', () => {
    expect(parseListing('\nplaybook: x.yml\n')).toEqual([]);
  });
});
