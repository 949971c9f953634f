// Builds a Chiffon worker: the request workflow plus the activities bound to config and database.
import { fileURLToPath } from 'node:url';
import { NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import type { PrismaClient } from '../generated/prisma/client.js';
import { createActivities } from '../activities/index.js';
import { createDecomposer } from '../activities/decomposition/chain.js';
import { loadLlmConfig, type LlmConfig } from '../lib/llm-config.js';
import type { ChiffonConfig } from '../lib/config.js';

export const workflowsPath = fileURLToPath(new URL('../workflows/index.ts', import.meta.url));

export interface ChiffonWorkerOptions {
  connection: NativeConnection;
  config: ChiffonConfig;
  prisma: PrismaClient;
  /** Decomposition providers; by default those the environment configures (lib/llm-config.ts). */
  llm?: LlmConfig;
  /** A pre-built bundle (tests build one per file); otherwise the worker bundles workflowsPath. */
  workflowBundle?: WorkerOptions['workflowBundle'];
}

export async function createChiffonWorker({ connection, config, prisma, llm = loadLlmConfig(), workflowBundle }: ChiffonWorkerOptions): Promise<Worker> {
  return Worker.create({
    connection,
    namespace: config.temporalNamespace,
    taskQueue: config.taskQueue,
    ...(workflowBundle ? { workflowBundle } : { workflowsPath }),
    activities: createActivities(config, prisma, createDecomposer(llm)),
    // Each step is a whole ansible-playbook process tree: a few at a time per worker host, plus room
    // for the short planning and audit activities so they never wait behind long playbooks.
    maxConcurrentActivityTaskExecutions: config.maxConcurrentSteps + 4,
    // Heartbeats carry cancellations back: sending them at least every 2 s lets a cancel stop a
    // running playbook within seconds (the default throttle waits up to 8 s with our 10 s timeout).
    maxHeartbeatThrottleInterval: '2 seconds',
  });
}
