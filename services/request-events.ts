// Writing a request's live output to PostgreSQL: `request_events`, numbered per request.
//
// Sequence numbers are assigned by the database, in a transaction that holds the request's
// advisory lock: a batch gets MAX(seq)+1, +2, ... so seqs are consecutive from 1, whatever the
// number of writers (worker activities, several workers). The same transaction NOTIFYs
// `chiffon_request_events` with the request id (delivered at commit), which the API's streams
// LISTEN to. A worker writes the batches of all its running steps in one transaction at a time
// (appendRequestEvents: a group commit). Events are redacted by the caller before they get here.
import type { PrismaClient } from '../generated/prisma/client.js';
import { EVENTS_CHANNEL } from '../lib/event-notifier.js';
import { GroupCommit } from './group-commit.js';

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

/** Events for one request's stream. */
export interface RequestEventsAppend {
  requestId: string;
  events: readonly NewRequestEvent[];
}

/** At most this many events in one group commit's transaction (a catch-up after an outage takes several). */
const MAX_GROUP_EVENTS = 2_000;

const groupCommits = new WeakMap<PrismaClient, GroupCommit<RequestEventsAppend, number>>();

/**
 * Appends events to a request's stream, in one transaction; returns how many were written.
 *
 * Through the process's group commit on `prisma` (services/group-commit.ts): written at once when
 * no append is in flight, else in the next transaction, with every append (of any request) that
 * came meanwhile. The running steps of a busy worker thus cost one transaction a round between
 * them, not one each, and a quiet one's events wait for nothing. An append the database refuses
 * fails alone: a failed group is written again append by append.
 */
export function appendRequestEvents(prisma: PrismaClient, requestId: string, events: readonly NewRequestEvent[]): Promise<number> {
  if (events.length === 0) return Promise.resolve(0);
  let group = groupCommits.get(prisma);
  if (!group) {
    group = new GroupCommit((appends) => writeRequestEvents(prisma, appends), {
      maxSize: MAX_GROUP_EVENTS,
      sizeOf: (append) => append.events.length,
    });
    groupCommits.set(prisma, group);
  }
  return group.submit({ requestId, events });
}

/**
 * The appends in one transaction of their own (a group commit's); resolves with how many events of
 * each were written. The requests' locks are taken first, all in one order (their keys'), so that
 * two workers writing the same requests never deadlock; an append's events follow those of the
 * appends before it for the same request.
 */
export async function writeRequestEvents(prisma: PrismaClient, appends: readonly RequestEventsAppend[]): Promise<number[]> {
  const requestIds = [...new Set(appends.map((a) => a.requestId))];
  const results: unknown[] = await prisma.$transaction([
    lockRequests(prisma, requestIds),
    ...appends.map((a) => insertEvents(prisma, a.requestId, a.events)),
    notifyRequests(prisma, requestIds),
  ]);
  return appends.map((_, i) => results[i + 1] as number);
}

/**
 * The statements of a request's append, for a caller that writes them in one batch transaction
 * with its own (the lock, the insert, whose result is the number written, and the NOTIFY).
 */
export function appendRequestEventsStatements(prisma: PrismaClient, requestId: string, events: readonly NewRequestEvent[]) {
  return [lockRequests(prisma, [requestId]), insertEvents(prisma, requestId, events), notifyRequests(prisma, [requestId])] as const;
}

/** The requests' advisory locks until the transaction ends, in the order of their keys. */
function lockRequests(prisma: PrismaClient, requestIds: readonly string[]) {
  return prisma.$queryRaw`
    SELECT pg_advisory_xact_lock(key)::text AS locked
    FROM (SELECT DISTINCT hashtext('request_events:' || id) AS key FROM unnest(${requestIds}::text[]) AS id ORDER BY key) AS keys`;
}

