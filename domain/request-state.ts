// The state of one request as the workflow keeps it and the API shows it.
import type { Intent, LintFinding, Plan, StepRunResult, StepStatus } from './types.js';

export type RequestStatus =
  | 'planning'
  | 'unplannable'
  | 'pending_approval'
  | 'rejected'
  | 'running'
  | 'completed'
  | 'failed';

export const FINAL_STATUSES: readonly RequestStatus[] = ['unplannable', 'rejected', 'completed', 'failed'];

export interface Decision {
  approver: string;
  approved: boolean;
  comment?: string;
  decidedAt: string;
}

export interface StepState {
  index: number;
  taskId: string;
  playbook: string;
  status: StepStatus;
  exitCode?: number;
  startedAt?: string;
  finishedAt?: string;
  /** Commit of this task's record in the audit repository, once audited. */
  auditCommit?: string;
}

export interface RequestState {
  requestId: string;
  message: string;
  status: RequestStatus;
  intents: Intent[];
  plan?: Plan;
  steps: StepState[];
  decision?: Decision;
  /** Why the request cannot go on (unplannable) or what failed. */
  error?: { message: string; knownServices?: string[] };
}

export interface RequestInput {
  requestId: string;
  message: string;
}

export interface DecisionInput {
  approver: string;
  approved: boolean;
  comment?: string;
}

/** What the audit records for one task; `run` is absent for a step that never ran. */
export interface TaskAuditInput {
  requestId: string;
  planId: string;
  step: { index: number; taskId: string; playbook: string };
  status: StepStatus;
  outcome: string;
  run?: StepRunResult;
  findings?: LintFinding[];
}

/** Workflow ids are readable in the Temporal UI: `request-<request id>`. */
export function workflowIdFor(requestId: string): string {
  return `request-${requestId}`;
}
