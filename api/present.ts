// The API's JSON view of a request (snake_case, as the dashboard and curl users read it).
import { summarizeCheck } from '../domain/check-run.js';
import { limitOf } from '../domain/fleet.js';
import { redactPatterns, redactPlanVars } from '../domain/redaction.js';
import { workflowIdFor, type Decision, type RequestState } from '../domain/request-state.js';
import type { StepPreview } from '../domain/types.js';
import type { PlaybookSuggestion } from '../generated/prisma/client.js';
import type { z } from 'zod';
import type { requestSchema } from './openapi.js';

function presentDecision(decision: Decision) {
  return {
    approver: decision.approver,
    approved: decision.approved,
    comment: decision.comment ?? null,
    decided_at: decision.decidedAt,
    plan_hash: decision.planHash,
    standing: decision.standing === true,
    standing_approval_id: decision.standingApprovalId ?? null,
  };
}

export function presentPlan(state: RequestState) {
  if (!state.plan) return null;
  const shown = redactPlanVars(state.plan);
  return {
    plan_id: state.plan.planId,
    /** What an approval approves; pass it as plan_hash to /approve to bind the decision to it. */
    hash: state.plan.hash,
    repo_commit: state.plan.fingerprint.repoCommit ?? null,
    /** Which decomposition provider read the request (details under the request's `decomposition`). */
    decided_by: state.decomposition?.decidedBy ?? null,
    /** The preflight: running, ready (every step can run) or unrunnable; null before it starts. */
    preview_status: state.preview?.status ?? null,
    steps: shown.steps.map((step) => ({
      index: step.index,
      playbook: step.playbook,
      service: step.service,
      intent: step.intent,
      vars: step.vars,
      var_sources: step.varSources,
      /** The run's --limit (hosts or groups), or null for the plays' own hosts. */
      host: limitOf(step) ?? null,
      tags: step.tags ?? [],
      become: step.become === true,
      agent: step.agent ?? null,
      task_id: step.taskId,
      status: state.steps[step.index]?.status ?? 'pending',
      preview: presentPreview(state.preview?.steps[step.index]),
    })),
  };
}

/** Ansible's view of a step before it runs: its hosts, its tasks (per play, role and tags) and what stops it. */
function presentPreview(preview: StepPreview | undefined) {
  if (!preview) return null;
  return {
    ok: preview.ok,
    hosts: preview.hosts,
    tasks: preview.tasks.map((t) => ({ play: t.play, name: t.name, role: t.role ?? null, tags: t.tags })),
    problems: preview.problems,
  };
}

/** The latest check run (`--check --diff`): what would change per task and host, with diffs. */
function presentCheckRun(state: RequestState) {
  const run = state.checkRun;
  if (!run) return null;
  const summary = summarizeCheck(run);
  return redactPatterns.value({
    number: run.number,
    status: run.status,
    requested_by: run.requestedBy,
    requested_at: run.requestedAt,
    finished_at: run.finishedAt ?? null,
    plan_hash: run.planHash,
    for_current_plan: run.planHash === state.plan?.hash,
    summary: summary.text,
    nothing_would_change: run.status === 'completed' && summary.wouldChange === 0 && summary.unchecked === 0,
    would_change: summary.wouldChange,
    hosts_changed: summary.hosts,
    unchecked: summary.unchecked,
    message: run.message ?? null,
    steps: run.steps.map((step) => ({
      index: step.index,
      task_id: step.taskId,
      status: step.status,
      exit_code: step.exitCode ?? null,
      message: step.message ?? null,
      audit_commit: step.auditCommit ?? null,
      tasks: step.tasks.map((t) => ({
        task: t.name,
        host: t.host,
        status: t.status,
        diff: t.diff ?? null,
        unchecked: t.unchecked ?? null,
      })),
    })),
  });
}

/** The request as GET /requests/:id answers it (typed by the documented schema, api/openapi.ts). */
export function presentRequest(state: RequestState): z.input<typeof requestSchema> {
  return {
    request_id: state.requestId,
    workflow_id: workflowIdFor(state.requestId),
    status: state.status,
    message: state.message,
    requested_by: state.requestedBy ?? null,
    intents: state.intents.map((i) => ({ name: i.name, service: i.service, playbook: i.playbook, source: i.source })),
    plan: presentPlan(state),
    steps: state.steps.map((step) => ({
      index: step.index,
      playbook: step.playbook,
      status: step.status,
      host: step.host ?? null,
      agent: step.agent ?? null,
      waiting_reason: step.waitingReason ?? null,
      task_id: step.taskId,
      attempt: step.attempt,
      exit_code: step.exitCode ?? null,
      started_at: step.startedAt ?? null,
      finished_at: step.finishedAt ?? null,
      audit_commit: step.auditCommit ?? null,
    })),
    decision: state.decision ? presentDecision(state.decision) : null,
    previous_decisions: state.previousDecisions.map(presentDecision),
    schedule: state.schedule
      ? {
          schedule_id: state.schedule.id,
          standing_approval_id: state.schedule.standingApprovalId ?? null,
          plan_changed_from: state.schedule.planChangedFrom ?? null,
        }
      : null,
    decomposition: state.decomposition
      ? { decided_by: state.decomposition.decidedBy, model: state.decomposition.model ?? null, skipped: state.decomposition.skipped }
      : null,
    operator_actions: state.operatorActions ?? [],
    missing_inputs: state.missingInputs ?? null,
    paused_reason: state.pausedReason ?? null,
    error: state.error ?? null,
    check_run: presentCheckRun(state),
  };
}

/** A stored improvement suggestion (with its request when the task was loaded with it). */
export function presentSuggestion(s: PlaybookSuggestion & { task?: { requestId: string } | null }) {
  return {
    id: s.id,
    task_id: s.taskId,
    ...(s.task ? { request_id: s.task.requestId } : {}),
    playbook: s.playbook,
    rule: s.rule,
    category: s.category,
    severity: s.severity,
    message: s.message,
    path: s.path,
    line: s.line,
    suggested_change: s.suggestedChange,
    fixable: s.fixable,
    patch: s.patch,
    playbook_sha256: s.playbookSha256,
    status: s.status,
    decided_by: s.decidedBy,
    decided_at: s.decidedAt,
    commit_hash: s.commitHash,
    created_at: s.createdAt,
  };
}
