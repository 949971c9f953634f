// `npm start`: brings up everything Chiffon needs on this machine — the Temporal dev server (through
// temporal-dev.sh, unless TEMPORAL_ADDRESS names another cluster), PostgreSQL (DATABASE_URL or the
// embedded one) with its schema, a worker and the HTTP API — and prints where each is.
// Ctrl-C stops what it started.
import { spawn, type ChildProcess } from 'node:child_process';
import { serve } from '@hono/node-server';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { createApp } from '../api/app.js';
import { attachLiveEventsWebSocket } from '../api/live-websocket.js';
import { locateInventory } from '../services/inventory/inventory-source.js';
import { createFirstAdminToken } from '../lib/api-tokens.js';
import { ensureAuditRepo } from '../lib/audit-repo.js';
import { firstRunNotice } from '../lib/first-run.js';
import { loadConfig } from '../lib/config.js';
import { createEventNotifier } from '../lib/event-notifier.js';
import { describeLlmConfig, loadLlmConfig } from '../lib/llm-config.js';
import { migrateDatabase, openDatabase } from '../lib/database.js';
import { fromProjectRoot } from '../lib/paths.js';
import { createPrismaClient } from '../lib/prisma.js';
import { loadPayloadCodec, sealingDataConverter } from '../lib/payload-codec.js';
import { apiConnectionOptions, describeTemporalConnection, temporalConnectSettings } from '../lib/temporal-connection.js';
import { startAgentReporter } from '../workers/agent-reporter.js';
import { createChiffonWorkers, runWorkers } from '../workers/worker.js';

const TEMPORAL_STARTUP_MS = 60_000;

/** Starts temporal-dev.sh (harmless if a server already runs) and waits until the frontend answers. */
async function startTemporal(address: string): Promise<{ child: ChildProcess; connection: Connection }> {
  const [host, port] = address.split(':');
  const child = spawn('bash', [fromProjectRoot('temporal-dev.sh')], {
    stdio: ['ignore', 'inherit', 'inherit'],
    env: { ...process.env, TEMPORAL_HOST: host, TEMPORAL_PORT: port },
  });
  const deadline = Date.now() + TEMPORAL_STARTUP_MS;
  for (;;) {
    try {
      return { child, connection: await Connection.connect(apiConnectionOptions({ address, connectTimeout: '2s' })) };
    } catch (err) {
      if (child.exitCode !== null && child.exitCode !== 0)
        throw new Error(`temporal-dev.sh exited with code ${child.exitCode}`, { cause: err });
      if (Date.now() > deadline)
        throw new Error(`Temporal did not answer on ${address} within ${TEMPORAL_STARTUP_MS / 1000}s: ${String(err)}`, { cause: err });
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }
}

function redactUrl(url: string): string {
  return url.replace(/\/\/([^:@/]+):[^@/]+@/, '//$1:***@');
}

async function run(): Promise<void> {
  const config = loadConfig();
  // Read first, so a bad provider setting stops start-up with a clear message, not a request.
  const llm = loadLlmConfig();
  // Said once at start; a missing inventory is a warning (start comes up; a request then says why it cannot be planned).
  const inventory = await locateInventory(config.playbookRepo, config.inventory).then(
    (found) => `${found.display} (${found.origin})`,
    (err: unknown) => `WARNING: ${err instanceof Error ? err.message : String(err)}`,
  );
  if (inventory.startsWith('WARNING: ')) console.warn(`chiffon: inventory: ${inventory}`);
  else console.log(`chiffon: inventory: ${inventory}`);
  const externalTemporal = Boolean(process.env.TEMPORAL_ADDRESS);
  const cleanups: (() => Promise<unknown> | void)[] = [];
  const stopAll = async () => {
    for (const cleanup of cleanups.reverse()) await Promise.resolve(cleanup()).catch((err) => console.error(err));
  };

  try {
    const database = await openDatabase(config.databaseUrl);
    cleanups.push(() => database.stop());
    const applied = await migrateDatabase(database.url);
    const prisma = createPrismaClient(database.url);
    cleanups.push(() => prisma.$disconnect());
    await ensureAuditRepo(config.auditRepo);
    // A first start has no token and nobody to ask for one: make the first admin's.
    const firstToken = await createFirstAdminToken(prisma);
    const codec = await loadPayloadCodec(config);

    const temporalSettings = temporalConnectSettings(config);
    let connection: Connection;
    if (externalTemporal) {
      connection = await Connection.connect(apiConnectionOptions(temporalSettings.connectionOptions));
    } else {
      const temporal = await startTemporal(config.temporalAddress);
      connection = temporal.connection;
      cleanups.push(() => {
        temporal.child.kill('SIGTERM');
      });
    }
    cleanups.push(() => connection.close());
    const client = new Client({ connection, namespace: config.temporalNamespace, dataConverter: sealingDataConverter(codec) });

    const workerConnection = await NativeConnection.connect(
      externalTemporal ? temporalSettings.connectionOptions : { address: config.temporalAddress },
    );
    cleanups.push(() => workerConnection.close());
    // The orchestration worker and this machine's host worker (agent CHIFFON_WORKER_HOST, `localhost`
    // by default: the sample inventory's homelab host).
    const workers = await createChiffonWorkers({ connection: workerConnection, config, prisma, codec, llm });
    const reporter = startAgentReporter(prisma, config, client);
    cleanups.push(() => reporter.stop());
    const workerDone = runWorkers(workers);

    const events = createEventNotifier(database.url);
    cleanups.push(() => events.close());
    const server = serve({ fetch: createApp({ client, codec, prisma, config, events }).fetch, port: config.port, hostname: config.host });
    attachLiveEventsWebSocket(server, { prisma, events, client });
    cleanups.push(() => new Promise((resolve) => server.close(resolve)));

    const uiPort = process.env.TEMPORAL_UI_PORT ?? '8233';
    const dashboardUrl = `http://${config.host}:${config.port}/dashboard/`;
    const firstRun = firstToken
      ? await firstRunNotice(firstToken, { dashboardUrl, terminal: Boolean(process.stdout.isTTY), dataDir: fromProjectRoot('.data') })
      : [];
    console.log(
      [
        '',
        'Chiffon is up.',
        `  API          http://${config.host}:${config.port}/api/dashboard`,
        `  Dashboard    ${dashboardUrl} (asks for an API token: npm run token -- create)`,
        externalTemporal
          ? `  Temporal     ${describeTemporalConnection(temporalSettings)}`
          : `  Temporal UI  http://${config.temporalAddress.split(':')[0]}:${uiPort}/namespaces/${config.temporalNamespace}/workflows`,
        `  Database     ${config.databaseUrl ? redactUrl(database.url) : `embedded PostgreSQL (${redactUrl(database.url)})`}${applied.length ? `, applied ${applied.join(', ')}` : ''}`,
        `  Playbooks    ${config.playbookRepo}`,
        `  Inventory    ${inventory}`,
        `  Audit repo   ${config.auditRepo}`,
        `  State dir    ${config.stateDir}`,
        `  Planning     ${describeLlmConfig(llm)}`,
        'Ctrl-C stops everything npm start started.',
        ...(firstRun.length ? ['', ...firstRun] : []),
        '',
      ].join('\n'),
    );

    // The SDK shuts the worker down gracefully on SIGINT/SIGTERM; then the rest is stopped in turn.
    await workerDone;
  } finally {
    await stopAll();
  }
}

run().catch((err) => {
  console.error(`chiffon: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
