// request_events on a real PostgreSQL: per-request sequence numbers assigned by the database
// (consecutive, no duplicates under concurrent writers), dedupe keys and status-change events,
// NOTIFY on commit; the group commit: appends that come while one is in flight share the next
// transaction, an append the database refuses fails alone, two workers writing the same requests
// never deadlock; and the batcher: an idle event written at once, the events that come during a
// write grouped into the next transaction, back to back, the steps of a worker sharing
// transactions, order and seqs kept, a failed write kept and written later.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EVENTS_CHANNEL } from '../../lib/event-notifier.js';
import { createPrismaClient, type PrismaClient } from '../../lib/prisma.js';
import {
  appendRequestEvents,
  EventBatcher,
  writeRequestEvents,
  type NewRequestEvent,
  type RequestEventsAppend,
} from '../../services/request-events.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';

let database: TestDatabase;

beforeAll(async () => {
  database = await createTestDatabase();
});

afterAll(async () => {
  await database?.drop();
});

const taskEvent = (n: number): NewRequestEvent => ({ kind: 'task_start', stepIndex: 0, taskId: 't1', payload: { n } });
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

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

/** A Prisma client of its own (a worker's), so a group commit of its own; disconnected after `use`. */
async function withClient<T>(use: (prisma: PrismaClient) => Promise<T>): Promise<T> {
  const prisma = createPrismaClient(database.url);
  try {
    return await use(prisma);
  } finally {
    await prisma.$disconnect();
  }
}

/**
 * Holds the request's advisory lock from a connection of its own, as a writer of another worker
 * would: a write of its events waits for release().
 */
async function lockRequest(requestId: string): Promise<{ release: () => Promise<void> }> {
  const client = new pg.Client({ connectionString: database.url });
  await client.connect();
  await client.query('BEGIN');
  await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`request_events:${requestId}`]);
  return {
    release: async () => {
      await client.query('COMMIT');
      await client.end();
    },
  };
}

/** The connections of the test's database waiting for an advisory lock. */
async function waitingForLocks(): Promise<number> {
  const [row] = await database.prisma.$queryRaw<{ waiting: number }[]>`
    SELECT count(*)::int AS waiting FROM pg_locks
    WHERE locktype = 'advisory' AND NOT granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`;
  return row!.waiting;
}

/** The distinct transactions that inserted the rows of each request, numbered tx1, tx2... in the order they began. */
async function transactionsByRequest(requestIds: string[]): Promise<Record<string, string[]>> {
  const rows = await database.prisma.$queryRaw<{ request_id: string; xmin: string }[]>`
    SELECT request_id, xid::text AS xmin
    FROM (SELECT DISTINCT request_id, xmin::text::bigint AS xid FROM request_events WHERE request_id = ANY(${requestIds}::text[])) AS t
    ORDER BY xid`;
  const names = new Map<string, string>();
  const byRequest: Record<string, string[]> = {};
  for (const row of rows) {
    if (!names.has(row.xmin)) names.set(row.xmin, `tx${names.size + 1}`);
    (byRequest[row.request_id] ??= []).push(names.get(row.xmin)!);
  }
  return byRequest;
}

