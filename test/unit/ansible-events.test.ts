// The jsonl parser and collector on output captured from the real ansible-playbook
// (test/fixtures/ansible/README.md says how it was produced).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  AnsibleRunCollector,
  failureMessage,
  parseAnsibleEventLine,
  summarizeAnsibleOutput,
  type AnsibleEvent,
} from '../../domain/ansible-events.js';

const fixture = (name: string) => readFileSync(fileURLToPath(new URL(`../fixtures/ansible/${name}`, import.meta.url)), 'utf8');

function events(stdout: string): AnsibleEvent[] {
  return stdout.split('\n').flatMap((line) => parseAnsibleEventLine(line) ?? []);
}

describe('parseAnsibleEventLine', () => {
  const twoTasks = events(fixture('two-tasks.jsonl'));

  it('reads play start, task start, results and stats in order', () => {
    expect(twoTasks.map((e) => e.kind)).toEqual(['play_start', 'task_start', 'runner_result', 'task_start', 'runner_result', 'stats']);
    expect(twoTasks[0]).toMatchObject({ kind: 'play_start', play: { name: 'Two tasks' } });
    expect(twoTasks[1]).toMatchObject({ kind: 'task_start', handler: false, task: { name: 'Say hello' } });
    expect(twoTasks[1]?.timestamp).toMatch(/^\d{4}-\d\d-\d\dT/);
  });

  it('tells ok from changed and keeps no module output', () => {
    expect(twoTasks[2]).toEqual({
      kind: 'runner_result',
      timestamp: expect.any(String),
      task: { id: expect.any(String), name: 'Say hello', path: expect.stringMatching(/two-tasks\.yml:\d+$/) },
      host: 'localhost',
      status: 'ok',
      action: 'ansible.builtin.debug',
    });
    expect(twoTasks[4]).toMatchObject({ host: 'localhost', status: 'changed', action: 'ansible.builtin.copy' });
  });

  it('reads the recap', () => {
    expect(twoTasks[5]).toMatchObject({
      kind: 'stats',
      stats: { localhost: { ok: 2, changed: 1, failures: 0, unreachable: 0, skipped: 0, rescued: 0, ignored: 0 } },
    });
  });

  it('marks handler starts and reports skipped and unreachable results', () => {
    const mixed = events(fixture('mixed.jsonl'));
    expect(mixed).toContainEqual(
      expect.objectContaining({ kind: 'task_start', handler: true, task: expect.objectContaining({ name: 'Report change' }) }),
    );
    expect(mixed).toContainEqual(
      expect.objectContaining({ kind: 'runner_result', status: 'skipped', task: expect.objectContaining({ name: 'Skip me' }) }),
    );
    const unreachable = mixed.find((e) => e.kind === 'runner_result' && e.status === 'unreachable');
    expect(unreachable).toMatchObject({ host: 'gone.invalid', message: expect.stringContaining('Failed to connect to the host') });
  });

  it('ignores lines that are not events', () => {
    expect(parseAnsibleEventLine('')).toBeNull();
    expect(parseAnsibleEventLine('[WARNING]: something')).toBeNull();
    expect(parseAnsibleEventLine('{not json')).toBeNull();
    expect(parseAnsibleEventLine('{"no_event": true}')).toBeNull();
    expect(parseAnsibleEventLine('{"_event": "v2_playbook_on_include", "_timestamp": "x"}')).toBeNull();
    expect(parseAnsibleEventLine('[1, 2]')).toBeNull();
  });

  it('accepts a line with a trailing carriage return', () => {
    const line = fixture('two-tasks.jsonl').split('\n')[0] + '\r';
    expect(parseAnsibleEventLine(line)?.kind).toBe('play_start');
  });
});

