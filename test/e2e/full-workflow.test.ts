// The seed's acceptance suite, end to end on real parts: a Temporal dev server from the project's
// binary, a PostgreSQL database of this file's own, real Chiffon workers, the real ansible-playbook
// and ansible-lint against localhost, temporary audit and playbook git repositories and the HTTP API
// over real HTTP. The groups, in this order:
//   E2E-01 full request flow            a request is parsed, planned and waits for a decision
//   E2E-02 config discovery             the playbook repository scanned into the catalog, the
//                                       inventory's portals proposed, the scan cached
//   E2E-03 deployment execution         the approved plan's playbooks run in order, logged, audited
//   E2E-04 suggestions and audit        a failure analysed into suggestions; one accepted and
//                                       committed to the playbook repository; the audit queries
//   full workflow integration           a whole Kuma request; requests paused for capacity while
//                                       their overloaded agent runs a step (never while it is idle)
//   workflow with external AI fallback  low quota on the primary model routes to Claude
//
// The Temporal dev server, the database and the workflow bundle are the file's, started once in the
// top-level beforeAll. Each describe group starts its own stack (worker + API on a task queue of its
// own, its own state directory and audit repository, and its own playbook repository where it needs
// one) in its beforeAll and stops it in its afterAll, so a group runs alone by name:
//   npx vitest run test/e2e/full-workflow.test.ts -t "E2E-01"
// Inside a group, tests share one request, made the first time a test asks for it (once()), so a
// single test also runs alone: -t "playbooks run in sequence".
// The groups share the database: a group that queries across requests (E2E-04's GET /audit/failures)
// accounts for what the groups before it left there.
import fs from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import git from 'isomorphic-git';
import YAML from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentOverloadReason } from '../../domain/capacity.js';
import { lintPlaybook } from '../../services/ansible/lint-playbook.js';
import { readFingerprint } from '../../services/fingerprint.js';
import { sha256, planHash } from '../../domain/plan-hash.js';
import type { Plan } from '../../domain/types.js';
import { loadLlmConfig } from '../../lib/llm-config.js';
import { fromProjectRoot } from '../../lib/paths.js';
import { agentIdFor } from '../../workers/agent-reporter.js';
import { servicesSearchAttribute, statusSearchAttribute } from '../../workflows/messages.js';
import { anthropicFake, closeAllFakes, openAiFake, quotaFake } from '../support/provider-fakes.js';
import {
  capacityWakes,
  once,
  playbookRepoCopy,
  requestRow,
  sleep,
  startAgent,
  startServices,
  startStack,
  type E2EServices,
  type Stack,
} from '../support/e2e-stack.js';
import { openPayloadsIn } from '../support/codec.js';
import { liveGate, liveGateFiles } from '../support/live-gate.js';
import { runningSteps } from '../../services/running-steps.js';

const KUMA_REQUEST = 'Deploy Kuma Uptime to homelab and add our existing portals to the config';
const KUMA_PLAYBOOKS = ['kuma-deploy.yml', 'kuma-config-update.yml'];
/** The inventory's portals, as the kuma request's plan fills kuma_monitors with them. */
const PORTALS = [
  { name: 'portal-1', portal_url: 'https://portal-1.homelab.lan' },
  { name: 'portal-2', portal_url: 'https://portal-2.homelab.lan' },
];
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

let services: E2EServices;

beforeAll(async () => {
  services = await startServices('full-workflow');
});

afterAll(async () => {
  await services?.stop();
  await closeAllFakes();
});

function workflowHandle(requestId: string) {
  return services.env.client.workflow.getHandle(`request-${requestId}`);
}

interface ActivityRun {
  name: string;
  input: unknown[];
  /** Index in the history of its ActivityTaskScheduled event. */
  scheduled: number;
  /** Index in the history of its ActivityTaskCompleted event, or -1. */
  completed: number;
}

/** A request's Temporal history: its events, and the activities in it in the order they were scheduled. */
async function historyOf(requestId: string) {
  const events = (await openPayloadsIn(await workflowHandle(requestId).fetchHistory())).events ?? [];
  const idIndex = new Map(events.map((e, i) => [String(e.eventId), i]));
  const activities: ActivityRun[] = [];
  events.forEach((event, index) => {
    const scheduled = event.activityTaskScheduledEventAttributes;
    if (!scheduled?.activityType?.name) return;
    const input = (scheduled.input?.payloads ?? []).map((p) => JSON.parse(Buffer.from(p.data ?? new Uint8Array()).toString('utf8')));
    const completed = events.findIndex(
      (e) =>
        e.activityTaskCompletedEventAttributes && idIndex.get(String(e.activityTaskCompletedEventAttributes.scheduledEventId)) === index,
    );
    activities.push({ name: scheduled.activityType.name, input, scheduled: index, completed });
  });
  return { events, activities };
}

interface HistoryFacts {
  /** Index in the history of the accepted `decide` update, or -1. */
  decisionAccepted: number;
  /** The runStep activities, in the order they were scheduled, with what they ran. */
  runSteps: { scheduled: number; completed: number; playbook: string; taskId: string }[];
}

/** What the workflow's Temporal history says about the decision and the playbook steps. */
async function historyFacts(requestId: string): Promise<HistoryFacts> {
  const { events, activities } = await historyOf(requestId);
  const runSteps = activities
    .filter((run) => run.name === 'runStep')
    .map(({ scheduled, completed, input }) => {
      const { step } = input[0] as { step: { playbook: string; taskId: string } };
      return { scheduled, completed, playbook: step.playbook, taskId: step.taskId };
    });
  const decisionAccepted = events.findIndex(
    (e) => e.workflowExecutionUpdateAcceptedEventAttributes?.acceptedRequest?.input?.name === 'decide',
  );
  return { decisionAccepted, runSteps };
}

/** The names of a playbook's tasks, read from the file itself. */
function taskNamesOf(playbook: string): string[] {
  const plays = YAML.parse(fs.readFileSync(fromProjectRoot('playbooks', playbook), 'utf8')) as { tasks: { name: string }[] }[];
  return plays.flatMap((play) => play.tasks.map((task) => task.name));
}

function fileSha(file: string): string {
  return sha256(fs.readFileSync(file));
}

/** The step_status events of a request's first step, in order: [status, reason]. */
async function stepStatuses(stack: Stack, requestId: string): Promise<[string, string | undefined][]> {
  const events = (await stack.call('GET', `/requests/${requestId}/events?format=json`)).body.events as any[];
  return events.filter((e) => e.kind === 'step_status' && e.step_index === 0).map((e) => [e.payload.status, e.payload.reason]);
}

async function submitKuma(stack: Stack): Promise<any> {
  const chat = await stack.call('POST', '/chat', { message: KUMA_REQUEST });
  expect(chat.status, JSON.stringify(chat.body)).toBe(201);
  return chat.body;
}

