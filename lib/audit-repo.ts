// The audit git repository: each task's record is a JSON file committed with isomorphic-git, so the
// history of what Chiffon did can be read, diffed and pushed anywhere with ordinary git tools.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import git from 'isomorphic-git';
import { resolveInside } from './paths.js';

const author = { name: 'Chiffon', email: 'chiffon@localhost' };

/** How long a commit waits for git's locks (another git process, a `git gc`) before it gives up. */
const LOCK_WAIT_MS = 10_000;
const LOCK_POLL_MS = 100;
/** What Chiffon writes into the lock files it holds, so a lock left by a dead Chiffon is known as such. */
const OWN_LOCK = /^chiffon ([^ ]+) (\d+)\n$/;

/** The audit repository is locked by git (or by a git process that died): the audit is retried. */
export class GitLockedError extends Error {
  override readonly name = 'GitLockedError';
}

function isOwnStaleLock(file: string): boolean {
  let content: string;
  try {
    content = fs.readFileSync(file, 'utf8');
  } catch {
    return false;
  }
  const match = OWN_LOCK.exec(content);
  if (!match || match[1] !== os.hostname()) return false;
  try {
    process.kill(Number(match[2]), 0);
    return false; // that Chiffon is alive
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

/**
 * Takes git's own lock files for a commit (`.git/index.lock` and the branch's `<ref>.lock`) as git
 * does, by creating them exclusively, so neither Chiffon nor git (a person's commit, a `git gc`)
 * writes the index or moves the branch while the other does. Waits while another holds them, then
 * throws GitLockedError naming the lock. A lock left by a Chiffon process that died is removed.
 */
async function withGitLocks<T>(repoDir: string, waitMs: number, work: () => Promise<T>): Promise<T> {
  const branch = (await git.currentBranch({ fs, dir: repoDir, fullname: true })) ?? 'refs/heads/main';
  const locks = [path.join(repoDir, '.git', 'index.lock'), path.join(repoDir, '.git', `${branch}.lock`)];
  const held: string[] = [];
  const release = () => {
    for (const lock of held.splice(0)) fs.rmSync(lock, { force: true });
  };
  const deadline = Date.now() + waitMs;
  try {
    for (const lock of locks) {
      for (;;) {
        try {
          fs.mkdirSync(path.dirname(lock), { recursive: true });
          fs.writeFileSync(lock, `chiffon ${os.hostname()} ${process.pid}\n`, { flag: 'wx' });
          held.push(lock);
          break;
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
          if (isOwnStaleLock(lock)) {
            fs.rmSync(lock, { force: true });
            continue;
          }
          if (Date.now() > deadline) {
            throw new GitLockedError(
              `the audit repository ${repoDir} is locked by ${path.relative(repoDir, lock)} (another git process is working there, or one died and left it: remove the file if no git runs there); the audit is retried`,
            );
          }
          await new Promise((resolve) => setTimeout(resolve, LOCK_POLL_MS));
        }
      }
    }
    return await work();
  } finally {
    release();
  }
}

/** Commits within one repository are serialized: git's index and HEAD take one writer at a time. */
const commitQueues = new Map<string, Promise<unknown>>();

function serialize<T>(repoDir: string, work: () => Promise<T>): Promise<T> {
  const previous = commitQueues.get(repoDir) ?? Promise.resolve();
  const next = previous.then(work, work);
  commitQueues.set(
    repoDir,
    next.catch(() => undefined),
  );
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
export function commitFile(
  repoDir: string,
  filepath: string,
  content: string,
  message: string,
  { lockWaitMs = LOCK_WAIT_MS }: { lockWaitMs?: number } = {},
): Promise<{ commit: string; path: string }> {
  const absolute = resolveInside(repoDir, filepath);
  return serialize(repoDir, async () => {
    await ensureAuditRepo(repoDir);
    const head = await headCommit(repoDir);
    if (head && (await contentAt(repoDir, head, filepath)) === content) {
      const [last] = await git.log({ fs, dir: repoDir, filepath, depth: 1 });
      if (last) return { commit: last.oid, path: filepath };
    }
    return withGitLocks(repoDir, lockWaitMs, async () => {
      await fs.promises.mkdir(path.dirname(absolute), { recursive: true });
      await fs.promises.writeFile(absolute, content);
      await git.add({ fs, dir: repoDir, filepath });
      const commit = await git.commit({ fs, dir: repoDir, message, author, committer: author });
      return { commit, path: filepath };
    });
  });
}

/** The content of `filepath` as of `commit`, or undefined when that commit does not hold it. */
export async function readFileAtCommit(repoDir: string, commit: string, filepath: string): Promise<string | undefined> {
  return contentAt(repoDir, commit, filepath);
}
