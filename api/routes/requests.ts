// GET /requests/:request_id: the live state of a request, from its workflow.
import { Hono } from 'hono';
import { workflowIdFor } from '../../domain/request-state.js';
import { requestStateQuery } from '../../workflows/messages.js';
import type { ApiDeps } from '../deps.js';
import { presentRequest } from '../present.js';
import { toApiError } from '../temporal-errors.js';

export function requestRoutes({ client }: ApiDeps) {
  return new Hono().get('/requests/:request_id', async (c) => {
    const requestId = c.req.param('request_id');
    const state = await client.workflow
      .getHandle(workflowIdFor(requestId))
      .query(requestStateQuery)
      .catch((err: unknown) => {
        throw toApiError(err, requestId);
      });
    return c.json(presentRequest(state));
  });
}
