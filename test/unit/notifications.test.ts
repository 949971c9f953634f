// Notifications without a network: which statuses notify, what a notice holds (and never holds),
// the webhook body and its signature, the ntfy message, and the configuration's strict reading.
import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  dashboardLink,
  noticeOf,
  notificationEventOf,
  ntfyMessage,
  webhookPayload,
  NOTIFICATION_EVENTS,
} from '../../domain/notifications.js';
import { REQUEST_STATUSES, type RequestState } from '../../domain/request-state.js';
import { CHIFFON_SECRET_VARS } from '../../lib/child-env.js';
import { loadConfig } from '../../lib/config.js';
import { displayTarget, requestFor, signBody } from '../../services/notifications.js';
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

  it('records a target without its credentials or query', () => {
    expect(displayTarget('https://user:pw@ntfy.lan/alerts?auth=tok')).toBe('https://ntfy.lan/alerts');
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
    expect(CHIFFON_SECRET_VARS).toEqual(expect.arrayContaining(['CHIFFON_NOTIFY_WEBHOOK_SECRET', 'CHIFFON_NOTIFY_NTFY_TOKEN']));
  });
});
