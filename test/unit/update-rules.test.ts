import { describe, expect, it } from 'vitest';
import type { RequestState } from '../../domain/request-state.js';
import {
  Refused,
  whyNotCancel,
  whyNotCheckRun,
  whyNotDecide,
  whyNotInput,
  whyNotResume,
  whyNotRetry,
  type RequestView,
} from '../../domain/update-rules.js';

const HASH = 'a'.repeat(64);

function view(state: Partial<RequestState> = {}, extra: Partial<RequestView> = {}): RequestView {
  return {
    state: {
      requestId: 'r1',
      message: 'deploy kuma',
      status: 'pending_approval',
      requestedBy: 'alice',
      intents: [],
      steps: [],
      previousDecisions: [],
      operatorActions: [],
      ...state,
    },
    planHash: HASH,
    retryAsked: false,
    inputAsked: false,
    checkRunning: false,
    allowSelfApproval: false,
    ...extra,
  };
}

const typeOf = (refusal: { type: string } | undefined) => refusal?.type;

describe('a decision', () => {
  it('is taken from another person, on the plan they looked at', () => {
    expect(whyNotDecide(view(), { approver: 'bob', approved: true, planHash: HASH })).toBeUndefined();
    expect(whyNotDecide(view(), { approver: 'bob', approved: false })).toBeUndefined();
  });

  it('needs an identity, a pending plan and the same plan hash', () => {
    expect(typeOf(whyNotDecide(view(), { approver: '  ', approved: true }))).toBe(Refused.identityRequired);
    expect(typeOf(whyNotDecide(view({ status: 'running' }), { approver: 'bob', approved: true }))).toBe(Refused.notPendingApproval);
    expect(typeOf(whyNotDecide(view({}, { planHash: undefined }), { approver: 'bob', approved: true }))).toBe(Refused.notPendingApproval);
    const changed = whyNotDecide(view(), { approver: 'bob', approved: true, planHash: 'b'.repeat(64) });
    expect(changed).toEqual({
      type: Refused.planChanged,
      message: `the plan changed since you looked at it (now ${HASH}); review it again`,
    });
  });

  it('keeps four eyes: not the requester nor who gave input, unless self-approval is allowed; rejecting is always fine', () => {
    expect(typeOf(whyNotDecide(view(), { approver: ' Alice', approved: true }))).toBe(Refused.selfApproval);
    const supplied = view({ operatorActions: [{ action: 'input', by: 'carol', at: 'now' }] });
    expect(typeOf(whyNotDecide(supplied, { approver: 'carol', approved: true }))).toBe(Refused.selfApproval);
    expect(whyNotDecide(view({}, { allowSelfApproval: true }), { approver: 'alice', approved: true })).toBeUndefined();
    expect(whyNotDecide(view(), { approver: 'alice', approved: false })).toBeUndefined();
  });
});

describe('operator acts', () => {
  it('retry: a failed or unrunnable request, once', () => {
    expect(whyNotRetry(view({ status: 'failed' }), { by: 'bob' })).toBeUndefined();
    expect(whyNotRetry(view({ status: 'unrunnable' }), { by: 'bob' })).toBeUndefined();
    expect(typeOf(whyNotRetry(view({ status: 'failed' }, { retryAsked: true }), { by: 'bob' }))).toBe(Refused.notFailed);
    expect(typeOf(whyNotRetry(view({ status: 'completed' }), { by: 'bob' }))).toBe(Refused.notFailed);
    expect(typeOf(whyNotRetry(view({ status: 'failed' }), { by: '' }))).toBe(Refused.identityRequired);
  });

  it('cancel: anything that has not ended nor been cancelled', () => {
    expect(whyNotCancel(view({ status: 'running' }), { by: 'bob' })).toBeUndefined();
    expect(whyNotCancel(view({ status: 'failed' }), { by: 'bob' })).toBeUndefined(); // a failed request waits for a retry
    expect(typeOf(whyNotCancel(view({ status: 'completed' }), { by: 'bob' }))).toBe(Refused.alreadyEnded);
    expect(typeOf(whyNotCancel(view({ status: 'running', cancelledBy: 'bob' }), { by: 'carol' }))).toBe(Refused.alreadyEnded);
  });

  it('resume: a paused request only', () => {
    expect(whyNotResume(view({ status: 'paused' }), { by: 'bob' })).toBeUndefined();
    expect(typeOf(whyNotResume(view({ status: 'running' }), { by: 'bob' }))).toBe(Refused.notPaused);
  });

  it('check run: a plan waiting for approval, one check run at a time', () => {
    expect(whyNotCheckRun(view(), { by: 'alice' })).toBeUndefined();
    expect(typeOf(whyNotCheckRun(view({ status: 'running' }), { by: 'alice' }))).toBe(Refused.notPendingApproval);
    const going = whyNotCheckRun(view({}, { checkRunning: true }), { by: 'alice' });
    expect(typeOf(going)).toBe(Refused.checkRunGoing);
  });
});

describe('input', () => {
  const needing = view({
    status: 'needs_input',
    missingInputs: [{ playbook: 'greet.yml', vars: ['greeting'] }] as RequestState['missingInputs'],
  });

  it('gives values for exactly the missing variables, once', () => {
    expect(whyNotInput(needing, { by: 'alice', values: { 'greet.yml': { greeting: 'hi' } } })).toBeUndefined();
    expect(typeOf(whyNotInput({ ...needing, inputAsked: true }, { by: 'alice', values: { 'greet.yml': { greeting: 'hi' } } }))).toBe(
      Refused.notNeedingInput,
    );
    expect(whyNotInput(needing, { by: 'alice', values: { 'greet.yml': { greeting: 'hi', other: 1 } } })?.message).toBe(
      'give values for the missing variables (greet.yml:greeting); not asked for: greet.yml:other',
    );
    expect(typeOf(whyNotInput(needing, { by: 'alice', values: {} }))).toBe(Refused.notNeedingInput);
    expect(typeOf(whyNotInput(view(), { by: 'alice', values: { 'greet.yml': { greeting: 'hi' } } }))).toBe(Refused.notNeedingInput);
  });

  it('refuses a value nested deeper than the limit', () => {
    let deep: unknown = 1;
    for (let i = 0; i < 40; i++) deep = { a: deep };
    expect(whyNotInput(needing, { by: 'alice', values: { 'greet.yml': { greeting: deep } } })?.message).toMatch(
      /nests deeper than 32 levels/,
    );
  });
});
