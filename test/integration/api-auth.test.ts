// Tokens and roles on the HTTP API (api/auth.ts), against a real PostgreSQL database of this file's
// own. Every mutating route is found in the app's own route table, so a new one cannot be left out:
// without a token, with a bad or revoked one, and with each role it does not take. Then four-eyes
// (self-approval), the identity each route records, the WebSocket's token check, and that
// GET /api/openapi.json describes every route.
//
// No Temporal server here: 401 and 403 are answered before anything reaches Temporal, and where a
// request gets past the checks it meets `fakeTemporalClient`, a stand-in that records the Updates
// and workflow starts it is sent and answers with a minimal request state.
import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import { WorkflowNotFoundError, WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, expectTypeOf, it, vi } from 'vitest';
import type { JSONParsed } from 'hono/utils/types';
import type { z } from 'zod';
import { WebSocket } from 'ws';
import { createApp } from '../../api/app.js';
import { attachLiveEventsWebSocket } from '../../api/live-websocket.js';
import { type requestSchema, type suggestionSchema } from '../../api/openapi.js';
import { type presentRequest, type presentSuggestion } from '../../api/present.js';
import type { RequestState } from '../../domain/request-state.js';
import { createApiToken, generateToken, revokeApiToken, ROLES, type Role } from '../../lib/api-tokens.js';
import { loadConfig, type ChiffonConfig } from '../../lib/config.js';
import { Refused } from '../../workflows/messages.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { testCodec } from '../support/codec.js';

/** The requirement: which roles each mutating route takes (admin takes everything). */
const ROLE_MAP: Record<string, Role[]> = {
  'POST /api/dashboard/chat': ['requester', 'admin'],
  'POST /api/dashboard/requests/:request_id/input': ['requester', 'approver', 'admin'], // a requester: their own only
  'POST /api/dashboard/requests/:request_id/cancel': ['requester', 'approver', 'admin'], // a requester: their own only
  'POST /api/dashboard/requests/:request_id/preview': ['requester', 'approver', 'admin'], // a check run; a requester: their own only
  'POST /api/dashboard/approve': ['approver', 'admin'],
  'POST /api/dashboard/requests/:request_id/retry': ['approver', 'admin'],
  'POST /api/dashboard/requests/:request_id/resume': ['approver', 'admin'],
  'POST /api/dashboard/suggestions/:id/accept': ['approver', 'admin'],
  'POST /api/dashboard/suggestions/:id/dismiss': ['approver', 'admin'],
  'POST /api/dashboard/schedules': ['requester', 'approver', 'admin'],
  'POST /api/dashboard/schedules/:schedule_id/pause': ['requester', 'approver', 'admin'], // a requester: their own only
  'POST /api/dashboard/schedules/:schedule_id/resume': ['requester', 'approver', 'admin'], // a requester: their own only
  'POST /api/dashboard/schedules/:schedule_id/run': ['requester', 'approver', 'admin'], // a requester: their own only
  'DELETE /api/dashboard/schedules/:schedule_id': ['requester', 'approver', 'admin'], // a requester: their own only
  'POST /api/dashboard/schedules/:schedule_id/revoke': ['approver', 'admin'],
  // The codec endpoint (api/routes/codec.ts): opening a history shows what a requester may not see;
  // sealing is what a forged Update needs.
  'POST /api/codec/session': ['approver', 'admin'],
  'DELETE /api/codec/session': ['requester', 'approver', 'admin'],
  'POST /api/codec/decode': ['approver', 'admin'],
  'POST /api/codec/encode': ['admin'],
};

/** A valid body for each route that takes one (so only the token decides the answer). */
const BODIES: Record<string, unknown> = {
  'POST /api/dashboard/chat': { message: 'Set up postgres' },
  'POST /api/dashboard/approve': { request_id: 'req-other', approved: true },
  'POST /api/dashboard/requests/:request_id/input': { values: { 'greet.yml': { greeting: 'hi' } } },
  'POST /api/dashboard/requests/:request_id/preview': { check: true },
  'POST /api/dashboard/schedules': { message: 'Set up postgres', every: '1h' },
  'POST /api/dashboard/schedules/:schedule_id/pause': {},
  'POST /api/dashboard/schedules/:schedule_id/resume': {},
  'POST /api/codec/decode': { payloads: [] },
  'POST /api/codec/encode': { payloads: [] },
};

