// Whether any agent of the fleet has room for one more playbook step, and if not, why not.
import type { CapacityCheck } from './request-state.js';

export interface AgentCapacity {
  id: string;
  cpuCount: number;
  loadAverage1: number;
  memoryFreeMb: number;
  memoryTotalMb: number;
  runningSteps: number;
  maxSteps: number;
}

export interface CapacityThresholds {
  maxLoadPerCpu: number;
  minFreeMemoryPercent: number;
}

/** Why this agent cannot take a step now, or undefined when it can. */
export function agentBusyReason(agent: AgentCapacity, limits: CapacityThresholds): string | undefined {
  const loadPerCpu = agent.loadAverage1 / Math.max(1, agent.cpuCount);
  if (loadPerCpu > limits.maxLoadPerCpu) return `${agent.id}: load ${loadPerCpu.toFixed(2)} per CPU is above ${limits.maxLoadPerCpu}`;
  const freePercent = (100 * agent.memoryFreeMb) / Math.max(1, agent.memoryTotalMb);
  if (freePercent < limits.minFreeMemoryPercent) return `${agent.id}: ${freePercent.toFixed(1)}% memory free is below ${limits.minFreeMemoryPercent}%`;
  if (agent.runningSteps >= agent.maxSteps) return `${agent.id}: already runs ${agent.runningSteps}/${agent.maxSteps} steps`;
  return undefined;
}

/**
 * Any live agent with room is enough: the step goes to whichever worker polls first. With no live
 * agent in the registry there is nothing to judge by, and the step simply waits in the task queue.
 */
export function assessCapacity(agents: AgentCapacity[], limits: CapacityThresholds): CapacityCheck {
  if (agents.length === 0) return { ok: true };
  const reasons: string[] = [];
  for (const agent of agents) {
    const reason = agentBusyReason(agent, limits);
    if (!reason) return { ok: true };
    reasons.push(reason);
  }
  return { ok: false, reason: `no agent has room: ${reasons.join('; ')}` };
}
