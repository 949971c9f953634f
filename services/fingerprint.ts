// Reads what a plan depends on from disk: every file of the playbook repository that can affect a
// run (playbooks, what they import, roles, group_vars/host_vars, templates, files, ansible.cfg,
// requirements), each inventory source (inside the repository or not), and the repository's HEAD.
//
// Per-file sha256s are grouped into a bounded map of areas (`roles/<name>`, else the first path
// component) so a person is told what changed, while the fingerprint stays small in Temporal history.
//
// Speed: this runs at plan time and before every step. Each folder and file is remembered in-process
// with its stat signature (catalog-files.ts's signatureOf: device, inode, mode, size, mtime and
// ctime in ns, trusted only when older than a second, as git's racily-clean rule): an unchanged
// folder is not listed again (adding, removing or renaming an entry moves its mtime) and an
// unchanged file is not read again, so an unchanged repository costs one lstat per folder and file.
//
// Inside the repository symlinks are not followed: a link is hashed as its target path text (a
// target inside the repository is hashed where it lives). An inventory source outside the
// repository was named by the operator: it, and what it links to, is followed.
import fs from 'node:fs';
import type { BigIntStats } from 'node:fs';
import path from 'node:path';
import { createHash, type Hash } from 'node:crypto';
import git from 'isomorphic-git';
import { stringify } from 'safe-stable-stringify';
import { sha256 } from '../domain/plan-hash.js';
import type { PlanFingerprint } from '../domain/types.js';
import { resolveInside } from '../lib/paths.js';
import { lstatNow, nowNs, signatureOf, type Signature } from './catalog/catalog-files.js';

/** At most this many areas in a fingerprint's tree; the rest are folded into OTHER_FILES_AREA. */
export const MAX_TREE_AREAS = 200;
export const OTHER_FILES_AREA = '(other files)';
/** Roots (the repository, each inventory source, ...) remembered at once; the least recently read goes first. */
const MAX_ROOTS = 32;
/** Files remembered per root; a larger one is hashed on every read. */
const MAX_FILES_PER_ROOT = 200_000;
/** Files larger than this are hashed in chunks rather than read whole. */
const CHUNKED_HASH_BYTES = 1024 * 1024;
/** The longest a walk works without giving the event loop a turn. */
const SLICE_MS = 10;

interface KnownFile {
  signature: Signature;
  hash: string;
}

interface KnownFolder {
  signature: Signature;
  names: string[];
}

interface RootMemory {
  folders: Map<string, KnownFolder>;
  files: Map<string, KnownFile>;
  /** What was made of the walk's files (the repository's tree), for a walk that finds all unchanged. */
  derived?: { key: string; value: Record<string, string> };
}

const memory = new Map<string, RootMemory>();
let contentReads = 0;

/** How many files (or link targets) readFingerprint has read since the process started (tests). */
export function fingerprintContentReads(): number {
  return contentReads;
}

/** Forgets every remembered signature (tests, and benchmarks of a cold read). */
export function forgetFingerprints(): void {
  memory.clear();
}

/** Hidden entries, dependencies and byte-code are not part of a run; nor is documentation. */
function skippedName(name: string, isDir: boolean): boolean {
  if (name.startsWith('.') || name === 'node_modules' || name === '__pycache__') return true;
  if (isDir) return false;
  const lower = name.toLowerCase();
  return lower.endsWith('.md') || lower.endsWith('.pyc');
}

function statFollowing(file: string): BigIntStats | undefined {
  try {
    return fs.statSync(file, { bigint: true, throwIfNoEntry: false });
  } catch {
    return undefined;
  }
}

function realpathOr(file: string): string {
  try {
    return fs.realpathSync(file);
  } catch {
    return file;
  }
}

function isInside(root: string, file: string): boolean {
  return file === root || file.startsWith(root + path.sep);
}

const toPosix = (p: string): string => p.split(path.sep).join('/');

function contentHash(full: string, size: bigint): string {
  if (size <= BigInt(CHUNKED_HASH_BYTES)) return sha256(fs.readFileSync(full));
  const hash = createHash('sha256');
  const fd = fs.openSync(full, 'r');
  try {
    const buffer = Buffer.allocUnsafe(CHUNKED_HASH_BYTES);
    for (let read: number; (read = fs.readSync(fd, buffer, 0, buffer.length, null)) > 0;) hash.update(buffer.subarray(0, read));
  } finally {
    fs.closeSync(fd);
  }
  return hash.digest('hex');
}

/**
 * One walk of one root: every regular file (and, when not following, every symlink) under `full`,
 * by label, with its sha256. Reuses the root's memory from the last walk and replaces it.
 */
