// What Chiffon tells people when a request needs them or ends: which statuses notify, the notice the
// workflow hands the notify activity, and the texts each target gets. Pure (the workflow builds the
// notice). A notice carries no step vars, only what a person needs to decide whether to look.
import type { RequestState, RequestStatus } from './request-state.js';

/** The events a target can be told about (CHIFFON_NOTIFY_EVENTS picks among them). */
export const NOTIFICATION_EVENTS = ['approval', 'input', 'failed', 'completed'] as const;
export type NotificationEvent = (typeof NOTIFICATION_EVENTS)[number];

const EVENT_OF: Partial<Record<RequestStatus, NotificationEvent>> = {
  pending_approval: 'approval',
  needs_input: 'input',
  failed: 'failed',
  unrunnable: 'failed',
  completed: 'completed',
};

/** The event a request entering `status` is, or undefined when nobody is told. */
export function notificationEventOf(status: RequestStatus): NotificationEvent | undefined {
  return EVENT_OF[status];
}

/** What the notify activity gets: the request's own words and the plan's outline, never its vars. */
export interface RequestNotice {
  /** The same for every attempt and target of this notification: receivers deduplicate by it. */
  deliveryId: string;
  event: NotificationEvent;
  requestId: string;
  status: RequestStatus;
  /** When the request entered the status (workflow time, ISO 8601). */
  at: string;
  message: string;
  requestedBy?: string;
  plan?: { hash: string; services: string[]; stepCount: number; playbooks: string[] };
  /** Why it failed or cannot run (already redacted: it is what the request shows). */
  error?: string;
  /** The step that failed, for a failed run. */
  failedStep?: { index: number; playbook: string };
  /** The variables a person must give, by name (needs_input). */
  missingInputs?: { playbook: string; vars: string[] }[];
  /** Who approved the plan, once someone did. */
  approvedBy?: string;
  /** The schedule that started the request; `planChangedFrom`: its standing approval was for that other plan. */
  schedule?: { id: string; standingApprovalId?: string; planChangedFrom?: string };
}

export function noticeOf(state: RequestState, event: NotificationEvent, deliveryId: string, at: string): RequestNotice {
  const failed = state.status === 'failed' ? state.steps.find((s) => s.status === 'failed') : undefined;
  return {
    deliveryId,
    event,
    requestId: state.requestId,
    status: state.status,
    at,
    message: state.message,
    ...(state.requestedBy ? { requestedBy: state.requestedBy } : {}),
    ...(state.plan
      ? {
          plan: {
            hash: state.plan.hash,
            services: [...new Set(state.plan.steps.flatMap((s) => s.service.split(',')))],
            stepCount: state.plan.steps.length,
            playbooks: state.plan.steps.map((s) => s.playbook),
          },
        }
      : {}),
    ...(state.error && event !== 'input' && event !== 'approval' ? { error: state.error.message } : {}),
    ...(failed ? { failedStep: { index: failed.index, playbook: failed.playbook } } : {}),
    ...(state.missingInputs ? { missingInputs: state.missingInputs.map((m) => ({ playbook: m.playbook, vars: [...m.vars] })) } : {}),
    ...(state.decision?.approved ? { approvedBy: state.decision.approver } : {}),
    ...(state.schedule ? { schedule: { ...state.schedule } } : {}),
  };
}

/** The dashboard page of a request, under the API's public address. */
export function dashboardLink(publicUrl: string, requestId: string): string {
  return `${publicUrl.replace(/\/+$/, '')}/dashboard/#/requests/${encodeURIComponent(requestId)}`;
}

/** The webhook's JSON body (snake_case, like the API). `timestamp` is the sending time, in seconds. */
export function webhookPayload(notice: RequestNotice, link: string, timestamp: number) {
  return {
    delivery_id: notice.deliveryId,
    timestamp,
    event: notice.event,
    request_id: notice.requestId,
    status: notice.status,
    at: notice.at,
    message: notice.message,
    requested_by: notice.requestedBy ?? null,
    plan: notice.plan
      ? { hash: notice.plan.hash, services: notice.plan.services, step_count: notice.plan.stepCount, playbooks: notice.plan.playbooks }
      : null,
    error: notice.error ?? null,
    failed_step: notice.failedStep ? { index: notice.failedStep.index, playbook: notice.failedStep.playbook } : null,
    missing_inputs: notice.missingInputs ?? null,
    approved_by: notice.approvedBy ?? null,
    schedule: notice.schedule
      ? {
          schedule_id: notice.schedule.id,
          standing_approval_id: notice.schedule.standingApprovalId ?? null,
          plan_changed_from: notice.schedule.planChangedFrom ?? null,
        }
      : null,
    url: link,
  };
}

