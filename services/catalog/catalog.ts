// Scans a playbook repository into the Catalog the planner works from.
//
// A playbook is a *.yml / *.yaml file at any depth, outside hidden folders and the folders Ansible
// gives other meanings to (inventory/, group_vars/, roles/, tasks/, ...), whose document is a list
// of plays. Any other YAML file (compose files, charts, vars files, CI files) is not a playbook and
// is passed over without a word; a file is warned about only when it is meant as a playbook and
// Ansible could not use it (it does not parse, a role it applies is not there).
//
// What a playbook can do comes from its sibling `<basename>.meta.yml` (or `.meta.yaml`) when there
// is one: that explicit override wins. Otherwise it is inferred from the repository itself
// (domain/playbook-inference.ts): roles, tags, switches, imports, argument_specs, names. The files
// that inference reads beside the playbooks (roles/, tasks/, vars/, ...) are the repository's
// support files; every playbook's hash covers them too.
//
// The scan is four steps, each exported so the cached scan (catalog-cache.ts) runs the same ones:
// listPlaybookSources (walk the folder, pair playbooks with their metadata, list support files),
// readSources + hashSource (the bytes of a pair and their sha256), parseSource (one pair into its
// entries and warnings) and assembleCatalog (the checks across playbooks, sorted). scanCatalog runs
// them all, no cache.
import { createHash } from 'node:crypto';
import { closeSync, constants, fstatSync, openSync, readFileSync } from 'node:fs';
import { lstat, readdir } from 'node:fs/promises';
import path from 'node:path';
import { isMap, isScalar, isSeq, parseDocument, LineCounter } from 'yaml';
import { parseMetadata } from '../../domain/playbook-metadata.js';
import { inferPlaybook, uniqueIntentNames, type RepoFiles } from '../../domain/playbook-inference.js';
import type { Catalog, PlaybookEntry } from '../../domain/types.js';
import { resolveInside } from '../../lib/paths.js';

/** Folders (at any depth) whose YAML files are read as support files of playbooks, never as playbooks. */
export const SUPPORT_DIRS: ReadonlySet<string> = new Set(['roles', 'tasks', 'vars', 'handlers', 'defaults', 'meta']);

