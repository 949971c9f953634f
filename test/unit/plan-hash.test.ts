import { describe, expect, it } from 'vitest';
import { MAX_TREE_AREAS, OTHER_FILES_AREA, treeArea, treeAreas } from '../../services/fingerprint.js';
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

  it('binds the tags and the limit of each step, and hashes a step without them as before', () => {
    const base = planHash(steps, fingerprint);
    const tagged = planHash([{ ...steps[0]!, tags: ['jellyfin'] }, steps[1]!], fingerprint);
    expect(tagged).not.toBe(base);
    expect(planHash([{ ...steps[0]!, tags: ['jellyfin', 'caddy'] }, steps[1]!], fingerprint)).not.toBe(tagged);
    const limited = planHash([steps[0]!, { ...steps[1]!, limit: 'nas-1' }], fingerprint);
    expect(limited).not.toBe(base);
    expect(planHash([steps[0]!, { ...steps[1]!, limit: 'nas-1,nas-2' }], fingerprint)).not.toBe(limited);
    // Absent (or an empty limit) is the old shape: the same hash as a plan made before steps had them.
    expect(planHash([{ ...steps[0]!, limit: '' }, steps[1]!], fingerprint)).toBe(base);
  });

  it('binds the tree of the repository', () => {
    const withTree: PlanFingerprint = { ...fingerprint, tree: { 'roles/jellyfin': 'r1', group_vars: 'g1' } };
    expect(planHash(steps, withTree)).not.toBe(planHash(steps, fingerprint));
    expect(planHash(steps, { ...withTree, tree: { 'roles/jellyfin': 'r2', group_vars: 'g1' } })).not.toBe(planHash(steps, withTree));
  });
});

describe('describeFingerprintChange', () => {
  it('names what changed', () => {
    expect(
      describeFingerprintChange(fingerprint, { ...fingerprint, playbooks: { 'a.yml': 'new', 'b.yml': 'bbb' }, inventory: 'x' }),
    ).toEqual(['a.yml changed', 'the inventory changed']);
    expect(describeFingerprintChange(fingerprint, fingerprint)).toEqual([]);
  });

  it('names every changed area of the tree, once, and says when HEAD moved', () => {
    const planned: PlanFingerprint = {
      ...fingerprint,
      repoCommit: 'c1',
      tree: { 'a.yml': 'x', 'roles/jellyfin': 'r1', 'roles/caddy': 'c1', group_vars: 'g1', 'ansible.cfg': 'cfg1', 'old.yml': 'o' },
    };
    const current: PlanFingerprint = {
      ...planned,
      playbooks: { 'a.yml': 'new', 'b.yml': 'bbb' },
      repoCommit: 'c2',
      tree: { 'a.yml': 'y', 'roles/jellyfin': 'r2', 'roles/caddy': 'c1', group_vars: 'g2', 'ansible.cfg': 'cfg2', 'new.yml': 'n' },
    };
    expect(describeFingerprintChange(planned, current)).toEqual([
      'a.yml changed',
      'ansible.cfg changed',
      'group_vars changed',
      'new.yml was added',
      'old.yml was removed',
      'roles/jellyfin changed',
      'the playbook repository moved from c1 to c2',
    ]);
    expect(describeFingerprintChange(planned, planned)).toEqual([]);
  });

  it('does not compare what an old fingerprint does not have, and does not crash on it', () => {
    // A plan recorded before fingerprints carried a tree, compared with what is read today.
    const old: PlanFingerprint = { playbooks: { 'a.yml': 'aaa' }, inventory: 'inv' };
    const today: PlanFingerprint = { playbooks: { 'a.yml': 'aaa' }, inventory: 'inv', tree: { 'roles/x': 'r', 'a.yml': 'x' } };
    expect(describeFingerprintChange(old, today)).toEqual([]);
    expect(describeFingerprintChange(old, { ...today, inventory: 'other' })).toEqual(['the inventory changed']);
    // The other way round (a new plan, an old reader's result): every area is reported, nothing throws.
    expect(describeFingerprintChange(today, old)).toEqual(['a.yml was removed', 'roles/x was removed']);
    expect(() => planHash(steps, old)).not.toThrow();
  });

  it('says "other files" for what is folded', () => {
    const planned: PlanFingerprint = { ...fingerprint, tree: { 'roles/x': 'r', [OTHER_FILES_AREA]: 'o1', 'z.yml': 'z' } };
    const current: PlanFingerprint = { ...fingerprint, tree: { 'roles/x': 'r', [OTHER_FILES_AREA]: 'o2' } };
    expect(describeFingerprintChange(planned, current)).toEqual(['other files of the playbook repository changed']);
  });
});

describe('treeAreas', () => {
  it('groups by role, else by the first path component', () => {
    expect(treeArea('roles/jellyfin/defaults/main.yml')).toBe('roles/jellyfin');
    expect(treeArea('roles/requirements.yml')).toBe('roles');
    expect(treeArea('group_vars/all.yml')).toBe('group_vars');
    expect(treeArea('site.yml')).toBe('site.yml');
    const tree = treeAreas(
      new Map([
        ['site.yml', 'a'],
        ['roles/web/tasks/main.yml', 'b'],
        ['roles/web/templates/x.j2', 'c'],
        ['group_vars/all.yml', 'd'],
        ['ansible.cfg', 'e'],
      ]),
    );
    expect(Object.keys(tree)).toEqual(['ansible.cfg', 'group_vars', 'roles/web', 'site.yml']);
  });

  it('stays bounded: 2,000 top-level playbooks do not make 2,000 areas', () => {
    const files = new Map<string, string>();
    for (let i = 0; i < 2_000; i++) files.set(`pb-${String(i).padStart(4, '0')}.yml`, `h${i}`);
    for (let r = 0; r < 30; r++) files.set(`roles/r${r}/tasks/main.yml`, `r${r}`);
    files.set('group_vars/all.yml', 'g');
    const tree = treeAreas(files);
    expect(Object.keys(tree)).toHaveLength(MAX_TREE_AREAS);
    expect(tree[OTHER_FILES_AREA]).toBeDefined();
    // Roles and folders are kept by name before top-level files.
    for (let r = 0; r < 30; r++) expect(tree[`roles/r${r}`]).toBeDefined();
    expect(tree.group_vars).toBeDefined();
    expect(JSON.stringify(tree).length).toBeLessThan(20_000);
    // A change in a folded file changes the folded area only.
    const changed = treeAreas(new Map([...files, ['pb-1999.yml', 'changed']]));
    expect(Object.keys(changed).filter((area) => changed[area] !== tree[area])).toEqual([OTHER_FILES_AREA]);
  });
});
