// EventBatcher's timing, on vitest's fake clock (no database, no wall-clock wait): a lone event, a
// pair and a one-off clump are written without delay; a sustained burst is written back to back,
// each write carrying what came during the one before, never held; a failed write is tried again
// after retryMs with what came meanwhile; close() gives up after closeRetryMs. The steps of a
// worker sharing transactions (group commit): test/unit/group-commit.test.ts. What it does with
// PostgreSQL (order, seqs, the database away): test/integration/request-events.test.ts.
import { afterEach, beforeEach, expect, it, vi } from 'vitest';
import { EventBatcher, type NewRequestEvent } from '../../services/request-events.js';

const taskEvent = (n: number): NewRequestEvent => ({ kind: 'task_start', stepIndex: 0, taskId: 't1', payload: { n } });
const numbers = (events: NewRequestEvent[]) => events.map((e) => e.payload.n as number);
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

beforeEach(() => {
  vi.useFakeTimers({ now: 0 });
});

afterEach(() => {
  vi.useRealTimers();
});

/** A writer that records each write and fails while `down` is true. */
function fakeDatabase() {
  const state = { down: true, writes: [] as number[][] };
  const write = async (batch: NewRequestEvent[]) => {
    state.writes.push(numbers(batch));
    if (state.down) throw new Error('database away');
  };
  return { state, write };
}

/** A database on the fake clock whose every write takes `writeMs`: when each write began, what it held. */
function slowDatabase(writeMs: number) {
  const writes: { at: number; events: number[] }[] = [];
  const write = (batch: NewRequestEvent[]) => {
    writes.push({ at: Date.now(), events: numbers(batch) });
    return new Promise((resolve) => setTimeout(resolve, writeMs));
  };
  return {
    write,
    writes,
    /** Between the end of each write and the start of the next: 0 back to back, else how long it was held. */
    gaps: () => writes.slice(1).map((w, i) => w.at - writes[i]!.at - writeMs),
  };
}

/** Pushes events `from`..`to`, one every `everyMs` on the fake clock; returns when each was pushed. */
async function burst(batcher: EventBatcher, from: number, to: number, everyMs = 1): Promise<Map<number, number>> {
  const pushedAt = new Map<number, number>();
  for (const n of range(from, to)) {
    pushedAt.set(n, Date.now());
    batcher.push(taskEvent(n));
    await vi.advanceTimersByTimeAsync(everyMs);
  }
  return pushedAt;
}

async function closed(batcher: EventBatcher): Promise<boolean> {
  const closing = batcher.close();
  await vi.runAllTimersAsync();
  return closing;
}

it('writes a lone event at once, and a pair (a task’s result, then the next task’s start) back to back', async () => {
  const db = slowDatabase(5);
  const batcher = new EventBatcher(db.write);
  batcher.push(taskEvent(1));
  expect(db.writes).toEqual([{ at: 0, events: [1] }]);
  await vi.advanceTimersByTimeAsync(100);
  batcher.push(taskEvent(2));
  batcher.push(taskEvent(3));
  expect(db.writes.at(-1)).toEqual({ at: 100, events: [2] });
  await vi.advanceTimersByTimeAsync(5);
  // The second the moment the first was committed: nothing held.
  expect(db.writes.at(-1)).toEqual({ at: 105, events: [3] });
  await vi.advanceTimersByTimeAsync(5);
  expect(vi.getTimerCount()).toBe(0);
  expect(db.writes).toHaveLength(3);
});

it('writes a one-off clump (a task’s results from many hosts at once) back to back, not held', async () => {
  const db = slowDatabase(5);
  const batcher = new EventBatcher(db.write);
  for (const n of range(1, 10)) batcher.push(taskEvent(n));
  await vi.advanceTimersByTimeAsync(10);
  expect(db.writes).toEqual([
    { at: 0, events: [1] },
    { at: 5, events: range(2, 10) },
  ]);
  expect(vi.getTimerCount()).toBe(0);
});

