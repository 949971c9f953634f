// Turns intents into an ordered plan of playbook runs, each the command line the repository's
// owner would type: the playbook, `--tags` and switch vars that select what was asked for,
// `--limit` for the hosts the request names, and every required variable filled from the input,
// the inventory or the playbook's defaults.
//
// Intents of one request that select the same playbook for the same hosts merge into one run
// (two roles of a site playbook: both tags, both switches); runs of different playbooks keep their
// `after` order. A run is split only by the agent that must run it (hosts with `chiffon_agent`),
// and never when its plays coordinate their hosts (run_once, groups[...]): then it is one step.
import { agentForHost } from './fleet.js';
import { hostsInGroup, resolveHostPattern } from './inventory.js';
import { isSecretVar } from './redaction.js';
import { describeInventoryNames, scopeOfClause, type Scope } from './scope.js';
import type { Catalog, Intent, Inventory, Plan, PlanStep, PlaybookEntry, PlaybookVar } from './types.js';

/** A plan before its fingerprint is read from disk (see activities/planning.ts). */
export type PlannedSteps = Omit<Plan, 'fingerprint' | 'hash'>;

export type PlanResult =
  { ok: true; plan: PlannedSteps } | { ok: false; message: string; missingVars: { playbook: string; vars: string[] }[] };

/** Values a person supplied for variables the plan could not fill: playbook path → var → value. */
export type SuppliedVars = Record<string, Record<string, unknown>>;

export interface PlanIds {
  planId: string;
  /** Returns a fresh task id for each step. */
  newTaskId: () => string;
}

export interface PlanContext {
  /** The agent of the worker that plans: it runs the steps of hosts without a `chiffon_agent`. */
  controllerAgent: string;
}

