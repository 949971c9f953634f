// Real processes for crash tests: a Temporal dev server and Chiffon worker processes that a test can
// SIGKILL and start again, and a look at /proc to see which processes are left. Every process is
// started in its own process group and registered, so stopAll() (in afterAll) ends them whatever
// happened in the test.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readdirSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { Connection } from '@temporalio/client';
import { fromProjectRoot } from '../../lib/paths.js';
import { tools } from '../../lib/tools.js';
import { TEST_CODEC_KEYS } from './codec.js';

/** Polls `probe` until it returns a value other than undefined, or throws after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  probe: () => T | undefined | Promise<T | undefined>,
  timeoutMs = 60_000,
  intervalMs = 200,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      const reason = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${reason}`);
    }
    await sleep(intervalMs);
  }
}

export interface ManagedProcess {
  readonly name: string;
  readonly pid: number;
  readonly logFile: string;
  /** Resolves when the process has exited (never rejects). */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  isRunning(): boolean;
  /** Signals the process's whole group and waits until the process itself has exited. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** The last `chars` characters of its output (stdout and stderr). */
  logTail(chars?: number): string;
}

const live = new Set<ManagedProcess>();
let exitHookInstalled = false;

/** Should the test process exit without its afterAll (a timeout, a crash), its processes go too. */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const managed of live) signalGroup(managed.pid, 'SIGKILL');
  });
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // ESRCH: the group is gone.
  }
}

/** Starts `command` in a process group of its own, its output appended to `logFile`. */
export function startProcess(
  name: string,
  command: string,
  args: string[],
  options: { cwd?: string; env: NodeJS.ProcessEnv; logFile: string },
): ManagedProcess {
  const log = openSync(options.logFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn(command, args, { cwd: options.cwd, env: options.env, detached: true, stdio: ['ignore', log, log] });
  } finally {
    closeSync(log); // the child has its own copy
  }
  if (child.pid === undefined) throw new Error(`cannot start ${name}: ${command}`);
  const pid = child.pid;
  let running = true;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => {
      running = false;
      resolve({ code, signal });
    });
    child.once('error', () => {
      running = false;
      resolve({ code: null, signal: null });
    });
  });
  const managed: ManagedProcess = {
    name,
    pid,
    logFile: options.logFile,
    exited,
    isRunning: () => running,
    async kill(signal: NodeJS.Signals = 'SIGKILL') {
      if (running) {
        signalGroup(pid, signal);
        // A gentler signal gets 10 s before the SIGKILL.
        const escalate = signal === 'SIGKILL' ? undefined : setTimeout(() => signalGroup(pid, 'SIGKILL'), 10_000);
        await exited;
        clearTimeout(escalate);
      }
      // What else was in its group (tsx's esbuild service, say) goes too.
      signalGroup(pid, 'SIGKILL');
      live.delete(managed);
    },
    logTail(chars = 4_000) {
      try {
        return readFileSync(options.logFile, 'utf8').slice(-chars);
      } catch {
        return '';
      }
    },
  };
  // A process that ends by itself stays registered: kill() also clears the rest of its group.
  live.add(managed);
  installExitHook();
  return managed;
}

/** SIGKILLs every process started here that was not killed yet (afterAll). */
export async function stopAll(): Promise<void> {
  await Promise.all([...live].map((p) => p.kill('SIGKILL')));
}

export interface DevServerOptions {
  /** SQLite file of the server: what it persists survives a restart. */
  dbFile: string;
  port: number;
  uiPort: number;
  /** The HTTP API and metrics ports, which the CLI would otherwise pick from the ephemeral range. */
  httpPort: number;
  metricsPort: number;
  logFile: string;
}

/** Whether a Temporal frontend answers on `address` (a real RPC, not just an open port). */
async function temporalAnswers(address: string): Promise<boolean> {
  const connection = await Connection.connect({ address, connectTimeout: 1_000 });
  try {
    await connection.workflowService.describeNamespace({ namespace: 'default' });
    return true;
  } finally {
    await connection.close();
  }
}

/**
 * Starts a Temporal dev server through ./temporal-dev.sh (what `npm start` uses: SQLite history, the
 * Chiffon search attributes) and waits until its frontend answers.
 */
