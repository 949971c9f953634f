// Runs one playbook with the real ansible-playbook and reports what happened as a StepRunResult.
//
// ansible-playbook runs under measure_rusage.py (Node cannot getrusage() a child), in its own
// process group so a cancellation can stop the whole tree. Its stdout is the jsonl callback, read
// line by line while it runs so progress can be reported before the end. Should this process die
// without stopping the run (a worker killed with SIGKILL runs no exit hook), the wrapper notices
// (PR_SET_PDEATHSIG), stops the tree and removes the run's directory: a step whose worker died is
// retried from the start elsewhere, and must not go on running unobserved beside that retry.
//
// The wrapper's code normally runs in a child forked by the worker's long-lived launcher
// (playbook-launcher.ts), which saves each step a fork of this large process and a Python start;
// when there is no launcher, measure_rusage.py is spawned from here, as it always was.
//
// A caller with checks of its own to make first (the step activity's stale-plan check) prepares the
// run beside them (prepareRun: the playbook's path, the run's directory and extra-vars file, the
// launcher's FIFOs) and starts it once they pass: the launcher is then asked to start
// ansible-playbook at once, before this process's other work can come first.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { AnsibleRunCollector, parseAnsibleEventLine, type AnsibleEvent } from '../../domain/ansible-events.js';
import type { ResourceUsage, StepRunResult } from '../../domain/types.js';
import { tools } from '../../lib/tools.js';
import { ansibleEnv, playbookArgs, resolveInventory, serializeVars } from './playbook-command.js';
import { resolvePlaybook } from './playbook-path.js';
import { prepareLaunch, type LaunchSpec, type PreparedLaunch } from './playbook-launcher.js';

export interface RunPlaybookOptions {
  /** The playbook repository; ansible-playbook runs there (its ansible.cfg applies). */
  playbookRepo: string;
  /** Path of the playbook inside the repository. */
  playbook: string;
  /** The inventory's sources (locateInventory), each passed as `-i`; relative ones are relative to the repository. */
  inventory: string[];
  /** Runs against this inventory host only (`--limit`): a fleet step is one host's share of the play. */
  limit?: string;
  /** Runs only the tasks with these tags (`--tags a,b`); none or empty: every task. */
  tags?: string[];
  /** More environment variables to give ansible-playbook (CHIFFON_ANSIBLE_ENV). */
  passEnv?: readonly string[];
  /** Ansible's check mode with diffs (`--check --diff`): nothing changes, what would is reported. */
  check?: boolean;
  /** Extra vars, passed as data (never templated). Values may be secrets: they only go to a 0600 file. */
  vars: Record<string, unknown>;
  /** Passed to the playbook as `chiffon_state_dir`. */
  stateDir: string;
  /** Holds this run's extra-vars file and Ansible's local temp files, removed afterwards. */
  workDir: string;
  signal?: AbortSignal;
  /** Called for every event as it arrives; its errors are ignored (progress must not fail a run). */
  onEvent?: (event: AnsibleEvent) => void;
  /** Called once ansible-playbook's process has started, before any of its events; its errors are ignored. */
  onStart?: () => void;
}

/** The run was stopped through the abort signal. `partial` holds what had happened by then. */
export class AnsibleRunCancelledError extends Error {
  override readonly name = 'AnsibleRunCancelledError';
  constructor(readonly partial?: StepRunResult) {
    super('ansible-playbook run cancelled');
  }
}

const WRAPPER = fileURLToPath(new URL('./measure_rusage.py', import.meta.url));
const STDERR_TAIL_CHARS = 4_096;
/** After SIGTERM, how long the tree gets before SIGKILL (the wrapper's own grace is 2 s). */
const KILL_GRACE_MS = 5_000;

/** Process groups still running, stopped if this process exits (execa does not for detached ones). */
const liveGroups = new Set<number>();
let exitHookInstalled = false;

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // ESRCH: the group is already gone.
  }
}

function trackGroup(pid: number): void {
  liveGroups.add(pid);
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const group of liveGroups) signalGroup(group, 'SIGTERM');
  });
}

/** The wrapper runs with the python of ansible's virtualenv when there is one. */
function pythonFor(ansiblePlaybook: string): string {
  const venvPython = path.join(path.dirname(ansiblePlaybook), 'python3');
  return existsSync(venvPython) ? venvPython : 'python3';
}

interface RawUsage {
  utime?: number;
  stime?: number;
  maxrss_kb?: number;
  spawn_error?: string;
}

function readUsage(file: string): RawUsage {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as RawUsage;
  } catch {
    return {}; // The wrapper was killed before writing it.
  }
}

function exitCodeOf(result: { exitCode?: number; signal?: string }): number {
  if (result.exitCode !== undefined) return result.exitCode;
  const signalNumber = result.signal ? osConstants.signals[result.signal as NodeJS.Signals] : undefined;
  return signalNumber ? 128 + signalNumber : 1;
}

