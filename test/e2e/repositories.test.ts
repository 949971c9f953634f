// Repositories without Chiffon files, run for real: the plans test/integration/repositories.test.ts
// checks without Temporal, here submitted through the HTTP API, approved (four-eyes: alice asks,
// bob approves) and run by the real stack (Temporal dev server, PostgreSQL, ansible-playbook, the
// git audit). Each repository is a copy of its fixture (test/fixtures/repos/) in the file's scratch
// folder, with a stack of its own; the playbooks write what they did under the stack's state
// directory (chiffon_state_dir), and the tests read it back:
// - site-roles: every role appends one line per run to <state>/<host>/<role>.log. "Enable sonarr and
//   radarr on the nas" is one run of site.yml (--tags sonarr,radarr, both switches on, --limit nas):
//   sonarr and radarr ran once, on nas only; none of the other 8 roles, and nothing on meeseeks.
// - cluster: k3s.yml makes a join token once (run_once), each server joins through the first one
//   (groups['servers'][0]) knowing how many servers the play has, and the controller writes a
//   kubeconfig. "deploy k3s" is one step over all its hosts: split per host, the token would be made
//   three times and each server would see a play of one.
// Each describe runs alone by name: npx vitest run test/e2e/repositories.test.ts -t "cluster"
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromProjectRoot } from '../../lib/paths.js';
import { startServices, startStack, type E2EServices, type Stack } from '../support/e2e-stack.js';

const ROLES = ['sonarr', 'radarr', 'prowlarr', 'jellyfin', 'nextcloud', 'vaultwarden', 'homeassistant', 'pihole', 'grafana', 'traefik'];
const K3S_SERVERS = ['k3s-1', 'k3s-2', 'k3s-3'];

let services: E2EServices;

beforeAll(async () => {
  services = await startServices('repositories');
});

afterAll(async () => {
  await services?.stop();
});

/** A copy of the fixture repository `name` in the file's scratch folder (nothing is written into the checkout). */
function fixtureCopy(name: string): string {
  const dir = path.join(services.scratch, `repo-${name}`);
  fs.cpSync(fromProjectRoot('test', 'fixtures', 'repos', name), dir, { recursive: true });
  return dir;
}

/** The lines of a file the playbooks wrote under the stack's state directory, or null when there is no such file. */
function stateLines(stack: Stack, ...parts: string[]): string[] | null {
  const file = path.join(stack.config.stateDir, ...parts);
  if (!fs.existsSync(file)) return null;
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line !== '');
}

/** Every file under the state directory, relative to it, sorted. */
function stateFiles(stack: Stack): string[] {
  if (!fs.existsSync(stack.config.stateDir)) return [];
  return (fs.readdirSync(stack.config.stateDir, { recursive: true, withFileTypes: true }) as fs.Dirent[])
    .filter((entry) => entry.isFile())
    .map((entry) => path.relative(stack.config.stateDir, path.join(entry.parentPath, entry.name)))
    .sort();
}

/** Approves the request's plan as bob (the requester, alice, may not) and waits until it completed. */
async function approveAndComplete(stack: Stack, request: any) {
  const approved = await stack.call('POST', '/approve', { request_id: request.request_id, approved: true, plan_hash: request.plan.hash });
  expect(approved, JSON.stringify(approved.body)).toMatchObject({ status: 200, body: { status: 'running' } });
  return stack.waitForStatus(request.request_id, 'completed', 120_000);
}

/** The step's audit commit is in the stack's audit repository, holding the task's record. */
async function expectAudited(stack: Stack, requestId: string, step: any) {
  expect(step.audit_commit).toMatch(/^[0-9a-f]{40}$/);
  const commit = (await stack.auditLog()).find((entry) => entry.oid === step.audit_commit);
  expect(commit?.message).toBe(`audit: task ${step.task_id} completed (${step.playbook}, request ${requestId})`);
  const trail = await stack.call('GET', `/audit/task/${step.task_id}`);
  expect(trail.status).toBe(200);
  expect(trail.body.git).toMatchObject({ commit: step.audit_commit, path: `.audit/tasks/${step.task_id}.json` });
  return trail.body.git.content;
}

