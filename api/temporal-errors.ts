// Translates Temporal client errors about a request's workflow into API errors.
import { WorkflowNotFoundError, WorkflowUpdateFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { DecisionRefused } from '../workflows/messages.js';
import { ApiError } from './errors.js';

export function toApiError(err: unknown, requestId: string): unknown {
  if (err instanceof WorkflowNotFoundError) return new ApiError(404, 'not_found', `no request ${requestId}`);
  if (err instanceof WorkflowUpdateFailedError && err.cause instanceof ApplicationFailure) {
    if (err.cause.type === DecisionRefused.notPendingApproval) return new ApiError(409, 'conflict', err.cause.message);
    if (err.cause.type === DecisionRefused.approverRequired) return new ApiError(400, 'invalid_input', err.cause.message);
  }
  return err;
}
