// The scan's listing and reads by stat signature (services/catalog/catalog-files.ts): an unchanged
// repository is neither listed nor read again, and every kind of change is seen on the next scan,
// including a same-size rewrite right after a scan (the "racily clean" case).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { forgetRepositoryFiles, readRepository } from '../../services/catalog/catalog-files.js';
import { hashSource, listPlaybookSources, readBytesSync, readSources, supportFilesHash } from '../../services/catalog/catalog.js';
import { fromProjectRoot } from '../../lib/paths.js';

const temps: string[] = [];
afterAll(() => {
  for (const dir of temps) fs.rmSync(dir, { recursive: true, force: true });
});

function sampleRepo(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chiffon-catalog-files-'));
  temps.push(dir);
  fs.cpSync(fromProjectRoot('playbooks'), dir, { recursive: true });
  return dir;
}

/** What a scan without any memory gives: the listing and each pair's hash. */
async function fresh(repo: string) {
  const listing = await listPlaybookSources(repo);
  const contents = await readSources(listing.root, listing.sources);
  const supportHash = supportFilesHash(listing.supportFiles.map((file) => [file, readBytesSync(listing.root, file)] as const));
  return {
    sources: listing.sources,
    warnings: listing.warnings,
    hashes: listing.sources.map((s, i) => hashSource(s, contents[i]!, supportHash)),
  };
}

async function remembered(repo: string) {
  const read = await readRepository(repo);
  return {
    ...read,
    same: { sources: read.listing.sources, warnings: read.listing.warnings, hashes: read.current.map((c) => c.hash) },
  };
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 1_100));

describe('readRepository', () => {
  it('reads nothing again while nothing changed, and sees every change', async () => {
    forgetRepositoryFiles();
    const repo = sampleRepo();
    const pairs = (await fresh(repo)).sources.length;
    expect(pairs).toBeGreaterThan(2);

    // Files written less than a second ago are not trusted by their signature: read again.
    const first = await remembered(repo);
    expect(first.filesRead).toBe(pairs * 2);
    expect((await remembered(repo)).filesRead).toBe(pairs * 2);

    await settle();
    await remembered(repo); // records trusted signatures
    const unchanged = await remembered(repo);
    expect(unchanged).toMatchObject({ filesRead: 0, listingReused: true });
    expect(unchanged.same).toEqual(await fresh(repo));

    // The same size, right after a scan: ctime moves, so it is read again.
    const deploy = path.join(repo, 'kuma-deploy.yml');
    const text = fs.readFileSync(deploy, 'utf8');
    fs.writeFileSync(deploy, text.replace('Kuma', 'KUMA'));
    expect(fs.statSync(deploy).size).toBe(Buffer.byteLength(text));
    const rewritten = await remembered(repo);
    expect(rewritten).toMatchObject({ filesRead: 1, listingReused: true });
    expect(rewritten.same).toEqual(await fresh(repo));
    expect(rewritten.same.hashes).not.toEqual(unchanged.same.hashes);

    // A new pair in a new folder, a removed metadata file: listed again.
    fs.mkdirSync(path.join(repo, 'extra'));
    fs.copyFileSync(path.join(repo, 'postgres-setup.yml'), path.join(repo, 'extra', 'other.yml'));
    fs.copyFileSync(path.join(repo, 'postgres-setup.meta.yml'), path.join(repo, 'extra', 'other.meta.yml'));
    const added = await remembered(repo);
    expect(added.listingReused).toBe(false);
    expect(added.listing.sources.map((s) => s.playbook)).toContain('extra/other.yml');
    expect(added.same).toEqual(await fresh(repo));

    fs.rmSync(path.join(repo, 'failure-drill.meta.yml'));
    const removed = await remembered(repo);
    expect(removed.listingReused).toBe(false);
    expect(removed.listing.sources.find((s) => s.playbook === 'failure-drill.yml')).toEqual({ playbook: 'failure-drill.yml' });
    expect(removed.same).toEqual(await fresh(repo));

    // A support file (a role's defaults) is part of every playbook's hash: inference reads it.
    fs.mkdirSync(path.join(repo, 'roles', 'web', 'defaults'), { recursive: true });
    fs.writeFileSync(path.join(repo, 'roles', 'web', 'defaults', 'main.yml'), 'web_enabled: false\n');
    const withRole = await remembered(repo);
    expect(withRole.support.has('roles/web/defaults/main.yml')).toBe(true);
    expect(withRole.same).toEqual(await fresh(repo));
    expect(withRole.same.hashes.every((h, i) => h !== removed.same.hashes[i])).toBe(true);

    // Replaced by rename (what editors and git do): a new inode.
    await settle();
    await remembered(repo);
    const replacement = path.join(repo, 'tmp-replacement');
    fs.writeFileSync(
      replacement,
      fs.readFileSync(path.join(repo, 'kuma-config-update.meta.yml'), 'utf8').replace('description', 'description '),
    );
    fs.renameSync(replacement, path.join(repo, 'kuma-config-update.meta.yml'));
    const renamed = await remembered(repo);
    expect(renamed.filesRead).toBeGreaterThan(0);
    expect(renamed.same).toEqual(await fresh(repo));
  });
});
