// What the API's routes need: a Temporal client and its payload codec, the database and the configuration.
import type { Client } from '@temporalio/client';
import type { PayloadCodec } from '@temporalio/common';
import type { PrismaClient } from '../generated/prisma/client.js';
import type { ChiffonConfig } from '../lib/config.js';
import type { EventNotifier } from '../lib/event-notifier.js';

export interface ApiDeps {
  /** Built with `sealingDataConverter(codec)`. */
  client: Client;
  /** The client's payload codec, which the codec endpoint (/api/codec) serves to the Temporal Web UI. */
  codec: PayloadCodec;
  prisma: PrismaClient;
  config: ChiffonConfig;
  /** Wakes the live event streams (LISTEN/NOTIFY); without it they poll every second. */
  events?: EventNotifier;
}
