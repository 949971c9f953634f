// The pure parts of the schedule routes: what POST /schedules makes of `every`, the Temporal Schedule
// it asks for (api/schedule-options.ts) and the view a Schedule's description becomes
// (api/present-schedule.ts). The Schedule itself, on the dev server: test/e2e/schedules.test.ts.
import type { ScheduleDescription } from '@temporalio/client';
import { describe, expect, it } from 'vitest';
import { presentSchedule } from '../../api/present-schedule.js';
import { requestStartInput } from '../../api/request-start.js';
import { formatInterval, newScheduleId, parseInterval, scheduleOptionsFor } from '../../api/schedule-options.js';
import { SCHEDULE_ID_PATTERN, scheduleIdOfRequest } from '../../domain/schedules.js';
import { loadConfig } from '../../lib/config.js';

describe('parseInterval', () => {
  it.each([
    ['30s', 30_000],
    ['15m', 900_000],
    ['1h', 3_600_000],
    ['7d', 604_800_000],
    ['1 hour', 3_600_000],
    [' 2 hours ', 7_200_000],
    ['5s', 5_000],
  ])('%j is %d ms', (every, ms) => {
    expect(parseInterval(every)).toEqual({ ms });
  });

  it.each([
    ['soon', '"soon" is not a duration: give a number and a unit, e.g. 30s, 15m, 1h, 7d or "1 hour"'],
    ['4s', '"4s" is shorter than the shortest interval, 5s'],
    ['5000', '"5000" is not a duration: give a number and a unit, e.g. 30s, 15m, 1h, 7d or "1 hour"'],
    ['-1h', '"-1h" is shorter than the shortest interval, 5s'],
    ['0s', '"0s" is shorter than the shortest interval, 5s'],
  ])('%j is refused: %s', (every, problem) => {
    expect(parseInterval(every)).toEqual({ problem });
  });
});

describe('formatInterval', () => {
  it.each([
    [5_000, '5s'],
    [90_000, '90s'],
    [3_600_000, '1h'],
    [5_400_000, '90m'],
    [604_800_000, '7d'],
    [1_500, '1500ms'],
  ])('%d ms is %j', (ms, text) => expect(formatInterval(ms)).toBe(text));
});

describe('scheduleOptionsFor', () => {
  const config = { ...loadConfig({}), taskQueue: 'chiffon-test' };

  it('starts the request workflow as POST /chat would, without a request id, under the schedule id, skipping overlaps', () => {
    const scheduleId = newScheduleId();
    expect(scheduleId).toMatch(SCHEDULE_ID_PATTERN);
    expect(scheduleId).toMatch(/^schedule-[0-9a-f]{16}$/);
    const options = scheduleOptionsFor(config, {
      scheduleId,
      message: 'Set up postgres',
      when: { every: '1 hour' },
      createdBy: 'alice',
      note: 'nightly',
    });
    expect(options).toMatchObject({
      scheduleId,
      spec: { intervals: [{ every: 3_600_000 }] },
      action: { type: 'startWorkflow', workflowId: `request-${scheduleId}`, taskQueue: 'chiffon-test' },
      policies: { overlap: 'SKIP', catchupWindow: '1 minute' },
      memo: { created_by: 'alice', every: '1 hour' },
      state: { paused: false, note: 'nightly' },
    });
    expect(options.spec).not.toHaveProperty('timezone');
    expect(options.action.typedSearchAttributes).toEqual([{ key: expect.objectContaining({ name: 'ChiffonStatus' }), value: 'planning' }]);
    // The same input POST /chat gives, but the schedule instead of a request id.
    const input = options.action.args[0];
    const { requestId, ...asked } = requestStartInput(config, { requestId: 'abc', message: 'Set up postgres', requestedBy: 'alice' });
    expect(requestId).toBe('abc');
    expect(input).toEqual({ ...asked, schedule: { id: scheduleId } });
    expect(input).not.toHaveProperty('requestId');
    expect(input).not.toHaveProperty('notifyOn');
    // A run's workflow id, once Temporal appended the time, names its schedule.
    expect(scheduleIdOfRequest(`${scheduleId}-2026-12-07T04:00:00Z`)).toBe(scheduleId);
  });

  it('a cron expression with its time zone, paused; notifications when a target is configured', () => {
    const notifying = { ...config, notify: loadConfig({ CHIFFON_NOTIFY_NTFY_URL: 'https://ntfy.example/chiffon' }).notify };
    const options = scheduleOptionsFor(notifying, {
      scheduleId: 'schedule-00c0ffee00c0ffee',
      message: 'Set up postgres',
      when: { cron: '0 4 * * 0' },
      timezone: 'Europe/Paris',
      paused: true,
      createdBy: 'bob',
    });
    expect(options.spec).toEqual({ cronExpressions: ['0 4 * * 0'], timezone: 'Europe/Paris' });
    expect(options.memo).toEqual({ created_by: 'bob', cron: '0 4 * * 0' });
    expect(options.state).toEqual({ paused: true });
    expect(options.action.args[0]).toMatchObject({ requestedBy: 'bob', notifyOn: notifying.notify.events });
  });

  it('refuses an interval the route should have refused', () => {
    expect(() =>
      scheduleOptionsFor(config, { scheduleId: 'schedule-00c0ffee', message: 'x', when: { every: '1s' }, createdBy: 'a' }),
    ).toThrow(/shorter than the shortest interval/);
  });
});

