// How many playbook steps each agent of this worker process is running now; the agent registry
// reports it. Per agent, because one process may serve several (tests run three in one process).
const running = new Map<string, number>();

type Listener = (agent: string, count: number) => void;
const listeners = new Set<Listener>();

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

export const runningSteps = {
  count: (agent: string): number => running.get(agent) ?? 0,
  async track<T>(agent: string, work: () => Promise<T>): Promise<T> {
    set(agent, (running.get(agent) ?? 0) + 1);
    try {
      return await work();
    } finally {
      set(agent, (running.get(agent) ?? 1) - 1);
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
