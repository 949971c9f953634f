// How many playbook steps each agent of this worker process is running now; the agent registry
// reports it. Per agent, because one process may serve several (tests run three in one process).
const running = new Map<string, number>();

export const runningSteps = {
  count: (agent: string): number => running.get(agent) ?? 0,
  async track<T>(agent: string, work: () => Promise<T>): Promise<T> {
    running.set(agent, (running.get(agent) ?? 0) + 1);
    try {
      return await work();
    } finally {
      running.set(agent, (running.get(agent) ?? 1) - 1);
    }
  },
};
