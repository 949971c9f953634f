// The request workflow: decompose → plan → wait for a person's decision → run each step in order →
// on a failed step, analyze it → audit every task. It is never lost (Temporal), never runs
// unapproved (the decide Update, bound to the plan hash) and always ends in an audited state.
// Deterministic: all I/O happens in activities.
import {
  ActivityCancellationType,
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  condition,
  isCancellation,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
  type ActivityOptions,
} from '@temporalio/workflow';
import type { ChiffonActivities } from '../activities/index.js';
import {
  ENDED_STATUSES,
  REQUEST_DEFAULTS,
  STALE_PLAN,
  type DecisionInput,
  type InputAction,
  type OperatorAction,
  type RequestInput,
  type RequestState,
  type RequestStatus,
  type StepState,
  type TaskAuditInput,
} from '../domain/request-state.js';
import { HEARTBEAT_TIMEOUT } from '../domain/heartbeats.js';
import { CHECK_RUN_ACTIVE, describeCheckStep, type CheckRun, type CheckStep } from '../domain/check-run.js';
import { hostTaskQueue, limitOf } from '../domain/fleet.js';
import { whyNotApprover } from '../domain/four-eyes.js';
import { jsonValueDepth, MAX_JSON_DEPTH } from '../domain/json-limits.js';
import type { LintFinding, Plan, PlanStep, StepPreview, StepRunResult } from '../domain/types.js';
import { checkPlan } from './check-run.js';
import {
  cancelUpdate,
  checkRunUpdate,
  decideUpdate,
  provideInputUpdate,
  planReadyUpdate,
  Refused,
  requestStateQuery,
  resumeUpdate,
  retryUpdate,
  servicesSearchAttribute,
  capacityChangedSignal,
  statusSearchAttribute,
  stepStartedSignal,
} from './messages.js';

/** A long pause re-checks less and less often (up to this), so its history stays small. */
const MAX_CAPACITY_RECHECK_MS = 10 * 60 * 1000;

// Planning, request records and capacity checks are short (milliseconds, or a bounded model call)
// and run as local activities, in the worker that runs the workflow: each saves the two task
// hand-offs through Temporal's queues that a regular activity costs (30-40 ms each here), which is
// most of the time from a request to its plan and from an approval to the first step. They are
// retried by the worker like regular activities, and recorded in the history as markers.
//
// Planning gives up after a few tries: a request that cannot be planned should say so soon.
const planning = proxyLocalActivities<ChiffonActivities>({
  startToCloseTimeout: '2 minutes',
  retry: { maximumAttempts: 5 },
});

// Records, audits and capacity checks only need PostgreSQL and git to come back: they are retried
// without limit (at most a minute apart), so an outage delays a request but never strands it unaudited.
// A retry more than 5 s after the last becomes a durable timer in the history rather than a wait
// inside the worker, so a long outage survives a worker restart.
const records = proxyLocalActivities<ChiffonActivities>({
  startToCloseTimeout: '1 minute',
  retry: { maximumInterval: '1 minute' },
  localRetryThreshold: '5 seconds',
});

// The audit commits to git, and waits its turn behind other workers' commits to the same
// repository: a regular activity, so it shows as one in the Temporal UI with its summary.
const auditOptions: ActivityOptions = {
  startToCloseTimeout: '2 minutes',
  retry: { maximumInterval: '1 minute' },
};
const audits = proxyActivities<ChiffonActivities>(auditOptions);

// A failed playbook is a result, not an exception, so it is never retried (playbooks are not assumed
// idempotent). A thrown error means the worker or machine failed: that is retried, and the short
// heartbeat timeout notices a dead worker within seconds. Cancelling waits until the process tree
// has stopped, so the audit never says "cancelled" about a playbook that is still running.
const playbookStepOptions: ActivityOptions = {
  startToCloseTimeout: '2 hours',
  heartbeatTimeout: HEARTBEAT_TIMEOUT,
  retry: { maximumAttempts: 3, nonRetryableErrorTypes: [STALE_PLAN] },
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
};
const playbooks = proxyActivities<ChiffonActivities>(playbookStepOptions);

const analysisOptions: ActivityOptions = {
  startToCloseTimeout: '5 minutes',
  retry: { maximumAttempts: 2 },
};
const analysis = proxyActivities<ChiffonActivities>(analysisOptions);

