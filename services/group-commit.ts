// Group commit: the small writes of many writers, one transaction at a time for all of them (as
// PostgreSQL does with its WAL). An item submitted while no write is in flight is written at once,
// alone; every item submitted during a write goes in the next one, started as soon as it ends. Idle,
// nothing waits; under load, a round costs one transaction whatever the number of writers, and the
// busier the database (the longer a write takes), the more each one carries.

export interface GroupCommitOptions<T> {
  /** A group grows (by sizeOf its items) up to this; the rest goes in the next. A group holds at least one item. */
  maxSize?: number;
  sizeOf?: (item: T) => number;
}

interface Submitted<T, R> {
  item: T;
  resolve: (result: R) => void;
  reject: (err: unknown) => void;
}

export class GroupCommit<T, R> {
  private queue: Submitted<T, R>[] = [];
  /** A group is in flight, or the next one is about to start. */
  private running = false;
  private readonly maxSize: number;
  private readonly sizeOf: (item: T) => number;

  /** `writeGroup` writes its items in one transaction and resolves with each one's result, in order. */
  constructor(
    private readonly writeGroup: (items: T[]) => Promise<R[]>,
    options: GroupCommitOptions<T> = {},
  ) {
    this.maxSize = options.maxSize ?? Number.POSITIVE_INFINITY;
    this.sizeOf = options.sizeOf ?? (() => 1);
  }

  /** Resolves with the item's result once its group has committed; rejects with what failed it. */
  submit(item: T): Promise<R> {
    const result = new Promise<R>((resolve, reject) => this.queue.push({ item, resolve, reject }));
    if (!this.running) void this.run();
    return result;
  }

  private async run(): Promise<void> {
    this.running = true;
    try {
      while (this.queue.length > 0) {
        await this.commit(this.take());
        // A writer whose write just committed submits its next (what came meanwhile) in a
        // microtask: a tick queued from a microtask runs once they have all run, so that those
        // writes share the next group rather than the first of them starting one ahead of the rest.
        await new Promise((resolve) => process.nextTick(resolve));
      }
    } finally {
      this.running = false;
    }
  }

  private take(): Submitted<T, R>[] {
    let size = this.sizeOf(this.queue[0]!.item);
    let n = 1;
    while (n < this.queue.length && size + this.sizeOf(this.queue[n]!.item) <= this.maxSize) size += this.sizeOf(this.queue[n++]!.item);
    return this.queue.splice(0, n);
  }

  private async commit(group: Submitted<T, R>[]): Promise<void> {
    try {
      const results = await this.write(group.map((s) => s.item));
      group.forEach((s, i) => s.resolve(results[i]!));
    } catch (err) {
      if (group.length === 1) return group[0]!.reject(err);
      // One item may be the cause (one the database refuses): each in a transaction of its own,
      // side by side, so that it fails alone and the others are written.
      await Promise.all(group.map((s) => this.write([s.item]).then((results) => s.resolve(results[0]!), s.reject)));
    }
  }

  /** writeGroup, a synchronous throw included, as a promise. */
  private async write(items: T[]): Promise<R[]> {
    return this.writeGroup(items);
  }
}
