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
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
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
import { launchPlaybook, type LaunchSpec } from './playbook-launcher.js';

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

async function readUsage(file: string): Promise<RawUsage> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as RawUsage;
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

/** Through the worker's launcher (playbook-launcher.ts); without one, through a wrapper spawned here. */
async function startRun(spec: LaunchSpec): Promise<StartedRun> {
  const launched = await launchPlaybook(spec);
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

export async function runPlaybook(options: RunPlaybookOptions): Promise<StepRunResult> {
  const { signal, onEvent } = options;
  if (signal?.aborted) throw new AnsibleRunCancelledError();

  const repo = path.resolve(options.playbookRepo);
  const playbookPath = await resolvePlaybook(repo, options.playbook);
  const inventorySources = resolveInventory(repo, options.inventory);
  const stateDir = path.resolve(options.stateDir);
  const extraVars = serializeVars(options.vars, stateDir);
  const ansiblePlaybook = tools.ansiblePlaybook();
  const python = pythonFor(ansiblePlaybook);

  await mkdir(stateDir, { recursive: true });
  const workDir = path.resolve(options.workDir);
  await mkdir(workDir, { recursive: true });
  const runDir = await mkdtemp(path.join(workDir, 'ansible-run-'));
  try {
    const varsFile = path.join(runDir, 'extra-vars.yml');
    const usageFile = path.join(runDir, 'rusage.json');
    const localTemp = path.join(runDir, 'tmp');
    await writeFile(varsFile, extraVars, { mode: 0o600, flag: 'wx' });
    await mkdir(localTemp);

    const command = [
      ansiblePlaybook,
      ...playbookArgs({
        inventorySources,
        ...(options.limit ? { limit: options.limit } : {}),
        ...(options.tags ? { tags: options.tags } : {}),
        ...(options.check ? { check: true } : {}),
        varsFile,
        playbookPath,
      }),
    ];
    const env = ansibleEnv(ansiblePlaybook, localTemp, options.passEnv);

    const startedAt = new Date();
    const started = performance.now();
    const child = await startRun({ python, runDir, argv: command, env, cwd: repo, usageFile });

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
    const usage = await readUsage(usageFile);
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
  } finally {
    // The extra-vars file may hold secrets: it goes whatever happened.
    await rm(runDir, { recursive: true, force: true });
  }
}
