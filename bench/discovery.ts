// 5. Discovery: cold and warm scans of a generated repository of 2,000 playbooks with metadata,
// through the cached scan the worker uses (services/catalog/catalog-cache.ts, cache in PostgreSQL).
// cold: empty cache (every playbook parsed, every row written); warm: the cache holds every
// playbook (the repository is still listed, read and hashed; one query); memo: the in-process memo
// answers (a scan within 2 s of the last one, no query). Plain scan: no cache at all.
import path from 'node:path';
import { scanCatalog } from '../services/catalog/catalog.js';
import { scanCatalogCached } from '../services/catalog/catalog-cache.js';
import type { BenchStack } from './stack.js';
import { writeGeneratedRepo } from './fixtures/repos.js';
import { round, summarize } from './stats.js';

export interface DiscoveryResult {
  playbooks: number;
  generateMs: number;
  coldMs: number;
  warmMs: ReturnType<typeof summarize>;
  memoMs: ReturnType<typeof summarize>;
  uncachedMs: ReturnType<typeof summarize>;
  catalogEntries: number;
  warnings: number;
}

export async function measureDiscovery(stack: BenchStack, playbooks: number, n: number): Promise<DiscoveryResult> {
  let started = performance.now();
  const repo = writeGeneratedRepo(path.join(stack.scratch, `discovery-${playbooks}`), playbooks);
  const generateMs = round(performance.now() - started);

  started = performance.now();
  const cold = await scanCatalogCached(stack.prisma, repo, { memoMs: 0 });
  const coldMs = round(performance.now() - started);
  if (cold.stats.parsed !== playbooks) throw new Error(`cold scan parsed ${cold.stats.parsed} of ${playbooks} playbooks`);

  const timed = async (scan: () => Promise<unknown>) => {
    const samples: number[] = [];
    for (let i = 0; i < n; i++) {
      const t = performance.now();
      await scan();
      samples.push(performance.now() - t);
    }
    return summarize(samples);
  };
  const warmMs = await timed(async () => {
    const warm = await scanCatalogCached(stack.prisma, repo, { memoMs: 0 });
    if (warm.stats.reused !== playbooks) throw new Error(`warm scan reused ${warm.stats.reused} of ${playbooks}`);
  });
  await scanCatalogCached(stack.prisma, repo); // primes the memo
  const memoMs = await timed(async () => {
    const memo = await scanCatalogCached(stack.prisma, repo, { memoMs: 60_000 });
    if (!memo.stats.memo) throw new Error('the memo did not answer');
  });
  const uncachedMs = await timed(() => scanCatalog(repo));
  return {
    playbooks,
    generateMs,
    coldMs,
    warmMs,
    memoMs,
    uncachedMs,
    catalogEntries: cold.playbooks.length,
    warnings: cold.warnings.length,
  };
}
