// Notifications without a network: which statuses notify, what a notice holds (and never holds),
// the webhook body and its signature, the ntfy message, the email, and the configuration's strict
// reading.
import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  dashboardLink,
  emailMessage,
  noticeOf,
  notificationEventOf,
  ntfyMessage,
  webhookPayload,
  NOTIFICATION_EVENTS,
} from '../../domain/notifications.js';
import { REQUEST_STATUSES, type RequestState } from '../../domain/request-state.js';
import { CHIFFON_SECRET_VARS, ownSecretValues } from '../../lib/child-env.js';
import { loadConfig, notifyTargetsConfigured } from '../../lib/config.js';
import { displayTarget, mailFor, requestFor, signBody, type EmailTarget } from '../../services/notifications.js';
import { fakePlan } from '../support/mock-activities.js';

const SECRET = 'webhook-secret-0123456789';

function state(overrides: Partial<RequestState> = {}): RequestState {
  const plan = fakePlan();
  plan.steps[0]!.vars = { kuma_port: 3001, admin_password: 'hunter2-do-not-leak' };
  plan.steps[0]!.secretVars = ['admin_password'];
  return {
    requestId: 'abc123',
    message: 'Deploy Kuma Uptime',
    requestedBy: 'alice',
    status: 'pending_approval',
    intents: [],
    plan,
    steps: plan.steps.map((s) => ({ index: s.index, taskId: s.taskId, attempt: 1, playbook: s.playbook, status: 'pending' })),
    previousDecisions: [],
    operatorActions: [],
    ...overrides,
  };
}

describe('which statuses notify', () => {
  it('approval, input, failed (failed and unrunnable) and completed; no other status', () => {
    const notifying = REQUEST_STATUSES.filter((s) => notificationEventOf(s)).map((s) => `${s}:${notificationEventOf(s)}`);
    expect(notifying).toEqual([
      'needs_input:input',
      'pending_approval:approval',
      'unrunnable:failed',
      'completed:completed',
      'failed:failed',
    ]);
  });
});

describe('the notice', () => {
  it('has the outline of the plan and who asked, never a step var', () => {
    const notice = noticeOf(state(), 'approval', 'abc123.1', '2026-01-01T00:00:00.000Z');
    expect(notice).toEqual({
      deliveryId: 'abc123.1',
      event: 'approval',
      requestId: 'abc123',
      status: 'pending_approval',
      at: '2026-01-01T00:00:00.000Z',
      message: 'Deploy Kuma Uptime',
      requestedBy: 'alice',
      plan: {
        hash: 'hash-v1',
        services: ['kuma', 'caddy'],
        stepCount: 3,
        playbooks: ['kuma-deploy.yml', 'kuma-config-update.yml', 'caddy-reload.yml'],
      },
    });
    expect(JSON.stringify(notice)).not.toMatch(/hunter2|3001|portal-1/);
  });

  it('a failed run names its step and error; needs input names the missing variables', () => {
    const failed = state({ status: 'failed', error: { message: 'boom' }, decision: decisionBy('bob') });
    failed.steps[1]!.status = 'failed';
    expect(noticeOf(failed, 'failed', 'abc123.2', 'now')).toMatchObject({
      error: 'boom',
      failedStep: { index: 1, playbook: 'kuma-config-update.yml' },
      approvedBy: 'bob',
    });
    const input = state({
      status: 'needs_input',
      plan: undefined,
      missingInputs: [{ playbook: 'x.yml', vars: ['port'] }],
      error: { message: 'x' },
    });
    const notice = noticeOf(input, 'input', 'abc123.1', 'now');
    expect(notice.missingInputs).toEqual([{ playbook: 'x.yml', vars: ['port'] }]);
    expect(notice).not.toHaveProperty('plan');
    expect(notice).not.toHaveProperty('error');
  });
});

function decisionBy(approver: string) {
  return { approver, approved: true, decidedAt: 'then', planHash: 'hash-v1' };
}

