// Starts ansible-playbook runs through ansible_launcher.py, a small Python process started once per
// worker process (per Python interpreter), instead of spawning measure_rusage.py from the worker for
// every step: spawning from the worker forks a process of several hundred MB and then starts a
// Python, which a step paid for before ansible-playbook even started.
//
// The launcher forks a child per run that supervises ansible-playbook exactly as measure_rusage.py
// does (it runs the same code), in a process group of its own, so cancelling is unchanged: the
// caller signals the group. The run's stdout and stderr are FIFOs in the run's private directory,
// which this process reads directly: the output does not go through the launcher. The launcher
// is started lazily, answers on its stdout, and stops (its runs with it) when its stdin closes,
// that is when this process exits or dies.
//
// Anything wrong with the launcher (it cannot start, it died) makes launchPlaybook answer
// undefined, and the caller starts the run through measure_rusage.py as before: once a launcher
// has failed, this process does not start another one (for that Python), and says so once.
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { closeSync, constants as fsConstants, openSync } from 'node:fs';
import { Socket } from 'node:net';
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { allowedEnv } from '../../lib/child-env.js';

const SCRIPT = fileURLToPath(new URL('./ansible_launcher.py', import.meta.url));

export interface LaunchSpec {
  /** The Python to run the launcher with (one launcher per interpreter). */
  python: string;
  /** The run's private directory (0700): the FIFOs go there, and it is removed if the run is orphaned. */
  runDir: string;
  /** The command, its program first (an absolute path, or looked up on env.PATH). */
  argv: string[];
  /** The command's whole environment. */
  env: Record<string, string>;
  cwd: string;
  /** Where the supervisor writes the rusage (or spawn error) JSON, as measure_rusage.py's OUT.json. */
  usageFile: string;
}

export interface LaunchedRun {
  /** The supervisor's pid, which is also its process group's id: signal `-pid` to stop the run. */
  pid: number;
  stdout: Readable;
  stderr: Readable;
  /** The supervisor's exit code (128 + N after signal N); rejects with LauncherLostError when the launcher died first. */
  exited: Promise<number>;
}

/** The launcher stopped while it had the run: the run's supervisor, orphaned, stops its tree. */
export class LauncherLostError extends Error {
  override readonly name = 'LauncherLostError';
}

interface Reply {
  ready?: boolean;
  id?: number;
  fifos?: string[];
  pid?: number;
  exit?: number;
  error?: string;
}

interface RunHandlers {
  /** The answer to the request in flight (undefined: the launcher is gone). */
  answer?: (reply: Reply | undefined) => void;
  exited?: (code: number | undefined) => void;
}

class Launcher {
  private readonly child: ChildProcessByStdio<Writable, Readable, null>;
  private readonly runs = new Map<number, RunHandlers>();
  private nextId = 1;
  private ready = false;
  dead = false;

  constructor(
    python: string,
    private readonly onDeath: (launcher: Launcher, reason: string) => void,
  ) {
    // Its own session (no terminal's Ctrl-C reaches it), the allow-listed environment (each run
    // brings its own), its stderr this process's: only a failure of its own writes there.
    const child = spawn(python, ['-I', '-S', SCRIPT, '--parent-pid', String(process.pid)], {
      env: allowedEnv(),
      stdio: ['pipe', 'pipe', 'inherit'],
      detached: true,
    });
    this.child = child;
    let spawnError = '';
    child.on('error', (error) => (spawnError = error.message)); // the reader below then ends
    child.stdin.on('error', () => {}); // EPIPE once it is gone: noticed through stdout
    // It does not keep this process alive, except while it has runs (see track()).
    child.unref();
    for (const pipe of [child.stdin, child.stdout]) (pipe as unknown as { unref?: () => void }).unref?.();
    void (async () => {
      for await (const line of createInterface({ input: child.stdout, crlfDelay: Infinity })) {
        let reply: Reply;
        try {
          reply = JSON.parse(line) as Reply;
        } catch {
          continue;
        }
        if (reply.ready) {
          this.ready = true;
          continue;
        }
        const run = reply.id === undefined ? undefined : this.runs.get(reply.id);
        if (!run) continue;
        if (reply.exit !== undefined) {
          this.untrack(reply.id!);
          run.exited?.(reply.exit);
        } else {
          const answer = run.answer;
          run.answer = undefined;
          answer?.(reply);
        }
      }
    })()
      .catch(() => {})
      .finally(() => {
        this.dead = true;
        const code = child.exitCode ?? child.signalCode;
        this.onDeath(
          this,
          spawnError || (this.ready ? `it stopped (${code ?? 'stdout closed'})` : `it did not start (${code ?? 'no answer'})`),
        );
        for (const run of this.runs.values()) {
          run.answer?.(undefined);
          run.exited?.(undefined);
        }
        this.runs.clear();
      });
  }

  get pid(): number | undefined {
    return this.dead ? undefined : this.child.pid;
  }

  open(): number {
    const id = this.nextId++;
    this.runs.set(id, {});
    // While it has runs, its answers keep this process alive.
    (this.child.stdout as Readable & { ref?: () => void }).ref?.();
    return id;
  }

  private untrack(id: number): void {
    this.runs.delete(id);
    if (this.runs.size === 0) (this.child.stdout as Readable & { unref?: () => void }).unref?.();
  }

  /** Sends `message` for run `id`; its answer, or undefined when the launcher is gone. */
  ask(id: number, message: Record<string, unknown>): Promise<Reply | undefined> {
    const run = this.runs.get(id);
    if (!run || this.dead) return Promise.resolve(undefined);
    const answered = new Promise<Reply | undefined>((resolve) => (run.answer = resolve));
    this.child.stdin.write(`${JSON.stringify({ ...message, id })}\n`);
    return answered;
  }

