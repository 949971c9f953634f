// The worker fleet on the real stack: three agents (alpha, beta, gamma) serve their own task queues,
// as `npm run worker -- --host NAME` does on three homelab hosts. Here they are three workers in this
// process, on one Temporal dev server and one PostgreSQL, and the fleet's inventory points all three
// hosts at this machine (ansible_connection: local). Each host names its agent with the inventory var
// `chiffon_agent` (a host without one would run from the controller, the planning worker's agent).
// A playbook that targets the group `fleet` is planned as one step per agent, its `--limit` that
// agent's hosts (the API shows a step's limit as `host`); each step must run on its own host's
// worker, which the playbook records (chiffon_agent, which the running worker passes as an extra var
// and so overrides the inventory's) beside the task's row and audit. A stopped agent leaves its step
// waiting, visibly, and the step runs once the agent is back. An agent that judges itself overloaded
// is never held back while it runs no step; busy with one (the live gate's, test/support/live-gate.ts),
// it makes the next request pause before its step, holds that step, and starts it the moment the
// gate's step ends.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentOverloadReason } from '../../domain/capacity.js';
import { hostTaskQueue } from '../../domain/fleet.js';
import {
  capacityWakes,
  playbookRepoCopy,
  startAgent,
  startServices,
  startStack,
  type E2EServices,
  type Stack,
} from '../support/e2e-stack.js';
import { runningSteps } from '../../services/running-steps.js';
import { liveGate, liveGateFiles } from '../support/live-gate.js';

const FLEET_INVENTORY = `---
all:
  children:
    fleet:
      hosts:
        alpha: { chiffon_agent: alpha, ansible_connection: local, ansible_python_interpreter: "{{ ansible_playbook_python }}" }
        beta: { chiffon_agent: beta, ansible_connection: local, ansible_python_interpreter: "{{ ansible_playbook_python }}" }
        gamma: { chiffon_agent: gamma, ansible_connection: local, ansible_python_interpreter: "{{ ansible_playbook_python }}" }
`;

const FLEET_PLAYBOOK = `---
- name: Check in from every fleet host
  hosts: fleet
  gather_facts: false
  tasks:
    - name: Create the check-in directory
      ansible.builtin.file:
        path: "{{ chiffon_state_dir }}/fleet"
        state: directory
        mode: "0755"

    - name: Record which agent ran this host's share
      ansible.builtin.copy:
        dest: "{{ chiffon_state_dir }}/fleet/{{ inventory_hostname }}.txt"
        content: "{{ chiffon_agent }}\\n"
        mode: "0644"
`;

const FLEET_META = `---
short_description: Fleet check-in
description: Every fleet host writes which agent ran it (tests).
argument_specs:
  main:
    short_description: Fleet check-in
    description:
      - Writes fleet/<host>.txt under chiffon_state_dir with the name of the agent that ran it.
    examples: |
      ansible-playbook -i inventory/fleet.yml fleet-check.yml -e '{"chiffon_state_dir": "/srv/chiffon", "chiffon_agent": "alpha"}'
    options: {}
    chiffon:
      service: fleet
      aliases: []
      intents:
        - name: check_fleet
          verbs: [check]
      after: []
      vars_from_inventory: {}
`;

const HOSTS = ['alpha', 'beta', 'gamma'] as const;