/** Folders (at any depth) that hold neither playbooks nor anything the catalog reads. */
export const EXCLUDED_DIRS: ReadonlySet<string> = new Set([
  'inventory',
  'inventories',
  'group_vars',
  'host_vars',
  'collections',
  'templates',
  'files',
  'node_modules',
  'molecule',
  'tests',
  'test',
  'charts',
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
export const PARSE_VERSION = 'chiffon-catalog-3';

export type CatalogWarning = Catalog['warnings'][number];
export type { RepoFiles };

/** A YAML file that may be a playbook, and its metadata file when it has one, relative to the repository. */
export interface PlaybookSource {
  playbook: string;
  meta?: string;
}

export interface CatalogListing {
  /** The repository's absolute path. */
  root: string;
  /** YAML files outside the support and excluded folders, sorted by path. */
  sources: PlaybookSource[];
  /** YAML files in support folders (roles/, tasks/, vars/, ...), sorted by path. */
  supportFiles: string[];
  /** Problems of the listing itself: unreadable folders, orphan metadata. */
  warnings: CatalogWarning[];
}

/** A file's bytes, or why they could not be read. */
export type FileRead = { bytes: Buffer } | { warning: CatalogWarning };

export interface SourceContent {
  playbook: FileRead;
  meta?: FileRead;
}

/** What one file contributes to the catalog: its entries (none: not a playbook), and its warnings. */
export interface ParsedSource {
  entries: PlaybookEntry[];
  warnings: CatalogWarning[];
}

export async function scanCatalog(repoDir: string): Promise<Catalog> {
  const listing = await listPlaybookSources(repoDir);
  const contents = await readSources(listing.root, listing.sources);
  const support = new Map(listing.supportFiles.map((file) => [file, readBytesSync(listing.root, file)]));
  const files = repoFilesOf(
    listing.sources.map((source, i) => [source.playbook, contents[i]!.playbook] as const),
    support,
  );
  return assembleCatalog(
    listing.sources.map((source, i) => parseSource(source, contents[i]!, files)),
    listing.warnings,
  );
}

/**
 * The repository's YAML as inference reads it: the candidate files and the support files, each
 * parsed at most once per content (a memo by sha256 shared by every scan of this process).
 */
export function repoFilesOf(candidates: Iterable<readonly [string, FileRead]>, support: ReadonlyMap<string, FileRead>): RepoFiles {
  const reads = new Map<string, FileRead>(support);
  for (const [file, read] of candidates) reads.set(file, read);
  const folders = new Set<string>();
  for (const file of reads.keys()) {
    for (let at = file.lastIndexOf('/'); at > 0; at = file.lastIndexOf('/', at - 1)) folders.add(file.slice(0, at));
  }
  return {
    yaml(file) {
      const read = reads.get(file);
      return read && 'bytes' in read ? parsedYaml(read.bytes) : undefined;
    },
    has: (file) => reads.has(file) || folders.has(file),
  };
}

/** Ansible reads YAML 1.1 (PyYAML): `become: yes` is true there, and must be here too. */
const ANSIBLE_YAML = '1.1';
const YAML_MEMO_ENTRIES = 20_000;
const yamlMemo = new Map<string, unknown>();

/** The YAML document in `bytes` as plain data; undefined when it is not valid YAML. */
function parsedYaml(bytes: Buffer): unknown {
  const key = createHash('sha256').update(bytes).digest('base64');
  if (yamlMemo.has(key)) return yamlMemo.get(key);
  let value: unknown;
  try {
    const doc = parseDocument(bytes.toString('utf8'), { prettyErrors: false, version: ANSIBLE_YAML });
    value = doc.errors.length > 0 ? undefined : doc.toJS({ maxAliasCount: 100 });
  } catch {
    value = undefined;
  }
  yamlMemo.set(key, value);
  if (yamlMemo.size > YAML_MEMO_ENTRIES) yamlMemo.delete(yamlMemo.keys().next().value!);
  return value;
}

/**
 * Walks the repository, pairs each YAML file with its metadata file and lists the support files.
 * Throws only when `repoDir` is not a folder. `onFolder` is called with each folder walked, before
 * it is listed (catalog-files.ts takes the folder's stat signature there).
 */
export async function listPlaybookSources(repoDir: string, onFolder?: (dir: string) => void): Promise<CatalogListing> {
  const root = path.resolve(repoDir);
  const rootStat = await lstat(root).catch(() => undefined);
  if (!rootStat?.isDirectory()) throw new Error(`playbook repository ${root} is not a directory`);

  const warnings: CatalogWarning[] = [];
  const { files, supportFiles } = await listFiles(root, warnings, onFolder);
  const fileSet = new Set(files);
  const usedMeta = new Set<string>();
  const sources: PlaybookSource[] = [];
  for (const playbook of files) {
    if (!PLAYBOOK_FILE.test(playbook) || META_FILE.test(playbook)) continue;
    const base = playbook.replace(/\.ya?ml$/i, '');
    const candidates = [`${base}.meta.yml`, `${base}.meta.yaml`].filter((m) => fileSet.has(m));
    candidates.forEach((m) => usedMeta.add(m));
    const meta = candidates[0];
    if (candidates.length > 1) warnings.push({ file: candidates[1]!, message: `ignored: ${meta} is used` });
    sources.push(meta === undefined ? { playbook } : { playbook, meta });
  }
  for (const file of files) {
    if (META_FILE.test(file) && !usedMeta.has(file)) warnings.push({ file, message: 'metadata without a playbook next to it' });
  }
  return { root, sources, supportFiles, warnings };
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
    contents.push({ playbook: readBytesSync(root, source.playbook), ...(source.meta ? { meta: readBytesSync(root, source.meta) } : {}) });
    if (performance.now() - sliceStart > READ_SLICE_MS) {
      await new Promise((resolve) => setImmediate(resolve));
      sliceStart = performance.now();
    }
  }
  return contents;
}

/**
 * sha256 over what parseSource reads: the metadata file's name, both files' bytes (or read errors),
 * the support files (`supportHash`, supportFilesHash) and PARSE_VERSION.
 */
export function hashSource(source: PlaybookSource, content: SourceContent, supportHash: string): string {
  const hash = createHash('sha256');
  const part = (label: string, value: string | Buffer) => {
    const length = typeof value === 'string' ? Buffer.byteLength(value) : value.length;
    hash.update(`${label}:${length}:`);
    hash.update(value);
  };
  part('version', PARSE_VERSION);
  part('meta-path', source.meta ?? '');
  part('support', supportHash);
  for (const [label, read] of [
    ['playbook', content.playbook],
    ['meta', content.meta],
  ] as const) {
    if (!read) part(`${label}-absent`, '');
    else if ('bytes' in read) part(label, read.bytes);
    else part(`${label}-unreadable`, read.warning.message);
  }
  return hash.digest('hex');
}

/** sha256 over the support files' paths and bytes (or read errors), in listing order. */
export function supportFilesHash(support: Iterable<readonly [string, FileRead]>): string {
  const hash = createHash('sha256');
  for (const [file, read] of support) {
    const value = 'bytes' in read ? read.bytes : Buffer.from(`unreadable:${read.warning.message}`);
    hash.update(`${file.length}:${file}:${value.length}:`);
    hash.update(value);
  }
  return hash.digest('hex');
}

/** One file (and its metadata) into its catalog entries (none when it is no playbook) and warnings. Never throws. */
export function parseSource(source: PlaybookSource, content: SourceContent, files: RepoFiles): ParsedSource {
  const { playbook, meta } = source;
  const warnings: CatalogWarning[] = [];
  if ('warning' in content.playbook) return { entries: [], warnings: meta ? [content.playbook.warning] : [] };
  const checked = checkPlaybook(playbook, content.playbook.bytes.toString('utf8'), warnings, meta !== undefined);
  if (!checked.ok) return { entries: [], warnings };

  if (meta && content.meta) {
    if ('warning' in content.meta) return { entries: [], warnings: [...warnings, content.meta.warning] };
    const { entry, warnings: metaWarnings } = parseMetadata(playbook, content.meta.bytes.toString('utf8'), meta);
    warnings.push(...metaWarnings);
    if (!entry) {
      warnings.push({ file: playbook, message: `the metadata in ${meta} is not valid: the playbook cannot be planned` });
      return { entries: [], warnings };
    }
    // The metadata says what it does; how its plays run (become, hosts they coordinate) is read
    // from the plays themselves, as for any playbook.
    const plays = inferPlaybook(playbook, checked.plays, files).entries;
    const declared: PlaybookEntry = {
      ...entry,
      source: `metadata ${meta}`,
      ...(checked.hosts ? { hosts: checked.hosts } : {}),
      ...(plays.some((e) => e.coordinated) ? { coordinated: true } : {}),
      ...(plays.some((e) => e.become) ? { become: true } : {}),
    };
    return { entries: [declared], warnings };
  }

  try {
    const inferred = inferPlaybook(playbook, checked.plays, files);
    return { entries: inferred.entries, warnings: [...warnings, ...inferred.warnings] };
  } catch (err) {
    return {
      entries: [],
      warnings: [...warnings, { file: playbook, message: `cannot read what the playbook does: ${errorMessage(err)}` }],
    };
  }
}

/** The catalog from every playbook's parse result and the listing's warnings: cross-playbook checks, sorted. */
export function assembleCatalog(parsed: Iterable<ParsedSource>, listingWarnings: CatalogWarning[]): Catalog {
  const playbooks: PlaybookEntry[] = [];
  const warnings: CatalogWarning[] = [...listingWarnings];
  for (const p of parsed) {
    playbooks.push(...p.entries);
    warnings.push(...p.warnings);
  }
  checkCatalog(playbooks, warnings);
  playbooks.splice(0, playbooks.length, ...uniqueIntentNames(playbooks));
  playbooks.sort((a, b) => compare(a.path, b.path) || compare(a.service, b.service));
  warnings.sort((a, b) => compare(a.file, b.file) || (a.line ?? 0) - (b.line ?? 0));
  return { playbooks, warnings };
}

/** Repository-relative, `/`-separated paths of the candidate files and of the support files, sorted. */
async function listFiles(
  root: string,
  warnings: CatalogWarning[],
  onFolder?: (dir: string) => void,
): Promise<{ files: string[]; supportFiles: string[] }> {
  const found: string[] = [];
  const supportFiles: string[] = [];
  const walk = async (dir: string, support: boolean): Promise<void> => {
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
        if (support || SUPPORT_DIRS.has(entry.name)) await walk(full, true);
        else if (!EXCLUDED_DIRS.has(entry.name)) await walk(full, false);
      } else if (entry.isFile()) {
        if (!support) found.push(toRelative(root, full));
        else if (PLAYBOOK_FILE.test(entry.name)) supportFiles.push(toRelative(root, full));
      } else if (entry.isSymbolicLink() && PLAYBOOK_FILE.test(entry.name) && !support) {
        // Not followed: a link could lead out of the repository.
        warnings.push({ file: toRelative(root, full), message: 'symbolic link skipped' });
      }
    }
  };
  await walk(root, false);
  return { files: found, supportFiles };
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

