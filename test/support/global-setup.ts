// Vitest global setup: one PostgreSQL server for the whole run, on which each test file creates
// its own database (test/support/test-database.ts). DATABASE_URL names a server to use; without
// it an embedded PostgreSQL is started for this run alone, in its own data directory and on a
// free port, so parallel runs in the same checkout (and a running `npm start`) never meet.
import { readdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { startEmbeddedPostgres } from '../../lib/database.js';
import { fromProjectRoot } from '../../lib/paths.js';
import { findFreePort } from './free-port.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** A URL on the test PostgreSQL server that may create and drop databases. */
    databaseServerUrl: string;
  }
}

const testServersDir = fromProjectRoot('.data', 'test-postgres');

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const databaseUrl = process.env.DATABASE_URL;
  if (databaseUrl) {
    project.provide('databaseServerUrl', databaseUrl);
    return async () => {};
  }
  await removeAbandonedServerDirs();
  const server = await startEmbeddedPostgres({
    dataDir: path.join(testServersDir, `run-${process.pid}`),
    port: await findFreePort(),
    database: 'postgres',
    ephemeral: true,
  });
  project.provide('databaseServerUrl', server.url);
  return () => server.stop();
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
    const ownerPid = Number(/^run-(\d+)$/.exec(entry)?.[1]);
    if (!ownerPid || isAlive(ownerPid)) continue;
    const dir = path.join(testServersDir, entry);
    const postmasterPid = Number((await readFile(path.join(dir, 'postmaster.pid'), 'utf8').catch(() => '')).split('\n')[0]);
    if (postmasterPid && isAlive(postmasterPid)) continue;
    await rm(dir, { recursive: true, force: true });
  }
}