describe('the messages', () => {
  const notice = noticeOf(state(), 'approval', 'abc123.1', '2026-01-01T00:00:00.000Z');
  const link = dashboardLink('http://chiffon.lan:3000/', 'abc123');

  it('links to the request on the dashboard', () => {
    expect(link).toBe('http://chiffon.lan:3000/dashboard/#/requests/abc123');
  });

  it('the webhook body is signed over its exact bytes, and says when it was sent inside what is signed', () => {
    const sent = requestFor(
      { kind: 'webhook', url: 'https://hooks.lan/chiffon', secret: SECRET },
      notice,
      link,
      new Date(1_700_000_000_000),
    );
    const expected = createHmac('sha256', SECRET).update(Buffer.from(sent.body, 'utf8')).digest('hex');
    expect(sent.headers['X-Chiffon-Signature']).toBe(`sha256=${expected}`);
    expect(signBody(SECRET, sent.body)).toBe(`sha256=${expected}`);
    expect(sent.headers['X-Chiffon-Delivery']).toBe('abc123.1');
    expect(sent.headers['X-Chiffon-Timestamp']).toBe('1700000000');
    expect(JSON.parse(sent.body)).toEqual(webhookPayload(notice, link, 1_700_000_000));
    expect(JSON.parse(sent.body)).toMatchObject({ delivery_id: 'abc123.1', timestamp: 1_700_000_000, event: 'approval', url: link });
    expect(sent.body).not.toContain(SECRET);
  });

  it('ntfy gets a text with a title, tags, a priority and the click link', () => {
    const message = ntfyMessage(notice, link);
    expect(message.title).toBe('Chiffon: request abc123 waits for approval');
    expect(message.body).toContain('alice asked: Deploy Kuma Uptime');
    expect(message.body).toContain('3 step(s) for kuma, caddy');
    expect(message).toMatchObject({ tags: ['chiffon', 'raised_hand'], priority: 4, click: link });
    const sent = requestFor({ kind: 'ntfy', url: 'https://ntfy.sh/topic', token: 'tk_x' }, notice, link);
    expect(sent.headers).toMatchObject({ Title: message.title, Tags: 'chiffon,raised_hand', Priority: '4', Click: link });
    expect(sent.headers.Authorization).toBe('Bearer tk_x');
    // A header is bytes: a name beyond ASCII goes RFC 2047-encoded.
    const accented = requestFor({ kind: 'ntfy', url: 'https://ntfy.sh/topic' }, { ...notice, requestId: 'é1' }, link);
    expect(accented.headers.Title).toMatch(/^=\?UTF-8\?B\?.+\?=$/);
  });

  it('a failure says so with its step, unrunnable as "cannot run"', () => {
    const failed = { ...notice, event: 'failed' as const, status: 'unrunnable' as const, error: 'role x is not installed' };
    expect(ntfyMessage(failed, link).title).toBe('Chiffon: request abc123 cannot run');
    expect(ntfyMessage(failed, link).body).toContain('Error: role x is not installed');
  });

  it('records a target without its credentials or query; a mail server as scheme, host and port', () => {
    expect(displayTarget('https://user:pw@ntfy.lan/alerts?auth=tok')).toBe('https://ntfy.lan/alerts');
    expect(displayTarget('smtp://user:pw@mail.lan')).toBe('smtp://mail.lan:587');
    expect(displayTarget('smtps://user:pw@mail.lan')).toBe('smtps://mail.lan:465');
    expect(displayTarget('smtp://mail.lan:25')).toBe('smtp://mail.lan:25');
    expect(displayTarget('smtp://[::1]:2525')).toBe('smtp://[::1]:2525');
  });
});

