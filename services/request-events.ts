// Writing a request's live output to PostgreSQL: `request_events`, numbered per request.
//
// Sequence numbers are assigned by the database, in one transaction per batch that holds a
// per-request advisory lock: the batch gets MAX(seq)+1, +2, ... so seqs are consecutive from 1,
// whatever the number of writers (worker activities, several workers). The same transaction
// NOTIFYs `chiffon_request_events` with the request id (delivered at commit), which the API's
// streams LISTEN to. Events are redacted by the caller before they get here.
import type { PrismaClient } from '../generated/prisma/client.js';
import { EVENTS_CHANNEL } from '../lib/event-notifier.js';

export type RequestEventKind =
  'request_status' | 'step_status' | 'preview' | 'check_run' | 'play_start' | 'task_start' | 'task_result' | 'stats';

export interface NewRequestEvent {
  kind: RequestEventKind;
  stepIndex?: number;
  taskId?: string;
  payload: Record<string, unknown>;
  /**
   * Written only if no event of the request has this key yet (a retried activity writes nothing
   * twice). `request_status` events are written only when the status differs from the last one.
   */
  dedupe?: string;
}

/** Appends events to a request's stream; returns how many were written. */
export async function appendRequestEvents(prisma: PrismaClient, requestId: string, events: readonly NewRequestEvent[]): Promise<number> {
  if (events.length === 0) return 0;
  const [, inserted] = await prisma.$transaction([...appendRequestEventsStatements(prisma, requestId, events)]);
  return inserted;
}

/**
 * The statements of appendRequestEvents, for a caller that writes them in one batch transaction
 * with its own (the lock, the insert, whose result is the number written, and the NOTIFY).
 */
export function appendRequestEventsStatements(prisma: PrismaClient, requestId: string, events: readonly NewRequestEvent[]) {
  const rows = JSON.stringify(
    events.map((e) => ({
      kind: e.kind,
      step_index: e.stepIndex ?? null,
      task_id: e.taskId ?? null,
      payload: e.dedupe ? { ...e.payload, dedupe: e.dedupe } : e.payload,
    })),
  );
  return [
    prisma.$queryRaw`SELECT pg_advisory_xact_lock(hashtext(${`request_events:${requestId}`}))::text AS locked`,
    prisma.$executeRaw`
      INSERT INTO request_events (request_id, seq, kind, step_index, task_id, payload)
      SELECT ${requestId}, base.max_seq + row_number() OVER (ORDER BY e.n), e.v->>'kind', (e.v->>'step_index')::int, e.v->>'task_id', e.v->'payload'
      FROM (SELECT COALESCE(MAX(seq), 0) AS max_seq FROM request_events WHERE request_id = ${requestId}) AS base,
           jsonb_array_elements(${rows}::jsonb) WITH ORDINALITY AS e(v, n)
      WHERE (e.v->'payload'->>'dedupe' IS NULL OR NOT EXISTS (
               SELECT 1 FROM request_events r WHERE r.request_id = ${requestId} AND r.payload->>'dedupe' = e.v->'payload'->>'dedupe'))
        AND (e.v->>'kind' <> 'request_status' OR (
               SELECT r.payload->>'status' FROM request_events r
               WHERE r.request_id = ${requestId} AND r.kind = 'request_status' ORDER BY r.seq DESC LIMIT 1
             ) IS DISTINCT FROM e.v->'payload'->>'status')`,
    prisma.$queryRaw`SELECT pg_notify(${EVENTS_CHANNEL}, ${requestId})::text AS notified`,
  ] as const;
}

export interface EventBatcherOptions {
  /** How long the first held write of a burst waits (see EventBatcher); each next one waits twice as long. */
  holdMs?: number;
  /** The longest a held write waits, however long the burst lasts. */
  maxHoldMs?: number;
  /** At most this many events in one transaction (a catch-up after an outage takes several). */
  maxBatch?: number;
  /** After a failed write, how long before the next attempt (events that come meanwhile join it). */
  retryMs?: number;
  /** How long close() keeps retrying a failing write before it gives up on the rest. */
  closeRetryMs?: number;
  onError?: (err: unknown) => void;
}

