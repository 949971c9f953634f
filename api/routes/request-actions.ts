// Operator actions on one request: cancel it, retry it from the failed step, resume it from a pause.
// Each needs an identity ({"by"} or the X-Chiffon-User header), recorded by the workflow.
import { Hono } from 'hono';
import { z } from 'zod';
import { cancelUpdate, resumeUpdate, retryUpdate } from '../../workflows/messages.js';
import type { ApiDeps } from '../deps.js';
import { requireIdentity } from '../identity.js';
import { presentRequest } from '../present.js';
import { sendUpdate } from '../request-updates.js';
import { jsonBody } from '../validation.js';

const actionBody = z.object({ by: z.string().max(200).optional() });

const actions = {
  // Stops a running playbook's process tree, audits that step cancelled and the rest skipped.
  cancel: cancelUpdate,
  // Re-runs a failed request from its failed step; a changed plan needs approval again.
  retry: retryUpdate,
  // Goes on with a request paused for low capacity, without waiting for capacity to return.
  resume: resumeUpdate,
};

export function requestActionRoutes({ client }: ApiDeps) {
  const routes = new Hono();
  for (const [action, update] of Object.entries(actions)) {
    routes.post(`/requests/:request_id/${action}`, jsonBody(actionBody), async (c) => {
      const requestId = c.req.param('request_id');
      const by = requireIdentity(c, c.req.valid('json').by);
      const state = await sendUpdate(client, requestId, update, [{ by }]);
      // 202: accepted; the request moves on in its workflow (GET it to follow).
      return c.json(presentRequest(state), 202);
    });
  }
  return routes;
}
