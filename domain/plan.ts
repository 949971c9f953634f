// Turns intents into an ordered plan of playbook runs with every required variable filled,
// from the inventory (e.g. the existing portals) or the playbook's defaults.
import { agentForHost } from './fleet.js';
import { hostsInGroup, resolveHostPattern } from './inventory.js';
import { isSecretVar } from './redaction.js';
import type { Catalog, Intent, Inventory, Plan, PlanStep, PlaybookEntry } from './types.js';

/** A plan before its fingerprint is read from disk (see activities/planning.ts). */
export type PlannedSteps = Omit<Plan, 'fingerprint' | 'hash'>;

export type PlanResult =
  | { ok: true; plan: PlannedSteps }
  | { ok: false; message: string; missingVars: { playbook: string; vars: string[] }[] };

/** Values a person supplied for variables the plan could not fill: playbook path → var → value. */
export type SuppliedVars = Record<string, Record<string, unknown>>;

export interface PlanIds {
  planId: string;
  /** Returns a fresh task id for each step. */
  newTaskId: () => string;
}

/** Orders playbooks so each runs after the ones its metadata lists in `after`; otherwise request order. */
export function orderByDependencies(playbooks: PlaybookEntry[]): PlaybookEntry[] {
  const inPlan = new Set(playbooks.map((p) => p.path));
  const ordered: PlaybookEntry[] = [];
  const placed = new Set<string>();
  const visiting = new Set<string>();
  const byPath = new Map(playbooks.map((p) => [p.path, p]));
  const visit = (playbook: PlaybookEntry): void => {
    if (placed.has(playbook.path)) return;
    if (visiting.has(playbook.path)) throw new Error(`playbook dependency cycle through ${playbook.path}`);
    visiting.add(playbook.path);
    for (const dependency of playbook.after) {
      const before = byPath.get(dependency);
      if (before && inPlan.has(dependency)) visit(before);
    }
    visiting.delete(playbook.path);
    placed.add(playbook.path);
    ordered.push(playbook);
  };
  playbooks.forEach(visit);
  return ordered;
}

/** An inventory group as a list of `{name, ...hostVars}`, without Ansible's connection variables. */
function groupAsList(inventory: Inventory, group: string): Record<string, unknown>[] {
  return hostsInGroup(inventory, group).map((host) => {
    const vars = Object.fromEntries(Object.entries(host.vars).filter(([key]) => !key.startsWith('ansible_')));
    return { name: host.name, ...vars };
  });
}

function fillVars(playbook: PlaybookEntry, inventory: Inventory, supplied: Record<string, unknown>) {
  const vars: Record<string, unknown> = {};
  const varSources: Record<string, string> = {};
  const missing: string[] = [];
  for (const spec of playbook.vars) {
    if (spec.name in supplied) {
      vars[spec.name] = supplied[spec.name];
      varSources[spec.name] = 'input';
      continue;
    }
    if (spec.fromInventoryGroup) {
      const members = groupAsList(inventory, spec.fromInventoryGroup);
      if (members.length > 0 || !spec.required) {
        vars[spec.name] = members;
        varSources[spec.name] = `inventory:${spec.fromInventoryGroup}`;
        continue;
      }
    }
    if (spec.default !== undefined) {
      vars[spec.name] = spec.default;
      varSources[spec.name] = 'default';
    } else if (spec.required) {
      missing.push(spec.name);
    }
  }
  return { vars, varSources, missing };
}

/**
 * One step per inventory host the playbook's plays target, each run by that host's agent: the
 * fleet spreads a playbook over the hosts that serve it. A playbook whose pattern matches no
 * inventory host (or that names none) is one step, run by any worker of the shared queue.
 */
function targetsOf(playbook: PlaybookEntry, inventory: Inventory): { host?: string; agent?: string }[] {
  const hosts = playbook.hosts ? resolveHostPattern(inventory, playbook.hosts) : [];
  if (hosts.length === 0) return [{}];
  return hosts.map((name) => ({ host: name, agent: agentForHost(inventory.hosts.find((h) => h.name === name) ?? { name, vars: {} }) }));
}

export function planRequest(intents: Intent[], catalog: Catalog, inventory: Inventory, ids: PlanIds, supplied: SuppliedVars = {}): PlanResult {
  const byPath = new Map(catalog.playbooks.map((p) => [p.path, p]));
  // Several intents may be served by one playbook: it runs once.
  const playbooks: PlaybookEntry[] = [];
  for (const intent of intents) {
    const playbook = byPath.get(intent.playbook);
    if (!playbook) return { ok: false, message: `playbook ${intent.playbook} is not in the catalog`, missingVars: [] };
    if (!playbooks.includes(playbook)) playbooks.push(playbook);
  }

  const steps: PlanStep[] = [];
  const missingVars: { playbook: string; vars: string[] }[] = [];
  for (const playbook of orderByDependencies(playbooks)) {
    const { vars, varSources, missing } = fillVars(playbook, inventory, supplied[playbook.path] ?? {});
    if (missing.length > 0) missingVars.push({ playbook: playbook.path, vars: missing });
    const intent = intents.find((i) => i.playbook === playbook.path);
    const secretVars = Object.keys(vars).filter((name) => isSecretVar(name, playbook.vars));
    for (const target of targetsOf(playbook, inventory)) {
      steps.push({
        index: steps.length,
        taskId: ids.newTaskId(),
        playbook: playbook.path,
        service: playbook.service,
        intent: intent?.name ?? '',
        vars,
        varSources,
        secretVars,
        ...target,
      });
    }
  }
  if (missingVars.length > 0) {
    const list = missingVars.map((m) => `${m.playbook}: ${m.vars.join(', ')}`).join('; ');
    return { ok: false, message: `required variables have no value: ${list}`, missingVars };
  }
  return { ok: true, plan: { planId: ids.planId, steps } };
}
