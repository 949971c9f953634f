import { describe, expect, it } from 'vitest';
import { orderByDependencies, planRequest } from '../../domain/plan.js';
import type { Catalog, Intent, Inventory, PlaybookEntry } from '../../domain/types.js';

const deploy: PlaybookEntry = {
  path: 'kuma-deploy.yml',
  service: 'kuma',
  aliases: [],
  description: 'Deploy Uptime Kuma',
  intents: [{ name: 'deploy_kuma', verbs: ['deploy'], objects: [] }],
  vars: [{ name: 'kuma_port', type: 'int', required: false, default: 3001 }],
  after: [],
};
const configure: PlaybookEntry = {
  path: 'kuma-config-update.yml',
  service: 'kuma',
  aliases: [],
  description: 'Configure Kuma monitors',
  intents: [{ name: 'add_portals_to_config', verbs: ['add'], objects: ['portals'] }],
  vars: [{ name: 'kuma_monitors', type: 'list', required: true, fromInventoryGroup: 'portals' }],
  after: ['kuma-deploy.yml'],
};
const catalog: Catalog = { playbooks: [deploy, configure], warnings: [] };

const inventory: Inventory = {
  hosts: [
    { name: 'localhost', groups: ['homelab'], vars: { ansible_connection: 'local' } },
    { name: 'portal-1', groups: ['portals'], vars: { portal_url: 'https://portal-1.homelab.lan', ansible_host: '10.0.0.5' } },
    { name: 'portal-2', groups: ['portals'], vars: { portal_url: 'https://portal-2.homelab.lan' } },
  ],
};

const intent = (name: string, playbook: string): Intent => ({ name, service: 'kuma', playbook, source: name });

function ids() {
  let next = 0;
  return { planId: 'plan-1', newTaskId: () => `task-${next++}` };
}

describe('planRequest', () => {
  it('orders deploy before configure even when asked the other way round, and fills vars from the inventory', () => {
    const result = planRequest(
      [intent('add_portals_to_config', 'kuma-config-update.yml'), intent('deploy_kuma', 'kuma-deploy.yml')],
      catalog,
      inventory,
      ids(),
    );
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.plan.steps.map((s) => [s.index, s.playbook])).toEqual([
      [0, 'kuma-deploy.yml'],
      [1, 'kuma-config-update.yml'],
    ]);
    expect(result.plan.steps[0]?.vars).toEqual({ kuma_port: 3001 });
    expect(result.plan.steps[0]?.varSources).toEqual({ kuma_port: 'default' });
    expect(result.plan.steps[1]?.vars).toEqual({
      kuma_monitors: [
        { name: 'portal-1', portal_url: 'https://portal-1.homelab.lan' },
        { name: 'portal-2', portal_url: 'https://portal-2.homelab.lan' },
      ],
    });
    expect(result.plan.steps[1]?.varSources).toEqual({ kuma_monitors: 'inventory:portals' });
    expect(new Set(result.plan.steps.map((s) => s.taskId)).size).toBe(2);
  });

  it('refuses to plan a required var it cannot fill, naming it', () => {
    const result = planRequest([intent('add_portals_to_config', 'kuma-config-update.yml')], catalog, { hosts: [] }, ids());
    expect(result).toEqual({
      ok: false,
      message: 'required variables have no value: kuma-config-update.yml: kuma_monitors',
      missingVars: [{ playbook: 'kuma-config-update.yml', vars: ['kuma_monitors'] }],
    });
  });

  it('refuses an intent whose playbook is not in the catalog', () => {
    const result = planRequest([intent('deploy_x', 'x.yml')], catalog, inventory, ids());
    expect(result.ok).toBe(false);
  });

  it('detects a dependency cycle', () => {
    const a = { ...deploy, path: 'a.yml', after: ['b.yml'] };
    const b = { ...deploy, path: 'b.yml', after: ['a.yml'] };
    expect(() => orderByDependencies([a, b])).toThrow(/cycle/);
  });
});

