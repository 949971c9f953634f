// The real notify activity in MockActivityEnvironment against REAL local receivers: an HTTP server of
// this test plays the webhook receiver (verifying the signature exactly as the README tells one to)
// and an ntfy server; every attempt is recorded in a PostgreSQL database of this file's own.
import { createHmac, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createNotificationActivities, NOTIFICATION_FAILED, type NotifyResult } from '../../activities/notifications.js';
import { noticeOf, type RequestNotice } from '../../domain/notifications.js';
import type { RequestState } from '../../domain/request-state.js';
import { loadConfig, type ChiffonConfig } from '../../lib/config.js';
import { fakePlan } from '../support/mock-activities.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';

const SECRET = 'whsec-integration-0123456789abcdef';
const NTFY_TOKEN = 'tk_integration_token_42';
const STEP_SECRET = 'hunter2-step-secret-value';
const REQUEST_ID = 'notify01';

interface Received {
  path: string;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** One receiver for both kinds (by path); `answer` decides the status code of each request. */
class Receiver {
  readonly received: Received[] = [];
  answer: (path: string) => number = () => 200;
  private server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const path = req.url ?? '';
      this.received.push({ path, headers: req.headers, body: Buffer.concat(chunks) });
      res.statusCode = this.answer(path);
      res.end(res.statusCode === 200 ? 'ok' : 'receiver broke');
    });
  });
  url = '';
  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }
  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

