// The API's JSON view of a schedule (snake_case): the Temporal Schedule as the server describes it,
// what its memo kept (api/schedule-options.ts) and its standing approval from PostgreSQL.
import type { ScheduleDescription } from '@temporalio/client';
import { requestIdOf, type RequestInput } from '../domain/request-state.js';
import type { StandingApproval } from '../domain/schedules.js';
import type { z } from 'zod';
import type { scheduleSchema } from './openapi.js';
import { formatInterval } from './schedule-options.js';

const NEXT_RUNS = 5;
const RECENT_RUNS = 10;

/** Where the Temporal Web UI shows the Schedule. */
export interface TemporalUi {
  temporalUiUrl: string;
  namespace: string;
}

const text = (value: unknown): string | null => (typeof value === 'string' && value !== '' ? value : null);

export function presentStandingApproval(standing: StandingApproval) {
  return {
    id: standing.id,
    plan_hash: standing.planHash,
    approver: standing.approver,
    comment: standing.comment ?? null,
    request_id: standing.requestId,
    approved_at: standing.approvedAt,
  };
}

export function presentSchedule(
  description: ScheduleDescription,
  standing: StandingApproval | undefined,
  ui: TemporalUi,
): z.input<typeof scheduleSchema> {
  const { scheduleId, spec, state, info } = description;
  const memo = description.memo ?? {};
  const input = description.action.args?.[0] as Partial<RequestInput> | undefined;
  const interval = spec.intervals?.[0]?.every;
  const running = info.runningActions[0]?.workflow.workflowId;
  return {
    schedule_id: scheduleId,
    message: input?.message ?? '',
    every: text(memo.every) ?? (interval !== undefined ? formatInterval(interval) : null),
    cron: text(memo.cron),
    timezone: text(spec.timezone),
    paused: state.paused,
    note: text(state.note),
    created_by: text(memo.created_by),
    created_at: info.createdAt.toISOString(),
    // Temporal lists the times of a paused Schedule too; none of them fires while it is paused.
    next_runs: state.paused ? [] : info.nextActionTimes.slice(0, NEXT_RUNS).map((time) => time.toISOString()),
    recent_runs: [...info.recentActions]
      .sort((a, b) => b.scheduledAt.getTime() - a.scheduledAt.getTime())
      .slice(0, RECENT_RUNS)
      .map((run) => ({
        request_id: requestIdOf(run.action.workflow.workflowId),
        scheduled_at: run.scheduledAt.toISOString(),
        started_at: run.takenAt.toISOString(),
      })),
    running_request_id: running ? requestIdOf(running) : null,
    standing_approval: standing ? presentStandingApproval(standing) : null,
    temporal_url: `${ui.temporalUiUrl}/namespaces/${encodeURIComponent(ui.namespace)}/schedules/${encodeURIComponent(scheduleId)}`,
  };
}
