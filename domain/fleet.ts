// The worker fleet's naming rules: which agent runs a step, and on which task queue. Pure (the
// workflow imports it to route steps).
import type { InventoryHost, PlanStep } from './types.js';

/** Inventory variable naming the agent that runs playbooks for a host (e.g. a host managed over SSH). */
export const AGENT_INVENTORY_VAR = 'chiffon_agent';

/** Agents report every 5 s: three missed reports and an agent counts as offline. */
export const AGENT_OFFLINE_AFTER_MS = 15_000;

/** Host and agent names travel in task queue names and `--limit`: letters, digits and `._:-` only. */
const NAME = /^[A-Za-z0-9_][A-Za-z0-9_.:-]{0,252}$/;

export function isValidAgentName(name: string): boolean {
  return NAME.test(name);
}

/**
 * The agent that runs steps for `host`: its `chiffon_agent` var, else `controller` (the agent of
 * the worker that plans: a repository managed over SSH from one machine runs on that machine).
 */
export function agentForHost(host: Pick<InventoryHost, 'vars'>, controller: string): string {
  const named = host.vars[AGENT_INVENTORY_VAR];
  return typeof named === 'string' && named.trim() ? named.trim() : controller;
}

/** The task queue an agent's steps are routed to, beside the shared orchestration queue. */
export function hostTaskQueue(orchestrationQueue: string, agent: string): string {
  return `${orchestrationQueue}-host-${agent}`;
}

export function isAgentOnline(lastSeenAt: Date, now: Date): boolean {
  return now.getTime() - lastSeenAt.getTime() <= AGENT_OFFLINE_AFTER_MS;
}

/** A step's `--limit`: `limit`, or `host` in plans made before steps carried `limit`. */
export function limitOf(step: Pick<PlanStep, 'limit' | 'host'>): string | undefined {
  return step.limit ?? step.host;
}
