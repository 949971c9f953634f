// request_events on a real PostgreSQL: per-request sequence numbers assigned by the database
// (consecutive, no duplicates under concurrent writers), dedupe keys and status-change events,
// NOTIFY on commit, and the batcher: an idle event written at once, the events that come during a
// write grouped into the next transaction, a burst's write held until close(), order and seqs kept,
// a failed write kept and written later.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EVENTS_CHANNEL } from '../../lib/event-notifier.js';
import { appendRequestEvents, EventBatcher, type NewRequestEvent } from '../../services/request-events.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';

let database: TestDatabase;

beforeAll(async () => {
  database = await createTestDatabase();
});

afterAll(async () => {
  await database?.drop();
});

const taskEvent = (n: number): NewRequestEvent => ({ kind: 'task_start', stepIndex: 0, taskId: 't1', payload: { n } });

async function seqsOf(requestId: string): Promise<number[]> {
  const rows = await database.prisma.requestEvent.findMany({ where: { requestId }, orderBy: { seq: 'asc' } });
  return rows.map((row) => row.seq);
}

describe('appendRequestEvents', () => {
  it('numbers each request from 1, consecutively, in the order given', async () => {
    expect(await appendRequestEvents(database.prisma, 'seq-a', [taskEvent(1), taskEvent(2), taskEvent(3)])).toBe(3);
    await appendRequestEvents(database.prisma, 'seq-b', [taskEvent(1)]);
    await appendRequestEvents(database.prisma, 'seq-a', [taskEvent(4)]);
    const rows = await database.prisma.requestEvent.findMany({ where: { requestId: 'seq-a' }, orderBy: { seq: 'asc' } });
    expect(rows.map((r) => [r.seq, (r.payload as { n: number }).n])).toEqual([
      [1, 1],
      [2, 2],
      [3, 3],
      [4, 4],
    ]);
    expect(rows[0]).toMatchObject({ kind: 'task_start', stepIndex: 0, taskId: 't1' });
    expect(await seqsOf('seq-b')).toEqual([1]);
  });

  it('gives concurrent writers of one request distinct, gap-free numbers', async () => {
    await Promise.all(
      Array.from({ length: 20 }, (_, i) => appendRequestEvents(database.prisma, 'seq-concurrent', [taskEvent(i), taskEvent(i + 100)])),
    );
    expect(await seqsOf('seq-concurrent')).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
  });

  it('writes a request status event only when the status changed, and a deduped event once', async () => {
    const status = (s: string): NewRequestEvent => ({ kind: 'request_status', payload: { status: s } });
    for (const s of ['pending_approval', 'pending_approval', 'running', 'running', 'paused', 'running']) {
      await appendRequestEvents(database.prisma, 'seq-status', [status(s)]);
    }
    const step: NewRequestEvent = {
      kind: 'step_status',
      stepIndex: 0,
      taskId: 't',
      payload: { status: 'completed' },
      dedupe: 'step:t:completed',
    };
    expect(await appendRequestEvents(database.prisma, 'seq-status', [step])).toBe(1);
    expect(await appendRequestEvents(database.prisma, 'seq-status', [step])).toBe(0);
    const rows = await database.prisma.requestEvent.findMany({ where: { requestId: 'seq-status' }, orderBy: { seq: 'asc' } });
    expect(rows.map((r) => [r.seq, r.kind, (r.payload as { status: string }).status])).toEqual([
      [1, 'request_status', 'pending_approval'],
      [2, 'request_status', 'running'],
      [3, 'request_status', 'paused'],
      [4, 'request_status', 'running'],
      [5, 'step_status', 'completed'],
    ]);
  });

  it('NOTIFYs the request id when the events are committed', async () => {
    const listener = new pg.Client({ connectionString: database.url });
    await listener.connect();
    try {
      await listener.query(`LISTEN ${EVENTS_CHANNEL}`);
      const heard = new Promise<string | undefined>((resolve) => listener.once('notification', (m) => resolve(m.payload)));
      await appendRequestEvents(database.prisma, 'seq-notify', [taskEvent(1)]);
      expect(await heard).toBe('seq-notify');
    } finally {
      await listener.end();
    }
  });
});

/**
 * appendRequestEvents of `requestId`, instrumented: every write (one transaction) is recorded, and
 * with `hold` it waits until the test releases it, as a slow database would.
 */
function instrumentedWriter(requestId: string, { hold = false, failures = 0 } = {}) {
  const batches: number[][] = [];
  const committed: Promise<number>[] = [];
  const held: (() => void)[] = [];
  let started: (() => void) | undefined;
  const write = (batch: NewRequestEvent[]): Promise<number> => {
    batches.push(batch.map((e) => e.payload.n as number));
    started?.();
    const done = (async () => {
      if (hold) await new Promise<void>((resolve) => held.push(resolve));
      if (failures-- > 0) throw new Error('database away');
      return appendRequestEvents(database.prisma, requestId, batch);
    })();
    committed.push(done);
    return done;
  };
  return {
    write,
    /** The events of each write, in the order the writes started. */
    batches,
    /** Each write's own promise: resolved once its transaction has committed. */
    committed,
    /** Lets the oldest held write go to the database; resolves when the batcher starts its next write. */
    releaseAndAwaitNext(): Promise<void> {
      const next = new Promise<void>((resolve) => (started = resolve));
      held.shift()!();
      return next;
    },
    release: () => held.shift()!(),
  };
}

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

