// 4. Stream: how long after ansible emits a task event a WebSocket subscriber of the request
// (GET /api/dashboard/ws?request_id=..., api/live-websocket.ts) receives it, and how many database
// transactions the step's events cost.
//
// Each run is a one-step request of bench-stream.yml (STREAM_TASKS short tasks on localhost); a
// `ws` client subscribes before the approval and takes the time of every message. The jsonl
// callback stamps each event with the wall-clock time it was emitted (`_timestamp`, microseconds,
// UTC), which the worker keeps as the payload's `timestamp`; the event's `created_at` is when
// PostgreSQL stored it. Same machine, same clock: latency = received - emitted, split into
// emitted → stored (the worker's reading and its writes) and stored → received (NOTIFY, the API's
// query, the WebSocket). The API's WebSocket server runs in this process, beside the worker, on an
// HTTP server of its own with the LISTEN notifier, as api/main.ts sets it up. Transactions per
// event: the distinct inserting transactions (xmin) of the rows the step's batcher wrote, per row.
// (With the 150 ms batches EventBatcher wrote before, the latency was 172–188 ms p95.)
//
// Under load: WRITERS batchers side by side (steps of as many requests) on the bench's Prisma
// client, each pushing an event every LOAD_INTERVAL_MS, faster than the database takes one
// transaction per event, for a short burst and for a sustained one: transactions per event (the
// distinct inserting transactions of the rows written, per row) and push → committed, of
// EventBatcher over appendRequestEvents (the steps sharing a transaction a round: the group
// commit) and of the 150 ms batches of before (Batched150 below, a copy of that scheme, each
// batch a transaction of its own), one after the other.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import WebSocket from 'ws';
import { attachLiveEventsWebSocket, LIVE_WS_PATH } from '../api/live-websocket.js';
import { createApiToken } from '../lib/api-tokens.js';
import { createEventNotifier } from '../lib/event-notifier.js';
import { appendRequestEvents, EventBatcher, writeRequestEvents, type NewRequestEvent } from '../services/request-events.js';
import type { BenchStack } from './stack.js';
import { approve, waitForSettled } from './requests.js';
import { STREAM_MESSAGE, STREAM_TASKS } from './fixtures/repos.js';
import { round, summarize } from './stats.js';

/** How a step's events are written: EventBatcher (adaptive: at once, one transaction a round for all steps), or the 150 ms batches. */
export type StreamMode = 'adaptive' | 'batched 150 ms';

export interface StreamLoadResult {
  mode: StreamMode;
  writers: number;
  eventsPerWriter: number;
  intervalMs: number;
  transactions: number;
  transactionsPerEvent: number;
  /** push() → the transaction that wrote the event committed. */
  pushToCommittedMs: ReturnType<typeof summarize>;
  errors: string[];
}

export interface StreamResult {
  runs: number;
  tasksPerRun: number;
  /** Task events received (task_start and task_result). */
  events: number;
  /** Emitted by ansible → received by the WebSocket client. */
  latencyMs: ReturnType<typeof summarize>;
  /** Emitted → stored (PostgreSQL's created_at). */
  emittedToStoredMs: ReturnType<typeof summarize>;
  /** Stored → received. */
  storedToReceivedMs: ReturnType<typeof summarize>;
  /** Transactions that wrote the step's events, per event (the step's status, play, tasks, recap). */
  transactionsPerEvent: number;
  /** Synthetic bursts, each length in both modes. */
  load: StreamLoadResult[];
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
  const written = { rows: 0, transactions: 0 };
  const errors: string[] = [];
  try {
    // One warm-up run (imports, the catalog cache, the notifier's connection), not counted.
    for (let run = 0; run <= runs; run++) {
      const { requestId, received } = await streamRun(stack, worker, port, token, errors);
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
      if (requestId) {
        const step = await stepTransactions(stack, requestId);
        written.rows += step.rows;
        written.transactions += step.transactions;
      }
    }
  } finally {
    await worker.stop();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await events.close();
  }
  if (latency.length === 0) throw new Error(`no task event received: ${errors.slice(0, 3).join('; ') || 'unknown reason'}`);

  await measureLoad(stack, 'adaptive', 100); // warm-up (the pool's connections), not counted
  const load: StreamLoadResult[] = [];
  for (const eventsPerWriter of LOAD_EVENTS) {
    for (const mode of ['adaptive', 'batched 150 ms'] as const) load.push(await measureLoad(stack, mode, eventsPerWriter));
  }
  return {
    runs,
    tasksPerRun: STREAM_TASKS,
    events: latency.length,
    latencyMs: summarize(latency),
    emittedToStoredMs: summarize(stored),
    storedToReceivedMs: summarize(delivered),
    transactionsPerEvent: written.rows ? round(written.transactions / written.rows, 2) : Number.NaN,
    load,
    auth: 'admin API token as ?access_token=',
    errors,
  };
}

