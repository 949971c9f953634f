// The real notify activity in MockActivityEnvironment against REAL local receivers: an HTTP server of
// this test plays the webhook receiver (verifying the signature exactly as the README tells one to)
// and an ntfy server, and smtp-server (by nodemailer's authors) a mail server with a login; every
// attempt is recorded in a PostgreSQL database of this file's own.
import { createHmac, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { SMTPServer, type SMTPServerAuthentication } from 'smtp-server';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { createNotificationActivities, NOTIFICATION_FAILED, type NotifyResult } from '../../activities/notifications.js';
import { noticeOf, type RequestNotice } from '../../domain/notifications.js';
import type { RequestState } from '../../domain/request-state.js';
import { loadConfig, type ChiffonConfig } from '../../lib/config.js';
import { deliver } from '../../services/notifications.js';
import { fakePlan } from '../support/mock-activities.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';

const SECRET = 'whsec-integration-0123456789abcdef';
const NTFY_TOKEN = 'tk_integration_token_42';
const STEP_SECRET = 'hunter2-step-secret-value';
const SMTP_USER = 'chiffon@homelab.lan';
const SMTP_PASSWORD = 'smtp-p@ss/word-0123';
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

interface ReceivedMail {
  from: string;
  to: string[];
  raw: string;
  /** The login the client gave, if any. */
  user?: string;
}

/** smtp-server on loopback with a login (AUTH PLAIN/LOGIN, allowed without TLS there); `answer` decides DATA's reply. */
class MailReceiver {
  readonly received: ReceivedMail[] = [];
  readonly logins: SMTPServerAuthentication[] = [];
  /** undefined: 250 accepted; a number: that error code for the message. */
  answer: () => { code: number; text: string } | undefined = () => undefined;
  /** Recipients answered 550 at RCPT TO. */
  refuse = new Set<string>();
  private server = new SMTPServer({
    logger: false,
    // No STARTTLS offered: smtp-server's own certificate is self-signed, and a loopback server needs none.
    disabledCommands: ['STARTTLS'],
    allowInsecureAuth: true,
    onAuth: (auth, _session, callback) => {
      this.logins.push(auth);
      if (auth.username === SMTP_USER && auth.password === SMTP_PASSWORD) callback(null, { user: auth.username });
      else callback(new Error('Invalid username or password'));
    },
    onRcptTo: (address, _session, callback) => {
      if (!this.refuse.has(address.address)) return callback();
      callback(Object.assign(new Error(`no mailbox ${address.address}`), { responseCode: 550 }));
    },
    onData: (stream, session, callback) => {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        const envelope = session.envelope;
        this.received.push({
          from: envelope.mailFrom ? envelope.mailFrom.address : '',
          to: envelope.rcptTo.map((r) => r.address),
          raw: Buffer.concat(chunks).toString('utf8'),
          ...(session.user ? { user: String(session.user) } : {}),
        });
        const refusal = this.answer();
        callback(refusal ? Object.assign(new Error(refusal.text), { responseCode: refusal.code }) : null);
      });
    },
  });
  port = 0;
  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.server.address() as AddressInfo).port;
  }
  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

/** The parts of a received mail a person sees: headers unfolded and decoded, the text body decoded. */
function readMail(raw: string): { headers: Map<string, string>; text: string } {
  const split = raw.indexOf('\r\n\r\n');
  const headers = new Map<string, string>();
  for (const line of raw
    .slice(0, split)
    .replace(/\r\n[ \t]+/g, ' ')
    .split('\r\n')) {
    const colon = line.indexOf(':');
    headers.set(line.slice(0, colon).toLowerCase(), decodeWords(line.slice(colon + 1).trim()));
  }
  let body = raw.slice(split + 4);
  if (headers.get('content-transfer-encoding') === 'quoted-printable') body = decodeQuotedPrintable(body);
  else if (headers.get('content-transfer-encoding') === 'base64') body = Buffer.from(body, 'base64').toString('utf8');
  return { headers, text: body.replace(/\r\n/g, '\n') };
}

function decodeQuotedPrintable(text: string): string {
  const bytes = text.replace(/=\r\n/g, '').replace(/=([0-9A-F]{2})/gi, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16)));
  return Buffer.from(bytes, 'latin1').toString('utf8');
}

