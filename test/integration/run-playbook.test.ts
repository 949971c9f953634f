// runPlaybook with the real ansible-playbook, on small playbooks written here, against this machine.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AnsibleEvent } from '../../domain/ansible-events.js';
import { AnsibleRunCancelledError, prepareRun, runPlaybook, type RunPlaybookOptions } from '../../services/ansible/run-playbook.js';
import { fromProjectRoot } from '../../lib/paths.js';

let root: string;
let repo: string;
let stateDir: string;
let workDir: string;

const INVENTORY = 'localhost ansible_connection=local ansible_python_interpreter="{{ ansible_playbook_python }}"\n';

function play(name: string, tasks: string): string {
  return `---\n- name: ${name}\n  hosts: localhost\n  gather_facts: false\n  tasks:\n${tasks}`;
}

async function writePlaybook(file: string, content: string): Promise<void> {
  await mkdir(path.dirname(path.join(repo, file)), { recursive: true });
  await writeFile(path.join(repo, file), content);
}

function options(playbook: string, extra: Partial<RunPlaybookOptions> = {}): RunPlaybookOptions {
  return { playbookRepo: repo, playbook, inventory: ['inventory/hosts.ini'], vars: {}, stateDir, workDir, ...extra };
}

/** Pid and command line of every live process on the machine (Linux /proc). */
function processIds(): { pid: number; cmdline: string }[] {
  const found: { pid: number; cmdline: string }[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').replaceAll('\0', ' ').trim();
      const state = readFileSync(`/proc/${entry}/stat`, 'utf8').replace(/^.*\) /s, '')[0];
      if (cmdline && state !== 'Z') found.push({ pid: Number(entry), cmdline });
    } catch {
      // The process ended while we looked.
    }
  }
  return found;
}

/** Command lines of every live process on the machine. */
function processCommandLines(): string[] {
  return processIds().map((p) => p.cmdline);
}

function runDirs(): string[] {
  return existsSync(workDir) ? readdirSync(workDir).filter((name) => name.startsWith('ansible-run-')) : [];
}

beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'chiffon-run-playbook-'));
  repo = path.join(root, 'repo');
  stateDir = path.join(root, 'state');
  workDir = path.join(root, 'work');
  await mkdir(path.join(repo, 'inventory'), { recursive: true });
  await writeFile(path.join(repo, 'inventory', 'hosts.ini'), INVENTORY);
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('runPlaybook', () => {
  it('runs a two-task playbook and reports tasks, recap, resources and the state dir write', async () => {
    await writePlaybook(
      'two-tasks.yml',
      play(
        'Two tasks',
        `    - name: Say hello
      ansible.builtin.debug:
        msg: hello
    - name: Write state file
      ansible.builtin.copy:
        content: "written\\n"
        dest: "{{ chiffon_state_dir }}/two-tasks.txt"
        mode: "0644"
`,
      ),
    );
    const events: AnsibleEvent[] = [];
    const result = await runPlaybook(options('two-tasks.yml', { onEvent: (event) => events.push(event) }));

    expect(result).toMatchObject({ exitCode: 0, succeeded: true, failedTasks: [] });
    expect(result.tasks).toEqual([
      { name: 'Say hello', host: 'localhost', status: 'ok' },
      { name: 'Write state file', host: 'localhost', status: 'changed' },
    ]);
    expect(result.stats.localhost).toMatchObject({ ok: 2, changed: 1, failures: 0, unreachable: 0 });
    expect(result.resources.wallMs).toBeGreaterThan(0);
    expect(result.resources.userCpuMs).toBeGreaterThan(0);
    expect(result.resources.systemCpuMs).toBeGreaterThanOrEqual(0);
    expect(result.resources.maxRssKb).toBeGreaterThan(10_000);
    expect(Date.parse(result.finishedAt)).toBeGreaterThanOrEqual(Date.parse(result.startedAt));
    expect(await readFile(path.join(stateDir, 'two-tasks.txt'), 'utf8')).toBe('written\n');
    expect(events.map((e) => e.kind)).toEqual(['play_start', 'task_start', 'runner_result', 'task_start', 'runner_result', 'stats']);
    expect(runDirs()).toEqual([]);
  });

  it('returns a failed run with exit code 2 and the failed task, without throwing', async () => {
    await writePlaybook(
      'failing.yml',
      play(
        'Failing',
        `    - name: Fine
      ansible.builtin.debug:
        msg: fine
    - name: List a missing folder
      ansible.builtin.command: ls /nonexistent-chiffon-folder
      changed_when: false
    - name: Never reached
      ansible.builtin.debug:
        msg: unreachable
`,
      ),
    );
    const result = await runPlaybook(options('failing.yml'));

    expect(result.exitCode).toBe(2);
    expect(result.succeeded).toBe(false);
    expect(result.failedTasks).toEqual([
      { task: 'List a missing folder', host: 'localhost', message: expect.stringContaining('No such file or directory') },
    ]);
    expect(result.failedTasks[0]?.message).toMatch(/^non-zero return code: ls: cannot access/);
    expect(result.tasks.map((t) => t.name)).toEqual(['Fine', 'List a missing folder']);
    expect(result.stats.localhost).toMatchObject({ failures: 1 });
  });

  it('passes vars verbatim through a 0600 file that exists only while the run lasts', async () => {
    await writePlaybook(
      'vars.yml',
      play(
        'Vars',
        `    - name: Write the vars
      ansible.builtin.copy:
        content: "{{ greeting }}|{{ injection }}|{{ nested.count + 1 }}|{{ nested.ratio }}|{{ flag }}|{{ items_list | join(',') }}|{{ chiffon_state_dir }}\\n"
        dest: "{{ chiffon_state_dir }}/vars.txt"
        mode: "0600"
`,
      ),
    );
    const vars = {
      greeting: 'hé "quoted" \\ back\ttab\u2028 😀',
      // Extra vars are templated by Ansible unless marked unsafe: this must arrive as text.
      injection: "{{ lookup('pipe', 'echo INJECTED') }}",
      nested: { count: 3, ratio: 1e21 },
      flag: false,
      items_list: ['a', 'b'],
      chiffon_state_dir: '/elsewhere',
    };
    const seenWhileRunning: { mode: number; content: string }[] = [];
    const result = await runPlaybook(
      options('vars.yml', {
        vars,
        onEvent: (event) => {
          if (event.kind !== 'task_start') return;
          for (const dir of runDirs()) {
            const file = path.join(workDir, dir, 'extra-vars.yml');
            seenWhileRunning.push({ mode: statSync(file).mode & 0o777, content: readFileSync(file, 'utf8') });
          }
        },
      }),
    );

    expect(result.exitCode).toBe(0);
    expect(seenWhileRunning).toHaveLength(1);
    expect(seenWhileRunning[0]?.mode).toBe(0o600);
    expect(seenWhileRunning[0]?.content).toContain('"injection": !unsafe "{{ lookup(\'pipe\', \'echo INJECTED\') }}"');
    expect(await readFile(path.join(stateDir, 'vars.txt'), 'utf8')).toBe(
      `${vars.greeting}|${vars.injection}|4|1e+21|False|a,b|${stateDir}\n`,
    );
    expect(runDirs()).toEqual([]);
  });

  it('keeps keys at every depth inert too: a key that is a Jinja expression runs nothing', async () => {
    const marker = path.join(root, 'key-injection-ran');
    await writePlaybook(
      'keys.yml',
      play(
        'Keys',
        `    - name: Loop over the map's keys, as playbooks do (dict2items)
      ansible.builtin.debug:
        msg: "{{ item.key }}"
      loop: "{{ probe_map | dict2items }}"
    - name: Loop over the keys of a nested map
      ansible.builtin.debug:
        msg: "{{ item }}"
      loop: "{{ probe_map.inner.list.keys() | list }}"
    - name: Write the keys as Ansible sees them
      ansible.builtin.copy:
        content: "{{ (probe_map | dict2items | map(attribute='key') | list) + (probe_map.inner.list | dict2items | map(attribute='key') | list) }}\\n"
        dest: "{{ chiffon_state_dir }}/keys.txt"
        mode: "0600"
`,
      ),
    );
    const injected = `{{ lookup('pipe', 'touch ${marker}') }}`;
    const result = await runPlaybook(
      options('keys.yml', { vars: { probe_map: { [injected]: 1, inner: { list: { [`${injected}-deep`]: true } } } } }),
    );
    expect(result.exitCode, result.stderrTail).toBe(0);
    expect(existsSync(marker)).toBe(false);
    const written = await readFile(path.join(stateDir, 'keys.txt'), 'utf8');
    expect(written).toContain(injected);
    expect(written).toContain(`${injected}-deep`);
  });

  it("gives ansible-playbook an allow-listed environment: none of Chiffon's own secrets, what the operator listed", async () => {
    await writePlaybook(
      'env.yml',
      play(
        'Env',
        `    - name: Write what the environment holds
      ansible.builtin.copy:
        content: "key={{ lookup('env', 'ANTHROPIC_API_KEY') }} llm={{ lookup('env', 'CHIFFON_LLM_API_KEY') }} db={{ lookup('env', 'DATABASE_URL') }} other={{ lookup('env', 'SOME_WORKER_SETTING') }} listed={{ lookup('env', 'CLOUD_INVENTORY_TOKEN') }} home={{ lookup('env', 'HOME') | length > 0 }}\\n"
        dest: "{{ chiffon_state_dir }}/env.txt"
        mode: "0600"
`,
      ),
    );
    const secrets = {
      ANTHROPIC_API_KEY: 'sk-ant-test-not-for-playbooks',
      CHIFFON_LLM_API_KEY: 'llm-key-not-for-playbooks',
      DATABASE_URL: 'postgresql://chiffon:db-password-not-for-playbooks@127.0.0.1:5432/chiffon',
      SOME_WORKER_SETTING: 'not listed',
      CLOUD_INVENTORY_TOKEN: 'listed-by-the-operator',
    };
    const before = Object.fromEntries(Object.keys(secrets).map((name) => [name, process.env[name]]));
    Object.assign(process.env, secrets);
    try {
      const result = await runPlaybook(options('env.yml', { passEnv: ['CLOUD_INVENTORY_TOKEN'] }));
      expect(result.exitCode, result.stderrTail).toBe(0);
    } finally {
      for (const [name, value] of Object.entries(before)) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
    }
    expect(await readFile(path.join(stateDir, 'env.txt'), 'utf8')).toBe('key= llm= db= other= listed=listed-by-the-operator home=True\n');
  });

  it('refuses a playbook path that leaves the repository, and missing playbooks or inventories', async () => {
    await writeFile(path.join(root, 'outside.yml'), play('Outside', '    - name: X\n      ansible.builtin.debug:\n        msg: x\n'));
    await expect(runPlaybook(options('../outside.yml'))).rejects.toThrow(/leaves/);
    await expect(runPlaybook(options(path.join(root, 'outside.yml')))).rejects.toThrow(/leaves/);
    await expect(runPlaybook(options('missing.yml'))).rejects.toThrow(/not found/);
    await expect(runPlaybook(options('two-tasks.yml', { inventory: ['inventory/nope.ini'] }))).rejects.toThrow(/inventory .* not found/);
    expect(runDirs()).toEqual([]);
  });

  it('passes each inventory source as -i and tags as --tags (none: every task)', async () => {
    await writeFile(path.join(repo, 'inventory', 'more.ini'), '[extra]\nlocalhost\n\n[extra:vars]\nfrom_second_source=present\n');
    await writePlaybook(
      'tagged.yml',
      play(
        'Tagged',
        `    - name: Alpha
      ansible.builtin.assert:
        that: (from_second_source | default('absent')) == expected_second_source
      tags: [alpha]
    - name: Beta
      ansible.builtin.debug:
        msg: beta
      tags: [beta]
    - name: Gamma
      ansible.builtin.debug:
        msg: gamma
      tags: [gamma]
`,
      ),
    );
    const sources = [path.join(repo, 'inventory', 'hosts.ini'), path.join(repo, 'inventory', 'more.ini')];
    const tagged = await runPlaybook(
      options('tagged.yml', { inventory: sources, tags: ['alpha', 'gamma'], vars: { expected_second_source: 'present' } }),
    );
    expect(tagged).toMatchObject({ exitCode: 0, failedTasks: [] });
    expect(tagged.tasks.map((t) => t.name)).toEqual(['Alpha', 'Gamma']);
    const all = await runPlaybook(options('tagged.yml', { tags: [], vars: { expected_second_source: 'absent' } }));
    expect(all).toMatchObject({ exitCode: 0, failedTasks: [] });
    expect(all.tasks.map((t) => t.name)).toEqual(['Alpha', 'Beta', 'Gamma']);
  });

  it('reports a playbook ansible cannot parse as exit code 4 with its error in stderrTail', async () => {
    await writePlaybook('broken.yml', '---\n- name: Broken\n  hosts: localhost\n  tasks: [\n');
    const result = await runPlaybook(options('broken.yml'));
    expect(result.exitCode).toBe(4);
    expect(result.succeeded).toBe(false);
    expect(result.tasks).toEqual([]);
    expect(result.stderrTail).toMatch(/ERROR/);
  });

  it('throws a clear error when ansible-playbook is missing', async () => {
    const saved = process.env.ANSIBLE_PLAYBOOK_PATH;
    process.env.ANSIBLE_PLAYBOOK_PATH = path.join(root, 'no-such-ansible-playbook');
    try {
      await expect(runPlaybook(options('two-tasks.yml'))).rejects.toThrow(/no-such-ansible-playbook does not exist/);
    } finally {
      if (saved === undefined) delete process.env.ANSIBLE_PLAYBOOK_PATH;
      else process.env.ANSIBLE_PLAYBOOK_PATH = saved;
    }
  });

  it('stops the whole process tree when the signal aborts, and rejects', async () => {
    // A shell that ignores SIGTERM: only the SIGKILL of the tree (and of workers outside the
    // process group) gets rid of it.
    const marker = `sleep ${900 + (process.pid % 97)}`;
    await writePlaybook(
      'long.yml',
      play(
        'Long',
        `    - name: Before
      ansible.builtin.debug:
        msg: before
    - name: Sleep for long
      ansible.builtin.shell: trap "" TERM; ${marker}; echo done
      changed_when: false
`,
      ),
    );
    const controller = new AbortController();
    const started = Date.now();
    let poll: NodeJS.Timeout | undefined;
    const running = runPlaybook(
      options('long.yml', {
        signal: controller.signal,
        onEvent: (event) => {
          if (event.kind !== 'task_start' || event.task.name !== 'Sleep for long') return;
          // Abort once the command is really running.
          poll = setInterval(() => {
            if (processCommandLines().some((line) => line.includes(marker))) {
              clearInterval(poll);
              controller.abort();
            }
          }, 100);
        },
      }),
    );

    const error = await running.then(
      () => undefined,
      (caught: unknown) => caught,
    );
    clearInterval(poll);
    expect(error).toBeInstanceOf(AnsibleRunCancelledError);
    expect((error as AnsibleRunCancelledError).name).toBe('AnsibleRunCancelledError');
    expect((error as AnsibleRunCancelledError).partial?.tasks).toEqual([{ name: 'Before', host: 'localhost', status: 'ok' }]);
    expect((error as AnsibleRunCancelledError).partial?.succeeded).toBe(false);
    expect(Date.now() - started).toBeLessThan(60_000);

    const leftovers = processCommandLines().filter((line) => line.includes(marker) || line.includes(path.join(repo, 'long.yml')));
    expect(leftovers).toEqual([]);
    expect(runDirs()).toEqual([]);
  });

  it('rejects at once when the signal is already aborted', async () => {
    await expect(runPlaybook(options('two-tasks.yml', { signal: AbortSignal.abort() }))).rejects.toBeInstanceOf(AnsibleRunCancelledError);
  });
});