interface Recorded {
  kind: 'update' | 'start' | 'schedule';
  workflowId: string;
  name: string;
  args: unknown[];
}

/** Schedules the fake Temporal client knows, and who created each. */
const SCHEDULES: Record<string, string> = { 'schedule-00000000000a11ce': 'alice', 'schedule-0000000000000e41': 'erin' };

/**
 * A stand-in for the Temporal client: records what it is sent and answers with a request state.
 * `requestedBy` answers the requestState query; `refuseWith` makes the next Update fail as a
 * workflow's Update validator would. Its schedules are SCHEDULES (a created one is alice's too).
 */
function fakeTemporalClient() {
  const recorded: Recorded[] = [];
  const requestedBy = new Map<string, string>();
  let refuseWith: Error | undefined;
  const state = (workflowId: string, extra: Partial<RequestState> = {}): RequestState => ({
    requestId: workflowId.replace(/^request-/, ''),
    message: 'Set up postgres',
    status: 'pending_approval',
    intents: [],
    steps: [],
    previousDecisions: [],
    operatorActions: [],
    ...extra,
  });
  const scheduleDescription = (scheduleId: string) => ({
    scheduleId,
    spec: { intervals: [{ every: 3_600_000, offset: 0 }] },
    action: { type: 'startWorkflow', workflowType: 'requestWorkflow', taskQueue: 'chiffon', args: [{ message: 'Set up postgres' }] },
    memo: { created_by: SCHEDULES[scheduleId] ?? 'alice', every: '1h' },
    policies: { overlap: 'SKIP', catchupWindow: 60_000, pauseOnFailure: false },
    state: { paused: false },
    info: { recentActions: [], nextActionTimes: [], runningActions: [], createdAt: new Date() },
  });
  const scheduleHandle = (scheduleId: string) => {
    const record =
      (name: string) =>
      async (...args: unknown[]) =>
        void recorded.push({ kind: 'schedule', workflowId: scheduleId, name, args });
    return {
      scheduleId,
      describe: async () => scheduleDescription(scheduleId),
      pause: record('pause'),
      unpause: record('unpause'),
      trigger: record('trigger'),
      delete: record('delete'),
    };
  };
  const client = {
    schedule: {
      async create(options: { scheduleId: string }) {
        recorded.push({ kind: 'schedule', workflowId: options.scheduleId, name: 'create', args: [options] });
      },
      getHandle: scheduleHandle,
    },
    withAbortSignal: <T>(_signal: AbortSignal, fn: () => Promise<T>) => fn(),
    // What /healthz asks the server.
    connection: { withDeadline: <T>(_deadline: number, fn: () => Promise<T>) => fn() },
    workflowService: { getSystemInfo: async () => ({}) },
    workflow: {
      getHandle: (workflowId: string) => ({
        async executeUpdate(update: { name: string }, options: { args: unknown[] }) {
          if (refuseWith) {
            const error = refuseWith;
            refuseWith = undefined;
            throw error;
          }
          recorded.push({ kind: 'update', workflowId, name: update.name, args: options.args });
          return state(workflowId);
        },
        async query() {
          return state(workflowId, { requestedBy: requestedBy.get(workflowId) });
        },
        // Known requests have their rows in the database; a workflow alone is none of them.
        async describe() {
          throw new WorkflowNotFoundError(`workflow ${workflowId} not found`, workflowId, undefined);
        },
      }),
      async executeUpdateWithStart(
        update: { name: string },
        { startWorkflowOperation }: { startWorkflowOperation: { options: { workflowId: string; args: unknown[] } } },
      ) {
        const { workflowId, args } = startWorkflowOperation.options;
        recorded.push({ kind: 'start', workflowId, name: update.name, args });
        return state(workflowId);
      },
    },
  };
  return {
    client: client as unknown as Client,
    recorded,
    requestedBy,
    refuseNextUpdate(error: Error) {
      refuseWith = error;
    },
  };
}

