// request_events on a real PostgreSQL: per-request sequence numbers assigned by the database
// (consecutive, no duplicates under concurrent writers), dedupe keys and status-change events,
// NOTIFY on commit, and the batcher that retries a failed write.
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

describe('EventBatcher', () => {
  it('writes in batches, keeps the order, and retries a failed write without losing or repeating events', async () => {
    const written: number[][] = [];
    let failures = 2;
    const errors: unknown[] = [];
    const batcher = new EventBatcher(
      async (batch) => {
        if (failures-- > 0) throw new Error('database away');
        written.push(batch.map((e) => e.payload.n as number));
      },
      { flushMs: 20, onError: (err) => errors.push(err) },
    );
    for (let i = 1; i <= 5; i++) batcher.push(taskEvent(i));
    await new Promise((resolve) => setTimeout(resolve, 30));
    for (let i = 6; i <= 8; i++) batcher.push(taskEvent(i));
    expect(await batcher.close()).toBe(true);
    expect(written.flat()).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(errors.length).toBe(2);
  });

  it('gives up on close after its retry time without throwing', async () => {
    const batcher = new EventBatcher(async () => Promise.reject(new Error('down')), { flushMs: 10, closeRetryMs: 300 });
    batcher.push(taskEvent(1));
    expect(await batcher.close()).toBe(false);
  });

  it('push never blocks or throws', () => {
    const batcher = new EventBatcher(() => new Promise(() => {}), { flushMs: 1 });
    expect(() => batcher.push(taskEvent(1))).not.toThrow();
  });
});
