// The request workflow: decompose → plan → wait for a person's decision → run each step in order →
// on a failed step, analyze it → audit every task. Deterministic: all I/O happens in activities.
import {
  ApplicationFailure,
  condition,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import type { ChiffonActivities } from '../activities/index.js';
import type { DecisionInput, RequestInput, RequestState, RequestStatus, StepState } from '../domain/request-state.js';
import type { LintFinding, PlanStep, StepRunResult } from '../domain/types.js';
import {
  DecisionRefused,
  decideUpdate,
  planReadyUpdate,
  requestStateQuery,
  servicesSearchAttribute,
  statusSearchAttribute,
} from './messages.js';

const planning = proxyActivities<ChiffonActivities>({
  startToCloseTimeout: '2 minutes',
  retry: { maximumAttempts: 3 },
});

const records = proxyActivities<ChiffonActivities>({
  startToCloseTimeout: '1 minute',
  retry: { maximumAttempts: 10 },
});

// A failed playbook is a result, not an exception, so it is never retried (playbooks are not assumed
// idempotent). A thrown error means the worker or machine failed; that is retried, and the heartbeat
// timeout notices a dead worker within seconds.
const playbookStepOptions = {
  startToCloseTimeout: '2 hours',
  heartbeatTimeout: '30 seconds',
  retry: { maximumAttempts: 3 },
} as const;
const playbooks = proxyActivities<ChiffonActivities>(playbookStepOptions);

const analysis = proxyActivities<ChiffonActivities>({
  startToCloseTimeout: '5 minutes',
  retry: { maximumAttempts: 2 },
});

function describeFailure(run: StepRunResult): string {
  const first = run.failedTasks[0];
  if (first) return `failed at task "${first.task}" on ${first.host}: ${first.message}`;
  const lastLine = run.stderrTail.trim().split('\n').pop();
  return `ansible-playbook exited with code ${run.exitCode}${lastLine ? `: ${lastLine}` : ''}`;
}

function describeSuccess(run: StepRunResult): string {
  const changed = run.tasks.filter((t) => t.status === 'changed').length;
  return `completed: ${run.tasks.length} task results, ${changed} changed`;
}

export async function requestWorkflow(input: RequestInput): Promise<RequestState> {
  const state: RequestState = { requestId: input.requestId, message: input.message, status: 'planning', intents: [], steps: [] };

  const setStatus = (status: RequestStatus) => {
    state.status = status;
    upsertSearchAttributes([{ key: statusSearchAttribute, value: status }]);
  };

  setHandler(requestStateQuery, () => state);
  setHandler(planReadyUpdate, async () => {
    await condition(() => state.status !== 'planning');
    return state;
  });
  setHandler(
    decideUpdate,
    (decision: DecisionInput) => {
      state.decision = { ...decision, approver: decision.approver.trim(), decidedAt: new Date().toISOString() };
      setStatus(decision.approved ? 'running' : 'rejected');
      return state;
    },
    {
      validator: (decision: DecisionInput) => {
        if (!decision.approver?.trim()) {
          throw ApplicationFailure.create({ type: DecisionRefused.approverRequired, message: 'a decision needs an approver identity' });
        }
        if (state.status !== 'pending_approval') {
          throw ApplicationFailure.create({
            type: DecisionRefused.notPendingApproval,
            message: `request ${state.requestId} is ${state.status}, not pending approval`,
          });
        }
      },
    },
  );

  // 1-2. Decompose and plan, grounded in the playbooks and inventory that really exist.
  setCurrentDetails('Planning the request');
  const decomposition = await planning.decompose(input.message);
  if (!decomposition.ok) {
    state.error = { message: decomposition.message, knownServices: decomposition.knownServices };
    return finishUnplannable();
  }
  state.intents = decomposition.intents;
  const planned = await planning.plan(state.intents);
  if (!planned.ok) {
    state.error = { message: planned.message };
    return finishUnplannable();
  }
  const plan = planned.plan;
  state.plan = plan;
  state.steps = plan.steps.map((step) => ({ index: step.index, taskId: step.taskId, playbook: step.playbook, status: 'pending' }));
  upsertSearchAttributes([{ key: servicesSearchAttribute, value: [...new Set(plan.steps.map((s) => s.service))] }]);
  setStatus('pending_approval');
  await records.recordRequest(state);

  // 3. Nothing runs before a person decides.
  setCurrentDetails(`Waiting for approval of ${plan.steps.length} step(s): POST /api/dashboard/approve`);
  await condition(() => state.decision !== undefined);
  await records.recordRequest(state);

  if (!state.decision?.approved) {
    const outcome = `not run: request rejected by ${state.decision?.approver}${state.decision?.comment ? ` (${state.decision.comment})` : ''}`;
    for (const step of plan.steps) await skipStep(step, outcome);
    setCurrentDetails(`Rejected by ${state.decision?.approver}`);
    return state;
  }

  // 4-6. Run the steps in order; after a failure, analyze it and skip the rest. Audit every task.
  let failedStep: PlanStep | undefined;
  for (const step of plan.steps) {
    if (failedStep) {
      await skipStep(step, `not run: step ${failedStep.index} (${failedStep.playbook}) failed`);
      continue;
    }
    const stepState = stepStateOf(step);
    stepState.status = 'running';
    stepState.startedAt = new Date().toISOString();
    setCurrentDetails(`Running step ${step.index + 1}/${plan.steps.length}: ${step.playbook}`);
    const run = await playbooks.runStep.executeWithOptions(
      // The summary names the playbook in the Temporal UI's event history.
      { ...playbookStepOptions, summary: `step ${step.index + 1}: ${step.playbook}` },
      [step],
    );
    stepState.exitCode = run.exitCode;
    stepState.startedAt = run.startedAt;
    stepState.finishedAt = run.finishedAt;
    let findings: LintFinding[] | undefined;
    if (run.succeeded) {
      stepState.status = 'completed';
    } else {
      stepState.status = 'failed';
      failedStep = step;
      setCurrentDetails(`Analyzing the failure of ${step.playbook}`);
      findings = await analysis.analyzeFailure(step.playbook);
    }
    const audited = await records.auditTask({
      requestId: state.requestId,
      planId: plan.planId,
      step,
      status: stepState.status,
      outcome: run.succeeded ? describeSuccess(run) : describeFailure(run),
      run,
      findings,
    });
    stepState.auditCommit = audited.commit;
  }

  setStatus(failedStep ? 'failed' : 'completed');
  await records.recordRequest(state);
  setCurrentDetails(failedStep ? `Failed at step ${failedStep.index + 1}: ${failedStep.playbook}` : 'Completed');
  return state;

  function stepStateOf(step: PlanStep): StepState {
    const found = state.steps[step.index];
    if (!found) throw ApplicationFailure.nonRetryable(`plan step ${step.index} has no state`);
    return found;
  }

  async function skipStep(step: PlanStep, outcome: string): Promise<void> {
    const stepState = stepStateOf(step);
    stepState.status = 'skipped';
    const audited = await records.auditTask({ requestId: state.requestId, planId: plan.planId, step, status: 'skipped', outcome });
    stepState.auditCommit = audited.commit;
  }

  async function finishUnplannable(): Promise<RequestState> {
    setStatus('unplannable');
    await records.recordRequest(state);
    setCurrentDetails(`Unplannable: ${state.error?.message ?? ''}`);
    return state;
  }
}
