// The text the commands print (without --json): a request as `ask` answers it, the table of
// `status`, the detail of `status ID`, a task's audit and the schedules. Pure functions from answers to lines.
import type { RequestDetail, RequestSummary, Schedule, TaskAudit } from './types.js';

const show = (value: unknown): string => (typeof value === 'string' ? value : JSON.stringify(value));

/** The last line of several commands, which scripts can read: `request <id>: <status>`. */
export const statusLine = (request: { request_id: string; status: string }): string => `request ${request.request_id}: ${request.status}`;

/** What `ask` prints: the intents, the plan step by step with its vars and their sources, the preview, the status. */
export function requestLines(request: RequestDetail): string[] {
  const lines: string[] = [];
  lines.push(
    request.intents.length === 0
      ? 'intents: none'
      : `intents: ${request.intents.map((i) => `${i.name} (${i.service}, ${i.playbook}, from ${i.source})`).join('; ')}`,
  );
  const plan = request.plan;
  if (!plan) {
    lines.push('plan: none yet');
  } else {
    lines.push(`plan ${plan.plan_id}, hash ${plan.hash}${plan.decided_by ? `, read by ${plan.decided_by}` : ''}`);
    const total = plan.steps.length;
    for (const step of plan.steps) {
      lines.push(
        `  step ${step.index + 1}/${total} (index ${step.index})  ${step.playbook}  host: ${step.host ?? '(the plays’ hosts)'}` +
          `  tags: ${step.tags.length > 0 ? step.tags.join(',') : '(all)'}${step.agent ? `  agent: ${step.agent}` : ''}${step.become ? '  become' : ''}`,
      );
      for (const [name, value] of Object.entries(step.vars)) {
        lines.push(`      ${name} = ${show(value)}  (${step.var_sources[name] ?? 'given'})`);
      }
    }
    if (plan.preview_status) {
      lines.push(`preview: ${plan.preview_status}`);
      for (const step of plan.steps) {
        if (!step.preview) continue;
        const verdict = step.preview.ok ? 'ok' : 'cannot run';
        lines.push(
          `  step ${step.index + 1}: ${verdict}, ${step.preview.tasks.length} tasks on ${step.preview.hosts.join(', ') || 'no host'}`,
        );
        for (const problem of step.preview.problems) lines.push(`    ${problem}`);
      }
    }
  }
  for (const missing of request.missing_inputs ?? []) lines.push(`needs input for ${missing.playbook}: ${missing.vars.join(', ')}`);
  if (request.error) lines.push(`error: ${request.error.message}`);
  lines.push(statusLine(request));
  return lines;
}

/** `status`: one row per request under a header, columns as wide as their widest cell. */
export function requestTable(requests: RequestSummary[]): string[] {
  const header = ['ID', 'STATUS', 'REQUESTED_BY', 'SERVICES', 'STEPS', 'CREATED_AT'];
  const rows = requests.map((r) => [
    r.request_id,
    r.status,
    r.requested_by ?? '-',
    r.services.join(',') || '-',
    String(r.steps),
    r.created_at.replace(/\.\d+Z$/, 'Z'),
  ]);
  return table([header, ...rows]);
}

export function table(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  return rows.map((row) =>
    row
      .map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column]!)))
      .join('  ')
      .trimEnd(),
  );
}

/** `status ID`: the decision and each step with its outcome and audit, then the status line. */
export function requestDetailLines(request: RequestDetail): string[] {
  const lines = [`message: ${request.message}`, `requested by: ${request.requested_by ?? '-'}`];
  const decision = request.decision;
  lines.push(
    decision
      ? `decision: ${decision.approved ? 'approved' : 'rejected'} by ${decision.approver} at ${decision.decided_at}` +
          `${decision.comment ? ` (“${decision.comment}”)` : ''}, plan ${decision.plan_hash}` +
          `${decision.standing_approval_id ? ` (standing approval ${decision.standing_approval_id})` : decision.standing ? ' (as standing)' : ''}`
      : 'decision: none yet',
  );
  if (request.schedule) {
    const changed = request.schedule.plan_changed_from ? `; the plan changed from ${request.schedule.plan_changed_from}` : '';
    lines.push(`schedule: ${request.schedule.schedule_id}${changed}`);
  }
  if (request.paused_reason) lines.push(`paused: ${request.paused_reason}`);
  const total = request.steps.length;
  for (const step of request.steps) {
    const parts = [`step ${step.index + 1}/${total}`, step.playbook, step.status];
    if (step.exit_code !== null) parts.push(`exit ${step.exit_code}`);
    parts.push(`task ${step.task_id}`);
    if (step.audit_commit) parts.push(`audit ${step.audit_commit}`);
    if (step.waiting_reason) parts.push(`(${step.waiting_reason})`);
    lines.push(`  ${parts.join('  ')}`);
  }
  if (request.error) lines.push(`error: ${request.error.message}`);
  lines.push(statusLine(request));
  return lines;
}