export async function startDevServer(options: DevServerOptions): Promise<ManagedProcess> {
  const extraArgs = ['--http-port', String(options.httpPort), '--metrics-port', String(options.metricsPort)];
  const server = startProcess('temporal dev server', fromProjectRoot('temporal-dev.sh'), extraArgs, {
    env: {
      ...process.env,
      TEMPORAL_CLI_PATH: tools.temporalCli(),
      TEMPORAL_HOST: '127.0.0.1',
      TEMPORAL_PORT: String(options.port),
      TEMPORAL_UI_PORT: String(options.uiPort),
      TEMPORAL_DB_FILE: options.dbFile,
    },
    logFile: options.logFile,
  });
  const address = `127.0.0.1:${options.port}`;
  try {
    await waitFor(
      `the Temporal dev server on ${address}`,
      async () => {
        // temporal-dev.sh exits 0 when another server holds the port: that one is not ours.
        if (!server.isRunning()) throw new Error(`the dev server exited:\n${server.logTail()}`);
        return (await temporalAnswers(address)) || undefined;
      },
      30_000,
    );
  } catch (error) {
    await server.kill();
    throw error;
  }
  return server;
}

/** Starts `node --import tsx workers/main.ts` (one process: a SIGKILL reaches the worker itself). */
function withoutProviderSettings(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return Object.fromEntries(
    Object.entries(env).filter(
      ([name]) => !name.startsWith('CHIFFON_LLM_') && !name.startsWith('ANTHROPIC_') && !name.startsWith('CHIFFON_ANTHROPIC_'),
    ),
  );
}

export async function startWorkerProcess(env: Record<string, string>, logFile: string): Promise<ManagedProcess> {
  const worker = startProcess('chiffon worker', process.execPath, ['--import', 'tsx', fromProjectRoot('workers', 'main.ts')], {
    cwd: fromProjectRoot(),
    // No decomposition provider from the developer's environment: tests never call a real model.
    env: { ...withoutProviderSettings(process.env), CHIFFON_CODEC_KEYS: TEST_CODEC_KEYS, ...env },
    logFile,
  });
  try {
    // main.ts says so once the worker is built (workflow bundle included) and starts polling.
    await waitFor(
      'the worker to poll its task queue',
      () => {
        if (!worker.isRunning()) throw new Error(`the worker exited:\n${worker.logTail()}`);
        return worker.logTail(100_000).includes('chiffon worker: polling') || undefined;
      },
      90_000,
    );
  } catch (error) {
    await worker.kill();
    throw error;
  }
  return worker;
}

export interface ProcessInfo {
  pid: number;
  ppid: number;
  state: string;
  cmdline: string;
}

/** Every process on the machine, from Linux /proc. */
export function listProcesses(): ProcessInfo[] {
  const found: ProcessInfo[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // The command name may hold spaces and parentheses: the fields start after the last ')'.
      const [state = '?', ppid = '0'] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').replaceAll('\0', ' ').trim();
      found.push({ pid: Number(entry), ppid: Number(ppid), state, cmdline });
    } catch {
      // The process ended while we looked.
    }
  }
  return found;
}

/** Live (not zombie) processes whose command line or environment mentions `text`. */
export function processesMentioning(text: string): ProcessInfo[] {
  return listProcesses().filter((p) => {
    if (p.state === 'Z' || p.pid === process.pid) return false;
    if (p.cmdline.includes(text)) return true;
    try {
      return readFileSync(`/proc/${p.pid}/environ`, 'utf8').includes(text);
    } catch {
      return false;
    }
  });
}

/**
 * SIGKILLs every live process whose command line or environment mentions `text` (a test's own temp
 * directory): the safety net for what a failed test may leave, such as a playbook's process tree
 * that outlived its worker. Returns how many there were.
 */
export function killProcessesMentioning(text: string): number {
  const found = processesMentioning(text);
  for (const p of found) {
    try {
      process.kill(p.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  return found.length;
}

/** Live descendants of `root` (children, their children, ...). */
export function descendantsOf(root: number): ProcessInfo[] {
  const all = listProcesses();
  const found: ProcessInfo[] = [];
  const stack = [root];
  while (stack.length > 0) {
    const parent = stack.pop();
    for (const p of all) {
      if (p.ppid !== parent) continue;
      stack.push(p.pid);
      if (p.state !== 'Z') found.push(p);
    }
  }
  return found;
}