/** The rows the step's EventBatcher wrote (its running status, then ansible's events) and their transactions. */
async function stepTransactions(stack: BenchStack, requestId: string): Promise<{ rows: number; transactions: number }> {
  const [row] = await stack.prisma.$queryRaw<{ rows: number; transactions: number }[]>`
    SELECT count(*)::int AS rows, count(DISTINCT xmin::text)::int AS transactions
    FROM request_events
    WHERE request_id = ${requestId}
      AND (kind IN ('play_start', 'task_start', 'task_result', 'stats') OR (kind = 'step_status' AND payload->>'status' = 'running'))`;
  return row ?? { rows: 0, transactions: 0 };
}

/** Batchers side by side under load, as many steps would be, each of its own request. */
const WRITERS = 20;
/** Events per writer: a short burst (about 0.4 s) and a sustained one (about 2 s). */
const LOAD_EVENTS = [300, 1_500];
const LOAD_INTERVAL_MS = 1;

/**
 * How EventBatcher wrote before (commit 84ac9cf), for the comparison: the first event that finds no
 * batch waiting starts one, written 150 ms later in one transaction; close() writes what is left.
 */
class Batched150 {
  private queue: NewRequestEvent[] = [];
  private timer: NodeJS.Timeout | undefined;
  private writing = Promise.resolve(true);

  constructor(
    private readonly write: (events: NewRequestEvent[]) => Promise<unknown>,
    private readonly onError: (err: unknown) => void,
  ) {}

  push(event: NewRequestEvent): void {
    this.queue.push(event);
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      void this.flush();
    }, 150);
  }

  close(): Promise<boolean> {
    clearTimeout(this.timer);
    return this.flush();
  }

  private flush(): Promise<boolean> {
    this.writing = this.writing.then(async () => {
      const batch = this.queue.splice(0);
      try {
        if (batch.length) await this.write(batch);
        return true;
      } catch (err) {
        this.onError(err);
        return false;
      }
    });
    return this.writing;
  }
}

async function measureLoad(stack: BenchStack, mode: StreamMode, eventsPerWriter: number): Promise<StreamLoadResult> {
  const latency: number[] = [];
  const errors: string[] = [];
  const load = `benchload${process.pid}x${Date.now().toString(36)}${mode === 'adaptive' ? 'a' : 'b'}-`;
  const writer = async (w: number) => {
    const requestId = `${load}${w}`;
    const pushedAt: number[] = [];
    const write = async (batch: NewRequestEvent[]) => {
      // As a step writes (activities/steps.ts), or as it did before: a transaction of its own.
      if (mode === 'adaptive') await appendRequestEvents(stack.prisma, requestId, batch);
      else await writeRequestEvents(stack.prisma, [{ requestId, events: batch }]);
      const committed = performance.now();
      for (const e of batch) latency.push(committed - pushedAt[e.payload.n as number]!);
    };
    const onError = (err: unknown) => errors.push(String(err));
    const batcher = mode === 'adaptive' ? new EventBatcher(write, { onError }) : new Batched150(write, onError);
    for (let n = 0; n < eventsPerWriter; n++) {
      pushedAt[n] = performance.now();
      batcher.push({ kind: 'task_result', stepIndex: 0, taskId: `load-${w}`, payload: { n, status: 'ok', host: `host${n}` } });
      await new Promise((resolve) => setTimeout(resolve, LOAD_INTERVAL_MS));
    }
    if (!(await batcher.close())) errors.push(`writer ${w}: events not written`);
  };
  await Promise.all(Array.from({ length: WRITERS }, (_, w) => writer(w)));
  const [written] = await stack.prisma.$queryRaw<{ rows: number; transactions: number }[]>`
    SELECT count(*)::int AS rows, count(DISTINCT xmin::text)::int AS transactions
    FROM request_events WHERE request_id LIKE ${`${load}%`}`;
  const { rows, transactions } = written ?? { rows: 0, transactions: 0 };
  if (rows !== WRITERS * eventsPerWriter) errors.push(`${rows} events written, ${WRITERS * eventsPerWriter} pushed`);
  return {
    mode,
    writers: WRITERS,
    eventsPerWriter,
    intervalMs: LOAD_INTERVAL_MS,
    transactions,
    transactionsPerEvent: round(transactions / (WRITERS * eventsPerWriter), 4),
    pushToCommittedMs: summarize(latency),
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
): Promise<{ requestId?: string; received: Received[] }> {
  const { requestId, state } = await stack.submit(worker, STREAM_MESSAGE);
  if (state.status !== 'pending_approval' || state.plan?.steps.length !== 1) {
    errors.push(`request ${requestId}: planned as ${state.status} with ${state.plan?.steps.length ?? 0} steps`);
    return { received: [] };
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
  return { requestId, received };
}
