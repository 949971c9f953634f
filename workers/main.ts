// Runs one Chiffon worker: how a homelab host joins the fleet.
//
//   npm run worker -- --host nas                      # steps of host `nas`, plus the shared orchestration queue
//   npm run worker -- --host nas --no-orchestration   # only the steps of host `nas`
//
// Needs DATABASE_URL (the shared PostgreSQL); without it, the embedded PostgreSQL of this checkout.
// Temporal: TEMPORAL_ADDRESS / TEMPORAL_NAMESPACE / TEMPORAL_API_KEY / TEMPORAL_TLS* or a
// temporal.toml profile (lib/temporal-connection.ts); the local dev server by default.
import { parseArgs } from 'node:util';
import { Client } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { hostTaskQueue } from '../domain/fleet.js';
import { agentName, loadConfig, type ChiffonConfig } from '../lib/config.js';
import { describeLlmConfig, loadLlmConfig } from '../lib/llm-config.js';
import { openDatabase } from '../lib/database.js';
import { createPrismaClient } from '../lib/prisma.js';
import { loadPayloadCodec, sealingDataConverter } from '../lib/payload-codec.js';
import { describeTemporalConnection, temporalConnectSettings } from '../lib/temporal-connection.js';
import { startAgentReporter } from './agent-reporter.js';
import { createChiffonWorkers, runWorkers } from './worker.js';

const USAGE = 'usage: npm run worker -- [--host NAME] [--no-orchestration]';

/** The command line over the environment's configuration: --host NAME, --no-orchestration. */
function configFromArgs(argv: string[]): ChiffonConfig {
  const { values } = parseArgs({
    args: argv,
    options: { host: { type: 'string' }, 'no-orchestration': { type: 'boolean' }, help: { type: 'boolean' } },
    strict: true,
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const config = loadConfig();
  return {
    ...config,
    ...(values.host !== undefined ? { workerHost: agentName(values.host, '--host') } : {}),
    ...(values['no-orchestration'] ? { orchestration: false } : {}),
  };
}

async function run(): Promise<void> {
  let config: ChiffonConfig;
  try {
    config = configFromArgs(process.argv.slice(2));
  } catch (err) {
    console.error(`${err instanceof Error ? err.message : String(err)}\n${USAGE}`);
    process.exit(2);
  }
  const llm = loadLlmConfig(); // a bad provider setting stops the worker here, with a clear message
  const temporal = temporalConnectSettings(config);
  config = { ...config, temporalNamespace: temporal.namespace };
  const database = await openDatabase(config.databaseUrl);
  const prisma = createPrismaClient(database.url);
  const codec = await loadPayloadCodec(config);
  const connection = await NativeConnection.connect(temporal.connectionOptions);
  try {
    const workers = await createChiffonWorkers({ connection, config, prisma, codec, llm });
    const client = new Client({ connection, namespace: config.temporalNamespace, dataConverter: sealingDataConverter(codec) });
    const reporter = startAgentReporter(prisma, config, client);
    const queues = [hostTaskQueue(config.taskQueue, config.workerHost), ...(config.orchestration ? [config.taskQueue] : [])];
    console.log(
      `chiffon worker: polling task queues ${queues.join(' and ')} as host ${config.workerHost} on ${describeTemporalConnection(temporal)}` +
        (config.orchestration ? `; ${describeLlmConfig(llm)}` : ''),
    );
    try {
      await runWorkers(workers); // returns after SIGINT/SIGTERM, which the SDK turns into a graceful shutdown
    } finally {
      await reporter.stop();
    }
  } finally {
    await connection.close();
    await prisma.$disconnect();
    await database.stop();
  }
}

run().catch((err) => {
  console.error(err);
  process.exit(1);
});
