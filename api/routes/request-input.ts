// POST /requests/:id/input: values for the required variables a plan could not fill (status
// needs_input), recorded under the token's identity. The request is planned again with them and
// then waits for approval as usual.
import { Hono } from 'hono';
import { z } from 'zod';
import { provideInputUpdate } from '../../workflows/messages.js';
import { identityOf, requireRole, type AuthEnv } from '../auth.js';
import type { ApiDeps } from '../deps.js';
import { answer, docs, errors, requestSchema } from '../openapi.js';
import { presentRequest } from '../present.js';
import { assertOwnIfRequester, sendUpdate } from '../request-updates.js';
import { jsonBody } from '../validation.js';

const inputBody = z.object({
  /** playbook path → variable → value, e.g. {"kuma-config-update.yml": {"kuma_monitors": [...]}} */
  values: z
    .record(z.string(), z.record(z.string(), z.unknown()))
    .meta({ description: 'playbook path → variable → value, e.g. {"greet.yml": {"greeting": "hello"}}' }),
});

export function requestInputRoutes(deps: ApiDeps) {
  return new Hono<AuthEnv>().post(
    '/requests/:request_id/input',
    docs({
      summary: 'Give the values a needs_input request lacks',
      description: 'The request is planned again with them, then waits for approval.',
      tags: ['requests'],
      responses: {
        202: answer('accepted; the request is planned again', requestSchema),
        ...errors({
          403: 'a requester may give input only to their own requests',
          404: true,
          409: 'the request does not need input, or the values do not fill what it lacks',
        }),
      },
    }),
    requireRole('requester', 'approver'),
    jsonBody(inputBody),
    async (c) => {
      const requestId = c.req.param('request_id');
      const body = c.req.valid('json');
      const identity = identityOf(c);
      // The values a plan runs with are its requester's to give (or an approver's, who then may not approve it).
      await assertOwnIfRequester(deps, identity, requestId, 'give input to');
      const state = await sendUpdate(deps.client, requestId, provideInputUpdate, [{ by: identity.name, values: body.values }]);
      return c.json(presentRequest(state), 202);
    },
  );
}