describe('site-roles: a site playbook of tagged, switched roles', () => {
  let stack: Stack;

  beforeAll(async () => {
    stack = await startStack(services, 'site-roles', { config: { playbookRepo: fixtureCopy('site-roles') } });
  });

  afterAll(async () => {
    await stack?.stop();
  });

  it('runs only sonarr and radarr, only on the nas, once each, in one audited run of site.yml', { timeout: 240_000 }, async () => {
    const asked = await stack.call('POST', '/chat', { message: 'Enable sonarr and radarr on the nas' });
    expect(asked.status, JSON.stringify(asked.body)).toBe(201);
    const request = asked.body;
    expect(request.status).toBe('pending_approval');
    expect(request.plan.steps).toHaveLength(1);
    // The step as the API presents it: `host` is the run's --limit (api/present.ts).
    expect(request.plan.steps[0]).toMatchObject({
      index: 0,
      playbook: 'site.yml',
      tags: ['sonarr', 'radarr'],
      vars: { sonarr_enabled: true, radarr_enabled: true },
      var_sources: { sonarr_enabled: 'switch', radarr_enabled: 'switch' },
      host: 'nas',
      // site.yml's play says become: true; the inventory's ansible_become: false overrides it when it runs.
      become: true,
      agent: stack.config.workerHost,
      status: 'pending',
    });
    expect(Object.keys(request.plan.steps[0].vars).sort()).toEqual(['radarr_enabled', 'sonarr_enabled']);
    // Nothing ran before the approval.
    expect(stateFiles(stack)).toEqual([]);

    const done = await approveAndComplete(stack, request);
    expect(done.steps.map((s: any) => [s.playbook, s.host, s.agent, s.status])).toEqual([
      ['site.yml', 'nas', stack.config.workerHost, 'completed'],
    ]);

    // What the playbook wrote: one line for sonarr and one for radarr, on nas; nothing else anywhere.
    expect(stateFiles(stack)).toEqual(['nas/radarr.log', 'nas/sonarr.log']);
    expect(stateLines(stack, 'nas', 'sonarr.log')).toEqual([expect.stringMatching(/^sonarr \S+$/)]);
    expect(stateLines(stack, 'nas', 'radarr.log')).toEqual([expect.stringMatching(/^radarr \S+$/)]);
    for (const role of ROLES.filter((r) => r !== 'sonarr' && r !== 'radarr')) {
      expect(stateLines(stack, 'nas', `${role}.log`), role).toBeNull();
    }
    expect(fs.existsSync(path.join(stack.config.stateDir, 'meeseeks'))).toBe(false);

    // The audit: the task's commit, a run that touched nas only (the play's other host, meeseeks, was limited away).
    const record = await expectAudited(stack, request.request_id, done.steps[0]);
    expect(record).toMatchObject({ playbook: 'site.yml', host: 'nas', status: 'completed', execution_result: { exit_code: 0 } });
    expect(Object.keys(record.execution_result.stats)).toEqual(['nas']);
    expect(record.execution_result.stats.nas).toMatchObject({ failures: 0, unreachable: 0 });
    // The tasks that ran are sonarr's and radarr's, on nas (--tags selected no other role's tasks).
    expect(record.execution_result.tasks.map((t: any) => [t.name, t.host])).toEqual([
      ['sonarr : Create the sonarr folder', 'nas'],
      ['sonarr : Record that sonarr ran on this host', 'nas'],
      ['radarr : Create the radarr folder', 'nas'],
      ['radarr : Record that radarr ran on this host', 'nas'],
    ]);
    expect(record.execution_result.tasks.map((t: any) => t.status)).not.toContain('failed');
  });
});

describe('cluster: a play that coordinates its hosts', () => {
  let stack: Stack;

  beforeAll(async () => {
    stack = await startStack(services, 'cluster', { config: { playbookRepo: fixtureCopy('cluster') } });
  });

  afterAll(async () => {
    await stack?.stop();
  });

  it(
    'deploys k3s as one step over all its servers: one token, every server joined through k3s-1, one kubeconfig',
    { timeout: 240_000 },
    async () => {
      const asked = await stack.call('POST', '/chat', { message: 'deploy k3s' });
      expect(asked.status, JSON.stringify(asked.body)).toBe(201);
      const request = asked.body;
      expect(request.status).toBe('pending_approval');
      expect(request.plan.steps).toHaveLength(1);
      expect(request.plan.steps[0]).toMatchObject({
        playbook: 'k3s.yml',
        host: null,
        tags: [],
        become: false,
        agent: stack.config.workerHost,
      });

      const done = await approveAndComplete(stack, request);
      expect(done.steps.map((s: any) => [s.playbook, s.host, s.status])).toEqual([['k3s.yml', null, 'completed']]);

      // run_once made the token once, on the first server.
      expect(stateLines(stack, 'k3s', 'token.log')).toEqual([expect.stringMatching(/^token made by k3s-1 \d+$/)]);
      // Every server joined through the first one, in a play of all three.
      for (const host of K3S_SERVERS) {
        expect(stateLines(stack, 'k3s', `${host}.joined`), host).toEqual(['joined via k3s-1 with 3 servers']);
      }
      expect(stateLines(stack, 'k3s', 'kubeconfig.log')).toEqual([expect.stringMatching(/^server https:\/\/k3s-1:6443 \d+$/)]);
      expect(stateFiles(stack)).toEqual([
        'k3s/k3s-1.joined',
        'k3s/k3s-2.joined',
        'k3s/k3s-3.joined',
        'k3s/kubeconfig.log',
        'k3s/token.log',
      ]);

      const record = await expectAudited(stack, request.request_id, done.steps[0]);
      expect(Object.keys(record.execution_result.stats).sort()).toEqual([...K3S_SERVERS, 'localhost']);
    },
  );

  it("answers 422 naming the inventory's hosts and groups for a host it does not have", { timeout: 120_000 }, async () => {
    const asked = await stack.call('POST', '/chat', { message: 'deploy k3s on nowhere' });
    expect(asked.status, JSON.stringify(asked.body)).toBe(422);
    expect(asked.body.error.code).toBe('unplannable');
    expect(asked.body.error.message).toContain('"nowhere" is not a host or group of the inventory');
    expect(asked.body.error.message).toContain('hosts: k3s-1, k3s-2, k3s-3');
    expect(asked.body.error.message).toMatch(/groups: .*\bservers\b/);
  });
});
