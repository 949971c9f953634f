// GroupCommit on vitest's fake clock (no database): an item submitted while no write is in flight
// is written at once, alone; those submitted during a write all go in the next; the steps of a
// busy worker (EventBatchers over one group commit) cost one transaction a round between them,
// fewer than the 150 ms batches of before; a failed group is written again item by item, so that
// an item the database refuses fails alone. On PostgreSQL: test/integration/request-events.test.ts.
import { afterEach, beforeEach, expect, it, vi } from 'vitest';
import { GroupCommit } from '../../services/group-commit.js';
import { EventBatcher, type NewRequestEvent } from '../../services/request-events.js';

beforeEach(() => {
  vi.useFakeTimers({ now: 0 });
});

afterEach(() => {
  vi.useRealTimers();
});

/** A database on the fake clock whose every group write takes `writeMs`; refuses a group holding a 'bad' item. */
function slowDatabase<T>(writeMs: number) {
  const groups: { at: number; items: T[] }[] = [];
  const writeGroup = async (items: T[]): Promise<string[]> => {
    groups.push({ at: Date.now(), items });
    await new Promise((resolve) => setTimeout(resolve, writeMs));
    if (items.includes('bad' as T)) throw new Error('refused');
    return items.map((item) => `wrote ${String(item)}`);
  };
  return { groups, writeGroup };
}

it('writes an item submitted while no write is in flight at once, alone', async () => {
  const db = slowDatabase<string>(10);
  const commit = new GroupCommit(db.writeGroup);
  const result = commit.submit('a');
  expect(db.groups).toEqual([{ at: 0, items: ['a'] }]);
  await vi.advanceTimersByTimeAsync(10);
  expect(await result).toBe('wrote a');
  expect(vi.getTimerCount()).toBe(0);
});

it('puts every item submitted during a write in the next, in order, started as it ends; each gets its own result', async () => {
  const db = slowDatabase<string>(10);
  const commit = new GroupCommit(db.writeGroup);
  const results = [commit.submit('a')];
  await vi.advanceTimersByTimeAsync(3);
  results.push(commit.submit('b'), commit.submit('c'));
  await vi.advanceTimersByTimeAsync(3);
  results.push(commit.submit('d'));
  await vi.advanceTimersByTimeAsync(20);
  expect(db.groups).toEqual([
    { at: 0, items: ['a'] },
    { at: 10, items: ['b', 'c', 'd'] },
  ]);
  expect(await Promise.all(results)).toEqual(['wrote a', 'wrote b', 'wrote c', 'wrote d']);
  // Idle again: the next is written at once.
  void commit.submit('e');
  expect(db.groups.at(-1)).toEqual({ at: Date.now(), items: ['e'] });
});

it('keeps a group within maxSize (by sizeOf); the rest goes in the next, and a larger item alone', async () => {
  const db = slowDatabase<string>(10);
  const commit = new GroupCommit(db.writeGroup, { maxSize: 5, sizeOf: (item) => item.length });
  const results = ['a', 'bb', 'ccc', 'dd', 'eeeeeee', 'f'].map((item) => commit.submit(item));
  await vi.runAllTimersAsync();
  expect(db.groups.map((g) => g.items)).toEqual([['a'], ['bb', 'ccc'], ['dd'], ['eeeeeee'], ['f']]);
  expect(await Promise.all(results)).toHaveLength(6);
});

it('writes a failed group again item by item: an item the database refuses fails alone, the others are written', async () => {
  const db = slowDatabase<string>(10);
  const commit = new GroupCommit(db.writeGroup);
  const first = commit.submit('a');
  const outcomes = ['b', 'bad', 'c'].map((item) => commit.submit(item).then(String, (err: Error) => err.message));
  await vi.runAllTimersAsync();
  expect(await first).toBe('wrote a');
  expect(await Promise.all(outcomes)).toEqual(['wrote b', 'refused', 'wrote c']);
  expect(db.groups.map((g) => g.items)).toEqual([['a'], ['b', 'bad', 'c'], ['b'], ['bad'], ['c']]);
});

it('rejects a failed group of one item without writing it again, and never throws from submit', async () => {
  const db = slowDatabase<string>(10);
  const commit = new GroupCommit(db.writeGroup);
  const refused = commit.submit('bad');
  const settled = refused.catch((err: Error) => err.message);
  await vi.runAllTimersAsync();
  expect(await settled).toBe('refused');
  expect(db.groups).toHaveLength(1);

  const throwing = new GroupCommit<string, string>(() => {
    throw new Error('not even a promise');
  });
  let submitted: Promise<string> | undefined;
  expect(() => (submitted = throwing.submit('a'))).not.toThrow();
  await expect(submitted).rejects.toThrow('not even a promise');
});

it('costs a busy worker’s steps one transaction a round between them, fewer than the 150 ms batches, each step’s events in order', async () => {
  const steps = 20;
  const events = 300; // each step: one a millisecond for 300 ms
  const writeMs = 10;
  const db = slowDatabase<{ step: number; events: NewRequestEvent[] }>(writeMs);
  const commit = new GroupCommit(db.writeGroup);
  const pushedAt = new Map<string, number>();
  const committedAt = new Map<string, number>();
  const batchers = Array.from(
    { length: steps },
    (_, step) =>
      new EventBatcher(async (batch) => {
        await commit.submit({ step, events: batch });
        for (const e of batch) committedAt.set(`${step}:${String(e.payload.n)}`, Date.now());
      }),
  );
  for (let n = 1; n <= events; n++) {
    for (const [step, batcher] of batchers.entries()) {
      pushedAt.set(`${step}:${n}`, Date.now());
      batcher.push({ kind: 'task_result', stepIndex: 0, taskId: `step${step}`, payload: { n } });
    }
    await vi.advanceTimersByTimeAsync(1);
  }
  const closing = Promise.all(batchers.map((b) => b.close()));
  await vi.runAllTimersAsync();
  expect(await closing).toEqual(batchers.map(() => true));

  // Every step's events, each once, in order.
  for (let step = 0; step < steps; step++) {
    const written = db.groups.flatMap((g) => g.items.filter((i) => i.step === step).flatMap((i) => i.events.map((e) => e.payload.n)));
    expect(written).toEqual(Array.from({ length: events }, (_, i) => i + 1));
  }
  // Back to back: one transaction a write's time, whatever the number of steps (a step whose
  // write just committed joins the next group rather than starting one ahead of the rest), and
  // the last, close()'s.
  expect(db.groups.length).toBeLessThanOrEqual(Math.ceil(events / writeMs) + 2);
  for (const [i, g] of db.groups.slice(1).entries()) expect(g.at - db.groups[i]!.at).toBe(writeMs);
  // Once every step has had its first write, each round holds a write of every step.
  for (const g of db.groups.slice(2, -1)) expect(new Set(g.items.map((i) => i.step)).size).toBe(steps);
  // The 150 ms batches: at least a transaction per 150 ms + a write per step.
  expect(db.groups.length).toBeLessThan(steps * Math.ceil(events / (150 + writeMs)));
  // push → committed: at most two writes (the one in flight, then its own) and the millisecond it
  // came in; three at the start, where the first step's first write went alone, idle.
  const waited = (from: number) => [...pushedAt].filter(([, at]) => at >= from).map(([key, at]) => committedAt.get(key)! - at);
  expect(Math.max(...waited(0))).toBeLessThanOrEqual(3 * writeMs);
  expect(Math.max(...waited(3 * writeMs))).toBeLessThanOrEqual(2 * writeMs + 1);
});
