// The audit git repository: each task's record is a JSON file committed with isomorphic-git, so the
// history of what Chiffon did can be read, diffed and pushed anywhere with ordinary git tools.
import fs from 'node:fs';
import path from 'node:path';
import git from 'isomorphic-git';
import { resolveInside } from './paths.js';

const author = { name: 'Chiffon', email: 'chiffon@localhost' };

/** Commits within one repository are serialized: git's index and HEAD take one writer at a time. */
const commitQueues = new Map<string, Promise<unknown>>();

function serialize<T>(repoDir: string, work: () => Promise<T>): Promise<T> {
  const previous = commitQueues.get(repoDir) ?? Promise.resolve();
  const next = previous.then(work, work);
  commitQueues.set(repoDir, next.catch(() => undefined));
  return next;
}

export async function ensureAuditRepo(repoDir: string): Promise<void> {
  await fs.promises.mkdir(repoDir, { recursive: true });
  if (!fs.existsSync(path.join(repoDir, '.git'))) {
    await git.init({ fs, dir: repoDir, defaultBranch: 'main' });
  }
}

async function headCommit(repoDir: string): Promise<string | undefined> {
  try {
    return await git.resolveRef({ fs, dir: repoDir, ref: 'HEAD' });
  } catch {
    return undefined; // no commit yet
  }
}

async function contentAt(repoDir: string, commit: string, filepath: string): Promise<string | undefined> {
  try {
    const { blob } = await git.readBlob({ fs, dir: repoDir, oid: commit, filepath });
    return Buffer.from(blob).toString('utf8');
  } catch {
    return undefined;
  }
}

/**
 * Writes `content` to `filepath` and commits it. Idempotent: when HEAD already holds exactly this
 * content (an activity retried after its commit), the commit that last wrote it is returned.
 */
export function commitFile(repoDir: string, filepath: string, content: string, message: string): Promise<{ commit: string; path: string }> {
  const absolute = resolveInside(repoDir, filepath);
  return serialize(repoDir, async () => {
    await ensureAuditRepo(repoDir);
    const head = await headCommit(repoDir);
    if (head && (await contentAt(repoDir, head, filepath)) === content) {
      const [last] = await git.log({ fs, dir: repoDir, filepath, depth: 1 });
      if (last) return { commit: last.oid, path: filepath };
    }
    await fs.promises.mkdir(path.dirname(absolute), { recursive: true });
    await fs.promises.writeFile(absolute, content);
    await git.add({ fs, dir: repoDir, filepath });
    const commit = await git.commit({ fs, dir: repoDir, message, author, committer: author });
    return { commit, path: filepath };
  });
}

/** The content of `filepath` as of `commit`, or undefined when that commit does not hold it. */
export async function readFileAtCommit(repoDir: string, commit: string, filepath: string): Promise<string | undefined> {
  return contentAt(repoDir, commit, filepath);
}
