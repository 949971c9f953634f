// The parts of the API's answers the CLI reads (api/openapi.ts documents them in full). Written out
// here rather than imported so that the CLI depends on the HTTP contract only, not on the server's code.

export interface PlanStep {
  index: number;
  playbook: string;
  service: string;
  intent: string;
  vars: Record<string, unknown>;
  /** Where each var's value came from: `default`, `input`, `inventory:portals`, ... */
  var_sources: Record<string, string>;
  host: string | null;
  tags: string[];
  become: boolean;
  agent: string | null;
  task_id: string;
  status: string;
  preview: { ok: boolean; hosts: string[]; tasks: { name: string }[]; problems: string[] } | null;
}

export interface RequestStep {
  index: number;
  playbook: string;
  status: string;
  host: string | null;
  agent: string | null;
  waiting_reason: string | null;
  task_id: string;
  attempt: number;
  exit_code: number | null;
  started_at: string | null;
  finished_at: string | null;
  audit_commit: string | null;
}

export interface Decision {
  approver: string;
  approved: boolean;
  comment: string | null;
  decided_at: string;
  plan_hash: string;
  standing: boolean;
  /** Set when no person decided this run: the standing approval of its schedule covered its plan. */
  standing_approval_id: string | null;
}

/** GET /requests/:id, and the answer of POST /chat and of the operator actions. */
export interface RequestDetail {
  request_id: string;
  status: string;
  message: string;
  requested_by: string | null;
  intents: { name: string; service: string; playbook: string; source: string }[];
  plan: {
    plan_id: string;
    hash: string;
    decided_by: string | null;
    preview_status: string | null;
    steps: PlanStep[];
  } | null;
  steps: RequestStep[];
  decision: Decision | null;
  /** The schedule that started this request, if one did. */
  schedule: { schedule_id: string; standing_approval_id: string | null; plan_changed_from: string | null } | null;
  missing_inputs: { playbook: string; vars: string[] }[] | null;
  paused_reason: string | null;
  error: { message: string } | null;
}

/** One row of GET /requests. */
export interface RequestSummary {
  request_id: string;
  status: string;
  message: string;
  requested_by: string | null;
  approver: string | null;
  services: string[];
  steps: number;
  created_at: string;
}

export interface RequestList {
  requests: RequestSummary[];
  total: number;
}

/** POST /approve. */
export interface DecisionAnswer {
  request_id: string;
  dispatch_started: boolean;
  status: string;
}

/** GET /audit/task/:task_id. */
export interface TaskAudit {
  task: {
    task_id: string;
    request_id: string;
    step_index: number;
    mode: string;
    playbook: string;
    status: string;
    outcome: string | null;
    exit_code: number | null;
    suggestions: { rule: string; message: string }[];
  } & Record<string, unknown>;
  git: { commit: string | null; path: string | null };
}

/** One event of a request's stream (SSE `data:`, or an item of ?format=json). */
export interface RequestEvent {
  seq: number;
  kind: string;
  step_index: number | null;
  task_id: string | null;
  payload: Record<string, unknown>;
  created_at: string;
}

/** GET /requests/:id/events?format=json. */
export interface EventPage {
  events: RequestEvent[];
  last_seq: number;
}

/** GET /schedules/:id, and the answer of POST /schedules and of the schedule actions. */
export interface Schedule {
  schedule_id: string;
  message: string;
  every: string | null;
  cron: string | null;
  timezone: string | null;
  paused: boolean;
  note: string | null;
  created_by: string | null;
  created_at: string;
  next_runs: string[];
  recent_runs: { request_id: string; scheduled_at: string; started_at: string }[];
  running_request_id: string | null;
  standing_approval: {
    id: string;
    plan_hash: string;
    approver: string;
    comment: string | null;
    request_id: string;
    approved_at: string;
  } | null;
  temporal_url: string;
}

/** GET /schedules. */
export interface ScheduleList {
  schedules: Schedule[];
  total: number;
}

/** DELETE /schedules/:id. */
export interface ScheduleDeleted {
  schedule_id: string;
  deleted: true;
}
