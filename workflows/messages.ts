// The request workflow's messages, defined once and used by both the workflow and its clients.
import { defineQuery, defineUpdate } from '@temporalio/workflow';
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import type { DecisionInput, RequestState } from '../domain/request-state.js';

/** The whole state: status, plan and each step. */
export const requestStateQuery = defineQuery<RequestState>('requestState');

/** Returns once planning has ended (pending approval or unplannable), so a client can show the plan. */
export const planReadyUpdate = defineUpdate<RequestState>('planReady');

/** A person's approval or rejection. Its validator refuses undecidable requests without a trace. */
export const decideUpdate = defineUpdate<RequestState, [DecisionInput]>('decide');

/** Failure types the decide validator raises, so the API can answer 400 or 409. */
export const DecisionRefused = {
  approverRequired: 'ApproverRequired',
  notPendingApproval: 'NotPendingApproval',
} as const;

/** Search attributes registered by temporal-dev.sh: the Temporal UI lists requests by them. */
export const statusSearchAttribute = defineSearchAttributeKey('ChiffonStatus', SearchAttributeType.KEYWORD);
export const servicesSearchAttribute = defineSearchAttributeKey('ChiffonServices', SearchAttributeType.KEYWORD_LIST);
