// The audit writer and git's own lock files: a commit never races a person's git or a `git gc`.
// Chiffon takes .git/index.lock and the branch's ref lock as git does, waits while git holds them,
// then fails naming the lock (the audit activity is retried); a lock a dead Chiffon left is removed.
import fs from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import git from 'isomorphic-git';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { commitFile, GitLockedError } from '../../lib/audit-repo.js';

const root = fs.mkdtempSync(path.join(tmpdir(), 'chiffon-git-locks-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

let repo: string;
let runs = 0;
beforeEach(async () => {
  repo = path.join(root, `audit-${++runs}`);
  await commitFile(repo, '.audit/tasks/first.json', '{}\n', 'audit: first');
});

const head = () => git.resolveRef({ fs, dir: repo, ref: 'HEAD' });
const gitCli = (...args: string[]) =>
  execa('git', args, {
    cwd: repo,
    reject: false,
    env: {
      GIT_CONFIG_NOSYSTEM: '1',
      HOME: root,
      GIT_AUTHOR_NAME: 't',
      GIT_AUTHOR_EMAIL: 't@t',
      GIT_COMMITTER_NAME: 't',
      GIT_COMMITTER_EMAIL: 't@t',
    },
  });

describe('commitFile and git locks', () => {
  for (const lock of ['index.lock', 'refs/heads/main.lock']) {
    it(`waits while git holds .git/${lock}, then fails naming it, with nothing written or moved`, async () => {
      const before = await head();
      fs.writeFileSync(path.join(repo, '.git', lock), 'held by git\n');
      const error = await commitFile(repo, '.audit/tasks/second.json', '{"n": 2}\n', 'audit: second', { lockWaitMs: 300 }).catch(
        (err: unknown) => err,
      );
      expect(error).toBeInstanceOf(GitLockedError);
      expect((error as Error).message).toContain(`.git/${lock}`);
      expect(await head()).toBe(before);
      expect(fs.existsSync(path.join(repo, '.audit/tasks/second.json'))).toBe(false);
      // Git's lock is git's: left alone.
      expect(fs.readFileSync(path.join(repo, '.git', lock), 'utf8')).toBe('held by git\n');
    });
  }

  it('commits once git lets go of its lock', async () => {
    fs.writeFileSync(path.join(repo, '.git', 'index.lock'), 'held by git\n');
    setTimeout(() => fs.rmSync(path.join(repo, '.git', 'index.lock')), 300);
    const { commit } = await commitFile(repo, '.audit/tasks/second.json', '{"n": 2}\n', 'audit: second', { lockWaitMs: 5_000 });
    expect(await head()).toBe(commit);
  });

  it('leaves no lock behind, and a repository git can go on committing to', async () => {
    const { commit } = await commitFile(repo, '.audit/tasks/third.json', '{"n": 3}\n', 'audit: third');
    expect(fs.existsSync(path.join(repo, '.git', 'index.lock'))).toBe(false);
    expect(fs.existsSync(path.join(repo, '.git', 'refs', 'heads', 'main.lock'))).toBe(false);
    // The repository is sound for git, and git can commit after it.
    expect((await gitCli('fsck', '--no-progress')).exitCode).toBe(0);
    expect((await gitCli('log', '--format=%H', '-1')).stdout.trim()).toBe(commit);
    fs.writeFileSync(path.join(repo, 'note.txt'), 'by hand\n');
    expect((await gitCli('add', 'note.txt')).exitCode).toBe(0);
    expect((await gitCli('commit', '-q', '-m', 'by hand')).exitCode).toBe(0);
  });

  it('removes a lock that a dead Chiffon process left, and commits', async () => {
    // A pid that is not running: a child that has exited.
    const gone = execa('true');
    await gone;
    fs.writeFileSync(path.join(repo, '.git', 'index.lock'), `chiffon ${hostname()} ${gone.pid}\n`);
    const { commit } = await commitFile(repo, '.audit/tasks/fourth.json', '{"n": 4}\n', 'audit: fourth', { lockWaitMs: 300 });
    expect(await head()).toBe(commit);
    expect(fs.existsSync(path.join(repo, '.git', 'index.lock'))).toBe(false);
  });
});
