// The API's JSON view of a request (snake_case, as the dashboard and curl users read it).
import { workflowIdFor, type RequestState } from '../domain/request-state.js';

export function presentPlan(state: RequestState) {
  if (!state.plan) return null;
  return {
    plan_id: state.plan.planId,
    steps: state.plan.steps.map((step) => ({
      index: step.index,
      playbook: step.playbook,
      service: step.service,
      intent: step.intent,
      vars: step.vars,
      var_sources: step.varSources,
      task_id: step.taskId,
      status: state.steps[step.index]?.status ?? 'pending',
    })),
  };
}

export function presentRequest(state: RequestState) {
  return {
    request_id: state.requestId,
    workflow_id: workflowIdFor(state.requestId),
    status: state.status,
    message: state.message,
    intents: state.intents.map((i) => ({ name: i.name, service: i.service, playbook: i.playbook, source: i.source })),
    plan: presentPlan(state),
    steps: state.steps.map((step) => ({
      index: step.index,
      playbook: step.playbook,
      status: step.status,
      task_id: step.taskId,
      exit_code: step.exitCode ?? null,
      started_at: step.startedAt ?? null,
      finished_at: step.finishedAt ?? null,
      audit_commit: step.auditCommit ?? null,
    })),
    decision: state.decision
      ? { approver: state.decision.approver, approved: state.decision.approved, comment: state.decision.comment ?? null, decided_at: state.decision.decidedAt }
      : null,
    error: state.error ?? null,
  };
}
