// Scans a playbook repository into the Catalog the planner works from.
//
// A playbook is a *.yml / *.yaml file at any depth, outside hidden folders and the folders Ansible
// gives other meanings to (inventory/, group_vars/, host_vars/, roles/, ...). Its metadata is the
// sibling `<basename>.meta.yml` (or `.meta.yaml`). A playbook without valid metadata is listed as a
// warning and left out: it cannot be planned. A bad file never stops the scan.
//
// The scan is four steps, each exported so the cached scan (catalog-cache.ts) runs the same ones:
// listPlaybookSources (walk the folder, pair playbooks with their metadata), readSources + hashSource
// (the bytes of a pair and their sha256), parseSource (one pair into an entry and its warnings) and
// assembleCatalog (the checks across playbooks, sorted). scanCatalog runs them all, no cache.
import { createHash } from 'node:crypto';
import { closeSync, constants, fstatSync, openSync, readFileSync } from 'node:fs';
import { lstat, readdir } from 'node:fs/promises';
import path from 'node:path';
import { isMap, isScalar, isSeq, parseDocument, LineCounter } from 'yaml';
import { parseMetadata } from '../domain/playbook-metadata.js';
import type { Catalog, PlaybookEntry } from '../domain/types.js';
import { resolveInside } from '../lib/paths.js';

/** Folders (at any depth) that hold no playbooks. */
export const EXCLUDED_DIRS: ReadonlySet<string> = new Set([
  'inventory',
  'inventories',
  'group_vars',
  'host_vars',
  'roles',
  'collections',
  'templates',
  'files',
  'vars',
  'tasks',
  'handlers',
  'node_modules',
]);

const PLAYBOOK_FILE = /\.ya?ml$/i;
const META_FILE = /\.meta\.ya?ml$/i;
/** Larger files are not metadata or playbooks anyone wrote by hand. */
const MAX_FILE_BYTES = 1024 * 1024;
/** The longest the scan reads files without giving the event loop a turn. */
const READ_SLICE_MS = 10;
/**
 * Part of every source hash: bump it when parseSource's output for the same bytes changes (a new
 * metadata rule, another entry shape), so cached results of the older code are parsed again.
 */
export const PARSE_VERSION = 'chiffon-catalog-2';

export type CatalogWarning = Catalog['warnings'][number];

/** A playbook and the metadata file it is planned from, both relative to the repository. */
export interface PlaybookSource {
  playbook: string;
  meta: string;
}

export interface CatalogListing {
  /** The repository's absolute path. */
  root: string;
  /** Playbooks that have a metadata file, sorted by path. */
  sources: PlaybookSource[];
  /** Problems of the listing itself: unreadable folders, playbooks without metadata, orphan metadata. */
  warnings: CatalogWarning[];
}

/** A file's bytes, or why they could not be read. */
export type FileRead = { bytes: Buffer } | { warning: CatalogWarning };

export interface SourceContent {
  playbook: FileRead;
  meta: FileRead;
}

/** What one playbook contributes to the catalog: its entry when it is plannable, and its warnings. */
export interface ParsedSource {
  entry: PlaybookEntry | null;
  warnings: CatalogWarning[];
}

export async function scanCatalog(repoDir: string): Promise<Catalog> {
  const listing = await listPlaybookSources(repoDir);
  const contents = await readSources(listing.root, listing.sources);
  return assembleCatalog(
    listing.sources.map((source, i) => parseSource(source, contents[i]!)),
    listing.warnings,
  );
}

/**
 * Walks the repository and pairs each playbook with its metadata file. Throws only when `repoDir` is
 * not a folder. `onFolder` is called with each folder walked, before it is listed (catalog-files.ts
 * takes the folder's stat signature there).
 */
