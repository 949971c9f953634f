// Live output on the real stack (Temporal dev server, PostgreSQL, a real worker, ansible-playbook
// against localhost): the events of a request stream over SSE while its playbook runs, a client that
// reconnects with its last seq gets exactly the rest, and a secret var never reaches request_events,
// the tasks table, the requests table (its plan), the audit repository or the stream.
//
// - live-gate.yml:  waits until the test opens the gate (test/support/live-gate.ts), so the stream
//                   is read mid-run;
// - leaky.yml:      uses its secret var (no_log: true in its meta) in a no_log task and then in a
//                   failing task's message, which Ansible does not censor: Chiffon must.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { playbookRepoCopy, sleep, startServices, startStack, type E2EServices, type Stack } from '../support/e2e-stack.js';
import { liveGate, liveGateFiles } from '../support/live-gate.js';
import { WebSocket } from 'ws';

const SECRET = 'Zq7-sup3r-s3cret-token-91';

const LEAKY_PLAYBOOK = `---
- name: Leak the token
  hosts: homelab
  gather_facts: false
  tasks:
    - name: Use the token quietly
      ansible.builtin.shell: echo "token {{ leaky_token }}" >&2; exit 4
      no_log: true
      ignore_errors: true

    - name: Fail loudly with the token
      ansible.builtin.fail:
        msg: "login refused for token {{ leaky_token }}"
`;

const LEAKY_META = `---
short_description: Leak the token
description: Fails with its secret var in the message (tests).
argument_specs:
  main:
    short_description: Leak the token
    description:
      - Uses leaky_token in a no_log task, then fails with it in the message.
    options:
      leaky_token:
        type: str
        required: false
        no_log: true
        default: ${SECRET}
        description: A token that must never be shown.
    chiffon:
      service: leaky
      aliases: [leaky]
      intents:
        - name: run_leaky
          verbs: [run]
          objects: []
      after: []
      vars_from_inventory: {}
`;

const NO_LOG_CENSORED = "the output has been hidden due to the fact that 'no_log: true' was specified for this result";

interface StreamedEvent {
  id: string;
  event: { seq: number; kind: string; step_index: number | null; task_id: string | null; payload: any; created_at: string };
  raw: string;
}

/**
 * Reads the SSE stream of a request until `until` says stop (or the time is up), then disconnects.
 * `lastEventId` is sent as Last-Event-ID, as an EventSource does when it reconnects.
 */
async function readStream(
  stack: Stack,
  requestId: string,
  until: (events: StreamedEvent[]) => boolean,
  { lastEventId, query = '', timeoutMs = 60_000 }: { lastEventId?: number; query?: string; timeoutMs?: number } = {},
): Promise<StreamedEvent[]> {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), timeoutMs);
  const response = await fetch(`${stack.baseUrl}/requests/${requestId}/events${query}`, {
    headers: {
      accept: 'text/event-stream',
      authorization: `Bearer ${stack.tokens.requester}`,
      ...(lastEventId !== undefined ? { 'last-event-id': String(lastEventId) } : {}),
    },
    signal: abort.signal,
  });
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toMatch(/text\/event-stream/);
  const events: StreamedEvent[] = [];
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  try {
    while (!until(events)) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const fields = new Map<string, string>();
        for (const line of block.split('\n')) {
          const colon = line.indexOf(':');
          if (colon <= 0) continue; // comments (keep-alives) and blank lines
          fields.set(line.slice(0, colon), line.slice(colon + 1).replace(/^ /, ''));
        }
        if (fields.has('data')) events.push({ id: fields.get('id')!, event: JSON.parse(fields.get('data')!), raw: block });
      }
    }
  } catch (err) {
    if (!abort.signal.aborted) throw err;
    throw new Error(
      `stream of ${requestId} timed out after ${timeoutMs} ms with ${events.length} events: ${events.map((e) => e.event.kind).join(', ')}`,
      {
        cause: err,
      },
    );
  } finally {
    clearTimeout(timer);
    abort.abort();
  }
  return events;
}

interface WsClient {
  messages: StreamedEvent['event'][];
  /** Resolves once `until` holds for the messages received so far. */
  waitFor(until: (messages: StreamedEvent['event'][]) => boolean, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

/** A WebSocket client (the `ws` library: Node 20 has no global WebSocket) collecting the events it gets. */
function wsConnect(stack: Stack, query: string): Promise<WsClient> {
  // The token as a browser sends it (a WebSocket cannot carry an Authorization header there).
  const url = `${stack.baseUrl.replace(/^http/, 'ws')}/ws?${query}&access_token=${stack.tokens.requester}`;
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url);
    const messages: StreamedEvent['event'][] = [];
    const waiters = new Set<() => void>();
    socket.on('unexpected-response', (_request, response) => reject(new Error(`no upgrade: HTTP ${response.statusCode}`)));
    socket.on('error', reject);
    socket.on('message', (data) => {
      messages.push(JSON.parse(data.toString()));
      for (const wake of waiters) wake();
    });
    socket.on('open', () => {
      const closed = new Promise<void>((done) => socket.once('close', () => done()));
      resolve({
        messages,
        waitFor: (until, timeoutMs = 60_000) =>
          new Promise<void>((done, fail) => {
            const check = () => {
              if (!until(messages)) return;
              clearTimeout(timer);
              waiters.delete(check);
              done();
            };
            const timer = setTimeout(() => {
              waiters.delete(check);
              fail(new Error(`WebSocket: timed out with ${messages.length} messages: ${messages.map((m) => m.kind).join(', ')}`));
            }, timeoutMs);
            waiters.add(check);
            check();
          }),
        async close() {
          socket.close(1000);
          await closed;
        },
      });
    });
  });
}