let database: TestDatabase;
let config: ChiffonConfig;
let temporal: ReturnType<typeof fakeTemporalClient>;
let app: ReturnType<typeof createApp>;
const tokens = {} as Record<'requester' | 'approver' | 'admin' | 'bobRequester' | 'revoked', string>;
const allTokens = () => Object.values(tokens);

beforeAll(async () => {
  database = await createTestDatabase();
  config = loadConfig({});
  temporal = fakeTemporalClient();
  app = createApp({ client: temporal.client, codec: testCodec, prisma: database.prisma, config });
  tokens.requester = (await createApiToken(database.prisma, { name: 'alice', role: 'requester' })).token;
  tokens.approver = (await createApiToken(database.prisma, { name: 'bob', role: 'approver' })).token;
  tokens.admin = (await createApiToken(database.prisma, { name: 'carol', role: 'admin' })).token;
  // The same person with a second token: bob also asks for things.
  tokens.bobRequester = (await createApiToken(database.prisma, { name: 'bob', role: 'requester' })).token;
  const revoked = await createApiToken(database.prisma, { name: 'mallory', role: 'admin' });
  await revokeApiToken(database.prisma, revoked.id);
  tokens.revoked = revoked.token;
  // Requests the checks look up: who asked for them.
  for (const [id, by] of [
    ['req-alice', 'alice'],
    ['req-bob', 'bob'],
    ['req-other', 'erin'],
  ]) {
    await database.prisma.request.create({
      data: { id: id!, workflowId: `request-${id}`, message: 'Set up postgres', status: 'pending_approval', intents: [], requestedBy: by },
    });
  }
});

afterAll(async () => {
  await database?.drop();
});

// Nothing the API prints may hold a token.
const printed: string[] = [];
beforeEach(() => {
  for (const method of ['log', 'info', 'warn', 'error', 'debug'] as const) {
    vi.spyOn(console, method).mockImplementation((...args: unknown[]) => {
      printed.push(
        args.map((a) => (a instanceof Error ? `${a.message} ${a.stack}` : typeof a === 'string' ? a : JSON.stringify(a))).join(' '),
      );
    });
  }
});
afterEach(() => {
  vi.restoreAllMocks();
  for (const line of printed) for (const token of allTokens()) expect(line).not.toContain(token);
  printed.length = 0;
});

interface Answer {
  status: number;
  body: any;
  text: string;
  headers: Headers;
}

async function call(
  method: string,
  path: string,
  options: { token?: string; authorization?: string; body?: unknown; app?: ReturnType<typeof createApp> } = {},
): Promise<Answer> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (options.authorization !== undefined) headers.authorization = options.authorization;
  else if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
  const response = await (options.app ?? app).request(path, {
    method,
    headers,
    body: options.body === undefined ? undefined : typeof options.body === 'string' ? options.body : JSON.stringify(options.body),
  });
  const text = await response.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = text;
  }
  return { status: response.status, body, text, headers: response.headers };
}

/** The app's routes (method + path), without middleware entries, each once. */
function appRoutes(): { method: string; path: string }[] {
  const seen = new Map<string, { method: string; path: string }>();
  for (const route of app.routes)
    if (route.method !== 'ALL') seen.set(`${route.method} ${route.path}`, { method: route.method, path: route.path });
  return [...seen.values()];
}

/** Routes of the API (the dashboard's static page is not part of it). */
const apiRoutes = () => appRoutes().filter((r) => r.path.startsWith('/api/') || r.path === '/healthz');
const mutatingRoutes = () => apiRoutes().filter((r) => r.method !== 'GET');
const dashboardGets = () => apiRoutes().filter((r) => r.method === 'GET' && r.path.startsWith('/api/dashboard/'));

/** A concrete URL for a route pattern; `requestId` fills :request_id, `scheduleId` :schedule_id. */
function urlOf(path: string, requestId = 'req-other', scheduleId = 'schedule-0000000000000e41'): string {
  return path
    .replace(':request_id', requestId)
    .replace(':schedule_id', scheduleId)
    .replace(':id', '00000000-0000-0000-0000-000000000000')
    .replace(':task_id', 'task-1');
}

function expectNoTokenIn(answer: Answer) {
  for (const token of allTokens()) expect(answer.text).not.toContain(token);
}