describe('E2E-01 full request flow', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack(services, 'e2e01');
  });
  afterAll(async () => {
    await stack?.stop();
  });

  const submitted = once(() => submitKuma(stack));

  it('user submits kuma deployment request', async () => {
    const request = await submitted();
    expect(request.request_id).toMatch(/^[0-9a-f]{12}$/);
    expect(request).toMatchObject({ workflow_id: `request-${request.request_id}`, status: 'pending_approval', message: KUMA_REQUEST });

    // It is a live Temporal workflow on the worker's task queue, listed by its status.
    const description = await workflowHandle(request.request_id).describe();
    expect(description.status.name).toBe('RUNNING');
    expect(description.taskQueue).toBe(stack.config.taskQueue);
    expect(description.typedSearchAttributes.get(statusSearchAttribute)).toBe('pending_approval');
    expect(description.typedSearchAttributes.get(servicesSearchAttribute)).toEqual(['kuma']);

    // ... and a row of the requests table.
    await requestRow(services, request.request_id, {
      workflowId: `request-${request.request_id}`,
      message: KUMA_REQUEST,
      status: 'pending_approval',
      approver: null,
    });

    const fetched = await stack.call('GET', `/requests/${request.request_id}`);
    expect(fetched.status).toBe(200);
    expect(fetched.body).toMatchObject({ request_id: request.request_id, status: 'pending_approval', message: KUMA_REQUEST });
  });

  it('orchestrator parses intent', async () => {
    const request = await submitted();
    expect(request.intents).toEqual([
      { name: 'deploy_kuma', service: 'kuma', playbook: 'kuma-deploy.yml', source: 'Deploy Kuma Uptime to homelab' },
      {
        name: 'add_portals_to_config',
        service: 'kuma',
        playbook: 'kuma-config-update.yml',
        source: 'add our existing portals to the config',
      },
    ]);
    const row = await requestRow(services, request.request_id, { status: 'pending_approval' });
    expect((row.intents as { name: string }[]).map((i) => i.name)).toEqual(['deploy_kuma', 'add_portals_to_config']);

    // Intents come from the playbook catalog: a request it cannot serve is refused, naming what it knows.
    const nothing = await stack.call('POST', '/chat', { message: 'Paint the fence' });
    expect(nothing.status).toBe(422);
    expect(nothing.body.error).toMatchObject({ code: 'unplannable', known_services: expect.arrayContaining(['kuma', 'postgres']) });
  });

  it('generates multi-step plan', async () => {
    const request = await submitted();
    const { plan } = request;
    expect(plan.plan_id).toMatch(UUID);
    expect(plan.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(plan.steps.map((s: any) => [s.index, s.playbook, s.service, s.intent, s.status])).toEqual([
      [0, 'kuma-deploy.yml', 'kuma', 'deploy_kuma', 'pending'],
      [1, 'kuma-config-update.yml', 'kuma', 'add_portals_to_config', 'pending'],
    ]);
    // Variables filled from the playbooks' metadata defaults and from the inventory.
    expect(plan.steps[0].vars).toMatchObject({ kuma_port: 3001, kuma_image_tag: '1' });
    expect(plan.steps[0].var_sources.kuma_port).toBe('default');
    expect(plan.steps[1].vars.kuma_monitors).toEqual(PORTALS);
    expect(plan.steps[1].var_sources.kuma_monitors).toBe('inventory:portals');
    // Every step is a task with its own id from planning on.
    const taskIds = plan.steps.map((s: any) => s.task_id);
    for (const id of taskIds) expect(id).toMatch(UUID);
    expect(new Set(taskIds).size).toBe(2);
    expect(request.steps.map((s: any) => [s.task_id, s.status, s.attempt])).toEqual(taskIds.map((id: string) => [id, 'pending', 1]));

    // The plan is the workflow's (GET shows the same) and is stored with the fingerprint of the files
    // it was made from; its hash covers the steps and those files.
    expect((await stack.call('GET', `/requests/${request.request_id}`)).body.plan).toEqual(plan);
    const row = await requestRow(services, request.request_id, { status: 'pending_approval' });
    const stored = row.plan as unknown as Plan;
    expect(row.planId).toBe(plan.plan_id);
    expect(stored.hash).toBe(plan.hash);
    expect(stored.fingerprint.playbooks).toEqual(
      Object.fromEntries(KUMA_PLAYBOOKS.map((p) => [p, fileSha(fromProjectRoot('playbooks', p))])),
    );
    // The sample repository's inventory is its conventional inventory/ folder (inventory-source.ts).
    expect(stored.fingerprint.inventory).toBe(
      (await readFingerprint(fromProjectRoot('playbooks'), [fromProjectRoot('playbooks', 'inventory')], [])).inventory,
    );
    expect(planHash(stored.steps, stored.fingerprint)).toBe(plan.hash);
  });

  it('plan requires user approval', async () => {
    const request = await submitted();
    const id = request.request_id;
    await sleep(1_000);
    const waiting = await stack.call('GET', `/requests/${id}`);
    expect(waiting.body).toMatchObject({ status: 'pending_approval', decision: null });
    expect(waiting.body.steps.map((s: any) => s.status)).toEqual(['pending', 'pending']);

    // A decision without a token, or by a requester, is refused and changes nothing.
    const anonymous = await stack.call('POST', '/approve', { request_id: id, approved: true }, {}, 'none');
    expect(anonymous.status).toBe(401);
    expect(anonymous.body.error.code).toBe('unauthorized');
    const requester = await stack.call('POST', '/approve', { request_id: id, approved: true }, {}, 'requester');
    expect(requester.status).toBe(403);
    expect(requester.body.error.code).toBe('forbidden');
    expect((await stack.call('GET', `/requests/${id}`)).body).toMatchObject({ status: 'pending_approval', decision: null });

    // Nothing ran: no playbook activity, no effect, no task record, no audit commit.
    expect((await historyFacts(id)).runSteps).toEqual([]);
    expect(fs.existsSync(path.join(stack.config.stateDir, 'kuma'))).toBe(false);
    expect(await services.database.prisma.task.count({ where: { requestId: id } })).toBe(0);
    expect(await stack.auditLog()).toEqual([]);
    await requestRow(services, id, { status: 'pending_approval', approver: null, approved: null });
  });

  it('user approves plan', async () => {
    const request = await submitted();
    const id = request.request_id;
    const approve = await stack.call('POST', '/approve', {
      request_id: id,
      approved: true,
      comment: 'ship it',
      plan_hash: request.plan.hash,
    });
    expect(approve).toEqual({ status: 200, body: { request_id: id, dispatch_started: true, status: 'running' } });
    const decided = (await stack.call('GET', `/requests/${id}`)).body;
    expect(decided.decision).toMatchObject({ approver: 'bob', approved: true, comment: 'ship it', plan_hash: request.plan.hash });
    expect(Date.parse(decided.decision.decided_at)).not.toBeNaN();

    // One decision per plan.
    const second = await stack.call('POST', '/approve', { request_id: id, approved: false }, {}, 'admin');
    expect(second.status).toBe(409);
    expect(second.body.error.code).toBe('conflict');

    const done = await stack.waitForStatus(id, 'completed');
    expect(done.decision.approver).toBe('bob');
    expect(done.steps.map((s: any) => s.status)).toEqual(['completed', 'completed']);
    expect(fs.existsSync(path.join(stack.config.stateDir, 'kuma', 'monitors.json'))).toBe(true);
    await requestRow(services, id, {
      status: 'completed',
      approver: 'bob',
      approved: true,
      decisionComment: 'ship it',
    });
  });
});

// The playbook repository is scanned into the catalog (GET /playbooks), the inventory's portals are
// found and proposed for the kuma request, and the scan's results land in playbook_cache. The
// repository is a copy of the samples with one malformed metadata file next to them, which must be a
// warning with its file and line and stop nothing.
describe('E2E-02 config discovery', () => {
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

  let stack: Stack;
  let repo: string;
  beforeAll(async () => {
    repo = playbookRepoCopy(path.join(services.scratch, 'e2e02-playbooks'), BROKEN);
    stack = await startStack(services, 'e2e02', { config: { playbookRepo: repo } });
  });
  afterAll(async () => {
    await stack?.stop();
    if (repo) fs.rmSync(repo, { recursive: true, force: true });
  });

  const catalog = once(async () => {
    const answer = await stack.call('GET', '/playbooks');
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    return answer.body;
  });
  const submitted = once(() => submitKuma(stack));

  it('finds kuma playbooks', async () => {
    const body = await catalog();
    expect(body.playbooks.map((p: any) => p.path)).toEqual([
      'failure-drill.yml',
      'kuma-config-update.yml',
      'kuma-deploy.yml',
      'postgres-setup.yml',
    ]);
    expect(body.playbooks.filter((p: any) => p.service === 'kuma').map((p: any) => p.path)).toEqual([
      'kuma-config-update.yml',
      'kuma-deploy.yml',
    ]);
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
      source: 'metadata kuma-deploy.meta.yml',
      hosts: 'homelab',
      run: { tags: [], switches: {} },
      coordinated: false,
      become: false,
      intents: [{ name: 'deploy_kuma', verbs: ['deploy', 'install', 'set up', 'start'], objects: [], fleet: false }],
      vars: [
        {
          name: 'kuma_port',
          type: 'int',
          required: false,
          default: 3001,
          has_default: true,
          ansible_default: null,
          choices: null,
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
      intents: [
        expect.objectContaining({ name: 'add_portals_to_config', objects: ['portals'] }),
        expect.objectContaining({ name: 'configure_kuma' }),
      ],
      after: ['kuma-deploy.yml'],
    });
    expect(byPath['kuma-config-update.yml'].vars).toContainEqual(
      expect.objectContaining({
        name: 'kuma_monitors',
        type: 'list',
        required: true,
        default: null,
        has_default: false,
        from_inventory_group: 'portals',
      }),
    );
    expect(byPath['postgres-setup.yml']).toMatchObject({ service: 'postgres', aliases: ['postgresql', 'database'] });
    // A secret var is marked; its default (if any) is never shown.
    expect(byPath['postgres-setup.yml'].vars).toContainEqual(
      expect.objectContaining({ name: 'postgres_superuser_password', secret: true, default: null }),
    );
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
        fills: [
          {
            playbook: 'kuma-config-update.yml',
            service: 'kuma',
            var: 'kuma_monitors',
            required: true,
            intents: ['add_portals_to_config', 'configure_kuma'],
          },
        ],
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
    expect(rows.map((r) => r.path)).toEqual([
      'broken.yml',
      'failure-drill.yml',
      'kuma-config-update.yml',
      'kuma-deploy.yml',
      'postgres-setup.yml',
    ]);
    for (const row of rows) expect(row.contentHash).toMatch(/^[0-9a-f]{64}$/);
    const byPath = Object.fromEntries(rows.map((r) => [r.path, r]));
    expect(byPath['kuma-deploy.yml']!.entry).toMatchObject([{ path: 'kuma-deploy.yml', service: 'kuma' }]);
    expect(byPath['kuma-config-update.yml']!.entry).toMatchObject([
      { vars: expect.arrayContaining([expect.objectContaining({ name: 'kuma_monitors', fromInventoryGroup: 'portals' })]) },
    ]);
    // The unplannable one is cached with its warnings, so it is not parsed again either.
    expect(byPath['broken.yml']!.entry).toEqual([]);
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
    expect(after['broken.yml']!.entry).toMatchObject([{ service: 'mended' }]);
    expect(after['broken.yml']!.contentHash).not.toBe(byPath['broken.yml']!.contentHash);
    for (const p of ['failure-drill.yml', 'kuma-config-update.yml', 'kuma-deploy.yml', 'postgres-setup.yml']) {
      expect(after[p]!.contentHash).toBe(byPath[p]!.contentHash);
      expect(after[p]!.scannedAt).toEqual(byPath[p]!.scannedAt);
    }
  });
});