describe('prepareRun', () => {
  const marked = (name: string) =>
    play(
      name,
      `    - name: Leave a mark
      ansible.builtin.copy:
        content: "ran\\n"
        dest: "{{ chiffon_state_dir }}/${name}.txt"
        mode: "0644"
`,
    );
  /** runPlaybook's options but the inventory (given when the run starts). */
  const preparedOptions = (playbook: string) => {
    const { inventory: _inventory, ...rest } = options(playbook);
    return rest;
  };

  it('makes the run ready without running it: discarded, its directory (extra vars) goes and it cannot start', async () => {
    await writePlaybook('discarded.yml', marked('discarded'));
    const run = await prepareRun({ ...preparedOptions('discarded.yml'), vars: { secret: 'hush' } });
    const [dir] = runDirs();
    expect(runDirs()).toHaveLength(1);
    expect(statSync(path.join(workDir, dir!, 'extra-vars.yml')).mode & 0o777).toBe(0o600);
    run.discard();
    run.discard(); // once is enough; again, nothing
    expect(runDirs()).toEqual([]);
    await expect(run.start({ inventory: ['inventory/hosts.ini'] })).rejects.toThrow(/discarded/);
    expect(existsSync(path.join(stateDir, 'discarded.txt'))).toBe(false);
  });

  it('refuses what runPlaybook refuses: a missing playbook when prepared, a missing inventory when started', async () => {
    await expect(prepareRun(preparedOptions('missing.yml'))).rejects.toThrow(/not found/);
    expect(runDirs()).toEqual([]);
    await writePlaybook('no-inventory.yml', marked('no-inventory'));
    const run = await prepareRun(preparedOptions('no-inventory.yml'));
    await expect(run.start({ inventory: ['inventory/nope.ini'] })).rejects.toThrow(/inventory .* not found/);
    expect(runDirs()).toEqual([]);
    expect(existsSync(path.join(stateDir, 'no-inventory.txt'))).toBe(false);
  });

  it('does not start a run whose signal is aborted by the time it starts, and removes its directory', async () => {
    await writePlaybook('aborted.yml', marked('aborted'));
    const run = await prepareRun(preparedOptions('aborted.yml'));
    await expect(run.start({ inventory: ['inventory/hosts.ini'], signal: AbortSignal.abort() })).rejects.toBeInstanceOf(
      AnsibleRunCancelledError,
    );
    expect(runDirs()).toEqual([]);
    expect(existsSync(path.join(stateDir, 'aborted.txt'))).toBe(false);
  });

  it('starts ansible-playbook within start(), before this process does anything else, with the inventory given then', async () => {
    await writePlaybook('at-once.yml', marked('at-once'));
    const playbook = path.join(repo, 'at-once.yml');
    const run = await prepareRun(preparedOptions('at-once.yml'));
    const started: string[] = [];
    const running = run.start({ inventory: ['inventory/hosts.ini'], onStart: () => started.push('started') });
    // This process's event loop is held here: only a launcher asked within start() can have started it.
    const deadline = Date.now() + 20_000;
    let seen = false;
    while (!seen && Date.now() < deadline)
      seen = processCommandLines().some((line) => line.includes('ansible-playbook') && line.includes(playbook));
    expect(seen).toBe(true);
    expect(started).toEqual([]); // told once its start is confirmed, later
    const result = await running;
    expect(result.exitCode, result.stderrTail).toBe(0);
    expect(started).toEqual(['started']);
    expect(await readFile(path.join(stateDir, 'at-once.txt'), 'utf8')).toBe('ran\n');
    expect(runDirs()).toEqual([]);
    await expect(run.start({ inventory: ['inventory/hosts.ini'] })).rejects.toThrow(/started/);
  });
});

