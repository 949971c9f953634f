// The catalog scan with its results cached in PostgreSQL (table playbook_cache), keyed by the
// repository, the playbook's path and a sha256 over the playbook and its metadata file.
//
// Every scan looks at every folder and every playbook and metadata file: that is how a change is
// noticed, whatever made it (an editor, git checkout, a copy). What is unchanged since the last scan
// in this process (by stat signature, catalog-files.ts) is not listed or read again; the rest is read
// and hashed. Only new or changed pairs are parsed; the others come from the cache. Rows of playbooks that are gone are
// dropped. One query reads the repository's rows and one transaction writes the changes, however
// many playbooks there are. The cache only saves work: a database that cannot be read or written
// makes the scan parse everything (and say so in cacheError); it never fails the scan.
//
// Repeated scans within a moment (decompose, then plan, then a dashboard call) do not even query:
// an in-process memo per Prisma client and repository answers when every hash is what it was at
// the last exchange with the database, up to memoMs after it.
import type { Catalog } from '../../domain/types.js';
import { type Prisma, type PrismaClient } from '../../generated/prisma/client.js';
import {
  assembleCatalog,
  parseSource,
  repoFilesOf,
  type CatalogWarning,
  type ParsedSource,
  type PlaybookSource,
  type RepoFiles,
} from './catalog.js';
import { readRepository } from './catalog-files.js';

export interface CatalogScanStats {
  /** YAML files that may be playbooks (the ones a cache row can exist for). */
  scanned: number;
  /** Of those, parsed by this scan: new, or changed since their cached result. */
  parsed: number;
  /** Of those, taken from the cache (same content hash). */
  reused: number;
  /** Cache rows deleted because their playbook or its metadata file is gone. */
  dropped: number;
  /** The in-process memo answered: no query was made. */
  memo: boolean;
}

export type CachedCatalog = Catalog & {
  stats: CatalogScanStats;
  /** Why the cache could not be read or written (the catalog is complete all the same). */
  cacheError?: string;
};

export interface CachedScanOptions {
  /** How long after its last exchange with the database the memo may answer; 0 turns it off. Default 2000. */
  memoMs?: number;
}

export const DEFAULT_MEMO_MS = 2_000;

/** Rows per createMany and paths per deleteMany (PostgreSQL takes at most 65,535 bind values a query). */
const INSERT_CHUNK = 1_000;
const DELETE_CHUNK = 5_000;

interface Known {
  hash: string;
  /** Undefined for a cache row of an unexpected shape: parsed again. */
  parsed: ParsedSource | undefined;
}

interface Memo {
  /** When the database last agreed with `known`. */
  at: number;
  known: Map<string, Known>;
  /**
   * The catalog a memo answer assembled, with the scan result it came from: the next answer from
   * the very same (unchanged) scan result copies it instead of assembling it again.
   */
  assembled?: { from: object; catalog: Catalog };
}

/** Per Prisma client (one database each), per repository. */
const memos = new WeakMap<object, Map<string, Memo>>();