  /** The run's exit code, or undefined when the launcher died first. Set before the start is asked for. */
  exited(id: number): Promise<number | undefined> {
    const run = this.runs.get(id);
    if (!run || this.dead) return Promise.resolve(undefined);
    return new Promise((resolve) => (run.exited = resolve));
  }

  /** Forgets a run that was prepared but will not be started. */
  drop(id: number): void {
    if (!this.dead && this.runs.has(id)) this.child.stdin.write(`${JSON.stringify({ op: 'drop', id })}\n`);
    this.untrack(id);
  }

  stop(): void {
    this.dead = true;
    // Closing its stdin is its signal to stop (what this process's exit does too).
    this.child.stdin.end();
  }
}

/** The launcher of each Python; null once one failed there (the caller falls back). */
const launchers = new Map<string, Launcher | null>();

function launcherFor(python: string): Launcher | undefined {
  const known = launchers.get(python);
  if (known === null) return undefined;
  if (known && !known.dead) return known;
  const launcher = new Launcher(python, (dead, reason) => {
    if (launchers.get(python) !== dead) return; // stopped on purpose
    launchers.set(python, null);
    console.warn(
      `ansible launcher (${python} ${SCRIPT}): ${reason}; this worker now starts each ansible-playbook run through measure_rusage.py`,
    );
  });
  launchers.set(python, launcher);
  return launcher;
}

function closeAll(fds: number[]): void {
  for (const fd of fds) {
    try {
      closeSync(fd);
    } catch {
      // already closed
    }
  }
}

/** A run whose FIFOs the launcher made (prepareLaunch): then started, or dropped. */
export interface PreparedLaunch {
  /**
   * Starts the command, as launchPlaybook does (what it answers, what it throws; LauncherLostError
   * too when the launcher stopped since it prepared the run, and removed its directory). The
   * launcher is asked within this call, before it returns: nothing else this process does comes first.
   */
  start(spec: Pick<LaunchSpec, 'argv' | 'env' | 'cwd' | 'usageFile'>): Promise<LaunchedRun | undefined>;
  /** Forgets the run without starting it (the caller removes its directory); once started, nothing. */
  drop(): void;
}

/**
 * The first half of launchPlaybook: the launcher of `python` (started on first use) makes the FIFOs
 * of the run in `runDir`. Undefined when the launcher cannot take the run (none, it failed, it
 * could not prepare): the caller then runs the command itself.
 */
export async function prepareLaunch(python: string, runDir: string): Promise<PreparedLaunch | undefined> {
  const launcher = launcherFor(python);
  if (!launcher) return undefined;
  const id = launcher.open();
  const prepared = await launcher.ask(id, { op: 'prepare', dir: runDir });
  const fifos = prepared?.fifos;
  if (!fifos || fifos.length !== 2) {
    launcher.drop(id);
    return undefined;
  }
  let settled = false;
  return {
    drop() {
      if (settled) return;
      settled = true;
      launcher.drop(id);
    },
    async start(spec) {
      if (settled) return undefined;
      settled = true;
      // A launcher that stopped since removed the directory of the run it had prepared.
      const lost = () => new LauncherLostError('the ansible launcher stopped before it started ansible-playbook');
      if (launcher.dead) throw lost();
      // Opened without waiting for a writer (there is none yet); the launcher opens the writing ends
      // once these exist, and only then starts the command.
      const fds: number[] = [];
      try {
        for (const fifo of fifos) fds.push(openSync(fifo, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK));
      } catch (err) {
        closeAll(fds);
        launcher.drop(id);
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw lost();
        return undefined;
      }
      const exited = launcher.exited(id);
      const started = await launcher.ask(id, { op: 'start', argv: spec.argv, env: spec.env, cwd: spec.cwd, usage: spec.usageFile });
      if (started === undefined) {
        closeAll(fds);
        throw new LauncherLostError('the ansible launcher stopped while starting ansible-playbook');
      }
      if (started.pid === undefined) {
        closeAll(fds);
        launcher.drop(id);
        return undefined;
      }
      // Only now, with the writers open, do these become streams: a FIFO without a writer reads as its end.
      const [stdout, stderr] = fds.map((fd) => new Socket({ fd, readable: true, writable: false }));
      return {
        pid: started.pid,
        stdout: stdout!,
        stderr: stderr!,
        exited: exited.then((code) => {
          if (code === undefined) throw new LauncherLostError('the ansible launcher stopped while ansible-playbook ran');
          return code;
        }),
      };
    },
  };
}

/**
 * Starts `spec.argv` through the launcher of `spec.python` (started on first use). Undefined when
 * the launcher cannot take the run (none, it failed, it could not prepare or fork): the caller
 * then runs the command itself. Throws LauncherLostError when the launcher died while starting it
 * (the run may have started, and will stop and remove its directory: the caller must not retry
 * in that directory).
 */
export async function launchPlaybook(spec: LaunchSpec): Promise<LaunchedRun | undefined> {
  return (await prepareLaunch(spec.python, spec.runDir))?.start(spec);
}

/** The launchers' pids (tests). */
export function playbookLauncherPids(): number[] {
  return [...launchers.values()].flatMap((launcher) => (launcher?.pid === undefined ? [] : [launcher.pid]));
}

/** Stops every launcher (their runs stop too) and forgets past failures (tests). */
export function stopPlaybookLaunchers(): void {
  const stopping = [...launchers.values()];
  launchers.clear();
  for (const launcher of stopping) launcher?.stop();
}
