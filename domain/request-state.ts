// The state of one request as the workflow keeps it and the API shows it.
import type { CheckRun } from './check-run.js';
import type { NotificationEvent } from './notifications.js';
import type { RequestSchedule } from './schedules.js';
import type { Intent, LintFinding, Plan, ProviderDecision, StepPreview, StepRunResult, StepStatus } from './types.js';

/** What a person may do to a request beside deciding it (recorded in its operatorActions). */
export const OPERATOR_ACTIONS = ['cancel', 'retry', 'resume', 'input', 'check'] as const;
export type OperatorActionKind = (typeof OPERATOR_ACTIONS)[number];

/** Every status a request can have (the API's documented enum is made from this list). */
export const REQUEST_STATUSES = [
  'planning',
  'needs_input',
  'unplannable',
  'pending_approval',
  // The preflight found that the plan cannot run (a role not installed, no host matched, ...).
  'unrunnable',
  'expired',
  'rejected',
  'running',
  'paused',
  'completed',
  'failed',
  'stale_plan',
  'cancelled',
] as const;
export type RequestStatus = (typeof REQUEST_STATUSES)[number];

/** A request in one of these has ended: nothing more will run (a failed one may still be retried). */
export const ENDED_STATUSES: readonly RequestStatus[] = ['unplannable', 'expired', 'rejected', 'completed', 'stale_plan', 'cancelled'];

export interface Decision {
  approver: string;
  approved: boolean;
  comment?: string;
  decidedAt: string;
  /** The plan hash this decision was about. */
  planHash: string;
  /** A scheduled run's approval that stands for the schedule's later runs with the same plan hash. */
  standing?: boolean;
  /** Not a person's act on this run: the schedule's standing approval (its id) covered the plan. */
  standingApprovalId?: string;
}

export interface StepState {
  index: number;
  /** The task id of the current attempt (a retry of the request gives the step a new one). */
  taskId: string;
  /** 1 for the first run of the step; a retry-from-step increases it. */
  attempt: number;
  playbook: string;
  status: StepStatus;
  exitCode?: number;
  startedAt?: string;
  finishedAt?: string;
  /** Commit of this task's record in the audit repository, once audited. */
  auditCommit?: string;
  /** The inventory host and the agent that runs the step, from the plan. */
  host?: string;
  agent?: string;
  /** While the step is `waiting`: for what (its agent offline, or all its slots busy). */
  waitingReason?: string;
}

export interface RequestState {
  requestId: string;
  message: string;
  /** Who asked for it (absent for requests started before identities were recorded). */
  requestedBy?: string;
  status: RequestStatus;
  intents: Intent[];
  plan?: Plan;
  steps: StepState[];
  decision?: Decision;
  /** Earlier decisions, when a retry needed a new approval. */
  previousDecisions: Decision[];
  /** Who asked for a cancel, retry or resume, and when. */
  operatorActions: { action: OperatorActionKind; by: string; at: string }[];
  /** Required variables nothing could fill, while the request needs input: per playbook. */
  missingInputs?: { playbook: string; vars: string[] }[];
  /** Who cancelled the request, when it was cancelled through Chiffon. */
  cancelledBy?: string;
  /** Which decomposition provider read the request, and why others were passed over. */
  decomposition?: ProviderDecision;
  /** Why the request is paused (low capacity), while it is. */
  pausedReason?: string;
  /** Why the request cannot go on (unplannable, unrunnable, stale plan) or what failed. */
  error?: { message: string; knownServices?: string[] };
  /** The plan's preflight: Ansible's view of each step (by step index), once it is done. */
  preview?: { status: 'running' | 'ready' | 'unrunnable'; steps: StepPreview[] };
  /** The latest check run (`--check --diff`, on demand): what would change; earlier ones are audited. */
  checkRun?: CheckRun;
  /** The schedule that started this run, and whether a standing approval covered its plan. */
  schedule?: RequestSchedule;
}

