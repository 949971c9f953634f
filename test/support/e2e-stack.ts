// The real stack end-to-end tests run against, in the test process: a Temporal dev server from the
// project's binary, a PostgreSQL database of the file's own, one workflow bundle (shared by the
// file), and any number of "stacks": a real Chiffon worker polling a task queue of its own plus the
// HTTP API served on a free port, both built from one ChiffonConfig. A test that needs another
// configuration (approval timeout, capacity thresholds, playbook repository) starts a stack of its
// own, so nothing it does reaches another test's worker, state directory or audit repository.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import git from 'isomorphic-git';
import { serve, type ServerType } from '@hono/node-server';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, type Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { expect } from 'vitest';
import { createApp } from '../../api/app.js';
import { attachLiveEventsWebSocket } from '../../api/live-websocket.js';
import { workflowIdFor } from '../../domain/request-state.js';
import { createApiToken } from '../../lib/api-tokens.js';
import { createEventNotifier } from '../../lib/event-notifier.js';
import { loadConfig, type ChiffonConfig } from '../../lib/config.js';
import { loadLlmConfig, type LlmConfig } from '../../lib/llm-config.js';
import { startLocalTemporal } from '../../lib/local-temporal.js';
import { fromProjectRoot } from '../../lib/paths.js';
import { startAgentReporter } from '../../workers/agent-reporter.js';
import { createChiffonWorkers, createHostWorker, runWorkers, workflowsPath } from '../../workers/worker.js';
import { capacityChangedSignal, servicesSearchAttribute, statusSearchAttribute } from '../../workflows/messages.js';
import { testCodec, testDataConverter } from './codec.js';
import { processesMentioning } from './processes.js';
import { createTestDatabase, type TestDatabase } from './test-database.js';

/** Statuses in which a request waits for nobody (a failed one may still be retried). */
export const SETTLED = ['completed', 'failed', 'rejected', 'unplannable', 'expired', 'stale_plan', 'cancelled'];

export interface E2EServices {
  env: TestWorkflowEnvironment;
  database: TestDatabase;
  workflowBundle: WorkflowBundleWithSourceMap;
  /** A temporary folder of the file's own, removed by stop(). */
  scratch: string;
  stop(): Promise<void>;
}

/** Starts the Temporal dev server, creates the file's database and bundles the workflows, in parallel. */
export async function startServices(name: string): Promise<E2EServices> {
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), `chiffon-${name}-`));
  const [env, database, workflowBundle] = await Promise.all([
    startLocalTemporal({ searchAttributes: [statusSearchAttribute, servicesSearchAttribute], dataConverter: testDataConverter }),
    createTestDatabase(),
    bundleWorkflowCode({ workflowsPath }),
  ]);
  return {
    env,
    database,
    workflowBundle,
    scratch,
    async stop() {
      await env.teardown();
      await database.drop();
      fs.rmSync(scratch, { recursive: true, force: true });
    },
  };
}

export interface HttpAnswer {
  status: number;
  body: any;
}

/** Whose token call() sends: the stack's requester (alice), approver (bob) or admin (carol), or none. */
export type CallAs = 'requester' | 'approver' | 'admin' | 'none';

export interface Stack {
  name: string;
  /** What the worker and the API were built from. */
  config: ChiffonConfig;
  baseUrl: string;
  /** API tokens made for the stack: requester `alice`, approver `bob`, admin `carol`. */
  tokens: { requester: string; approver: string; admin: string };
  /**
   * Calls the API with a token: by default the requester's for POST /chat and POST
   * /requests/:id/input, the approver's for everything else; `as` picks another (or none). An
   * `authorization` in `headers` replaces the token.
   */
  call(method: string, route: string, body?: unknown, headers?: Record<string, string>, as?: CallAs): Promise<HttpAnswer>;
  /** GET /requests/:id until its status is one of `wanted`; throws at once if it settles on another. */
  waitForStatus(requestId: string, wanted: string | string[], timeoutMs?: number): Promise<any>;
  /** Polls GET /requests/:id until `accept` says yes. */
  waitForRequest(requestId: string, what: string, accept: (body: any) => boolean, timeoutMs?: number): Promise<any>;
  /** Commits of the stack's audit repository, newest first (none before the first audit). */
  auditLog(): Promise<{ oid: string; message: string; timestamp: number }[]>;
  stopWorker(): Promise<void>;
  startWorker(): Promise<void>;
  /** Stops the worker, then the API. */
  stop(): Promise<void>;
}

