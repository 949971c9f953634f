import { describe, expect, it } from 'vitest';
import { agentOverloadReason, agentPauseReason, assessCapacity, type AgentCapacity } from '../../domain/capacity.js';
import { loadConfig } from '../../lib/config.js';

// An agent on a kernel without pressure figures (the load average counts), running one step.
const busy: AgentCapacity = {
  id: 'nas:1',
  cpuCount: 4,
  loadAverage1: 1,
  memoryFreeMb: 8000,
  memoryTotalMb: 16000,
  runningSteps: 1,
  maxSteps: 4,
  maxLoadPerCpu: 2,
  minFreeMemoryPercent: 10,
  maxCpuPressure: 80,
  maxMemoryPressure: 40,
};
// The same with pressure figures, at ease.
const withPressure: AgentCapacity = { ...busy, cpuPressure10: 5, memoryPressure10: 0 };

describe('assessCapacity', () => {
  it('has room when any agent has room', () => {
    const loaded = { ...busy, id: 'pi:2', loadAverage1: 12 };
    expect(assessCapacity([loaded, busy])).toEqual({ ok: true });
  });

  it('pauses, the agents holding the step, when every agent is overloaded while it runs steps, and says why: load, memory', () => {
    const result = assessCapacity([
      { ...busy, id: 'a', loadAverage1: 9 },
      { ...busy, id: 'b', memoryFreeMb: 800, runningSteps: 2 },
    ]);
    expect(result).toEqual({
      ok: false,
      wait: 'overloaded',
      reason:
        'no agent has room: a: load 2.25 per CPU is above 2 while it runs 1 step; b: 5.0% memory free is below 10% while it runs 2 steps',
    });
  });

  it('queues (never pauses) a step when the agents are healthy but every slot is busy', () => {
    const result = assessCapacity([
      { ...busy, id: 'c', runningSteps: 4 },
      { ...busy, id: 'd', loadAverage1: 9 },
    ]);
    expect(result).toEqual({ ok: false, wait: 'queued', reason: 'queued: c runs 4/4 steps' });
  });

  it("lets a named agent's step wait while that agent is offline", () => {
    expect(assessCapacity([], 'nas')).toEqual({
      ok: false,
      wait: 'offline',
      reason: 'no worker is online for host nas; the step waits for it',
    });
    expect(assessCapacity([busy], 'nas')).toEqual({ ok: true });
  });

  it('judges each agent by its own limits (a small board pauses where a big NAS would not)', () => {
    const board = { ...busy, id: 'pi', cpuCount: 4, loadAverage1: 6, maxLoadPerCpu: 1 };
    expect(assessCapacity([board]).ok).toBe(false);
    expect(assessCapacity([{ ...board, maxLoadPerCpu: 2 }])).toEqual({ ok: true });
    const pressed = { ...withPressure, cpuPressure10: 70 };
    expect(assessCapacity([{ ...pressed, maxCpuPressure: 60 }]).ok).toBe(false);
    expect(assessCapacity([pressed])).toEqual({ ok: true });
  });

  it('does not pause when the registry knows no agent', () => {
    expect(assessCapacity([])).toEqual({ ok: true });
  });
});

