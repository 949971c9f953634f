// The worker's ansible launcher (ansible_launcher.py, playbook-launcher.ts) with real processes: runs
// side by side keep their output apart, a cancellation stops the run's whole tree, a launcher that
// dies makes runPlaybook fall back to the per-step wrapper, and a launcher whose worker dies stops
// with everything it started. Short shell commands stand in for ansible-playbook where the playbook
// is not the subject; runPlaybook's own behaviour is the subject of run-playbook.test.ts.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { AnsibleEvent } from '../../domain/ansible-events.js';
import { fromProjectRoot } from '../../lib/paths.js';
import { tools } from '../../lib/tools.js';
import {
  launchPlaybook,
  playbookLauncherPids,
  stopPlaybookLaunchers,
  type LaunchedRun,
  type LaunchSpec,
} from '../../services/ansible/playbook-launcher.js';
import { AnsibleRunCancelledError, runPlaybook, type RunPlaybookOptions } from '../../services/ansible/run-playbook.js';
import { processesMentioning, waitFor } from '../support/processes.js';

let root: string;
let repo: string;
let stateDir: string;
let workDir: string;
let runs = 0;
/** The Python runPlaybook gives the launcher (ansible's virtualenv's). */
const python = path.join(path.dirname(tools.ansiblePlaybook()), 'python3');

const INVENTORY = 'localhost ansible_connection=local ansible_python_interpreter="{{ ansible_playbook_python }}"\n';

function play(name: string, tasks: string): string {
  return `---\n- name: ${name}\n  hosts: localhost\n  gather_facts: false\n  tasks:\n${tasks}`;
}

function options(playbook: string, extra: Partial<RunPlaybookOptions> = {}): RunPlaybookOptions {
  return { playbookRepo: repo, playbook, inventory: ['inventory/hosts.ini'], vars: {}, stateDir, workDir, ...extra };
}

/** A run directory as runPlaybook makes one, and the launch of `script` (sh -c) in it. */
async function shellSpec(script: string, env: Record<string, string> = {}): Promise<LaunchSpec> {
  const runDir = await mkdtemp(path.join(workDir, 'ansible-run-'));
  return {
    python,
    runDir,
    argv: ['sh', '-c', script],
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env },
    cwd: root,
    usageFile: path.join(runDir, 'rusage.json'),
  };
}

async function readAll(stream: Readable): Promise<string> {
  stream.setEncoding('utf8');
  let text = '';
  for await (const chunk of stream) text += chunk as string;
  return text;
}

async function finish(run: LaunchedRun): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  const [exitCode, stdout, stderr] = await Promise.all([run.exited, readAll(run.stdout), readAll(run.stderr)]);
  return { exitCode, stdout, stderr };
}

function runDirs(): string[] {
  return existsSync(workDir) ? readdirSync(workDir).filter((name) => name.startsWith('ansible-run-')) : [];
}

function parentOf(pid: number): number {
  return Number(
    readFileSync(`/proc/${pid}/stat`, 'utf8')
      .replace(/^.*\) /s, '')
      .split(' ')[1],
  );
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '')[0] !== 'Z';
  } catch {
    return false;
  }
}

/** A sleep nobody else runs: its argument names it among the machine's processes. */
function uniqueSleep(): string {
  return `sleep ${3000 + (process.pid % 500) * 10 + ++runs}`;
}

beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'chiffon-launcher-'));
  repo = path.join(root, 'repo');
  stateDir = path.join(root, 'state');
  workDir = path.join(root, 'work');
  await mkdir(path.join(repo, 'inventory'), { recursive: true });
  await mkdir(workDir, { recursive: true });
  await writeFile(path.join(repo, 'inventory', 'hosts.ini'), INVENTORY);
  await writeFile(
    path.join(repo, 'two-tasks.yml'),
    play(
      'Two tasks',
      `    - name: Say hello
      ansible.builtin.debug:
        msg: "hello {{ who }}"
    - name: Write state file
      ansible.builtin.copy:
        content: "{{ who }}\\n"
        dest: "{{ chiffon_state_dir }}/{{ who }}.txt"
        mode: "0644"
`,
    ),
  );
  await writeFile(path.join(repo, 'broken.yml'), '---\n- name: Broken\n  hosts: localhost\n  tasks: [\n');
});