describe('failureMessage', () => {
  it('joins msg and stderr', () => {
    expect(failureMessage({ msg: 'non-zero return code', stderr: "ls: cannot access '/x'\n", rc: 2 })).toBe(
      "non-zero return code: ls: cannot access '/x'",
    );
  });

  it('uses the failed items of a loop', () => {
    expect(
      failureMessage({
        msg: 'One or more items failed',
        results: [
          { failed: false, msg: '' },
          { failed: true, msg: 'non-zero return code', stderr: 'boom' },
        ],
      }),
    ).toBe('One or more items failed: non-zero return code: boom');
  });

  it('keeps the censored text of no_log results and never the values', () => {
    expect(
      failureMessage({ censored: "the output has been hidden due to the fact that 'no_log: true' was specified for this result" }),
    ).toMatch(/no_log/);
  });

  it('falls back to the exit code, then to a fixed text, and cuts long messages', () => {
    expect(failureMessage({ rc: 3 })).toBe('exit code 3');
    expect(failureMessage({})).toBe('failed without a message');
    const long = failureMessage({ msg: 'a'.repeat(10_000) + 'END' });
    expect(long.length).toBeLessThan(2_100);
    expect(long.endsWith('END')).toBe(true);
  });
});

describe('AnsibleRunCollector', () => {
  it('summarizes a successful run', () => {
    expect(summarizeAnsibleOutput(fixture('two-tasks.jsonl'))).toEqual({
      tasks: [
        { name: 'Say hello', host: 'localhost', status: 'ok' },
        { name: 'Write file', host: 'localhost', status: 'changed' },
      ],
      failedTasks: [],
      stats: { localhost: { changed: 1, failures: 0, ignored: 0, ok: 2, rescued: 0, skipped: 0, unreachable: 0 } },
    });
  });

  it('lists every result in order, failures included', () => {
    const { tasks } = summarizeAnsibleOutput(fixture('mixed.jsonl'));
    expect(tasks).toHaveLength(28);
    expect(tasks.filter((t) => t.host === 'localhost').map((t) => `${t.name}:${t.status}`)).toEqual([
      'Say hello:ok',
      'Write file:changed',
      'Skip me:skipped',
      'Loop task:ok',
      'Ignored failure:failed',
      'Secret failure on other:skipped',
      'Command fails:failed',
      'Rescued:ok',
      'Loop item fails on third:skipped',
      'Always runs:ok',
      'Report change:ok',
    ]);
  });

  it('keeps only fatal failures: not ignored, not rescued, also when an always section ran after', () => {
    const { failedTasks, stats } = summarizeAnsibleOutput(fixture('mixed.jsonl'));
    expect(failedTasks).toEqual([
      {
        task: 'Secret failure on other',
        host: 'other',
        message: "the output has been hidden due to the fact that 'no_log: true' was specified for this result",
      },
      { task: 'Loop item fails on third', host: 'third', message: 'One or more items failed: non-zero return code' },
      {
        task: 'Ping',
        host: 'gone.invalid',
        message: expect.stringContaining('Failed to connect to the host via ssh'),
      },
    ]);
    expect(JSON.stringify(failedTasks)).not.toContain('hunter2');
    expect(stats.third).toMatchObject({ failures: 1, rescued: 1, ignored: 1 });
  });

  it('without a recap (a killed run) counts the failures a host did not get past', () => {
    const lines = fixture('mixed.jsonl').split('\n');
    const cut = lines.filter((line) => !line.includes('v2_playbook_on_stats')).join('\n');
    const { failedTasks, stats } = summarizeAnsibleOutput(cut);
    expect(stats).toEqual({});
    // "Ignored failure" is followed by more work on every host, so it is not counted; "Loop item
    // fails on third" is followed by its always section, so it is missed (the recap is what tells).
    expect(failedTasks.map((f) => `${f.task}@${f.host}`)).toEqual(['Secret failure on other@other', 'Ping@gone.invalid']);
  });

  it('starts empty', () => {
    expect(new AnsibleRunCollector().summary()).toEqual({ tasks: [], failedTasks: [], stats: {} });
  });
});