describe('group commit', () => {
  it('writes the appends that come while one is in flight together, in the next transaction, each request numbered on its own and notified', async () => {
    const listener = new pg.Client({ connectionString: database.url });
    await listener.connect();
    const heard: string[] = [];
    listener.on('notification', (m) => heard.push(m.payload ?? ''));
    await listener.query(`LISTEN ${EVENTS_CHANNEL}`);
    const lock = await lockRequest('group-first');
    try {
      await withClient(async (prisma) => {
        // In flight (waiting for the lock), so the others queue behind it.
        const first = appendRequestEvents(prisma, 'group-first', [taskEvent(1)]);
        const rest = [
          appendRequestEvents(prisma, 'group-a', [taskEvent(1), taskEvent(2)]),
          appendRequestEvents(prisma, 'group-b', [taskEvent(1)]),
          appendRequestEvents(prisma, 'group-a', [taskEvent(3)]),
          appendRequestEvents(prisma, 'group-c', [taskEvent(1)]),
        ];
        await lock.release();
        expect(await first).toBe(1);
        expect(await Promise.all(rest)).toEqual([2, 1, 1, 1]);
      });
      expect(await transactionsByRequest(['group-first', 'group-a', 'group-b', 'group-c'])).toEqual({
        'group-first': ['tx1'],
        'group-a': ['tx2'],
        'group-b': ['tx2'],
        'group-c': ['tx2'],
      });
      expect(await writtenOf('group-a')).toEqual([
        [1, 1],
        [2, 2],
        [3, 3],
      ]);
      expect(await writtenOf('group-b')).toEqual([[1, 1]]);
      // Notifications are delivered at commit, each request's once.
      await expect.poll(() => [...heard].sort()).toEqual(['group-a', 'group-b', 'group-c', 'group-first']);
    } finally {
      await listener.end();
    }
  });

  it('fails alone an append the database refuses, and writes the others of its group', async () => {
    // jsonb refuses the NUL character.
    const refused: NewRequestEvent = { kind: 'task_result', payload: { n: 1, stdout: 'binary \u0000 output' } };
    const lock = await lockRequest('refused-first');
    await withClient(async (prisma) => {
      const first = appendRequestEvents(prisma, 'refused-first', [taskEvent(1)]);
      const outcomes = [
        appendRequestEvents(prisma, 'refused-a', [taskEvent(1)]),
        appendRequestEvents(prisma, 'refused-bad', [refused]),
        appendRequestEvents(prisma, 'refused-b', [taskEvent(1)]),
      ].map((p) => p.then(String, () => 'refused'));
      await lock.release();
      await first;
      expect(await Promise.all(outcomes)).toEqual(['1', 'refused', '1']);
    });
    expect(await writtenOf('refused-a')).toEqual([[1, 1]]);
    expect(await writtenOf('refused-b')).toEqual([[1, 1]]);
    expect(await writtenOf('refused-bad')).toEqual([]);
  });

  it('lets two workers write the same requests in opposite orders at the same time without a deadlock or a gap', async () => {
    // Both writers wait for `middle`'s lock: locking in the order given, each would hold the
    // request the other locks last (one `first`, the other `last`), a deadlock once it is released.
    const [first, middle, last] = ['both-first', 'both-middle', 'both-last'];
    const appends = (requestIds: string[], n: number): RequestEventsAppend[] =>
      requestIds.map((requestId) => ({ requestId, events: [taskEvent(n)] }));
    const lock = await lockRequest(middle);
    const written = await withClient((one) =>
      withClient(async (other) => {
        // Not through the group commit (it would write a failed group again request by request):
        // each is one transaction over the three requests.
        const writes = Promise.all([
          writeRequestEvents(one, appends([first, middle, last], 1)),
          writeRequestEvents(other, appends([last, middle, first], 2)),
        ]);
        await expect.poll(waitingForLocks).toBe(2);
        await lock.release();
        return writes;
      }),
    );
    expect(written).toEqual([
      [1, 1, 1],
      [1, 1, 1],
    ]);
    for (const requestId of [first, middle, last]) expect(await seqsOf(requestId)).toEqual([1, 2]);
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

  it('puts the events that come during a write into the next, at once, and so on while they keep coming: never held', async () => {
    const writer = instrumentedWriter('batch-burst', { hold: true });
    const batcher = new EventBatcher(writer.write);
    batcher.push(taskEvent(1));
    for (const n of range(2, 30)) batcher.push(taskEvent(n));
    expect(writer.batches).toEqual([[1]]);

    await writer.releaseAndAwaitNext();
    expect(writer.batches).toEqual([[1], range(2, 30)]);
    for (const n of range(31, 80)) batcher.push(taskEvent(n));
    // Still coming during the second write: the third starts as soon as it is committed.
    await writer.releaseAndAwaitNext();
    expect(writer.batches).toEqual([[1], range(2, 30), range(31, 80)]);
    writer.release();
    expect(await batcher.close()).toBe(true);
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

  it('gives the steps of a worker one transaction a round between them (appendRequestEvents: the group commit)', async () => {
    const steps = range(0, 9).map((i) => `batch-steps-${i}`);
    const lock = await lockRequest(steps[0]!);
    await withClient(async (prisma) => {
      const batchers = steps.map((requestId) => new EventBatcher((batch) => appendRequestEvents(prisma, requestId, batch)));
      // The first step's write is in flight (waiting for the lock); each other step's first write
      // is queued behind it; every step's second event waits in its batcher for its first write.
      for (const batcher of batchers) batcher.push(taskEvent(1));
      for (const batcher of batchers) batcher.push(taskEvent(2));
      await lock.release();
      expect(await Promise.all(batchers.map((b) => b.close()))).toEqual(steps.map(() => true));
    });
    // Three transactions for 20 events of 10 steps (not 20): the first step's first event; the
    // other steps' first ones with its second (queued as its first was committed); their seconds.
    const byRequest = await transactionsByRequest(steps);
    expect(byRequest[steps[0]!]).toEqual(['tx1', 'tx2']);
    for (const requestId of steps.slice(1)) expect(byRequest[requestId]).toEqual(['tx2', 'tx3']);
    for (const requestId of steps) {
      expect(await writtenOf(requestId)).toEqual([
        [1, 1],
        [2, 2],
      ]);
    }
  });
});