describe('every mutating route', () => {
  it('is in the role map, and the role map names no route the app lacks', () => {
    const keys = mutatingRoutes().map((r) => `${r.method} ${r.path}`);
    expect(keys.length).toBeGreaterThanOrEqual(8);
    expect(keys.sort()).toEqual(Object.keys(ROLE_MAP).sort());
  });

  it('answers 401 JSON without a token, or with a malformed, unknown or revoked one', async () => {
    for (const { method, path } of mutatingRoutes()) {
      const key = `${method} ${path}`;
      const cases: [string, { token?: string; authorization?: string }, boolean][] = [
        ['no token', {}, false],
        ['empty header', { authorization: '' }, true],
        ['not Bearer', { authorization: `Basic ${Buffer.from('bob:secret').toString('base64')}` }, true],
        ['malformed', { token: 'not-a-token' }, true],
        ['unknown', { token: generateToken() }, true],
        ['revoked', { token: tokens.revoked }, true],
      ];
      for (const [what, auth, invalid] of cases) {
        const answer = await call(method, urlOf(path), { ...auth, body: BODIES[key] });
        expect(answer.status, `${key} (${what}): ${answer.text}`).toBe(401);
        expect(answer.body.error.code).toBe('unauthorized');
        expect(answer.body.error.message).toEqual(expect.any(String));
        expect(answer.headers.get('content-type')).toMatch(/^application\/json/);
        expect(answer.headers.get('www-authenticate')).toBe(
          invalid ? 'Bearer realm="chiffon", error="invalid_token"' : 'Bearer realm="chiffon"',
        );
        expectNoTokenIn(answer);
      }
      // The query parameter is for the live streams only.
      const viaQuery = await app.request(`${urlOf(path)}?access_token=${tokens.admin}`, {
        method,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(BODIES[key] ?? {}),
      });
      expect(viaQuery.status, `${key} with ?access_token=`).toBe(401);
      expect(await viaQuery.text()).not.toContain(tokens.admin);
    }
    expect(temporal.recorded).toEqual([]);
  });

  it('answers 403 JSON to a role it does not take', async () => {
    let refusals = 0;
    for (const { method, path } of mutatingRoutes()) {
      const key = `${method} ${path}`;
      for (const role of ROLES.filter((r) => !ROLE_MAP[key]!.includes(r))) {
        const answer = await call(method, urlOf(path), { token: tokens[role], body: BODIES[key] });
        expect(answer.status, `${key} as ${role}: ${answer.text}`).toBe(403);
        expect(answer.body.error).toMatchObject({ code: 'forbidden', role, required_roles: expect.arrayContaining(['admin']) });
        expect(answer.body.error.message).toContain(role);
        expectNoTokenIn(answer);
        refusals++;
      }
    }
    expect(refusals).toBe(Object.values(ROLE_MAP).reduce((sum, roles) => sum + ROLES.length - roles.length, 0));
    expect(temporal.recorded).toEqual([]);
  });

  it("lets each role it takes through, recording the token's name as the identity", async () => {
    for (const { method, path } of mutatingRoutes()) {
      const key = `${method} ${path}`;
      for (const role of ROLE_MAP[key]!) {
        temporal.recorded.length = 0;
        // A requester cancels their own request (or schedule); everyone else acts on someone else's.
        const requestId = role === 'requester' ? 'req-alice' : 'req-other';
        const scheduleId = role === 'requester' ? 'schedule-00000000000a11ce' : 'schedule-0000000000000e41';
        const answer = await call(method, urlOf(path, requestId, scheduleId), { token: tokens[role], body: BODIES[key] });
        const name = { requester: 'alice', approver: 'bob', admin: 'carol' }[role];
        if (path.startsWith('/api/codec/')) {
          // Reaches no workflow.
          expect(answer.status, `${key} as ${role}: ${answer.text}`).toBeLessThan(300);
          expect(temporal.recorded, key).toHaveLength(0);
          continue;
        }
        if (path.startsWith('/api/dashboard/schedules')) {
          expect(answer.status, `${key} as ${role}: ${answer.text}`).toBeLessThan(300);
          // What each asks of Temporal (revoking is PostgreSQL's alone).
          const expected = {
            'POST /api/dashboard/schedules': 'create',
            'POST /api/dashboard/schedules/:schedule_id/pause': 'pause',
            'POST /api/dashboard/schedules/:schedule_id/resume': 'unpause',
            'POST /api/dashboard/schedules/:schedule_id/run': 'trigger',
            'DELETE /api/dashboard/schedules/:schedule_id': 'delete',
          }[key];
          expect(
            temporal.recorded.map((r) => r.name),
            key,
          ).toEqual(expected ? [expected] : []);
          if (expected === 'create') {
            // The runs are requested by the creator; a run takes its request id from its workflow id.
            expect(temporal.recorded[0]!.args[0]).toMatchObject({
              memo: { created_by: name },
              action: { args: [{ message: 'Set up postgres', requestedBy: name, schedule: { id: temporal.recorded[0]!.workflowId } }] },
            });
            expect((temporal.recorded[0]!.args[0] as any).action.args[0]).not.toHaveProperty('requestId');
          } else if (expected) {
            expect(temporal.recorded[0]!.workflowId).toBe(scheduleId);
          }
          continue;
        }
        if (path.startsWith('/api/dashboard/suggestions/')) {
          // Past the role check: the suggestion does not exist.
          expect(answer.status, `${key} as ${role}: ${answer.text}`).toBe(404);
          continue;
        }
        expect(answer.status, `${key} as ${role}: ${answer.text}`).toBeLessThan(300);
        expect(temporal.recorded, key).toHaveLength(1);
        const [sent] = temporal.recorded;
        if (key === 'POST /api/dashboard/chat') {
          expect(sent).toMatchObject({
            kind: 'start',
            args: [{ message: 'Set up postgres', requestedBy: name, allowSelfApproval: false }],
          });
        } else if (key === 'POST /api/dashboard/approve') {
          expect(sent).toMatchObject({
            kind: 'update',
            name: 'decide',
            workflowId: 'request-req-other',
            args: [{ approver: name, approved: true }],
          });
        } else {
          expect(sent).toMatchObject({ kind: 'update', workflowId: `request-${requestId}`, args: [expect.objectContaining({ by: name })] });
        }
      }
    }
  });

  it('no longer takes an identity from the body or a header: the token decides', async () => {
    temporal.recorded.length = 0;
    const answer = await app.request('/api/dashboard/approve', {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${tokens.approver}`, 'x-chiffon-user': 'mallory' },
      body: JSON.stringify({ request_id: 'req-other', approved: true, approver: 'mallory' }),
    });
    expect(answer.status).toBe(200);
    expect(temporal.recorded[0]?.args).toEqual([expect.objectContaining({ approver: 'bob' })]);
  });
});

describe('bodies nested too deep', () => {
  it('are refused with 400 too_deep before anything walks them, and the workflow never hears of them', async () => {
    temporal.recorded.length = 0;
    const deep = (levels: number) => `${'{"a":'.repeat(levels)}1${'}'.repeat(levels)}`;
    const input = await call('POST', '/api/dashboard/requests/req-alice/input', {
      token: tokens.requester,
      body: `{"values": {"greet.yml": {"greeting": ${deep(4_000)}}}}`,
    });
    expect(input.status, input.text).toBe(400);
    expect(input.body.error).toEqual({ code: 'too_deep', message: 'the body nests 4003 levels deep; at most 32 are taken' });
    const chat = await call('POST', '/api/dashboard/chat', { token: tokens.requester, body: `{"message": "x", "extra": ${deep(6_000)}}` });
    expect(chat.status, chat.text).toBe(400);
    expect(chat.body.error.code).toBe('too_deep');
    // 32 levels are taken.
    const fine = await call('POST', '/api/dashboard/requests/req-alice/input', {
      token: tokens.requester,
      body: `{"values": {"greet.yml": {"greeting": ${deep(29)}}}}`,
    });
    expect(fine.status, fine.text).toBe(202);
    expect(temporal.recorded).toHaveLength(1);
  });
});

describe('a requester giving input or asking for a check run', () => {
  it("may do so for their own request only, not anyone else's", async () => {
    for (const [action, body] of [
      ['input', { values: { 'greet.yml': { greeting: 'hi' } } }],
      ['preview', { check: true }],
    ] as const) {
      temporal.recorded.length = 0;
      const own = await call('POST', `/api/dashboard/requests/req-alice/${action}`, { token: tokens.requester, body });
      expect(own.status, own.text).toBe(202);
      for (const requestId of ['req-other', 'req-bob', 'no-such-request']) {
        const other = await call('POST', `/api/dashboard/requests/${requestId}/${action}`, { token: tokens.requester, body });
        expect(other.status, `${action} ${requestId}: ${other.text}`).toBe(403);
        expect(other.body.error).toMatchObject({ code: 'forbidden', role: 'requester' });
      }
      expect(temporal.recorded.map((r) => r.workflowId)).toEqual(['request-req-alice']);
    }
  });
});

describe('a requester cancelling', () => {
  it("may cancel their own request, not anyone else's", async () => {
    temporal.recorded.length = 0;
    const own = await call('POST', '/api/dashboard/requests/req-alice/cancel', { token: tokens.requester });
    expect(own.status, own.text).toBe(202);
    for (const requestId of ['req-other', 'req-bob', 'no-such-request']) {
      const other = await call('POST', `/api/dashboard/requests/${requestId}/cancel`, { token: tokens.requester });
      expect(other.status, other.text).toBe(403);
      expect(other.body.error).toMatchObject({ code: 'forbidden', role: 'requester' });
    }
    expect(temporal.recorded.map((r) => r.workflowId)).toEqual(['request-req-alice']);
  });
});

describe('a requester acting on schedules', () => {
  it("may pause, resume, run or delete the schedules she created, not anyone else's; revoking is an approver's", async () => {
    for (const [method, action, asked] of [
      ['POST', '/pause', 'pause'],
      ['POST', '/resume', 'unpause'],
      ['POST', '/run', 'trigger'],
      ['DELETE', '', 'delete'],
    ] as const) {
      temporal.recorded.length = 0;
      const body = method === 'POST' && action !== '/run' ? {} : undefined;
      const own = await call(method, `/api/dashboard/schedules/schedule-00000000000a11ce${action}`, { token: tokens.requester, body });
      expect(own.status, own.text).toBeLessThan(300);
      const other = await call(method, `/api/dashboard/schedules/schedule-0000000000000e41${action}`, { token: tokens.requester, body });
      expect(other.status, other.text).toBe(403);
      expect(other.body.error).toEqual({
        code: 'forbidden',
        message: `a requester may ${method === 'DELETE' ? 'delete' : action.slice(1)} only the schedules they created, and alice did not create schedule schedule-0000000000000e41`,
        required_roles: ['approver', 'admin'],
        role: 'requester',
      });
      expect(temporal.recorded.map((r) => `${r.name} ${r.workflowId}`)).toEqual([`${asked} schedule-00000000000a11ce`]);
    }
    expect((await call('POST', '/api/dashboard/schedules/schedule-00000000000a11ce/revoke', { token: tokens.requester })).status).toBe(403);
  });
});

describe('four-eyes approval', () => {
  // The rule is the workflow's (domain/four-eyes.ts, tested in test/workflow and, with the real
  // workflow, in test/e2e/decisions-and-input.test.ts); the API passes its refusal on.
  it('answers 403 self_approval when the workflow refuses it', async () => {
    temporal.refuseNextUpdate(
      new WorkflowUpdateFailedError(
        'Workflow Update failed',
        ApplicationFailure.create({ type: Refused.selfApproval, message: 'bob asked for this request', nonRetryable: true }),
      ),
    );
    const refused = await call('POST', '/api/dashboard/approve', {
      token: tokens.approver,
      body: { request_id: 'req-unknown-requester', approved: true },
    });
    expect(refused.status, refused.text).toBe(403);
    expect(refused.body.error).toEqual({ code: 'self_approval', message: 'bob asked for this request' });
  });

  it('lets a requester approve their own request when CHIFFON_ALLOW_SELF_APPROVAL=true', async () => {
    const lenient = createApp({
      client: temporal.client,
      codec: testCodec,
      prisma: database.prisma,
      config: loadConfig({ CHIFFON_ALLOW_SELF_APPROVAL: 'true' }),
    });
    temporal.recorded.length = 0;
    const self = await call('POST', '/api/dashboard/approve', {
      app: lenient,
      token: tokens.approver,
      body: { request_id: 'req-bob', approved: true },
    });
    expect(self.status, self.text).toBe(200);
    expect(temporal.recorded[0]?.args).toEqual([expect.objectContaining({ approver: 'bob', approved: true })]);

    // And the request tells its workflow so, with who asked.
    const chat = await call('POST', '/api/dashboard/chat', {
      app: lenient,
      token: tokens.bobRequester,
      body: { message: 'Set up postgres' },
    });
    expect(chat.status, chat.text).toBe(201);
    expect(temporal.recorded[1]?.args).toEqual([expect.objectContaining({ requestedBy: 'bob', allowSelfApproval: true })]);
  });
});

describe('reading', () => {
  it('every GET under /api/dashboard needs a valid token', async () => {
    expect(dashboardGets().length).toBeGreaterThanOrEqual(6);
    for (const { path } of dashboardGets()) {
      for (const auth of [{}, { token: generateToken() }, { token: tokens.revoked }]) {
        const answer = await call('GET', urlOf(path), auth);
        expect(answer.status, `GET ${path}: ${answer.text}`).toBe(401);
        expect(answer.body.error.code).toBe('unauthorized');
      }
    }
    // Any role may read.
    for (const role of ROLES) {
      const answer = await call('GET', '/api/dashboard/suggestions', { token: tokens[role] });
      expect(answer.status, role).toBe(200);
    }
    // An unknown route under /api/dashboard says 401 first, then 404.
    expect((await call('GET', '/api/dashboard/nowhere')).status).toBe(401);
    expect((await call('GET', '/api/dashboard/nowhere', { token: tokens.requester })).status).toBe(404);
  });

  it('the event stream also takes ?access_token= (EventSource sends no headers); other GETs do not', async () => {
    const stream = await app.request(`/api/dashboard/requests/req-alice/events?format=json&access_token=${tokens.requester}`);
    expect(stream.status).toBe(200);
    expect(await stream.json()).toMatchObject({ request_id: 'req-alice', events: [] });
    const bad = await app.request(`/api/dashboard/requests/req-alice/events?format=json&access_token=${generateToken()}`);
    expect(bad.status).toBe(401);
    // A request that does not exist has no stream: 404, as JSON page and as SSE.
    for (const format of ['json', 'sse']) {
      const none = await app.request(`/api/dashboard/requests/no-such-request/events?format=${format}&access_token=${tokens.requester}`);
      expect(none.status, format).toBe(404);
      expect(((await none.json()) as any).error.code).toBe('not_found');
    }
    const elsewhere = await app.request(`/api/dashboard/suggestions?access_token=${tokens.requester}`);
    expect(elsewhere.status).toBe(401);
    expect(((await elsewhere.json()) as any).error.message).toMatch(/Authorization: Bearer/);
  });

  it('/healthz and /api/openapi.json are open', async () => {
    expect((await call('GET', '/healthz')).status).toBe(200);
    expect((await call('GET', '/api/openapi.json')).status).toBe(200);
  });
});

describe('the live WebSocket', () => {
  let server: ServerType;
  let wsBase: string;

  beforeAll(async () => {
    server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' });
    attachLiveEventsWebSocket(server, { prisma: database.prisma, client: temporal.client });
    await new Promise<void>((resolve) => server.once('listening', () => resolve()));
    wsBase = `ws://127.0.0.1:${(server.address() as AddressInfo).port}/api/dashboard/ws`;
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  /** Opens a socket; resolves 'open' or the HTTP status of a refused handshake. */
  function connect(query: string, headers: Record<string, string> = {}): Promise<string | number> {
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(`${wsBase}?${query}`, { headers });
      socket.once('open', () => {
        socket.close();
        resolve('open');
      });
      socket.once('unexpected-response', (_request, response) => {
        resolve(response.statusCode ?? 0);
        socket.terminate();
      });
      socket.once('error', (error) => reject(error));
    });
  }

  it('refuses the upgrade with 401 without a valid token, and upgrades with one', async () => {
    expect(await connect('request_id=req-alice')).toBe(401);
    expect(await connect(`request_id=req-alice&access_token=${generateToken()}`)).toBe(401);
    expect(await connect(`request_id=req-alice&access_token=${tokens.revoked}`)).toBe(401);
    expect(await connect('request_id=req-alice', { authorization: 'Bearer nope' })).toBe(401);
    expect(await connect(`request_id=req-alice&access_token=${tokens.requester}`)).toBe('open');
    expect(await connect(`request_id=no-such-request&access_token=${tokens.requester}`)).toBe(404);
    expect(await connect('request_id=req-alice', { authorization: `Bearer ${tokens.approver}` })).toBe('open');
    // The token is checked first: nothing about the request is said to a caller without one.
    expect(await connect('request_id=not%20an%20id')).toBe(401);
    expect(await connect(`request_id=not%20an%20id&access_token=${tokens.requester}`)).toBe(400);
  });
});

describe('GET /api/openapi.json', () => {
  it('describes every route of the API with its method, and each dashboard route with its roles', async () => {
    const answer = await call('GET', '/api/openapi.json');
    expect(answer.status).toBe(200);
    const doc = answer.body;
    expect(doc.openapi).toMatch(/^3\./);
    expect(doc.components.securitySchemes.bearerToken).toMatchObject({ type: 'http', scheme: 'bearer' });
    expect(doc.security).toEqual([{ bearerToken: [] }]);

    const toOpenApi = (path: string) => path.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
    const documented = Object.entries(doc.paths as Record<string, Record<string, any>>).flatMap(([path, methods]) =>
      Object.keys(methods).map((method) => `${method.toUpperCase()} ${path}`),
    );
    expect(documented.sort()).toEqual(
      apiRoutes()
        .map((r) => `${r.method} ${toOpenApi(r.path)}`)
        .sort(),
    );

    for (const { method, path } of apiRoutes()) {
      const operation = doc.paths[toOpenApi(path)][method.toLowerCase()];
      const where = `${method} ${path}`;
      expect(operation.summary, where).toEqual(expect.any(String));
      expect(operation.tags, where).toEqual([expect.any(String)]);
      expect(
        Object.keys(operation.responses).some((status) => status.startsWith('2')),
        where,
      ).toBe(true);
      if (!path.startsWith('/api/dashboard/') && !path.startsWith('/api/codec/')) {
        expect(operation.security, where).toEqual([]);
        continue;
      }
      const roles = method === 'GET' ? ['requester', 'approver', 'admin'] : ROLE_MAP[where]!;
      expect([...operation['x-chiffon-roles']].sort(), where).toEqual([...roles].sort());
      expect(operation.description, where).toContain('Token role:');
      expect(operation.responses['401'], where).toBeDefined();
      if (roles.length < ROLES.length) expect(operation.responses['403'], where).toBeDefined();
    }

    // What a route validates is what the document says it takes.
    const approve = doc.paths['/api/dashboard/approve'].post;
    expect(approve.requestBody.content['application/json'].schema).toMatchObject({
      type: 'object',
      required: expect.arrayContaining(['request_id', 'approved']),
      properties: { request_id: { type: 'string' }, approved: { type: 'boolean' }, plan_hash: { type: 'string' } },
    });
    expect(approve.requestBody.content['application/json'].schema.properties.approver).toBeUndefined();
    expect(doc.paths['/api/dashboard/audit/failures'].get.parameters.map((p: any) => p.name)).toEqual(
      expect.arrayContaining(['days', 'group_by', 'limit', 'offset']),
    );
    expect(doc.paths['/api/dashboard/requests/{request_id}/events'].get.security).toEqual([{ bearerToken: [] }, { accessTokenQuery: [] }]);
    expect(doc.paths['/api/dashboard/chat'].post.responses['201'].content['application/json'].schema).toEqual({
      $ref: '#/components/schemas/Request',
    });
    expect(doc.components.schemas.Error.required).toEqual(['error']);
  });

  it('documents the shapes the presenters really answer with (checked by the compiler)', () => {
    // As JSON (dates become strings). A suggestion's status is a plain string column, documented
    // as the enum of its values.
    expectTypeOf<JSONParsed<ReturnType<typeof presentRequest>>>().toExtend<z.input<typeof requestSchema>>();
    expectTypeOf<Omit<JSONParsed<ReturnType<typeof presentSuggestion>>, 'status'>>().toExtend<
      Omit<z.input<typeof suggestionSchema>, 'status'>
    >();
  });
});
