// POST /approve: a person's decision on a planned request. It needs an identity.
import { Hono } from 'hono';
import { z } from 'zod';
import { workflowIdFor } from '../../domain/request-state.js';
import { decideUpdate } from '../../workflows/messages.js';
import type { ApiDeps } from '../deps.js';
import { ApiError } from '../errors.js';
import { toApiError } from '../temporal-errors.js';
import { jsonBody } from '../validation.js';

const approveBody = z.object({
  request_id: z.string().trim().min(1, 'request_id is required'),
  approved: z.boolean({ error: 'approved must be true or false' }),
  comment: z.string().max(2000).optional(),
  /** Who decides; the X-Chiffon-User header may carry it instead. */
  approver: z.string().trim().min(1).max(200).optional(),
});

export function approveRoutes({ client }: ApiDeps) {
  return new Hono().post('/approve', jsonBody(approveBody), async (c) => {
    const body = c.req.valid('json');
    const approver = body.approver ?? c.req.header('x-chiffon-user')?.trim();
    if (!approver) throw new ApiError(400, 'approver_required', 'say who decides: "approver" in the body or the X-Chiffon-User header');
    const handle = client.workflow.getHandle(workflowIdFor(body.request_id));
    const state = await handle
      .executeUpdate(decideUpdate, { args: [{ approver, approved: body.approved, comment: body.comment }] })
      .catch((err: unknown) => {
        throw toApiError(err, body.request_id);
      });
    return c.json({ request_id: body.request_id, dispatch_started: state.status === 'running', status: state.status });
  });
}
