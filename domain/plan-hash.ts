// The plan hash: one value that changes when anything that would run changes — a playbook's
// content, a var, the inventory, the repository's commit. An approval names it; a step whose
// inputs no longer match it does not run.
import { createHash } from 'node:crypto';
import { stringify } from 'safe-stable-stringify';
import type { PlanFingerprint, PlanStep } from './types.js';

export function sha256(content: string | Uint8Array): string {
  return createHash('sha256').update(content).digest('hex');
}

export function planHash(steps: Pick<PlanStep, 'index' | 'playbook' | 'vars' | 'host' | 'agent'>[], fingerprint: PlanFingerprint): string {
  // Stable key order, so the same plan always hashes the same however its objects were built.
  // Where a step runs is part of what is approved: a host or agent left out when absent, so plans
  // without them hash as they always did.
  const canonical = stringify({
    steps: steps.map((step) => ({ index: step.index, playbook: step.playbook, vars: step.vars, ...(step.host ? { host: step.host } : {}), ...(step.agent ? { agent: step.agent } : {}) })),
    fingerprint,
  });
  return sha256(canonical ?? '');
}

/** What changed between two fingerprints, in words a person can act on. */
export function describeFingerprintChange(planned: PlanFingerprint, current: PlanFingerprint): string[] {
  const changes: string[] = [];
  for (const [playbook, hash] of Object.entries(planned.playbooks)) {
    if (current.playbooks[playbook] !== hash) changes.push(`${playbook} changed`);
  }
  if (planned.inventory !== current.inventory) changes.push('the inventory changed');
  if (planned.repoCommit !== current.repoCommit) changes.push(`the playbook repository moved from ${planned.repoCommit ?? 'no commit'} to ${current.repoCommit ?? 'no commit'}`);
  return changes;
}