/** Orders playbooks so each runs after the ones its metadata lists in `after`; otherwise request order. */
export function orderByDependencies<T extends Pick<PlaybookEntry, 'path' | 'after'>>(playbooks: T[]): T[] {
  const inPlan = new Set(playbooks.map((p) => p.path));
  const ordered: T[] = [];
  const placed = new Set<string>();
  const visiting = new Set<string>();
  const byPath = new Map(playbooks.map((p) => [p.path, p]));
  const visit = (playbook: T): void => {
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

interface FilledVars {
  vars: Record<string, unknown>;
  varSources: Record<string, string>;
  missing: string[];
}

/**
 * The values of `specs`: supplied input first, then an inventory group, then the default. A required
 * var that every target host already has (group_vars, host_vars, vault) is left to Ansible.
 */
function fillVars(
  specs: PlaybookVar[],
  inventory: Inventory,
  supplied: Record<string, unknown>,
  targets: string[],
  into: FilledVars,
): void {
  const targetHosts = inventory.hosts.filter((h) => targets.includes(h.name));
  for (const spec of specs) {
    if (spec.name in into.vars || into.missing.includes(spec.name)) continue;
    if (spec.name in supplied) {
      into.vars[spec.name] = supplied[spec.name];
      into.varSources[spec.name] = 'input';
      continue;
    }
    if (spec.fromInventoryGroup) {
      const members = groupAsList(inventory, spec.fromInventoryGroup);
      if (members.length > 0 || !spec.required) {
        into.vars[spec.name] = members;
        into.varSources[spec.name] = `inventory:${spec.fromInventoryGroup}`;
        continue;
      }
    }
    if (spec.default !== undefined) {
      into.vars[spec.name] = spec.default;
      into.varSources[spec.name] = 'default';
    } else if (spec.required) {
      if (targetHosts.length > 0 && targetHosts.every((h) => spec.name in h.vars)) into.varSources[spec.name] = 'inventory';
      else into.missing.push(spec.name);
    }
  }
}

interface Selected {
  intent: Intent;
  entry: PlaybookEntry;
  scope: Scope;
}

/** One ansible-playbook run before it is split by agent. */
interface Run {
  path: string;
  after: string[];
  limit: string[];
  selected: Selected[];
}

function entryFor(intent: Intent, catalog: Catalog): PlaybookEntry | undefined {
  return (
    catalog.playbooks.find((p) => p.path === intent.playbook && p.intents.some((i) => i.name === intent.name)) ??
    catalog.playbooks.find((p) => p.path === intent.playbook)
  );
}

/** Each intent's hosts; an intent without a scope of its own takes the hosts the rest of the request names. */
function scopesOf(intents: Intent[], entries: PlaybookEntry[], inventory: Inventory): Scope[] | { unknown: string } {
  const scopes: Scope[] = [];
  for (const [i, intent] of intents.entries()) {
    const entry = entries[i]!;
    const spec = entry.intents.find((s) => s.name === intent.name);
    const ignore = [entry.service, ...entry.aliases.flatMap((a) => a.split(' ')), ...(spec?.objects ?? [])];
    const scope = scopeOfClause(intent.source, inventory, { bareNames: spec?.fleet === true, ignore });
    if (scope.kind === 'unknown') return { unknown: scope.name };
    scopes.push(scope);
  }
  const named = [...new Set(scopes.flatMap((s) => (s.kind === 'limit' ? s.names : [])))];
  const anyAll = scopes.some((s) => s.kind === 'all');
  return scopes.map((s) => (s.kind !== 'none' ? s : named.length > 0 ? { kind: 'limit', names: named } : anyAll ? { kind: 'all' } : s));
}

function runsOf(selected: Selected[]): Run[] {
  const runs = new Map<string, Run>();
  for (const s of selected) {
    const limit = s.scope.kind === 'limit' ? s.scope.names : [];
    const key = `${s.entry.path}\0${limit.join(',')}`;
    const run = runs.get(key) ?? { path: s.entry.path, after: [], limit, selected: [] };
    run.after.push(...s.entry.after.filter((a) => !run.after.includes(a)));
    if (!run.selected.some((other) => other.entry === s.entry && other.intent.name === s.intent.name)) run.selected.push(s);
    runs.set(key, run);
  }
  // `after` orders playbooks; runs of one playbook keep their request order.
  const order = orderByDependencies([...new Map([...runs.values()].map((r) => [r.path, { path: r.path, after: r.after }])).values()]).map(
    (p) => p.path,
  );
  return [...runs.values()].sort((a, b) => order.indexOf(a.path) - order.indexOf(b.path));
}

function unique<T>(values: T[]): T[] {
  return [...new Set(values)];
}

export function planRequest(
  intents: Intent[],
  catalog: Catalog,
  inventory: Inventory,
  ids: PlanIds,
  supplied: SuppliedVars = {},
  context: PlanContext = { controllerAgent: 'localhost' },
): PlanResult {
  const entries: PlaybookEntry[] = [];
  for (const intent of intents) {
    const entry = entryFor(intent, catalog);
    if (!entry) return { ok: false, message: `playbook ${intent.playbook} is not in the catalog`, missingVars: [] };
    entries.push(entry);
  }
  const scopes = scopesOf(intents, entries, inventory);
  if (!Array.isArray(scopes)) {
    return {
      ok: false,
      message: `"${scopes.unknown}" is not a host or group of the inventory (${describeInventoryNames(inventory)})`,
      missingVars: [],
    };
  }

  let runs: Run[];
  try {
    runs = runsOf(intents.map((intent, i) => ({ intent, entry: entries[i]!, scope: scopes[i]! })));
  } catch (err) {
    return { ok: false, message: err instanceof Error ? err.message : String(err), missingVars: [] };
  }

  const steps: PlanStep[] = [];
  const missingVars: { playbook: string; vars: string[] }[] = [];
  for (const run of runs) {
    const runEntries = unique(run.selected.map((s) => s.entry));
    const hostsPattern = unique(runEntries.flatMap((e) => (e.hosts ? e.hosts.split(',') : []))).join(',');
    const playHosts = hostsPattern ? resolveHostPattern(inventory, hostsPattern) : [];
    const limitHosts = run.limit.length > 0 ? resolveHostPattern(inventory, run.limit.join(',')) : [];
    let targets = playHosts;
    if (run.limit.length > 0) {
      targets = playHosts.length > 0 ? playHosts.filter((h) => limitHosts.includes(h)) : limitHosts;
      if (targets.length === 0) {
        return {
          ok: false,
          message: `${run.limit.join(', ')} is not among the hosts ${run.path} applies to (${hostsPattern}: ${playHosts.join(', ')})`,
          missingVars: [],
        };
      }
    }

    const filled: FilledVars = { vars: {}, varSources: {}, missing: [] };
    for (const entry of runEntries) fillVars(entry.vars, inventory, supplied[run.path] ?? {}, targets, filled);
    for (const entry of runEntries) {
      for (const [name, value] of Object.entries(entry.run?.switches ?? {})) {
        filled.vars[name] = value;
        filled.varSources[name] = 'switch';
      }
    }
    if (filled.missing.length > 0) missingVars.push({ playbook: run.path, vars: filled.missing });
    // Tags select only when every part asked for has them; one whole-playbook part runs it all.
    const tags = runEntries.every((e) => (e.run?.tags?.length ?? 0) > 0) ? unique(runEntries.flatMap((e) => e.run!.tags!)) : [];
    const specs = runEntries.flatMap((e) => e.vars);
    const secretVars = Object.keys(filled.vars).filter((name) => isSecretVar(name, specs));
    const coordinated = runEntries.some((e) => e.coordinated);

    // Which agent runs which hosts: split only where the play works per host.
    const byAgent = new Map<string, string[]>();
    for (const name of targets) {
      const host = inventory.hosts.find((h) => h.name === name) ?? { vars: {} };
      const agent = agentForHost(host, context.controllerAgent);
      byAgent.set(agent, [...(byAgent.get(agent) ?? []), name]);
    }
    const shares: { agent: string; limit?: string }[] =
      byAgent.size <= 1 || coordinated
        ? [
            {
              agent: byAgent.size === 1 ? [...byAgent.keys()][0]! : context.controllerAgent,
              ...(run.limit.length > 0 ? { limit: run.limit.join(',') } : {}),
            },
          ]
        : [...byAgent].map(([agent, hosts]) => ({ agent, limit: hosts.join(',') }));

    for (const share of shares) {
      steps.push({
        index: steps.length,
        taskId: ids.newTaskId(),
        playbook: run.path,
        service: unique(runEntries.map((e) => e.service)).join(','),
        intent: unique(run.selected.map((s) => s.intent.name)).join(','),
        vars: filled.vars,
        varSources: filled.varSources,
        secretVars,
        ...(share.limit ? { limit: share.limit } : {}),
        ...(tags.length > 0 ? { tags } : {}),
        ...(runEntries.some((e) => e.become) ? { become: true } : {}),
        agent: share.agent,
      });
    }
  }
  if (missingVars.length > 0) {
    const list = missingVars.map((m) => `${m.playbook}: ${m.vars.join(', ')}`).join('; ');
    return { ok: false, message: `required variables have no value: ${list}`, missingVars };
  }
  return { ok: true, plan: { planId: ids.planId, steps } };
}