/**
 * Writes the events of a running playbook as they come: push() never blocks and never throws
 * (ansible's stdout keeps being read). One write at a time per step keeps the order.
 *
 * An event that comes while no write is in flight is written at once, in a transaction of its own:
 * a quiet stream waits for nothing. Events that come during a write go together in the next one,
 * started as soon as it ends, so a pair (a task's result and the next task's start, the common
 * case) or a one-off clump (a task's results from many hosts) never waits either.
 *
 * Events still queued after the second write in a row mean the stream outpaces the database: a
 * burst. Writing back to back would then cost a transaction (a NOTIFY, the API's query for every
 * subscriber) every few events for as long as it lasts: under load several times what the 150 ms
 * batches Chiffon wrote before cost. So each next write is held, `holdMs` (25) first, doubling
 * while the burst lasts up to `maxHoldMs` (250), and what comes meanwhile goes in it. The hold
 * outgrows those 150 ms so that a sustained burst (past a second or so) costs fewer transactions
 * than they did, the writes made at once and the ramp included; the price is that an event of a
 * burst may wait up to `maxHoldMs`. The first write that ends with nothing queued ends the burst.
 * A full batch (`maxBatch`: a backlog after an outage) is followed at once.
 *
 * A failed write keeps its events queued, in order, and is tried again after `retryMs` with
 * whatever came meanwhile; flush() and close() write what is queued without waiting for a hold,
 * and unwritten() is what close() could not write.
 */
export class EventBatcher {
  private queue: NewRequestEvent[] = [];
  /** The write in flight: it writes what is queued, back to back until a burst holds the next write. */
  private writing: Promise<boolean> | undefined;
  /** The next write: the end of a burst's hold, or a retry after a failure. */
  private timer: NodeJS.Timeout | undefined;
  /** Writes in a row that ended with events queued; the next one is held from the second on. */
  private busyWrites = 0;
  /** How long the last held write waited; 0 outside a burst. */
  private hold = 0;
  private readonly holdMs: number;
  private readonly maxHoldMs: number;
  private readonly maxBatch: number;
  private readonly retryMs: number;
  private readonly closeRetryMs: number;

  constructor(
    private readonly write: (events: NewRequestEvent[]) => Promise<unknown>,
    private readonly options: EventBatcherOptions = {},
  ) {
    this.holdMs = options.holdMs ?? 25;
    this.maxHoldMs = Math.max(this.holdMs, options.maxHoldMs ?? 250);
    this.maxBatch = Math.max(1, options.maxBatch ?? 500);
    this.retryMs = options.retryMs ?? 600;
    this.closeRetryMs = options.closeRetryMs ?? 10_000;
  }

  push(event: NewRequestEvent): void {
    this.queue.push(event);
    if (!this.writing && !this.timer) void this.drain();
  }

  /** Writes what is queued now, held or not (after the write in flight, if any); false when a write failed. */
  async flush(): Promise<boolean> {
    for (;;) {
      if (!(await this.drain())) return false;
      if (this.queue.length === 0) return true;
    }
  }

  /** What is still queued (after close() gave up: the events the database did not take). */
  unwritten(): NewRequestEvent[] {
    return [...this.queue];
  }

  /** Writes everything still queued, retrying for up to `closeRetryMs`; never throws. */
  async close(): Promise<boolean> {
    const deadline = Date.now() + this.closeRetryMs;
    let delay = 100;
    for (;;) {
      if (await this.flush()) return true;
      // close() paces its own retries.
      this.later(undefined);
      if (Date.now() + delay > deadline) return false;
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay = Math.min(delay * 2, 2_000);
    }
  }

  /** The write in flight, or a new one started now (a planned one then starts now instead). */
  private drain(): Promise<boolean> {
    if (!this.writing) this.later(undefined);
    this.writing ??= this.writeQueued().finally(() => (this.writing = undefined));
    return this.writing;
  }

  /** Plans the next write in `ms` (none: undefined), replacing any planned one. */
  private later(ms: number | undefined): void {
    clearTimeout(this.timer);
    this.timer = ms === undefined ? undefined : setTimeout(() => void this.drain(), ms);
  }

  private async writeQueued(): Promise<boolean> {
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, this.maxBatch);
      try {
        await this.write(batch);
      } catch (err) {
        this.queue = batch.concat(this.queue);
        this.busyWrites = this.hold = 0;
        this.options.onError?.(err);
        this.later(this.retryMs);
        return false;
      }
      if (this.queue.length === 0) {
        this.busyWrites = this.hold = 0;
      } else if (++this.busyWrites >= 2 && batch.length < this.maxBatch) {
        this.hold = Math.min(this.hold ? this.hold * 2 : this.holdMs, this.maxHoldMs);
        this.later(this.hold);
        return true;
      }
    }
    return true;
  }
}
