// The real stack the benchmarks run against, in this process: a Temporal dev server from the
// project's binary (.tools/venv), a database of the run's own on the PostgreSQL of DATABASE_URL (or
// the embedded one, lib/database.ts openDatabase), one workflow bundle, Chiffon workers built with
// workers/worker.ts, and the Temporal client. stop() ends everything it started, in reverse order,
// and keeps going when one part fails to stop.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, type NativeConnection, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { Client, WithStartWorkflowOperation } from '@temporalio/client';
import { createDatabase, dropDatabase, migrateDatabase, openDatabase } from '../lib/database.js';
import { createPrismaClient, type PrismaClient } from '../lib/prisma.js';
import { loadConfig, type ChiffonConfig } from '../lib/config.js';
import { loadLlmConfig } from '../lib/llm-config.js';
import { startLocalTemporal } from '../lib/local-temporal.js';
import { newCodecKeyEntry, parseCodecKeys, SealingCodec, sealingDataConverter } from '../lib/payload-codec.js';
import { createChiffonWorkers, runWorkers, workflowsPath } from '../workers/worker.js';
import { startAgentReporter } from '../workers/agent-reporter.js';
import { workflowIdFor, type RequestState } from '../domain/request-state.js';
import { requestWorkflow } from '../workflows/index.js';
import { planReadyUpdate, servicesSearchAttribute, statusSearchAttribute } from '../workflows/messages.js';

export interface BenchWorker {
  config: ChiffonConfig;
  stop(): Promise<void>;
}

export interface BenchStack {
  env: TestWorkflowEnvironment;
  client: Client;
  prisma: PrismaClient;
  /** The run's own database (for LISTEN in the stream measurement). */
  databaseUrl: string;
  scratch: string;
  /** A Chiffon worker on a task queue of its own, with `config` over the defaults. */
  startWorker(name: string, config?: Partial<ChiffonConfig>): Promise<BenchWorker>;
  /** Starts a request workflow and returns once it is planned (as POST /chat does). */
  submit(worker: BenchWorker, message: string): Promise<{ requestId: string; state: RequestState }>;
  stop(): Promise<void>;
}

let requests = 0;

