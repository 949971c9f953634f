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
  /** How often queued events are written. */
  flushMs?: number;
  /** How long close() keeps retrying a failing write before it gives up on the rest. */
  closeRetryMs?: number;
  onError?: (err: unknown) => void;
}

/**
 * Collects events from a running playbook and writes them every `flushMs`: push() never blocks
 * and never throws (ansible's stdout keeps being read). A failed write keeps its events queued, in
 * order, for the next flush; close() writes what is left.
 */
export class EventBatcher {
  private queue: NewRequestEvent[] = [];
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> | undefined;
  private readonly flushMs: number;
  private readonly closeRetryMs: number;

  constructor(
    private readonly write: (events: NewRequestEvent[]) => Promise<unknown>,
    private readonly options: EventBatcherOptions = {},
  ) {
    this.flushMs = options.flushMs ?? 150;
    this.closeRetryMs = options.closeRetryMs ?? 10_000;
  }

  push(event: NewRequestEvent): void {
    this.queue.push(event);
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      void this.flush();
    }, this.flushMs);
  }

  /** Writes what is queued (after any write in progress); false when the write failed. */
  async flush(): Promise<boolean> {
    while (this.writing) await this.writing;
    if (this.queue.length === 0) return true;
    const batch = this.queue;
    this.queue = [];
    let ok = true;
    this.writing = this.write(batch)
      .then(() => undefined)
      .catch((err: unknown) => {
        ok = false;
        this.queue = [...batch, ...this.queue];
        this.options.onError?.(err);
      })
      .finally(() => {
        this.writing = undefined;
      });
    await this.writing;
    if (!ok && !this.timer) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        void this.flush();
      }, this.flushMs * 4);
    }
    return ok;
  }

  /** What is still queued (after close() gave up: the events the database did not take). */
  unwritten(): NewRequestEvent[] {
    return [...this.queue];
  }

  /** Writes everything still queued, retrying for up to `closeRetryMs`; never throws. */
  async close(): Promise<boolean> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const deadline = Date.now() + this.closeRetryMs;
    let delay = 100;
    for (;;) {
      if (await this.flush()) return true;
      clearTimeout(this.timer);
      this.timer = undefined;
      if (Date.now() + delay > deadline) return false;
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay = Math.min(delay * 2, 2_000);
    }
  }
}