describe('the email', () => {
  const link = dashboardLink('http://chiffon.lan:3000', 'abc123');
  const target: EmailTarget = {
    kind: 'email',
    url: 'smtp://chiffon:mail-password-42@mail.lan:587',
    from: { name: 'Chiffon', address: 'chiffon@homelab.lan' },
    to: ['alice@homelab.lan', 'bob@homelab.lan'],
    requireTLS: true,
  };

  it('says who asked, the plan outline, the status and where to act, never a step var', () => {
    const notice = noticeOf(state(), 'approval', 'abc123.1', '2026-01-01T00:00:00.000Z');
    const message = emailMessage(notice, link);
    expect(message.subject).toBe('Chiffon: request abc123 waits for approval: Deploy Kuma Uptime');
    expect(message.text).toBe(
      [
        'alice asked: Deploy Kuma Uptime',
        'Plan hash-v1: 3 step(s) for kuma, caddy (kuma-deploy.yml, kuma-config-update.yml, caddy-reload.yml)',
        '',
        'Request abc123 is pending_approval since 2026-01-01T00:00:00.000Z.',
        'Approve or reject it on the dashboard: http://chiffon.lan:3000/dashboard/#/requests/abc123',
        '',
        '-- Chiffon (delivery abc123.1)',
        '',
      ].join('\n'),
    );
    expect(JSON.stringify(message)).not.toMatch(/hunter2|3001|portal-1/);
  });

  it('a failure names its step and error; a scheduled run its schedule and standing approval', () => {
    const failed = state({
      status: 'failed',
      error: { message: 'boom' },
      decision: decisionBy('bob'),
      schedule: { id: 'schedule-0123abcd', standingApprovalId: 'standing-x' },
    });
    failed.steps[1]!.status = 'failed';
    const message = emailMessage(noticeOf(failed, 'failed', 'abc123.2', 'now'), link);
    expect(message.subject).toBe('Chiffon: request abc123 failed: Deploy Kuma Uptime');
    expect(message.text).toContain('Started by schedule-0123abcd\nApproved by bob (standing approval standing-x)\n');
    expect(message.text).toContain('Failed at step 2 (kuma-config-update.yml)\nError: boom\n');
    expect(message.text).toContain('See what happened on the dashboard: ');
    const unrunnable = { ...noticeOf(failed, 'failed', 'abc123.2', 'now'), status: 'unrunnable' as const };
    expect(emailMessage(unrunnable, link).subject).toMatch(/^Chiffon: request abc123 cannot run: /);
  });

  it('keeps the subject to one short line', () => {
    const long = noticeOf(state({ message: `Deploy\r\nBcc: eve@evil.lan\n${'x'.repeat(200)}` }), 'completed', 'abc123.3', 'now');
    const { subject, text } = emailMessage(long, link);
    expect(subject).not.toMatch(/[\r\n]/);
    expect(subject).toMatch(/^Chiffon: request abc123 completed: Deploy Bcc: eve@evil\.lan x+…$/);
    expect(subject.length).toBeLessThan(140);
    expect(text).toContain('See it on the dashboard: ');
  });

  it('is plain text from the configured sender, its Message-ID and X-Chiffon-Delivery from the delivery id', () => {
    const notice = noticeOf(state(), 'approval', 'abc123.1', '2026-01-01T00:00:00.000Z');
    const mail = mailFor(target, notice, link);
    expect(mail).toMatchObject({
      from: { name: 'Chiffon', address: 'chiffon@homelab.lan' },
      to: ['alice@homelab.lan', 'bob@homelab.lan'],
      subject: emailMessage(notice, link).subject,
      text: emailMessage(notice, link).text,
      messageId: '<chiffon.abc123.1@homelab.lan>',
      headers: { 'X-Chiffon-Delivery': 'abc123.1', 'X-Chiffon-Event': 'approval' },
    });
    expect(mail).not.toHaveProperty('html');
    expect(JSON.stringify(mail)).not.toContain('mail-password-42');
    // The same delivery (a retry) is the same message; a scheduled run's id has colons, not allowed there.
    expect(mailFor(target, notice, link).messageId).toBe(mail.messageId);
    const scheduled = { ...notice, deliveryId: 'schedule-0123abcd-2026-12-07T04:00:00Z.1' };
    expect(mailFor({ ...target, from: { address: 'c@h.lan' } }, scheduled, link)).toMatchObject({
      from: 'c@h.lan',
      messageId: '<chiffon.schedule-0123abcd-2026-12-07T04=3A00=3A00Z.1@h.lan>',
    });
  });
});

