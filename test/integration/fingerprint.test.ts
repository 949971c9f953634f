// What an approval binds (services/fingerprint.ts): every file of the playbook repository that can
// affect a run, the inventory (a folder, or a file with the group_vars/host_vars beside it, inside
// the repository or not) and the git HEAD. Each change below changes the fingerprint (and the plan
// hash) and is named by describeFingerprintChange; documentation does not count; an unchanged
// repository read again is not read again (lstat only), and what is remembered never hides a change.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fingerprintContentReads, forgetFingerprints, readFingerprint } from '../../services/fingerprint.js';
import { describeFingerprintChange, planHash, sha256 } from '../../domain/plan-hash.js';
import type { PlanFingerprint } from '../../domain/types.js';
import { fromProjectRoot } from '../../lib/paths.js';

const temps: string[] = [];
afterAll(() => {
  for (const dir of temps) fs.rmSync(dir, { recursive: true, force: true });
});

function tempDir(name: string): string {
  const dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), `chiffon-fingerprint-${name}-`)));
  temps.push(dir);
  return dir;
}

function writeFiles(root: string, files: Record<string, string>): void {
  for (const [file, content] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(root, file)), { recursive: true });
    fs.writeFileSync(path.join(root, file), content);
  }
}

const git = (repo: string, ...args: string[]) =>
  execFileSync('git', ['-c', 'user.name=Test', '-c', 'user.email=test@example.invalid', '-c', 'commit.gpgsign=false', ...args], {
    cwd: repo,
    stdio: 'pipe',
  })
    .toString()
    .trim();

