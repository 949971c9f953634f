// The plan hash: one value that changes when anything that would run changes — a playbook's
// content, a var, the inventory, the repository's commit. An approval names it; a step whose
// inputs no longer match it does not run.
import { createHash } from 'node:crypto';
import { stringify } from 'safe-stable-stringify';
import type { PlanFingerprint, PlanStep } from './types.js';

export function sha256(content: string | Uint8Array): string {
  return createHash('sha256').update(content).digest('hex');
}

export function planHash(
  steps: Pick<PlanStep, 'index' | 'playbook' | 'vars' | 'host' | 'agent' | 'tags' | 'limit'>[],
  fingerprint: PlanFingerprint,
): string {
  // Stable key order, so the same plan always hashes the same however its objects were built.
  // Where a step runs and what of it runs are part of what is approved: host, agent, limit and tags
  // are left out when absent, so plans without them hash as they always did.
  const canonical = stringify({
    steps: steps.map((step) => ({
      index: step.index,
      playbook: step.playbook,
      vars: step.vars,
      ...(step.host ? { host: step.host } : {}),
      ...(step.agent ? { agent: step.agent } : {}),
      ...(step.limit ? { limit: step.limit } : {}),
      ...(step.tags ? { tags: step.tags } : {}),
    })),
    fingerprint,
  });
  return sha256(canonical ?? '');
}

const OTHER_FILES_AREA = '(other files)';

/**
 * What changed between two fingerprints, in words a person can act on. A field the planned
 * fingerprint does not have (a plan made before fingerprints carried it) is not compared.
 */
export function describeFingerprintChange(planned: PlanFingerprint, current: PlanFingerprint): string[] {
  const changes: string[] = [];
  const said = new Set<string>();
  const say = (change: string) => {
    if (!said.has(change)) changes.push(change);
    said.add(change);
  };
  for (const [playbook, hash] of Object.entries(planned.playbooks ?? {})) {
    if (current.playbooks?.[playbook] !== hash) say(`${playbook} changed`);
  }
  if (planned.inventory !== undefined && planned.inventory !== current.inventory) say('the inventory changed');
  if (planned.tree) {
    const now = current.tree ?? {};
    const areas = [...new Set([...Object.keys(planned.tree), ...Object.keys(now)])].sort();
    for (const area of areas) {
      const before = planned.tree[area];
      const after = now[area];
      if (before === after) continue;
      const other = 'other files of the playbook repository changed';
      if (area === OTHER_FILES_AREA) say(other);
      else if (before === undefined) say(`${area} was added`);
      // An area gone while areas are folded may only have moved into "(other files)": say that.
      else if (after === undefined) say(now[OTHER_FILES_AREA] !== undefined ? other : `${area} was removed`);
      else say(`${area} changed`);
    }
  }
  if (planned.repoCommit !== current.repoCommit)
    say(`the playbook repository moved from ${planned.repoCommit ?? 'no commit'} to ${current.repoCommit ?? 'no commit'}`);
  return changes;
}
