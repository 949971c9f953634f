import { describe, expect, it } from 'vitest';
import { assessCapacity, type AgentCapacity } from '../../domain/capacity.js';

const idle: AgentCapacity = {
  id: 'nas:1',
  cpuCount: 4,
  loadAverage1: 1,
  memoryFreeMb: 8000,
  memoryTotalMb: 16000,
  runningSteps: 0,
  maxSteps: 4,
  maxLoadPerCpu: 2,
  minFreeMemoryPercent: 10,
};

describe('assessCapacity', () => {
  it('has room when any agent has room', () => {
    const busy = { ...idle, id: 'pi:2', loadAverage1: 12 };
    expect(assessCapacity([busy, idle])).toEqual({ ok: true });
  });

  it('pauses when every agent is overloaded, and says why: load, memory', () => {
    const result = assessCapacity([
      { ...idle, id: 'a', loadAverage1: 9 },
      { ...idle, id: 'b', memoryFreeMb: 800 },
    ]);
    expect(result).toEqual({ ok: false, reason: 'no agent has room: a: load 2.25 per CPU is above 2; b: 5.0% memory free is below 10%' });
  });

  it('queues (never pauses) a step when the agents are healthy but every slot is busy', () => {
    const result = assessCapacity([
      { ...idle, id: 'c', runningSteps: 4 },
      { ...idle, id: 'd', loadAverage1: 9 },
    ]);
    expect(result).toEqual({ ok: false, wait: 'queued', reason: 'queued: c runs 4/4 steps' });
  });

  it("lets a named agent's step wait while that agent is offline", () => {
    expect(assessCapacity([], 'nas')).toEqual({
      ok: false,
      wait: 'offline',
      reason: 'no worker is online for host nas; the step waits for it',
    });
    expect(assessCapacity([idle], 'nas')).toEqual({ ok: true });
  });

  it('judges each agent by its own limits (a small board pauses where a big NAS would not)', () => {
    const board = { ...idle, id: 'pi', cpuCount: 4, loadAverage1: 6, maxLoadPerCpu: 1 };
    expect(assessCapacity([board]).ok).toBe(false);
    expect(assessCapacity([{ ...board, maxLoadPerCpu: 2 }])).toEqual({ ok: true });
  });

  it('does not pause when the registry knows no agent', () => {
    expect(assessCapacity([])).toEqual({ ok: true });
  });
});
