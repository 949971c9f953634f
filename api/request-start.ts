// What a request workflow starts with, whoever starts it: POST /chat (a person, now) or a Temporal
// Schedule (POST /schedules, on time). The operator's settings travel with each request, so one
// started by a Schedule waits, retries and notifies exactly as one a person asked for.
import type { RequestInput } from '../domain/request-state.js';
import { notifyTargetsConfigured, type ChiffonConfig } from '../lib/config.js';

export function requestStartInput(
  config: ChiffonConfig,
  request: { message: string; requestedBy: string } & (
    | { requestId: string; schedule?: never }
    // A scheduled run has no request id of its own: it takes its workflow id's (`request-<schedule id>-<time>`).
    | { schedule: { id: string }; requestId?: never }
  ),
): RequestInput {
  return {
    ...(request.requestId !== undefined ? { requestId: request.requestId } : {}),
    message: request.message,
    approvalTimeout: config.approvalTimeout,
    retryWindow: config.retryWindow,
    capacityRecheckMs: config.capacityRecheckMs,
    requestedBy: request.requestedBy,
    allowSelfApproval: config.allowSelfApproval,
    // Only with a target: an install without one has no notification in its histories.
    ...(notifyTargetsConfigured(config.notify) ? { notifyOn: config.notify.events } : {}),
    ...(request.schedule ? { schedule: { id: request.schedule.id } } : {}),
  };
}
