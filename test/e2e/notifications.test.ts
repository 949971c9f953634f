// Notifications on the real stack: the Kuma request through the HTTP API, a worker whose webhook is
// this test's own HTTP server and whose mail server is this test's own smtp-server. The webhook fails
// its first delivery (500): the request is not held up by it, and the notification arrives on
// Temporal's retry, signed, while the mail (delivered at once) is not sent twice; the request's
// pending_approval and completed notices arrive, every attempt recorded in notification_deliveries.
import { createHmac, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { workflowIdFor } from '../../domain/request-state.js';
import { loadConfig } from '../../lib/config.js';
import { startServices, startStack, type E2EServices, type Stack } from '../support/e2e-stack.js';

const SECRET = 'e2e-webhook-secret-0123456789abcdef';
const KUMA_REQUEST = 'Deploy Kuma Uptime to homelab and add our existing portals to the config';

let services: E2EServices;
let stack: Stack;
let server: http.Server;
const received: { body: Buffer; headers: http.IncomingHttpHeaders; answered: number }[] = [];
const mails: string[] = [];
// A loopback mail server without TLS or login (the integration test covers both).
const mailServer = new SMTPServer({
  logger: false,
  disabledCommands: ['STARTTLS', 'AUTH'],
  onData(stream, _session, callback) {
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('end', () => {
      mails.push(Buffer.concat(chunks).toString('utf8'));
      callback();
    });
  },
});

beforeAll(async () => {
  server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      // The very first delivery fails: the target is "down" once.
      res.statusCode = received.length === 0 ? 500 : 204;
      received.push({ body: Buffer.concat(chunks), headers: req.headers, answered: res.statusCode });
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  await new Promise<void>((resolve) => mailServer.listen(0, '127.0.0.1', resolve));
  services = await startServices('notifications');
  const notify = loadConfig({
    CHIFFON_NOTIFY_WEBHOOK_URL: url,
    CHIFFON_NOTIFY_WEBHOOK_SECRET: SECRET,
    CHIFFON_NOTIFY_SMTP_URL: `smtp://127.0.0.1:${(mailServer.server.address() as AddressInfo).port}`,
    CHIFFON_NOTIFY_EMAIL_FROM: 'chiffon@homelab.lan',
    CHIFFON_NOTIFY_EMAIL_TO: 'alice@homelab.lan',
  }).notify;
  stack = await startStack(services, 'notify', { config: { notify, publicUrl: 'http://chiffon.test:3000' } });
}, 180_000);

afterAll(async () => {
  await stack?.stop();
  await services?.stop();
  await new Promise<void>((resolve) => server?.close(() => resolve()));
  await new Promise<void>((resolve) => mailServer.close(() => resolve()));
});

const verified = (r: (typeof received)[number]) => {
  const expected = Buffer.from(`sha256=${createHmac('sha256', SECRET).update(r.body).digest('hex')}`);
  const given = Buffer.from(String(r.headers['x-chiffon-signature'] ?? ''));
  return given.length === expected.length && timingSafeEqual(given, expected);
};

describe('notifications on the real stack', () => {
  it(
    'posts pending_approval and completed to the webhook and mails them while the request completes, retrying a failed delivery',
    { timeout: 180_000 },
    async () => {
      const chat = await stack.call('POST', '/chat', { message: KUMA_REQUEST });
      expect(chat.status, JSON.stringify(chat.body)).toBe(201);
      const id = chat.body.request_id as string;
      const approve = await stack.call('POST', '/approve', { request_id: id, approved: true, plan_hash: chat.body.plan.hash });
      expect(approve.status, JSON.stringify(approve.body)).toBe(200);
      await stack.waitForStatus(id, 'completed', 120_000);

      // The workflow ends only once its notifications are settled.
      const handle = services.env.client.workflow.getHandle(workflowIdFor(id));
      await handle.result();
      const bodies = received.map((r) => ({ ...(JSON.parse(r.body.toString('utf8')) as { event: string }), answered: r.answered }));
      expect(received.every(verified)).toBe(true);
      // The approval's first delivery failed and was retried; the request went on meanwhile.
      expect(bodies.filter((b) => b.event === 'approval').map((b) => b.answered)).toEqual([500, 204]);
      expect(bodies.filter((b) => b.event === 'completed').map((b) => b.answered)).toEqual([204]);
      expect(new Set(received.filter((r) => r.body.includes('"approval"')).map((r) => r.headers['x-chiffon-delivery']))).toEqual(
        new Set([`${id}.1`]),
      );
      expect(bodies[0]).toMatchObject({
        request_id: id,
        requested_by: 'alice',
        url: `http://chiffon.test:3000/dashboard/#/requests/${id}`,
      });

      const rows = await services.database.prisma.notificationDelivery.findMany({
        where: { requestId: id },
        orderBy: { createdAt: 'asc' },
      });
      expect(rows.map((r) => `${r.targetKind}:${r.event}:${r.status}:${r.attempt}`).sort()).toEqual(
        [
          'webhook:approval:failed:1',
          'webhook:approval:delivered:2',
          'webhook:completed:delivered:1',
          'email:approval:delivered:1',
          'email:completed:delivered:1',
        ].sort(),
      );

      // One mail per notice: the webhook's retry did not send the approval's mail again.
      const header = (raw: string, name: string) => new RegExp(`^${name}: (.*)$`, 'im').exec(raw)?.[1]?.trim();
      const sent = mails.map((raw) => [header(raw, 'X-Chiffon-Event'), header(raw, 'X-Chiffon-Delivery')]);
      expect(sent.sort((a, b) => String(a[0]).localeCompare(String(b[0])))).toEqual([
        ['approval', `${id}.1`],
        ['completed', expect.stringMatching(new RegExp(`^${id}\\.\\d+$`))],
      ]);
      // Undo quoted-printable's soft line breaks: the link line is longer than a mail line.
      for (const raw of mails) expect(raw.replace(/=\r\n/g, '')).toContain(`http://chiffon.test:3000/dashboard/#/requests/${id}`);
    },
  );
});
