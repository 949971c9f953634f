// How many playbook steps this worker process is running now; the agent registry reports it.
let running = 0;

export const runningSteps = {
  count: (): number => running,
  async track<T>(work: () => Promise<T>): Promise<T> {
    running += 1;
    try {
      return await work();
    } finally {
      running -= 1;
    }
  },
};
