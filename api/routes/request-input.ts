// POST /requests/:id/input: values for the required variables a plan could not fill (status
// needs_input). The request is planned again with them and then waits for approval as usual.
import { Hono } from 'hono';
import { z } from 'zod';
import { provideInputUpdate } from '../../workflows/messages.js';
import type { ApiDeps } from '../deps.js';
import { requireIdentity } from '../identity.js';
import { presentRequest } from '../present.js';
import { sendUpdate } from '../request-updates.js';
import { jsonBody } from '../validation.js';

const inputBody = z.object({
  by: z.string().max(200).optional(),
  /** playbook path → variable → value, e.g. {"kuma-config-update.yml": {"kuma_monitors": [...]}} */
  values: z.record(z.string(), z.record(z.string(), z.unknown())),
});

export function requestInputRoutes({ client }: ApiDeps) {
  return new Hono().post('/requests/:request_id/input', jsonBody(inputBody), async (c) => {
    const requestId = c.req.param('request_id');
    const body = c.req.valid('json');
    const by = requireIdentity(c, body.by);
    const state = await sendUpdate(client, requestId, provideInputUpdate, [{ by, values: body.values }]);
    return c.json(presentRequest(state), 202);
  });
}