/** Files older than a second: their signatures are trusted, so reads below go through what is remembered. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 1_100));

const REPO_FILES: Record<string, string> = {
  'site.yml': '- hosts: homelab\n  roles: [jellyfin, caddy]\n',
  'other.yml': '- import_playbook: site.yml\n',
  'roles/jellyfin/tasks/main.yml': '- name: Configure\n  ansible.builtin.template: { src: config.j2, dest: /etc/jellyfin.conf }\n',
  'roles/jellyfin/handlers/main.yml': '- name: Restart\n  ansible.builtin.debug: { msg: restart }\n',
  'roles/jellyfin/defaults/main.yml': 'jellyfin_port: 8096\n',
  'roles/jellyfin/vars/main.yml': 'jellyfin_user: media\n',
  'roles/jellyfin/meta/main.yml': 'dependencies: []\n',
  'roles/jellyfin/templates/config.j2': 'port={{ jellyfin_port }}\n',
  'roles/jellyfin/files/static.conf': 'static\n',
  'roles/caddy/tasks/main.yml': '- ansible.builtin.debug: { msg: caddy }\n',
  'group_vars/all.yml': 'domain: homelab.lan\n',
  'host_vars/nas-1.yml': 'disk: /dev/sda\n',
  'ansible.cfg': '[defaults]\ninventory = inventory\n',
  'requirements.yml': 'collections:\n  - name: community.general\n',
  'README.md': '# The homelab\n',
  'roles/jellyfin/README.md': '# jellyfin\n',
  'inventory/hosts.yml': 'homelab:\n  hosts:\n    nas-1:\n',
  'inventory/group_vars/homelab.yml': 'ansible_user: admin\n',
  'node_modules/x/index.js': 'ignored\n',
  '.github/workflows/ci.yml': 'ignored\n',
};

describe('readFingerprint', () => {
  let repo: string;
  let outside: string;
  let sources: string[];
  const steps = [{ index: 0, playbook: 'site.yml', vars: {} }];
  const read = () => readFingerprint(repo, sources, ['site.yml']);

  beforeAll(async () => {
    repo = tempDir('repo');
    writeFiles(repo, REPO_FILES);
    git(repo, 'init', '-q', '-b', 'main');
    git(repo, 'add', '.');
    git(repo, 'commit', '-q', '-m', 'the homelab');
    // A second inventory outside the repository: a file, with group_vars beside it.
    outside = tempDir('outside');
    writeFiles(outside, { 'hosts.ini': '[homelab]\nnas-2\n', 'group_vars/homelab.yml': 'ansible_port: 22\n' });
    sources = [path.join(repo, 'inventory'), path.join(outside, 'hosts.ini')];
    await settle();
    await read(); // remembers trusted signatures
  });

  /** Reads, changes, reads again: the change is seen (with the cache, and exactly as a cold read sees it) and named. */
  async function expectNamed(change: () => void, named: string[] | (() => string[])): Promise<void> {
    const before = await read();
    change();
    const after = await read();
    expect(describeFingerprintChange(before, after)).toEqual(typeof named === 'function' ? named() : named);
    expect(planHash(steps, after)).not.toBe(planHash(steps, before));
    forgetFingerprints();
    expect(await read()).toEqual(after);
  }

  it('has the shape: the planned playbook, one inventory hash, HEAD and a tree of areas', async () => {
    const fingerprint = await read();
    expect(Object.keys(fingerprint.playbooks)).toEqual(['site.yml']);
    expect(fingerprint.playbooks['site.yml']).toBe(sha256(fs.readFileSync(path.join(repo, 'site.yml'))));
    expect(fingerprint.repoCommit).toBe(git(repo, 'rev-parse', 'HEAD'));
    // The inventory's files are bound as the inventory, hidden entries and node_modules not at all.
    expect(Object.keys(fingerprint.tree!)).toEqual([
      'ansible.cfg',
      'group_vars',
      'host_vars',
      'other.yml',
      'requirements.yml',
      'roles/caddy',
      'roles/jellyfin',
      'site.yml',
    ]);
  });

  it.each([
    ['a role default', 'roles/jellyfin/defaults/main.yml', 'roles/jellyfin changed'],
    ['a role template', 'roles/jellyfin/templates/config.j2', 'roles/jellyfin changed'],
    ['a role handler', 'roles/jellyfin/handlers/main.yml', 'roles/jellyfin changed'],
    ['a role file', 'roles/jellyfin/files/static.conf', 'roles/jellyfin changed'],
    ['group_vars', 'group_vars/all.yml', 'group_vars changed'],
    ['host_vars', 'host_vars/nas-1.yml', 'host_vars changed'],
    ['ansible.cfg', 'ansible.cfg', 'ansible.cfg changed'],
    ['the requirements file', 'requirements.yml', 'requirements.yml changed'],
    ['an imported playbook', 'other.yml', 'other.yml changed'],
  ])('sees a change to %s (%s)', async (_what, file, named) => {
    await expectNamed(() => fs.appendFileSync(path.join(repo, file), '# changed\n'), [named]);
  });

  it('sees the same-size rewrite of a trusted file right after a read', async () => {
    // Untouched since beforeAll (older than a second): its remembered signature is trusted.
    const file = path.join(repo, 'roles/jellyfin/vars/main.yml');
    const content = fs.readFileSync(file, 'utf8');
    const rewritten = content.replace('media', 'mediA');
    expect(rewritten.length).toBe(content.length);
    await expectNamed(() => fs.writeFileSync(file, rewritten), ['roles/jellyfin changed']);
  });

  it('names the planned playbook once', async () => {
    await expectNamed(() => fs.appendFileSync(path.join(repo, 'site.yml'), '# changed\n'), ['site.yml changed']);
  });

  it('sees a change anywhere in a folder inventory, and a new file in it', async () => {
    await expectNamed(() => fs.appendFileSync(path.join(repo, 'inventory/group_vars/homelab.yml'), 'x: 1\n'), ['the inventory changed']);
    await expectNamed(() => writeFiles(repo, { 'inventory/host_vars/nas-1.yml': 'y: 2\n' }), ['the inventory changed']);
  });

  it('sees a change to an inventory outside the repository, and to the group_vars beside it', async () => {
    await expectNamed(() => fs.appendFileSync(path.join(outside, 'hosts.ini'), 'nas-3\n'), ['the inventory changed']);
    await expectNamed(() => fs.appendFileSync(path.join(outside, 'group_vars/homelab.yml'), 'z: 3\n'), ['the inventory changed']);
    await expectNamed(() => writeFiles(outside, { 'host_vars/nas-2.yml': 'w: 4\n' }), ['the inventory changed']);
  });

  it('sees an untracked new file of the working tree', async () => {
    await expectNamed(() => writeFiles(repo, { 'roles/jellyfin/files/new.conf': 'new\n' }), ['roles/jellyfin changed']);
    await expectNamed(() => writeFiles(repo, { 'extra.yml': '- hosts: all\n' }), ['extra.yml was added']);
    await expectNamed(() => writeFiles(repo, { 'roles/web/tasks/main.yml': '- ansible.builtin.debug: {}\n' }), ['roles/web was added']);
    await expectNamed(() => fs.rmSync(path.join(repo, 'extra.yml')), ['extra.yml was removed']);
  });

  it('sees HEAD move', async () => {
    const from = git(repo, 'rev-parse', 'HEAD');
    let to = '';
    await expectNamed(
      () => {
        git(repo, 'commit', '-q', '--allow-empty', '-m', 'moved');
        to = git(repo, 'rev-parse', 'HEAD');
      },
      () => [`the playbook repository moved from ${from} to ${to}`],
    );
    expect(to).not.toBe(from);
  });

  it('does not count documentation, hidden entries or node_modules', async () => {
    const before = await read();
    fs.appendFileSync(path.join(repo, 'README.md'), 'more words\n');
    fs.appendFileSync(path.join(repo, 'roles/jellyfin/README.md'), 'more words\n');
    fs.appendFileSync(path.join(repo, 'node_modules/x/index.js'), 'more\n');
    writeFiles(repo, { '.github/workflows/other.yml': 'x\n', '.ansible/cache': 'x\n' });
    expect(await read()).toEqual(before);
  });

  it('does not follow a link out of the repository: the link text is what is bound', async () => {
    const target = path.join(outside, 'secret.txt');
    fs.writeFileSync(target, 'one\n');
    fs.symlinkSync(target, path.join(repo, 'roles/jellyfin/files/linked.txt'));
    const before = await read();
    fs.writeFileSync(target, 'two, outside the repository\n');
    expect(await read()).toEqual(before);
    await expectNamed(() => {
      fs.rmSync(path.join(repo, 'roles/jellyfin/files/linked.txt'));
      fs.symlinkSync(path.join(outside, 'other.txt'), path.join(repo, 'roles/jellyfin/files/linked.txt'));
    }, ['roles/jellyfin changed']);
  });

  it('reads no file again while nothing changed', async () => {
    await settle();
    const first = await read();
    const reads = fingerprintContentReads();
    const second = await read();
    expect(second).toEqual(first);
    expect(fingerprintContentReads()).toBe(reads);
  });
});