class Walk {
  readonly out = new Map<string, string>();
  /** Labels that are symlinks (hashed as their target text). */
  readonly links = new Set<string>();
  private readonly previous: RootMemory | undefined;
  private readonly next: RootMemory = { folders: new Map(), files: new Map() };
  private readonly visited = new Set<string>();
  private sliceStart = performance.now();
  /** Whether anything was listed or read (or could not be) rather than known: then `out` may differ from the last walk's. */
  private changed: boolean;

  constructor(
    private readonly key: string,
    private readonly follow: boolean,
    private readonly started: bigint,
  ) {
    this.previous = memory.get(key);
    this.changed = !this.previous;
  }

  /** `make()`, or what it made last time when every folder and file is as it was then (and `key` is the same). */
  derive(key: string, make: () => Record<string, string>): Record<string, string> {
    const known = this.previous?.derived;
    const value = !this.changed && known?.key === key ? known.value : make();
    this.next.derived = { key, value };
    return value;
  }

  private stat(full: string): BigIntStats | undefined {
    return this.follow ? statFollowing(full) : lstatNow(full);
  }

  /** A file or a whole folder; `label` names it in `out` (folders: the prefix of their entries). */
  async add(full: string, label: string, stats = this.stat(full)): Promise<void> {
    if (!stats) return;
    if (stats.isDirectory()) await this.folder(full, label, stats);
    else if (stats.isFile() || stats.isSymbolicLink()) this.file(full, label, stats);
  }

  private async folder(full: string, label: string, stats: BigIntStats): Promise<void> {
    const id = `${stats.dev}:${stats.ino}`;
    if (this.visited.has(id)) return; // a link loop (only when following)
    this.visited.add(id);
    const signature = signatureOf(stats, this.started)!;
    const known = this.previous?.folders.get(full);
    let names: string[];
    if (known && known.signature.trusted && known.signature.key === signature.key) {
      names = known.names;
    } else {
      this.changed = true;
      try {
        names = fs.readdirSync(full).sort();
      } catch {
        return; // unreadable: nothing remembered, listed again next time
      }
    }
    this.next.folders.set(full, { signature, names });
    for (const name of names) {
      if (skippedName(name, true)) continue; // hidden, node_modules, __pycache__: not even stat'ed
      const child = path.join(full, name);
      const childStats = this.stat(child);
      if (!childStats || (!childStats.isDirectory() && skippedName(name, false))) continue;
      await this.add(child, label ? `${label}/${name}` : name, childStats);
      if (performance.now() - this.sliceStart > SLICE_MS) {
        await new Promise((resolve) => setImmediate(resolve));
        this.sliceStart = performance.now();
      }
    }
  }

  private file(full: string, label: string, stats: BigIntStats): void {
    const signature = signatureOf(stats, this.started)!;
    const link = stats.isSymbolicLink();
    if (link) this.links.add(label);
    const known = this.previous?.files.get(full);
    if (known && known.signature.trusted && known.signature.key === signature.key) {
      this.next.files.set(full, known);
      this.out.set(label, known.hash);
      return;
    }
    contentReads++;
    this.changed = true;
    let hash: string;
    try {
      hash = link ? sha256(`symlink:${fs.readlinkSync(full)}`) : contentHash(full, stats.size);
    } catch {
      this.out.set(label, 'unreadable'); // not remembered: read again next time
      return;
    }
    this.next.files.set(full, { signature, hash });
    this.out.set(label, hash);
  }

  /** Keeps what this walk saw for the next one. */
  remember(): void {
    memory.delete(this.key);
    if (this.next.files.size > MAX_FILES_PER_ROOT) return;
    memory.set(this.key, this.next);
    while (memory.size > MAX_ROOTS) memory.delete(memory.keys().next().value!);
  }
}

/** The area a repository file belongs to: `roles/<name>` for a role's files, else its first path component. */
export function treeArea(relative: string): string {
  const parts = relative.split('/');
  if (parts[0] === 'roles' && parts.length > 2) return `roles/${parts[1]}`;
  return parts[0]!;
}

const byName = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/**
 * The per-file hashes grouped by area, at most MAX_TREE_AREAS of them: roles first, then folders,
 * then top-level files (by name within each); what does not fit is one OTHER_FILES_AREA.
 */
export function treeAreas(files: Map<string, string>): Record<string, string> {
  const relatives = [...files.keys()].sort(byName);
  const areaOf = new Map<string, string>();
  const tiers = new Map<string, number>();
  for (const relative of relatives) {
    const area = treeArea(relative);
    areaOf.set(relative, area);
    const tier = area.startsWith('roles/') ? 0 : area !== relative ? 1 : 2;
    tiers.set(area, Math.min(tier, tiers.get(area) ?? 2));
  }
  let kept = new Set(tiers.keys());
  if (kept.size > MAX_TREE_AREAS) {
    const ranked = [...tiers].sort(([a, ta], [b, tb]) => ta - tb || byName(a, b));
    kept = new Set(ranked.slice(0, MAX_TREE_AREAS - 1).map(([area]) => area));
  }
  // One pass in path order: each file feeds its area's hash, or the folded one.
  const hashes = new Map<string, Hash>();
  for (const relative of relatives) {
    const area = areaOf.get(relative)!;
    const bucket = kept.has(area) ? area : OTHER_FILES_AREA;
    let hash = hashes.get(bucket);
    if (!hash) hashes.set(bucket, (hash = createHash('sha256')));
    hash.update(`${relative}\0${files.get(relative)!}\n`);
  }
  const tree: Record<string, string> = {};
  for (const area of [...hashes.keys()].sort(byName)) tree[area] = hashes.get(area)!.digest('hex');
  return tree;
}

