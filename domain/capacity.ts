// Whether any agent of the fleet has room for one more playbook step, and if not, why not.
import type { CapacityCheck } from './request-state.js';

/** Each agent's own limits: a small board and a big NAS are judged differently. */
export interface CapacityThresholds {
  maxLoadPerCpu: number;
  minFreeMemoryPercent: number;
}

export interface AgentCapacity extends CapacityThresholds {
  id: string;
  cpuCount: number;
  loadAverage1: number;
  memoryFreeMb: number;
  memoryTotalMb: number;
  runningSteps: number;
  maxSteps: number;
}

/** Why this agent's machine is too loaded to start another playbook (by its own limits), or undefined. */
export function agentOverloadReason(agent: Omit<AgentCapacity, 'runningSteps' | 'maxSteps'>): string | undefined {
  const loadPerCpu = agent.loadAverage1 / Math.max(1, agent.cpuCount);
  if (loadPerCpu > agent.maxLoadPerCpu) return `${agent.id}: load ${loadPerCpu.toFixed(2)} per CPU is above ${agent.maxLoadPerCpu}`;
  const freePercent = (100 * agent.memoryFreeMb) / Math.max(1, agent.memoryTotalMb);
  if (freePercent < agent.minFreeMemoryPercent)
    return `${agent.id}: ${freePercent.toFixed(1)}% memory free is below ${agent.minFreeMemoryPercent}%`;
  return undefined;
}

/**
 * Whether a step can start now on the live agents that serve it (`agentName`'s agents, or any
 * agent of the shared queue for a step without one):
 * - an agent that is not overloaded and has a free slot: go;
 * - none overloaded-free: pause (load or memory; an operator may resume);
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
    const reason = agentOverloadReason(agent);
    if (reason) overloaded.push(reason);
    else if (agent.runningSteps >= agent.maxSteps) full.push(`${agent.id} runs ${agent.runningSteps}/${agent.maxSteps} steps`);
    else return { ok: true };
  }
  if (full.length > 0) return { ok: false, wait: 'queued', reason: `queued: ${full.join('; ')}` };
  return { ok: false, reason: `no agent has room: ${overloaded.join('; ')}` };
}
