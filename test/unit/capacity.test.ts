import { describe, expect, it } from 'vitest';
import { assessCapacity, type AgentCapacity } from '../../domain/capacity.js';

const limits = { maxLoadPerCpu: 2, minFreeMemoryPercent: 10 };
const idle: AgentCapacity = { id: 'nas:1', cpuCount: 4, loadAverage1: 1, memoryFreeMb: 8000, memoryTotalMb: 16000, runningSteps: 0, maxSteps: 4 };

describe('assessCapacity', () => {
  it('has room when any agent has room', () => {
    const busy = { ...idle, id: 'pi:2', loadAverage1: 12 };
    expect(assessCapacity([busy, idle], limits)).toEqual({ ok: true });
  });

  it('says why every agent is busy: load, memory, steps', () => {
    const result = assessCapacity(
      [
        { ...idle, id: 'a', loadAverage1: 9 },
        { ...idle, id: 'b', memoryFreeMb: 800 },
        { ...idle, id: 'c', runningSteps: 4 },
      ],
      limits,
    );
    expect(result.ok).toBe(false);
    expect(result.reason).toBe(
      'no agent has room: a: load 2.25 per CPU is above 2; b: 5.0% memory free is below 10%; c: already runs 4/4 steps',
    );
  });

  it('does not pause when the registry knows no agent', () => {
    expect(assessCapacity([], limits)).toEqual({ ok: true });
  });
});