export interface NtfyMessage {
  title: string;
  body: string;
  /** ntfy tags; those named like emoji shortcodes show as emoji. */
  tags: string[];
  /** ntfy priority, 1 (min) to 5 (max). */
  priority: number;
  click: string;
}

/** ntfy turns a longer message into an attachment: keep the text well under its 4,096 bytes. */
const MAX_TEXT = 1500;

const NTFY: Record<NotificationEvent, { tag: string; priority: number }> = {
  approval: { tag: 'raised_hand', priority: 4 },
  input: { tag: 'question', priority: 4 },
  failed: { tag: 'x', priority: 4 },
  completed: { tag: 'white_check_mark', priority: 3 },
};

const STATUS_TEXT: Record<NotificationEvent, string> = {
  approval: 'waits for approval',
  input: 'needs input',
  failed: 'failed',
  completed: 'completed',
};

function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/** The lines every text target shows: who asked, the plan's outline, the schedule, the outcome. */
function noticeLines(notice: RequestNotice, maxField: number): string[] {
  const lines = [`${notice.requestedBy ?? 'someone'} asked: ${clip(notice.message, maxField)}`];
  if (notice.plan) {
    const services = notice.plan.services.join(', ');
    lines.push(
      `Plan ${notice.plan.hash.slice(0, 12)}: ${notice.plan.stepCount} step(s) for ${services} (${notice.plan.playbooks.join(', ')})`,
    );
  }
  if (notice.schedule) lines.push(`Started by ${notice.schedule.id}`);
  if (notice.schedule?.planChangedFrom) {
    lines.push(
      `The plan changed since the standing approval (of plan ${notice.schedule.planChangedFrom.slice(0, 12)}): it waits for a person`,
    );
  }
  if (notice.approvedBy) {
    lines.push(
      `Approved by ${notice.approvedBy}${notice.schedule?.standingApprovalId ? ` (standing approval ${notice.schedule.standingApprovalId})` : ''}`,
    );
  }
  if (notice.failedStep) lines.push(`Failed at step ${notice.failedStep.index + 1} (${notice.failedStep.playbook})`);
  if (notice.missingInputs) {
    lines.push(`Missing: ${notice.missingInputs.map((m) => `${m.playbook}: ${m.vars.join(', ')}`).join('; ')}`);
  }
  if (notice.error) lines.push(`Error: ${clip(notice.error, maxField)}`);
  return lines;
}

/** What happened, in words; an unrunnable request "cannot run" rather than "failed". */
function statusText(notice: RequestNotice): string {
  return notice.event === 'failed' && notice.status === 'unrunnable' ? 'cannot run' : STATUS_TEXT[notice.event];
}

export function ntfyMessage(notice: RequestNotice, link: string): NtfyMessage {
  const { tag, priority } = NTFY[notice.event];
  return {
    title: `Chiffon: request ${notice.requestId} ${statusText(notice)}`,
    body: clip(noticeLines(notice, 500).join('\n'), MAX_TEXT),
    tags: ['chiffon', tag],
    priority,
    click: link,
  };
}

export interface EmailMessage {
  subject: string;
  /** Plain text only (no HTML part): a request's words are never markup. */
  text: string;
}

/** What a person is asked to do on the dashboard, by event. */
const EMAIL_ACTION: Record<NotificationEvent, string> = {
  approval: 'Approve or reject it',
  input: 'Give what it needs',
  failed: 'See what happened',
  completed: 'See it',
};

/** An inbox list shows the subject alone: the request's own words follow its status, on one line. */
const MAX_SUBJECT_MESSAGE = 80;
/** A mail has room for more than an ntfy push, but a request's text or error is not a log. */
const MAX_EMAIL_FIELD = 2000;

export function emailMessage(notice: RequestNotice, link: string): EmailMessage {
  const words = notice.message.replace(/\s+/g, ' ').trim();
  const lines = [
    ...noticeLines(notice, MAX_EMAIL_FIELD),
    '',
    `Request ${notice.requestId} is ${notice.status} since ${notice.at}.`,
    `${EMAIL_ACTION[notice.event]} on the dashboard: ${link}`,
    '',
    `-- Chiffon (delivery ${notice.deliveryId})`,
  ];
  return {
    subject: `Chiffon: request ${notice.requestId} ${statusText(notice)}${words ? `: ${clip(words, MAX_SUBJECT_MESSAGE)}` : ''}`,
    text: `${lines.join('\n')}\n`,
  };
}
