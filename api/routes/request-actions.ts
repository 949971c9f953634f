// Operator actions on one request: cancel it, retry it from the failed step, resume it from a pause.
// Each is recorded by the workflow under the token's identity. Approvers (and admins) may act on any
// request; a requester may cancel their own request, nothing else. Each answers 202 with the
// request's state: it moves on in its workflow (GET it to follow).
import { Hono } from 'hono';
import { cancelUpdate, resumeUpdate, retryUpdate } from '../../workflows/messages.js';
import { identityOf, requireRole, type AuthEnv } from '../auth.js';
import type { ApiDeps } from '../deps.js';
import { answer, docs, errors, requestSchema } from '../openapi.js';
import { presentRequest } from '../present.js';
import { assertOwnIfRequester, sendUpdate } from '../request-updates.js';

const accepted = answer('accepted; the request moves on in its workflow (GET it to follow)', requestSchema);

export function requestActionRoutes(deps: ApiDeps) {
  return new Hono<AuthEnv>()
    .post(
      '/requests/:request_id/cancel',
      docs({
        summary: 'Cancel a request',
        description:
          "Stops a running playbook's process tree, audits that step cancelled and the rest skipped. A requester may cancel only a request they asked for.",
        tags: ['requests'],
        responses: {
          202: accepted,
          ...errors({ 403: 'a requester may cancel only their own requests', 404: true, 409: 'the request has already ended' }),
        },
      }),
      requireRole('requester', 'approver'),
      async (c) => {
        const requestId = c.req.param('request_id');
        await assertOwnIfRequester(deps, identityOf(c), requestId, 'cancel');
        const state = await sendUpdate(deps.client, requestId, cancelUpdate, [{ by: identityOf(c).name }]);
        return c.json(presentRequest(state), 202);
      },
    )
    .post(
      '/requests/:request_id/retry',
      docs({
        summary: 'Retry a failed request from its failed step',
        description: 'Re-runs a failed request from its failed step in the same workflow; a changed plan needs approval again.',
        tags: ['requests'],
        responses: { 202: accepted, ...errors({ 403: true, 404: true, 409: 'the request has not failed, or its retry window is over' }) },
      }),
      requireRole('approver'),
      async (c) => {
        const state = await sendUpdate(deps.client, c.req.param('request_id'), retryUpdate, [{ by: identityOf(c).name }]);
        return c.json(presentRequest(state), 202);
      },
    )
    .post(
      '/requests/:request_id/resume',
      docs({
        summary: 'Resume a paused request',
        description: 'Goes on with a request paused for low capacity, without waiting for capacity to return (for the rest of the run).',
        tags: ['requests'],
        responses: { 202: accepted, ...errors({ 403: true, 404: true, 409: 'the request is not paused' }) },
      }),
      requireRole('approver'),
      async (c) => {
        const state = await sendUpdate(deps.client, c.req.param('request_id'), resumeUpdate, [{ by: identityOf(c).name }]);
        return c.json(presentRequest(state), 202);
      },
    );
}
