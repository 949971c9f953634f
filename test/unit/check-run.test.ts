// Check mode (ansible-playbook --check --diff): diffs and unchecked tasks read from real output
// (test/fixtures/ansible/check-mode.jsonl), and what a check run says in words.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { renderAnsibleDiff } from '../../domain/ansible-diff.js';
import { summarizeAnsibleOutput } from '../../domain/ansible-events.js';
import { checkTaskId, describeCheckStep, summarizeCheck, type CheckRun, type CheckStep } from '../../domain/check-run.js';

const checkOutput = readFileSync(fileURLToPath(new URL('../fixtures/ansible/check-mode.jsonl', import.meta.url)), 'utf8');

describe('renderAnsibleDiff', () => {
  it('renders before/after text as the unified diff ansible prints, with its headers', () => {
    const text = renderAnsibleDiff([
      { before: 'old\n', after: 'old\nnew line\n', before_header: '/etc/x (content)', after_header: '/etc/x (content)' },
    ]);
    expect(text).toBe('--- before: /etc/x (content)\n+++ after: /etc/x (content)\n@@ -1,1 +1,2 @@\n old\n+new line\n');
  });

  it('serializes mappings (the file module) and shows nothing for an unchanged side', () => {
    const text = renderAnsibleDiff({ before: { path: '/d', state: 'absent' }, after: { path: '/d', state: 'directory' } });
    expect(text).toContain('-    "state": "absent"');
    expect(text).toContain('+    "state": "directory"');
    expect(renderAnsibleDiff({ before: 'same\n', after: 'same\n' })).toBe('');
    // A new file: the old side is empty (`-0,0`, as diff and difflib write it).
    expect(renderAnsibleDiff({ before: '', after: 'x\n', after_header: '/etc/new' })).toBe(
      '--- before\n+++ after: /etc/new\n@@ -0,0 +1,1 @@\n+x\n',
    );
    expect(renderAnsibleDiff([{ before_header: 'attrs', after_header: 'attrs' }])).toBe('');
  });

  it('keeps text a module prepared and says when content was not compared', () => {
    expect(renderAnsibleDiff({ prepared: 'The following packages will be installed: nginx' })).toBe(
      'The following packages will be installed: nginx\n',
    );
    expect(renderAnsibleDiff({ dst_binary: 1 })).toBe('diff skipped: destination file appears to be binary\n');
    expect(renderAnsibleDiff({ src_larger: 104448 })).toBe('diff skipped: source file size is greater than 104448\n');
    expect(renderAnsibleDiff('not a diff')).toBe('');
  });
});

describe('a check run read from ansible-playbook --check --diff', () => {
  const { tasks } = summarizeAnsibleOutput(checkOutput);
  const byName = (name: string) => tasks.filter((t) => t.name === name);

  it('reports what would change, with its diff', () => {
    expect(byName('Write a new file')[0]).toMatchObject({
      status: 'changed',
      diff: expect.stringContaining('+++ after: /tmp/chiffon-fixture/state/new.txt'),
    });
    expect(byName('Write a new file')[0]!.diff).toContain('+hello\n+world');
    expect(byName('Make a directory')[0]!.diff).toContain('+    "state": "directory"');
    expect(byName('Add a line')[0]!.diff).toContain('+new line');
  });

  it("takes a loop's diffs from its items", () => {
    const [loop] = byName('Write per item');
    expect(loop!.diff).toContain('state/a.txt');
    expect(loop!.diff).toContain('state/b.txt');
  });

  it('says which tasks check mode skipped, and not those a condition skipped', () => {
    expect(byName('Already there')[0]).toEqual({ name: 'Already there', host: 'localhost', status: 'ok' });
    expect(byName('Run a command')[0]).toMatchObject({ status: 'skipped', unchecked: 'Command would have run if not in check mode' });
    expect(byName('Run raw')[0]).toMatchObject({ status: 'skipped', unchecked: 'raw would have run if not in check mode' });
    expect(byName('Run a script')[0]).toMatchObject({ status: 'skipped', unchecked: 'Check mode is not supported for this task.' });
    expect(byName('Skipped by a condition')[0]).toEqual({ name: 'Skipped by a condition', host: 'localhost', status: 'skipped' });
  });
});

function run(status: CheckRun['status'], steps: CheckStep[], message?: string): CheckRun {
  return { number: 1, status, requestedBy: 'bob', requestedAt: 't', planHash: 'h', steps, ...(message ? { message } : {}) };
}

const step = (tasks: CheckStep['tasks'], status: CheckStep['status'] = 'completed'): CheckStep => ({
  index: 0,
  taskId: checkTaskId('task-0', 1),
  status,
  tasks,
});

describe('summarizeCheck', () => {
  it('says "nothing would change" only when every task was checked and none would change', () => {
    expect(summarizeCheck(run('completed', [step([{ name: 'a', host: 'h1', status: 'ok' }])])).text).toBe('nothing would change');
    const withUnchecked = summarizeCheck(
      run('completed', [step([{ name: 'a', host: 'h1', status: 'skipped', unchecked: 'Command would have run if not in check mode' }])]),
    );
    expect(withUnchecked.text).toBe('nothing checked would change; 1 task could not be checked (no check mode)');
  });

  it('counts the tasks and hosts that would change', () => {
    const summary = summarizeCheck(
      run('completed', [
        step([
          { name: 'a', host: 'h1', status: 'changed' },
          { name: 'a', host: 'h2', status: 'changed' },
          { name: 'b', host: 'h1', status: 'changed' },
        ]),
      ]),
    );
    expect(summary).toEqual({ wouldChange: 3, hosts: ['h1', 'h2'], unchecked: 0, failed: 0, text: '3 tasks would change on 2 hosts' });
  });

  it('says a failed check failed, and what it saw before', () => {
    const summary = summarizeCheck(run('failed', [step([{ name: 'a', host: 'h1', status: 'failed' }], 'failed')], 'step 1: unreachable'));
    expect(summary.text).toBe('the check run failed (step 1: unreachable); nothing checked would change');
    expect(summary.failed).toBe(1);
  });

  it('names check runs that are going, were cancelled or did not run', () => {
    expect(summarizeCheck(run('running', [])).text).toBe('check run running');
    expect(summarizeCheck(run('not_run', [], 'the preview found that the plan cannot run')).text).toBe(
      'check run not run: the preview found that the plan cannot run',
    );
  });
});

describe('describeCheckStep', () => {
  it("is the audit's one line for a checked step", () => {
    expect(describeCheckStep(step([{ name: 'a', host: 'h1', status: 'changed' }]))).toBe('check: 1 task would change on 1 host');
    const failed = step([], 'failed');
    const failedRun = {
      exitCode: 4,
      succeeded: false,
      startedAt: '',
      finishedAt: '',
      resources: { wallMs: 1, userCpuMs: 1, systemCpuMs: 1, maxRssKb: 1 },
      stats: {},
      tasks: [],
      failedTasks: [{ task: 'Gathering Facts', host: 'nas', message: 'Failed to connect' }],
      stderrTail: '',
    };
    expect(describeCheckStep(failed, failedRun)).toBe('check failed at task "Gathering Facts" on nas: Failed to connect');
    expect(describeCheckStep({ ...failed, message: 'could not run: no worker' })).toBe('check failed: could not run: no worker');
  });
});
