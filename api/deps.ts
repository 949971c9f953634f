// What the API's routes need: a Temporal client, the database and the configuration.
import type { Client } from '@temporalio/client';
import type { PrismaClient } from '../generated/prisma/client.js';
import type { ChiffonConfig } from '../lib/config.js';
import type { EventNotifier } from '../lib/event-notifier.js';

export interface ApiDeps {
  client: Client;
  prisma: PrismaClient;
  config: ChiffonConfig;
  /** Wakes the live event streams (LISTEN/NOTIFY); without it they poll every second. */
  events?: EventNotifier;
}