export async function startBenchStack(): Promise<BenchStack> {
  const cleanups: (() => Promise<void> | void)[] = [];
  const stop = async () => {
    const errors: unknown[] = [];
    while (cleanups.length) {
      try {
        await cleanups.pop()!();
      } catch (error) {
        errors.push(error);
      }
    }
    if (errors.length) console.error(`bench: ${errors.length} part(s) of the stack did not stop cleanly: ${errors.map(String).join('; ')}`);
  };
  try {
    const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'chiffon-bench-'));
    cleanups.push(() => fs.rmSync(scratch, { recursive: true, force: true }));

    const server = await openDatabase(loadConfig().databaseUrl);
    cleanups.push(() => server.stop());
    const dbName = `chiffon_bench_${randomBytes(6).toString('hex')}`;
    const url = await createDatabase(server.url, dbName);
    cleanups.push(() => dropDatabase(server.url, dbName));
    await migrateDatabase(url);
    const prisma = createPrismaClient(url);
    cleanups.push(() => prisma.$disconnect());

    const [env, workflowBundle] = await Promise.all([
      startLocalTemporal({
        searchAttributes: [statusSearchAttribute, servicesSearchAttribute],
        dataConverter: sealingDataConverter(benchCodec),
        extraArgs: (process.env.BENCH_TEMPORAL_ARGS ?? '').split(/\s+/).filter(Boolean),
      }),
      bundleWorkflowCode({ workflowsPath, logger: quietLogger }) as Promise<WorkflowBundleWithSourceMap>,
    ]);
    cleanups.push(() => env.teardown());

    const workers = new Set<BenchWorker>();
    let queues = 0;
    const startWorker = async (name: string, overrides: Partial<ChiffonConfig> = {}): Promise<BenchWorker> => {
      const dir = path.join(scratch, `${name}-${++queues}`);
      fs.mkdirSync(dir, { recursive: true });
      const config: ChiffonConfig = {
        ...loadConfig({}),
        temporalNamespace: env.namespace ?? 'default',
        taskQueue: `bench-${name}-${process.pid}-${queues}`,
        auditRepo: path.join(dir, 'audit'),
        stateDir: path.join(dir, 'state'),
        workDir: path.join(dir, 'work'),
        ...benchCapacityOverride(),
        ...overrides,
      };
      const started = await createBenchWorker({ connection: env.nativeConnection, config, prisma, workflowBundle });
      started.running.catch((error: unknown) => console.error(`bench worker ${name} stopped: ${String(error)}`));
      const handle: BenchWorker = {
        config,
        async stop() {
          if (!workers.delete(handle)) return;
          await started.stop();
        },
      };
      workers.add(handle);
      return handle;
    };
    cleanups.push(async () => {
      for (const worker of [...workers]) await worker.stop();
    });

    const submit = async (worker: BenchWorker, message: string) => {
      const requestId = `bench${process.pid}x${++requests}`;
      const startWorkflowOperation = new WithStartWorkflowOperation(requestWorkflow, {
        workflowId: workflowIdFor(requestId),
        taskQueue: worker.config.taskQueue,
        args: [
          {
            requestId,
            message,
            approvalTimeout: worker.config.approvalTimeout,
            retryWindow: worker.config.retryWindow,
            capacityRecheckMs: worker.config.capacityRecheckMs,
          },
        ],
        workflowIdConflictPolicy: 'FAIL',
        typedSearchAttributes: [{ key: statusSearchAttribute, value: 'planning' }],
      });
      const state = await env.client.workflow.executeUpdateWithStart(planReadyUpdate, { startWorkflowOperation });
      return { requestId, state };
    };

    return { env, client: env.client, prisma, databaseUrl: url, scratch, startWorker, submit, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/**
 * The one place the bench builds a Chiffon worker process's workers, as workers/main.ts does: the
 * orchestration worker (workflows, planning, records) and the host worker of `config.workerHost`
 * (the steps routed to that agent's queue), plus the agent registry reporter the step routing reads.
 * The registry row is keyed by task queue, agent and machine: each bench worker has a task queue
 * of its own.
 */
export async function createBenchWorker(options: {
  connection: NativeConnection;
  config: ChiffonConfig;
  prisma: PrismaClient;
  workflowBundle: WorkflowBundleWithSourceMap;
}): Promise<{ running: Promise<void>; stop(): Promise<void> }> {
  const workers = await createChiffonWorkers({ ...options, codec: benchCodec, llm: loadLlmConfig({}) });
  const running = runWorkers(workers);
  const reporter = startAgentReporter(
    options.prisma,
    options.config,
    new Client({
      connection: options.connection,
      namespace: options.config.temporalNamespace,
      dataConverter: sealingDataConverter(benchCodec),
    }),
  );
  return {
    running,
    async stop() {
      for (const worker of workers) if (worker.getState() === 'RUNNING') worker.shutdown();
      await running.catch(() => {});
      await reporter.stop();
    },
  };
}

// The bundler reports every module it packs at info level: only warnings and errors matter here.
/** Payloads sealed as in a deployment (the codec's cost is part of every figure), with a key of this run's. */
export const benchCodec = new SealingCodec(parseCodecKeys(newCodecKeyEntry('bench'), 'the bench key'));

const quietLogger = {
  log: () => {},
  trace: () => {},
  debug: () => {},
  info: () => {},
  warn: (message: string) => console.warn(message),
  error: (message: string) => console.error(message),
};

/**
 * BENCH_MAX_LOAD_PER_CPU: the capacity threshold of every bench worker (default: the project's,
 * CHIFFON_MAX_LOAD_PER_CPU or 2). On a small shared machine the default pauses requests whenever
 * the load average is high; raising it measures the orchestration without those pauses.
 */
export function benchCapacityOverride(): Partial<ChiffonConfig> {
  const value = Number(process.env.BENCH_MAX_LOAD_PER_CPU);
  return process.env.BENCH_MAX_LOAD_PER_CPU && value > 0 ? { maxLoadPerCpu: value } : {};
}