describe('E2E-03 deployment execution', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack(services, 'e2e03');
  });
  afterAll(async () => {
    await stack?.stop();
  });

  const kumaDir = () => path.join(stack.config.stateDir, 'kuma');

  /** The Kuma request, planned and waiting, with what was there a second later, before the decision. */
  const submitted = once(async () => {
    const request = await submitKuma(stack);
    await sleep(1_000);
    const before = {
      status: (await stack.call('GET', `/requests/${request.request_id}`)).body.status,
      kumaDirExists: fs.existsSync(kumaDir()),
      taskRows: await services.database.prisma.task.count({ where: { requestId: request.request_id } }),
      history: await historyFacts(request.request_id),
    };
    return { request, before };
  });
  const approved = once(async () => {
    const { request, before } = await submitted();
    const approve = await stack.call('POST', '/approve', { request_id: request.request_id, approved: true, plan_hash: request.plan.hash });
    return { request, before, approve };
  });
  const completed = once(async () => {
    const { request } = await approved();
    const done = await stack.waitForStatus(request.request_id, 'completed');
    return { request, done };
  });

  it('approve then execution starts', async () => {
    const { request, before, approve } = await approved();
    const id = request.request_id;
    expect(before).toEqual({
      status: 'pending_approval',
      kumaDirExists: false,
      taskRows: 0,
      history: { decisionAccepted: -1, runSteps: [] },
    });
    expect(approve).toEqual({ status: 200, body: { request_id: id, dispatch_started: true, status: 'running' } });

    // The first step starts after the decision, without anything else asked of anyone.
    const started = await stack.waitForRequest(id, 'first step started', (body) => ['running', 'completed'].includes(body.steps[0].status));
    expect(started.steps[0].started_at).not.toBeNull();
    expect(Date.parse(started.steps[0].started_at)).toBeGreaterThanOrEqual(Date.parse(started.decision.decided_at));
    const history = await historyFacts(id);
    expect(history.decisionAccepted).toBeGreaterThan(-1);
    expect(history.runSteps[0]).toMatchObject({ playbook: 'kuma-deploy.yml', taskId: request.plan.steps[0].task_id });
    expect(history.runSteps[0]!.scheduled).toBeGreaterThan(history.decisionAccepted);
    // ... and ansible-playbook really runs: the deployment directory appears.
    await expect.poll(() => fs.existsSync(kumaDir()), { timeout: 60_000, interval: 200 }).toBe(true);
  });

  it('playbooks run in sequence', async () => {
    const { request, done } = await completed();
    const [first, second] = done.steps;
    expect([first.playbook, second.playbook]).toEqual(KUMA_PLAYBOOKS);
    expect([first.exit_code, second.exit_code]).toEqual([0, 0]);
    expect(Date.parse(first.started_at)).toBeLessThan(Date.parse(first.finished_at));
    expect(Date.parse(first.finished_at)).toBeLessThanOrEqual(Date.parse(second.started_at));
    expect(Date.parse(second.started_at)).toBeLessThan(Date.parse(second.finished_at));

    // Temporal scheduled the second playbook only once the first had completed.
    const { runSteps } = await historyFacts(request.request_id);
    expect(runSteps.map((s) => s.playbook)).toEqual(KUMA_PLAYBOOKS);
    expect(runSteps[0]!.completed).toBeGreaterThan(runSteps[0]!.scheduled);
    expect(runSteps[1]!.scheduled).toBeGreaterThan(runSteps[0]!.completed);

    // What they wrote, in that order (kuma-config-update.yml refuses to run before kuma-deploy.yml).
    const compose = fs.statSync(path.join(kumaDir(), 'docker-compose.yml'));
    const monitors = fs.statSync(path.join(kumaDir(), 'monitors.json'));
    expect(monitors.mtimeMs).toBeGreaterThanOrEqual(compose.mtimeMs);

    // The audit commits follow the same order (the log is newest first).
    const log = await stack.auditLog();
    const position = (taskId: string) => log.findIndex((c) => c.message.includes(taskId));
    expect(position(first.task_id)).toBeGreaterThan(position(second.task_id));
    expect(position(second.task_id)).toBeGreaterThanOrEqual(0);
  });

  it('execution output captured', async () => {
    const { done } = await completed();
    for (const step of done.steps) {
      const audit = await stack.call('GET', `/audit/task/${step.task_id}`);
      expect(audit.status).toBe(200);
      const result = audit.body.git.content.execution_result;
      // Every task of the playbook file, as ansible reported it for localhost.
      const names = taskNamesOf(step.playbook);
      expect(new Set(result.tasks.map((t: any) => t.name))).toEqual(new Set(names));
      for (const task of result.tasks) {
        expect(task.host).toBe('localhost');
        expect(['ok', 'changed']).toContain(task.status);
      }
      expect(result.stats.localhost).toMatchObject({ failures: 0, unreachable: 0 });
      expect(result.stats.localhost.ok).toBeGreaterThanOrEqual(names.length);
      expect(result.stats.localhost.changed).toBeGreaterThanOrEqual(1);
      expect(result.failed_tasks).toEqual([]);
      expect(result.exit_code).toBe(0);
      expect(result.resources.wallMs).toBeGreaterThan(0);
      expect(result.resources.userCpuMs + result.resources.systemCpuMs).toBeGreaterThan(0);
      expect(result.resources.maxRssKb).toBeGreaterThan(0);
      // The PostgreSQL record holds the same recap.
      expect(audit.body.task.result.stats).toEqual(result.stats);
      expect(audit.body.task.outcome).toMatch(/^completed: \d+ task results, [1-9]\d* changed$/);
    }
    const deploy = (await stack.call('GET', `/audit/task/${done.steps[0].task_id}`)).body.git.content.execution_result;
    expect(deploy.tasks).toContainEqual({ name: 'Write the Uptime Kuma compose file', host: 'localhost', status: 'changed' });
    const configure = (await stack.call('GET', `/audit/task/${done.steps[1].task_id}`)).body.git.content.execution_result;
    expect(configure.tasks).toContainEqual({ name: 'Write the Uptime Kuma monitor list', host: 'localhost', status: 'changed' });
  });

  it('all steps logged to PostgreSQL', async () => {
    const { request, done } = await completed();
    const id = request.request_id;
    const rows = await services.database.prisma.task.findMany({ where: { requestId: id }, orderBy: { stepIndex: 'asc' } });
    expect(rows).toHaveLength(2);
    rows.forEach((row, index) => {
      const step = done.steps[index];
      expect(row).toMatchObject({
        id: step.task_id,
        planId: request.plan.plan_id,
        stepIndex: index,
        attempt: 1,
        playbook: KUMA_PLAYBOOKS[index],
        status: 'completed',
        exitCode: 0,
        auditCommit: step.audit_commit,
        auditPath: `.audit/tasks/${step.task_id}.json`,
      });
      expect(row.startedAt?.toISOString()).toBe(new Date(step.started_at).toISOString());
      expect(row.finishedAt?.toISOString()).toBe(new Date(step.finished_at).toISOString());
      expect((row.resources as { wallMs: number }).wallMs).toBeGreaterThan(0);
    });
    expect(rows[0]!.finishedAt!.getTime()).toBeLessThanOrEqual(rows[1]!.startedAt!.getTime());
    await requestRow(services, id, {
      status: 'completed',
      approver: 'bob',
      approved: true,
      planId: request.plan.plan_id,
    });
    // Each row points at a real commit of the audit repository holding the same task.
    const log = await stack.auditLog();
    for (const row of rows) {
      const commit = log.find((c) => c.oid === row.auditCommit);
      expect(commit?.message).toContain(`audit: task ${row.id} completed`);
    }
  });

  it('failures handled gracefully', async () => {
    const chat = await stack.call('POST', '/chat', { message: 'Run the failure drill, then set up postgres' });
    expect(chat.status, JSON.stringify(chat.body)).toBe(201);
    const id = chat.body.request_id;
    expect(chat.body.plan.steps.map((s: any) => s.playbook)).toEqual(['failure-drill.yml', 'postgres-setup.yml']);
    await stack.call('POST', '/approve', { request_id: id, approved: true });

    const failed = await stack.waitForStatus(id, 'failed');
    const [drill, postgres] = failed.steps;
    expect(drill).toMatchObject({ playbook: 'failure-drill.yml', status: 'failed' });
    expect(drill.exit_code).not.toBe(0);
    expect(drill.exit_code).not.toBeNull();
    // The step after the failure is not run, and says why.
    expect(postgres).toMatchObject({ playbook: 'postgres-setup.yml', status: 'skipped', exit_code: null });
    expect(fs.existsSync(path.join(stack.config.stateDir, 'failure-drill', 'started-at'))).toBe(true);
    expect(fs.existsSync(path.join(stack.config.stateDir, 'postgres'))).toBe(false);

    // The failure is captured and analysed: the failing task, its message, the lint findings.
    const audit = await stack.call('GET', `/audit/task/${drill.task_id}`);
    expect(audit.body.task).toMatchObject({ status: 'failed', exit_code: drill.exit_code });
    expect(audit.body.task.outcome).toMatch(/^failed at task "fail on purpose" on localhost/);
    const result = audit.body.git.content.execution_result;
    expect(result.failed_tasks).toEqual([expect.objectContaining({ task: 'fail on purpose', host: 'localhost' })]);
    expect(result.tasks).toContainEqual({ name: 'fail on purpose', host: 'localhost', status: 'failed' });
    expect(result.stats.localhost.failures).toBe(1);
    expect(audit.body.task.suggestions.length).toBeGreaterThan(0);
    expect(await services.database.prisma.playbookSuggestion.count({ where: { taskId: drill.task_id } })).toBe(
      audit.body.task.suggestions.length,
    );
    const skipped = await stack.call('GET', `/audit/task/${postgres.task_id}`);
    expect(skipped.body.task).toMatchObject({ status: 'skipped', exit_code: null, outcome: 'not run: an earlier step failed' });
    expect(skipped.body.git.commit).toBe(postgres.audit_commit);
    await requestRow(services, id, { status: 'failed' });

    // The request stays open for a retry, and the worker goes on serving other requests.
    expect((await workflowHandle(id).describe()).status.name).toBe('RUNNING');
    const next = await stack.call('POST', '/chat', { message: 'Set up postgres' });
    expect(next.status).toBe(201);
    await stack.call('POST', '/approve', { request_id: next.body.request_id, approved: true });
    await stack.waitForStatus(next.body.request_id, 'completed');
    expect(fs.existsSync(path.join(stack.config.stateDir, 'postgres', 'postgresql.conf'))).toBe(true);
  });
});