/** `audit TASK_ID`: the task's record and the commit of its audit file. */
export function auditLines(audit: TaskAudit): string[] {
  const task = audit.task;
  const lines = [
    `task ${task.task_id} (${task.mode === 'check' ? 'check run' : 'run'})`,
    `  request:  ${task.request_id}, step ${task.step_index + 1}`,
    `  playbook: ${task.playbook}`,
    `  status:   ${task.status}${task.exit_code === null ? '' : `, exit ${task.exit_code}`}`,
  ];
  if (task.outcome) lines.push(`  outcome:  ${task.outcome.split('\n')[0]}`);
  for (const suggestion of task.suggestions) lines.push(`  suggestion: ${suggestion.rule}: ${suggestion.message}`);
  lines.push(audit.git.commit ? `commit ${audit.git.commit} ${audit.git.path ?? ''}`.trimEnd() : 'commit: none yet');
  return lines;
}

/** The last line of the schedule commands: `schedule <id>: active|paused`. */
export const scheduleLine = (schedule: Pick<Schedule, 'schedule_id' | 'paused'>): string =>
  `schedule ${schedule.schedule_id}: ${schedule.paused ? 'paused' : 'active'}`;

const whenOf = (s: Schedule): string =>
  s.every !== null ? `every ${s.every}` : `cron ${s.cron ?? '?'}${s.timezone ? ` (${s.timezone})` : ''}`;

const shortTime = (iso: string): string => iso.replace(/\.\d+Z$/, 'Z');

/** `schedule list`: one row per schedule; the message last, as it may hold spaces. */
export function scheduleTable(schedules: Schedule[]): string[] {
  const header = ['ID', 'STATE', 'WHEN', 'NEXT_RUN', 'STANDING', 'CREATED_BY', 'MESSAGE'];
  const rows = schedules.map((s) => [
    s.schedule_id,
    s.paused ? 'paused' : 'active',
    whenOf(s),
    s.next_runs[0] ? shortTime(s.next_runs[0]) : '-',
    s.standing_approval ? 'yes' : 'no',
    s.created_by ?? '-',
    s.message,
  ]);
  return table([header, ...rows]);
}

/** `schedule show` (and create, pause, ...): when it fires, its runs and standing approval, then the schedule line. */
export function scheduleLines(s: Schedule): string[] {
  const lines = [`message: ${s.message}`, `when: ${whenOf(s)}`, `created by ${s.created_by ?? '-'} at ${shortTime(s.created_at)}`];
  if (s.note) lines.push(`note: ${s.note}`);
  lines.push(`next runs: ${s.next_runs.length > 0 ? s.next_runs.map(shortTime).join(', ') : s.paused ? 'none (paused)' : 'none'}`);
  lines.push(`running: ${s.running_request_id ?? '-'}`);
  const standing = s.standing_approval;
  lines.push(
    standing
      ? `standing approval: ${standing.id} by ${standing.approver} at ${shortTime(standing.approved_at)}, plan ${standing.plan_hash}`
      : 'standing approval: none',
  );
  if (s.recent_runs.length > 0) {
    lines.push('recent runs:');
    for (const run of s.recent_runs) lines.push(`  ${run.request_id}  started ${shortTime(run.started_at)}`);
  }
  lines.push(`temporal: ${s.temporal_url}`);
  lines.push(scheduleLine(s));
  return lines;
}
