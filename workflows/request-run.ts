// One request's run: its state and every transition of it. workflows/request.ts wires the messages
// to it and reads as the spec; this class does the steps (plan, preflight and decision, run, analyze,
// audit) and takes the people's acts (the Updates, once their validators let them through).
// Deterministic: all I/O goes through the activity proxies.
import {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  condition,
  isCancellation,
  patched,
  setCurrentDetails,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import { CHECK_RUN_ACTIVE, describeCheckStep, type CheckRun, type CheckStep } from '../domain/check-run.js';
import { hostTaskQueue, limitOf } from '../domain/fleet.js';
import { noticeOf, notificationEventOf } from '../domain/notifications.js';
import {
  REQUEST_DEFAULTS,
  requestIdOf,
  STALE_PLAN,
  type DecisionInput,
  type InputAction,
  type OperatorAction,
  type OperatorActionKind,
  type RequestInput,
  type RequestState,
  type RequestStatus,
  type StepState,
  type TaskAuditInput,
} from '../domain/request-state.js';
import type { LintFinding, Plan, PlanStep, StepPreview, StepRunResult } from '../domain/types.js';
import type { RequestView } from '../domain/update-rules.js';
import {
  analysis,
  analysisOptions,
  auditOptions,
  audits,
  notifications,
  notifyOptions,
  planning,
  playbooks,
  playbookStepOptions,
  previewOptions,
  previews,
  records,
} from './activity-proxies.js';
import { checkPlan } from './check-run.js';
import { servicesSearchAttribute, statusSearchAttribute } from './messages.js';

/** A long pause re-checks less and less often (up to this), so its history stays small. */
const MAX_CAPACITY_RECHECK_MS = 10 * 60 * 1000;
/** Requests started before the preflight existed replay without it (see README, replay guard). */
export const PREVIEW_PATCH = 'plan-preview';
/** Requests started before notifications existed replay without them. */
export const NOTIFY_PATCH = 'notifications';
/**
 * Requests started before the step's critical path was shortened replay as they ran: the approval's
 * record then went before the first capacity check, and a completed step's audit before the next step.
 */
export const SHORT_STEP_PATH_PATCH = 'short-step-path';

type StepOutcome = 'failed' | 'stale_plan' | undefined;
/** How a step waits for its agent before it starts (none: it starts at once). */
type StepWait = 'waiting' | 'held' | undefined;

export class RequestRun {
  readonly state: RequestState;
  private readonly approvalTimeout: string;
  private readonly retryWindow: string;
  private readonly capacityRecheckMs: number;
  private plan: Plan | undefined;
  private retryRequest: OperatorAction | undefined;
  private resumeRequest: OperatorAction | undefined;
  private inputRequest: InputAction | undefined;
  private supplied: InputAction['values'] = {};
  private capacityChanged = false;
  /** The request's work runs in its own scope, so a cancel Update (with who asked) can stop it. */
  private readonly work = new CancellationScope();
  /** The check run going on, if any: the workflow ends only after it. */
  private checking: Promise<void> = Promise.resolve();
  /** Notifications started and not awaited (a target that is down never holds the request up); settled before the end. */
  private readonly notifying: Promise<void>[] = [];
  /** Numbers the request's notifications: `<request id>.<n>` is each one's delivery id. */
  private notified = 0;
  /** The decision's record, written beside the first capacity check; every later record and the first step wait for it. */
  private decisionRecorded: Promise<void> = Promise.resolve();
  /** Audits of completed steps, going on beside the next step; the request ends only once they are in. */
  private readonly auditing: Promise<void>[] = [];

  constructor(private readonly input: RequestInput) {
    this.approvalTimeout = input.approvalTimeout ?? REQUEST_DEFAULTS.approvalTimeout;
    this.retryWindow = input.retryWindow ?? REQUEST_DEFAULTS.retryWindow;
    this.capacityRecheckMs = input.capacityRecheckMs ?? REQUEST_DEFAULTS.capacityRecheckMs;
    this.state = {
      // A run a Schedule started has the id its workflow id gives it (`request-<schedule id>-<time>`).
      requestId: input.requestId ?? requestIdOf(workflowInfo().workflowId),
      message: input.message,
      ...(input.requestedBy ? { requestedBy: input.requestedBy } : {}),
      ...(input.schedule ? { schedule: { id: input.schedule.id } } : {}),
      status: 'planning',
      intents: [],
      steps: [],
      previousDecisions: [],
      operatorActions: [],
    };
  }

  /** The plan being decided on or run; there is one from the end of planning on. */
  private get currentPlan(): Plan {
    if (!this.plan) throw ApplicationFailure.nonRetryable(`request ${this.state.requestId} has no plan yet`);
    return this.plan;
  }

  /** What the Update validators judge by (domain/update-rules.ts). */
  view(): RequestView {
    return {
      state: this.state,
      planHash: this.plan?.hash,
      retryAsked: this.retryRequest !== undefined,
      inputAsked: this.inputRequest !== undefined,
      checkRunning: this.checkRunning(),
      allowSelfApproval: this.input.allowSelfApproval ?? false,
    };
  }

  // ---------------------------------------------------------------- the people's acts

  /** Resolves once planning has ended (the planReady Update). */
  async planned(): Promise<RequestState> {
    await condition(() => this.state.status !== 'planning');
    return this.state;
  }

  decide(decision: DecisionInput): RequestState {
    this.state.decision = {
      approver: decision.approver.trim(),
      approved: decision.approved,
      ...(decision.comment ? { comment: decision.comment } : {}),
      decidedAt: new Date().toISOString(),
      planHash: this.currentPlan.hash,
      ...(decision.approved && decision.standing ? { standing: true } : {}),
    };
    this.setStatus(decision.approved ? 'running' : 'rejected');
    return this.state;
  }

  retry(action: OperatorAction): RequestState {
    this.retryRequest = action;
    this.recordAction('retry', action);
    return this.state;
  }

  provideInput(action: InputAction): RequestState {
    this.inputRequest = action;
    this.recordAction('input', action);
    return this.state;
  }

  cancel(action: OperatorAction): RequestState {
    this.state.cancelledBy = action.by.trim();
    this.recordAction('cancel', action);
    this.work.cancel();
    return this.state;
  }

  resume(action: OperatorAction): RequestState {
    this.resumeRequest = action;
    this.recordAction('resume', action);
    return this.state;
  }

  /**
   * A check run goes on beside the wait for a decision, in a scope under the request's work, so a
   * cancel stops it too. The Update answers at once.
   */
  startCheckRun(action: OperatorAction): RequestState {
    this.recordAction('check', action);
    const plan = this.currentPlan;
    const checkRun: CheckRun = {
      number: (this.state.checkRun?.number ?? 0) + 1,
      status: 'waiting',
      requestedBy: action.by.trim(),
      requestedAt: new Date().toISOString(),
      planHash: plan.hash,
      steps: [],
    };
    this.state.checkRun = checkRun;
    const deps = {
      state: this.state,
      plan,
      audit: (step: PlanStep, checked: CheckStep, run?: StepRunResult) => this.auditCheck(step, checked, run),
      record: () => records.recordRequest(this.state),
    };
    this.checking = new CancellationScope({ cancellable: true, parent: this.work })
      .run(() => checkPlan(deps, checkRun))
      .catch((err: unknown) => {
        if (!isCancellation(err)) throw err;
      });
    return this.state;
  }

  /** A step that had to wait was started by its agent (the stepStarted signal). */
  stepStarted(taskId: string): void {
    const started = this.state.steps.find((s) => s.taskId === taskId && s.status === 'waiting');
    if (!started) return;
    started.status = 'running';
    delete started.waitingReason;
    setCurrentDetails(
      `Running step ${started.index + 1}/${this.state.steps.length}: ${started.playbook}${started.agent ? ` on ${started.agent}` : ''}`,
    );
  }

  /** An agent has room again (the capacityChanged signal): a paused request checks at once. */
  capacityReturned(): void {
    this.capacityChanged = true;
  }

  // ---------------------------------------------------------------- the run

  /**
   * Runs `body` as the request's work. A cancel (the Update, or the workflow's cancellation from the
   * Temporal UI or CLI) stops it; what ran is then audited cancelled and the rest skipped.
   */
  async execute(body: () => Promise<RequestState>): Promise<RequestState> {
    const rootScope = CancellationScope.current();
    try {
      const ended = await this.work.run(body);
      // A check run asked for just before the request ended (a rejection) finishes and is audited.
      await this.checking;
      await this.notificationsSettled();
      return ended;
    } catch (err) {
      if (!isCancellation(err)) throw err;
      await CancellationScope.nonCancellable(async () => {
        await this.auditsSettled(); // a step that completed before the cancel is audited completed
        await this.finishCancelled();
      });
      // Cancelled from outside: end as Canceled in Temporal. Cancelled by the Update: end normally.
      await this.checking;
      await this.notificationsSettled(); // a cancel stopped those still being retried
      if (rootScope.consideredCancelled) throw err;
      return this.state;
    }
  }

  /** Every completed step's audit is in (each is retried until it is). */
  private async auditsSettled(): Promise<void> {
    while (this.auditing.length > 0) await Promise.all(this.auditing.splice(0));
  }

  /** Every notification started has been delivered or given up: the workflow never ends with one scheduled. */
  private async notificationsSettled(): Promise<void> {
    while (this.notifying.length > 0) await Promise.all(this.notifying.splice(0));
  }

  /** Decomposes the request and plans it, asking a person for values nothing could fill. True when there is a plan. */
  async planRequest(): Promise<boolean> {
    const { state } = this;
    setCurrentDetails('Planning the request');
    const decomposition = await planning.decompose(this.input.message);
    if (decomposition.provider) state.decomposition = decomposition.provider;
    if (!decomposition.ok) {
      state.error = { message: decomposition.message, knownServices: decomposition.knownServices };
      await this.finish('unplannable', `Unplannable: ${decomposition.message}`);
      return false;
    }
    state.intents = decomposition.intents;
    let planned = await planning.plan(state.intents, this.supplied);
    // A required variable nothing could fill: ask a person instead of running with a hole.
    while (!planned.ok && planned.missingVars.length > 0) {
      state.missingInputs = planned.missingVars;
      state.error = { message: planned.message };
      await this.finish('needs_input', `Needs input: ${planned.message}; POST .../input`);
      if (!(await condition(() => this.inputRequest !== undefined, this.approvalTimeout))) {
        await this.finish('expired', `Expired: no input within ${this.approvalTimeout}`);
        return false;
      }
      this.supplied = mergeSupplied(this.supplied, this.inputRequest!.values);
      this.inputRequest = undefined;
      delete state.missingInputs;
      delete state.error;
      this.setStatus('planning');
      planned = await planning.plan(state.intents, this.supplied);
    }
    if (!planned.ok) {
      state.error = { message: planned.message };
      await this.finish('unplannable', `Unplannable: ${planned.message}`);
      return false;
    }
    this.adoptPlan(planned.plan);
    // A merged step serves several services (two roles of a site playbook): `sonarr,radarr`.
    upsertSearchAttributes([
      { key: servicesSearchAttribute, value: [...new Set(planned.plan.steps.flatMap((s) => s.service.split(',')))] },
    ]);
    return true;
  }

  /**
   * The plan's preflight (while it waits for a person) and the decision. An unrunnable plan waits
   * for a retry, which plans again from the repository as it is then. True when approved and runnable.
   */
  async preflightAndDecide(): Promise<boolean> {
    const { state } = this;
    for (;;) {
      const decided = await this.awaitDecision(patched(PREVIEW_PATCH) ? this.preflight() : undefined);
      if (decided !== 'unrunnable') return decided === 'approved';
      await this.skipPending(`not run: ${state.error?.message}`);
      await this.finish('unrunnable', `Cannot run: ${state.error?.message}; fix it, then POST .../retry plans again`);
      if (!(await condition(() => this.retryRequest !== undefined, this.retryWindow))) return false;
      this.retryRequest = undefined;
      this.setStatus('planning');
      const replanned = await planning.plan(state.intents, this.supplied);
      if (!replanned.ok) {
        state.error = { message: replanned.message };
        await this.finish('unplannable', `Unplannable: ${replanned.message}`);
        return false;
      }
      delete state.error;
      if (state.decision) state.previousDecisions.push(state.decision);
      delete state.decision;
      this.adoptPlan(replanned.plan);
    }
  }

  /**
   * Runs the approved plan's steps in order; after a failure, its step is analyzed and the rest
   * skipped. A failed request stays open for a retry-from-step, which may need a new approval if
   * the plan changed. Resolves once the request has ended (or its retry window closed).
   */
  async runToTheEnd(): Promise<RequestState> {
    let from = 0;
    for (;;) {
      const outcome = await this.runSteps(from);
      if (outcome !== 'failed') {
        return this.finish(outcome, outcome === 'completed' ? 'Completed' : `Stale plan: ${this.state.error?.message}`);
      }
      const failed = this.state.steps.find((s) => s.status === 'failed')!;
      await this.finish('failed', `Failed at step ${failed.index + 1} (${failed.playbook}); POST .../retry re-runs it`);
      if (!(await condition(() => this.retryRequest !== undefined, this.retryWindow))) return this.state;
      from = failed.index;
      if (!(await this.prepareRetry(from, this.retryRequest!))) return this.state;
      this.retryRequest = undefined;
    }
  }

  // ---------------------------------------------------------------- transitions

  private recordAction(action: OperatorActionKind, { by }: OperatorAction): void {
    this.state.operatorActions.push({ action, by: by.trim(), at: new Date().toISOString() });
  }

  private setStatus(status: RequestStatus): void {
    this.state.status = status;
    upsertSearchAttributes([{ key: statusSearchAttribute, value: status }]);
  }

  private checkRunning(): boolean {
    return this.state.checkRun !== undefined && CHECK_RUN_ACTIVE.includes(this.state.checkRun.status);
  }

  private async finish(status: RequestStatus, details: string): Promise<RequestState> {
    this.setStatus(status);
    await this.decisionRecorded; // records land in the order of the statuses they record
    await records.recordRequest(this.state);
    setCurrentDetails(details);
    this.notify();
    return this.state;
  }

  /**
   * Starts the notification of the status just recorded, when the request notifies about it, and
   * does not wait for it: its failure (a target down for an hour) is the delivery's, never the request's.
   */
  private notify(): void {
    const event = notificationEventOf(this.state.status);
    if (!event || !this.input.notifyOn?.includes(event) || !patched(NOTIFY_PATCH)) return;
    this.notified += 1;
    const notice = noticeOf(this.state, event, `${this.state.requestId}.${this.notified}`, new Date().toISOString());
    this.notifying.push(
      notifications.notify
        .executeWithOptions({ ...notifyOptions, summary: `notify ${event}: request ${this.state.requestId} ${this.state.status}` }, [
          notice,
        ])
        .then(
          () => undefined,
          () => undefined,
        ),
    );
  }

  private adoptPlan(next: Plan): void {
    this.plan = next;
    this.state.plan = next;
    this.state.steps = next.steps.map((step) => ({
      index: step.index,
      taskId: step.taskId,
      attempt: 1,
      playbook: step.playbook,
      status: 'pending',
      ...(limitOf(step) ? { host: limitOf(step) } : {}),
      ...(step.agent ? { agent: step.agent } : {}),
    }));
  }

  /** Ansible's view of every step; resolves false (and says why) when the plan cannot run. */
  private async preflight(): Promise<boolean> {
    const { state } = this;
    const previewed = this.currentPlan;
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
  private async awaitDecision(preflighted?: Promise<boolean>): Promise<'approved' | 'ended' | 'unrunnable'> {
    const { state } = this;
    let runnable: boolean | undefined;
    void preflighted?.then((ok) => (runnable = ok));
    const plan = this.currentPlan;
    if (!(await this.approvedAsStanding(plan))) {
      await this.finish(
        'pending_approval',
        `Waiting for approval of plan ${plan.hash.slice(0, 12)} (${plan.steps.length} step(s)): POST /api/dashboard/approve`,
      );
      if (!(await condition(() => state.decision !== undefined || runnable === false, this.approvalTimeout))) {
        await this.skipPending(`not run: no decision within ${this.approvalTimeout}`);
        await this.finish('expired', `Expired: no decision within ${this.approvalTimeout}`);
        return 'ended';
      }
    }
    const decision = state.decision;
    if (decision === undefined) return 'unrunnable';
    // An approval's record goes on beside the first capacity check (the step waits for both).
    this.decisionRecorded = records.recordRequest(state);
    if (!decision.approved || !patched(SHORT_STEP_PATH_PATCH)) await this.decisionRecorded;
    if (!decision.approved) {
      await this.skipPending(`not run: request rejected by ${decision.approver}${decision.comment ? ` (${decision.comment})` : ''}`);
      setCurrentDetails(`Rejected by ${decision.approver}`);
      return 'ended';
    }
    // The run waits for a check run (its dry run on the same hosts) to end.
    await condition(() => !this.checkRunning());
    if (preflighted && !(await preflighted)) {
      state.error = { message: `the approval by ${decision.approver} is void: ${state.error?.message ?? 'the plan cannot run'}` };
      return 'unrunnable';
    }
    if (decision.standing && state.schedule) {
      // From now on the schedule's runs with this very plan start without waiting for a person.
      const standing = await records.recordStandingApproval({
        scheduleId: state.schedule.id,
        requestId: state.requestId,
        planHash: decision.planHash,
        approver: decision.approver,
        ...(decision.comment ? { comment: decision.comment } : {}),
      });
      state.schedule.standingApprovalId = standing.id;
      await this.decisionRecorded; // this record must land after the decision's (it names the standing approval)
      await records.recordRequest(state);
    }
    return 'approved';
  }

  /**
   * A scheduled run whose plan hash is the one its schedule's standing approval names is approved
   * by it, without waiting for a person (true). Any other plan waits, and says what changed.
   */
  private async approvedAsStanding(plan: Plan): Promise<boolean> {
    const { state } = this;
    if (!state.schedule) return false;
    const found = await records.findStandingApproval({ scheduleId: state.schedule.id, planHash: plan.hash });
    if (!found.approval) {
      if (found.otherPlanHash) state.schedule.planChangedFrom = found.otherPlanHash;
      return false;
    }
    const standing = found.approval;
    delete state.schedule.planChangedFrom;
    state.schedule.standingApprovalId = standing.id;
    state.decision = {
      approver: standing.approver,
      approved: true,
      comment: `standing approval of schedule ${state.schedule.id}, given on request ${standing.requestId}`,
      decidedAt: new Date().toISOString(),
      planHash: plan.hash,
      standingApprovalId: standing.id,
    };
    this.setStatus('running');
    setCurrentDetails(`Approved by the standing approval ${standing.id} (${standing.approver}) of schedule ${state.schedule.id}`);
    return true;
  }

  /** Runs the plan from step `from`; returns how the run ended. */
  private async runSteps(from: number): Promise<'completed' | 'failed' | 'stale_plan'> {
    let stopped: StepOutcome;
    for (const step of this.currentPlan.steps.slice(from)) {
      const stepState = this.stepStateOf(step);
      if (stopped) {
        await this.auditSkipped(stepState, stopped === 'failed' ? 'not run: an earlier step failed' : 'not run: the plan is stale');
        continue;
      }
      const wait = await this.waitForCapacity(step, stepState);
      stopped = await this.runStep(step, stepState, wait);
    }
    await this.auditsSettled();
    return stopped ?? 'completed';
  }

  /**
   * Runs a step on its agent's task queue. A `waiting` or `held` step tells the workflow when it
   * starts; a held one ends the request's pause then (or at an operator's resume, which lifts the hold).
   */
  private async runStep(step: PlanStep, stepState: StepState, wait: StepWait): Promise<StepOutcome> {
    const { state } = this;
    const plan = this.currentPlan;
    const on = step.agent ? ` on ${step.agent}` : '';
    if (!wait) {
      stepState.status = 'running';
      setCurrentDetails(`Running step ${step.index + 1}/${plan.steps.length}: ${step.playbook}${on}`);
    }
    await this.decisionRecorded;
    stepState.startedAt = new Date().toISOString();
    let run: StepRunResult;
    try {
      // A step with an agent goes to that agent's own queue; the summary names it in the Temporal UI.
      const running = playbooks.runStep.executeWithOptions(
        {
          ...playbookStepOptions,
          ...(step.agent ? { taskQueue: hostTaskQueue(workflowInfo().taskQueue, step.agent) } : {}),
          summary: `step ${step.index + 1}: ${step.playbook}${on} (task ${stepState.taskId})`,
        },
        [
          {
            step: { ...step, taskId: stepState.taskId },
            fingerprint: plan.fingerprint,
            ...(wait ? { notifyStart: true } : {}),
            ...(wait === 'held' ? { hold: true } : {}),
          },
        ],
      );
      if (wait === 'held') {
        const ended = running.then(
          () => true,
          () => true,
        );
        await Promise.race([ended, condition(() => stepState.status !== 'waiting' || this.resumeRequest !== undefined)]);
        if (state.status === 'paused') await this.resumeBefore(step);
      }
      run = await running;
    } catch (err) {
      if (isCancellation(err)) throw err;
      const cause = err instanceof ActivityFailure ? err.cause : undefined;
      if (cause instanceof ApplicationFailure && cause.type === STALE_PLAN) {
        delete stepState.startedAt; // it never started
        state.error = { message: `${cause.message}; re-plan the request to continue` };
        await this.auditSkipped(stepState, `not run: ${state.error.message}`);
        return 'stale_plan';
      }
      // The worker kept failing (not the playbook): the step failed without a run to analyze.
      stepState.status = 'failed';
      stepState.finishedAt = new Date().toISOString();
      await this.audit(stepState, { status: 'failed', outcome: `could not run: ${cause?.message ?? String(err)}` });
      return 'failed';
    }
    stepState.exitCode = run.exitCode;
    stepState.startedAt = run.startedAt;
    stepState.finishedAt = run.finishedAt;
    if (run.succeeded) {
      stepState.status = 'completed';
      if (!patched(SHORT_STEP_PATH_PATCH)) {
        await this.audit(stepState, { status: 'completed', outcome: describeSuccess(run), run });
        return undefined;
      }
      // The next step need not wait for this one's audit (a git commit); a cancel of the request
      // must not stop it, and the request ends only once it is in.
      this.auditing.push(
        CancellationScope.nonCancellable(() => this.audit(stepState, { status: 'completed', outcome: describeSuccess(run), run })),
      );
      return undefined;
    }
    stepState.status = 'failed';
    setCurrentDetails(`Analyzing the failure of ${step.playbook}`);
    const findings: LintFinding[] = await analysis.analyzeFailure.executeWithOptions(
      { ...analysisOptions, summary: `analyze step ${step.index + 1}: ${step.playbook}` },
      [step.playbook],
    );
    await this.audit(stepState, { status: 'failed', outcome: describeFailure(run), run, findings });
    return 'failed';
  }

  /**
   * Before a step: how it waits for its agent, if it must. `waiting`: in its agent's queue (agent
   * offline or every slot busy), marked `waiting`, and it runs as soon as the agent takes it.
   * `held`: the agent is overloaded while it runs steps; the request pauses and the agent holds the
   * step until it has room. A check that says neither (made before agents held steps: old
   * histories) pauses here until the agent wakes the request or an operator resumes it.
   */
  private async waitForCapacity(step: PlanStep, stepState: StepState): Promise<StepWait> {
    const { state } = this;
    let recheckMs = this.capacityRecheckMs;
    let wait: StepWait;
    for (;;) {
      this.capacityChanged = false; // a signal from now on (even during the check) means: check again
      const capacity = await records.checkCapacity(step.agent);
      // After an operator's resume, capacity no longer holds this run back (a retry starts afresh).
      if (capacity.ok || this.resumeRequest) break;
      if (capacity.wait) {
        wait = capacity.wait === 'overloaded' ? 'held' : 'waiting';
        stepState.status = 'waiting';
        stepState.waitingReason = capacity.reason;
        break;
      }
      if (state.status !== 'paused' || state.pausedReason !== capacity.reason)
        await this.pause(step, `${capacity.reason}; POST .../resume to go on`, capacity.reason);
      await condition(() => this.resumeRequest !== undefined || this.capacityChanged, recheckMs);
      recheckMs = Math.min(recheckMs * 2, MAX_CAPACITY_RECHECK_MS);
    }
    if (wait === 'held') {
      // Recorded before the step is scheduled: the held step watches for the record of a resume.
      await this.pause(step, `${stepState.waitingReason}; its agent starts it the moment it has room, or POST .../resume`);
    } else if (state.status === 'paused') {
      await this.resumeBefore(step);
    }
    if (wait === 'waiting') {
      await records.recordRequest(state); // shows the waiting step (and why) on the dashboard's stream
      setCurrentDetails(`Step ${step.index + 1} (${step.playbook}) waits: ${stepState.waitingReason}`);
    }
    return wait;
  }

  private async pause(step: PlanStep, what: string, reason = this.stepStateOf(step).waitingReason): Promise<void> {
    this.state.pausedReason = reason;
    await this.finish('paused', `Paused before step ${step.index + 1} (${step.playbook}): ${what}`);
  }

  private async resumeBefore(step: PlanStep): Promise<void> {
    this.state.pausedReason = undefined;
    await this.finish('running', `Resumed before step ${step.index + 1}`);
  }

  /** Sets up a retry from step `from`: new task ids, and a new approval if the plan changed. */
  private async prepareRetry(from: number, action: OperatorAction): Promise<boolean> {
    const { state } = this;
    this.resumeRequest = undefined;
    const approved = this.currentPlan;
    const refreshed = await records.refreshPlan(approved);
    for (const stepState of state.steps.slice(from)) {
      stepState.attempt += 1;
      stepState.taskId = taskIdForAttempt(approved.steps[stepState.index]!.taskId, stepState.attempt);
      stepState.status = 'pending';
      delete stepState.waitingReason;
      delete stepState.exitCode;
      delete stepState.startedAt;
      delete stepState.finishedAt;
      delete stepState.auditCommit;
    }
    if (refreshed.hash === approved.hash) {
      await this.finish('running', `Retrying from step ${from + 1}, asked by ${action.by}`);
      return true;
    }
    // Something changed since the approval (typically the fixed playbook): a person approves again.
    this.plan = refreshed;
    state.plan = refreshed;
    state.previousDecisions.push(state.decision!);
    delete state.decision;
    const decided = await this.awaitDecision(patched(PREVIEW_PATCH) ? this.preflight() : undefined);
    if (decided === 'unrunnable') {
      await this.skipPending(`not run: ${state.error?.message}`);
      await this.finish('unrunnable', `Cannot run: ${state.error?.message}; ask again once it is fixed`);
    }
    return decided === 'approved';
  }

  private async finishCancelled(): Promise<void> {
    const { state } = this;
    const by = state.cancelledBy ? ` by ${state.cancelledBy}` : '';
    for (const stepState of state.steps) {
      if (stepState.status === 'running' || stepState.status === 'waiting') {
        stepState.status = 'cancelled';
        stepState.finishedAt = new Date().toISOString();
        await this.audit(stepState, { status: 'cancelled', outcome: `cancelled${by} while running; its process tree was stopped` });
      }
    }
    await this.skipPending(`not run: request cancelled${by}`);
    if (state.status !== 'failed') await this.finish('cancelled', `Cancelled${by}`);
  }

  private stepStateOf(step: PlanStep): StepState {
    const found = this.state.steps[step.index];
    if (!found) throw ApplicationFailure.nonRetryable(`plan step ${step.index} has no state`);
    return found;
  }

  private async skipPending(outcome: string): Promise<void> {
    for (const stepState of this.state.steps) if (stepState.status === 'pending') await this.auditSkipped(stepState, outcome);
  }

  private async auditSkipped(stepState: StepState, outcome: string): Promise<void> {
    stepState.status = 'skipped';
    await this.audit(stepState, { status: 'skipped', outcome });
  }

  private async audit(
    stepState: StepState,
    result: { status: StepState['status']; outcome: string; run?: StepRunResult; findings?: LintFinding[] },
  ): Promise<void> {
    const step = {
      index: stepState.index,
      taskId: stepState.taskId,
      playbook: stepState.playbook,
      service: this.currentPlan.steps[stepState.index]?.service,
      ...(stepState.host ? { host: stepState.host } : {}),
      ...(stepState.agent ? { agent: stepState.agent } : {}),
    };
    stepState.auditCommit = await this.recordTask(
      `audit step ${stepState.index + 1}: ${stepState.playbook} ${result.status}`,
      step,
      stepState.attempt,
      result,
    );
  }

  /** A checked step's record: its own task id, audited as a check run. */
  private auditCheck(step: PlanStep, checked: CheckStep, run?: StepRunResult): Promise<string> {
    const task = {
      index: step.index,
      taskId: checked.taskId,
      playbook: step.playbook,
      service: step.service,
      ...(limitOf(step) ? { host: limitOf(step) } : {}),
      ...(step.agent ? { agent: step.agent } : {}),
    };
    const result = { status: checked.status, outcome: describeCheckStep(checked, run), ...(run ? { run } : {}), mode: 'check' as const };
    return this.recordTask(
      `audit check of step ${step.index + 1}: ${step.playbook} ${checked.status}`,
      task,
      this.state.steps[step.index]?.attempt ?? 1,
      result,
    );
  }

  /** The audit activity for one task of this request; resolves to its commit. */
  private async recordTask(
    summary: string,
    step: TaskAuditInput['step'],
    attempt: number,
    result: Pick<TaskAuditInput, 'status' | 'outcome' | 'run' | 'findings' | 'mode'>,
  ): Promise<string> {
    const audited = await audits.auditTask.executeWithOptions({ ...auditOptions, summary }, [
      {
        requestId: this.state.requestId,
        planId: this.currentPlan.planId,
        step,
        attempt,
        ...(this.state.decomposition ? { decomposition: this.state.decomposition } : {}),
        ...(this.state.schedule ? { schedule: this.state.schedule } : {}),
        ...result,
      },
    ]);
    return audited.commit;
  }
}

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

function mergeSupplied(before: InputAction['values'], added: InputAction['values']): InputAction['values'] {
  const merged: InputAction['values'] = { ...before };
  for (const [playbook, vars] of Object.entries(added)) merged[playbook] = { ...merged[playbook], ...vars };
  return merged;
}

/** The task id of a step's n-th run: the planned id first, then `<id>.r2`, `<id>.r3`, ... */
function taskIdForAttempt(plannedTaskId: string, attempt: number): string {
  return attempt === 1 ? plannedTaskId : `${plannedTaskId}.r${attempt}`;
}
