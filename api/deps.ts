// What the API's routes need: a Temporal client, the database and the configuration.
import type { Client } from '@temporalio/client';
import type { PrismaClient } from '../generated/prisma/client.js';
import type { ChiffonConfig } from '../lib/config.js';

export interface ApiDeps {
  client: Client;
  prisma: PrismaClient;
  config: ChiffonConfig;
}