// The preflight runs ansible-playbook --list-tasks once per step, side by side: seconds, not more.
// It heartbeats, so a preview lost with its worker or the server is given again within seconds:
// an approval waits for it.
const previewOptions: ActivityOptions = {
  startToCloseTimeout: '5 minutes',
  heartbeatTimeout: HEARTBEAT_TIMEOUT,
  retry: { maximumAttempts: 3 },
};
const previews = proxyActivities<ChiffonActivities>(previewOptions);
/** Requests started before the preflight existed replay without it (see README, replay guard). */
export const PREVIEW_PATCH = 'plan-preview';

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

function refuse(type: string, message: string): never {
  throw ApplicationFailure.create({ type, message, nonRetryable: true });
}

function requireIdentity(who: string | undefined, what: string): void {
  if (!who?.trim()) refuse(Refused.identityRequired, `${what} needs the identity of the person asking`);
}

function mergeSupplied(before: InputAction['values'], added: InputAction['values']): InputAction['values'] {
  const merged: InputAction['values'] = { ...before };
  for (const [playbook, vars] of Object.entries(added)) merged[playbook] = { ...merged[playbook], ...vars };
  return merged;
}

/** The task id of a step's n-th run: the planned id first, then `<id>.r2`, `<id>.r3`, ... */
function taskIdForAttempt(plannedTaskId: string, attempt: number): string {
  return attempt === 1 ? plannedTaskId : `${plannedTaskId}.r${attempt}`;
}