/** How a run ended: its exit code, or why there is none. */
type RunOutcome = { exitCode: number } | { startError: string } | { lost: string };

interface StartedRun {
  /** The process group's id (its leader's pid): the supervisor's, measure_rusage.py's code. */
  pid: number | undefined;
  stdout: Readable | undefined;
  stderr: Readable | undefined;
  /** Settles, never rejects, once the supervisor has ended and the run's output is closed. */
  ended: Promise<RunOutcome>;
}

function closed(stream: Readable): Promise<void> {
  return finished(stream).catch(() => {});
}

/**
 * Through the worker's launcher (playbook-launcher.ts), asked before this returns its promise;
 * without one, through a wrapper spawned here.
 */
async function startRun(launch: PreparedLaunch | undefined, spec: LaunchSpec): Promise<StartedRun> {
  const launched = await launch?.start(spec);
  if (!launched) return startWrapper(spec);
  const { pid, stdout, stderr } = launched;
  const output = Promise.all([closed(stdout), closed(stderr)]);
  const exit = launched.exited.then(
    (exitCode): RunOutcome => ({ exitCode }),
    (error: Error): RunOutcome => {
      // The orphaned supervisor stops the tree itself; should anything of the group hold on, it goes.
      signalGroup(pid, 'SIGTERM');
      const kill = setTimeout(() => signalGroup(pid, 'SIGKILL'), KILL_GRACE_MS);
      void output.then(() => clearTimeout(kill));
      return { lost: error.message };
    },
  );
  return { pid, stdout, stderr, ended: Promise.all([exit, output]).then(([outcome]) => outcome) };
}

/** The wrapper spawned from this process for this run alone: what every run did before the launcher. */
function startWrapper({ python, runDir, argv, env, cwd, usageFile }: LaunchSpec): StartedRun {
  const child = execa(
    python,
    [
      // Isolated and without site-packages: the wrapper needs only the standard library, and
      // starts sooner without them.
      '-I',
      '-S',
      WRAPPER,
      usageFile,
      ...['--parent-pid', String(process.pid), '--remove-if-orphaned', runDir],
      '--',
      ...argv,
    ],
    { cwd, env, extendEnv: false, detached: true, stdin: 'ignore', buffer: false, reject: false },
  );
  return {
    pid: child.pid,
    stdout: child.stdout ?? undefined,
    stderr: child.stderr ?? undefined,
    ended: child.then((result): RunOutcome =>
      result.failed && result.exitCode === undefined && !result.isTerminated
        ? { startError: `cannot start ${python} to run ansible-playbook: ${result.shortMessage}` }
        : { exitCode: exitCodeOf(result) },
    ),
  };
}

/** What a prepared run is given when it starts: runPlaybook's options that prepareRun does not take. */
export type RunStartOptions = Pick<RunPlaybookOptions, 'inventory' | 'signal' | 'onEvent' | 'onStart'>;

/** A run made ready by prepareRun: started once, or discarded. */
export interface PreparedRun {
  /**
   * Starts the run and follows it to its end: what runPlaybook resolves with, or throws. The
   * launcher is asked to start ansible-playbook within this call, before it returns: no other work
   * of this process (what an await would let run first) comes before.
   */
  start(options: RunStartOptions): Promise<StepRunResult>;
  /** Removes the run's directory (its extra-vars file) and forgets it, when it will not be started; once started, nothing. */
  discard(): void;
}

/**
 * runPlaybook up to starting ansible-playbook: the playbook's path (refused outside the repository),
 * the run's private directory with its 0600 extra-vars file, and the launcher's FIFOs. A caller
 * with checks of its own (which may be what finds the inventory) prepares the run beside them, then
 * starts it once they pass, or discards it.
 */