/** RFC 2047 encoded words (=?UTF-8?Q?...?= / =?UTF-8?B?...?=); the space between two of them is not text. */
function decodeWords(value: string): string {
  return value
    .replace(/(\?=)\s+(=\?)/g, '$1$2')
    .replace(/=\?UTF-8\?([QB])\?([^?]*)\?=/gi, (_m, encoding: string, data: string) =>
      encoding.toUpperCase() === 'B'
        ? Buffer.from(data, 'base64').toString('utf8')
        : decodeQuotedPrintable(data.replace(/_/g, ' ').replace(/\r\n/g, '')),
    );
}

let database: TestDatabase;
const receiver = new Receiver();
const mail = new MailReceiver();
let downUrl: string;
let downPort: number;

beforeAll(async () => {
  database = await createTestDatabase();
  await receiver.start();
  await mail.start();
  // A port nothing listens on: a receiver that is down.
  const gone = new Receiver();
  await gone.start();
  downUrl = gone.url;
  downPort = Number(new URL(downUrl).port);
  await gone.close();
});

afterAll(async () => {
  await receiver.close();
  await mail.close();
  await database?.drop();
});

beforeEach(() => {
  receiver.received.length = 0;
  receiver.answer = () => 200;
  mail.received.length = 0;
  mail.logins.length = 0;
  mail.answer = () => undefined;
  mail.refuse.clear();
});

function configWith(env: NodeJS.ProcessEnv): Pick<ChiffonConfig, 'notify' | 'publicUrl'> {
  return loadConfig({ CHIFFON_PUBLIC_URL: 'http://chiffon.lan:3000', ...env });
}

const bothTargetsEnv = (): NodeJS.ProcessEnv => ({
  CHIFFON_NOTIFY_WEBHOOK_URL: `${receiver.url}/hook?key=query-secret`,
  CHIFFON_NOTIFY_WEBHOOK_SECRET: SECRET,
  CHIFFON_NOTIFY_NTFY_URL: `${receiver.url}/chiffon-topic`,
  CHIFFON_NOTIFY_NTFY_TOKEN: NTFY_TOKEN,
});
const bothTargets = () => configWith(bothTargetsEnv());

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
  // Not the webhook secret, the ntfy token (it travels only in its header), the mail server's password
  // (only in its AUTH) nor the step's secret var.
  expect(allBodies.length).toBeGreaterThan(0);
  for (const body of allBodies) for (const secret of [SECRET, NTFY_TOKEN, SMTP_PASSWORD, STEP_SECRET]) expect(body).not.toContain(secret);
});
const keepBodies = () => {
  allBodies.push(...receiver.received.map((r) => r.body.toString('utf8')), ...mail.received.map((m) => m.raw));
};

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
    expect(mail.received).toEqual([]);
    expect(await rowsOf('notify01.4')).toEqual([]);
  });
});

