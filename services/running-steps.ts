// How many playbook steps each agent of this worker process is running now; the agent registry
// reports it. Per agent, because one process may serve several (tests run three in one process).
//
// A step may also be held here until its agent has room (StepHold): the agent itself, which sees
// its own steps end the moment they end, starts a held step then, with no round trip through the
// workflow, so an agent never sits idle while a step waits for it.
const running = new Map<string, number>();

type Listener = (agent: string, count: number) => void;
const listeners = new Set<Listener>();

/** How a step waits for room on its agent before it starts. */
export interface StepHold {
  /** Why the agent cannot start one more step while it runs `running` steps; undefined: it can. */
  blockedBy(running: number): string | undefined;
  /** Whether someone lifted the hold (an operator resumed the request); asked at every re-check. */
  lifted?(): Promise<boolean>;
  /** Called once, when the step starts to wait, with the reason. */
  onHold?(reason: string): void;
  /** Aborting gives up the wait (the step was cancelled): track() rejects with the signal's reason. */
  signal?: AbortSignal;
  /** How often the machine and `lifted` are read again while the step waits (default 1 s). */
  recheckMs?: number;
}

interface Waiter {
  hold: StepHold;
  /** Counts the step as running (synchronously, so the next waiter sees it) and lets it go. */
  admit(): void;
}

/** Steps waiting for room, per agent, in the order they came. */
const waiting = new Map<string, Waiter[]>();

function set(agent: string, count: number): void {
  running.set(agent, count);
  for (const listener of listeners) {
    try {
      listener(agent, count);
    } catch {
      // a listener's trouble is its own: the step goes on
    }
  }
}

/** Starts every waiting step of `agent` that has room now, in order; each one started counts for the next. */
function admitWaiting(agent: string): void {
  for (const waiter of [...(waiting.get(agent) ?? [])]) {
    if (waiter.hold.blockedBy(running.get(agent) ?? 0) === undefined) waiter.admit();
  }
}

/** Resolves once `agent` has room for the step (or its hold is lifted); the step then counts as running. */
function waitForRoom(agent: string, hold: StepHold): Promise<void> {
  const reason = hold.blockedBy(running.get(agent) ?? 0);
  if (reason === undefined) {
    set(agent, (running.get(agent) ?? 0) + 1);
    return Promise.resolve();
  }
  hold.signal?.throwIfAborted();
  hold.onHold?.(reason);
  return new Promise<void>((resolve, reject) => {
    const queue = waiting.get(agent) ?? [];
    waiting.set(agent, queue);
    let timer: NodeJS.Timeout | undefined;
    const leave = () => {
      clearTimeout(timer);
      hold.signal?.removeEventListener('abort', abort);
      const at = queue.indexOf(waiter);
      if (at >= 0) queue.splice(at, 1);
      if (queue.length === 0 && waiting.get(agent) === queue) waiting.delete(agent);
    };
    const waiter: Waiter = {
      hold,
      admit() {
        leave();
        set(agent, (running.get(agent) ?? 0) + 1);
        resolve();
      },
    };
    const abort = () => {
      leave();
      reject(hold.signal?.reason);
    };
    // The machine's figures change without any step ending (a neighbour's load passes): read again.
    const recheck = () => {
      timer = setTimeout(() => {
        if (!queue.includes(waiter)) return;
        if (hold.blockedBy(running.get(agent) ?? 0) === undefined) return waiter.admit();
        void (hold.lifted?.() ?? Promise.resolve(false))
          .catch(() => false)
          .then((lifted) => {
            if (!queue.includes(waiter)) return;
            if (lifted) waiter.admit();
            else recheck();
          });
      }, hold.recheckMs ?? 1_000);
    };
    queue.push(waiter);
    hold.signal?.addEventListener('abort', abort, { once: true });
    recheck();
  });
}

export const runningSteps = {
  count: (agent: string): number => running.get(agent) ?? 0,
  /** Steps of `agent` waiting for room now. */
  held: (agent: string): number => waiting.get(agent)?.length ?? 0,
  /**
   * Runs `work` as a running step of `agent`. With a hold, first waits until the agent has room by
   * it (checked again whenever one of the agent's steps ends, and every `recheckMs`).
   */
  async track<T>(agent: string, work: () => Promise<T>, hold?: StepHold): Promise<T> {
    if (hold) await waitForRoom(agent, hold);
    else set(agent, (running.get(agent) ?? 0) + 1);
    try {
      return await work();
    } finally {
      set(agent, (running.get(agent) ?? 1) - 1);
      admitWaiting(agent);
    }
  },
  /**
   * Calls `listener` (synchronously) whenever a step of any agent starts or ends, with that agent's
   * new count: the agent reporter reports at once, so a step's end that frees its agent wakes the
   * requests paused for it without waiting for the next report. Returns the unsubscribe.
   */
  onChange(listener: Listener): () => void {
    listeners.add(listener);
    return () => listeners.delete(listener);
  },
};
