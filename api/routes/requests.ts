// GET /requests/:request_id: the live state of a request, from its workflow.
import { Hono } from 'hono';
import { workflowIdFor } from '../../domain/request-state.js';
import { requestStateQuery } from '../../workflows/messages.js';
import { anyRole, type AuthEnv } from '../auth.js';
import type { ApiDeps } from '../deps.js';
import { answer, docs, errors, requestSchema } from '../openapi.js';
import { presentRequest } from '../present.js';
import { toApiError } from '../temporal-errors.js';

export function requestRoutes({ client }: ApiDeps) {
  return new Hono<AuthEnv>().get(
    '/requests/:request_id',
    docs({
      summary: 'The live state of a request',
      description: 'Status, plan (with its hash), decision, operator actions and each step, from the workflow.',
      tags: ['requests'],
      responses: { 200: answer('the request', requestSchema), ...errors({ 404: true }) },
    }),
    anyRole(),
    async (c) => {
      const requestId = c.req.param('request_id');
      const state = await client.workflow
        .getHandle(workflowIdFor(requestId))
        .query(requestStateQuery)
        .catch((err: unknown) => {
          throw toApiError(err, requestId);
        });
      return c.json(presentRequest(state));
    },
  );
}
