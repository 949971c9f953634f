// The cached catalog scan against a real PostgreSQL database (a database of this file's own): what
// is parsed, reused and dropped, what the playbook_cache rows hold, and how long 2,000 playbooks take.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scanCatalogCached } from '../../services/catalog/catalog-cache.js';
import { scanCatalog } from '../../services/catalog/catalog.js';
import { fromProjectRoot } from '../../lib/paths.js';
import { createPrismaClient } from '../../lib/prisma.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';

let database: TestDatabase;
const temps: string[] = [];

beforeAll(async () => {
  database = await createTestDatabase();
});

afterAll(async () => {
  await database?.drop();
  for (const dir of temps) fs.rmSync(dir, { recursive: true, force: true });
});

function tempDir(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  temps.push(dir);
  return dir;
}

/** A copy of the sample playbook repository. */
function sampleRepo(): string {
  const dir = tempDir('chiffon-cache-repo-');
  fs.cpSync(fromProjectRoot('playbooks'), dir, { recursive: true });
  return dir;
}

function rows(repo: string) {
  return database.prisma.playbookCache.findMany({ where: { repo }, orderBy: { path: 'asc' } });
}

/** Without the in-process memo, so every scan asks the database. */
const noMemo = { memoMs: 0 };

describe('scanCatalogCached', () => {
  it('parses everything once, then reuses, re-parses what changed and drops what is gone', async () => {
    const repo = sampleRepo();
    const reference = await scanCatalog(repo);

    const first = await scanCatalogCached(database.prisma, repo, noMemo);
    expect(first.stats).toEqual({ scanned: 4, parsed: 4, reused: 0, dropped: 0, memo: false });
    expect(first.cacheError).toBeUndefined();
    expect({ playbooks: first.playbooks, warnings: first.warnings }).toEqual(reference);
    const filled = await rows(repo);
    expect(filled.map((r) => r.path)).toEqual(['failure-drill.yml', 'kuma-config-update.yml', 'kuma-deploy.yml', 'postgres-setup.yml']);
    for (const row of filled) {
      expect(row.contentHash).toMatch(/^[0-9a-f]{64}$/);
      expect(row.entry).toEqual([expect.objectContaining({ path: row.path })]);
      expect(row.warnings).toEqual([]);
    }

    const second = await scanCatalogCached(database.prisma, repo, noMemo);
    expect(second.stats).toEqual({ scanned: 4, parsed: 0, reused: 4, dropped: 0, memo: false });
    expect({ playbooks: second.playbooks, warnings: second.warnings }).toEqual(reference);

    // A changed metadata file: only its playbook is parsed again.
    const meta = path.join(repo, 'kuma-deploy.meta.yml');
    fs.writeFileSync(meta, fs.readFileSync(meta, 'utf8').replace('default: 3001', 'default: 3999'));
    const third = await scanCatalogCached(database.prisma, repo, noMemo);
    expect(third.stats).toEqual({ scanned: 4, parsed: 1, reused: 3, dropped: 0, memo: false });
    expect(third.playbooks.find((p) => p.path === 'kuma-deploy.yml')!.vars).toContainEqual(
      expect.objectContaining({ name: 'kuma_port', default: 3999 }),
    );
    const afterChange = await rows(repo);
    const hashOf = (list: typeof filled, p: string) => list.find((r) => r.path === p)!.contentHash;
    expect(hashOf(afterChange, 'kuma-deploy.yml')).not.toBe(hashOf(filled, 'kuma-deploy.yml'));
    for (const p of ['failure-drill.yml', 'kuma-config-update.yml', 'postgres-setup.yml'])
      expect(hashOf(afterChange, p)).toBe(hashOf(filled, p));
    expect((afterChange.find((r) => r.path === 'kuma-deploy.yml')!.entry as any)[0].vars).toContainEqual(
      expect.objectContaining({ default: 3999 }),
    );

    // A changed playbook (its metadata untouched) is parsed again too.
    fs.appendFileSync(path.join(repo, 'failure-drill.yml'), '# a comment\n');
    expect((await scanCatalogCached(database.prisma, repo, noMemo)).stats).toMatchObject({ parsed: 1, reused: 3 });

    // A deleted playbook: its row is dropped, its metadata now an orphan.
    fs.rmSync(path.join(repo, 'postgres-setup.yml'));
    const fourth = await scanCatalogCached(database.prisma, repo, noMemo);
    expect(fourth.stats).toEqual({ scanned: 3, parsed: 0, reused: 3, dropped: 1, memo: false });
    expect(fourth.playbooks.map((p) => p.service)).not.toContain('postgres');
    expect(fourth.warnings).toContainEqual({ file: 'postgres-setup.meta.yml', message: 'metadata without a playbook next to it' });
    expect((await rows(repo)).map((r) => r.path)).toEqual(['failure-drill.yml', 'kuma-config-update.yml', 'kuma-deploy.yml']);
    expect({ playbooks: fourth.playbooks, warnings: fourth.warnings }).toEqual(await scanCatalog(repo));
  });

  it('turns malformed metadata and playbooks into warnings with file and line, and keeps scanning', async () => {
    const repo = sampleRepo();
    fs.writeFileSync(path.join(repo, 'broken.yml'), '- hosts: homelab\n  tasks: []\n');
    fs.writeFileSync(path.join(repo, 'broken.meta.yml'), 'argument_specs:\n  main:\n    options:\n      port: {type: int\n');
    fs.writeFileSync(path.join(repo, 'wrong.yml'), '- hosts: homelab\n  tasks: []\n');
    fs.writeFileSync(
      path.join(repo, 'wrong.meta.yml'),
      'argument_specs:\n  main:\n    options:\n      port: {type: integer}\n    chiffon:\n      service: wrong\n      intents: [{name: do_wrong, verbs: [do]}]\n',
    );
    fs.writeFileSync(path.join(repo, 'not-yaml.yml'), '- hosts: [homelab\n');
    fs.writeFileSync(
      path.join(repo, 'not-yaml.meta.yml'),
      fs.readFileSync(path.join(repo, 'failure-drill.meta.yml'), 'utf8').replace(/failure-drill|run_failure_drill/g, 'x_y'),
    );

    const first = await scanCatalogCached(database.prisma, repo, noMemo);
    expect(first.stats).toMatchObject({ scanned: 7, parsed: 7 });
    expect(first.playbooks.map((p) => p.path)).toEqual([
      'failure-drill.yml',
      'kuma-config-update.yml',
      'kuma-deploy.yml',
      'postgres-setup.yml',
    ]);
    expect(first.warnings).toContainEqual({ file: 'broken.meta.yml', line: expect.any(Number), message: expect.stringMatching(/^YAML: /) });
    expect(first.warnings).toContainEqual({
      file: 'wrong.meta.yml',
      line: 4,
      message: expect.stringContaining('argument_specs.main.options.port.type'),
    });
    expect(first.warnings).toContainEqual({ file: 'not-yaml.yml', line: expect.any(Number), message: expect.stringMatching(/^YAML: /) });
    for (const file of ['broken.yml', 'wrong.yml', 'not-yaml.yml']) {
      expect(
        first.warnings
          .filter((w) => w.file === file)
          .map((w) => w.message)
          .join('\n'),
      ).toMatch(/cannot be planned/);
    }
    expect({ playbooks: first.playbooks, warnings: first.warnings }).toEqual(await scanCatalog(repo));

    // The unplannable ones are cached too (no entries, their warnings), so they are not parsed again.
    const broken = await database.prisma.playbookCache.findUniqueOrThrow({ where: { repo_path: { repo, path: 'wrong.yml' } } });
    expect(broken.entry).toEqual([]);
    expect(broken.warnings).toContainEqual(expect.objectContaining({ file: 'wrong.meta.yml', line: 4 }));
    const second = await scanCatalogCached(database.prisma, repo, noMemo);
    expect(second.stats).toMatchObject({ scanned: 7, parsed: 0, reused: 7 });
    expect(second.warnings).toEqual(first.warnings);
  });

  it('keeps the rows of each repository apart', async () => {
    const [a, b] = [sampleRepo(), sampleRepo()];
    await scanCatalogCached(database.prisma, a, noMemo);
    fs.rmSync(path.join(b, 'kuma-deploy.yml'));
    expect((await scanCatalogCached(database.prisma, b, noMemo)).stats).toMatchObject({ scanned: 3, parsed: 3, dropped: 0 });
    expect(await rows(a)).toHaveLength(4);
    expect(await rows(b)).toHaveLength(3);
  });

  it('answers from the in-process memo while nothing changed, and not once something did', async () => {
    const repo = sampleRepo();
    expect((await scanCatalogCached(database.prisma, repo)).stats).toMatchObject({ parsed: 4, memo: false });
    const again = await scanCatalogCached(database.prisma, repo);
    expect(again.stats).toEqual({ scanned: 4, parsed: 0, reused: 4, dropped: 0, memo: true });
    expect({ playbooks: again.playbooks, warnings: again.warnings }).toEqual(await scanCatalog(repo));

    fs.appendFileSync(path.join(repo, 'kuma-deploy.yml'), '# changed\n');
    expect((await scanCatalogCached(database.prisma, repo)).stats).toMatchObject({ parsed: 1, reused: 3, memo: false });
    fs.rmSync(path.join(repo, 'kuma-deploy.yml'));
    expect((await scanCatalogCached(database.prisma, repo)).stats).toMatchObject({ scanned: 3, dropped: 1, memo: false });
  });

  it("answers from an unchanged repository without reading it, and each answer is the caller's own", async () => {
    const repo = sampleRepo();
    await new Promise((resolve) => setTimeout(resolve, 1_100)); // stat signatures of older files are trusted
    await scanCatalogCached(database.prisma, repo);
    const first = await scanCatalogCached(database.prisma, repo);
    const second = await scanCatalogCached(database.prisma, repo);
    expect(second.stats).toEqual({ scanned: 4, parsed: 0, reused: 4, dropped: 0, memo: true });
    expect({ playbooks: second.playbooks, warnings: second.warnings }).toEqual(await scanCatalog(repo));
    first.playbooks.pop();
    second.warnings.push({ file: 'x', message: 'y' });
    expect({ playbooks: (await scanCatalogCached(database.prisma, repo)).playbooks }).toEqual({
      playbooks: (await scanCatalog(repo)).playbooks,
    });
    expect((await scanCatalogCached(database.prisma, repo)).warnings).toEqual((await scanCatalog(repo)).warnings);

    fs.appendFileSync(path.join(repo, 'kuma-deploy.meta.yml'), '# changed\n');
    expect((await scanCatalogCached(database.prisma, repo)).stats).toMatchObject({ parsed: 1, reused: 3, memo: false });
  });

  it('still scans everything when the database cannot be reached', async () => {
    const repo = sampleRepo();
    const unreachable = createPrismaClient('postgresql://postgres@127.0.0.1:1/nowhere');
    try {
      const catalog = await scanCatalogCached(unreachable, repo);
      expect(catalog.cacheError).toMatch(/cannot read the playbook cache/);
      expect(catalog.stats).toMatchObject({ scanned: 4, parsed: 4, reused: 0 });
      expect({ playbooks: catalog.playbooks, warnings: catalog.warnings }).toEqual(await scanCatalog(repo));
    } finally {
      await unreachable.$disconnect();
    }
  });

  it('refuses a repository that is not a folder', async () => {
    await expect(scanCatalogCached(database.prisma, path.join(os.tmpdir(), 'chiffon-no-such-repo'))).rejects.toThrow(/is not a directory/);
  });

  it('scans 2,000 playbooks cold, then warm without parsing any', async () => {
    const repo = tempDir('chiffon-cache-2000-');
    const count = 2_000;
    for (let i = 0; i < count; i++) {
      const folder = path.join(repo, `team-${String(i % 40).padStart(2, '0')}`);
      fs.mkdirSync(folder, { recursive: true });
      const name = `service-${String(i).padStart(4, '0')}`;
      fs.writeFileSync(
        path.join(folder, `${name}.yml`),
        `- name: ${name}\n  hosts: homelab\n  tasks:\n    - name: say hello\n      ansible.builtin.debug:\n        msg: "{{ ${name.replace('-', '_')}_port }}"\n`,
      );
      fs.writeFileSync(
        path.join(folder, `${name}.meta.yml`),
        [
          '---',
          `short_description: Deploy ${name}`,
          'argument_specs:',
          '  main:',
          `    short_description: Deploy ${name}`,
          '    options:',
          `      ${name.replace('-', '_')}_port: {type: int, default: ${10000 + i}, description: Port of ${name}.}`,
          `      ${name.replace('-', '_')}_token: {type: str, required: false, no_log: true}`,
          `      ${name.replace('-', '_')}_targets: {type: list, elements: dict, required: true}`,
          '    chiffon:',
          `      service: ${name}`,
          `      aliases: [${name.replace('-', ' ')}]`,
          '      intents:',
          `        - {name: deploy_${name.replace('-', '_')}, verbs: [deploy, install], objects: []}`,
          `      after: [${i % 40 === i ? '' : `service-${String(i - 40).padStart(4, '0')}.yml`}]`,
          '      vars_from_inventory:',
          `        ${name.replace('-', '_')}_targets: portals`,
          '',
        ].join('\n'),
      );
    }

    const time = async (label: string, options = noMemo) => {
      const started = performance.now();
      const catalog = await scanCatalogCached(database.prisma, repo, options);
      const ms = performance.now() - started;
      console.log(`catalog cache, ${count} playbooks, ${label}: ${ms.toFixed(0)} ms ${JSON.stringify(catalog.stats)}`);
      return { catalog, ms };
    };

    const cold = await time('cold');
    expect(cold.catalog.stats).toEqual({ scanned: count, parsed: count, reused: 0, dropped: 0, memo: false });
    expect(cold.catalog.playbooks).toHaveLength(count);
    expect(cold.catalog.warnings).toEqual([]);
    expect(await database.prisma.playbookCache.count({ where: { repo } })).toBe(count);

    const warm = await time('warm (database)');
    expect(warm.catalog.stats).toEqual({ scanned: count, parsed: 0, reused: count, dropped: 0, memo: false });
    expect(warm.catalog.playbooks).toEqual(cold.catalog.playbooks);
    expect(warm.ms).toBeLessThan(10_000);

    const memo = await time('warm (memo)', { memoMs: 60_000 });
    const memoAgain = await time('warm (memo hit)', { memoMs: 60_000 });
    expect(memo.catalog.stats.parsed).toBe(0);
    expect(memoAgain.catalog.stats).toMatchObject({ parsed: 0, memo: true });

    fs.appendFileSync(path.join(repo, 'team-07', 'service-0007.meta.yml'), '# touched\n');
    fs.rmSync(path.join(repo, 'team-08', 'service-1968.yml'));
    const changed = await time('one changed, one deleted');
    expect(changed.catalog.stats).toEqual({ scanned: count - 1, parsed: 1, reused: count - 2, dropped: 1, memo: false });

    const uncached = performance.now();
    await scanCatalog(repo);
    console.log(`catalog, ${count} playbooks, scanCatalog without a cache: ${(performance.now() - uncached).toFixed(0)} ms`);
  });
});