async function repoHead(repoDir: string): Promise<string | undefined> {
  if (!fs.existsSync(path.join(repoDir, '.git'))) return undefined;
  return git.resolveRef({ fs, dir: repoDir, ref: 'HEAD' }).catch(() => undefined);
}

/**
 * What a plan depends on. `inventorySources`: absolute paths of the inventory's files or folders
 * (possibly outside the repository); `playbooks`: the planned playbooks, relative to `repoDir`.
 */
export async function readFingerprint(repoDir: string, inventorySources: string[], playbooks: string[]): Promise<PlanFingerprint> {
  // Every signature is taken after this instant, so "older than started - margin" is conservative.
  const started = nowNs();
  const base = path.resolve(repoDir);
  const root = realpathOr(base);
  const walks: Walk[] = [];
  const walk = async (key: string, follow: boolean, full: string, label: string, stats?: BigIntStats): Promise<Walk> => {
    const w = new Walk(key, follow, started);
    walks.push(w);
    await w.add(full, label, stats);
    return w;
  };

  // The repository, without following links (the root itself may be one).
  const repoStats = statFollowing(root);
  const repo = await walk(`repo:${root}`, false, root, '', repoStats?.isDirectory() ? repoStats : undefined);

  // The inventory: each source, and the group_vars/host_vars beside a file source.
  const inventory = new Map<string, string>();
  const inventoryInRepo = new Set<string>();
  let onlyFile: string | undefined;
  for (const [i, source] of inventorySources.entries()) {
    const real = realpathOr(path.resolve(base, source));
    const inside = isInside(root, real);
    const label = inside ? toPosix(path.relative(root, real)) : real;
    const stats = statFollowing(real);
    if (!stats) {
      inventory.set(label, 'missing');
      continue;
    }
    const targets: [string, string][] = [[real, label]];
    if (!stats.isDirectory()) {
      if (inventorySources.length === 1) onlyFile = label;
      for (const vars of ['group_vars', 'host_vars']) {
        const beside = path.join(path.dirname(real), vars);
        if (statFollowing(beside)?.isDirectory()) targets.push([beside, inside ? toPosix(path.relative(root, beside)) : beside]);
      }
    }
    for (const [j, [full, targetLabel]] of targets.entries()) {
      // Inside the repository no link is followed (only the named source itself).
      const w = await walk(`inventory:${inside ? 'l' : 's'}:${i}.${j}:${full}`, !inside, full, targetLabel, j === 0 ? stats : undefined);
      for (const [file, hash] of w.out) {
        inventory.set(file, hash);
        if (inside) inventoryInRepo.add(file);
      }
    }
  }

  // Each planned playbook's content, following a link as ansible-playbook does.
  const playbookHashes: [string, string][] = [];
  for (const playbook of playbooks) {
    const full = resolveInside(base, playbook);
    const relative = toPosix(path.relative(base, full));
    let hash = repo.links.has(relative) ? undefined : repo.out.get(relative);
    if (hash === undefined) hash = (await walk(`playbook:${full}`, true, full, relative)).out.get(relative);
    playbookHashes.push([playbook, hash ?? 'missing']);
  }

  const repoCommit = await repoHead(base);
  // The inventory's files are bound (and named) as the inventory, not again as areas of the tree.
  const tree = repo.derive([...inventoryInRepo].sort(byName).join('\0'), () =>
    treeAreas(new Map([...repo.out].filter(([file]) => !inventoryInRepo.has(file)))),
  );
  for (const w of walks) w.remember();

  // One file inventory hashes as its content alone, as fingerprints always did.
  const inventoryHash =
    inventorySources.length === 0
      ? 'none'
      : onlyFile !== undefined && inventory.size === 1 && inventory.has(onlyFile)
        ? inventory.get(onlyFile)!
        : inventorySources.length === 1 && inventory.size === 1 && [...inventory.values()][0] === 'missing'
          ? 'missing'
          : sha256(stringify([...inventory].sort(([a], [b]) => byName(a, b))) ?? '');
  return {
    playbooks: Object.fromEntries(playbookHashes),
    inventory: inventoryHash,
    ...(repoCommit ? { repoCommit } : {}),
    tree,
  };
}