const statusEvents = (events: StreamedEvent[], kind: string) =>
  events.filter((e) => e.event.kind === kind).map((e) => e.event.payload.status);

let services: E2EServices;
let stack: Stack;

beforeAll(async () => {
  services = await startServices('live-output');
  const repo = playbookRepoCopy(path.join(services.scratch, 'playbooks'), {
    ...liveGateFiles(),
    'leaky.yml': LEAKY_PLAYBOOK,
    'leaky.meta.yml': LEAKY_META,
  });
  stack = await startStack(services, 'live', { config: { playbookRepo: repo } });
});

afterAll(async () => {
  await stack?.stop();
  await services?.stop();
});

async function ask(message: string, playbook: string): Promise<any> {
  const chat = await stack.call('POST', '/chat', { message });
  expect(chat.status, JSON.stringify(chat.body)).toBe(201);
  expect(chat.body.plan.steps.map((s: any) => s.playbook)).toEqual([playbook]);
  return chat.body;
}

async function approve(request: any): Promise<void> {
  const answer = await stack.call('POST', '/approve', { request_id: request.request_id, approved: true, plan_hash: request.plan.hash });
  expect(answer.status, JSON.stringify(answer.body)).toBe(200);
}

describe('live output', () => {
  it('streams task events while the playbook runs; a reconnect with the last seq gets the rest, none twice', async () => {
    const request = await ask('Run the live gate', 'live-gate.yml');
    const id = request.request_id as string;
    const gate = liveGate(stack.config.stateDir);

    // A subscriber from the start: it sees the approval wait, then the run as it happens.
    const first = readStream(stack, id, (events) =>
      events.some((e) => e.event.kind === 'task_start' && e.event.payload.task.name === 'Wait until the gate opens'),
    );
    await sleep(300);
    await approve(request);
    const before = await first;
    // The playbook cannot have ended: it waits for the gate this test has not opened.
    expect(gate.isOpen()).toBe(false);
    expect(gate.isDone()).toBe(false);
    expect(statusEvents(before, 'request_status')).toEqual(['pending_approval', 'running']);
    expect(statusEvents(before, 'step_status')).toEqual(['running']);
    expect(before.map((e) => e.event.kind)).toContain('play_start');
    const created = before.find((e) => e.event.kind === 'task_result' && e.event.payload.task.name === 'Create the gate directory');
    expect(created?.event).toMatchObject({
      step_index: 0,
      task_id: request.plan.steps[0].task_id,
      payload: { host: 'localhost', status: 'changed', action: 'ansible.builtin.file' },
    });
    const lastSeen = Number(before.at(-1)!.id);

    // Disconnected; meanwhile the playbook goes on and the request completes.
    gate.open();
    await stack.waitForStatus(id, 'completed', 60_000);

    // Reconnect as an EventSource does (Last-Event-ID): exactly what was missed.
    const rest = await readStream(
      stack,
      id,
      (events) => events.some((e) => e.event.kind === 'request_status' && e.event.payload.status === 'completed'),
      {
        lastEventId: lastSeen,
      },
    );
    const all = [...before, ...rest];
    const seqs = all.map((e) => e.event.seq);
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i + 1));
    expect(all.map((e) => e.id)).toEqual(seqs.map(String));
    expect(statusEvents(all, 'request_status')).toEqual(['pending_approval', 'running', 'completed']);
    expect(statusEvents(all, 'step_status')).toEqual(['running', 'completed']);
    const results = all.filter((e) => e.event.kind === 'task_result').map((e) => [e.event.payload.task.name, e.event.payload.status]);
    expect(results).toEqual([
      ['Create the gate directory', 'changed'],
      ['Wait until the gate opens', 'ok'],
      ['Record that the step finished', 'changed'],
    ]);
    const stats = all.find((e) => e.event.kind === 'stats');
    expect(stats?.event.payload.stats.localhost).toMatchObject({ ok: 3, changed: 2, failures: 0 });
    // The stats come before the step's final status, which comes before the request's.
    const kinds = all.map((e) => `${e.event.kind}:${e.event.payload.status ?? ''}`);
    expect(kinds.indexOf('stats:')).toBeLessThan(kinds.indexOf('step_status:completed'));
    expect(kinds.indexOf('step_status:completed')).toBeLessThan(kinds.indexOf('request_status:completed'));

    // What the database holds is what was streamed, and after_seq pages the same way.
    const rows = await services.database.prisma.requestEvent.findMany({ where: { requestId: id }, orderBy: { seq: 'asc' } });
    expect(rows.map((r) => r.seq)).toEqual(seqs);
    const page = await stack.call('GET', `/requests/${id}/events?format=json&after_seq=${seqs.length - 2}`);
    expect(page.status).toBe(200);
    expect(page.body.events.map((e: any) => e.seq)).toEqual([seqs.length - 1, seqs.length]);
    // A reconnect with the latest seq gets nothing until something new happens.
    const none = await stack.call('GET', `/requests/${id}/events?format=json&after_seq=${seqs.length}`);
    expect(none.body.events).toEqual([]);
  });

  it('keeps a secret var out of request_events, the tasks table, the audit repository and the stream', async () => {
    const request = await ask('Run the leaky step', 'leaky.yml');
    const id = request.request_id as string;
    // The plan as the API shows it (the dashboard too) hides the value from the start.
    expect(request.plan.steps[0].vars.leaky_token).toBe('********');
    expect(JSON.stringify(request)).not.toContain(SECRET);
    await approve(request);
    const settled = await stack.waitForStatus(id, 'failed', 60_000);
    expect(JSON.stringify(settled)).not.toContain(SECRET);
    const taskId = settled.steps[0].task_id as string;

    const streamed = await readStream(stack, id, (events) =>
      events.some((e) => e.event.kind === 'request_status' && e.event.payload.status === 'failed'),
    );
    const streamText = streamed.map((e) => e.raw).join('\n');
    expect(streamText).not.toContain(SECRET);

    const results = streamed.filter((e) => e.event.kind === 'task_result').map((e) => e.event.payload);
    // Ansible censors the no_log task itself; the failing task's message is redacted by Chiffon.
    expect(results).toEqual([
      expect.objectContaining({ status: 'failed', message: NO_LOG_CENSORED }),
      expect.objectContaining({ status: 'failed', message: 'login refused for token ********' }),
    ]);

    const events = await services.database.prisma.requestEvent.findMany({ where: { requestId: id } });
    expect(events.length).toBeGreaterThan(0);
    expect(JSON.stringify(events, (_key, value) => (typeof value === 'bigint' ? String(value) : value))).not.toContain(SECRET);

    const task = await services.database.prisma.task.findUniqueOrThrow({ where: { id: taskId } });
    expect(task.status).toBe('failed');
    expect(task.outcome).toContain('login refused for token ********');
    expect(JSON.stringify(task)).not.toContain(SECRET);

    // The request's row stores the plan with the secret var's value hidden.
    const row = await services.database.prisma.request.findUniqueOrThrow({ where: { id } });
    expect((row.plan as any).steps[0].vars.leaky_token).toBe('********');
    expect(JSON.stringify(row)).not.toContain(SECRET);

    const audit = await stack.call('GET', `/audit/task/${taskId}`);
    expect(audit.status).toBe(200);
    expect(JSON.stringify(audit.body.git.content)).toContain('login refused for token ********');
    expect(JSON.stringify(audit.body)).not.toContain(SECRET);
    const auditFile = fs.readFileSync(path.join(stack.config.auditRepo, '.audit', 'tasks', `${taskId}.json`), 'utf8');
    expect(auditFile).toContain('login refused for token ********');
    expect(auditFile).not.toContain(SECRET);
  });

  it('streams over a WebSocket too: task events before the playbook ends, and the rest after a reconnect with after_seq', async () => {
    const gate = liveGate(stack.config.stateDir);
    gate.reset();
    const request = await ask('Run the live gate', 'live-gate.yml');
    const id = request.request_id as string;

    const first = await wsConnect(stack, `request_id=${id}`);
    await approve(request);
    await first.waitFor((messages) => messages.some((m) => m.kind === 'task_start' && m.payload.task.name === 'Wait until the gate opens'));
    expect(gate.isDone()).toBe(false);
    await first.close();
    const before = [...first.messages];
    expect(before.map((m) => m.seq)).toEqual(Array.from({ length: before.length }, (_, i) => i + 1));

    gate.open();
    await stack.waitForStatus(id, 'completed', 60_000);
    const second = await wsConnect(stack, `request_id=${id}&after_seq=${before.at(-1)!.seq}`);
    await second.waitFor((messages) => messages.some((m) => m.kind === 'request_status' && m.payload.status === 'completed'));
    await second.close();
    const seqs = [...before, ...second.messages].map((m) => m.seq);
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i + 1));
    const rows = await services.database.prisma.requestEvent.count({ where: { requestId: id } });
    expect(seqs.length).toBe(rows);
    expect(
      statusEvents(
        [...before, ...second.messages].map((event) => ({ id: String(event.seq), event, raw: '' })),
        'step_status',
      ),
    ).toEqual(['running', 'completed']);

    // A handshake with a bad request id is refused with the API's error shape.
    await expect(wsConnect(stack, 'request_id=not%20an%20id')).rejects.toThrow('HTTP 400');
  });
});