afterEach(() => {
  vi.restoreAllMocks();
});

afterAll(async () => {
  stopPlaybookLaunchers();
  await rm(root, { recursive: true, force: true });
});

describe('the launcher', () => {
  it('runs commands side by side, each with its own output, exit code and rusage, from one launcher', async () => {
    // Over 64 KiB of output per stream, more than a pipe holds: each run stays alive, blocked on its
    // output, until this test reads it, so its process can be looked at before it ends.
    const lines = 20_000;
    const specs = await Promise.all(
      [0, 1, 2, 3, 4, 5].map((n) =>
        shellSpec(`i=0; while [ $i -lt ${lines} ]; do echo "out $RUN $i"; echo "err $RUN $i" >&2; i=$((i+1)); done; exit $((RUN + 10))`, {
          RUN: String(n),
        }),
      ),
    );
    try {
      const launched = await Promise.all(specs.map((spec) => launchPlaybook(spec)));
      expect(launched.every((run) => run !== undefined)).toBe(true);
      const [launcherPid] = playbookLauncherPids();
      expect(launcherPid).toBeDefined();
      const parents = launched.map((run) => parentOf(run!.pid));
      const results = await Promise.all(launched.map((run) => finish(run!)));
      // Each run is a child of the launcher, not of this process, and leads its own process group.
      expect(parents).toEqual(launched.map(() => launcherPid));
      results.forEach((result, n) => {
        expect(result.exitCode).toBe(n + 10);
        const out = result.stdout.trimEnd().split('\n');
        const err = result.stderr.trimEnd().split('\n');
        expect(out).toHaveLength(lines);
        expect(err).toHaveLength(lines);
        expect(out.every((line, i) => line === `out ${n} ${i}`)).toBe(true);
        expect(err.every((line, i) => line === `err ${n} ${i}`)).toBe(true);
      });
      for (const spec of specs) {
        const usage = JSON.parse(await readFile(spec.usageFile, 'utf8')) as Record<string, number>;
        expect(usage.maxrss_kb).toBeGreaterThan(0);
        expect(Object.keys(usage).sort()).toEqual(['maxrss_kb', 'stime', 'utime']);
      }
      expect(playbookLauncherPids()).toEqual([launcherPid]);
    } finally {
      // This test's run directories are its own to remove (a runPlaybook removes its own).
      for (const spec of specs) await rm(spec.runDir, { recursive: true, force: true });
    }
  });

  it('lets a run be cancelled through its process group: the tree goes, workers outside the group too', async () => {
    const inGroup = uniqueSleep();
    const outside = uniqueSleep();
    // Like ansible's workers: one process in a session of its own; both ignore SIGTERM.
    const spec = await shellSpec(`trap "" TERM; setsid ${outside} & ${inGroup} & wait`);
    const run = (await launchPlaybook(spec))!;
    const finished = finish(run);
    const sleeping = (marker: string) => processesMentioning(marker).filter((p) => p.cmdline.trim() === marker);
    await waitFor('both sleeps', () => (sleeping(inGroup).length === 1 && sleeping(outside).length === 1) || undefined, 10_000, 50);
    const stoppedAt = Date.now();
    process.kill(-run.pid, 'SIGTERM');
    const result = await finished;
    // The supervisor's grace period (2 s), then SIGKILL: exit code of the killed shell.
    expect(result.exitCode).toBe(128 + 9);
    expect(Date.now() - stoppedAt).toBeLessThan(8_000);
    expect([...processesMentioning(inGroup), ...processesMentioning(outside)]).toEqual([]);
    await rm(spec.runDir, { recursive: true, force: true });
  });

  it("gives the command the run's environment exactly, and none of the launcher's descriptors", async () => {
    // The launcher's own environment (HOME, LANG, ... of this process) is not the run's: what the run
    // leaves out must be gone, what it sets must be its value, whatever the launcher had.
    const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', RUN_ONLY: 'only "here"', HOME: path.join(root, 'run-home') };
    const script = 'env; echo FDS; ls /proc/$$/fd';
    const spec = await shellSpec(script, env);
    spec.env = env;
    try {
      const result = await finish((await launchPlaybook(spec))!);
      expect(result.exitCode, result.stderr).toBe(0);
      const [printed, fds] = result.stdout.split('FDS\n');
      const direct = spawnSync('sh', ['-c', 'env'], { env, cwd: spec.cwd, encoding: 'utf8' });
      const lines = (text: string) => text.trimEnd().split('\n').sort();
      expect(lines(printed!)).toEqual(lines(direct.stdout));
      expect(lines(printed!)).toContain('RUN_ONLY=only "here"');
      expect(lines(fds!)).toEqual(['0', '1', '2']);
    } finally {
      await rm(spec.runDir, { recursive: true, force: true });
    }
  });

  it('reports a program that cannot be started as measure_rusage.py does: exit 127 and spawn_error', async () => {
    const spec = await shellSpec('');
    spec.argv = [path.join(root, 'no-such-program'), '--version'];
    const result = await finish((await launchPlaybook(spec))!);
    expect(result.exitCode).toBe(127);
    expect(JSON.parse(await readFile(spec.usageFile, 'utf8'))).toEqual({
      spawn_error: `${path.join(root, 'no-such-program')}: No such file or directory`,
    });
    await rm(spec.runDir, { recursive: true, force: true });
  });

  it('stops, with what it started, when its worker is SIGKILLed; the run directories go too', async () => {
    const marker = uniqueSleep();
    const runDir = await mkdtemp(path.join(workDir, 'ansible-run-'));
    const launcherModule = fileURLToPath(new URL('../../services/ansible/playbook-launcher.ts', import.meta.url));
    const script = path.join(root, 'launch-and-wait.mjs');
    const spec: LaunchSpec = {
      python,
      runDir,
      argv: ['sh', '-c', `trap "" TERM; ${marker}; touch ${JSON.stringify(path.join(root, 'orphan-finished'))}`],
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
      cwd: root,
      usageFile: path.join(runDir, 'rusage.json'),
    };
    await writeFile(
      script,
      `import { launchPlaybook, playbookLauncherPids } from ${JSON.stringify(launcherModule)};\n` +
        `const run = await launchPlaybook(${JSON.stringify(spec)});\n` +
        `run.stdout.resume(); run.stderr.resume();\n` +
        `console.log(JSON.stringify({ launcher: playbookLauncherPids()[0], run: run.pid }));\n` +
        `setInterval(() => {}, 1000);\n`,
    );
    const worker: ChildProcess = spawn(process.execPath, ['--import', 'tsx', script], {
      cwd: fromProjectRoot(),
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const exited = new Promise((resolve) => worker.once('exit', resolve));
    let pids: { launcher: number; run: number } | undefined;
    try {
      for await (const line of createInterface({ input: worker.stdout! })) {
        pids = JSON.parse(line) as { launcher: number; run: number };
        break;
      }
      expect(pids).toBeDefined();
      await waitFor('the command to run', () => processesMentioning(marker).length > 0 || undefined, 10_000, 50);
    } finally {
      worker.kill('SIGKILL');
      await exited;
    }
    const killedAt = Date.now();
    try {
      await waitFor(
        'the launcher, its run and the run directory to be gone',
        () =>
          (!isAlive(pids!.launcher) && !isAlive(pids!.run) && processesMentioning(marker).length === 0 && !existsSync(runDir)) || undefined,
        15_000,
        100,
      );
      // The supervisor's grace period (2 s) and a little more.
      expect(Date.now() - killedAt).toBeLessThan(10_000);
      expect(existsSync(path.join(root, 'orphan-finished'))).toBe(false);
    } finally {
      for (const leftover of processesMentioning(marker)) {
        try {
          process.kill(leftover.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }
  });
});

describe('runPlaybook with the launcher', () => {
  it('runs playbooks side by side through one launcher, each with its own events and result', async () => {
    stopPlaybookLaunchers();
    const names = ['alpha', 'beta', 'gamma'];
    for (const who of names) {
      await writeFile(
        path.join(repo, `side-${who}.yml`),
        play(
          `Side ${who}`,
          `    - name: One ${who}\n      ansible.builtin.debug:\n        msg: one\n    - name: Two ${who}\n      ansible.builtin.debug:\n        msg: two\n`,
        ),
      );
    }
    const events = new Map<string, AnsibleEvent[]>(names.map((name) => [name, []]));
    const results = await Promise.all(
      names.map((who) => runPlaybook(options(`side-${who}.yml`, { vars: { who }, onEvent: (event) => events.get(who)!.push(event) }))),
    );
    expect(playbookLauncherPids()).toHaveLength(1);
    results.forEach((result, n) => {
      const who = names[n]!;
      expect(result, result.stderrTail).toMatchObject({ exitCode: 0, succeeded: true, failedTasks: [] });
      expect(result.tasks).toEqual([
        { name: `One ${who}`, host: 'localhost', status: 'ok' },
        { name: `Two ${who}`, host: 'localhost', status: 'ok' },
      ]);
      expect(result.resources.userCpuMs).toBeGreaterThan(0);
      expect(result.resources.maxRssKb).toBeGreaterThan(10_000);
      expect(events.get(who)!.map((e) => e.kind)).toEqual([
        'play_start',
        'task_start',
        'runner_result',
        'task_start',
        'runner_result',
        'stats',
      ]);
      const mentioned = JSON.stringify(events.get(who));
      for (const other of names.filter((name) => name !== who)) expect(mentioned).not.toContain(other);
    });
    expect(runDirs()).toEqual([]);
  });

  it('fails a run whose launcher dies under it, stopping its tree; later runs fall back to the wrapper, said once', async () => {
    stopPlaybookLaunchers();
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    const marker = uniqueSleep();
    await writeFile(
      path.join(repo, 'long.yml'),
      play('Long', `    - name: Sleep for long\n      ansible.builtin.shell: trap "" TERM; ${marker}\n      changed_when: false\n`),
    );
    let launcher: number | undefined;
    const failed = await runPlaybook(
      options('long.yml', {
        onEvent: (event) => {
          if (event.kind !== 'task_start') return;
          void waitFor('the command to run', () => processesMentioning(marker).length > 0 || undefined, 30_000, 50).then(() => {
            launcher = playbookLauncherPids()[0];
            process.kill(launcher!, 'SIGKILL');
          });
        },
      }),
    ).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(launcher).toBeDefined();
    expect(failed).toBeInstanceOf(Error);
    expect(failed).not.toBeInstanceOf(AnsibleRunCancelledError);
    expect((failed as Error).message).toMatch(/launcher stopped while ansible-playbook ran; the run was stopped/);
    await waitFor('the orphaned run to stop', () => processesMentioning(marker).length === 0 || undefined, 15_000, 100);
    expect(runDirs()).toEqual([]);
    expect(warn).toHaveBeenCalledTimes(1);
    expect(String(warn.mock.calls[0]?.[0])).toMatch(/ansible launcher .*measure_rusage\.py/);

    // From now on through measure_rusage.py, spawned from this process, with the same results.
    let wrappers = 0;
    const ok = await runPlaybook(
      options('two-tasks.yml', {
        vars: { who: 'fallback' },
        onEvent: (event) => {
          if (event.kind === 'task_start') wrappers = Math.max(wrappers, processesMentioning('measure_rusage.py').length);
        },
      }),
    );
    expect(ok).toMatchObject({ exitCode: 0, succeeded: true });
    expect(ok.tasks.map((t) => t.status)).toEqual(['ok', 'changed']);
    expect(ok.resources.maxRssKb).toBeGreaterThan(10_000);
    expect(wrappers).toBeGreaterThanOrEqual(1);
    const broken = await runPlaybook(options('broken.yml'));
    expect(broken).toMatchObject({ exitCode: 4, succeeded: false, tasks: [] });
    expect(broken.stderrTail).toMatch(/ERROR/);
    expect(playbookLauncherPids()).toEqual([]);
    expect(warn).toHaveBeenCalledTimes(1);
    expect(runDirs()).toEqual([]);
  });

  it('falls back to the wrapper when the launcher cannot start, and says so once', async () => {
    stopPlaybookLaunchers();
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    // A Python that runs anything but the launcher, beside an ansible-playbook (runPlaybook takes
    // the python next to ansible-playbook for both).
    const bin = path.join(root, 'no-launcher-bin');
    await mkdir(bin, { recursive: true });
    await writeFile(
      path.join(bin, 'python3'),
      `#!/bin/sh\ncase "$*" in *ansible_launcher.py*) exit 3;; esac\nexec ${JSON.stringify(python)} "$@"\n`,
    );
    await chmod(path.join(bin, 'python3'), 0o755);
    await symlink(tools.ansiblePlaybook(), path.join(bin, 'ansible-playbook'));
    const saved = process.env.ANSIBLE_PLAYBOOK_PATH;
    process.env.ANSIBLE_PLAYBOOK_PATH = path.join(bin, 'ansible-playbook');
    try {
      for (const who of ['first', 'second']) {
        const result = await runPlaybook(options('two-tasks.yml', { vars: { who } }));
        expect(result, result.stderrTail).toMatchObject({ exitCode: 0, succeeded: true });
        expect(readFileSync(path.join(stateDir, `${who}.txt`), 'utf8')).toBe(`${who}\n`);
      }
    } finally {
      if (saved === undefined) delete process.env.ANSIBLE_PLAYBOOK_PATH;
      else process.env.ANSIBLE_PLAYBOOK_PATH = saved;
    }
    expect(warn).toHaveBeenCalledTimes(1);
    expect(String(warn.mock.calls[0]?.[0])).toMatch(/did not start/);
    expect(runDirs()).toEqual([]);
  });

  it('reports an ansible-playbook that cannot be executed the same way with and without the launcher', async () => {
    stopPlaybookLaunchers();
    vi.spyOn(console, 'warn').mockImplementation(() => {});
    // It exists (so it is found), but its interpreter does not: the exec fails with ENOENT.
    const fake = path.join(root, 'fake-bin', 'ansible-playbook');
    await mkdir(path.dirname(fake), { recursive: true });
    await writeFile(fake, `#!${path.join(root, 'no-such-interpreter')}\n`);
    await chmod(fake, 0o755);
    const saved = process.env.ANSIBLE_PLAYBOOK_PATH;
    process.env.ANSIBLE_PLAYBOOK_PATH = fake;
    try {
      const expected = `cannot run ansible-playbook: ${fake}: No such file or directory`;
      await expect(runPlaybook(options('two-tasks.yml'))).rejects.toThrow(expected);
      // No virtualenv python beside it: the launcher of `python3`.
      const [launcher] = playbookLauncherPids();
      expect(launcher).toBeDefined();
      process.kill(launcher!, 'SIGKILL');
      await waitFor('the launcher to be gone', () => playbookLauncherPids().length === 0 || undefined, 10_000, 50);
      await expect(runPlaybook(options('two-tasks.yml'))).rejects.toThrow(expected);
    } finally {
      if (saved === undefined) delete process.env.ANSIBLE_PLAYBOOK_PATH;
      else process.env.ANSIBLE_PLAYBOOK_PATH = saved;
    }
    expect(runDirs()).toEqual([]);
  });
});
