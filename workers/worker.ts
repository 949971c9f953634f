// Builds a Chiffon worker: the request workflow plus the activities bound to config and database.
import { fileURLToPath } from 'node:url';
import { type NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import type { PrismaClient } from '../generated/prisma/client.js';
import { createActivities } from '../activities/index.js';
import { createStepActivities } from '../activities/steps.js';
import { HEARTBEAT_THROTTLE } from '../domain/heartbeats.js';
import { hostTaskQueue } from '../domain/fleet.js';
import { createDecomposer } from '../services/decomposition/chain.js';
import { loadLlmConfig, type LlmConfig } from '../lib/llm-config.js';
import type { ChiffonConfig } from '../lib/config.js';
import { sealingDataConverter } from '../lib/payload-codec.js';
import type { PayloadCodec } from '@temporalio/common';

export const workflowsPath = fileURLToPath(new URL('../workflows/index.ts', import.meta.url));

export interface ChiffonWorkerOptions {
  connection: NativeConnection;
  config: ChiffonConfig;
  prisma: PrismaClient;
  /** Seals and opens every payload (lib/payload-codec.ts): the same keys as the API's. */
  codec: PayloadCodec;
  /** Decomposition providers; by default those the environment configures (lib/llm-config.ts). */
  llm?: LlmConfig;
  /** A pre-built bundle (tests build one per file); otherwise the worker bundles workflowsPath. */
  workflowBundle?: WorkerOptions['workflowBundle'];
}

/** The orchestration worker: the request workflow and every activity, on the shared task queue. */
export async function createChiffonWorker({
  connection,
  config,
  prisma,
  codec,
  llm = loadLlmConfig(),
  workflowBundle,
}: ChiffonWorkerOptions): Promise<Worker> {
  return Worker.create({
    connection,
    dataConverter: sealingDataConverter(codec),
    namespace: config.temporalNamespace,
    taskQueue: config.taskQueue,
    ...(workflowBundle ? { workflowBundle } : { workflowsPath }),
    activities: createActivities(config, prisma, createDecomposer(llm)),
    // Planning, records and lint, plus the steps of a plan without hosts (the host workers run the
    // rest): room for the short activities so they never wait behind a long playbook.
    maxConcurrentActivityTaskExecutions: config.maxConcurrentSteps + 4,
    // Heartbeats carry cancellations back: sending them at least every 2 s lets a cancel stop a
    // running playbook within seconds (the default throttle waits up to 8 s with our 10 s timeout).
    maxHeartbeatThrottleInterval: HEARTBEAT_THROTTLE,
  });
}

/**
 * A host worker: the plan steps of one agent (`config.workerHost`), on that agent's own task queue.
 * Each step (or its check run) is a whole ansible-playbook process tree: a few at a time; the rest wait in the queue.
 */
export async function createHostWorker({
  connection,
  config,
  prisma,
  codec,
}: Omit<ChiffonWorkerOptions, 'llm' | 'workflowBundle'>): Promise<Worker> {
  const { runStep, checkStep } = createStepActivities(config, prisma);
  return Worker.create({
    connection,
    dataConverter: sealingDataConverter(codec),
    namespace: config.temporalNamespace,
    taskQueue: hostTaskQueue(config.taskQueue, config.workerHost),
    activities: { runStep, checkStep },
    maxConcurrentActivityTaskExecutions: config.maxConcurrentSteps,
    maxHeartbeatThrottleInterval: HEARTBEAT_THROTTLE,
  });
}

/** The workers one Chiffon process runs: its host worker, and the orchestration worker unless turned off. */
export async function createChiffonWorkers(options: ChiffonWorkerOptions): Promise<Worker[]> {
  const host = await createHostWorker(options);
  return options.config.orchestration ? [await createChiffonWorker(options), host] : [host];
}

/** Runs workers until they shut down; when one fails, the others are shut down too. */
export async function runWorkers(workers: Worker[]): Promise<void> {
  const shutdownOthers = () => {
    for (const worker of workers) if (worker.getState() === 'RUNNING') worker.shutdown();
  };
  await Promise.all(
    workers.map((worker) =>
      worker.run().catch((err: unknown) => {
        shutdownOthers();
        throw err;
      }),
    ),
  );
}
