// Payloads sealed with the codec (lib/payload-codec.ts) on the real stack: what the Temporal server
// holds is ciphertext; a decision forged at the Temporal frontend without the key (the Temporal
// CLI, as an attacker who reaches the frontend would send it) is refused and runs nothing; and the
// codec endpoint opens the history for an approver's token, through the CLI and a browser's cookie.
import { Client } from '@temporalio/client';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { workflowIdFor } from '../../domain/request-state.js';
import { tools } from '../../lib/tools.js';
import { decideUpdate, requestStateQuery } from '../../workflows/messages.js';
import { startServices, startStack, type E2EServices, type Stack } from '../support/e2e-stack.js';
import { rejectedUpdateEvents } from '../support/workflow-env.js';

let services: E2EServices;
let stack: Stack;
let codecUrl: string;
/** A client of someone who reaches the Temporal frontend but has no payload key. */
let keyless: Client;

const MESSAGE = 'Set up postgres';

beforeAll(async () => {
  services = await startServices('sealed');
  stack = await startStack(services, 'sealed');
  codecUrl = stack.baseUrl.replace(/\/api\/dashboard$/, '/api/codec');
  keyless = new Client({ connection: services.env.connection, namespace: stack.config.temporalNamespace });
});

afterAll(async () => {
  await stack?.stop();
  await services?.stop();
});

/** Every string and byte string of a history, as someone reading the server's database sees them. */
function historyText(value: unknown, into: string[] = []): string {
  if (typeof value === 'string') into.push(value);
  else if (value instanceof Uint8Array) into.push(Buffer.from(value).toString('utf8'));
  else if (Array.isArray(value)) value.forEach((item) => historyText(item, into));
  else if (value && typeof value === 'object') Object.values(value).forEach((item) => historyText(item, into));
  return into.join('\n');
}

async function pendingRequest(): Promise<{ requestId: string; planHash: string; playbook: string }> {
  const chat = await stack.call('POST', '/chat', { message: MESSAGE });
  expect(chat.status).toBe(201);
  expect(chat.body.status).toBe('pending_approval');
  return { requestId: chat.body.request_id, planHash: chat.body.plan.hash, playbook: chat.body.plan.steps[0].playbook };
}

function temporalCli(args: string[]) {
  return execa(tools.temporalCli(), [...args, '--address', services.env.address, '--namespace', stack.config.temporalNamespace], {
    reject: false,
    timeout: 60_000,
  });
}

describe('payloads sealed in the Temporal history', () => {
  it('keeps the request, its plan and its state out of what the server holds, and out of a keyless query', async () => {
    const { requestId, planHash, playbook } = await pendingRequest();
    const handle = keyless.workflow.getHandle(workflowIdFor(requestId));
    const text = historyText(await handle.fetchHistory());
    expect(text).toContain('recordRequest'); // the history is there, its names in clear...
    for (const secret of [MESSAGE, playbook, planHash, 'alice']) expect(text).not.toContain(secret); // ...its payloads not
    await expect(handle.query(requestStateQuery)).rejects.toThrow(/Unknown encoding: binary\/encrypted/);
  });

  it('refuses a decision forged at the Temporal frontend without the key, from the SDK or the CLI, and runs nothing', async () => {
    const { requestId, planHash } = await pendingRequest();
    const handle = keyless.workflow.getHandle(workflowIdFor(requestId));
    const forged = handle.executeUpdate(decideUpdate, { args: [{ approver: 'nobody-forged', approved: true, planHash }] });
    await expect(forged).rejects.toMatchObject({
      cause: { message: expect.stringContaining('refused: not sealed with a Chiffon payload key') },
    });

    const cli = await temporalCli([
      'workflow',
      'update',
      'execute',
      '--workflow-id',
      workflowIdFor(requestId),
      '--name',
      'decide',
      '--input',
      JSON.stringify({ approver: 'nobody-forged', approved: true, planHash }),
    ]);
    expect(cli.exitCode).not.toBe(0);
    expect(`${cli.stdout}\n${cli.stderr}`).toContain('refused: not sealed with a Chiffon payload key');

    // Still waiting for a person, with no decision and no rejected update left in the history.
    const state = await stack.call('GET', `/requests/${requestId}`);
    expect(state.body).toMatchObject({ status: 'pending_approval', decision: null });
    expect(await rejectedUpdateEvents(services.env.client.workflow.getHandle(workflowIdFor(requestId)))).toBe(0);

    // A person's decision through the API (sealed by the API's client) still goes through.
    const approve = await stack.call('POST', '/approve', { request_id: requestId, approved: true, plan_hash: planHash });
    expect(approve.status).toBe(200);
    const done = await stack.waitForStatus(requestId, 'completed');
    expect(done.decision).toMatchObject({ approver: 'bob', approved: true });
  });
});

