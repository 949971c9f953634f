// The lines `chiffon follow` prints for a request's events (cli/event-lines.ts): the seq, the step
// as k/n, the time since the step's first event, then what happened.
import { describe, expect, it } from 'vitest';
import { EventLines } from '../../cli/event-lines.js';
import type { RequestEvent } from '../../cli/types.js';

const event = (seq: number, kind: string, payload: Record<string, unknown>, extra: Partial<RequestEvent> = {}): RequestEvent => ({
  seq,
  kind,
  step_index: 0,
  task_id: 'task-a',
  payload,
  created_at: '2026-12-01T10:00:00.000Z',
  ...extra,
});

const task = (name: string) => ({ id: 'id-1', name, path: 'kuma-deploy.yml:30' });

describe('EventLines', () => {
  it('prints a task result as a progress line: step k/n, elapsed since the step started, status, host, task', () => {
    const lines = new EventLines(2);
    const start = lines.line(
      event(4, 'step_status', { status: 'running', playbook: 'kuma-deploy.yml', host: 'homelab', agent: 'localhost', activity_attempt: 1 }),
    );
    expect(start).toBe('#4    step 1/2 +0.0s   running    kuma-deploy.yml on homelab (agent localhost)');
    const play = lines.line(event(5, 'play_start', { timestamp: '2026-12-01T10:00:00.300Z', play: task('Deploy Uptime Kuma') }));
    expect(play).toBe('#5    step 1/2 +0.3s   play       Deploy Uptime Kuma');
    const result = lines.line(
      event(9, 'task_result', {
        timestamp: '2026-12-01T10:00:02.456789Z',
        task: task('Write the Uptime Kuma compose file'),
        host: 'localhost',
        status: 'changed',
        action: 'ansible.builtin.template',
      }),
    );
    expect(result).toBe('#9    step 1/2 +2.5s   changed    localhost  Write the Uptime Kuma compose file');
  });

  it('says why a step waits, or why its agent holds it', () => {
    const lines = new EventLines(2);
    const reason = 'no agent has room: nas: CPU pressure 95% (some avg10) is above 80% while it runs 1 step';
    expect(lines.line(event(3, 'step_status', { status: 'held', playbook: 'kuma-deploy.yml', reason }))).toMatch(
      new RegExp(`held +kuma-deploy\\.yml — ${reason.replace(/[().%]/g, '\\$&')}$`),
    );
    expect(lines.line(event(4, 'step_status', { status: 'waiting', playbook: 'kuma-deploy.yml', reason: 'queued' }))).toMatch(
      /waiting +kuma-deploy\.yml — queued$/,
    );
  });

  it('adds the first line of a failure message, and counts each step (and each retry) from its own start', () => {
    const lines = new EventLines(3);
    lines.line(
      event(1, 'step_status', { status: 'running' }, { step_index: 2, task_id: 'task-c', created_at: '2026-12-01T10:00:10.000Z' }),
    );
    const failed = lines.line(
      event(
        2,
        'task_result',
        {
          timestamp: '2026-12-01T10:00:11.000Z',
          task: task('Fail on purpose'),
          host: 'localhost',
          status: 'failed',
          message: 'boom\nTraceback ...',
        },
        { step_index: 2, task_id: 'task-c' },
      ),
    );
    expect(failed).toBe('#2    step 3/3 +1.0s   failed     localhost  Fail on purpose — boom');
    // A retry is task-c.r2: its clock starts again.
    const retried = lines.line(
      event(
        3,
        'task_result',
        { timestamp: '2026-12-01T10:05:00.000Z', task: 'Fail on purpose', host: 'localhost', status: 'ok' },
        { step_index: 2, task_id: 'task-c.r2' },
      ),
    );
    expect(retried).toBe('#3    step 3/3 +0.0s   ok         localhost  Fail on purpose');
  });

  it('marks a check run’s events, and prints request, preview, recap and finished step lines', () => {
    const lines = new EventLines(1);
    expect(lines.line(event(1, 'request_status', { status: 'pending_approval' }, { step_index: null, task_id: null }))).toBe(
      '#1    request pending_approval',
    );
    expect(
      lines.line(
        event(
          2,
          'preview',
          { status: 'ready', steps: [{ index: 0, ok: true, hosts: ['localhost'], tasks: 5, problems: [] }] },
          { step_index: null, task_id: null },
        ),
      ),
    ).toBe('#2    preview ready: step 1 ok, 5 tasks on localhost');
    expect(
      lines.line(
        event(3, 'task_result', { mode: 'check', task: task('Write'), host: 'localhost', status: 'changed' }, { task_id: 'task-a.check1' }),
      ),
    ).toBe('#3    check 1/1 +0.0s   changed    localhost  Write');
    expect(lines.line(event(4, 'stats', { stats: { localhost: { ok: 5, changed: 2, failures: 0 } } }))).toBe(
      '#4    step 1/1 +0.0s   recap      localhost ok=5 changed=2 failures=0',
    );
    expect(
      lines.line(
        event(5, 'step_status', { status: 'completed', playbook: 'kuma-deploy.yml', exit_code: 0, audit_commit: '0123456789abcdef0123' }),
      ),
    ).toBe('#5    step 1/1 +0.0s   completed  kuma-deploy.yml exit 0 audit 0123456789ab');
    expect(
      lines.line(event(6, 'request_status', { status: 'failed', message: 'step 1 failed' }, { step_index: null, task_id: null })),
    ).toBe('#6    request failed: step 1 failed');
  });
});
