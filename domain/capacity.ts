// Whether any agent of the fleet has room for one more playbook step, and if not, why not.
import type { CapacityCheck } from './request-state.js';

/** Each agent's own limits: a small board and a big NAS are judged differently. */
export interface CapacityThresholds {
  /** Used only where the kernel reports no CPU pressure: the 1-minute load average per CPU. */
  maxLoadPerCpu: number;
  minFreeMemoryPercent: number;
  /** CPU pressure (PSI "some avg10", % of time some task waited for a CPU) above which the agent is overloaded. */
  maxCpuPressure: number;
  /** Memory pressure (PSI "some avg10", % of time some task stalled on memory) above which it is overloaded. */
  maxMemoryPressure: number;
}

/** What an agent's machine goes through now, as its reporter last read it. */
export interface MachineFigures {
  cpuCount: number;
  loadAverage1: number;
  memoryFreeMb: number;
  memoryTotalMb: number;
  /** /proc/pressure/cpu "some avg10"; null or absent where the kernel has no pressure figures. */
  cpuPressure10?: number | null;
  /** /proc/pressure/memory "some avg10"; null or absent where the kernel has no pressure figures. */
  memoryPressure10?: number | null;
}

export interface AgentCapacity extends CapacityThresholds, MachineFigures {
  id: string;
  runningSteps: number;
  maxSteps: number;
}

const percent = (value: number) => `${Number(value.toFixed(1))}%`;

/**
 * Why this agent's machine is too loaded to start another playbook (by its own limits), or
 * undefined. CPU: the kernel's pressure figure where it has one, which follows the load within
 * seconds; the 1-minute load average only where it has none (it keeps saying "overloaded" for a
 * minute after the load is gone). Memory: its pressure where known, and the available memory.
 */
export function agentOverloadReason(agent: Omit<AgentCapacity, 'runningSteps' | 'maxSteps'>): string | undefined {
  if (agent.cpuPressure10 !== null && agent.cpuPressure10 !== undefined) {
    if (agent.cpuPressure10 > agent.maxCpuPressure)
      return `${agent.id}: CPU pressure ${percent(agent.cpuPressure10)} (some avg10) is above ${agent.maxCpuPressure}%`;
  } else {
    const loadPerCpu = agent.loadAverage1 / Math.max(1, agent.cpuCount);
    if (loadPerCpu > agent.maxLoadPerCpu) return `${agent.id}: load ${loadPerCpu.toFixed(2)} per CPU is above ${agent.maxLoadPerCpu}`;
  }
  if (agent.memoryPressure10 !== null && agent.memoryPressure10 !== undefined && agent.memoryPressure10 > agent.maxMemoryPressure)
    return `${agent.id}: memory pressure ${percent(agent.memoryPressure10)} (some avg10) is above ${agent.maxMemoryPressure}%`;
  const freePercent = (100 * agent.memoryFreeMb) / Math.max(1, agent.memoryTotalMb);
  if (freePercent < agent.minFreeMemoryPercent)
    return `${agent.id}: ${freePercent.toFixed(1)}% memory free is below ${agent.minFreeMemoryPercent}%`;
  return undefined;
}

/**
 * Why a step for this agent pauses now, or undefined when it may go (or queue). Only an overloaded
 * agent that runs steps of its own pauses more: those steps end, and the machine gets its breath
 * back. An agent that runs no step is never held back, however loaded: the load is not Chiffon's,
 * pausing would not lift it, and the step it is offered is the only work it could do (held back,
 * the machine would sit idle while requests wait for it, as long as the neighbours keep it busy).
 */
export function agentPauseReason(agent: AgentCapacity): string | undefined {
  if (agent.runningSteps === 0) return undefined;
  const overload = agentOverloadReason(agent);
  return overload && `${overload} while it runs ${agent.runningSteps} step${agent.runningSteps === 1 ? '' : 's'}`;
}

/**
 * Whether a step can start now on the live agents that serve it (`agentName`'s agents, or any
 * agent of the shared queue for a step without one):
 * - an agent that runs no step, or is not overloaded and has a free slot: go;
 * - every agent overloaded while it runs steps: the request pauses and the step goes to the agent,
 *   which holds it until it has room again (services/running-steps.ts); an operator may resume;
 * - all slots busy: wait in the task queue, where Temporal hands the step to the first free slot;
 * - the step's agent offline: wait in its task queue until it is back.
 * With no live agent and no agent named there is nothing to judge by: go, and the step waits in
 * the shared queue for whichever worker polls first.
 */
export function assessCapacity(agents: AgentCapacity[], agentName?: string): CapacityCheck {
  if (agents.length === 0) {
    if (!agentName) return { ok: true };
    return { ok: false, wait: 'offline', reason: `no worker is online for host ${agentName}; the step waits for it` };
  }
  const overloaded: string[] = [];
  const full: string[] = [];
  for (const agent of agents) {
    const reason = agentPauseReason(agent);
    if (reason) overloaded.push(reason);
    else if (agent.runningSteps >= agent.maxSteps) full.push(`${agent.id} runs ${agent.runningSteps}/${agent.maxSteps} steps`);
    else return { ok: true };
  }
  if (full.length > 0) return { ok: false, wait: 'queued', reason: `queued: ${full.join('; ')}` };
  return { ok: false, wait: 'overloaded', reason: `no agent has room: ${overloaded.join('; ')}` };
}