describe('configuration', () => {
  it('has no target by default, every event, and links to the API address', () => {
    const config = loadConfig({});
    expect(config.notify).toEqual({ events: [...NOTIFICATION_EVENTS] });
    expect(config.publicUrl).toBe('http://127.0.0.1:3000');
    expect(loadConfig({ CHIFFON_HOST: '0.0.0.0', PORT: '8080', CHIFFON_PUBLIC_URL: 'https://chiffon.lan/' }).publicUrl).toBe(
      'https://chiffon.lan',
    );
  });

  it('reads the targets and events', () => {
    const config = loadConfig({
      CHIFFON_NOTIFY_WEBHOOK_URL: 'https://hooks.lan/x',
      CHIFFON_NOTIFY_WEBHOOK_SECRET: SECRET,
      CHIFFON_NOTIFY_NTFY_URL: 'https://ntfy.sh/mytopic',
      CHIFFON_NOTIFY_NTFY_TOKEN: 'tk_abc',
      CHIFFON_NOTIFY_EVENTS: 'approval, failed',
    });
    expect(config.notify).toEqual({
      webhook: { url: 'https://hooks.lan/x', secret: SECRET },
      ntfy: { url: 'https://ntfy.sh/mytopic', token: 'tk_abc' },
      events: ['approval', 'failed'],
    });
  });

  it.each([
    [{ CHIFFON_NOTIFY_WEBHOOK_URL: 'https://hooks.lan/x' }, /needs CHIFFON_NOTIFY_WEBHOOK_SECRET/],
    [{ CHIFFON_NOTIFY_WEBHOOK_SECRET: SECRET }, /without CHIFFON_NOTIFY_WEBHOOK_URL/],
    [{ CHIFFON_NOTIFY_WEBHOOK_URL: 'https://hooks.lan/x', CHIFFON_NOTIFY_WEBHOOK_SECRET: 'short' }, /shorter than 16/],
    [{ CHIFFON_NOTIFY_WEBHOOK_URL: 'hooks.lan', CHIFFON_NOTIFY_WEBHOOK_SECRET: SECRET }, /is not a URL/],
    [{ CHIFFON_NOTIFY_NTFY_URL: 'ftp://ntfy.sh/x' }, /is not http: or https:/],
    [{ CHIFFON_NOTIFY_NTFY_URL: 'https://ntfy.sh/' }, /names no topic/],
    [{ CHIFFON_NOTIFY_NTFY_TOKEN: 'tk' }, /without CHIFFON_NOTIFY_NTFY_URL/],
    [{ CHIFFON_NOTIFY_EVENTS: 'approval,deployed' }, /deployed is not one of approval, input, failed, completed/],
    [{ CHIFFON_PUBLIC_URL: 'https://chiffon.lan/?x=1' }, /has a query or fragment/],
  ])('refuses %o at start', (env, error) => {
    expect(() => loadConfig(env)).toThrow(error);
  });

  it('its secrets are Chiffon secrets: never given to Ansible, hidden from stored output', () => {
    expect(CHIFFON_SECRET_VARS).toEqual(
      expect.arrayContaining(['CHIFFON_NOTIFY_WEBHOOK_SECRET', 'CHIFFON_NOTIFY_NTFY_TOKEN', 'CHIFFON_NOTIFY_SMTP_URL']),
    );
    // The mail server's password on its own too, decoded, as an error might quote it.
    const url = 'smtp://chiffon:p%40ss-word-9@mail.lan:587';
    expect(ownSecretValues({ CHIFFON_NOTIFY_SMTP_URL: url })).toEqual([url, 'p@ss-word-9']);
  });
});