describe('planRequest with supplied values', () => {
  it('fills a missing required var from what a person supplied, and says so', () => {
    const result = planRequest([intent('add_portals_to_config', 'kuma-config-update.yml')], catalog, { hosts: [] }, ids(), {
      'kuma-config-update.yml': { kuma_monitors: [{ name: 'nas', url: 'http://nas.lan' }] },
    });
    expect(result.ok && result.plan.steps[0]?.vars).toEqual({ kuma_monitors: [{ name: 'nas', url: 'http://nas.lan' }] });
    expect(result.ok && result.plan.steps[0]?.varSources).toEqual({ kuma_monitors: 'input' });
  });
});

describe('planRequest over a fleet', () => {
  const fleet: Inventory = {
    hosts: [
      { name: 'alpha', groups: ['homelab'], vars: {} },
      { name: 'beta', groups: ['homelab', 'nas'], vars: {} },
      { name: 'camera', groups: ['homelab'], vars: { chiffon_agent: 'beta' } },
      { name: 'portal-1', groups: ['portals'], vars: { portal_url: 'https://portal-1.homelab.lan' } },
    ],
  };

  const ctl = { controllerAgent: 'ctl' };

  it('runs the hosts without a chiffon_agent from the controller, as one step over the play', () => {
    const result = planRequest(
      [intent('deploy_kuma', deploy.path)],
      { playbooks: [{ ...deploy, hosts: 'homelab:!camera' }], warnings: [] },
      fleet,
      ids(),
      {},
      ctl,
    );
    if (!result.ok) throw new Error(result.message);
    expect(result.plan.steps.map((s) => [s.playbook, s.limit, s.agent])).toEqual([['kuma-deploy.yml', undefined, 'ctl']]);
  });

  it("splits a run by the agents its hosts' chiffon_agent vars name, in inventory order", () => {
    const agents: Inventory = {
      hosts: fleet.hosts.map((h) =>
        h.name === 'alpha' ? { ...h, vars: { chiffon_agent: 'alpha' } } : h.name === 'beta' ? { ...h, vars: { chiffon_agent: 'beta' } } : h,
      ),
    };
    const result = planRequest(
      [intent('deploy_kuma', deploy.path), intent('add_portals_to_config', configure.path)],
      {
        playbooks: [
          { ...deploy, hosts: 'homelab' },
          { ...configure, hosts: 'nas' },
        ],
        warnings: [],
      },
      agents,
      ids(),
      {},
      ctl,
    );
    if (!result.ok) throw new Error(result.message);
    expect(result.plan.steps.map((s) => [s.index, s.playbook, s.limit, s.agent, s.taskId])).toEqual([
      [0, 'kuma-deploy.yml', 'alpha', 'alpha', 'task-0'],
      [1, 'kuma-deploy.yml', 'beta,camera', 'beta', 'task-1'],
      [2, 'kuma-config-update.yml', undefined, 'beta', 'task-2'],
    ]);

    // A play that coordinates its hosts (run_once, groups[...]) is never split: one step, from the controller.
    const coordinated = planRequest(
      [intent('deploy_kuma', deploy.path)],
      { playbooks: [{ ...deploy, hosts: 'homelab', coordinated: true }], warnings: [] },
      agents,
      ids(),
      {},
      ctl,
    );
    if (!coordinated.ok) throw new Error(coordinated.message);
    expect(coordinated.plan.steps.map((s) => [s.limit, s.agent])).toEqual([[undefined, 'ctl']]);
  });

  it('routes a host managed from elsewhere to the agent its chiffon_agent var names', () => {
    const result = planRequest(
      [intent('deploy_kuma', deploy.path)],
      { playbooks: [{ ...deploy, hosts: 'camera' }], warnings: [] },
      fleet,
      ids(),
      {},
      ctl,
    );
    if (!result.ok) throw new Error(result.message);
    expect(result.plan.steps.map((s) => [s.limit, s.agent])).toEqual([[undefined, 'beta']]);
  });

  it('plans one step on the controller when the pattern matches no inventory host', () => {
    const result = planRequest(
      [intent('deploy_kuma', deploy.path)],
      { playbooks: [{ ...deploy, hosts: 'nowhere' }], warnings: [] },
      fleet,
      ids(),
      {},
      ctl,
    );
    if (!result.ok) throw new Error(result.message);
    expect(result.plan.steps).toHaveLength(1);
    expect(result.plan.steps[0]).toMatchObject({ agent: 'ctl' });
    expect(result.plan.steps[0]).not.toHaveProperty('limit');
  });
});
