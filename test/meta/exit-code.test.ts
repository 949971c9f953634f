// `npm test` tells the truth: run through the same entry point on the fresh-machine path (no
// DATABASE_URL, so the global setup starts an embedded PostgreSQL), a passing suite exits 0 and a
// failing test or a failing suite exits non-zero; and the embedded server is gone afterwards
// (no postgres process left, its data directory removed).
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { describe, expect, it, onTestFailed } from 'vitest';
import { fromProjectRoot } from '../../lib/paths.js';
import { processesMentioning, waitFor } from '../support/processes.js';

const serversDir = fromProjectRoot('.data', 'test-postgres');
const suitesConfig = path.join('test', 'meta', 'suites', 'vitest.config.ts');

function serverDirs(): string[] {
  return fs.existsSync(serversDir) ? fs.readdirSync(serversDir) : [];
}

async function npmTest(suite: string) {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' };
  delete env.DATABASE_URL;
  const before = new Set(serverDirs());
  // extendEnv: false, or execa would merge this process's environment (DATABASE_URL included) back in.
  const run = await execa('npm', ['test', '--', '--config', suitesConfig, suite], {
    cwd: fromProjectRoot(),
    env,
    extendEnv: false,
    reject: false,
    all: true,
  });
  const leftDirs = serverDirs().filter((dir) => !before.has(dir));
  const leftServers = leftDirs.flatMap((dir) => processesMentioning(path.join(serversDir, dir)));
  return { exitCode: run.exitCode, output: run.all ?? '', leftDirs, leftServers };
}

describe('npm test without DATABASE_URL (embedded PostgreSQL)', () => {
  it('exits 0 when every test passes', async () => {
    const run = await npmTest('passing.suite.ts');
    expect(run.output).toMatch(/Tests\s+1 passed/);
    expect(run.exitCode, run.output).toBe(0);
    expect(run.leftDirs).toEqual([]);
    expect(run.leftServers).toEqual([]);
  });

  it('exits non-zero when a test fails', async () => {
    const run = await npmTest('failing-test.suite.ts');
    expect(run.output).toMatch(/Tests\s+1 failed \| 1 passed/);
    expect(run.exitCode, run.output).not.toBe(0);
    expect(run.leftDirs).toEqual([]);
    expect(run.leftServers).toEqual([]);
  });

  it('exits non-zero when a suite fails before its tests', async () => {
    const run = await npmTest('failing-suite.suite.ts');
    expect(run.output).toMatch(/Test Files\s+1 failed/);
    expect(run.exitCode, run.output).not.toBe(0);
    expect(run.leftDirs).toEqual([]);
    expect(run.leftServers).toEqual([]);
  });

  it('stops the embedded PostgreSQL and removes its data when vitest itself is killed', async () => {
    const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' };
    delete env.DATABASE_URL;
    const before = new Set(serverDirs());
    // vitest itself (not npm or npx around it), so the SIGKILL reaches the process that owns the server.
    const run = execa(
      process.execPath,
      [fromProjectRoot('node_modules', 'vitest', 'vitest.mjs'), 'run', '--config', suitesConfig, 'waiting.suite.ts'],
      {
        cwd: fromProjectRoot(),
        env,
        extendEnv: false,
        reject: false,
        all: true,
      },
    );
    const dir = await waitFor('the run to start its PostgreSQL', () => serverDirs().find((d) => !before.has(d)), 60_000);
    await waitFor('its postgres process', () => (processesMentioning(path.join(serversDir, dir)).length > 0 ? true : undefined), 60_000);
    await sleep(500);
    run.kill('SIGKILL');
    const killed = await run;
    onTestFailed(() => console.error(`the killed run's output:\n${killed.all}`));
    await waitFor(
      'the server to stop and its data to go',
      () => (!serverDirs().includes(dir) && processesMentioning(path.join(serversDir, dir)).length === 0 ? true : undefined),
      30_000,
    );
  });
});