describe('readFingerprint of a single inventory file', () => {
  it('hashes the inventory as its content (as fingerprints always did) and binds group_vars beside it', async () => {
    const repo = tempDir('single');
    writeFiles(repo, { 'site.yml': '- hosts: all\n', 'inventory/hosts.yml': 'all:\n  hosts:\n    localhost:\n' });
    const inventory = path.join(repo, 'inventory/hosts.yml');
    const before = await readFingerprint(repo, [inventory], ['site.yml']);
    expect(before.inventory).toBe(sha256(fs.readFileSync(inventory)));
    expect(before.repoCommit).toBeUndefined();
    expect(Object.keys(before.tree!)).toEqual(['site.yml']);
    writeFiles(repo, { 'inventory/group_vars/all.yml': 'a: 1\n' });
    const after = await readFingerprint(repo, [inventory], ['site.yml']);
    expect(describeFingerprintChange(before, after)).toEqual(['the inventory changed']);
    // A plan recorded before fingerprints had a tree compares only what it has.
    const old: PlanFingerprint = { playbooks: before.playbooks, inventory: before.inventory };
    expect(describeFingerprintChange(old, before)).toEqual([]);
    expect(await readFingerprint(repo, [path.join(repo, 'missing.yml')], ['site.yml', 'gone.yml'])).toMatchObject({
      inventory: 'missing',
      playbooks: { 'gone.yml': 'missing' },
    });
  });

  it('reads (a copy of) the sample repository warm in a few milliseconds, with no file read', async () => {
    const repo = tempDir('sample');
    fs.cpSync(fromProjectRoot('playbooks'), repo, { recursive: true });
    const sources = [path.join(repo, 'inventory/hosts.yml')];
    await settle();
    await readFingerprint(repo, sources, ['kuma-deploy.yml']);
    const reads = fingerprintContentReads();
    const started = performance.now();
    for (let i = 0; i < 20; i++) await readFingerprint(repo, sources, ['kuma-deploy.yml']);
    expect((performance.now() - started) / 20).toBeLessThan(50);
    expect(fingerprintContentReads()).toBe(reads);
  });
});