export async function scanCatalogCached(prisma: PrismaClient, repoDir: string, options: CachedScanOptions = {}): Promise<CachedCatalog> {
  const memoMs = options.memoMs ?? DEFAULT_MEMO_MS;
  // Unchanged folders and files (by their stat signatures) are not listed or read again: catalog-files.ts.
  const { listing, current, support } = await readRepository(repoDir);
  const repo = listing.root;
  let files: RepoFiles | undefined;
  const repoFiles = () =>
    (files ??= repoFilesOf(
      current.map((c) => [c.source.playbook, c.content.playbook] as const),
      support,
    ));

  const finish = (parsed: ParsedSource[], stats: Omit<CatalogScanStats, 'scanned'>, cacheError?: string): CachedCatalog => ({
    ...assembleCatalog(parsed, listing.warnings),
    stats: { scanned: current.length, ...stats },
    ...(cacheError === undefined ? {} : { cacheError }),
  });

  let repoMemos = memos.get(prisma);
  if (!repoMemos) memos.set(prisma, (repoMemos = new Map()));
  const memo = repoMemos.get(repo);
  if (
    memo &&
    Date.now() - memo.at < memoMs &&
    memo.known.size === current.length &&
    current.every((c) => memo.known.get(c.source.playbook)?.hash === c.hash)
  ) {
    const stats = { parsed: 0, reused: current.length, dropped: 0, memo: true };
    if (memo.assembled?.from === current) {
      const { playbooks, warnings } = memo.assembled.catalog;
      return { playbooks: [...playbooks], warnings: [...warnings], stats: { scanned: current.length, ...stats } };
    }
    const answer = finish(
      current.map((c) => memo.known.get(c.source.playbook)!.parsed!),
      stats,
    );
    memo.assembled = { from: current, catalog: { playbooks: [...answer.playbooks], warnings: [...answer.warnings] } };
    return answer;
  }
  repoMemos.delete(repo);

  let cached: Map<string, Known>;
  try {
    const rows = await prisma.playbookCache.findMany({
      where: { repo },
      select: { path: true, contentHash: true, entry: true, warnings: true },
    });
    cached = new Map(rows.map((row) => [row.path, { hash: row.contentHash, parsed: fromRow(row.entry, row.warnings) }]));
  } catch (err) {
    const parsed = current.map((c) => parseSource(c.source, c.content, repoFiles()));
    return finish(
      parsed,
      { parsed: parsed.length, reused: 0, dropped: 0, memo: false },
      `cannot read the playbook cache: ${errorMessage(err)}`,
    );
  }

  const known = new Map<string, Known>();
  const results: ParsedSource[] = [];
  const stale: string[] = [];
  const rows: Prisma.PlaybookCacheCreateManyInput[] = [];
  const scannedAt = new Date();
  let reused = 0;
  for (const { source, content, hash } of current) {
    const row = cached.get(source.playbook);
    if (row?.parsed && row.hash === hash) {
      reused++;
      results.push(row.parsed);
      known.set(source.playbook, row);
      continue;
    }
    if (row) stale.push(source.playbook);
    const { parsed, json } = parseAsStored(source, content, repoFiles());
    results.push(parsed);
    // PostgreSQL's jsonb holds no \u0000: such a playbook is parsed on every scan instead.
    if (json.includes('\\u0000')) continue;
    known.set(source.playbook, { hash, parsed });
    rows.push({
      repo,
      path: source.playbook,
      contentHash: hash,
      entry: parsed.entries as unknown as Prisma.InputJsonArray,
      warnings: parsed.warnings as unknown as Prisma.InputJsonArray,
      scannedAt,
    });
  }
  const present = new Set(current.map((c) => c.source.playbook));
  const dropped = [...cached.keys()].filter((p) => !present.has(p));

  const stats = { parsed: current.length - reused, reused, dropped: dropped.length, memo: false };
  const toDelete = [...stale, ...dropped];
  if (toDelete.length > 0 || rows.length > 0) {
    try {
      await prisma.$transaction([
        ...chunks(toDelete, DELETE_CHUNK).map((paths) => prisma.playbookCache.deleteMany({ where: { repo, path: { in: paths } } })),
        // skipDuplicates: another worker scanning the same repository at the same time wrote them first.
        ...chunks(rows, INSERT_CHUNK).map((data) => prisma.playbookCache.createMany({ data, skipDuplicates: true })),
      ]);
    } catch (err) {
      return finish(results, stats, `cannot write the playbook cache: ${errorMessage(err)}`);
    }
  }
  if (memoMs > 0 && known.size === current.length) repoMemos.set(repo, { at: Date.now(), known });
  return finish(results, stats);
}

/**
 * Parses a pair and returns the result as it will read back from the cache (a JSON round trip), so a
 * cold scan and a warm scan give the same catalog.
 */
function parseAsStored(
  source: PlaybookSource,
  content: Parameters<typeof parseSource>[1],
  files: RepoFiles,
): { parsed: ParsedSource; json: string } {
  const json = JSON.stringify(parseSource(source, content, files));
  return { parsed: JSON.parse(json) as ParsedSource, json };
}

/** A cache row's columns as a parse result, or undefined when they have another shape. */
function fromRow(entries: unknown, warnings: unknown): ParsedSource | undefined {
  const ok = Array.isArray(warnings) && Array.isArray(entries);
  return ok ? { entries: entries as ParsedSource['entries'], warnings: warnings as CatalogWarning[] } : undefined;
}

function chunks<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
