// Translates Temporal client errors about a request's workflow into API errors.
import { WorkflowNotFoundError, WorkflowUpdateFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { Refused } from '../workflows/messages.js';
import { ApiError } from './errors.js';

export function toApiError(err: unknown, requestId: string): unknown {
  if (err instanceof WorkflowNotFoundError) return new ApiError(404, 'not_found', `no request ${requestId}`);
  if (err instanceof WorkflowUpdateFailedError && err.cause instanceof ApplicationFailure) {
    // Refused by an update validator: nothing was written to the workflow's history.
    if (err.cause.type === Refused.identityRequired) return new ApiError(400, 'identity_required', err.cause.message);
    // Four-eyes: the requester may not approve their own request (unless CHIFFON_ALLOW_SELF_APPROVAL).
    if (err.cause.type === Refused.selfApproval) return new ApiError(403, 'self_approval', err.cause.message);
    return new ApiError(409, 'conflict', err.cause.message);
  }
  return err;
}