describe('notify by email (a real SMTP server)', () => {
  const MAIL_FROM = 'Chiffon <chiffon@homelab.lan>';
  const smtpUrl = (password = SMTP_PASSWORD, port = mail.port) =>
    `smtp://${encodeURIComponent(SMTP_USER)}:${encodeURIComponent(password)}@127.0.0.1:${port}`;
  const emailConfig = (env: NodeJS.ProcessEnv = {}) =>
    configWith({
      CHIFFON_NOTIFY_SMTP_URL: smtpUrl(),
      CHIFFON_NOTIFY_EMAIL_FROM: MAIL_FROM,
      CHIFFON_NOTIFY_EMAIL_TO: 'alice@homelab.lan, ops@homelab.lan',
      ...env,
    });
  const link = `http://chiffon.lan:3000/dashboard/#/requests/${REQUEST_ID}`;

  it('mails the notice, logged in with the URL’s credentials, and records the delivery without them', async () => {
    expect(await runNotify(emailConfig(), notice('notify01.5'))).toEqual({ delivered: ['email'] });
    keepBodies();
    expect(mail.logins.map((l) => [l.username, l.password])).toEqual([[SMTP_USER, SMTP_PASSWORD]]);
    const [sent, ...more] = mail.received;
    expect(more).toEqual([]);
    expect(sent).toMatchObject({ from: 'chiffon@homelab.lan', to: ['alice@homelab.lan', 'ops@homelab.lan'], user: SMTP_USER });

    const { headers, text } = readMail(sent!.raw);
    expect(
      Object.fromEntries(['subject', 'from', 'to', 'x-chiffon-delivery', 'x-chiffon-event', 'message-id'].map((h) => [h, headers.get(h)])),
    ).toEqual({
      subject: `Chiffon: request ${REQUEST_ID} waits for approval: Deploy Kuma Uptime to homelab`,
      from: MAIL_FROM,
      to: 'alice@homelab.lan, ops@homelab.lan',
      'x-chiffon-delivery': 'notify01.5',
      'x-chiffon-event': 'approval',
      'message-id': '<chiffon.notify01.5@homelab.lan>',
    });
    expect(headers.get('content-type')).toBe('text/plain; charset=utf-8');
    expect(text).toContain('alice asked: Deploy Kuma Uptime to homelab\n');
    expect(text).toContain('Plan hash-v1: 3 step(s) for kuma, caddy (kuma-deploy.yml, kuma-config-update.yml, caddy-reload.yml)\n');
    expect(text).toContain(`Approve or reject it on the dashboard: ${link}\n`);
    expect(text).not.toMatch(/admin_password|kuma_port/);

    const rows = await rowsOf('notify01.5');
    expect(rows.map((r) => [r.targetKind, r.target, r.status, r.httpStatus, r.error, r.attempt, r.event])).toEqual([
      ['email', `smtp://127.0.0.1:${mail.port}`, 'delivered', null, null, 1, 'approval'],
    ]);
    expect(JSON.stringify(rows)).not.toContain(encodeURIComponent(SMTP_PASSWORD));
  });

  it('a server answering 451 to the message fails the attempt (Temporal retries); the retry mails the same message, the webhook not twice', async () => {
    const config = configWith({
      ...bothTargetsEnv(),
      CHIFFON_NOTIFY_NTFY_URL: undefined,
      CHIFFON_NOTIFY_NTFY_TOKEN: undefined,
      CHIFFON_NOTIFY_SMTP_URL: smtpUrl(),
      CHIFFON_NOTIFY_EMAIL_FROM: MAIL_FROM,
      CHIFFON_NOTIFY_EMAIL_TO: 'alice@homelab.lan',
    });
    mail.answer = () => ({ code: 451, text: 'mailbox busy, try again later' });
    const failure = await runNotify(config, notice('notify01.6')).catch((err: unknown) => err);
    keepBodies();
    expect(failure).toBeInstanceOf(ApplicationFailure);
    expect((failure as ApplicationFailure).type).toBe(NOTIFICATION_FAILED);
    expect((failure as ApplicationFailure).nonRetryable).toBe(false);
    expect((failure as Error).message).toMatch(/email: EMESSAGE: .*451 mailbox busy, try again later/);
    expect((await rowsOf('notify01.6')).map((r) => [r.targetKind, r.status, r.attempt])).toEqual([
      ['email', 'failed', 1],
      ['webhook', 'delivered', 1],
    ]);
    const firstId = readMail(mail.received[0]!.raw).headers.get('message-id');

    // The server takes it on Temporal's second attempt: the mail goes again, the webhook does not.
    receiver.received.length = 0;
    mail.received.length = 0;
    mail.answer = () => undefined;
    expect((await runNotify(config, notice('notify01.6'), 2)).delivered.sort()).toEqual(['email', 'webhook']);
    keepBodies();
    expect(receiver.received).toEqual([]);
    expect(mail.received).toHaveLength(1);
    const retried = readMail(mail.received[0]!.raw).headers;
    expect([retried.get('message-id'), retried.get('x-chiffon-delivery')]).toEqual([firstId, 'notify01.6']);
    const rows = await rowsOf('notify01.6');
    expect(rows.map((r) => [r.targetKind, r.status, r.attempt])).toEqual([
      ['email', 'failed', 1],
      ['webhook', 'delivered', 1],
      ['email', 'delivered', 2],
    ]);
    expect(rows[0]?.error).toMatch(/^EMESSAGE: .*451 mailbox busy, try again later$/);
  });

  it('a 554 answer fails the attempt too; a refused recipient alone does not fail the others, its row says who', async () => {
    mail.answer = () => ({ code: 554, text: 'message refused' });
    const failure = await runNotify(emailConfig(), notice('notify01.7')).catch((err: unknown) => err);
    keepBodies();
    expect((failure as Error).message).toMatch(/email: EMESSAGE: .*554 message refused/);

    mail.answer = () => undefined;
    mail.refuse.add('ops@homelab.lan');
    expect(await runNotify(emailConfig(), notice('notify01.8'))).toEqual({ delivered: ['email'] });
    keepBodies();
    expect(mail.received.at(-1)?.to).toEqual(['alice@homelab.lan']);
    const [row] = await rowsOf('notify01.8');
    expect(row).toMatchObject({ targetKind: 'email', status: 'delivered' });
    expect(row?.error).toMatch(/^the server refused ops@homelab\.lan \(550 .*no mailbox ops@homelab\.lan\)$/);
  });

  it('a login the server refuses fails the attempt; the password is in no row, error or log', async () => {
    const wrong = 'not-the-p@ssword-987';
    const printed: string[] = [];
    const spies = [
      ...(['log', 'info', 'warn', 'error', 'debug'] as const).map((level) =>
        vi.spyOn(console, level).mockImplementation((...args: unknown[]) => void printed.push(args.map(String).join(' '))),
      ),
      vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => printed.push(String(chunk)) > 0),
      vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => printed.push(String(chunk)) > 0),
    ];
    let failure: unknown;
    try {
      failure = await runNotify(emailConfig({ CHIFFON_NOTIFY_SMTP_URL: smtpUrl(wrong) }), notice('notify01.9')).catch(
        (err: unknown) => err,
      );
    } finally {
      for (const spy of spies) spy.mockRestore();
    }
    expect(mail.logins.map((l) => l.password)).toEqual([wrong]); // to the server, in its AUTH only
    expect(mail.received).toEqual([]);
    expect((failure as Error).message).toMatch(/email: EAUTH: .*535/);
    const rows = await rowsOf('notify01.9');
    expect(rows.map((r) => [r.targetKind, r.status, r.attempt])).toEqual([['email', 'failed', 1]]);
    expect(rows[0]?.error).toMatch(/^EAUTH: Invalid login: 535/);
    // The worker's log of the failed attempt is among what was printed, and it too is clean.
    expect(printed.join('\n')).toContain('notification notify01.9 not delivered');
    for (const text of [JSON.stringify(rows), (failure as Error).message, ...printed]) {
      expect(text).not.toContain(wrong);
      expect(text).not.toContain(encodeURIComponent(wrong));
    }
  });

  it('with STARTTLS required, a server that offers none gets neither the login nor the message', async () => {
    const failure = await runNotify(emailConfig({ CHIFFON_NOTIFY_SMTP_REQUIRE_TLS: 'true' }), notice('notify01.10')).catch(
      (err: unknown) => err,
    );
    expect((failure as Error).message).toMatch(/email: ETLS: .*STARTTLS/);
    expect(mail.logins).toEqual([]);
    expect(mail.received).toEqual([]);
    expect((await rowsOf('notify01.10')).map((r) => [r.targetKind, r.status])).toEqual([['email', 'failed']]);
  });

  it('a server that is down, or that never answers, fails with a reason', async () => {
    const failure = await runNotify(
      emailConfig({ CHIFFON_NOTIFY_SMTP_URL: smtpUrl(SMTP_PASSWORD, downPort) }),
      notice('notify01.11'),
    ).catch((err: unknown) => err);
    expect((failure as Error).message).toMatch(/email: ESOCKET: .*ECONNREFUSED/);
    const [row] = await rowsOf('notify01.11');
    expect(row).toMatchObject({ targetKind: 'email', target: `smtp://127.0.0.1:${downPort}`, status: 'failed', httpStatus: null });
    expect(row?.error).toMatch(/ECONNREFUSED/);

    // Accepts the connection and says nothing: no greeting ever comes.
    const sockets = new Set<net.Socket>();
    const silent = net.createServer((socket) => void sockets.add(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as AddressInfo).port;
    try {
      const target = emailConfig({ CHIFFON_NOTIFY_SMTP_URL: smtpUrl(SMTP_PASSWORD, port) }).notify.email!;
      // Whichever comes first, the send's deadline or nodemailer's wait for the greeting: both are that long.
      const outcome = await deliver({ kind: 'email', ...target }, notice('notify01.12'), link, { timeoutMs: 200 });
      expect(outcome.delivered).toBe(false);
      expect(outcome.error).toMatch(/^no answer within 200 ms\b/);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });
});