// A "Run the failure drill" request fails; its failure is analysed with ansible-lint into
// suggestions; one is accepted and committed to the playbook repository (a git repository of the
// group's own, a copy of playbooks/ committed here), another dismissed; then the audit queries. The
// group shares one failed request (once()), so each test also runs alone: -t "git repo contains commit".
describe('E2E-04 suggestions and audit', () => {
  const DRILL = 'Run the failure drill';
  const PLAYBOOK = 'failure-drill.yml';
  const CATEGORIES = ['idempotency', 'error_handling', 'security', 'deprecation', 'formatting', 'other'];
  const author = { name: 'Homelab admin', email: 'admin@homelab.lan' };

  let stack: Stack;
  let repo: string;
  let initialCommit: string;
  let originalSha: string;
  /** GET /audit/failures before this group's first drill: what groups before it left in the file's database. */
  let earlier: { total: number; failures: any[]; by_service: any[]; by_playbook: any[]; next_offset: number | null };

  beforeAll(async () => {
    // The playbook repository is a git repository of its own.
    repo = playbookRepoCopy(path.join(services.scratch, 'e2e04-playbook-repo'));
    await git.init({ fs, dir: repo, defaultBranch: 'main' });
    await git.add({ fs, dir: repo, filepath: '.' });
    initialCommit = await git.commit({ fs, dir: repo, message: 'Homelab playbooks', author, committer: author });
    originalSha = sha256(fs.readFileSync(path.join(repo, PLAYBOOK)));
    stack = await startStack(services, 'e2e04', { config: { playbookRepo: repo } });
    earlier = (await stack.call('GET', '/audit/failures?days=7&limit=200')).body;
    expect(earlier.next_offset).toBeNull();
  });
  afterAll(async () => {
    await stack?.stop();
    if (repo) fs.rmSync(repo, { recursive: true, force: true });
  });

  /** Earlier failures whose `field` is `value`. */
  const earlierWith = (field: 'service' | 'playbook', value: string) => earlier.failures.filter((f) => f[field] === value).length;
  /** Earlier counts per service or playbook with `added` more failures of `name`, ranked as the API ranks them. */
  const countsPlus = (field: 'service' | 'playbook', name: string, added: number) => {
    const rows: any[] = (field === 'service' ? earlier.by_service : earlier.by_playbook).filter((row) => row[field] !== name);
    rows.push({ [field]: name, failures: earlierWith(field, name) + added });
    return rows.sort((x, y) => y.failures - x.failures || String(x[field] ?? '').localeCompare(String(y[field] ?? '')));
  };

  async function runDrill(): Promise<{ request: any; done: any }> {
    const chat = await stack.call('POST', '/chat', { message: DRILL });
    expect(chat.status, JSON.stringify(chat.body)).toBe(201);
    const approve = await stack.call('POST', '/approve', {
      request_id: chat.body.request_id,
      approved: true,
      plan_hash: chat.body.plan.hash,
    });
    expect(approve.status, JSON.stringify(approve.body)).toBe(200);
    const done = await stack.waitForStatus(chat.body.request_id, 'failed');
    return { request: chat.body, done };
  }

  /** The drill, failed and analyzed. */
  const failed = once(async () => {
    const { request, done } = await runDrill();
    return { request, done, taskId: done.steps[0].task_id as string };
  });

  /** Its suggestions as the API lists them and as PostgreSQL holds them, before anyone decided. */
  const listed = once(async () => {
    const { taskId } = await failed();
    const answer = await stack.call('GET', `/suggestions?task_id=${taskId}&limit=200`);
    expect(answer.status).toBe(200);
    const rows = await services.database.prisma.playbookSuggestion.findMany({ where: { taskId } });
    return { suggestions: answer.body.suggestions as any[], rows };
  });

  const find = (suggestions: any[], rule: string, line: number) => {
    const found = suggestions.find((s) => s.rule === rule && s.line === line);
    if (!found) throw new Error(`no ${rule} at line ${line} in ${JSON.stringify(suggestions.map((s) => `${s.rule}@${s.line}`))}`);
    return found;
  };

  /** bob (an approver) accepts the fqcn suggestion of the shell task; carol (an admin) dismisses a no-changed-when one. */
  const decided = once(async () => {
    const { suggestions } = await listed();
    const fqcn = find(suggestions, 'fqcn[action-core]', 23);
    const accept = await stack.call('POST', `/suggestions/${fqcn.id}/accept`);
    expect(accept.status, JSON.stringify(accept.body)).toBe(200);
    const dismissedOne = find(suggestions, 'no-changed-when', 25);
    const dismiss = await stack.call('POST', `/suggestions/${dismissedOne.id}/dismiss`, undefined, {}, 'admin');
    expect(dismiss.status, JSON.stringify(dismiss.body)).toBe(200);
    return { fqcn, accept: accept.body, dismissedOne, dismiss: dismiss.body };
  });

  /** A second drill, planned and run from the improved playbook. */
  const secondFailure = once(async () => {
    await decided();
    return runDrill();
  });

  it('analyzer runs after failure', async () => {
    const { request, done, taskId } = await failed();
    expect(done.steps).toEqual([expect.objectContaining({ playbook: PLAYBOOK, status: 'failed', task_id: taskId })]);
    expect(done.steps[0].exit_code).not.toBe(0);

    // In the workflow: the playbook ran and failed, then analyzeFailure linted it, then the task was audited.
    const runs = (await historyOf(request.request_id)).activities;
    const step = runs.find((r) => r.name === 'runStep');
    const analysis = runs.find((r) => r.name === 'analyzeFailure');
    const audit = runs.find((r) => r.name === 'auditTask' && (r.input[0] as any).step.taskId === taskId);
    expect(step && analysis && audit).toBeTruthy();
    expect(analysis!.input).toEqual([PLAYBOOK]);
    expect(analysis!.scheduled).toBeGreaterThan(step!.completed);
    expect(analysis!.completed).toBeGreaterThan(analysis!.scheduled);
    expect(audit!.scheduled).toBeGreaterThan(analysis!.completed);

    // What it found: the failing task, its host and error, and the lint findings over the playbook.
    const trail = await stack.call('GET', `/audit/task/${taskId}`);
    expect(trail.body.task.outcome).toMatch(/^failed at task "fail on purpose" on localhost/);
    const content = trail.body.git.content;
    expect(content.execution_result.failed_tasks).toEqual([
      { task: 'fail on purpose', host: 'localhost', message: expect.stringContaining('non-zero return code') },
    ]);
    const findings = content.analysis.lint_findings;
    expect(findings.length).toBeGreaterThan(0);
    for (const finding of findings) {
      expect(finding).toMatchObject({
        path: PLAYBOOK,
        playbookSha256: originalSha,
        suggestedChange: expect.any(String),
        fixable: expect.any(Boolean),
      });
      expect(finding.line).toBeGreaterThan(0);
    }
  });

  it('suggestions categorized', async () => {
    const { suggestions } = await listed();
    expect(suggestions.length).toBeGreaterThanOrEqual(5);
    for (const s of suggestions) {
      expect(CATEGORIES).toContain(s.category);
      expect(s).toMatchObject({ playbook: PLAYBOOK, path: PLAYBOOK, severity: expect.stringMatching(/^(major|minor)$/) });
      expect(s.line).toBeGreaterThan(0);
      expect(s.message.length).toBeGreaterThan(0);
      expect(s.suggested_change.length).toBeGreaterThan(0);
    }
    // Placed by the rules' tags (and ids), each with a concrete change.
    expect(find(suggestions, 'fqcn[action-core]', 23)).toMatchObject({
      category: 'formatting',
      fixable: true,
      suggested_change: 'use ansible.builtin.shell instead of shell',
    });
    expect(find(suggestions, 'fqcn[action-core]', 26)).toMatchObject({
      category: 'formatting',
      fixable: true,
      suggested_change: 'use ansible.builtin.command instead of command',
    });
    expect(find(suggestions, 'no-changed-when', 25)).toMatchObject({
      category: 'idempotency',
      fixable: false,
      suggested_change: expect.stringMatching(/^add changed_when: \(a condition\) to the command task "fail on purpose"/),
    });
    expect(find(suggestions, 'risky-file-permissions', 18)).toMatchObject({
      category: 'security',
      fixable: false,
      suggested_change: expect.stringContaining('set mode: explicitly'),
    });
    expect(find(suggestions, 'name[missing]', 23)).toMatchObject({
      category: 'other',
      suggested_change: expect.stringMatching(/^give the task a name/),
    });
    expect(find(suggestions, 'name[casing]', 25)).toMatchObject({
      category: 'other',
      fixable: true,
      suggested_change: 'start the name with an uppercase letter: "Fail on purpose"',
    });
  });

  it('suggestions stored in database', async () => {
    const { taskId } = await failed();
    const { suggestions, rows } = await listed();
    expect(rows).toHaveLength(suggestions.length);
    expect(new Set(rows.map((r) => r.id))).toEqual(new Set(suggestions.map((s) => s.id)));
    for (const row of rows) {
      // Linked to the failed task, with the version of the playbook they were made for.
      expect(row).toMatchObject({
        taskId,
        playbook: PLAYBOOK,
        status: 'open',
        playbookSha256: originalSha,
        decidedBy: null,
        decidedAt: null,
        commitHash: null,
      });
      expect(row.suggestedChange).toBe(suggestions.find((s) => s.id === row.id).suggested_change);
    }
    const task = await services.database.prisma.task.findUniqueOrThrow({ where: { id: taskId }, include: { suggestions: true } });
    expect(task.suggestions).toHaveLength(rows.length);
    expect(task).toMatchObject({ status: 'failed', playbook: PLAYBOOK, service: 'failure-drill' });
  });

  it('user can accept suggestion', async () => {
    const { taskId } = await failed();
    const { suggestions } = await listed();
    const fqcn = find(suggestions, 'fqcn[action-core]', 23);

    // Accepting is a decision: it needs an approver's (or admin's) token.
    const anonymous = await stack.call('POST', `/suggestions/${fqcn.id}/accept`, undefined, {}, 'none');
    expect(anonymous.status).toBe(401);
    expect(anonymous.body.error.code).toBe('unauthorized');
    const requester = await stack.call('POST', `/suggestions/${fqcn.id}/accept`, undefined, {}, 'requester');
    expect(requester.status).toBe(403);
    expect(requester.body.error.code).toBe('forbidden');

    const { accept, dismissedOne, dismiss } = await decided();
    expect(accept).toMatchObject({
      suggestion: { id: fqcn.id, status: 'accepted', decided_by: 'bob', commit_hash: accept.commit, task_id: taskId },
      method: 'ansible-lint-fix',
      // ansible-lint's fixer fixed the playbook's other fqcn finding with it.
      also_accepted: [find(suggestions, 'fqcn[action-core]', 26).id],
    });
    expect(accept.commit).toMatch(/^[0-9a-f]{40}$/);
    expect(dismiss.suggestion).toMatchObject({ id: dismissedOne.id, status: 'dismissed', decided_by: 'carol', commit_hash: null });

    // A decided suggestion stays decided; one made for the playbook before the change is refused.
    const twice = await stack.call('POST', `/suggestions/${fqcn.id}/accept`);
    expect(twice.status).toBe(409);
    expect(twice.body.error).toMatchObject({ code: 'conflict', reason: 'already_decided' });
    expect((await stack.call('POST', `/suggestions/${dismissedOne.id}/dismiss`, undefined, {}, 'admin')).status).toBe(409);
    const stale = await stack.call('POST', `/suggestions/${find(suggestions, 'name[casing]', 25).id}/accept`);
    expect(stale.status).toBe(409);
    expect(stale.body.error).toMatchObject({
      code: 'conflict',
      reason: 'playbook_changed',
      message: expect.stringContaining('the playbook changed since the suggestion was made'),
    });

    // The lists follow the decisions.
    const byStatus = async (status: string) =>
      (await stack.call('GET', `/suggestions?playbook=${PLAYBOOK}&status=${status}&task_id=${taskId}`)).body.suggestions
        .map((s: any) => s.id)
        .sort();
    expect(await byStatus('accepted')).toEqual([fqcn.id, find(suggestions, 'fqcn[action-core]', 26).id].sort());
    expect(await byStatus('dismissed')).toEqual([dismissedOne.id]);
    expect(await byStatus('open')).toHaveLength(suggestions.length - 3);
  });

  it('improvement committed to git', async () => {
    await decided();
    const file = path.join(repo, PLAYBOOK);
    const content = fs.readFileSync(file, 'utf8');
    expect(content).toContain('- ansible.builtin.shell: date -u');
    expect(content).toContain("ansible.builtin.command: sh -c 'echo");
    expect(sha256(content)).not.toBe(originalSha);
    // The fqcn findings are gone; the others are still there (nobody fixed them).
    const rules = (await lintPlaybook({ playbookRepo: repo, playbook: PLAYBOOK, workDir: stack.config.workDir })).map((f) => f.rule);
    expect(rules).not.toContain('fqcn[action-core]');
    expect(rules).toEqual(expect.arrayContaining(['no-changed-when', 'risky-file-permissions', 'name[missing]']));
    // Committed, not just written: ordinary git sees a clean working tree.
    const status = await execa('git', ['-C', repo, 'status', '--porcelain'], { stdin: 'ignore' });
    expect(status.stdout).toBe('');
  });

  it('git repo contains commit', async () => {
    const { accept } = await decided();
    const log = await git.log({ fs, dir: repo });
    expect(log.map((entry) => entry.oid)).toEqual([accept.commit, initialCommit]);
    expect(log[0]!.commit.parent).toEqual([initialCommit]);
    // It changes the playbook and nothing else.
    const changed: string[] = [];
    for (const filepath of await git.listFiles({ fs, dir: repo, ref: initialCommit })) {
      const before = await git.readBlob({ fs, dir: repo, oid: initialCommit, filepath });
      const after = await git.readBlob({ fs, dir: repo, oid: accept.commit, filepath });
      if (before.oid !== after.oid) changed.push(filepath);
    }
    expect(changed).toEqual([PLAYBOOK]);
    const committed = await git.readBlob({ fs, dir: repo, oid: accept.commit, filepath: PLAYBOOK });
    expect(Buffer.from(committed.blob).equals(fs.readFileSync(path.join(repo, PLAYBOOK)))).toBe(true);
    // The git command line reads the same history.
    const cli = await execa('git', ['-C', repo, 'log', '--format=%H'], { stdin: 'ignore' });
    expect(cli.stdout.split('\n')).toEqual([accept.commit, initialCommit]);
  });

  it('commit includes task details', async () => {
    const { request, taskId } = await failed();
    const { fqcn, accept } = await decided();
    const { commit } = await git.readCommit({ fs, dir: repo, oid: accept.commit });
    const message = commit.message;
    expect(message.split('\n')[0]).toBe(`Apply suggestion ${fqcn.id}: fqcn[action-core] in ${PLAYBOOK}`);
    expect(message).toContain(`use ansible.builtin.shell instead of shell (${PLAYBOOK}:23).`);
    expect(message).toContain(`ansible-lint found fqcn[action-core] when task ${taskId} of request ${request.request_id} failed.`);
    expect(message).toContain('Applied with ansible-lint --fix=fqcn; accepted by bob in Chiffon.');
    expect(message).toContain(
      [
        `Chiffon-Suggestion: ${fqcn.id}`,
        'Chiffon-Rule: fqcn[action-core]',
        `Chiffon-Task: ${taskId}`,
        `Chiffon-Request: ${request.request_id}`,
        'Accepted-By: bob',
      ].join('\n'),
    );
    expect(commit.author.name).toBe('Chiffon');
  });

  it('PostgreSQL records task state', async () => {
    const { request, done, taskId } = await failed();
    const { fqcn, accept, dismissedOne } = await decided();
    const task = await services.database.prisma.task.findUniqueOrThrow({ where: { id: taskId }, include: { suggestions: true } });
    expect(task).toMatchObject({
      requestId: request.request_id,
      planId: request.plan.plan_id,
      stepIndex: 0,
      attempt: 1,
      playbook: PLAYBOOK,
      service: 'failure-drill',
      status: 'failed',
      exitCode: done.steps[0].exit_code,
      auditCommit: done.steps[0].audit_commit,
      auditPath: `.audit/tasks/${taskId}.json`,
    });
    expect(task.outcome).toMatch(/^failed at task "fail on purpose" on localhost/);
    expect(task.finishedAt?.toISOString()).toBe(new Date(done.steps[0].finished_at).toISOString());
    expect((task.result as any).failed_tasks).toEqual([expect.objectContaining({ task: 'fail on purpose', host: 'localhost' })]);

    const byId = new Map(task.suggestions.map((s) => [s.id, s]));
    const accepted = task.suggestions.filter((s) => s.status === 'accepted');
    expect(accepted.map((s) => s.id).sort()).toEqual([fqcn.id, ...accept.also_accepted].sort());
    for (const s of accepted) {
      expect(s).toMatchObject({ rule: 'fqcn[action-core]', decidedBy: 'bob', commitHash: accept.commit });
      expect(s.decidedAt!.getTime()).toBeGreaterThanOrEqual(task.finishedAt!.getTime());
    }
    expect(byId.get(dismissedOne.id)).toMatchObject({ status: 'dismissed', decidedBy: 'carol', commitHash: null });
    expect(task.suggestions.filter((s) => s.status === 'open')).toHaveLength(task.suggestions.length - 3);
    await requestRow(services, request.request_id, { status: 'failed', approver: 'bob', approved: true });
  });

  it('user reviews audit trail from the API', async () => {
    const { request, done, taskId } = await failed();
    const { fqcn, accept, dismissedOne } = await decided();

    // One task: its record, its suggestions with their decisions, and its commit in the audit repository.
    const trail = await stack.call('GET', `/audit/task/${taskId}`);
    expect(trail.status).toBe(200);
    expect(trail.body.task).toMatchObject({ task_id: taskId, request_id: request.request_id, playbook: PLAYBOOK, status: 'failed' });
    const bySuggestion = new Map(trail.body.task.suggestions.map((s: any) => [s.id, s]));
    expect(bySuggestion.get(fqcn.id)).toMatchObject({ status: 'accepted', decided_by: 'bob', commit_hash: accept.commit, fixable: true });
    expect(bySuggestion.get(dismissedOne.id)).toMatchObject({ status: 'dismissed', decided_by: 'carol', commit_hash: null });
    expect(trail.body.git).toMatchObject({ commit: done.steps[0].audit_commit, path: `.audit/tasks/${taskId}.json` });
    expect(trail.body.git.content.analysis.lint_findings).toHaveLength(trail.body.task.suggestions.length);
    expect((await stack.auditLog()).map((c) => c.oid)).toContain(done.steps[0].audit_commit);

    // The failures of the last week, with the request, playbook, service, outcome and time of each.
    const failures = await stack.call('GET', '/audit/failures?days=7');
    expect(failures.status).toBe(200);
    expect(failures.body.failures).toContainEqual({
      task_id: taskId,
      request_id: request.request_id,
      step_index: 0,
      attempt: 1,
      playbook: PLAYBOOK,
      service: 'failure-drill',
      outcome: trail.body.task.outcome,
      exit_code: done.steps[0].exit_code,
      started_at: new Date(done.steps[0].started_at).toISOString(),
      finished_at: new Date(done.steps[0].finished_at).toISOString(),
      audit_commit: done.steps[0].audit_commit,
      suggestions: trail.body.task.suggestions.length,
    });
    expect(failures.body.by_service).toContainEqual({ service: 'failure-drill', failures: expect.any(Number) });
    expect(failures.body.by_playbook).toContainEqual({ playbook: PLAYBOOK, failures: expect.any(Number) });
  });

  it('audit trail queryable', async () => {
    const first = await failed();
    const second = await secondFailure();
    const { accept } = await decided();

    // The second drill was planned from the improved playbook (the repository at the suggestion's
    // commit), and its analysis no longer finds what was fixed.
    expect(second.request.plan.repo_commit).toBe(accept.commit);
    const secondTask = second.done.steps[0].task_id;
    const improved = (await stack.call('GET', `/suggestions?task_id=${secondTask}&status=open`)).body.suggestions;
    expect(improved.length).toBeGreaterThan(0);
    expect(improved.map((s: any) => s.rule)).not.toContain('fqcn[action-core]');
    for (const s of improved) expect(s.playbook_sha256).toBe(sha256(fs.readFileSync(path.join(repo, PLAYBOOK))));

    // Both failures, newest first, counted per service and per playbook. (The database is the file's:
    // failures that groups before this one left, such as E2E-03's drill, are older and counted too.)
    const total = earlier.total + 2;
    const all = await stack.call('GET', '/audit/failures?days=7');
    expect(all.body).toMatchObject({ days: 7, total, limit: 50, offset: 0, next_offset: null });
    expect(all.body.failures.map((f: any) => [f.task_id, f.request_id])).toEqual([
      [secondTask, second.request.request_id],
      [first.taskId, first.request.request_id],
      ...earlier.failures.map((f) => [f.task_id, f.request_id]),
    ]);
    expect(all.body.by_service).toEqual(countsPlus('service', 'failure-drill', 2));
    expect(all.body.by_playbook).toEqual(countsPlus('playbook', PLAYBOOK, 2));

    // Grouped one way, filtered, and a page at a time.
    const byService = await stack.call('GET', '/audit/failures?days=7&group_by=service');
    expect(byService.body.by_service).toEqual(countsPlus('service', 'failure-drill', 2));
    expect(byService.body).not.toHaveProperty('by_playbook');
    const byPlaybook = await stack.call('GET', '/audit/failures?days=1&group_by=playbook');
    expect(byPlaybook.body.by_playbook).toEqual(countsPlus('playbook', PLAYBOOK, 2));
    expect(byPlaybook.body).not.toHaveProperty('by_service');
    const pageOne = await stack.call('GET', '/audit/failures?days=7&limit=1');
    const pageTwo = await stack.call('GET', `/audit/failures?days=7&limit=1&offset=${pageOne.body.next_offset}`);
    expect(pageOne.body).toMatchObject({ total, next_offset: 1, failures: [expect.objectContaining({ task_id: secondTask })] });
    expect(pageTwo.body).toMatchObject({
      total,
      next_offset: total > 2 ? 2 : null,
      failures: [expect.objectContaining({ task_id: first.taskId })],
    });
    expect((await stack.call('GET', '/audit/failures?days=7&service=kuma')).body).toMatchObject({ total: 0, failures: [], by_service: [] });
    expect((await stack.call('GET', `/audit/failures?days=7&playbook=${PLAYBOOK}`)).body.total).toBe(earlierWith('playbook', PLAYBOOK) + 2);

    // The same in PostgreSQL.
    expect(await services.database.prisma.task.count({ where: { status: 'failed', service: 'failure-drill' } })).toBe(
      earlierWith('service', 'failure-drill') + 2,
    );

    // A window that is not a whole number of days is refused.
    for (const days of ['0', '-3', 'week', '2.5']) {
      const refused = await stack.call('GET', `/audit/failures?days=${days}`);
      expect(refused.status, days).toBe(400);
      expect(refused.body.error.code).toBe('invalid_input');
    }
  });
});