export interface StackOptions {
  /** Overrides of the worker's and the API's configuration (taskQueue, playbookRepo, approvalTimeout, ...). */
  config?: Partial<ChiffonConfig>;
  /** Decomposition providers of the worker; by default none (the deterministic parser), whatever
   * the environment of the test run says, so a developer's API key never reaches a real model. */
  llm?: LlmConfig;
}

let stacks = 0;

export async function startStack(services: E2EServices, name: string, options: StackOptions = {}): Promise<Stack> {
  const dir = path.join(services.scratch, `${name}-${++stacks}`);
  fs.mkdirSync(dir, { recursive: true });
  const config: ChiffonConfig = {
    ...loadConfig({}),
    temporalNamespace: services.env.namespace ?? 'default',
    taskQueue: `${name}-${process.pid}-${stacks}`,
    playbookRepo: fromProjectRoot('playbooks'),
    auditRepo: path.join(dir, 'audit'),
    stateDir: path.join(dir, 'state'),
    workDir: path.join(dir, 'work'),
    // The stack's agent reports this machine's real load: on a small machine running the whole
    // suite that is often above the default limit, and a test about something else would pause.
    // Tests of the pause set their own limits.
    maxLoadPerCpu: 1_000_000,
    minFreeMemoryPercent: 0,
    // Likewise the kernel's pressure figures (CPU "some avg10" is often far above 80% on a busy CI
    // machine): 100% is never exceeded, so the stack's agent never pauses for them.
    maxCpuPressure: 100,
    maxMemoryPressure: 100,
    ...options.config,
  };

  // The stack's worker process: the orchestration worker, its host worker (agent `localhost`, the
  // sample inventory's homelab host) and its agent registry row, as `npm run worker` runs them.
  let workers: Worker[] | undefined;
  let running: Promise<void> | undefined;
  let reporter: { stop(): Promise<void> } | undefined;
  const startWorker = async () => {
    if (workers) throw new Error(`stack ${name}: a worker is already running`);
    workers = await createChiffonWorkers({
      connection: services.env.nativeConnection,
      config,
      prisma: services.database.prisma,
      codec: testCodec,
      llm: options.llm ?? loadLlmConfig({}),
      workflowBundle: services.workflowBundle,
    });
    reporter = startAgentReporter(services.database.prisma, config, services.env.client);
    running = runWorkers(workers);
    // Surfaces a worker that dies by itself in the test's output; stopWorker() rethrows it.
    running.catch((error: unknown) => console.error(`stack ${name}: the worker stopped: ${String(error)}`));
  };
  const stopWorker = async () => {
    const [current, done, registry] = [workers, running, reporter];
    workers = undefined;
    running = undefined;
    reporter = undefined;
    if (!current || !done) return;
    for (const worker of current) if (worker.getState() === 'RUNNING') worker.shutdown();
    await done;
    await registry?.stop();
  };
  await startWorker();

  const events = createEventNotifier(services.database.url);
  const app = createApp({ client: services.env.client, codec: testCodec, prisma: services.database.prisma, config, events });
  const server: ServerType = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' });
  attachLiveEventsWebSocket(server, { prisma: services.database.prisma, events, client: services.env.client });
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/dashboard`;

  const tokens = {
    requester: (await createApiToken(services.database.prisma, { name: 'alice', role: 'requester' })).token,
    approver: (await createApiToken(services.database.prisma, { name: 'bob', role: 'approver' })).token,
    admin: (await createApiToken(services.database.prisma, { name: 'carol', role: 'admin' })).token,
  };
  const defaultCaller = (method: string, route: string): CallAs =>
    method === 'POST' && (route === '/chat' || /^\/requests\/[^/]+\/input$/.test(route)) ? 'requester' : 'approver';

  const call = async (
    method: string,
    route: string,
    body?: unknown,
    headers: Record<string, string> = {},
    as?: CallAs,
  ): Promise<HttpAnswer> => {
    const caller = as ?? defaultCaller(method, route);
    const authorization: Record<string, string> = caller === 'none' ? {} : { authorization: `Bearer ${tokens[caller]}` };
    const response = await fetch(`${baseUrl}${route}`, {
      method,
      headers: { 'content-type': 'application/json', ...authorization, ...headers },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
      signal: AbortSignal.timeout(90_000),
    });
    return { status: response.status, body: (await response.json()) as any };
  };

  const waitForRequest = async (requestId: string, what: string, accept: (body: any) => boolean, timeoutMs = 90_000) => {
    const deadline = Date.now() + timeoutMs;
    let last: HttpAnswer | undefined;
    for (;;) {
      last = await call('GET', `/requests/${requestId}`);
      if (last.status === 200 && accept(last.body)) return last.body;
      if (Date.now() > deadline)
        throw new Error(`request ${requestId}: no ${what} after ${timeoutMs} ms; last answer ${last.status} ${JSON.stringify(last.body)}`);
      await new Promise((resolve) => setTimeout(resolve, 150));
    }
  };

  const waitForStatus = async (requestId: string, wanted: string | string[], timeoutMs = 90_000) => {
    const statuses = Array.isArray(wanted) ? wanted : [wanted];
    return waitForRequest(
      requestId,
      `status ${statuses.join('/')}`,
      (body) => {
        if (statuses.includes(body.status)) return true;
        if (SETTLED.includes(body.status))
          throw new Error(`request ${requestId} is ${body.status}, not ${statuses.join('/')}: ${JSON.stringify(body)}`);
        return false;
      },
      timeoutMs,
    );
  };

  return {
    name,
    config,
    baseUrl,
    tokens,
    call,
    waitForStatus,
    waitForRequest,
    async auditLog() {
      if (!fs.existsSync(path.join(config.auditRepo, '.git'))) return [];
      const log = await git.log({ fs, dir: config.auditRepo });
      return log.map((entry) => ({ oid: entry.oid, message: entry.commit.message.trim(), timestamp: entry.commit.committer.timestamp }));
    },
    startWorker,
    stopWorker,
    async stop() {
      try {
        await stopWorker();
      } finally {
        await new Promise((resolve) => server.close(resolve));
        await events.close();
        // The safety net for a failed test: nothing that names this stack's folder outlives it.
        for (const leftover of processesMentioning(dir)) {
          try {
            process.kill(leftover.pid, 'SIGKILL');
          } catch {
            // already gone
          }
        }
      }
    },
  };
}

/** A copy of the sample playbook repository under `dir`, with `extra` files (path → content) added. */
export function playbookRepoCopy(dir: string, extra: Record<string, string> = {}): string {
  fs.cpSync(fromProjectRoot('playbooks'), dir, { recursive: true });
  for (const [file, content] of Object.entries(extra)) fs.writeFileSync(path.join(dir, file), content);
  return dir;
}

/** A shared value made the first time a test asks for it (so each test of a group also runs alone). */
export function once<T>(make: () => Promise<T>): () => Promise<T> {
  let made: Promise<T> | undefined;
  return () => (made ??= make());
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The request's row once it matches `expected`. The workflow mirrors its state to the requests table
 * right after changing it, so the row may trail what GET /requests/:id already shows by a moment.
 */
export async function requestRow(services: E2EServices, id: string, expected: Record<string, unknown>) {
  const find = () => services.database.prisma.request.findUnique({ where: { id } });
  await expect.poll(find, { timeout: 15_000, interval: 100 }).toMatchObject(expected);
  return services.database.prisma.request.findUniqueOrThrow({ where: { id } });
}

/** How often an agent's reporter has woken the request for capacity: the capacityChanged signals in its history. */
export async function capacityWakes(services: E2EServices, requestId: string): Promise<number> {
  const history = await services.env.client.workflow.getHandle(workflowIdFor(requestId)).fetchHistory();
  return (history.events ?? []).filter((e) => e.workflowExecutionSignaledEventAttributes?.signalName === capacityChangedSignal.name).length;
}

/** A host-only worker (`npm run worker -- --host NAME --no-orchestration`) with its registry row. */
export async function startAgent(services: E2EServices, base: ChiffonConfig, name: string, overrides: Partial<ChiffonConfig> = {}) {
  const config: ChiffonConfig = { ...base, workerHost: name, orchestration: false, ...overrides };
  const worker: Worker = await createHostWorker({
    connection: services.env.nativeConnection,
    config,
    prisma: services.database.prisma,
    codec: testCodec,
  });
  const reporter = startAgentReporter(services.database.prisma, config, services.env.client);
  const running = worker.run();
  return {
    async stop() {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await running;
      await reporter.stop();
    },
  };
}

/** Deletes the Temporal Schedules a test file created (what a test did not delete itself), so nothing fires as the file ends. */
export async function deleteSchedules(services: E2EServices | undefined, scheduleIds: string[]): Promise<void> {
  for (const id of scheduleIds) {
    await services?.env.client.schedule
      .getHandle(id)
      .delete()
      .catch(() => undefined); // already deleted by the test
  }
}
