// Runs one Chiffon worker against TEMPORAL_ADDRESS: how a homelab host joins the fleet.
// Needs DATABASE_URL (the shared PostgreSQL); without it, the embedded PostgreSQL of this checkout.
import { NativeConnection } from '@temporalio/worker';
import { loadConfig } from '../lib/config.js';
import { describeLlmConfig, loadLlmConfig } from '../lib/llm-config.js';
import { openDatabase } from '../lib/database.js';
import { createPrismaClient } from '../lib/prisma.js';
import { startAgentReporter } from './agent-reporter.js';
import { createChiffonWorker } from './worker.js';

async function run(): Promise<void> {
  const config = loadConfig();
  const llm = loadLlmConfig(); // a bad provider setting stops the worker here, with a clear message
  const database = await openDatabase(config.databaseUrl);
  const prisma = createPrismaClient(database.url);
  const connection = await NativeConnection.connect({ address: config.temporalAddress });
  try {
    const worker = await createChiffonWorker({ connection, config, prisma, llm });
    const reporter = startAgentReporter(prisma, config);
    console.log(`chiffon worker: polling task queue ${config.taskQueue} on ${config.temporalAddress}; ${describeLlmConfig(llm)}`);
    try {
      await worker.run(); // returns after SIGINT/SIGTERM, which the SDK turns into a graceful shutdown
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
