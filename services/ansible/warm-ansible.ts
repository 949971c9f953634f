// A warm ansible-playbook for short commands (the preview's --list-tasks): warm_ansible.py imports
// Ansible once and forks a child per command, which saves the ~0.5 s each ansible-playbook spends
// starting Python and importing Ansible before it reads a playbook.
//
// A warm process has read its configuration when it started (the ansible.cfg of its working
// directory, and its environment), so there is one per repository and ansible.cfg content: an
// edited ansible.cfg gets a new one. Anything that goes wrong with it (it cannot start, it dies)
// answers undefined, and the caller runs a cold ansible-playbook as before.
import { existsSync } from 'node:fs';
import { mkdtempSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { ansibleConfigKey } from './config-key.js';
import { ansibleEnv } from './playbook-command.js';

const SCRIPT = fileURLToPath(new URL('./warm_ansible.py', import.meta.url));
/** How long a warm process may take to import Ansible before it is given up on. */
const START_TIMEOUT_MS = 30_000;

export interface WarmRun {
  exitCode: number;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

interface Waiting {
  resolve: (exitCode: number | undefined) => void;
  pid?: number;
}

class WarmAnsible {
  private readonly child: ChildProcessByStdio<Writable, Readable, null>;
  private readonly waiting = new Map<number, Waiting>();
  private nextId = 1;
  private dead = false;
  readonly ready: Promise<boolean>;

  constructor(
    python: string,
    ansiblePlaybook: string,
    cwd: string,
    private readonly tempDir: string,
    passEnv: readonly string[],
  ) {
    // Its stderr is this process's: only a failure to start it writes there.
    const child = spawn(python, ['-I', SCRIPT, tempDir], {
      cwd,
      env: ansibleEnv(ansiblePlaybook, tempDir, passEnv),
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    this.child = child;
    child.on('error', () => {}); // a python that cannot start ends the reader below
    // It must not keep this process alive (it is stopped when this process exits).
    child.unref();
    for (const pipe of [child.stdin, child.stdout]) (pipe as unknown as { unref?: () => void }).unref?.();
    child.stdin.on('error', () => {});
    let started: (ok: boolean) => void = () => {};
    this.ready = new Promise<boolean>((resolve) => (started = resolve));
    const startTimer = setTimeout(() => this.stop(), START_TIMEOUT_MS);
    startTimer.unref();
    void (async () => {
      for await (const line of createInterface({ input: child.stdout, crlfDelay: Infinity })) {
        const message = JSON.parse(line) as { ready?: boolean; id?: number; pid?: number; exit?: number };
        if (message.ready) {
          clearTimeout(startTimer);
          started(true);
          continue;
        }
        const waiting = message.id === undefined ? undefined : this.waiting.get(message.id);
        if (!waiting) continue;
        if (message.pid !== undefined) waiting.pid = message.pid;
        if (message.exit !== undefined) {
          this.waiting.delete(message.id!);
          waiting.resolve(message.exit);
        }
      }
    })()
      .catch(() => {})
      .finally(() => {
        clearTimeout(startTimer);
        this.dead = true;
        started(false);
        for (const waiting of this.waiting.values()) waiting.resolve(undefined);
        this.waiting.clear();
        rmSync(this.tempDir, { recursive: true, force: true });
      });
  }

  get alive(): boolean {
    return !this.dead;
  }

  /** ansible-playbook `argv` in a forked child; undefined when the warm process is gone. */
  async run(argv: string[], outputDir: string, timeoutMs: number): Promise<WarmRun | undefined> {
    if (!(await this.ready) || this.dead) return undefined;
    const id = this.nextId++;
    const stdoutFile = path.join(outputDir, 'stdout');
    const stderrFile = path.join(outputDir, 'stderr');
    let timedOut = false;
    const exited = new Promise<number | undefined>((resolve) => this.waiting.set(id, { resolve }));
    const timer = setTimeout(() => {
      timedOut = true;
      const pid = this.waiting.get(id)?.pid;
      if (pid === undefined) return;
      try {
        process.kill(-pid, 'SIGKILL'); // its process group (warm_ansible.py)
      } catch {
        // already gone
      }
    }, timeoutMs);
    this.child.stdin.write(`${JSON.stringify({ id, argv, stdout: stdoutFile, stderr: stderrFile })}\n`);
    const exitCode = await exited.finally(() => clearTimeout(timer));
    if (exitCode === undefined) return undefined;
    const [stdout, stderr] = await Promise.all([
      readFile(stdoutFile, 'utf8').catch(() => ''),
      readFile(stderrFile, 'utf8').catch(() => ''),
    ]);
    return { exitCode, stdout, stderr, timedOut };
  }

  stop(): void {
    this.dead = true;
    this.child.kill('SIGTERM');
    rmSync(this.tempDir, { recursive: true, force: true });
  }
}

/** Warm processes by repository and configuration (config-key.ts), the least recently used first. */
const warm = new Map<string, WarmAnsible>();
/** Each holds Ansible in memory (~60 MB): a worker has one repository, tests have many. */
const MAX_WARM = 3;
let exitHookInstalled = false;

/** The python of ansible-playbook's virtualenv; without one there is no Ansible to import. */
function venvPython(ansiblePlaybook: string): string | undefined {
  const python = path.join(path.dirname(ansiblePlaybook), 'python3');
  return existsSync(python) ? python : undefined;
}

export interface WarmCommand {
  ansiblePlaybook: string;
  /** The repository: the warm process's working directory. */
  repo: string;
  argv: string[];
  /** Where the command's stdout and stderr files go. */
  outputDir: string;
  timeoutMs: number;
  /** More environment variables for ansible-playbook (CHIFFON_ANSIBLE_ENV); part of the warm process's key. */
  passEnv: readonly string[];
}

/**
 * Runs ansible-playbook `argv` in `repo` through the repository's warm process (started on first
 * use). Undefined when no warm process can run it: the caller runs ansible-playbook itself.
 */
export async function runWarmAnsiblePlaybook({
  ansiblePlaybook,
  repo,
  argv,
  outputDir,
  timeoutMs,
  passEnv,
}: WarmCommand): Promise<WarmRun | undefined> {
  const python = venvPython(ansiblePlaybook);
  if (!python) return undefined;
  // By repository and everything its configuration depends on (an edited ~/.ansible.cfg too).
  const key = `${repo}\u0000${await ansibleConfigKey(repo, ansiblePlaybook, ansibleEnv(ansiblePlaybook, '', passEnv))}`;
  let process_ = warm.get(key);
  if (process_) {
    warm.delete(key);
    warm.set(key, process_); // now the most recently used
  }
  if (!process_?.alive) {
    for (const [other, stale] of warm) {
      // The same repository with another configuration: that one is out of date.
      if (other.startsWith(`${repo}\u0000`)) {
        stale.stop();
        warm.delete(other);
      }
    }
    while (warm.size >= MAX_WARM) {
      const [oldest, unused] = warm.entries().next().value!;
      unused.stop();
      warm.delete(oldest);
    }
    // Its local temp folder outlives any one run, so it is not in the work folder (whose files last
    // as long as their run); it is removed when the warm process stops.
    process_ = new WarmAnsible(python, ansiblePlaybook, repo, mkdtempSync(path.join(os.tmpdir(), 'chiffon-warm-ansible-')), passEnv);
    warm.set(key, process_);
    if (!exitHookInstalled) {
      exitHookInstalled = true;
      process.once('exit', stopWarmAnsible);
    }
  }
  return process_.run(argv, outputDir, timeoutMs);
}

/** Stops every warm process (tests, and this process's exit). */
export function stopWarmAnsible(): void {
  for (const process_ of warm.values()) process_.stop();
  warm.clear();
}
