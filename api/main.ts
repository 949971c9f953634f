// Runs the HTTP API alone (npm start runs it together with everything else).
import { serve } from '@hono/node-server';
import { Client, Connection } from '@temporalio/client';
import { loadConfig } from '../lib/config.js';
import { createEventNotifier } from '../lib/event-notifier.js';
import { openDatabase } from '../lib/database.js';
import { createPrismaClient } from '../lib/prisma.js';
import { loadPayloadCodec, sealingDataConverter } from '../lib/payload-codec.js';
import { apiConnectionOptions, temporalConnectSettings } from '../lib/temporal-connection.js';
import { createApp } from './app.js';
import { attachLiveEventsWebSocket } from './live-websocket.js';

async function run(): Promise<void> {
  const settings = temporalConnectSettings(loadConfig());
  const config = { ...loadConfig(), temporalNamespace: settings.namespace };
  const database = await openDatabase(config.databaseUrl);
  const prisma = createPrismaClient(database.url);
  const codec = await loadPayloadCodec(config);
  const connection = await Connection.connect(apiConnectionOptions(settings.connectionOptions));
  const client = new Client({ connection, namespace: config.temporalNamespace, dataConverter: sealingDataConverter(codec) });
  const events = createEventNotifier(database.url);
  const server = serve({ fetch: createApp({ client, codec, prisma, config, events }).fetch, port: config.port, hostname: config.host });
  attachLiveEventsWebSocket(server, { prisma, events, client });
  console.log(`chiffon api: http://${config.host}:${config.port}/api/dashboard`);
  const stop = () => {
    server.close();
    void Promise.all([connection.close(), prisma.$disconnect(), events.close()]).then(() => database.stop());
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

run().catch((err) => {
  console.error(err);
  process.exit(1);
});