describe('a run whose caller dies', () => {
  it('stops its whole process tree and removes its run directory when the Node process is SIGKILLed', async () => {
    // The same shell that ignores SIGTERM, run by a separate Node process that is then SIGKILLed: no
    // exit hook runs there, so only the wrapper's parent-death signal can stop the tree.
    const marker = `sleep ${1100 + (process.pid % 97)}`;
    await writePlaybook(
      'orphan.yml',
      play(
        'Orphan',
        `    - name: Sleep for long
      ansible.builtin.shell: trap "" TERM; ${marker}; echo done > {{ (chiffon_state_dir ~ '/orphan-finished') | quote }}
      changed_when: false
`,
      ),
    );
    const runPlaybookModule = fileURLToPath(new URL('../../services/ansible/run-playbook.ts', import.meta.url));
    const script = path.join(root, 'run-orphan.mjs');
    await writeFile(
      script,
      `import { runPlaybook } from ${JSON.stringify(runPlaybookModule)};\n` +
        `await runPlaybook(${JSON.stringify(options('orphan.yml'))});\n`,
    );
    const caller = spawn(process.execPath, ['--import', 'tsx', script], { cwd: fromProjectRoot(), stdio: 'ignore' });
    const callerExited = new Promise((resolve) => caller.once('exit', resolve));
    try {
      const deadline = Date.now() + 60_000;
      while (!processCommandLines().some((line) => line.includes(marker))) {
        if (Date.now() > deadline || caller.exitCode !== null) throw new Error('the orphan playbook never started its command');
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(runDirs()).toHaveLength(1);
    } finally {
      caller.kill('SIGKILL');
      await callerExited;
    }

    const killedAt = Date.now();
    const isLeftover = (line: string) => line.includes(marker) || line.includes(path.join(repo, 'orphan.yml'));
    try {
      while (processCommandLines().some(isLeftover) && Date.now() - killedAt < 15_000)
        await new Promise((resolve) => setTimeout(resolve, 100));
      expect(processCommandLines().filter(isLeftover)).toEqual([]);
      // The wrapper's grace period (2 s) and a little more, not the 1100 s of the command.
      expect(Date.now() - killedAt).toBeLessThan(10_000);
      // Its run directory (the extra-vars file) goes with it; the command never finished.
      while (runDirs().length > 0 && Date.now() - killedAt < 15_000) await new Promise((resolve) => setTimeout(resolve, 100));
      expect(runDirs()).toEqual([]);
      expect(existsSync(path.join(stateDir, 'orphan-finished'))).toBe(false);
    } finally {
      // Should the test fail, what this test started does not outlive it.
      for (const leftover of processIds().filter((p) => isLeftover(p.cmdline))) {
        try {
          process.kill(leftover.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }
  });

  it('does not start the command when the parent it was given is already gone', async () => {
    const runDir = await mkdtemp(path.join(root, 'gone-'));
    const wrapper = fileURLToPath(new URL('../../services/ansible/measure_rusage.py', import.meta.url));
    const started = path.join(root, 'should-not-exist');
    // Pid 1 is never this test's pid: to the wrapper, its parent has died already.
    const result = spawnSync(
      'python3',
      [wrapper, path.join(runDir, 'rusage.json'), '--parent-pid', '1', '--remove-if-orphaned', runDir, '--', 'touch', started],
      {
        encoding: 'utf8',
      },
    );
    expect(result.status).toBe(128 + 15);
    expect(existsSync(started)).toBe(false);
    expect(existsSync(runDir)).toBe(false);
  });

  it('refuses arguments it does not understand', () => {
    const wrapper = fileURLToPath(new URL('../../services/ansible/measure_rusage.py', import.meta.url));
    for (const args of [
      ['out.json', 'true'],
      ['out.json', '--parent-pid', 'x', '--', 'true'],
      ['out.json', '--bogus', '1', '--', 'true'],
      ['out.json', '--'],
    ]) {
      const result = spawnSync('python3', [wrapper, ...args], { encoding: 'utf8' });
      expect(result.status).toBe(126);
      expect(result.stderr).toMatch(/^usage:/);
    }
  });
});