describe('the codec endpoint', () => {
  it('opens the history for the CLI with an approver token, and for nobody else', async () => {
    const { requestId } = await pendingRequest();
    // A closed history (`workflow show` of an open one waits for its next event until it times out).
    expect((await stack.call('POST', '/approve', { request_id: requestId, approved: false, comment: 'codec test' })).status).toBe(200);
    await stack.waitForStatus(requestId, 'rejected');
    const show = (auth?: string, timeout = '30s') =>
      temporalCli([
        'workflow',
        'show',
        '--workflow-id',
        workflowIdFor(requestId),
        '--output',
        'json',
        '--codec-endpoint',
        codecUrl,
        '--command-timeout',
        timeout,
        ...(auth ? ['--codec-auth', auth] : []),
      ]);

    /** The workflow's input as `workflow show --output json` printed it: encoding and JSON value. */
    const startInput = (stdout: string) => {
      const [payload] = JSON.parse(stdout).events[0].workflowExecutionStartedEventAttributes.input.payloads;
      const encoding = Buffer.from(payload.metadata.encoding, 'base64').toString('utf8');
      return { encoding, value: encoding === 'json/plain' ? JSON.parse(Buffer.from(payload.data, 'base64').toString('utf8')) : undefined };
    };

    const opened = await show(`Bearer ${stack.tokens.approver}`);
    expect(opened.exitCode, opened.stderr).toBe(0);
    expect(startInput(opened.stdout)).toMatchObject({
      encoding: 'json/plain',
      value: { requestId, message: MESSAGE, requestedBy: 'alice' },
    });

    // Without a token, with a requester's or a made-up one, the codec endpoint refuses (401/403, tested
    // below; the CLI retries those until its deadline) and nothing is opened.
    for (const auth of [undefined, `Bearer ${stack.tokens.requester}`, 'Bearer chf_not-a-token']) {
      const refused = await show(auth, '3s');
      const stillSealed = refused.exitCode === 0 && startInput(refused.stdout).encoding === 'binary/encrypted';
      expect(stillSealed || refused.exitCode !== 0, `${auth}: ${refused.stderr}`).toBe(true);
      expect(refused.stdout).not.toContain(Buffer.from(MESSAGE).toString('base64').slice(0, 12));
    }
  });

  it('lets the Temporal Web UI origin in with a session cookie, and no other origin', async () => {
    const { requestId } = await pendingRequest();
    const [started] = (await keyless.workflow.getHandle(workflowIdFor(requestId)).fetchHistory()).events ?? [];
    const sealed = started!.workflowExecutionStartedEventAttributes!.input!.payloads!.map((p) => ({
      metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
      data: Buffer.from(p.data ?? []).toString('base64'),
    }));
    const ui = stack.config.temporalUiOrigins[0]!;

    const preflight = (origin: string) =>
      fetch(`${codecUrl}/decode`, {
        method: 'OPTIONS',
        headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type,x-namespace' },
      });
    const allowed = await preflight(ui);
    expect(allowed.headers.get('access-control-allow-origin')).toBe(ui);
    expect(allowed.headers.get('access-control-allow-credentials')).toBe('true');
    expect((await preflight('http://evil.example')).headers.get('access-control-allow-origin')).toBeNull();

    // The session: set with the Bearer token, then the cookie alone opens payloads.
    const noBearer = await fetch(`${codecUrl}/session`, { method: 'POST' });
    expect(noBearer.status).toBe(401);
    const session = await fetch(`${codecUrl}/session`, { method: 'POST', headers: { authorization: `Bearer ${stack.tokens.approver}` } });
    expect(session.status).toBe(204);
    const cookie = session.headers.get('set-cookie') ?? '';
    expect(cookie).toMatch(/HttpOnly/i);
    expect(cookie).toMatch(/SameSite=Strict/i);
    expect(cookie).toMatch(/Path=\/api\/codec/);

    const decode = (headers: Record<string, string>) =>
      fetch(`${codecUrl}/decode`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', origin: ui, ...headers },
        body: JSON.stringify({ payloads: sealed }),
      });
    const withCookie = await decode({ cookie: cookie.split(';')[0]!, 'x-namespace': stack.config.temporalNamespace });
    expect(withCookie.status).toBe(200);
    expect(withCookie.headers.get('access-control-allow-origin')).toBe(ui);
    const [input] = ((await withCookie.json()) as { payloads: { data: string }[] }).payloads;
    expect(JSON.parse(Buffer.from(input!.data, 'base64').toString('utf8'))).toMatchObject({ requestId, message: MESSAGE });

    expect((await decode({})).status).toBe(401);
    expect((await decode({ authorization: `Bearer ${stack.tokens.requester}` })).status).toBe(403);
    expect((await decode({ authorization: `Bearer ${stack.tokens.approver}`, 'x-namespace': 'elsewhere' })).status).toBe(400);
    // Sealing is what a forged Update needs: admins only.
    const encode = (token: string) =>
      fetch(`${codecUrl}/encode`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify({ payloads: [] }),
      });
    expect((await encode(stack.tokens.approver)).status).toBe(403);
    expect((await encode(stack.tokens.admin)).status).toBe(200);
  });
});