/** The distinct transactions that inserted the request's rows. */
async function transactionsOf(requestId: string): Promise<number> {
  const [row] = await database.prisma.$queryRaw<{ transactions: number }[]>`
    SELECT count(DISTINCT xmin::text)::int AS transactions FROM request_events WHERE request_id = ${requestId}`;
  return row!.transactions;
}

async function writtenOf(requestId: string): Promise<[number, number][]> {
  const rows = await database.prisma.requestEvent.findMany({ where: { requestId }, orderBy: { seq: 'asc' } });
  return rows.map((row) => [row.seq, (row.payload as { n: number }).n]);
}

describe('EventBatcher', () => {
  it('writes an event that comes while no write is in flight at once, in a transaction of its own', async () => {
    const writer = instrumentedWriter('batch-idle');
    const batcher = new EventBatcher(writer.write);
    batcher.push(taskEvent(1));
    // The write began inside push(): no timer stands between an idle event and the database.
    expect(writer.batches).toEqual([[1]]);
    await writer.committed[0];
    expect(await writtenOf('batch-idle')).toEqual([[1, 1]]);

    expect(await batcher.flush()).toBe(true);
    batcher.push(taskEvent(2));
    expect(writer.batches).toEqual([[1], [2]]);
    expect(await batcher.close()).toBe(true);
    expect(writer.batches).toHaveLength(2);
    expect(await writtenOf('batch-idle')).toEqual([
      [1, 1],
      [2, 2],
    ]);
  });

  it('puts the events that come during a write into the next, at once; holds the one after while they keep coming; close() writes it at once', async () => {
    const writer = instrumentedWriter('batch-burst', { hold: true });
    // A hold longer than the test: only close() ends it (the hold's timing: test/unit/event-batcher.test.ts).
    const batcher = new EventBatcher(writer.write, { holdMs: 60_000 });
    batcher.push(taskEvent(1));
    for (const n of range(2, 30)) batcher.push(taskEvent(n));
    expect(writer.batches).toEqual([[1]]);

    await writer.releaseAndAwaitNext();
    expect(writer.batches).toEqual([[1], range(2, 30)]);
    // Events still coming during the second write in a row: a burst, the next write is held.
    for (const n of range(31, 60)) batcher.push(taskEvent(n));
    writer.release();
    await writer.committed[1];
    await new Promise((resolve) => setImmediate(resolve));
    for (const n of range(61, 80)) batcher.push(taskEvent(n));
    expect(writer.batches).toHaveLength(2);

    const closing = batcher.close();
    expect(writer.batches).toEqual([[1], range(2, 30), range(31, 80)]);
    writer.release();
    expect(await closing).toBe(true);
    // 80 events, 3 transactions, in order, numbered from 1 without a gap.
    expect(await writtenOf('batch-burst')).toEqual(range(1, 80).map((n) => [n, n]));
    expect(await transactionsOf('batch-burst')).toBe(3);
  });

  it('never puts more than maxBatch events in one transaction, and writes full batches back to back', async () => {
    const writer = instrumentedWriter('batch-max', { hold: true });
    const batcher = new EventBatcher(writer.write, { maxBatch: 10 });
    for (const n of range(1, 26)) batcher.push(taskEvent(n));
    await writer.releaseAndAwaitNext();
    await writer.releaseAndAwaitNext();
    await writer.releaseAndAwaitNext();
    writer.release();
    expect(await batcher.close()).toBe(true);
    expect(writer.batches).toEqual([[1], range(2, 11), range(12, 21), range(22, 26)]);
    expect(await writtenOf('batch-max')).toEqual(range(1, 26).map((n) => [n, n]));
  });

  it('keeps the events of a failed write queued, in order, and writes them with the later ones once the database is back', async () => {
    const errors: unknown[] = [];
    const writer = instrumentedWriter('batch-away', { failures: 2 });
    const batcher = new EventBatcher(writer.write, { onError: (err) => errors.push(err) });
    for (const n of range(1, 5)) batcher.push(taskEvent(n));
    expect(await batcher.flush()).toBe(false);
    expect(batcher.unwritten().map((e) => e.payload.n)).toEqual(range(1, 5));
    expect(await batcher.flush()).toBe(false);
    batcher.push(taskEvent(6));
    expect(writer.batches).toEqual([[1], range(1, 5)]);
    expect(await batcher.flush()).toBe(true);
    expect(writer.batches).toEqual([[1], range(1, 5), range(1, 6)]);
    expect(errors).toHaveLength(2);
    expect(batcher.unwritten()).toEqual([]);
    expect(await writtenOf('batch-away')).toEqual(range(1, 6).map((n) => [n, n]));
  });

  it('gives two batchers of one request (a retried step, say) distinct, gap-free numbers, each in its order', async () => {
    const first = instrumentedWriter('batch-two');
    const second = instrumentedWriter('batch-two');
    const a = new EventBatcher(first.write);
    const b = new EventBatcher(second.write);
    for (const n of range(1, 20)) {
      a.push(taskEvent(n));
      b.push(taskEvent(100 + n));
    }
    expect(await Promise.all([a.close(), b.close()])).toEqual([true, true]);
    const written = await writtenOf('batch-two');
    expect(written.map(([seq]) => seq)).toEqual(range(1, 40));
    expect(written.map(([, n]) => n).filter((n) => n < 100)).toEqual(range(1, 20));
    expect(written.map(([, n]) => n).filter((n) => n > 100)).toEqual(range(101, 120));
    // Each wrote its first event at once and the 19 that came meanwhile in one more transaction.
    expect(first.batches).toEqual([[1], range(2, 20)]);
    expect(second.batches).toEqual([[101], range(102, 120)]);
  });
});
