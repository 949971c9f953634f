// Standing approvals on a schedule: a Temporal Schedule starts the same request on time, and a plan
// approved "as standing" lets later runs with the identical plan hash start without waiting for a
// person. Any change to what would run (the plan hash) makes that run wait for a new approval.
import { workflowIdFor } from './request-state.js';

/** A schedule's id (also its Temporal Schedule id): `schedule-<hex>`. */
export const SCHEDULE_ID_PATTERN = /^schedule-[0-9a-f]{8,32}$/;

/** The shortest interval an `every` schedule may have: a homelab job, not a busy loop. */
export const MIN_SCHEDULE_INTERVAL_MS = 5_000;

/**
 * The workflow id the Schedule starts its runs under. Temporal appends the scheduled time
 * (`-2026-12-07T04:00:00Z`), so each run is its own request: `schedule-<hex>-<time>`.
 */
export function scheduleRunWorkflowId(scheduleId: string): string {
  return workflowIdFor(scheduleId);
}

/** The schedule a request id belongs to, when a Schedule started it. */
export function scheduleIdOfRequest(requestId: string): string | undefined {
  return /^(schedule-[0-9a-f]{8,32})-\d{4}-\d\d-\d\dT/.exec(requestId)?.[1];
}

/** A person's approval of one plan of a schedule, standing for its later runs with the same plan hash. */
export interface StandingApproval {
  id: string;
  scheduleId: string;
  planHash: string;
  approver: string;
  comment?: string;
  /** The run whose approval it was. */
  requestId: string;
  approvedAt: string;
}

/** What a scheduled run found about its schedule's standing approval. */
export interface StandingApprovalLookup {
  /** The standing approval that covers this plan (same hash, not revoked). */
  approval?: StandingApproval;
  /** A standing approval that exists for another plan: this run waits for a person. */
  otherPlanHash?: string;
}

/** A request's schedule, as its state shows it. */
export interface RequestSchedule {
  id: string;
  /** The standing approval this run started under, when one covered its plan. */
  standingApprovalId?: string;
  /** Set when the schedule's standing approval was for another plan: why this run waits. */
  planChangedFrom?: string;
}

/** The id of the standing approval a run's approval becomes: one per approving run. */
export function standingApprovalIdFor(requestId: string): string {
  return `standing-${requestId}`;
}
