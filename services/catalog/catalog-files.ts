// The first half of a cached catalog scan (listing the repository, reading and hashing each
// playbook and metadata pair, and the support files inference reads beside them) without listing
// and reading what has not changed since the last scan in this process.
//
// Per repository, the process remembers the listing with the stat signature of every folder it
// walked, and the bytes and hash of every pair with the stat signature of each file, taken *before*
// the folder was listed or the file read. A later scan stats the folders: all unchanged means the
// same listing (adding, removing or renaming an entry changes its folder's mtime); then it stats
// each file: an unchanged signature (device, inode, mode, size, mtime and ctime in nanoseconds)
// means the same bytes, and the same pair hash. Anything else is listed, read and hashed again.
//
// As in git's "racily clean" index entries, a signature is only trusted when the file's mtime and
// ctime are older than RACY_MARGIN_NS before the stat: a file written twice within the kernel's
// (coarse) timestamp tick keeps its times, and size, and would look unchanged. ctime cannot be set
// by tools (touch, cp -p, git checkout set mtime; the kernel sets ctime to "now" on every change),
// so a change made after the stat moves ctime past the trusted value. Recently changed files are
// read on every scan until they are a second old.
//
// For 2,000 playbooks this is ~4,000 lstat calls instead of listing ~20 folders and reading and
// hashing ~4,000 files; the parse results themselves stay in catalog-cache.ts (memo and database).
import { lstatSync, type BigIntStats } from 'node:fs';
import path from 'node:path';
import { resolveInside } from '../../lib/paths.js';
import {
  hashSource,
  listPlaybookSources,
  readBytesSync,
  supportFilesHash,
  type CatalogListing,
  type FileRead,
  type PlaybookSource,
  type SourceContent,
} from './catalog.js';

export interface CurrentSource {
  source: PlaybookSource;
  content: SourceContent;
  hash: string;
}

export interface RepositoryRead {
  listing: CatalogListing;
  current: CurrentSource[];
  /** The support files (roles/, tasks/, vars/, ...) by path, in listing order. */
  support: ReadonlyMap<string, FileRead>;
  /** The listing was reused: no folder had changed. */
  listingReused: boolean;
  /** Files read from disk by this scan (the others were unchanged since the last one). */
  filesRead: number;
}

/** How much older than the stat a file's times must be for its signature to be trusted. */
const RACY_MARGIN_NS = 1_000_000_000n;
/** Repositories remembered at once (the least recently scanned goes first). */
const MAX_REPOSITORIES = 8;
/** Bytes of file contents remembered per repository; a larger repository is read on every scan. */
const MAX_BYTES_PER_REPOSITORY = 64 * 1024 * 1024;
/** The longest the scan works without giving the event loop a turn (as readSources). */
const SLICE_MS = 10;

/** A file's stat signature, and whether it may be trusted (older than RACY_MARGIN_NS); also used by fingerprint.ts. */
export interface Signature {
  key: string;
  trusted: boolean;
}

interface KnownFile {
  /** The file's absolute path. */
  full: string;
  signature: Signature;
  read: FileRead;
}

interface KnownRepository {
  listing: CatalogListing;
  folders: Map<string, Signature>;
  files: Map<string, KnownFile>;
  /** Pair hashes by playbook, with the signatures of the files and the support hash they were computed from. */
  pairs: Map<string, { meta: string | undefined; playbookKey: string; metaKey: string | undefined; supportHash: string; hash: string }>;
  support: Map<string, FileRead>;
  supportHash: string;
  /** The last scan's result, and whether every signature in it is trusted (then it may be returned as is). */
  current: CurrentSource[];
  allTrusted: boolean;
}

const repositories = new Map<string, KnownRepository>();

export function signatureOf(stats: BigIntStats | undefined, statStartedNs: bigint): Signature | undefined {
  if (!stats) return undefined;
  const newest = stats.mtimeNs > stats.ctimeNs ? stats.mtimeNs : stats.ctimeNs;
  return {
    key: `${stats.dev}:${stats.ino}:${stats.mode}:${stats.size}:${stats.mtimeNs}:${stats.ctimeNs}`,
    trusted: newest < statStartedNs - RACY_MARGIN_NS,
  };
}

export function lstatNow(file: string): BigIntStats | undefined {
  try {
    return lstatSync(file, { bigint: true, throwIfNoEntry: false });
  } catch {
    return undefined;
  }
}

export const nowNs = (): bigint => BigInt(Date.now()) * 1_000_000n;