describe('full workflow integration', () => {
  it('complete kuma workflow', async () => {
    const stack = await startStack(services, 'complete');
    try {
      const request = await submitKuma(stack);
      const id = request.request_id;
      expect(request.intents.map((i: any) => i.name)).toEqual(['deploy_kuma', 'add_portals_to_config']);
      expect(request.plan.steps.map((s: any) => s.playbook)).toEqual(KUMA_PLAYBOOKS);
      expect(fs.existsSync(stack.config.stateDir)).toBe(false);

      const approve = await stack.call('POST', '/approve', { request_id: id, approved: true, plan_hash: request.plan.hash }, {});
      expect(approve.body).toMatchObject({ dispatch_started: true, status: 'running' });
      const done = await stack.waitForStatus(id, 'completed');
      expect(done.steps.map((s: any) => [s.playbook, s.status, s.exit_code, s.attempt])).toEqual([
        ['kuma-deploy.yml', 'completed', 0, 1],
        ['kuma-config-update.yml', 'completed', 0, 1],
      ]);

      // What the playbooks did, under the state directory.
      const compose = fs.readFileSync(path.join(stack.config.stateDir, 'kuma', 'docker-compose.yml'), 'utf8');
      expect(compose).toContain('image: louislam/uptime-kuma:1');
      expect(compose).toContain('"3001:3001"');
      expect(fs.statSync(path.join(stack.config.stateDir, 'kuma', 'data')).isDirectory()).toBe(true);
      const monitors = JSON.parse(fs.readFileSync(path.join(stack.config.stateDir, 'kuma', 'monitors.json'), 'utf8'));
      expect(monitors).toEqual({
        managed_by: 'chiffon',
        monitors: [
          { name: 'portal-1', type: 'http', url: 'https://portal-1.homelab.lan', interval: 60 },
          { name: 'portal-2', type: 'http', url: 'https://portal-2.homelab.lan', interval: 60 },
        ],
      });

      // Audited: one commit per task, the API joining PostgreSQL and git.
      const log = await stack.auditLog();
      expect(log.map((c) => c.message)).toEqual([
        `audit: task ${done.steps[1].task_id} completed (kuma-config-update.yml, request ${id})`,
        `audit: task ${done.steps[0].task_id} completed (kuma-deploy.yml, request ${id})`,
      ]);
      for (const step of done.steps) {
        const audit = await stack.call('GET', `/audit/task/${step.task_id}`);
        expect(audit.body.task).toMatchObject({ task_id: step.task_id, request_id: id, status: 'completed', exit_code: 0 });
        expect(audit.body.git).toMatchObject({ commit: step.audit_commit, path: `.audit/tasks/${step.task_id}.json` });
        expect(audit.body.git.content).toMatchObject({
          task_id: step.task_id,
          plan_id: request.plan.plan_id,
          attempt: 1,
          status: 'completed',
        });
        const committed = fs.readFileSync(path.join(stack.config.auditRepo, `.audit/tasks/${step.task_id}.json`), 'utf8');
        expect(JSON.parse(committed)).toEqual(audit.body.git.content);
      }
      expect(await services.database.prisma.task.count({ where: { requestId: id, status: 'completed' } })).toBe(2);
      await requestRow(services, id, { status: 'completed', approver: 'bob' });

      // The workflow has ended, findable by its search attributes; an ended request cannot be cancelled.
      const description = await workflowHandle(id).describe();
      expect(description.status.name).toBe('COMPLETED');
      expect(description.typedSearchAttributes.get(statusSearchAttribute)).toBe('completed');
      expect(description.typedSearchAttributes.get(servicesSearchAttribute)).toEqual(['kuma']);
      expect((await stack.call('POST', `/requests/${id}/cancel`)).status).toBe(409);
      // Nothing of the runs is left behind in the work directory.
      expect(fs.readdirSync(stack.config.workDir).filter((e) => e.startsWith('ansible-run-'))).toEqual([]);
    } finally {
      await stack.stop();
    }
  });

  it('workflow with resource constraints pauses', async () => {
    // The kuma steps run on an agent of their own, `nas` (the copy's inventory names it for the
    // homelab host): a host worker beside the stack's worker, as `npm run worker -- --host nas
    // --no-orchestration` runs it, with its own agent reporter, judging its machine overloaded (no
    // machine has 100% of its memory free; the stack's load and pressure limits are out of the way,
    // so the reason is always the memory). The stack's worker plans and orchestrates: restarting it
    // leaves nas, and the step nas runs, alone.
    const inventory = YAML.parse(fs.readFileSync(fromProjectRoot('playbooks', 'inventory', 'hosts.yml'), 'utf8'));
    inventory.all.children.homelab.hosts.localhost.chiffon_agent = 'nas';
    const repo = playbookRepoCopy(path.join(services.scratch, 'paused-playbooks'), {
      'inventory/hosts.yml': YAML.stringify(inventory),
      // Its step keeps nas busy until the test opens the gate.
      ...liveGateFiles({ waitSeconds: 300 }),
    });
    const stack = await startStack(services, 'paused', { config: { playbookRepo: repo } });
    const nas = await startAgent(services, stack.config, 'nas', { minFreeMemoryPercent: 100 });
    const agentId = agentIdFor({ ...stack.config, workerHost: 'nas' });
    const nasRow = () => services.database.prisma.agent.findUnique({ where: { id: agentId } });
    const gate = liveGate(stack.config.stateDir);
    try {
      await expect.poll(nasRow, { timeout: 10_000 }).toMatchObject({ runningSteps: 0, minFreeMemoryPercent: 100 });
      expect(agentOverloadReason((await nasRow())!)).toMatch(/memory free is below 100%/);

      // Idle, nas is never held back, overloaded or not: the live gate's step runs at once, and
      // keeps nas busy until the gate opens.
      const blocker = await stack.call('POST', '/chat', { message: 'Run the live gate' });
      expect(blocker.status, JSON.stringify(blocker.body)).toBe(201);
      const blockerId = blocker.body.request_id;
      expect(blocker.body.plan.steps.map((s: any) => [s.playbook, s.agent])).toEqual([['live-gate.yml', 'nas']]);
      expect((await stack.call('POST', '/approve', { request_id: blockerId, approved: true })).status).toBe(200);
      const busy = await stack.waitForRequest(blockerId, 'its step running', (body) => body.steps[0]?.status === 'running');
      expect([busy.status, busy.paused_reason]).toEqual(['running', null]);
      await expect.poll(nasRow, { timeout: 10_000 }).toMatchObject({ runningSteps: 1 });

      // Busy and overloaded, nas takes no more: the kuma request pauses before its first step, and
      // the step goes to nas, which holds it (step_status `held`, with the reason) until it has room.
      const request = await submitKuma(stack);
      const id = request.request_id;
      expect(request.plan.steps.map((s: any) => s.agent)).toEqual(['nas', 'nas']);
      const approve = await stack.call('POST', '/approve', { request_id: id, approved: true });
      expect(approve.status).toBe(200);

      const paused = await stack.waitForStatus(id, 'paused');
      expect(paused.paused_reason).toContain(agentId);
      expect(paused.paused_reason).toMatch(/memory free is below 100% while it runs 1 step/);
      expect(paused.steps.map((s: any) => s.status)).toEqual(['waiting', 'pending']);
      await expect
        .poll(async () => (await stepStatuses(stack, id)).map(([status]) => status), { timeout: 10_000 })
        .toEqual(['waiting', 'held']);
      expect((await stepStatuses(stack, id))[1]![1]).toMatch(/memory free is below 100% while it runs 1 step/);
      expect(runningSteps.held('nas')).toBe(1);

      // The pause lasts while nas stays busy and overloaded, across a restart of the stack's worker
      // (the new worker rebuilds the state from the workflow's history to answer), and nothing ran.
      // The stack's idle agent signals the pause once (once per reporter: its restart makes a new
      // one); the workflow needs no signal, its agent holds the step.
      await expect.poll(() => capacityWakes(services, id), { timeout: 10_000 }).toBe(1);
      await sleep(1_000);
      await stack.stopWorker();
      await stack.startWorker();
      await expect.poll(() => capacityWakes(services, id), { timeout: 15_000 }).toBe(2);
      await sleep(1_000);
      const still = (await stack.call('GET', `/requests/${id}`)).body;
      expect(still.status).toBe('paused');
      expect(still.paused_reason).toContain(agentId);
      expect(still.steps.map((s: any) => s.status)).toEqual(['waiting', 'pending']);
      expect((await historyFacts(id)).runSteps.map((r) => [r.playbook, r.completed])).toEqual([['kuma-deploy.yml', -1]]); // scheduled, held: not completed
      expect((await stepStatuses(stack, id)).map(([status]) => status)).toEqual(['waiting', 'held']);
      expect(fs.existsSync(path.join(stack.config.stateDir, 'kuma'))).toBe(false);
      expect(await services.database.prisma.task.count({ where: { requestId: id } })).toBe(0);
      await requestRow(services, id, { status: 'paused' });
      expect((await workflowHandle(id).describe()).typedSearchAttributes.get(statusSearchAttribute)).toBe('paused');
      expect(gate.isDone()).toBe(false);

      // A resume needs an approver's (or admin's) token.
      const anonymous = await stack.call('POST', `/requests/${id}/resume`, undefined, {}, 'none');
      expect(anonymous.status).toBe(401);
      expect((await stack.call('POST', `/requests/${id}/resume`, undefined, {}, 'requester')).status).toBe(403);

      // Resumed by a person: nas lets the held step go (it watches the request's record), and the
      // rest of the run goes on although nas is still busy and overloaded (the operator's resume
      // lasts for this run); the resume is recorded with who asked.
      const resume = await stack.call('POST', `/requests/${id}/resume`);
      expect(resume.status).toBe(202);
      const done = await stack.waitForStatus(id, 'completed');
      expect(done.paused_reason).toBeNull();
      expect(done.operator_actions).toEqual([expect.objectContaining({ action: 'resume', by: 'bob' })]);
      expect(done.steps.map((s: any) => [s.status, s.exit_code, s.agent])).toEqual([
        ['completed', 0, 'nas'],
        ['completed', 0, 'nas'],
      ]);
      expect((await stepStatuses(stack, id)).map(([status]) => status)).toEqual(['waiting', 'held', 'running', 'completed']);
      expect(fs.existsSync(path.join(stack.config.stateDir, 'kuma', 'monitors.json'))).toBe(true);
      expect(await services.database.prisma.task.count({ where: { requestId: id, status: 'completed' } })).toBe(2);
      // Resuming a request that is no longer paused is refused.
      expect((await stack.call('POST', `/requests/${id}/resume`)).status).toBe(409);
      expect(gate.isDone()).toBe(false);

      // The next request pauses the same way, until the gate opens: the blocker's step ends, and nas
      // starts the held step in that same moment (its count of running steps goes 1, 0, 1 in one
      // call: no round trip through the workflow, and no instant in which nas runs nothing while a
      // step waits for it); the request, told by the step's start, goes on.
      const next = await submitKuma(stack);
      expect((await stack.call('POST', '/approve', { request_id: next.request_id, approved: true })).status).toBe(200);
      const nextPaused = await stack.waitForStatus(next.request_id, 'paused');
      expect(nextPaused.paused_reason).toMatch(/memory free is below 100% while it runs 1 step/);
      await expect.poll(() => runningSteps.held('nas'), { timeout: 10_000 }).toBe(1);
      const counts: { count: number; at: number }[] = [];
      const stopCounting = runningSteps.onChange((agent, count) => agent === 'nas' && counts.push({ count, at: performance.now() }));
      const opened = Date.now();
      gate.open();
      await stack.waitForRequest(next.request_id, 'a resume', (body) => body.status !== 'paused', 15_000);
      expect(Date.now() - opened).toBeLessThan(15_000);
      stopCounting();
      expect(counts.slice(0, 2).map((c) => c.count)).toEqual([0, 1]);
      expect(counts[1]!.at - counts[0]!.at).toBeLessThan(20); // the same synchronous call, not a round trip
      const nextDone = await stack.waitForStatus(next.request_id, 'completed');
      expect(nextDone.paused_reason).toBeNull();
      expect(nextDone.operator_actions).toEqual([]); // nobody resumed it
      expect((await stepStatuses(stack, next.request_id)).map(([status]) => status)).toEqual(['waiting', 'held', 'running', 'completed']);
      expect(nextDone.steps.map((s: any) => s.status)).toEqual(['completed', 'completed']);
      // The blocker went through the gate, and never paused.
      const passed = await stack.waitForStatus(blockerId, 'completed');
      expect(passed.steps.map((s: any) => [s.agent, s.status])).toEqual([['nas', 'completed']]);
      expect(gate.isDone()).toBe(true);
      const events = await stack.call('GET', `/requests/${blockerId}/events?format=json`);
      expect(events.body.events.filter((e: any) => e.kind === 'request_status').map((e: any) => e.payload.status)).not.toContain('paused');
    } finally {
      await nas.stop();
      await stack.stop();
    }
  });
});