describe('an idle agent is never held back', () => {
  const idle = { ...withPressure, runningSteps: 0 };

  it('goes with CPU pressure, memory pressure, load or low memory however high: the load is not its own', () => {
    for (const agent of [
      { ...idle, cpuPressure10: 100 },
      { ...idle, memoryPressure10: 99 },
      { ...busy, runningSteps: 0, loadAverage1: 400 },
      { ...idle, memoryFreeMb: 1 },
      { ...idle, cpuPressure10: 100, memoryPressure10: 100, loadAverage1: 400, memoryFreeMb: 0 },
    ]) {
      expect(agentOverloadReason(agent)).toBeDefined(); // overloaded by its limits...
      expect(agentPauseReason(agent)).toBeUndefined(); // ...but the step is the only work it could do
      expect(assessCapacity([agent])).toEqual({ ok: true });
      expect(assessCapacity([agent], 'nas')).toEqual({ ok: true });
    }
  });

  it('pauses the same machine once it runs a step of its own', () => {
    const loaded = { ...idle, cpuPressure10: 95 };
    expect(assessCapacity([{ ...loaded, runningSteps: 1 }])).toEqual({
      ok: false,
      wait: 'overloaded',
      reason: 'no agent has room: nas:1: CPU pressure 95% (some avg10) is above 80% while it runs 1 step',
    });
  });

  it('takes a step for the shared queue on the idle agent when the others are overloaded', () => {
    expect(
      assessCapacity([
        { ...withPressure, id: 'a', cpuPressure10: 99 },
        { ...idle, id: 'b', cpuPressure10: 99 },
      ]),
    ).toEqual({ ok: true });
  });
});

describe('pressure before the load average', () => {
  it('uses CPU pressure where the kernel has it, whatever the load average says', () => {
    // The fault: a load average still high a minute after the load is gone, pressure back to ~0.
    const after = { ...withPressure, loadAverage1: 40, cpuPressure10: 0.5 };
    expect(agentOverloadReason(after)).toBeUndefined();
    expect(assessCapacity([after])).toEqual({ ok: true });
    // And the other way: pressure high with a low load average is overloaded.
    const now = { ...withPressure, loadAverage1: 0.5, cpuPressure10: 92.345 };
    expect(agentOverloadReason(now)).toBe('nas:1: CPU pressure 92.3% (some avg10) is above 80%');
  });

  it('falls back to the load average where there is no CPU pressure (null or absent)', () => {
    for (const agent of [
      { ...busy, loadAverage1: 9 },
      { ...busy, loadAverage1: 9, cpuPressure10: null },
    ]) {
      expect(agentOverloadReason(agent)).toBe('nas:1: load 2.25 per CPU is above 2');
    }
    expect(agentOverloadReason({ ...busy, loadAverage1: 7, cpuPressure10: null })).toBeUndefined();
  });

  it('counts memory pressure where known, beside the free memory', () => {
    expect(agentOverloadReason({ ...withPressure, memoryPressure10: 41 })).toBe('nas:1: memory pressure 41% (some avg10) is above 40%');
    expect(agentOverloadReason({ ...withPressure, memoryPressure10: null, memoryFreeMb: 800 })).toBe(
      'nas:1: 5.0% memory free is below 10%',
    );
    expect(agentOverloadReason({ ...withPressure, memoryPressure10: 40 })).toBeUndefined(); // at the limit is not above it
  });
});

describe('the pressure limits (CHIFFON_MAX_CPU_PRESSURE, CHIFFON_MAX_MEMORY_PRESSURE)', () => {
  it('default to 80% and 40% (some avg10)', () => {
    expect(loadConfig({})).toMatchObject({ maxCpuPressure: 80, maxMemoryPressure: 40 });
    expect(loadConfig({ CHIFFON_MAX_CPU_PRESSURE: '65.5', CHIFFON_MAX_MEMORY_PRESSURE: '0' })).toMatchObject({
      maxCpuPressure: 65.5,
      maxMemoryPressure: 0,
    });
    expect(loadConfig({ CHIFFON_MAX_CPU_PRESSURE: '100' }).maxCpuPressure).toBe(100);
  });

  it('refuse what is not a percentage', () => {
    for (const value of ['101', '-1', 'lots', '80%', 'Infinity']) {
      expect(() => loadConfig({ CHIFFON_MAX_CPU_PRESSURE: value })).toThrow(/CHIFFON_MAX_CPU_PRESSURE/);
      expect(() => loadConfig({ CHIFFON_MAX_MEMORY_PRESSURE: value })).toThrow(/CHIFFON_MAX_MEMORY_PRESSURE/);
    }
  });
});
