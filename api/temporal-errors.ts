// Translates Temporal client errors about a request's workflow, or a schedule, into API errors.
import { ScheduleNotFoundError, WorkflowNotFoundError, WorkflowUpdateFailedError } from '@temporalio/client';
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

/** gRPC's INVALID_ARGUMENT. */
const GRPC_INVALID_ARGUMENT = 3;

/**
 * A schedule that does not exist (or was deleted) is a 404. With `refusedSpec`, what the server
 * refused of a new Schedule is a 400 with the server's words: Temporal judges cron expressions and
 * time zones itself, and the SDK throws its "Invalid schedule spec" as a TypeError.
 */
export function toScheduleApiError(err: unknown, scheduleId: string, options: { refusedSpec?: boolean } = {}): unknown {
  if (err instanceof ScheduleNotFoundError) return new ApiError(404, 'not_found', `no schedule ${scheduleId}`);
  if (options.refusedSpec) {
    if (err instanceof TypeError) return new ApiError(400, 'invalid_input', `the schedule was refused: ${err.message}`);
    const cause = (err as { cause?: { code?: unknown; details?: unknown } } | undefined)?.cause;
    if (cause?.code === GRPC_INVALID_ARGUMENT) {
      return new ApiError(400, 'invalid_input', `the schedule was refused: ${String(cause.details ?? (err as Error).message)}`);
    }
  }
  return err;
}