describe('workflow with external AI fallback', () => {
  it('quota below 20% routes to the external provider', async () => {
    const openAiKey = 'sk-e2e-primary-5b7c1d';
    const anthropicKey = 'sk-ant-e2e-fallback-9a2e4f';
    const answer = JSON.stringify({
      intents: [
        { name: 'deploy_kuma', playbook: 'kuma-deploy.yml', source: 'Deploy Kuma Uptime to homelab' },
        { name: 'add_portals_to_config', playbook: 'kuma-config-update.yml', source: 'add our existing portals to the config' },
      ],
    });
    // Real HTTP fakes on loopback: the primary model (which must not be asked), its quota endpoint
    // reporting 15% left, and Anthropic's Messages API.
    const primary = await openAiFake({ content: answer });
    const quota = await quotaFake({ remaining_fraction: 0.15 });
    const claude = await anthropicFake(anthropicKey, { text: answer });
    const llm = loadLlmConfig({
      CHIFFON_LLM_BASE_URL: `${primary.url}/v1`,
      CHIFFON_LLM_MODEL: 'homelab-planner',
      CHIFFON_LLM_API_KEY: openAiKey,
      CHIFFON_LLM_QUOTA_URL: `${quota.url}/quota`,
      ANTHROPIC_API_KEY: anthropicKey,
      CHIFFON_ANTHROPIC_BASE_URL: claude.url,
    });
    const stack = await startStack(services, 'ai-fallback', { llm });
    try {
      const request = await submitKuma(stack);
      expect(request.intents.map((i: any) => i.name)).toEqual(['deploy_kuma', 'add_portals_to_config']);
      expect(request.decomposition).toEqual({
        decided_by: 'anthropic',
        model: 'claude-haiku-4-5',
        skipped: [{ provider: 'openai-compatible', reason: expect.stringContaining('quota 15% below 20%') }],
      });
      expect(primary.requests).toHaveLength(0);
      expect(claude.requests).toHaveLength(1);

      const id = request.request_id;
      expect((await stack.call('POST', '/approve', { request_id: id, approved: true, plan_hash: request.plan.hash })).status).toBe(200);
      const done = await stack.waitForStatus(id, 'completed');
      // Recorded in PostgreSQL and in the audit of each task; no key anywhere.
      await requestRow(services, id, { status: 'completed', decomposition: expect.objectContaining({ decidedBy: 'anthropic' }) });
      const audit = await stack.call('GET', `/audit/task/${done.steps[0].task_id}`);
      expect(audit.body.git.content.decomposition).toMatchObject({ decidedBy: 'anthropic', skipped: [{ provider: 'openai-compatible' }] });
      const row = await services.database.prisma.request.findUniqueOrThrow({ where: { id } });
      for (const text of [JSON.stringify(request), JSON.stringify(done), JSON.stringify(audit.body), JSON.stringify(row)]) {
        expect(text).not.toContain(openAiKey);
        expect(text).not.toContain(anthropicKey);
      }
    } finally {
      await stack.stop();
    }
  });
});