export async function listPlaybookSources(repoDir: string, onFolder?: (dir: string) => void): Promise<CatalogListing> {
  const root = path.resolve(repoDir);
  const rootStat = await lstat(root).catch(() => undefined);
  if (!rootStat?.isDirectory()) throw new Error(`playbook repository ${root} is not a directory`);

  const warnings: CatalogWarning[] = [];
  const files = await listFiles(root, warnings, onFolder);
  const fileSet = new Set(files);
  const usedMeta = new Set<string>();
  const sources: PlaybookSource[] = [];
  for (const playbook of files) {
    if (!PLAYBOOK_FILE.test(playbook) || META_FILE.test(playbook)) continue;
    const base = playbook.replace(/\.ya?ml$/i, '');
    const candidates = [`${base}.meta.yml`, `${base}.meta.yaml`].filter((m) => fileSet.has(m));
    candidates.forEach((m) => usedMeta.add(m));
    const meta = candidates[0];
    if (meta === undefined) {
      warnings.push({ file: playbook, message: `no metadata (${base}.meta.yml): the playbook cannot be planned` });
      continue;
    }
    if (candidates.length > 1) warnings.push({ file: candidates[1]!, message: `ignored: ${meta} is used` });
    sources.push({ playbook, meta });
  }
  for (const file of files) {
    if (META_FILE.test(file) && !usedMeta.has(file)) warnings.push({ file, message: 'metadata without a playbook next to it' });
  }
  return { root, sources, warnings };
}

/**
 * Reads every pair's playbook and metadata file, in the order of `sources`. Never throws: a file that
 * cannot be read becomes a warning. The reads are synchronous, in slices of at most READ_SLICE_MS
 * after which the event loop gets a turn, so a large repository never holds it for long.
 */
export async function readSources(root: string, sources: readonly PlaybookSource[]): Promise<SourceContent[]> {
  const contents: SourceContent[] = [];
  let sliceStart = performance.now();
  for (const source of sources) {
    contents.push({ playbook: readBytesSync(root, source.playbook), meta: readBytesSync(root, source.meta) });
    if (performance.now() - sliceStart > READ_SLICE_MS) {
      await new Promise((resolve) => setImmediate(resolve));
      sliceStart = performance.now();
    }
  }
  return contents;
}

/** sha256 over what parseSource reads: the metadata file's name, both files' bytes (or read errors) and PARSE_VERSION. */
export function hashSource(source: PlaybookSource, content: SourceContent): string {
  const hash = createHash('sha256');
  const part = (label: string, value: string | Buffer) => {
    const length = typeof value === 'string' ? Buffer.byteLength(value) : value.length;
    hash.update(`${label}:${length}:`);
    hash.update(value);
  };
  part('version', PARSE_VERSION);
  part('meta-path', source.meta);
  for (const [label, read] of [['playbook', content.playbook], ['meta', content.meta]] as const) {
    if ('bytes' in read) part(label, read.bytes);
    else part(`${label}-unreadable`, read.warning.message);
  }
  return hash.digest('hex');
}

/** One playbook and its metadata into a catalog entry (null when it cannot be planned) and warnings. Never throws. */
export function parseSource(source: PlaybookSource, content: SourceContent): ParsedSource {
  const { playbook, meta } = source;
  const warnings: CatalogWarning[] = [];
  if ('warning' in content.playbook) return { entry: null, warnings: [content.playbook.warning] };
  const checked = checkPlaybook(playbook, content.playbook.bytes.toString('utf8'), warnings);
  if (!checked.ok) return { entry: null, warnings };
  if ('warning' in content.meta) return { entry: null, warnings: [...warnings, content.meta.warning] };

  const { entry, warnings: metaWarnings } = parseMetadata(playbook, content.meta.bytes.toString('utf8'), meta);
  warnings.push(...metaWarnings);
  if (!entry) {
    warnings.push({ file: playbook, message: `the metadata in ${meta} is not valid: the playbook cannot be planned` });
    return { entry: null, warnings };
  }
  return { entry: checked.hosts ? { ...entry, hosts: checked.hosts } : entry, warnings };
}

/** The catalog from every playbook's parse result and the listing's warnings: cross-playbook checks, sorted. */
export function assembleCatalog(parsed: Iterable<ParsedSource>, listingWarnings: CatalogWarning[]): Catalog {
  const playbooks: PlaybookEntry[] = [];
  const warnings: CatalogWarning[] = [...listingWarnings];
  for (const p of parsed) {
    if (p.entry) playbooks.push(p.entry);
    warnings.push(...p.warnings);
  }
  checkCatalog(playbooks, warnings);
  playbooks.sort((a, b) => compare(a.path, b.path));
  warnings.sort((a, b) => compare(a.file, b.file) || (a.line ?? 0) - (b.line ?? 0));
  return { playbooks, warnings };
}

