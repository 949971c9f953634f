// The request workflow's messages, defined once and used by both the workflow and its clients.
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import type { DecisionInput, InputAction, OperatorAction, RequestState } from '../domain/request-state.js';

/** The whole state: status, plan and each step. */
export const requestStateQuery = defineQuery<RequestState>('requestState');

/** Returns once planning has ended (pending approval or unplannable), so a client can show the plan. */
export const planReadyUpdate = defineUpdate<RequestState>('planReady');

/** A person's approval or rejection. Its validator refuses undecidable requests without a trace. */
export const decideUpdate = defineUpdate<RequestState, [DecisionInput]>('decide');

/** Re-run a failed request from its failed step (after someone fixed the playbook). */
export const retryUpdate = defineUpdate<RequestState, [OperatorAction]>('retryFromFailedStep');

/** Supply values for required variables the plan could not fill (status needs_input). */
export const provideInputUpdate = defineUpdate<RequestState, [InputAction]>('provideInput');

/** Cancel a request (recording who asked): a running playbook is stopped, the rest skipped. */
export const cancelUpdate = defineUpdate<RequestState, [OperatorAction]>('cancel');

/** Resume a request paused for low capacity, without waiting for capacity to return. */
export const resumeUpdate = defineUpdate<RequestState, [OperatorAction]>('resume');

/**
 * Run the pending plan with `--check --diff` (a dry run that changes nothing). Accepted at once; the
 * check run goes on in the workflow (`state.checkRun`), and an approval meanwhile waits for it.
 */
export const checkRunUpdate = defineUpdate<RequestState, [OperatorAction]>('checkRun');

/** Sent by a step that had to wait (its host offline or busy) the moment its agent starts it. */
export const stepStartedSignal = defineSignal<[{ taskId: string; agent?: string }]>('stepStarted');

/** Sent by an agent whose machine has room again: a paused request checks capacity at once. */
export const capacityChangedSignal = defineSignal('capacityChanged');

/** Failure types the update validators raise (domain/update-rules.ts), so the API can answer 400, 403 or 409. */
export { Refused } from '../domain/update-rules.js';

/** Search attributes registered by temporal-dev.sh: the Temporal UI lists requests by them. */
export const statusSearchAttribute = defineSearchAttributeKey('ChiffonStatus', SearchAttributeType.KEYWORD);
export const servicesSearchAttribute = defineSearchAttributeKey('ChiffonServices', SearchAttributeType.KEYWORD_LIST);