/** Lists `repoDir` and reads and hashes each pair, reusing what is unchanged since the last scan. */
export async function readRepository(repoDir: string, options: { remember?: boolean } = {}): Promise<RepositoryRead> {
  // Every signature below is taken after this instant, so "older than started - margin" is conservative.
  const started = nowNs();
  const previous = repositories.get(path.resolve(repoDir));

  let listing: CatalogListing;
  let folders: Map<string, Signature>;
  let listingReused = false;
  if (previous && [...previous.folders].every(([dir, known]) => known.trusted && signatureOf(lstatNow(dir), started)?.key === known.key)) {
    listing = previous.listing;
    folders = previous.folders;
    listingReused = true;
  } else {
    folders = new Map();
    const seen = folders;
    listing = await listPlaybookSources(repoDir, (dir) => {
      const signature = signatureOf(lstatNow(dir), started);
      // A folder that cannot be stat'ed is never trusted: the next scan lists again.
      seen.set(dir, signature ?? { key: 'missing', trusted: false });
    });
  }
  const root = listing.root;

  // The common case, nothing changed at all: the last result as is, after one lstat per file.
  if (listingReused && previous?.allTrusted && unchangedFiles(previous, started)) {
    repositories.delete(root);
    repositories.set(root, previous);
    return { listing, current: previous.current, support: previous.support, listingReused, filesRead: 0 };
  }

  const files = new Map<string, KnownFile>();
  const pairs: KnownRepository['pairs'] = new Map();
  let bytes = 0;
  let filesRead = 0;
  const read = (relative: string): { read: FileRead; key: string | undefined; reused: boolean } => {
    const full = resolveInside(root, relative);
    const signature = signatureOf(lstatNow(full), started);
    const known = previous?.files.get(relative);
    if (known && signature && known.signature.trusted && known.signature.key === signature.key) {
      files.set(relative, known);
      if ('bytes' in known.read) bytes += known.read.bytes.length;
      return { read: known.read, key: signature.key, reused: true };
    }
    filesRead++;
    const fresh = readBytesSync(root, relative);
    // Unreadable files are read again next time (a warning is cheap to produce and may go away).
    if (signature && 'bytes' in fresh) {
      files.set(relative, { full, signature, read: fresh });
      bytes += fresh.bytes.length;
    }
    return { read: fresh, key: signature?.key, reused: false };
  };

  // The support files first: every playbook's hash covers them (inference reads roles and task files).
  const support = new Map<string, FileRead>();
  let supportReused = previous !== undefined && previous.support.size === listing.supportFiles.length;
  for (const file of listing.supportFiles) {
    const got = read(file);
    support.set(file, got.read);
    supportReused &&= got.reused && previous!.support.has(file);
  }
  const supportHash = supportReused && previous ? previous.supportHash : supportFilesHash(support);

  const current: CurrentSource[] = [];
  let sliceStart = performance.now();
  for (const source of listing.sources) {
    const playbook = read(source.playbook);
    const meta = source.meta ? read(source.meta) : undefined;
    const content: SourceContent = { playbook: playbook.read, ...(meta ? { meta: meta.read } : {}) };
    const knownPair = previous?.pairs.get(source.playbook);
    let hash: string;
    if (
      playbook.reused &&
      (meta?.reused ?? true) &&
      knownPair &&
      knownPair.meta === source.meta &&
      knownPair.playbookKey === playbook.key &&
      knownPair.metaKey === meta?.key &&
      knownPair.supportHash === supportHash
    ) {
      hash = knownPair.hash;
    } else {
      hash = hashSource(source, content, supportHash);
    }
    if (playbook.key && files.has(source.playbook) && (!source.meta || (meta?.key && files.has(source.meta)))) {
      pairs.set(source.playbook, { meta: source.meta, playbookKey: playbook.key, metaKey: meta?.key, supportHash, hash });
    }
    current.push({ source, content, hash });
    if (performance.now() - sliceStart > SLICE_MS) {
      await new Promise((resolve) => setImmediate(resolve));
      sliceStart = performance.now();
    }
  }

  repositories.delete(root);
  if ((options.remember ?? true) && bytes <= MAX_BYTES_PER_REPOSITORY) {
    const allTrusted =
      [...folders.values()].every((f) => f.trusted) &&
      current.length === pairs.size &&
      current.every(
        (c) => files.get(c.source.playbook)?.signature.trusted && (!c.source.meta || files.get(c.source.meta)?.signature.trusted),
      ) &&
      listing.supportFiles.every((f) => files.get(f)?.signature.trusted);
    repositories.set(root, { listing, folders, files, pairs, current, allTrusted, support, supportHash });
    while (repositories.size > MAX_REPOSITORIES) repositories.delete(repositories.keys().next().value!);
  }
  return { listing, current, support, listingReused, filesRead };
}

/** Whether every file of the last scan still has its (trusted) signature. */
function unchangedFiles(previous: KnownRepository, started: bigint): boolean {
  for (const known of previous.files.values()) {
    if (signatureOf(lstatNow(known.full), started)?.key !== known.signature.key) return false;
  }
  return true;
}

/** Forgets every repository (tests, and benchmarks of a cold scan). */
export function forgetRepositoryFiles(): void {
  repositories.clear();
}