/** Text that is meant as a play list: a top-level item with `hosts:` or `import_playbook:`. */
const LOOKS_LIKE_PLAYS = /^-\s+(?:\S.*\n(?:\s+.*\n)*?\s+)?(?:hosts|import_playbook|ansible\.builtin\.import_playbook)\s*:/m;

/**
 * Whether the file is a playbook: YAML whose document is a list of plays (maps with `hosts:` or
 * `import_playbook:`). Returns the plays and their `hosts:` patterns (joined as one Ansible
 * pattern). Anything else is no playbook and says nothing, unless it is clearly meant as one (it
 * has metadata, or reads like a play list) and does not parse.
 */
function checkPlaybook(
  file: string,
  text: string,
  warnings: CatalogWarning[],
  hasMeta: boolean,
): { ok: false } | { ok: true; plays: unknown[]; hosts?: string } {
  try {
    const lineCounter = new LineCounter();
    const doc = parseDocument(text, { lineCounter, prettyErrors: false, version: ANSIBLE_YAML });
    if (doc.errors.length > 0) {
      if (!hasMeta && !LOOKS_LIKE_PLAYS.test(text)) return { ok: false };
      for (const e of doc.errors) warnings.push({ file, line: lineCounter.linePos(e.pos[0]).line, message: `YAML: ${e.message}` });
      warnings.push({ file, message: 'not valid YAML: the playbook cannot be planned' });
      return { ok: false };
    }
    const isPlay = (item: unknown) =>
      isMap(item) && (item.has('hosts') || item.has('import_playbook') || item.has('ansible.builtin.import_playbook'));
    if (!isSeq(doc.contents) || doc.contents.items.length === 0 || !doc.contents.items.every(isPlay)) {
      if (hasMeta) warnings.push({ file, line: 1, message: 'not a playbook (expected a list of plays): it cannot be planned' });
      return { ok: false };
    }
    const patterns = new Set<string>();
    for (const play of doc.contents.items) {
      const hosts = isMap(play) ? play.get('hosts', true) : undefined;
      const names = isSeq(hosts) ? hosts.items : [hosts];
      for (const name of names) if (isScalar(name) && typeof name.value === 'string' && name.value.trim()) patterns.add(name.value.trim());
    }
    const plays = doc.toJS({ maxAliasCount: 100 }) as unknown[];
    return patterns.size > 0 ? { ok: true, plays, hosts: [...patterns].join(',') } : { ok: true, plays };
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
      if (!paths.has(ref))
        warnings.push({ file: p.path, message: `runs after ${ref}, which is not a plannable playbook of the repository` });
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
