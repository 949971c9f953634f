// Whether a person's act on a request (an Update: decide, retry, input, cancel, resume, check run)
// may be taken now, and if not, why. Pure: the workflow's Update validators throw what these return,
// so a refused act leaves no trace in the history, and the API turns the refusal's type into 400,
// 403 or 409 (api/temporal-errors.ts).
import { whyNotApprover } from './four-eyes.js';
import { jsonValueDepth, MAX_JSON_DEPTH } from './json-limits.js';
import { ENDED_STATUSES, type DecisionInput, type InputAction, type OperatorAction, type RequestState } from './request-state.js';

/** The refusals' failure types (part of the message contract, workflows/messages.ts). */
export const Refused = {
  identityRequired: 'IdentityRequired',
  notPendingApproval: 'NotPendingApproval',
  planChanged: 'PlanChanged',
  notFailed: 'NotFailed',
  notPaused: 'NotPaused',
  alreadyEnded: 'AlreadyEnded',
  notNeedingInput: 'NotNeedingInput',
  selfApproval: 'SelfApproval',
  checkRunGoing: 'CheckRunGoing',
  notScheduled: 'NotScheduled',
} as const;

export interface Refusal {
  type: (typeof Refused)[keyof typeof Refused];
  message: string;
}

/** What the rules look at: the request's state and what the workflow holds beside it. */
export interface RequestView {
  state: RequestState;
  /** The plan's hash, when there is a plan. */
  planHash: string | undefined;
  /** A retry or an input was asked for and not yet taken up. */
  retryAsked: boolean;
  inputAsked: boolean;
  /** A check run is waiting or running. */
  checkRunning: boolean;
  allowSelfApproval: boolean;
}

function refusal(type: Refusal['type'], message: string): Refusal {
  return { type, message };
}

function identityMissing(who: string | undefined, what: string): Refusal | undefined {
  return who?.trim() ? undefined : refusal(Refused.identityRequired, `${what} needs the identity of the person asking`);
}

export function whyNotDecide(view: RequestView, decision: DecisionInput): Refusal | undefined {
  const { state, planHash } = view;
  const missing = identityMissing(decision.approver, 'a decision');
  if (missing) return missing;
  if (state.status !== 'pending_approval' || !planHash) {
    return refusal(Refused.notPendingApproval, `request ${state.requestId} is ${state.status}, not pending approval`);
  }
  if (decision.planHash && decision.planHash !== planHash) {
    return refusal(Refused.planChanged, `the plan changed since you looked at it (now ${planHash}); review it again`);
  }
  if (decision.standing && !state.schedule) {
    return refusal(
      Refused.notScheduled,
      `request ${state.requestId} was not started by a schedule: only a scheduled run's approval can stand`,
    );
  }
  if (decision.standing && !decision.approved) {
    return refusal(Refused.notScheduled, 'a rejection cannot stand: reject this run, and pause or delete the schedule');
  }
  // Four eyes: whoever asked for the work, or gave its values, does not also approve it, unless configured so.
  const notApprover = decision.approved && !view.allowSelfApproval ? whyNotApprover(state, decision.approver) : undefined;
  return notApprover ? refusal(Refused.selfApproval, notApprover) : undefined;
}

export function whyNotRetry(view: RequestView, action: OperatorAction): Refusal | undefined {
  const { state } = view;
  const missing = identityMissing(action.by, 'a retry');
  if (missing) return missing;
  if ((state.status !== 'failed' && state.status !== 'unrunnable') || view.retryAsked) {
    return refusal(Refused.notFailed, `request ${state.requestId} is ${state.status}; only a failed or unrunnable request can be retried`);
  }
  return undefined;
}

export function whyNotInput(view: RequestView, action: InputAction): Refusal | undefined {
  const { state } = view;
  const missing = identityMissing(action.by, 'input');
  if (missing) return missing;
  // Bounded here too (the API refuses it first): deeper values would overflow the plan hash.
  const tooDeep = Object.values(action.values ?? {}).some((vars) =>
    Object.values(vars ?? {}).some((value) => jsonValueDepth(value) > MAX_JSON_DEPTH),
  );
  if (tooDeep) return refusal(Refused.notNeedingInput, `a value nests deeper than ${MAX_JSON_DEPTH} levels`);
  if (state.status !== 'needs_input' || view.inputAsked) {
    return refusal(Refused.notNeedingInput, `request ${state.requestId} is ${state.status}, not waiting for input`);
  }
  const wanted = new Set((state.missingInputs ?? []).flatMap((m) => m.vars.map((v) => `${m.playbook}:${v}`)));
  const given = Object.entries(action.values ?? {}).flatMap(([playbook, vars]) => Object.keys(vars ?? {}).map((v) => `${playbook}:${v}`));
  const unknown = given.filter((key) => !wanted.has(key));
  if (given.length === 0 || unknown.length > 0) {
    return refusal(
      Refused.notNeedingInput,
      `give values for the missing variables (${[...wanted].join(', ')})${unknown.length ? `; not asked for: ${unknown.join(', ')}` : ''}`,
    );
  }
  return undefined;
}

export function whyNotCancel(view: RequestView, action: OperatorAction): Refusal | undefined {
  const { state } = view;
  const missing = identityMissing(action.by, 'a cancel');
  if (missing) return missing;
  if (ENDED_STATUSES.includes(state.status) || state.cancelledBy) {
    return refusal(Refused.alreadyEnded, `request ${state.requestId} has already ended (${state.status})`);
  }
  return undefined;
}

export function whyNotResume(view: RequestView, action: OperatorAction): Refusal | undefined {
  const { state } = view;
  const missing = identityMissing(action.by, 'a resume');
  if (missing) return missing;
  return state.status === 'paused' ? undefined : refusal(Refused.notPaused, `request ${state.requestId} is ${state.status}, not paused`);
}

export function whyNotCheckRun(view: RequestView, action: OperatorAction): Refusal | undefined {
  const { state } = view;
  const missing = identityMissing(action.by, 'a check run');
  if (missing) return missing;
  if (state.status !== 'pending_approval' || !view.planHash) {
    return refusal(
      Refused.notPendingApproval,
      `request ${state.requestId} is ${state.status}: only a plan waiting for approval is checked`,
    );
  }
  if (view.checkRunning) {
    return refusal(Refused.checkRunGoing, `check run ${state.checkRun?.number} of request ${state.requestId} is still going`);
  }
  return undefined;
}