export async function requestWorkflow(input: RequestInput): Promise<RequestState> {
  const approvalTimeout = input.approvalTimeout ?? REQUEST_DEFAULTS.approvalTimeout;
  const retryWindow = input.retryWindow ?? REQUEST_DEFAULTS.retryWindow;
  const capacityRecheckMs = input.capacityRecheckMs ?? REQUEST_DEFAULTS.capacityRecheckMs;
  const state: RequestState = {
    requestId: input.requestId,
    message: input.message,
    ...(input.requestedBy ? { requestedBy: input.requestedBy } : {}),
    status: 'planning',
    intents: [],
    steps: [],
    previousDecisions: [],
    operatorActions: [],
  };
  let plan: Plan | undefined;
  let retryRequest: OperatorAction | undefined;
  let resumeRequest: OperatorAction | undefined;
  let inputRequest: InputAction | undefined;
  let supplied: InputAction['values'] = {};

  const recordAction = (action: RequestState['operatorActions'][number]['action'], { by }: OperatorAction) => {
    state.operatorActions.push({ action, by: by.trim(), at: new Date().toISOString() });
  };

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
      state.decision = {
        approver: decision.approver.trim(),
        approved: decision.approved,
        ...(decision.comment ? { comment: decision.comment } : {}),
        decidedAt: new Date().toISOString(),
        planHash: plan!.hash,
      };
      setStatus(decision.approved ? 'running' : 'rejected');
      return state;
    },
    {
      validator: (decision: DecisionInput) => {
        requireIdentity(decision.approver, 'a decision');
        if (state.status !== 'pending_approval' || !plan) {
          refuse(Refused.notPendingApproval, `request ${state.requestId} is ${state.status}, not pending approval`);
        }
        if (decision.planHash && decision.planHash !== plan.hash) {
          refuse(Refused.planChanged, `the plan changed since you looked at it (now ${plan.hash}); review it again`);
        }
        // Four eyes: whoever asked for the work, or gave its values, does not also approve it, unless configured so.
        const notApprover = decision.approved && !input.allowSelfApproval ? whyNotApprover(state, decision.approver) : undefined;
        if (notApprover) refuse(Refused.selfApproval, notApprover);
      },
    },
  );
  setHandler(
    retryUpdate,
    (action: OperatorAction) => {
      retryRequest = action;
      recordAction('retry', action);
      return state;
    },
    {
      validator: (action: OperatorAction) => {
        requireIdentity(action.by, 'a retry');
        if ((state.status !== 'failed' && state.status !== 'unrunnable') || retryRequest) {
          refuse(Refused.notFailed, `request ${state.requestId} is ${state.status}; only a failed or unrunnable request can be retried`);
        }
      },
    },
  );
  setHandler(
    provideInputUpdate,
    (action: InputAction) => {
      inputRequest = action;
      recordAction('input', action);
      return state;
    },
    {
      validator: (action: InputAction) => {
        requireIdentity(action.by, 'input');
        // Bounded here too (the API refuses it first): deeper values would overflow the plan hash.
        const tooDeep = Object.values(action.values ?? {}).some((vars) =>
          Object.values(vars ?? {}).some((value) => jsonValueDepth(value) > MAX_JSON_DEPTH),
        );
        if (tooDeep) refuse(Refused.notNeedingInput, `a value nests deeper than ${MAX_JSON_DEPTH} levels`);
        if (state.status !== 'needs_input' || inputRequest)
          refuse(Refused.notNeedingInput, `request ${state.requestId} is ${state.status}, not waiting for input`);
        const wanted = new Set((state.missingInputs ?? []).flatMap((m) => m.vars.map((v) => `${m.playbook}:${v}`)));
        const given = Object.entries(action.values ?? {}).flatMap(([playbook, vars]) =>
          Object.keys(vars ?? {}).map((v) => `${playbook}:${v}`),
        );
        const unknown = given.filter((key) => !wanted.has(key));
        if (given.length === 0 || unknown.length > 0) {
          refuse(
            Refused.notNeedingInput,
            `give values for the missing variables (${[...wanted].join(', ')})${unknown.length ? `; not asked for: ${unknown.join(', ')}` : ''}`,
          );
        }
      },
    },
  );
  setHandler(stepStartedSignal, ({ taskId }) => {
    const started = state.steps.find((s) => s.taskId === taskId && s.status === 'waiting');
    if (!started) return;
    started.status = 'running';
    delete started.waitingReason;
    setCurrentDetails(
      `Running step ${started.index + 1}/${state.steps.length}: ${started.playbook}${started.agent ? ` on ${started.agent}` : ''}`,
    );
  });
  let capacityChanged = false;
  setHandler(capacityChangedSignal, () => {
    capacityChanged = true;
  });
  const work = new CancellationScope();
  setHandler(
    cancelUpdate,
    (action: OperatorAction) => {
      state.cancelledBy = action.by.trim();
      recordAction('cancel', action);
      work.cancel();
      return state;
    },
    {
      validator: (action: OperatorAction) => {
        requireIdentity(action.by, 'a cancel');
        if (ENDED_STATUSES.includes(state.status) || state.cancelledBy)
          refuse(Refused.alreadyEnded, `request ${state.requestId} has already ended (${state.status})`);
      },
    },
  );
  setHandler(
    resumeUpdate,
    (action: OperatorAction) => {
      resumeRequest = action;
      recordAction('resume', action);
      return state;
    },
    {
      validator: (action: OperatorAction) => {
        requireIdentity(action.by, 'a resume');
        if (state.status !== 'paused') refuse(Refused.notPaused, `request ${state.requestId} is ${state.status}, not paused`);
      },
    },
  );

  // A check run goes on beside the wait for a decision, in a scope under the request's work, so a
  // cancel stops it too. Only a plan waiting for approval is checked, one check run at a time. The
  // Update answers at once; the workflow ends only after the check run it started.
  const checkRunning = () => state.checkRun !== undefined && CHECK_RUN_ACTIVE.includes(state.checkRun.status);
  let checking: Promise<void> = Promise.resolve();
  setHandler(
    checkRunUpdate,
    (action: OperatorAction) => {
      recordAction('check', action);
      const by = action.by.trim();
      const checkRun: CheckRun = {
        number: (state.checkRun?.number ?? 0) + 1,
        status: 'waiting',
        requestedBy: by,
        requestedAt: new Date().toISOString(),
        planHash: plan!.hash,
        steps: [],
      };
      state.checkRun = checkRun;
      const deps = { state, plan: plan!, audit: auditCheck, record: () => records.recordRequest(state) };
      checking = new CancellationScope({ cancellable: true, parent: work })
        .run(() => checkPlan(deps, checkRun))
        .catch((err: unknown) => {
          if (!isCancellation(err)) throw err;
        });
      return state;
    },
    {
      validator: (action: OperatorAction) => {
        requireIdentity(action.by, 'a check run');
        if (state.status !== 'pending_approval' || !plan) {
          refuse(Refused.notPendingApproval, `request ${state.requestId} is ${state.status}: only a plan waiting for approval is checked`);
        }
        if (checkRunning())
          refuse(Refused.checkRunGoing, `check run ${state.checkRun!.number} of request ${state.requestId} is still going`);
      },
    },
  );

  // The request's work runs in its own scope, so a cancel Update (with who asked) can stop it just
  // like a cancellation of the whole workflow from the Temporal UI or CLI.
  const rootScope = CancellationScope.current();
  try {
    const ended = await work.run(async () => {
      // 1-2. Decompose and plan, grounded in the playbooks and inventory that really exist.
      setCurrentDetails('Planning the request');
      const decomposition = await planning.decompose(input.message);
      if (decomposition.provider) state.decomposition = decomposition.provider;
      if (!decomposition.ok) {
        state.error = { message: decomposition.message, knownServices: decomposition.knownServices };
        return await finish('unplannable', `Unplannable: ${decomposition.message}`);
      }
      state.intents = decomposition.intents;
      let planned = await planning.plan(state.intents, supplied);
      // A required variable nothing could fill: ask a person instead of running with a hole.
      while (!planned.ok && planned.missingVars.length > 0) {
        state.missingInputs = planned.missingVars;
        state.error = { message: planned.message };
        await finish('needs_input', `Needs input: ${planned.message}; POST .../input`);
        if (!(await condition(() => inputRequest !== undefined, approvalTimeout))) {
          return await finish('expired', `Expired: no input within ${approvalTimeout}`);
        }
        supplied = mergeSupplied(supplied, inputRequest!.values);
        inputRequest = undefined;
        delete state.missingInputs;
        delete state.error;
        setStatus('planning');
        planned = await planning.plan(state.intents, supplied);
      }
      if (!planned.ok) {
        state.error = { message: planned.message };
        return await finish('unplannable', `Unplannable: ${planned.message}`);
      }
      adoptPlan(planned.plan);
      // A merged step serves several services (two roles of a site playbook): `sonarr,radarr`.
      upsertSearchAttributes([{ key: servicesSearchAttribute, value: [...new Set(plan!.steps.flatMap((s) => s.service.split(',')))] }]);

      // 3. Nothing runs before a person decides, and nothing Ansible could not run is offered.
      if (!(await preflightAndDecide())) return state;

      // 4-6. Run the steps in order; after a failure, analyze it and skip the rest. A failed request
      // stays open for a retry-from-step, which may need a new approval if the plan changed.
      let from = 0;
      for (;;) {
        const outcome = await runSteps(from);
        if (outcome !== 'failed')
          return await finish(outcome, outcome === 'completed' ? 'Completed' : `Stale plan: ${state.error?.message}`);
        const failed = state.steps.find((s) => s.status === 'failed')!;
        await finish('failed', `Failed at step ${failed.index + 1} (${failed.playbook}); POST .../retry re-runs it`);
        if (!(await condition(() => retryRequest !== undefined, retryWindow))) return state;
        from = failed.index;
        if (!(await prepareRetry(from, retryRequest!))) return state;
        retryRequest = undefined;
      }
    });
    // A check run asked for just before the request ended (a rejection) finishes and is audited.
    await checking;
    return ended;
  } catch (err) {
    if (!isCancellation(err)) throw err;
    await CancellationScope.nonCancellable(() => finishCancelled());
    // Cancelled from outside: end as Canceled in Temporal. Cancelled by the Update: end normally.
    await checking;
    if (rootScope.consideredCancelled) throw err;
    return state;
  }

  async function finish(status: RequestStatus, details: string): Promise<RequestState> {
    setStatus(status);
    await records.recordRequest(state);
    setCurrentDetails(details);
    return state;
  }

  function adoptPlan(next: Plan): void {
    plan = next;
    state.plan = next;
    state.steps = next.steps.map((step) => ({
      index: step.index,
      taskId: step.taskId,
      attempt: 1,
      playbook: step.playbook,
      status: 'pending',
      ...(limitOf(step) ? { host: limitOf(step) } : {}),
      ...(step.agent ? { agent: step.agent } : {}),
    }));
  }

  /**
   * The plan's preflight (while it waits for a person) and the decision. An unrunnable plan waits
   * for a retry, which plans again from the repository as it is then. True when approved and runnable.
   */
  async function preflightAndDecide(): Promise<boolean> {
    for (;;) {
      const decided = await awaitDecision(patched(PREVIEW_PATCH) ? preflight() : undefined);
      if (decided !== 'unrunnable') return decided === 'approved';
      await skipPending(`not run: ${state.error?.message}`);
      await finish('unrunnable', `Cannot run: ${state.error?.message}; fix it, then POST .../retry plans again`);
      if (!(await condition(() => retryRequest !== undefined, retryWindow))) return false;
      retryRequest = undefined;
      setStatus('planning');
      const replanned = await planning.plan(state.intents, supplied);
      if (!replanned.ok) {
        state.error = { message: replanned.message };
        await finish('unplannable', `Unplannable: ${replanned.message}`);
        return false;
      }
      delete state.error;
      if (state.decision) state.previousDecisions.push(state.decision);
      delete state.decision;
      adoptPlan(replanned.plan);
    }
  }

  /** Ansible's view of every step; resolves false (and says why) when the plan cannot run. */
  async function preflight(): Promise<boolean> {
    const previewed = plan!;
    state.preview = { status: 'running', steps: [] };
    let steps: StepPreview[];
    try {
      steps = await previews.previewPlan.executeWithOptions(
        { ...previewOptions, summary: `preview ${previewed.steps.length} step(s) of plan ${previewed.hash.slice(0, 12)}` },
        [{ steps: previewed.steps, fingerprint: previewed.fingerprint }],
      );
    } catch (err) {
      if (isCancellation(err)) return false;
      const cause = err instanceof ActivityFailure ? err.cause : undefined;
      steps = previewed.steps.map(() => ({
        ok: false,
        hosts: [],
        tasks: [],
        problems: [`the preview could not be made: ${cause?.message ?? String(err)}`],
      }));
    }
    const problems = steps.flatMap((preview, i) =>
      preview.problems.map((problem) => `step ${i + 1} (${previewed.steps[i]!.playbook}): ${problem}`),
    );
    state.preview = { status: problems.length > 0 ? 'unrunnable' : 'ready', steps };
    if (problems.length > 0) state.error = { message: problems.join('; ') };
    await records.recordRequest(state); // the preview on the request and its stream, as soon as it is there
    return problems.length === 0;
  }

  /**
   * Waits for the decision: 'ended' when the request was rejected or expired (pending steps are
   * then skipped), 'unrunnable' when the preflight found the plan cannot run. An approval that
   * comes before the preflight is done is held until it is, and void if the plan cannot run.
   */
  async function awaitDecision(preflighted?: Promise<boolean>): Promise<'approved' | 'ended' | 'unrunnable'> {
    let runnable: boolean | undefined;
    void preflighted?.then((ok) => (runnable = ok));
    await finish(
      'pending_approval',
      `Waiting for approval of plan ${plan!.hash.slice(0, 12)} (${plan!.steps.length} step(s)): POST /api/dashboard/approve`,
    );
    if (!(await condition(() => state.decision !== undefined || runnable === false, approvalTimeout))) {
      await skipPending(`not run: no decision within ${approvalTimeout}`);
      await finish('expired', `Expired: no decision within ${approvalTimeout}`);
      return 'ended';
    }
    if (state.decision === undefined) return 'unrunnable';
    await records.recordRequest(state);
    const decision = state.decision;
    if (!decision.approved) {
      await skipPending(`not run: request rejected by ${decision.approver}${decision.comment ? ` (${decision.comment})` : ''}`);
      setCurrentDetails(`Rejected by ${decision.approver}`);
      return 'ended';
    }
    // The run waits for a check run (its dry run on the same hosts) to end.
    await condition(() => !checkRunning());
    if (preflighted && !(await preflighted)) {
      state.error = { message: `the approval by ${decision.approver} is void: ${state.error?.message ?? 'the plan cannot run'}` };
      return 'unrunnable';
    }
    return 'approved';
  }

  /** Runs the plan from step `from`; returns how the run ended. */
  async function runSteps(from: number): Promise<'completed' | 'failed' | 'stale_plan'> {
    let stopped: 'failed' | 'stale_plan' | undefined;
    for (const step of plan!.steps.slice(from)) {
      const stepState = stepStateOf(step);
      if (stopped) {
        await auditSkipped(stepState, stopped === 'failed' ? 'not run: an earlier step failed' : 'not run: the plan is stale');
        continue;
      }
      const waiting = await waitForCapacity(step, stepState);
      stopped = await runStep(step, stepState, waiting);
    }
    return stopped ?? 'completed';
  }

  /** Runs a step on its agent's task queue; a `waiting` step tells the workflow when it starts. */
  async function runStep(step: PlanStep, stepState: StepState, waiting: boolean): Promise<'failed' | 'stale_plan' | undefined> {
    const on = step.agent ? ` on ${step.agent}` : '';
    if (!waiting) {
      stepState.status = 'running';
      setCurrentDetails(`Running step ${step.index + 1}/${plan!.steps.length}: ${step.playbook}${on}`);
    }
    stepState.startedAt = new Date().toISOString();
    let run: StepRunResult;
    try {
      // A step with an agent goes to that agent's own queue; the summary names it in the Temporal UI.
      run = await playbooks.runStep.executeWithOptions(
        {
          ...playbookStepOptions,
          ...(step.agent ? { taskQueue: hostTaskQueue(workflowInfo().taskQueue, step.agent) } : {}),
          summary: `step ${step.index + 1}: ${step.playbook}${on} (task ${stepState.taskId})`,
        },
        [{ step: { ...step, taskId: stepState.taskId }, fingerprint: plan!.fingerprint, ...(waiting ? { notifyStart: true } : {}) }],
      );
    } catch (err) {
      if (isCancellation(err)) throw err;
      const cause = err instanceof ActivityFailure ? err.cause : undefined;
      if (cause instanceof ApplicationFailure && cause.type === STALE_PLAN) {
        delete stepState.startedAt; // it never started
        state.error = { message: `${cause.message}; re-plan the request to continue` };
        await auditSkipped(stepState, `not run: ${state.error.message}`);
        return 'stale_plan';
      }
      // The worker kept failing (not the playbook): the step failed without a run to analyze.
      stepState.status = 'failed';
      stepState.finishedAt = new Date().toISOString();
      await audit(stepState, { status: 'failed', outcome: `could not run: ${cause?.message ?? String(err)}` });
      return 'failed';
    }
    stepState.exitCode = run.exitCode;
    stepState.startedAt = run.startedAt;
    stepState.finishedAt = run.finishedAt;
    if (run.succeeded) {
      stepState.status = 'completed';
      await audit(stepState, { status: 'completed', outcome: describeSuccess(run), run });
      return undefined;
    }
    stepState.status = 'failed';
    setCurrentDetails(`Analyzing the failure of ${step.playbook}`);
    const findings: LintFinding[] = await analysis.analyzeFailure.executeWithOptions(
      { ...analysisOptions, summary: `analyze step ${step.index + 1}: ${step.playbook}` },
      [step.playbook],
    );
    await audit(stepState, { status: 'failed', outcome: describeFailure(run), run, findings });
    return 'failed';
  }

  /**
   * Before a step: pause while its agents are overloaded, until that passes or an operator resumes.
   * Returns true when the step must wait in its agent's queue (agent offline or every slot busy):
   * it is then marked `waiting`, and runs as soon as the agent takes it.
   */
  async function waitForCapacity(step: PlanStep, stepState: StepState): Promise<boolean> {
    let recheckMs = capacityRecheckMs;
    let waiting = false;
    for (;;) {
      capacityChanged = false; // a signal from now on (even during the check) means: check again
      const capacity = await records.checkCapacity(step.agent);
      // After an operator's resume, capacity no longer holds this run back (a retry starts afresh).
      if (capacity.ok || resumeRequest) break;
      if (capacity.wait) {
        waiting = true;
        stepState.status = 'waiting';
        stepState.waitingReason = capacity.reason;
        break;
      }
      if (state.status !== 'paused' || state.pausedReason !== capacity.reason) {
        state.pausedReason = capacity.reason;
        await finish('paused', `Paused before step ${step.index + 1} (${step.playbook}): ${capacity.reason}; POST .../resume to go on`);
      }
      await condition(() => resumeRequest !== undefined || capacityChanged, recheckMs);
      recheckMs = Math.min(recheckMs * 2, MAX_CAPACITY_RECHECK_MS);
    }
    if (state.status === 'paused') {
      state.pausedReason = undefined;
      await finish('running', `Resumed before step ${step.index + 1}`);
    }
    if (waiting) {
      await records.recordRequest(state); // shows the waiting step (and why) on the dashboard's stream
      setCurrentDetails(`Step ${step.index + 1} (${step.playbook}) waits: ${stepState.waitingReason}`);
    }
    return waiting;
  }

  /** Sets up a retry from step `from`: new task ids, and a new approval if the plan changed. */
  async function prepareRetry(from: number, action: OperatorAction): Promise<boolean> {
    resumeRequest = undefined;
    const refreshed = await records.refreshPlan(plan!);
    for (const stepState of state.steps.slice(from)) {
      stepState.attempt += 1;
      stepState.taskId = taskIdForAttempt(plan!.steps[stepState.index]!.taskId, stepState.attempt);
      stepState.status = 'pending';
      delete stepState.waitingReason;
      delete stepState.exitCode;
      delete stepState.startedAt;
      delete stepState.finishedAt;
      delete stepState.auditCommit;
    }
    if (refreshed.hash === plan!.hash) {
      await finish('running', `Retrying from step ${from + 1}, asked by ${action.by}`);
      return true;
    }
    // Something changed since the approval (typically the fixed playbook): a person approves again.
    plan = refreshed;
    state.plan = refreshed;
    state.previousDecisions.push(state.decision!);
    delete state.decision;
    const decided = await awaitDecision(patched(PREVIEW_PATCH) ? preflight() : undefined);
    if (decided === 'unrunnable') {
      await skipPending(`not run: ${state.error?.message}`);
      await finish('unrunnable', `Cannot run: ${state.error?.message}; ask again once it is fixed`);
    }
    return decided === 'approved';
  }

  async function finishCancelled(): Promise<void> {
    for (const stepState of state.steps) {
      if (stepState.status === 'running' || stepState.status === 'waiting') {
        stepState.status = 'cancelled';
        stepState.finishedAt = new Date().toISOString();
        const by = state.cancelledBy ? ` by ${state.cancelledBy}` : '';
        await audit(stepState, { status: 'cancelled', outcome: `cancelled${by} while running; its process tree was stopped` });
      }
    }
    await skipPending(`not run: request cancelled${state.cancelledBy ? ` by ${state.cancelledBy}` : ''}`);
    if (state.status !== 'failed') await finish('cancelled', `Cancelled${state.cancelledBy ? ` by ${state.cancelledBy}` : ''}`);
  }

  function stepStateOf(step: PlanStep): StepState {
    const found = state.steps[step.index];
    if (!found) throw ApplicationFailure.nonRetryable(`plan step ${step.index} has no state`);
    return found;
  }

  async function skipPending(outcome: string): Promise<void> {
    for (const stepState of state.steps) if (stepState.status === 'pending') await auditSkipped(stepState, outcome);
  }

  async function auditSkipped(stepState: StepState, outcome: string): Promise<void> {
    stepState.status = 'skipped';
    await audit(stepState, { status: 'skipped', outcome });
  }

  async function audit(
    stepState: StepState,
    result: { status: StepState['status']; outcome: string; run?: StepRunResult; findings?: LintFinding[] },
  ): Promise<void> {
    const step = {
      index: stepState.index,
      taskId: stepState.taskId,
      playbook: stepState.playbook,
      service: plan!.steps[stepState.index]?.service,
      ...(stepState.host ? { host: stepState.host } : {}),
      ...(stepState.agent ? { agent: stepState.agent } : {}),
    };
    stepState.auditCommit = await recordTask(
      `audit step ${stepState.index + 1}: ${stepState.playbook} ${result.status}`,
      step,
      stepState.attempt,
      result,
    );
  }

  /** A checked step's record: its own task id, audited as a check run. */
  function auditCheck(step: PlanStep, checked: CheckStep, run?: StepRunResult): Promise<string> {
    const task = {
      index: step.index,
      taskId: checked.taskId,
      playbook: step.playbook,
      service: step.service,
      ...(limitOf(step) ? { host: limitOf(step) } : {}),
      ...(step.agent ? { agent: step.agent } : {}),
    };
    const result = { status: checked.status, outcome: describeCheckStep(checked, run), ...(run ? { run } : {}), mode: 'check' as const };
    return recordTask(
      `audit check of step ${step.index + 1}: ${step.playbook} ${checked.status}`,
      task,
      state.steps[step.index]?.attempt ?? 1,
      result,
    );
  }

  /** The audit activity for one task of this request; resolves to its commit. */
  async function recordTask(
    summary: string,
    step: TaskAuditInput['step'],
    attempt: number,
    result: Pick<TaskAuditInput, 'status' | 'outcome' | 'run' | 'findings' | 'mode'>,
  ): Promise<string> {
    const audited = await audits.auditTask.executeWithOptions({ ...auditOptions, summary }, [
      {
        requestId: state.requestId,
        planId: plan!.planId,
        step,
        attempt,
        ...(state.decomposition ? { decomposition: state.decomposition } : {}),
        ...result,
      },
    ]);
    return audited.commit;
  }
}