export interface RequestInput {
  /** Absent for a run a Schedule started: its id is then its workflow id's (`request-<id>`). */
  requestId?: string;
  message: string;
  /** How long to wait for a decision before the request expires (a Temporal duration). */
  approvalTimeout?: string;
  /** How long a failed request stays open for a retry-from-step. */
  retryWindow?: string;
  /** How soon a paused request first checks capacity again (then less and less often). */
  capacityRecheckMs?: number;
  /** Who asked: the identity of the API token that submitted the request. */
  requestedBy?: string;
  /** Four-eyes is the default: the requester may approve their own request only when this is set. */
  allowSelfApproval?: boolean;
  /**
   * The events this request notifies about (domain/notifications.ts), set by the API when a target
   * is configured (CHIFFON_NOTIFY_EVENTS); absent: no notification is ever scheduled.
   */
  notifyOn?: NotificationEvent[];
  /** The schedule that starts this request on time (domain/schedules.ts). */
  schedule?: { id: string };
}

export interface DecisionInput {
  approver: string;
  approved: boolean;
  comment?: string;
  /** When given, the decision only applies to this plan hash (what the person looked at). */
  planHash?: string;
  /** Approve a scheduled run as standing: later runs with the same plan hash start without waiting. */
  standing?: boolean;
}

export interface OperatorAction {
  /** Who asked (retry, resume). */
  by: string;
}

/** Values for the variables a plan could not fill: playbook path → var → value. */
export interface InputAction extends OperatorAction {
  values: Record<string, Record<string, unknown>>;
}

/** Whether an agent can take a step now; `reason` says why not. */
export interface CapacityCheck {
  /** An agent for the step has room now. */
  ok: boolean;
  reason?: string;
  /**
   * How a step that cannot start now waits:
   * - `offline`, `queued`: in its agent's task queue, until the agent is back or has a free slot;
   * - `overloaded`: the agents are overloaded (pressure, load, memory) while they run steps. The
   *   request pauses, and its step is handed to the agent, which holds it until it has room (the
   *   moment one of its steps ends, with no round trip) or until an operator resumes the request.
   * Absent when not ok (a check made before the agents held steps): the request pauses, and its
   * step is scheduled only once the agent wakes it or an operator resumes it.
   */
  wait?: 'offline' | 'queued' | 'overloaded';
}

/** What the audit records for one task; `run` is absent for a step that never ran. */
export interface TaskAuditInput {
  requestId: string;
  planId: string;
  step: { index: number; taskId: string; playbook: string; service?: string; host?: string; agent?: string };
  /** Which run of the step this is (1, or more after retries). */
  attempt: number;
  /** Which decomposition provider planned the request. */
  decomposition?: ProviderDecision;
  status: StepStatus;
  outcome: string;
  run?: StepRunResult;
  findings?: LintFinding[];
  /** A check run (`--check --diff`) is audited as such, never as a deployment; absent: a run. */
  mode?: 'check';
  /** The schedule that started the request, and the standing approval it ran under. */
  schedule?: RequestSchedule;
}

/** What a request waits for when its input names nothing else (lib/config.ts reads the operator's settings). */
export const REQUEST_DEFAULTS = { approvalTimeout: '24 hours', retryWindow: '7 days', capacityRecheckMs: 30_000 } as const;

const WORKFLOW_ID_PREFIX = 'request-';

/** The request of a workflow id (`request-<id>`); an id without the prefix is taken as it is. */
export function requestIdOf(workflowId: string): string {
  return workflowId.startsWith(WORKFLOW_ID_PREFIX) ? workflowId.slice(WORKFLOW_ID_PREFIX.length) : workflowId;
}

/** Workflow ids are readable in the Temporal UI: `request-<request id>`. */
export function workflowIdFor(requestId: string): string {
  return `${WORKFLOW_ID_PREFIX}${requestId}`;
}

/** The failure type a step raises when what it would run no longer matches the approved plan. */
export const STALE_PLAN = 'StalePlan';
