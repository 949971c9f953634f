// 4. Stream: how long after ansible emits a task event a WebSocket subscriber of the request
// (GET /api/dashboard/ws?request_id=..., api/live-websocket.ts) receives it.
//
// Each run is a one-step request of bench-stream.yml (STREAM_TASKS short tasks on localhost); a
// `ws` client subscribes before the approval and takes the time of every message. The jsonl
// callback stamps each event with the wall-clock time it was emitted (`_timestamp`, microseconds,
// UTC), which the worker keeps as the payload's `timestamp`; the event's `created_at` is when
// PostgreSQL stored it. Same machine, same clock: latency = received - emitted, split into
// emitted → stored (the worker's reading and its batched writes) and stored → received (NOTIFY,
// the API's query, the WebSocket). The API's WebSocket server runs in this process, beside the
// worker, on an HTTP server of its own with the LISTEN notifier, as api/main.ts sets it up.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import WebSocket from 'ws';
import { attachLiveEventsWebSocket, LIVE_WS_PATH } from '../api/live-websocket.js';
import { createApiToken } from '../lib/api-tokens.js';
import { createEventNotifier } from '../lib/event-notifier.js';
import type { BenchStack } from './stack.js';
import { approve, waitForSettled } from './requests.js';
import { STREAM_MESSAGE, STREAM_TASKS } from './fixtures/repos.js';
import { summarize } from './stats.js';

export interface StreamResult {
  runs: number;
  tasksPerRun: number;
  /** Task events received (task_start and task_result). */
  events: number;
  /** Emitted by ansible → received by the WebSocket client. */
  latencyMs: ReturnType<typeof summarize>;
  /** Emitted → stored in request_events (created_at, millisecond precision). */
  emittedToStoredMs: ReturnType<typeof summarize>;
  /** Stored → received. */
  storedToReceivedMs: ReturnType<typeof summarize>;
  /** How the bench authenticated the WebSocket: an admin API token as ?access_token=. */
  auth: string;
  errors: string[];
}

interface Received {
  kind: string;
  payload: { timestamp?: string; status?: string };
  created_at: string;
  receivedAt: number;
}

/** Wall-clock now in ms with sub-millisecond precision. */
const wallNow = () => performance.timeOrigin + performance.now();

/** The jsonl callback's `_timestamp` ("2026-11-24T03:45:11.123456Z", UTC, fraction optional) in ms. */
export function ansibleTimestampMs(text: string): number {
  const match = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?Z?$/.exec(text);
  if (!match) return Number.NaN;
  const fraction = match[2] ? Number(`0.${match[2]}`) * 1000 : 0;
  return Date.parse(`${match[1]}Z`) + fraction;
}

export async function measureStream(stack: BenchStack, repo: string, runs: number): Promise<StreamResult> {
  const events = createEventNotifier(stack.databaseUrl);
  const server = http.createServer((_request, response) => {
    response.statusCode = 404;
    response.end();
  });
  attachLiveEventsWebSocket(server, { prisma: stack.prisma, events, client: stack.client });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const { token } = await createApiToken(stack.prisma, { name: 'bench-stream', role: 'admin' });

  // The capacity check is relaxed here (as in history.ts): on a busy 2-core machine the load average
  // crosses the default threshold and a step would wait for capacity, which is not what is measured.
  const worker = await stack.startWorker('stream', { playbookRepo: repo, maxLoadPerCpu: 1_000 });
  const latency: number[] = [];
  const stored: number[] = [];
  const delivered: number[] = [];
  const errors: string[] = [];
  try {
    // One warm-up run (imports, the catalog cache, the notifier's connection), not counted.
    for (let run = 0; run <= runs; run++) {
      const received = await streamRun(stack, worker, port, token, errors);
      if (run === 0) {
        errors.length = 0;
        continue;
      }
      const taskEvents = received.filter((e) => e.kind === 'task_start' || e.kind === 'task_result');
      if (taskEvents.length < STREAM_TASKS * 2) errors.push(`run ${run}: ${taskEvents.length} task events, expected ${STREAM_TASKS * 2}`);
      for (const e of taskEvents) {
        const emitted = ansibleTimestampMs(e.payload.timestamp ?? '');
        const storedAt = Date.parse(e.created_at);
        if (!Number.isFinite(emitted)) {
          errors.push(`run ${run}: a ${e.kind} event without a timestamp`);
          continue;
        }
        latency.push(e.receivedAt - emitted);
        if (Number.isFinite(storedAt)) {
          stored.push(storedAt - emitted);
          delivered.push(e.receivedAt - storedAt);
        }
      }
    }
  } finally {
    await worker.stop();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await events.close();
  }
  if (latency.length === 0) throw new Error(`no task event received: ${errors.slice(0, 3).join('; ') || 'unknown reason'}`);
  return {
    runs,
    tasksPerRun: STREAM_TASKS,
    events: latency.length,
    latencyMs: summarize(latency),
    emittedToStoredMs: summarize(stored),
    storedToReceivedMs: summarize(delivered),
    auth: 'admin API token as ?access_token=',
    errors,
  };
}

/** One request: subscribe, approve, take every message until the request has settled. */
async function streamRun(
  stack: BenchStack,
  worker: Awaited<ReturnType<BenchStack['startWorker']>>,
  port: number,
  token: string,
  errors: string[],
): Promise<Received[]> {
  const { requestId, state } = await stack.submit(worker, STREAM_MESSAGE);
  if (state.status !== 'pending_approval' || state.plan?.steps.length !== 1) {
    errors.push(`request ${requestId}: planned as ${state.status} with ${state.plan?.steps.length ?? 0} steps`);
    return [];
  }
  const url = `ws://127.0.0.1:${port}${LIVE_WS_PATH}?request_id=${encodeURIComponent(requestId)}&access_token=${encodeURIComponent(token)}`;
  const socket = new WebSocket(url);
  const received: Received[] = [];
  socket.on('message', (data) => {
    const receivedAt = wallNow();
    try {
      received.push({ ...(JSON.parse(String(data)) as Omit<Received, 'receivedAt'>), receivedAt });
    } catch {
      errors.push(`request ${requestId}: a message that is not JSON`);
    }
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('unexpected-response', (_request, response) => {
      const why =
        response.statusCode === 401
          ? 'the WebSocket answered 401: the API token was refused (is lib/api-tokens.ts the one api/auth.ts checks?)'
          : `the WebSocket upgrade answered HTTP ${response.statusCode}`;
      reject(new Error(why));
    });
    socket.once('error', reject);
  });
  try {
    await approve(stack.client, requestId, state.plan.hash);
    const done = await waitForSettled(stack.client, requestId, 100);
    if (done.status !== 'completed') errors.push(`request ${requestId}: ${done.status}`);
    // The step's last events (stats, the step's and the request's status) may still be on their way.
    const deadline = Date.now() + 5_000;
    while (Date.now() < deadline && !received.some((e) => e.kind === 'request_status' && e.payload.status === done.status)) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  } finally {
    socket.close();
  }
  return received;
}
