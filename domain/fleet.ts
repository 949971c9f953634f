// The worker fleet's naming rules: which agent runs a step, and on which task queue. Pure (the
// workflow imports it to route steps).
import type { InventoryHost } from './types.js';

/** Inventory variable naming the agent that runs playbooks for a host (e.g. a host managed over SSH). */
export const AGENT_INVENTORY_VAR = 'chiffon_agent';

/** Agents report every 5 s: three missed reports and an agent counts as offline. */
export const AGENT_OFFLINE_AFTER_MS = 15_000;

/** Host and agent names travel in task queue names and `--limit`: letters, digits and `._:-` only. */
const NAME = /^[A-Za-z0-9_][A-Za-z0-9_.:-]{0,252}$/;

export function isValidAgentName(name: string): boolean {
  return NAME.test(name);
}

/** The agent that runs steps for `host`: its `chiffon_agent` var, else the host itself. */
export function agentForHost(host: Pick<InventoryHost, 'name' | 'vars'>): string {
  const named = host.vars[AGENT_INVENTORY_VAR];
  return typeof named === 'string' && named.trim() ? named.trim() : host.name;
}

/** The task queue an agent's steps are routed to, beside the shared orchestration queue. */
export function hostTaskQueue(orchestrationQueue: string, agent: string): string {
  return `${orchestrationQueue}-host-${agent}`;
}

export function isAgentOnline(lastSeenAt: Date, now: Date): boolean {
  return now.getTime() - lastSeenAt.getTime() <= AGENT_OFFLINE_AFTER_MS;
}