/** Numbers the events from the request's last seq on, skipping those already written (dedupe, unchanged status). */
function insertEvents(prisma: PrismaClient, requestId: string, events: readonly NewRequestEvent[]) {
  const rows = JSON.stringify(
    events.map((e) => ({
      kind: e.kind,
      step_index: e.stepIndex ?? null,
      task_id: e.taskId ?? null,
      payload: e.dedupe ? { ...e.payload, dedupe: e.dedupe } : e.payload,
    })),
  );
  return prisma.$executeRaw`
      INSERT INTO request_events (request_id, seq, kind, step_index, task_id, payload)
      SELECT ${requestId}, base.max_seq + row_number() OVER (ORDER BY e.n), e.v->>'kind', (e.v->>'step_index')::int, e.v->>'task_id', e.v->'payload'
      FROM (SELECT COALESCE(MAX(seq), 0) AS max_seq FROM request_events WHERE request_id = ${requestId}) AS base,
           jsonb_array_elements(${rows}::jsonb) WITH ORDINALITY AS e(v, n)
      WHERE (e.v->'payload'->>'dedupe' IS NULL OR NOT EXISTS (
               SELECT 1 FROM request_events r WHERE r.request_id = ${requestId} AND r.payload->>'dedupe' = e.v->'payload'->>'dedupe'))
        AND (e.v->>'kind' <> 'request_status' OR (
               SELECT r.payload->>'status' FROM request_events r
               WHERE r.request_id = ${requestId} AND r.kind = 'request_status' ORDER BY r.seq DESC LIMIT 1
             ) IS DISTINCT FROM e.v->'payload'->>'status')`;
}

function notifyRequests(prisma: PrismaClient, requestIds: readonly string[]) {
  return prisma.$queryRaw`SELECT pg_notify(${EVENTS_CHANNEL}, id)::text AS notified FROM unnest(${requestIds}::text[]) AS id`;
}

export interface EventBatcherOptions {
  /** At most this many events in one write (a catch-up after an outage takes several). */
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
 * An event that comes while no write is in flight is written at once; the events that come during
 * a write go together in the next one, started as soon as it ends. So a quiet stream waits for
 * nothing, and events are batched only while they come faster than the database takes them: in a
 * burst, each write carries what came during the one before. What keeps the transactions down
 * when many steps run is beneath it: with appendRequestEvents as `write`, the writes of all the
 * process's steps share one transaction a round (group commit), however many steps there are.
 *
 * A failed write keeps its events queued, in order, and is tried again after `retryMs` with
 * whatever came meanwhile; flush() and close() write what is queued without waiting for it, and
 * unwritten() is what close() could not write.
 */
export class EventBatcher {
  private queue: NewRequestEvent[] = [];
  /** The write in flight: it writes what is queued, back to back until nothing is. */
  private writing: Promise<boolean> | undefined;
  /** The next attempt after a failed write. */
  private retry: NodeJS.Timeout | undefined;
  private readonly maxBatch: number;
  private readonly retryMs: number;
  private readonly closeRetryMs: number;

  constructor(
    private readonly write: (events: NewRequestEvent[]) => Promise<unknown>,
    private readonly options: EventBatcherOptions = {},
  ) {
    this.maxBatch = Math.max(1, options.maxBatch ?? 500);
    this.retryMs = options.retryMs ?? 600;
    this.closeRetryMs = options.closeRetryMs ?? 10_000;
  }

  push(event: NewRequestEvent): void {
    this.queue.push(event);
    if (!this.writing && !this.retry) void this.drain();
  }

  /** Writes what is queued now (after the write in flight, if any); false when a write failed. */
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
      this.cancelRetry();
      if (Date.now() + delay > deadline) return false;
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay = Math.min(delay * 2, 2_000);
    }
  }

  /** The write in flight, or a new one started now (a planned retry then starts now instead). */
  private drain(): Promise<boolean> {
    if (!this.writing) this.cancelRetry();
    this.writing ??= this.writeQueued().finally(() => (this.writing = undefined));
    return this.writing;
  }

  private cancelRetry(): void {
    clearTimeout(this.retry);
    this.retry = undefined;
  }

  private async writeQueued(): Promise<boolean> {
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, this.maxBatch);
      try {
        await this.write(batch);
      } catch (err) {
        this.queue = batch.concat(this.queue);
        this.options.onError?.(err);
        this.retry = setTimeout(() => void this.drain(), this.retryMs);
        return false;
      }
    }
    return true;
  }
}
