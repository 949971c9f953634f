// What POST /schedules makes of its body: a Temporal Schedule whose action starts the request
// workflow, as POST /chat would, without a request id (each run takes its workflow id's, to which
// Temporal appends the scheduled time). The Schedule's memo keeps what Temporal does not give back
// as it was written: who created it, and the interval or cron expression as given (the server turns
// a cron expression into calendars).
import { randomBytes } from 'node:crypto';
import {
  ScheduleOverlapPolicy,
  type ScheduleOptions,
  type ScheduleOptionsStartWorkflowAction,
  type ScheduleSpec,
} from '@temporalio/client';
import type { Duration } from '@temporalio/common';
import { msToNumber } from '@temporalio/common/lib/time.js';
import { MIN_SCHEDULE_INTERVAL_MS, scheduleRunWorkflowId } from '../domain/schedules.js';
import type { ChiffonConfig } from '../lib/config.js';
import { requestWorkflow } from '../workflows/index.js';
import { statusSearchAttribute } from '../workflows/messages.js';
import { requestStartInput } from './request-start.js';

/**
 * Overlap SKIP: a fire time while the previous run is going (waiting for approval, running, failed
 * and open for its retry window) starts nothing. Catchup of a minute: a schedule that was down (the
 * Temporal server stopped) does not fire a backlog when it is back, only a time it just missed.
 */
export const SCHEDULE_POLICIES = { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '1 minute' } as const;

/** What the Schedule's memo holds (created_by always, every or cron as given). */
export interface ScheduleMemo {
  created_by: string;
  every?: string;
  cron?: string;
}

export function newScheduleId(): string {
  return `schedule-${randomBytes(8).toString('hex')}`;
}

/** An `every` such as "30s", "15m", "1 hour", "7d" in milliseconds, or why it is not a schedule's interval. */
export function parseInterval(every: string): { ms: number } | { problem: string } {
  const notDuration = { problem: `"${every}" is not a duration: give a number and a unit, e.g. 30s, 15m, 1h, 7d or "1 hour"` };
  // A bare number would be milliseconds to the parser, seconds to many a person: a unit is required.
  if (!/[a-z]\s*$/i.test(every)) return notDuration;
  let ms: number;
  try {
    ms = msToNumber(every.trim() as Duration);
  } catch {
    return notDuration;
  }
  if (!Number.isFinite(ms) || ms < MIN_SCHEDULE_INTERVAL_MS) {
    return { problem: `"${every}" is shorter than the shortest interval, ${MIN_SCHEDULE_INTERVAL_MS / 1000}s` };
  }
  return { ms };
}

/** An interval in the largest unit that divides it: 3600000 → "1h" (for a Schedule made without our memo). */
export function formatInterval(ms: number): string {
  for (const [unit, size] of [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1_000],
  ] as const) {
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}

export interface NewSchedule {
  scheduleId: string;
  message: string;
  /** Exactly one of every (checked with parseInterval) and cron (checked by the Temporal server). */
  when: { every: string } | { cron: string };
  timezone?: string;
  paused?: boolean;
  note?: string;
  /** The creator's token name: the runs are requested by them (four-eyes holds for every run). */
  createdBy: string;
}

function specOf(when: NewSchedule['when']): ScheduleSpec {
  if ('cron' in when) return { cronExpressions: [when.cron] };
  const interval = parseInterval(when.every);
  // POST /schedules checked it already; this only keeps a bad one from reaching the server.
  if ('problem' in interval) throw new TypeError(interval.problem);
  return { intervals: [{ every: interval.ms }] };
}

export function scheduleOptionsFor(
  config: ChiffonConfig,
  schedule: NewSchedule,
): ScheduleOptions<ScheduleOptionsStartWorkflowAction<typeof requestWorkflow>> {
  const { when } = schedule;
  const spec: ScheduleSpec = { ...specOf(when), ...(schedule.timezone ? { timezone: schedule.timezone } : {}) };
  const memo: ScheduleMemo = { created_by: schedule.createdBy, ...('every' in when ? { every: when.every } : { cron: when.cron }) };
  return {
    scheduleId: schedule.scheduleId,
    spec,
    action: {
      type: 'startWorkflow',
      workflowType: requestWorkflow,
      workflowId: scheduleRunWorkflowId(schedule.scheduleId),
      taskQueue: config.taskQueue,
      args: [
        requestStartInput(config, { message: schedule.message, requestedBy: schedule.createdBy, schedule: { id: schedule.scheduleId } }),
      ],
      typedSearchAttributes: [{ key: statusSearchAttribute, value: 'planning' }],
    },
    policies: { ...SCHEDULE_POLICIES },
    memo: { ...memo },
    state: { paused: schedule.paused ?? false, ...(schedule.note ? { note: schedule.note } : {}) },
  };
}