/** Repository-relative, `/`-separated paths of the regular files to consider, sorted. */
async function listFiles(root: string, warnings: CatalogWarning[], onFolder?: (dir: string) => void): Promise<string[]> {
  const found: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    let entries;
    try {
      onFolder?.(dir);
      entries = await readdir(dir, { withFileTypes: true });
    } catch (err) {
      warnings.push({ file: toRelative(root, dir) || '.', message: `cannot list the folder: ${errorMessage(err)}` });
      return;
    }
    entries.sort((a, b) => compare(a.name, b.name));
    for (const entry of entries) {
      if (entry.name.startsWith('.')) continue;
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) {
        if (!EXCLUDED_DIRS.has(entry.name)) await walk(full);
      } else if (entry.isFile()) {
        found.push(toRelative(root, full));
      } else if (entry.isSymbolicLink() && PLAYBOOK_FILE.test(entry.name)) {
        // Not followed: a link could lead out of the repository.
        warnings.push({ file: toRelative(root, full), message: 'symbolic link skipped' });
      }
    }
  };
  await walk(root);
  return found;
}

/**
 * Reads one file. Synchronous on purpose: the files are small, and on this kind of machine 4,000
 * synchronous reads take about a fifth of the time of the same reads through the libuv thread pool
 * (open, fstat, read and close are a pool round trip each). readSources yields between batches.
 */
export function readBytesSync(root: string, relative: string): FileRead {
  let fd: number | undefined;
  try {
    // O_NOFOLLOW: a file swapped for a symbolic link since the listing is refused, not followed;
    // O_NONBLOCK: nor does one swapped for a FIFO hang the scan.
    fd = openSync(resolveInside(root, relative), constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    const stat = fstatSync(fd);
    if (!stat.isFile()) return { warning: { file: relative, message: 'not a regular file: skipped' } };
    if (stat.size > MAX_FILE_BYTES) return { warning: { file: relative, message: `larger than ${MAX_FILE_BYTES} bytes: skipped` } };
    return { bytes: readFileSync(fd) };
  } catch (err) {
    return { warning: { file: relative, message: `cannot read the file: ${errorMessage(err)}` } };
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/**
 * A playbook must at least be YAML holding a list of plays. Returns the plays' `hosts:` patterns
 * (joined as one Ansible pattern): the planner makes a step for each inventory host they match.
 */
function checkPlaybook(file: string, text: string, warnings: CatalogWarning[]): { ok: false } | { ok: true; hosts?: string } {
  try {
    const lineCounter = new LineCounter();
    const doc = parseDocument(text, { lineCounter, prettyErrors: false });
    if (doc.errors.length > 0) {
      for (const e of doc.errors) warnings.push({ file, line: lineCounter.linePos(e.pos[0]).line, message: `YAML: ${e.message}` });
      warnings.push({ file, message: 'not valid YAML: the playbook cannot be planned' });
      return { ok: false };
    }
    if (!isSeq(doc.contents)) {
      warnings.push({ file, line: 1, message: 'not a playbook (expected a list of plays): it cannot be planned' });
      return { ok: false };
    }
    const patterns = new Set<string>();
    for (const play of doc.contents.items) {
      const hosts = isMap(play) ? play.get('hosts', true) : undefined;
      const names = isSeq(hosts) ? hosts.items : [hosts];
      for (const name of names) if (isScalar(name) && typeof name.value === 'string' && name.value.trim()) patterns.add(name.value.trim());
    }
    return patterns.size > 0 ? { ok: true, hosts: [...patterns].join(',') } : { ok: true };
  } catch (err) {
    warnings.push({ file, message: `cannot parse the playbook: ${errorMessage(err)}` });
    return { ok: false };
  }
}

/** Problems across playbooks: dangling `after` references, intents declared twice. */
function checkCatalog(playbooks: PlaybookEntry[], warnings: CatalogWarning[]): void {
  const paths = new Set(playbooks.map((p) => p.path));
  const intentOwners = new Map<string, string[]>();
  for (const p of playbooks) {
    for (const ref of p.after) {
      if (!paths.has(ref)) warnings.push({ file: p.path, message: `runs after ${ref}, which is not a plannable playbook of the repository` });
    }
    for (const intent of p.intents) intentOwners.set(intent.name, [...(intentOwners.get(intent.name) ?? []), p.path]);
  }
  for (const [intent, owners] of intentOwners) {
    if (owners.length > 1) warnings.push({ file: owners[1]!, message: `intent ${intent} is also declared by ${owners[0]}` });
  }
}

function toRelative(root: string, full: string): string {
  return path.relative(root, full).split(path.sep).join('/');
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
