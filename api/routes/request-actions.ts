// Operator actions on one request: cancel it, retry it from the failed step, resume it from a pause.
// Each is recorded by the workflow under the token's identity. Approvers (and admins) may act on any
// request; a requester may cancel their own request, nothing else.
import { Hono } from 'hono';
import { cancelUpdate, resumeUpdate, retryUpdate } from '../../workflows/messages.js';
import { identityOf, requireRole, type AuthEnv } from '../auth.js';
import type { ApiDeps } from '../deps.js';
import { ApiError } from '../errors.js';
import { answer, docs, errors, requestSchema } from '../openapi.js';
import { presentRequest } from '../present.js';
import { requesterOf, sendUpdate } from '../request-updates.js';

const actions = {
  cancel: {
    update: cancelUpdate,
    summary: 'Cancel a request',
    description:
      "Stops a running playbook's process tree, audits that step cancelled and the rest skipped. A requester may cancel only a request they asked for.",
    conflict: 'the request has already ended',
    roles: ['requester', 'approver'] as const,
    forbidden: 'a requester may cancel only their own requests',
  },
  retry: {
    update: retryUpdate,
    summary: 'Retry a failed request from its failed step',
    description: 'Re-runs a failed request from its failed step in the same workflow; a changed plan needs approval again.',
    conflict: 'the request has not failed, or its retry window is over',
    roles: ['approver'] as const,
    forbidden: true as const,
  },
  resume: {
    update: resumeUpdate,
    summary: 'Resume a paused request',
    description: 'Goes on with a request paused for low capacity, without waiting for capacity to return (for the rest of the run).',
    conflict: 'the request is not paused',
    roles: ['approver'] as const,
    forbidden: true as const,
  },
};

export function requestActionRoutes(deps: ApiDeps) {
  const routes = new Hono<AuthEnv>();
  for (const [action, { update, summary, description, conflict, roles, forbidden }] of Object.entries(actions)) {
    routes.post(
      `/requests/:request_id/${action}`,
      docs({
        summary,
        description,
        tags: ['requests'],
        responses: {
          202: answer('accepted; the request moves on in its workflow (GET it to follow)', requestSchema),
          ...errors({ 403: forbidden, 404: true, 409: conflict }),
        },
      }),
      requireRole(...roles),
      async (c) => {
        const requestId = c.req.param('request_id');
        const { name, role } = identityOf(c);
        if (role === 'requester' && (await requesterOf(deps, requestId)) !== name) {
          throw new ApiError(
            403,
            'forbidden',
            `a requester may ${action} only their own requests, and ${name} did not ask for request ${requestId}`,
            {
              required_roles: ['approver', 'admin'],
              role,
            },
          );
        }
        const state = await sendUpdate(deps.client, requestId, update, [{ by: name }]);
        // 202: accepted; the request moves on in its workflow (GET it to follow).
        return c.json(presentRequest(state), 202);
      },
    );
  }
  return routes;
}