describe('multiple agents tracked independently', () => {
  let services: E2EServices;
  let stack: Stack;
  const agents = new Map<string, { stop(): Promise<void> }>();

  beforeAll(async () => {
    services = await startServices('fleet');
    const repo = playbookRepoCopy(path.join(services.scratch, 'fleet-playbooks'), {
      'fleet-check.yml': FLEET_PLAYBOOK,
      'fleet-check.meta.yml': FLEET_META,
      'inventory/fleet.yml': FLEET_INVENTORY,
      // Its step holds gamma busy until the test opens the gate.
      ...liveGateFiles({ hosts: 'gamma', waitSeconds: 300 }),
    });
    // The stack's own worker is the orchestration worker and agent alpha; beta and gamma join it.
    stack = await startStack(services, 'fleet', { config: { playbookRepo: repo, inventory: 'inventory/fleet.yml', workerHost: 'alpha' } });
    for (const name of ['beta', 'gamma']) agents.set(name, await startAgent(services, stack.config, name));
  });

  afterAll(async () => {
    for (const agent of agents.values()) await agent.stop();
    await stack?.stop();
    await services?.stop();
  });

  const fleetAgents = async () => {
    const answer = await stack.call('GET', '/agents');
    expect(answer.status).toBe(200);
    return answer.body.agents as {
      name: string;
      online: boolean;
      task_queue: string;
      max_steps: number;
      running_steps: number;
      cpu_count: number;
    }[];
  };

  const submitCheck = async () => {
    const asked = await stack.call('POST', '/chat', { message: 'check the fleet' });
    expect(asked.status).toBe(201);
    return asked.body;
  };

  it('lists each agent, online, with its own task queue and capacity', async () => {
    await expect
      .poll(async () => (await fleetAgents()).filter((a) => a.online).map((a) => a.name), { timeout: 15_000 })
      .toEqual([...HOSTS]);
    for (const agent of await fleetAgents()) {
      expect(agent.task_queue).toBe(hostTaskQueue(stack.config.taskQueue, agent.name));
      expect(agent.max_steps).toBe(stack.config.maxConcurrentSteps);
      expect(agent.cpu_count).toBeGreaterThan(0);
    }
    // A page at a time, by name: the second of the three, and how many there are in all.
    const page = await stack.call('GET', '/agents?limit=1&offset=1');
    expect(page.status).toBe(200);
    expect(page.body).toMatchObject({ total: HOSTS.length, limit: 1, offset: 1 });
    expect(page.body.agents.map((a: { name: string }) => a.name)).toEqual([[...HOSTS].sort()[1]]);
    expect((await stack.call('GET', '/agents?limit=0')).status).toBe(400);
  });

  it("routes each host's step to that host's worker", async () => {
    const request = await submitCheck();
    // One step per agent: its --limit (presented as `host`) is the agent's one host.
    expect(request.plan.steps.map((s: any) => [s.playbook, s.host, s.agent])).toEqual(HOSTS.map((h) => ['fleet-check.yml', h, h]));
    const approved = await stack.call('POST', '/approve', { request_id: request.request_id, approved: true, plan_hash: request.plan.hash });
    expect(approved.status).toBe(200);

    const done = await stack.waitForStatus(request.request_id, 'completed');
    expect(done.steps.map((s: any) => [s.host, s.status])).toEqual(HOSTS.map((h) => [h, 'completed']));
    // Each host's share ran on its own agent: the playbook wrote the agent's name for that host only.
    for (const host of HOSTS) {
      expect(fs.readFileSync(path.join(stack.config.stateDir, 'fleet', `${host}.txt`), 'utf8')).toBe(`${host}\n`);
    }
    // The task rows and the audit name the agent that ran each step (the worker's own name), beside the step's --limit.
    const tasks = await services.database.prisma.task.findMany({ where: { requestId: request.request_id }, orderBy: { stepIndex: 'asc' } });
    expect(tasks.map((t) => [t.stepIndex, t.host, t.status])).toEqual(HOSTS.map((h, i) => [i, h, 'completed']));
    for (const [i, host] of HOSTS.entries()) {
      const audit = JSON.parse(fs.readFileSync(path.join(stack.config.auditRepo, '.audit', 'tasks', `${tasks[i]!.id}.json`), 'utf8'));
      expect([audit.host, audit.agent]).toEqual([host, host]);
      expect(Object.keys(audit.execution_result.stats)).toEqual([host]);
    }

    const listed = await stack.call('GET', '/requests?status=completed');
    expect(listed.status).toBe(200);
    expect(listed.body.requests).toContainEqual(
      expect.objectContaining({
        request_id: request.request_id,
        status: 'completed',
        requested_by: 'alice',
        approver: 'bob',
        services: ['fleet'],
        steps: 3,
      }),
    );
  });

  it('leaves the step of an offline agent waiting, visibly, and runs it when the agent is back', async () => {
    await agents.get('gamma')!.stop();
    agents.delete('gamma');
    await expect.poll(async () => (await fleetAgents()).find((a) => a.name === 'gamma')?.online, { timeout: 10_000 }).toBe(false);
    fs.rmSync(path.join(stack.config.stateDir, 'fleet'), { recursive: true, force: true });

    const request = await submitCheck();
    expect((await stack.call('POST', '/approve', { request_id: request.request_id, approved: true })).status).toBe(200);
    const waiting = await stack.waitForRequest(request.request_id, "gamma's step waiting", (body) => body.steps[2]?.status === 'waiting');
    expect(waiting.status).toBe('running');
    expect(waiting.steps.slice(0, 2).map((s: any) => s.status)).toEqual(['completed', 'completed']);
    expect(waiting.steps[2].waiting_reason).toMatch(/no worker is online for host gamma/);
    const events = await stack.call('GET', `/requests/${request.request_id}/events?format=json`);
    expect(events.body.events).toContainEqual(
      expect.objectContaining({ kind: 'step_status', payload: expect.objectContaining({ status: 'waiting', agent: 'gamma' }) }),
    );
    expect(fs.existsSync(path.join(stack.config.stateDir, 'fleet', 'gamma.txt'))).toBe(false);

    // Still waiting a while later: nothing else picked the step up, and nothing lost it.
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    expect((await stack.call('GET', `/requests/${request.request_id}`)).body.steps[2].status).toBe('waiting');

    agents.set('gamma', await startAgent(services, stack.config, 'gamma'));
    const done = await stack.waitForStatus(request.request_id, 'completed');
    expect(done.steps.map((s: any) => s.status)).toEqual(['completed', 'completed', 'completed']);
    expect(fs.readFileSync(path.join(stack.config.stateDir, 'fleet', 'gamma.txt'), 'utf8')).toBe('gamma\n');
    expect((await fleetAgents()).find((a) => a.name === 'gamma')?.online).toBe(true);
  });

  it('never pauses for an idle agent; pauses before the step of an overloaded agent that runs one, and goes on the moment it has room', async () => {
    // gamma comes back on a machine it judges overloaded (no machine has 100% of its memory free).
    await agents.get('gamma')!.stop();
    agents.set('gamma', await startAgent(services, stack.config, 'gamma', { minFreeMemoryPercent: 100 }));
    await expect.poll(async () => (await fleetAgents()).find((a) => a.name === 'gamma')?.online, { timeout: 10_000 }).toBe(true);
    const gamma = await services.database.prisma.agent.findFirstOrThrow({ where: { taskQueue: stack.config.taskQueue, name: 'gamma' } });
    expect(agentOverloadReason(gamma)).toMatch(/memory free is below 100%/);

    // Idle, gamma is never held back, overloaded or not: the live gate's step (gamma's host) runs at
    // once, and holds gamma busy until the gate opens.
    const gate = liveGate(stack.config.stateDir);
    gate.reset();
    const blocker = (await stack.call('POST', '/chat', { message: 'Run the live gate' })).body;
    expect(blocker.plan.steps.map((s: any) => [s.playbook, s.agent])).toEqual([['live-gate.yml', 'gamma']]);
    expect((await stack.call('POST', '/approve', { request_id: blocker.request_id, approved: true })).status).toBe(200);
    const busy = await stack.waitForRequest(blocker.request_id, 'its step running', (body) => body.steps[0]?.status === 'running');
    expect([busy.status, busy.paused_reason]).toEqual(['running', null]);
    await expect.poll(async () => (await fleetAgents()).find((a) => a.name === 'gamma')?.running_steps, { timeout: 10_000 }).toBe(1);

    // Busy and overloaded, gamma takes no more: the fleet check pauses before gamma's step, and
    // gamma holds that step until it has room.
    const request = await submitCheck();
    expect((await stack.call('POST', '/approve', { request_id: request.request_id, approved: true })).status).toBe(200);
    const paused = await stack.waitForStatus(request.request_id, 'paused');
    expect(paused.paused_reason).toMatch(/gamma@.*memory free is below 100% while it runs 1 step/);
    expect(paused.steps.map((s: any) => s.status)).toEqual(['completed', 'completed', 'waiting']);
    await expect.poll(() => runningSteps.held('gamma'), { timeout: 10_000 }).toBe(1);
    expect(gate.isDone()).toBe(false);

    // alpha and beta, which have room, signal the pause once each; gamma, busy, does not. The
    // request needs none of them: gamma starts the held step the moment the gate's step ends, in
    // the same call (its count of running steps goes 1, 0, 1), and the step's start ends the pause,
    // well before the request's own re-check (CHIFFON_CAPACITY_RECHECK_MS, 30 s here).
    await expect.poll(() => capacityWakes(services, request.request_id), { timeout: 10_000 }).toBe(2);
    expect(stack.config.capacityRecheckMs).toBe(30_000);
    const counts: { count: number; at: number }[] = [];
    const stopCounting = runningSteps.onChange((agent, count) => agent === 'gamma' && counts.push({ count, at: performance.now() }));
    const opened = Date.now();
    gate.open();
    await stack.waitForRequest(request.request_id, 'a resume', (body) => body.status !== 'paused', 15_000);
    expect(Date.now() - opened).toBeLessThan(15_000);
    stopCounting();
    expect(counts.slice(0, 2).map((c) => c.count)).toEqual([0, 1]);
    expect(counts[1]!.at - counts[0]!.at).toBeLessThan(20); // one synchronous call, not a round trip
    const done = await stack.waitForStatus(request.request_id, 'completed');
    expect(done.paused_reason).toBeNull();
    expect(done.steps.map((s: any) => s.status)).toEqual(['completed', 'completed', 'completed']);
    expect(fs.readFileSync(path.join(stack.config.stateDir, 'fleet', 'gamma.txt'), 'utf8')).toBe('gamma\n');
    // The blocker ran through the gate, and never paused.
    const passed = await stack.waitForStatus(blocker.request_id, 'completed');
    expect(passed.steps.map((s: any) => [s.agent, s.status])).toEqual([['gamma', 'completed']]);
    expect(gate.isDone()).toBe(true);
    const events = await stack.call('GET', `/requests/${blocker.request_id}/events?format=json`);
    expect(events.body.events.filter((e: any) => e.kind === 'request_status').map((e: any) => e.payload.status)).not.toContain('paused');
  });
});
