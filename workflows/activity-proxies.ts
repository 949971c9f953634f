// The request workflow's activities, each proxy typed by its own activity group and given the
// options that suit it. Workflow code imports only the groups' types, never their code.
import { ActivityCancellationType, proxyActivities, proxyLocalActivities, type ActivityOptions } from '@temporalio/workflow';
import type { createAuditActivities } from '../activities/audit.js';
import type { createCapacityActivities } from '../activities/capacity.js';
import type { createNotificationActivities } from '../activities/notifications.js';
import type { createPlanningActivities } from '../activities/planning.js';
import type { createPreviewActivities } from '../activities/previews.js';
import type { createStandingApprovalActivities } from '../activities/standing-approvals.js';
import type { createStepActivities } from '../activities/steps.js';
import { HEARTBEAT_TIMEOUT } from '../domain/heartbeats.js';
import { STALE_PLAN } from '../domain/request-state.js';

type PlanningActivities = ReturnType<typeof createPlanningActivities>;
type StepActivities = ReturnType<typeof createStepActivities>;
type PreviewActivities = ReturnType<typeof createPreviewActivities>;
type AuditActivities = ReturnType<typeof createAuditActivities>;
type CapacityActivities = ReturnType<typeof createCapacityActivities>;
type NotificationActivities = ReturnType<typeof createNotificationActivities>;
type StandingApprovalActivities = ReturnType<typeof createStandingApprovalActivities>;

// Planning, request records and capacity checks are short (milliseconds, or a bounded model call)
// and run as local activities, in the worker that runs the workflow: each saves the two task
// hand-offs through Temporal's queues that a regular activity costs (30-40 ms each here), which is
// most of the time from a request to its plan and from an approval to the first step. They are
// retried by the worker like regular activities, and recorded in the history as markers.
//
// Planning gives up after a few tries: a request that cannot be planned should say so soon.
export const planning = proxyLocalActivities<Pick<PlanningActivities, 'decompose' | 'plan'>>({
  startToCloseTimeout: '2 minutes',
  retry: { maximumAttempts: 5 },
});

// Records (a schedule's standing approval among them), audits and capacity checks only need
// PostgreSQL and git to come back: they are retried without limit (at most a minute apart), so an
// outage delays a request but never strands it unaudited. A retry more than 5 s after the last
// becomes a durable timer in the history rather than a wait inside the worker, so a long outage
// survives a worker restart.
export const records = proxyLocalActivities<
  Pick<AuditActivities, 'recordRequest'> &
    Pick<CapacityActivities, 'checkCapacity'> &
    Pick<PlanningActivities, 'refreshPlan'> &
    StandingApprovalActivities
>({
  startToCloseTimeout: '1 minute',
  retry: { maximumInterval: '1 minute' },
  localRetryThreshold: '5 seconds',
});

// The audit commits to git, and waits its turn behind other workers' commits to the same
// repository: a regular activity, so it shows as one in the Temporal UI with its summary.
export const auditOptions: ActivityOptions = {
  startToCloseTimeout: '2 minutes',
  retry: { maximumInterval: '1 minute' },
};
export const audits = proxyActivities<Pick<AuditActivities, 'auditTask'>>(auditOptions);

// A failed playbook is a result, not an exception, so it is never retried (playbooks are not assumed
// idempotent). A thrown error means the worker or machine failed: that is retried, and the short
// heartbeat timeout notices a dead worker within seconds. Cancelling waits until the process tree
// has stopped, so the audit never says "cancelled" about a playbook that is still running.
export const playbookStepOptions: ActivityOptions = {
  startToCloseTimeout: '2 hours',
  heartbeatTimeout: HEARTBEAT_TIMEOUT,
  retry: { maximumAttempts: 3, nonRetryableErrorTypes: [STALE_PLAN] },
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
};
export const playbooks = proxyActivities<Pick<StepActivities, 'runStep'>>(playbookStepOptions);

export const analysisOptions: ActivityOptions = {
  startToCloseTimeout: '5 minutes',
  retry: { maximumAttempts: 2 },
};
export const analysis = proxyActivities<Pick<StepActivities, 'analyzeFailure'>>(analysisOptions);

// The preflight runs ansible-playbook --list-tasks once per step, side by side: seconds, not more.
// It heartbeats, so a preview lost with its worker or the server is given again within seconds:
// an approval waits for it.
export const previewOptions: ActivityOptions = {
  startToCloseTimeout: '5 minutes',
  heartbeatTimeout: HEARTBEAT_TIMEOUT,
  retry: { maximumAttempts: 3 },
};
export const previews = proxyActivities<PreviewActivities>(previewOptions);

// Like a step: a failed check is a result, not retried; a dead worker is noticed in seconds by its
// heartbeats; a cancel waits until the process tree stopped. An agent that does not take it within
// minutes fails the step: nobody waits hours for a dry run.
export const checkOptions: ActivityOptions = {
  startToCloseTimeout: '2 hours',
  scheduleToStartTimeout: '5 minutes',
  heartbeatTimeout: HEARTBEAT_TIMEOUT,
  retry: { maximumAttempts: 3 },
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
};
export const checks = proxyActivities<Pick<StepActivities, 'checkStep'>>(checkOptions);

// A notification is never on the request's critical path: the workflow starts it and goes on. A
// target that is down is retried with backoff (at most 5 minutes apart) for up to an hour, then
// given up (each attempt is recorded); the workflow waits for its notifications only before it ends.
export const notifyOptions: ActivityOptions = {
  scheduleToCloseTimeout: '1 hour',
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '5 seconds', backoffCoefficient: 2, maximumInterval: '5 minutes' },
};
export const notifications = proxyActivities<NotificationActivities>(notifyOptions);