/** What the README tells a webhook receiver to do: HMAC the raw body bytes, compare in constant time. */
function verifySignature(body: Buffer, header: string | undefined, secret: string): boolean {
  const expected = Buffer.from(`sha256=${createHmac('sha256', secret).update(body).digest('hex')}`);
  const given = Buffer.from(header ?? '');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

let database: TestDatabase;
const receiver = new Receiver();
let downUrl: string;

beforeAll(async () => {
  database = await createTestDatabase();
  await receiver.start();
  // A port nothing listens on: a receiver that is down.
  const gone = new Receiver();
  await gone.start();
  downUrl = gone.url;
  await gone.close();
});

afterAll(async () => {
  await receiver.close();
  await database?.drop();
});

beforeEach(() => {
  receiver.received.length = 0;
  receiver.answer = () => 200;
});

function configWith(env: NodeJS.ProcessEnv): Pick<ChiffonConfig, 'notify' | 'publicUrl'> {
  return loadConfig({ CHIFFON_PUBLIC_URL: 'http://chiffon.lan:3000', ...env });
}

const bothTargets = () =>
  configWith({
    CHIFFON_NOTIFY_WEBHOOK_URL: `${receiver.url}/hook?key=query-secret`,
    CHIFFON_NOTIFY_WEBHOOK_SECRET: SECRET,
    CHIFFON_NOTIFY_NTFY_URL: `${receiver.url}/chiffon-topic`,
    CHIFFON_NOTIFY_NTFY_TOKEN: NTFY_TOKEN,
  });

/** A request whose plan has a var its playbook marks secret: nothing of it may reach a receiver. */
function notice(deliveryId: string): RequestNotice {
  const plan = fakePlan();
  plan.steps[0]!.vars = { kuma_port: 3001, admin_password: STEP_SECRET };
  plan.steps[0]!.secretVars = ['admin_password'];
  const state: RequestState = {
    requestId: REQUEST_ID,
    message: 'Deploy Kuma Uptime to homelab',
    requestedBy: 'alice',
    status: 'pending_approval',
    intents: [],
    plan,
    steps: [],
    previousDecisions: [],
    operatorActions: [],
  };
  return noticeOf(state, 'approval', deliveryId, '2026-01-01T00:00:00.000Z');
}

function runNotify(config: Pick<ChiffonConfig, 'notify' | 'publicUrl'>, input: RequestNotice, attempt = 1): Promise<NotifyResult> {
  const env = new MockActivityEnvironment({ workflowExecution: { workflowId: `request-${REQUEST_ID}`, runId: 'run-1' }, attempt });
  return env.run(createNotificationActivities(config, database.prisma).notify, input) as Promise<NotifyResult>;
}

const rowsOf = (deliveryId: string) =>
  database.prisma.notificationDelivery.findMany({ where: { deliveryId }, orderBy: [{ attempt: 'asc' }, { targetKind: 'asc' }] });

const allBodies: string[] = [];
afterAll(() => {
  // Not the webhook secret, the ntfy token (it travels only in its header) nor the step's secret var.
  expect(allBodies.length).toBeGreaterThan(0);
  for (const body of allBodies) for (const secret of [SECRET, NTFY_TOKEN, STEP_SECRET]) expect(body).not.toContain(secret);
});
const keepBodies = () => allBodies.push(...receiver.received.map((r) => r.body.toString('utf8')));

describe('notify (real receivers)', () => {
  it('posts the signed webhook and the ntfy message, and records each delivery', async () => {
    const result = await runNotify(bothTargets(), notice('notify01.1'));
    keepBodies();
    expect(result.delivered.sort()).toEqual(['ntfy', 'webhook']);

    const hook = receiver.received.find((r) => r.path.startsWith('/hook'))!;
    expect(hook.path).toBe('/hook?key=query-secret');
    expect(verifySignature(hook.body, hook.headers['x-chiffon-signature'] as string, SECRET)).toBe(true);
    expect(verifySignature(hook.body, hook.headers['x-chiffon-signature'] as string, 'another-secret-0123456789')).toBe(false);
    expect(hook.headers['x-chiffon-delivery']).toBe('notify01.1');
    expect(hook.headers['content-type']).toBe('application/json');
    const payload = JSON.parse(hook.body.toString('utf8')) as Record<string, unknown>;
    expect(String(payload.timestamp)).toBe(hook.headers['x-chiffon-timestamp']);
    expect(Math.abs(Number(payload.timestamp) - Date.now() / 1000)).toBeLessThan(60);
    expect(payload).toMatchObject({
      delivery_id: 'notify01.1',
      event: 'approval',
      request_id: REQUEST_ID,
      status: 'pending_approval',
      requested_by: 'alice',
      plan: { step_count: 3, services: ['kuma', 'caddy'] },
      url: `http://chiffon.lan:3000/dashboard/#/requests/${REQUEST_ID}`,
    });

    const ntfy = receiver.received.find((r) => r.path === '/chiffon-topic')!;
    expect(ntfy.headers).toMatchObject({
      title: `Chiffon: request ${REQUEST_ID} waits for approval`,
      tags: 'chiffon,raised_hand',
      priority: '4',
      click: `http://chiffon.lan:3000/dashboard/#/requests/${REQUEST_ID}`,
      authorization: `Bearer ${NTFY_TOKEN}`,
    });
    expect(ntfy.body.toString('utf8')).toContain('alice asked: Deploy Kuma Uptime to homelab');

    const rows = await rowsOf('notify01.1');
    expect(rows.map((r) => [r.targetKind, r.status, r.httpStatus, r.attempt, r.event, r.requestId])).toEqual([
      ['ntfy', 'delivered', 200, 1, 'approval', REQUEST_ID],
      ['webhook', 'delivered', 200, 1, 'approval', REQUEST_ID],
    ]);
    expect(rows.find((r) => r.targetKind === 'webhook')?.target).toBe(`${receiver.url}/hook`); // no query: it may hold a key
  });

  it('a receiver answering 500 fails the attempt (Temporal retries) with a failed row; the retry sends only what was not delivered', async () => {
    receiver.answer = (path) => (path.startsWith('/hook') ? 500 : 200);
    const failure = await runNotify(bothTargets(), notice('notify01.2')).catch((err: unknown) => err);
    keepBodies();
    expect(failure).toBeInstanceOf(ApplicationFailure);
    expect((failure as ApplicationFailure).type).toBe(NOTIFICATION_FAILED);
    expect((failure as ApplicationFailure).nonRetryable).toBe(false);
    expect((failure as Error).message).toContain('webhook: HTTP 500: receiver broke');
    expect((await rowsOf('notify01.2')).map((r) => [r.targetKind, r.status, r.httpStatus, r.attempt])).toEqual([
      ['ntfy', 'delivered', 200, 1],
      ['webhook', 'failed', 500, 1],
    ]);

    // The receiver is back for Temporal's second attempt: the webhook gets it, ntfy not twice.
    receiver.received.length = 0;
    receiver.answer = () => 200;
    expect((await runNotify(bothTargets(), notice('notify01.2'), 2)).delivered.sort()).toEqual(['ntfy', 'webhook']);
    keepBodies();
    expect(receiver.received.map((r) => r.path)).toEqual(['/hook?key=query-secret']);
    expect(receiver.received[0]?.headers['x-chiffon-delivery']).toBe('notify01.2');
    const rows = await rowsOf('notify01.2');
    expect(rows.map((r) => [r.targetKind, r.status, r.attempt])).toEqual([
      ['ntfy', 'delivered', 1],
      ['webhook', 'failed', 1],
      ['webhook', 'delivered', 2],
    ]);
    expect(rows[1]?.error).toBe('HTTP 500: receiver broke');
  });

  it('a receiver that is down fails the attempt with a failed row that says why', async () => {
    const config = configWith({ CHIFFON_NOTIFY_NTFY_URL: `${downUrl}/alerts` });
    const failure = await runNotify(config, notice('notify01.3')).catch((err: unknown) => err);
    expect(failure).toBeInstanceOf(ApplicationFailure);
    expect((failure as Error).message).toMatch(/ntfy: .*ECONNREFUSED/);
    const [row, ...more] = await rowsOf('notify01.3');
    expect(more).toEqual([]);
    expect(row).toMatchObject({ targetKind: 'ntfy', target: `${downUrl}/alerts`, status: 'failed', httpStatus: null, attempt: 1 });
    expect(row?.error).toMatch(/ECONNREFUSED/);
  });

  it('with no target configured it sends and records nothing', async () => {
    expect(await runNotify(configWith({}), notice('notify01.4'))).toEqual({ delivered: [] });
    expect(receiver.received).toEqual([]);
    expect(await rowsOf('notify01.4')).toEqual([]);
  });
});