describe('presentSchedule', () => {
  const at = (iso: string) => new Date(iso);
  const run = (time: string) => ({
    scheduledAt: at(time),
    takenAt: new Date(at(time).getTime() + 12),
    action: {
      type: 'startWorkflow' as const,
      workflow: { workflowId: `request-schedule-00c0ffee00c0ffee-${time.replace('.000', '')}`, firstExecutionRunId: 'r' },
    },
  });
  const description = (overrides: { paused?: boolean; memo?: Record<string, unknown>; running?: boolean } = {}) =>
    ({
      scheduleId: 'schedule-00c0ffee00c0ffee',
      spec: { intervals: [{ every: 300_000, offset: 0 }], timezone: '' },
      action: { type: 'startWorkflow', workflowType: 'requestWorkflow', taskQueue: 'q', args: [{ message: 'Set up postgres' }] },
      memo: overrides.memo ?? { created_by: 'alice', every: '5 minutes' },
      policies: { overlap: 'SKIP', catchupWindow: 60_000, pauseOnFailure: false },
      state: { paused: overrides.paused ?? false, note: 'nightly' },
      info: {
        // Temporal lists them oldest first.
        recentActions: Array.from({ length: 12 }, (_, i) => run(`2026-12-07T04:${String(i * 5).padStart(2, '0')}:00.000Z`)),
        nextActionTimes: Array.from({ length: 10 }, (_, i) => at(`2026-12-07T05:${String(i * 5).padStart(2, '0')}:00.000Z`)),
        runningActions: overrides.running
          ? [
              {
                type: 'startWorkflow',
                workflow: { workflowId: 'request-schedule-00c0ffee00c0ffee-2026-12-07T04:55:00Z', firstExecutionRunId: 'r' },
              },
            ]
          : [],
        createdAt: at('2026-12-07T03:59:00.000Z'),
        lastUpdatedAt: undefined,
        numActionsTaken: 12,
        numActionsMissedCatchupWindow: 0,
        numActionsSkippedOverlap: 3,
      },
    }) as unknown as ScheduleDescription;
  const ui = { temporalUiUrl: 'http://127.0.0.1:8233', namespace: 'default' };

  it('the newest ten runs first, the next five times, the run going on and the standing approval', () => {
    const view = presentSchedule(
      description({ running: true }),
      {
        id: 'standing-x',
        scheduleId: 'schedule-00c0ffee00c0ffee',
        planHash: 'a'.repeat(64),
        approver: 'bob',
        requestId: 'schedule-00c0ffee00c0ffee-2026-12-07T04:00:00Z',
        approvedAt: '2026-12-07T04:01:00.000Z',
      },
      ui,
    );
    expect(view).toMatchObject({
      schedule_id: 'schedule-00c0ffee00c0ffee',
      message: 'Set up postgres',
      every: '5 minutes',
      cron: null,
      timezone: null,
      paused: false,
      note: 'nightly',
      created_by: 'alice',
      created_at: '2026-12-07T03:59:00.000Z',
      running_request_id: 'schedule-00c0ffee00c0ffee-2026-12-07T04:55:00Z',
      standing_approval: {
        id: 'standing-x',
        plan_hash: 'a'.repeat(64),
        approver: 'bob',
        comment: null,
        request_id: 'schedule-00c0ffee00c0ffee-2026-12-07T04:00:00Z',
        approved_at: '2026-12-07T04:01:00.000Z',
      },
      temporal_url: 'http://127.0.0.1:8233/namespaces/default/schedules/schedule-00c0ffee00c0ffee',
    });
    expect(view.next_runs).toEqual(['05:00', '05:05', '05:10', '05:15', '05:20'].map((t) => `2026-12-07T${t}:00.000Z`));
    expect(view.recent_runs).toHaveLength(10);
    expect(view.recent_runs[0]).toEqual({
      request_id: 'schedule-00c0ffee00c0ffee-2026-12-07T04:55:00Z',
      scheduled_at: '2026-12-07T04:55:00.000Z',
      started_at: '2026-12-07T04:55:00.012Z',
    });
    expect(view.recent_runs.at(-1)!.scheduled_at).toBe('2026-12-07T04:10:00.000Z');
  });

  it('paused: no next runs; a Schedule without our memo shows its interval and no creator', () => {
    const view = presentSchedule(description({ paused: true, memo: {} }), undefined, ui);
    expect(view).toMatchObject({
      paused: true,
      next_runs: [],
      every: '5m',
      cron: null,
      created_by: null,
      running_request_id: null,
      standing_approval: null,
    });
  });
});
