// Operator actions on one request: cancel it, retry it from the failed step, resume it from a pause.
import { Hono } from 'hono';
import { z } from 'zod';
import { workflowIdFor, type RequestStatus } from '../../domain/request-state.js';
import { requestStateQuery, resumeUpdate, retryUpdate } from '../../workflows/messages.js';
import type { ApiDeps } from '../deps.js';
import { ApiError } from '../errors.js';
import { requireIdentity } from '../identity.js';
import { presentRequest } from '../present.js';
import { toApiError } from '../temporal-errors.js';
import { jsonBody } from '../validation.js';

const actionBody = z.object({ by: z.string().max(200).optional() });

/** A request in one of these has ended; nothing is left to cancel. */
const ENDED: readonly RequestStatus[] = ['unplannable', 'expired', 'rejected', 'completed', 'stale_plan', 'cancelled'];

export function requestActionRoutes({ client }: ApiDeps) {
  const handleFor = (requestId: string) => client.workflow.getHandle(workflowIdFor(requestId));

  return new Hono()
    .post('/requests/:request_id/cancel', jsonBody(actionBody), async (c) => {
      const requestId = c.req.param('request_id');
      const by = requireIdentity(c, c.req.valid('json').by);
      const handle = handleFor(requestId);
      const state = await handle.query(requestStateQuery).catch((err: unknown) => {
        throw toApiError(err, requestId);
      });
      if (ENDED.includes(state.status)) throw new ApiError(409, 'conflict', `request ${requestId} has already ended (${state.status})`);
      // The workflow stops a running playbook's process tree, audits the step as cancelled and the rest as skipped.
      await handle.cancel().catch((err: unknown) => {
        throw toApiError(err, requestId);
      });
      return c.json({ request_id: requestId, cancel_requested: true, by }, 202);
    })
    .post('/requests/:request_id/retry', jsonBody(actionBody), async (c) => {
      const requestId = c.req.param('request_id');
      const by = requireIdentity(c, c.req.valid('json').by);
      const state = await handleFor(requestId)
        .executeUpdate(retryUpdate, { args: [{ by }] })
        .catch((err: unknown) => {
          throw toApiError(err, requestId);
        });
      return c.json(presentRequest(state), 202);
    })
    .post('/requests/:request_id/resume', jsonBody(actionBody), async (c) => {
      const requestId = c.req.param('request_id');
      const by = requireIdentity(c, c.req.valid('json').by);
      const state = await handleFor(requestId)
        .executeUpdate(resumeUpdate, { args: [{ by }] })
        .catch((err: unknown) => {
          throw toApiError(err, requestId);
        });
      return c.json(presentRequest(state), 202);
    });
}
