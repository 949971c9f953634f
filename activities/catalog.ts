// Scans a playbook repository into the Catalog the planner works from.
//
// A playbook is a *.yml / *.yaml file at any depth, outside hidden folders and the folders Ansible
// gives other meanings to (inventory/, group_vars/, host_vars/, roles/, ...). Its metadata is the
// sibling `<basename>.meta.yml` (or `.meta.yaml`). A playbook without valid metadata is listed as a
// warning and left out: it cannot be planned. A bad file never stops the scan.
import { lstat, readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { isSeq, parseDocument, LineCounter } from 'yaml';
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

type Warning = Catalog['warnings'][number];

export async function scanCatalog(repoDir: string): Promise<Catalog> {
  const root = path.resolve(repoDir);
  const rootStat = await lstat(root).catch(() => undefined);
  if (!rootStat?.isDirectory()) throw new Error(`playbook repository ${root} is not a directory`);

  const warnings: Warning[] = [];
  const files = await listFiles(root, warnings);
  const fileSet = new Set(files);
  const playbookFiles = files.filter((f) => PLAYBOOK_FILE.test(f) && !META_FILE.test(f));
  const metaFiles = files.filter((f) => META_FILE.test(f));

  const usedMeta = new Set<string>();
  const playbooks: PlaybookEntry[] = [];
  for (const playbook of playbookFiles) {
    const base = playbook.replace(/\.ya?ml$/i, '');
    const candidates = [`${base}.meta.yml`, `${base}.meta.yaml`].filter((m) => fileSet.has(m));
    candidates.forEach((m) => usedMeta.add(m));
    const metaPath = candidates[0];
    if (metaPath === undefined) {
      warnings.push({ file: playbook, message: `no metadata (${base}.meta.yml): the playbook cannot be planned` });
      continue;
    }
    if (candidates.length > 1) warnings.push({ file: candidates[1]!, message: `ignored: ${metaPath} is used` });

    const playbookText = await readText(root, playbook, warnings);
    if (playbookText === undefined || !checkPlaybook(playbook, playbookText, warnings)) continue;
    const metaText = await readText(root, metaPath, warnings);
    if (metaText === undefined) continue;

    const { entry, warnings: metaWarnings } = parseMetadata(playbook, metaText, metaPath);
    warnings.push(...metaWarnings);
    if (entry) playbooks.push(entry);
    else warnings.push({ file: playbook, message: `the metadata in ${metaPath} is not valid: the playbook cannot be planned` });
  }

  for (const meta of metaFiles) {
    if (!usedMeta.has(meta)) warnings.push({ file: meta, message: 'metadata without a playbook next to it' });
  }

  checkCatalog(playbooks, warnings);

  playbooks.sort((a, b) => compare(a.path, b.path));
  warnings.sort((a, b) => compare(a.file, b.file) || (a.line ?? 0) - (b.line ?? 0));
  return { playbooks, warnings };
}

/** Repository-relative, `/`-separated paths of the regular files to consider, sorted. */
async function listFiles(root: string, warnings: Warning[]): Promise<string[]> {
  const found: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    let entries;
    try {
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

async function readText(root: string, relative: string, warnings: Warning[]): Promise<string | undefined> {
  try {
    const full = resolveInside(root, relative);
    const stat = await lstat(full);
    if (stat.size > MAX_FILE_BYTES) {
      warnings.push({ file: relative, message: `larger than ${MAX_FILE_BYTES} bytes: skipped` });
      return undefined;
    }
    return await readFile(full, 'utf8');
  } catch (err) {
    warnings.push({ file: relative, message: `cannot read the file: ${errorMessage(err)}` });
    return undefined;
  }
}

/** A playbook must at least be YAML holding a list of plays. */
function checkPlaybook(file: string, text: string, warnings: Warning[]): boolean {
  try {
    const lineCounter = new LineCounter();
    const doc = parseDocument(text, { lineCounter, prettyErrors: false });
    if (doc.errors.length > 0) {
      for (const e of doc.errors) warnings.push({ file, line: lineCounter.linePos(e.pos[0]).line, message: `YAML: ${e.message}` });
      warnings.push({ file, message: 'not valid YAML: the playbook cannot be planned' });
      return false;
    }
    if (!isSeq(doc.contents)) {
      warnings.push({ file, line: 1, message: 'not a playbook (expected a list of plays): it cannot be planned' });
      return false;
    }
    return true;
  } catch (err) {
    warnings.push({ file, message: `cannot parse the playbook: ${errorMessage(err)}` });
    return false;
  }
}

/** Problems across playbooks: dangling `after` references, intents declared twice. */
function checkCatalog(playbooks: PlaybookEntry[], warnings: Warning[]): void {
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
