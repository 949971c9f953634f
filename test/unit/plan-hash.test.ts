import { describe, expect, it } from 'vitest';
import { describeFingerprintChange, planHash } from '../../domain/plan-hash.js';
import type { PlanFingerprint } from '../../domain/types.js';

const fingerprint: PlanFingerprint = { playbooks: { 'a.yml': 'aaa', 'b.yml': 'bbb' }, inventory: 'inv' };
const steps = [
  { index: 0, playbook: 'a.yml', vars: { port: 1, list: [{ x: 1, y: 2 }] } },
  { index: 1, playbook: 'b.yml', vars: {} },
];

describe('planHash', () => {
  it('is the same for the same plan whatever the key order', () => {
    const reordered = [{ vars: { list: [{ y: 2, x: 1 }], port: 1 }, playbook: 'a.yml', index: 0 }, steps[1]!];
    expect(planHash(reordered, { inventory: 'inv', playbooks: { 'b.yml': 'bbb', 'a.yml': 'aaa' } })).toBe(planHash(steps, fingerprint));
  });

  it('changes with a var, a playbook, the inventory or the commit', () => {
    const base = planHash(steps, fingerprint);
    expect(planHash([{ ...steps[0]!, vars: { port: 2, list: [] } }, steps[1]!], fingerprint)).not.toBe(base);
    expect(planHash(steps, { ...fingerprint, playbooks: { ...fingerprint.playbooks, 'b.yml': 'changed' } })).not.toBe(base);
    expect(planHash(steps, { ...fingerprint, inventory: 'other' })).not.toBe(base);
    expect(planHash(steps, { ...fingerprint, repoCommit: 'abc' })).not.toBe(base);
  });
});

describe('describeFingerprintChange', () => {
  it('names what changed', () => {
    expect(describeFingerprintChange(fingerprint, { ...fingerprint, playbooks: { 'a.yml': 'new', 'b.yml': 'bbb' }, inventory: 'x' })).toEqual([
      'a.yml changed',
      'the inventory changed',
    ]);
    expect(describeFingerprintChange(fingerprint, fingerprint)).toEqual([]);
  });
});
