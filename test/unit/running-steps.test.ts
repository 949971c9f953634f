// The per-agent count of running steps, and a step held until its agent has room: it starts in the
// very call that ends the step before it (the agent is never idle while a step waits for it), when
// a re-check finds room, or when its hold is lifted; a cancel gives up the wait.
import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { runningSteps, type StepHold } from '../../services/running-steps.js';

/** A step of `agent` that runs until the test ends it. */
function openStep(agent: string, hold?: StepHold) {
  let end!: () => void;
  let started = false;
  const done = runningSteps.track(
    agent,
    () =>
      new Promise<void>((resolve) => {
        started = true;
        end = resolve;
      }),
    hold,
  );
  return { done, started: () => started, end: () => end() };
}

/** Busy (held back) while the agent runs `limit` steps or more. */
const busyFrom = (limit: number, reasons: string[] = []): StepHold => ({
  blockedBy: (running) => (running >= limit ? `runs ${running}` : undefined),
  onHold: (reason) => reasons.push(reason),
});

describe('runningSteps', () => {
  let agent: string;
  beforeEach(() => {
    agent = `agent-${randomBytes(4).toString('hex')}`;
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('counts the steps of each agent while they run', async () => {
    const a = openStep(agent);
    const b = openStep(agent);
    expect(runningSteps.count(agent)).toBe(2);
    expect(runningSteps.count(`${agent}-other`)).toBe(0);
    a.end();
    await a.done;
    expect(runningSteps.count(agent)).toBe(1);
    b.end();
    await b.done;
    expect(runningSteps.count(agent)).toBe(0);
  });

  it('starts a step with a hold at once when the agent has room', async () => {
    const reasons: string[] = [];
    const step = openStep(agent, busyFrom(1, reasons));
    await vi.waitFor(() => expect(step.started()).toBe(true));
    expect(reasons).toEqual([]);
    expect(runningSteps.count(agent)).toBe(1);
    step.end();
    await step.done;
  });

  it('holds a step while the agent is busy, and starts it in the same call that ends the step before it', async () => {
    const counts: number[] = [];
    const stop = runningSteps.onChange((changed, count) => changed === agent && counts.push(count));
    const first = openStep(agent);
    const reasons: string[] = [];
    const held = openStep(agent, busyFrom(1, reasons));
    await Promise.resolve();
    expect(held.started()).toBe(false);
    expect(reasons).toEqual(['runs 1']);
    expect(runningSteps.held(agent)).toBe(1);

    first.end();
    await first.done;
    // The held step counted as running before anything else could see the agent idle.
    expect(runningSteps.count(agent)).toBe(1);
    expect(runningSteps.held(agent)).toBe(0);
    await vi.waitFor(() => expect(held.started()).toBe(true));
    expect(counts).toEqual([1, 0, 1]);
    held.end();
    await held.done;
    stop();
  });

  it('starts held steps one by one, in order, each counting for the next', async () => {
    const first = openStep(agent);
    const second = openStep(agent, busyFrom(1));
    const third = openStep(agent, busyFrom(1));
    first.end();
    await first.done;
    await vi.waitFor(() => expect(second.started()).toBe(true));
    expect(third.started()).toBe(false);
    expect(runningSteps.count(agent)).toBe(1);
    second.end();
    await second.done;
    await vi.waitFor(() => expect(third.started()).toBe(true));
    third.end();
    await third.done;
    expect(runningSteps.count(agent)).toBe(0);
  });

  it('reads the machine again while a step is held: room found at a re-check starts it', async () => {
    vi.useFakeTimers();
    let overloaded = true;
    const first = openStep(agent);
    const held = openStep(agent, { blockedBy: () => (overloaded ? 'overloaded' : undefined), recheckMs: 500 });
    await vi.advanceTimersByTimeAsync(1_600);
    expect(held.started()).toBe(false);
    overloaded = false; // a neighbour's load passed; the first step still runs
    await vi.advanceTimersByTimeAsync(500);
    expect(held.started()).toBe(true);
    expect(runningSteps.count(agent)).toBe(2);
    first.end();
    held.end();
    await Promise.all([first.done, held.done]);
  });

  it('starts a held step once its hold is lifted, however loaded the agent', async () => {
    vi.useFakeTimers();
    let lifted = false;
    const asked: number[] = [];
    const first = openStep(agent);
    const held = openStep(agent, {
      blockedBy: () => 'overloaded',
      lifted: async () => {
        asked.push(Date.now());
        return lifted;
      },
      recheckMs: 1_000,
    });
    await vi.advanceTimersByTimeAsync(2_000);
    expect(asked).toHaveLength(2);
    expect(held.started()).toBe(false);
    lifted = true;
    await vi.advanceTimersByTimeAsync(1_000);
    expect(held.started()).toBe(true);
    first.end();
    held.end();
    await Promise.all([first.done, held.done]);
  });

  it('gives up the wait when the step is cancelled, and the steps behind it go on', async () => {
    const first = openStep(agent);
    const controller = new AbortController();
    const cancelled = openStep(agent, { ...busyFrom(1), signal: controller.signal });
    const next = openStep(agent, busyFrom(1));
    controller.abort(new Error('cancelled by bob'));
    await expect(cancelled.done).rejects.toThrow('cancelled by bob');
    expect(cancelled.started()).toBe(false);
    expect(runningSteps.held(agent)).toBe(1);
    first.end();
    await first.done;
    await vi.waitFor(() => expect(next.started()).toBe(true));
    next.end();
    await next.done;
    expect(runningSteps.count(agent)).toBe(0);
  });
});