it('writes a sustained burst back to back, each write carrying what came during the one before, never holding one', async () => {
  const writeMs = 10;
  const events = 1_000; // one a millisecond: 1 s
  const db = slowDatabase(writeMs);
  const batcher = new EventBatcher(db.write);
  const pushedAt = await burst(batcher, 1, events);
  expect(await closed(batcher)).toBe(true);

  expect(db.writes.flatMap((w) => w.events)).toEqual(range(1, events));
  // Each write starts the moment the one before ends: nothing is held, whatever the burst's length.
  expect(db.gaps().every((gap) => gap === 0)).toBe(true);
  // Batched only as much as the database is slower than the stream: a write's worth of events a write.
  expect(Math.max(...db.writes.map((w) => w.events.length))).toBeLessThanOrEqual(writeMs + 1);
  expect(db.writes.length).toBeLessThanOrEqual(Math.ceil(events / writeMs) + 2);
  // No event waits (push → committed) longer than two writes (the one in flight, then its own).
  const waited = db.writes.flatMap((w) => w.events.map((n) => w.at + writeMs - pushedAt.get(n)!));
  expect(Math.max(...waited)).toBeLessThanOrEqual(2 * writeMs);
});

it('writes a lone event at once again once a burst has ended', async () => {
  const db = slowDatabase(10);
  const batcher = new EventBatcher(db.write);
  await burst(batcher, 1, 100);
  await vi.advanceTimersByTimeAsync(100);
  expect(db.writes.flatMap((w) => w.events)).toEqual(range(1, 100));
  expect(vi.getTimerCount()).toBe(0);
  batcher.push(taskEvent(101));
  expect(db.writes.at(-1)).toEqual({ at: Date.now(), events: [101] });
});

it('close() writes what came during the write in flight as soon as it ends', async () => {
  const db = slowDatabase(10);
  const batcher = new EventBatcher(db.write);
  batcher.push(taskEvent(1));
  for (const n of range(2, 50)) batcher.push(taskEvent(n));
  const closing = batcher.close();
  await vi.advanceTimersByTimeAsync(20);
  expect(await closing).toBe(true);
  expect(db.writes).toEqual([
    { at: 0, events: [1] },
    { at: 10, events: range(2, 50) },
  ]);
  expect(vi.getTimerCount()).toBe(0);
});

it('tries a failed write again after retryMs, with the events that came meanwhile, not once per event', async () => {
  const { state, write } = fakeDatabase();
  const batcher = new EventBatcher(write, { retryMs: 600, onError: () => {} });
  batcher.push(taskEvent(1));
  expect(state.writes).toEqual([[1]]);
  await vi.advanceTimersByTimeAsync(1);
  batcher.push(taskEvent(2));
  batcher.push(taskEvent(3));
  await vi.advanceTimersByTimeAsync(598);
  expect(state.writes).toEqual([[1]]);
  await vi.advanceTimersByTimeAsync(1);
  expect(state.writes).toEqual([[1], [1, 2, 3]]);
  state.down = false;
  await vi.advanceTimersByTimeAsync(600);
  expect(state.writes).toEqual([[1], [1, 2, 3], [1, 2, 3]]);
  expect(batcher.unwritten()).toEqual([]);
  expect(vi.getTimerCount()).toBe(0);
});

it('gives up on close after closeRetryMs without throwing, and hands back every unwritten event in order', async () => {
  const { state, write } = fakeDatabase();
  const batcher = new EventBatcher(write, { closeRetryMs: 1_000 });
  for (let n = 1; n <= 5; n++) batcher.push(taskEvent(n));
  expect(await closed(batcher)).toBe(false);
  expect(numbers(batcher.unwritten())).toEqual([1, 2, 3, 4, 5]);
  // The write in flight, then close()'s own attempts (100, 200, 400 ms apart), nothing left planned.
  expect(state.writes.length).toBeGreaterThan(2);
  expect(vi.getTimerCount()).toBe(0);
});

it('push never blocks or throws, whatever the writer does', () => {
  const hanging = new EventBatcher(() => new Promise(() => {}));
  expect(() => hanging.push(taskEvent(1))).not.toThrow();
  expect(() => hanging.push(taskEvent(2))).not.toThrow();
  const throwing = new EventBatcher(
    () => {
      throw new Error('not even a promise');
    },
    { onError: () => {} },
  );
  expect(() => throwing.push(taskEvent(1))).not.toThrow();
  expect(numbers(throwing.unwritten())).toEqual([1]);
});