describe('configuration of the email target', () => {
  const PASSWORD = 'smtp-pass-0123';
  const EMAIL = {
    CHIFFON_NOTIFY_SMTP_URL: `smtp://chiffon%40homelab.lan:${PASSWORD}@mail.lan`,
    CHIFFON_NOTIFY_EMAIL_FROM: 'Chiffon <chiffon@homelab.lan>',
    CHIFFON_NOTIFY_EMAIL_TO: 'alice@homelab.lan, bob+ops@homelab.lan,alice@homelab.lan',
  };

  it('reads the server, the sender and the recipients; it counts as a target', () => {
    const notify = loadConfig(EMAIL).notify;
    expect(notify.email).toEqual({
      url: `smtp://chiffon%40homelab.lan:${PASSWORD}@mail.lan`,
      from: { name: 'Chiffon', address: 'chiffon@homelab.lan' },
      to: ['alice@homelab.lan', 'bob+ops@homelab.lan'],
      requireTLS: true,
    });
    expect(notifyTargetsConfigured(notify)).toBe(true);
    expect(notifyTargetsConfigured(loadConfig({}).notify)).toBe(false);
    expect(loadConfig({ ...EMAIL, CHIFFON_NOTIFY_EMAIL_FROM: '"Chiffon bot" <c@h.lan>' }).notify.email?.from).toEqual({
      name: 'Chiffon bot',
      address: 'c@h.lan',
    });
    expect(loadConfig({ ...EMAIL, CHIFFON_NOTIFY_EMAIL_FROM: 'c@h.lan' }).notify.email?.from).toEqual({ address: 'c@h.lan' });
  });

  it('requires STARTTLS by default, except to a loopback host; smtps:// is TLS from the start', () => {
    const requireTls = (env: NodeJS.ProcessEnv) => loadConfig({ ...EMAIL, ...env }).notify.email?.requireTLS;
    expect(requireTls({})).toBe(true);
    expect(requireTls({ CHIFFON_NOTIFY_SMTP_REQUIRE_TLS: 'false' })).toBe(false);
    for (const host of ['127.0.0.1:2525', 'localhost', '[::1]:25'])
      expect(requireTls({ CHIFFON_NOTIFY_SMTP_URL: `smtp://${host}` }), host).toBe(false);
    expect(requireTls({ CHIFFON_NOTIFY_SMTP_URL: 'smtp://127.0.0.1', CHIFFON_NOTIFY_SMTP_REQUIRE_TLS: 'true' })).toBe(true);
    expect(requireTls({ CHIFFON_NOTIFY_SMTP_URL: 'smtps://u:p@mail.lan' })).toBe(true);
  });

  it.each([
    [{ CHIFFON_NOTIFY_SMTP_URL: 'mail.lan' }, /^CHIFFON_NOTIFY_SMTP_URL is not a URL/],
    [{ CHIFFON_NOTIFY_SMTP_URL: `https://u:${PASSWORD}@mail.lan` }, /https: is not smtp: or smtps:/],
    [{ CHIFFON_NOTIFY_SMTP_URL: 'smtp://' }, /CHIFFON_NOTIFY_SMTP_URL names no host/],
    [{ CHIFFON_NOTIFY_SMTP_URL: `smtp:u:${PASSWORD}@mail.lan` }, /CHIFFON_NOTIFY_SMTP_URL names no host/],
    [{ CHIFFON_NOTIFY_SMTP_URL: `smtp://u:${PASSWORD}@mail_lan!` }, /mail_lan! is not a host name/],
    [{ CHIFFON_NOTIFY_SMTP_URL: `smtp://u:${PASSWORD}@mail.lan/?tls.rejectUnauthorized=false` }, /has a path, query or fragment/],
    [{ CHIFFON_NOTIFY_SMTP_URL: `smtp://:${PASSWORD}@mail.lan` }, /a password without a user/],
    [{ CHIFFON_NOTIFY_SMTP_URL: 'smtp://chiffon@mail.lan' }, /a user without a password/],
    [{ CHIFFON_NOTIFY_SMTP_URL: `smtp://u:${PASSWORD}%zz@mail.lan` }, /badly percent-encoded/],
    [{ CHIFFON_NOTIFY_EMAIL_FROM: undefined }, /CHIFFON_NOTIFY_SMTP_URL needs CHIFFON_NOTIFY_EMAIL_FROM/],
    [{ CHIFFON_NOTIFY_EMAIL_TO: undefined }, /CHIFFON_NOTIFY_SMTP_URL needs CHIFFON_NOTIFY_EMAIL_TO/],
    [{ CHIFFON_NOTIFY_EMAIL_TO: ' , ' }, /CHIFFON_NOTIFY_EMAIL_TO names no address/],
    [{ CHIFFON_NOTIFY_EMAIL_TO: 'alice@homelab.lan, bob' }, /CHIFFON_NOTIFY_EMAIL_TO: "bob" is not an email address/],
    [{ CHIFFON_NOTIFY_EMAIL_TO: 'Alice <alice@homelab.lan>' }, /is not an email address/],
    [{ CHIFFON_NOTIFY_EMAIL_FROM: 'chiffon' }, /CHIFFON_NOTIFY_EMAIL_FROM: "chiffon" is not an email address/],
    [{ CHIFFON_NOTIFY_EMAIL_FROM: 'Chiffon <chiffon@homelab.lan' }, /CHIFFON_NOTIFY_EMAIL_FROM: .* is not an email address/],
    [{ CHIFFON_NOTIFY_EMAIL_FROM: 'Chif\r\nBcc: eve@evil.lan <c@h.lan>' }, /the name before <address> has a .* control character/],
    [{ CHIFFON_NOTIFY_SMTP_REQUIRE_TLS: 'yes' }, /CHIFFON_NOTIFY_SMTP_REQUIRE_TLS=yes is not true or false/],
    [{ CHIFFON_NOTIFY_SMTP_URL: `smtps://u:${PASSWORD}@mail.lan`, CHIFFON_NOTIFY_SMTP_REQUIRE_TLS: 'false' }, /cannot turn TLS off/],
    [{ CHIFFON_NOTIFY_SMTP_URL: undefined }, /CHIFFON_NOTIFY_EMAIL_FROM is set without CHIFFON_NOTIFY_SMTP_URL/],
    [{ CHIFFON_NOTIFY_SMTP_URL: undefined, CHIFFON_NOTIFY_EMAIL_FROM: undefined }, /CHIFFON_NOTIFY_EMAIL_TO is set without/],
  ])('refuses %o at start, naming the setting and never the password', (env, error) => {
    let message = '';
    try {
      loadConfig({ ...EMAIL, ...env });
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(error);
    expect(message).not.toContain(PASSWORD);
  });
});