export async function prepareRun(options: Omit<RunPlaybookOptions, keyof RunStartOptions>): Promise<PreparedRun> {
  const repo = path.resolve(options.playbookRepo);
  const playbookPath = await resolvePlaybook(repo, options.playbook);
  const stateDir = path.resolve(options.stateDir);
  const extraVars = serializeVars(options.vars, stateDir);
  const ansiblePlaybook = tools.ansiblePlaybook();
  const python = pythonFor(ansiblePlaybook);

  // The run's folders and files are made (and removed) synchronously: a few calls on local
  // folders, each a matter of microseconds, where each asynchronous one would wait for a turn of
  // the thread pool and of this busy event loop, before ansible-playbook starts and after it ends.
  mkdirSync(stateDir, { recursive: true });
  const workDir = path.resolve(options.workDir);
  mkdirSync(workDir, { recursive: true });
  const runDir = mkdtempSync(path.join(workDir, 'ansible-run-'));
  // The extra-vars file may hold secrets: it goes whatever happens.
  const remove = () => rmSync(runDir, { recursive: true, force: true });
  const varsFile = path.join(runDir, 'extra-vars.yml');
  const localTemp = path.join(runDir, 'tmp');
  let env: Record<string, string>;
  let launch: PreparedLaunch | undefined;
  try {
    writeFileSync(varsFile, extraVars, { mode: 0o600, flag: 'wx' });
    mkdirSync(localTemp);
    env = ansibleEnv(ansiblePlaybook, localTemp, options.passEnv);
    launch = await prepareLaunch(python, runDir);
  } catch (err) {
    remove();
    throw err;
  }
  /** The run's command and the rest of its launch, once the inventory is known. */
  const specWith = (inventory: string[]): LaunchSpec => {
    const argv = [
      ansiblePlaybook,
      ...playbookArgs({
        inventorySources: resolveInventory(repo, inventory),
        ...(options.limit ? { limit: options.limit } : {}),
        ...(options.tags ? { tags: options.tags } : {}),
        ...(options.check ? { check: true } : {}),
        varsFile,
        playbookPath,
      }),
    ];
    return { python, runDir, argv, env, cwd: repo, usageFile: path.join(runDir, 'rusage.json') };
  };
  let state: 'prepared' | 'started' | 'discarded' = 'prepared';
  return {
    discard() {
      if (state !== 'prepared') return;
      state = 'discarded';
      launch?.drop();
      remove();
    },
    async start(startOptions) {
      if (state !== 'prepared') throw new Error(`this ansible-playbook run was ${state} already`);
      state = 'started';
      try {
        if (startOptions.signal?.aborted) throw new AnsibleRunCancelledError();
        return await follow(launch, specWith(startOptions.inventory), startOptions);
      } finally {
        launch?.drop(); // when it was never asked to start (nothing once it was)
        remove();
      }
    },
  };
}

export async function runPlaybook(options: RunPlaybookOptions): Promise<StepRunResult> {
  if (options.signal?.aborted) throw new AnsibleRunCancelledError();
  return (await prepareRun(options)).start(options);
}

/** Starts the prepared run at once (see PreparedRun.start) and reads it to its end. */
async function follow(
  launch: PreparedLaunch | undefined,
  spec: LaunchSpec,
  { signal, onEvent, onStart }: RunStartOptions,
): Promise<StepRunResult> {
  const startedAt = new Date();
  const started = performance.now();
  const child = await startRun(launch, spec);

  const pid = child.pid;
  let cancelled = false;
  let forceKill: NodeJS.Timeout | undefined;
  const stop = () => {
    if (cancelled || pid === undefined) return;
    cancelled = true;
    signalGroup(pid, 'SIGTERM');
    forceKill = setTimeout(() => signalGroup(pid, 'SIGKILL'), KILL_GRACE_MS);
  };
  if (pid !== undefined) trackGroup(pid);
  signal?.addEventListener('abort', stop, { once: true });
  if (signal?.aborted) stop();
  try {
    onStart?.();
  } catch {
    // As with onEvent: the run goes on.
  }

  let stderrTail = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    stderrTail = (stderrTail + chunk).slice(-STDERR_TAIL_CHARS);
  });

  const collector = new AnsibleRunCollector();
  const reading = (async () => {
    if (!child.stdout) return;
    for await (const line of createInterface({ input: child.stdout, crlfDelay: Infinity })) {
      const event = parseAnsibleEventLine(line);
      if (!event) continue;
      collector.add(event);
      try {
        onEvent?.(event);
      } catch {
        // A failing progress report must not stop reading (the pipe would fill and block ansible).
      }
    }
  })();

  const outcome = await child.ended;
  await reading;
  const finishedAt = new Date();
  const wallMs = Math.round(performance.now() - started);
  clearTimeout(forceKill);
  signal?.removeEventListener('abort', stop);
  if (pid !== undefined) {
    // Anything of the group that outlived the wrapper after a cancellation goes now.
    if (cancelled) signalGroup(pid, 'SIGKILL');
    liveGroups.delete(pid);
  }

  if ('startError' in outcome) throw new Error(outcome.startError);
  if ('lost' in outcome && !cancelled) throw new Error(`${outcome.lost}; the run was stopped`);
  const usage = readUsage(spec.usageFile);
  if (usage.spawn_error) throw new Error(`cannot run ansible-playbook: ${usage.spawn_error}`);

  const resources: ResourceUsage = {
    wallMs,
    userCpuMs: Math.round((usage.utime ?? 0) * 1000),
    systemCpuMs: Math.round((usage.stime ?? 0) * 1000),
    maxRssKb: usage.maxrss_kb ?? 0,
  };
  const exitCode = 'exitCode' in outcome ? outcome.exitCode : 128 + osConstants.signals.SIGTERM;
  const run: StepRunResult = {
    exitCode,
    succeeded: exitCode === 0 && !cancelled,
    startedAt: startedAt.toISOString(),
    finishedAt: finishedAt.toISOString(),
    resources,
    ...collector.summary(),
    stderrTail,
  };
  if (cancelled) throw new AnsibleRunCancelledError(run);
  return run;
}
