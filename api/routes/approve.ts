// POST /approve: a person's decision on a planned request. It needs an identity, and may name the
// plan hash the person reviewed (refused with 409 if the plan is no longer that one).
import { Hono } from 'hono';
import { z } from 'zod';
import { decideUpdate } from '../../workflows/messages.js';
import type { ApiDeps } from '../deps.js';
import { requireIdentity } from '../identity.js';
import { sendUpdate } from '../request-updates.js';
import { jsonBody } from '../validation.js';

const approveBody = z.object({
  request_id: z.string().trim().min(1, 'request_id is required').max(100),
  approved: z.boolean({ error: 'approved must be true or false' }),
  comment: z.string().max(2000).optional(),
  approver: z.string().max(200).optional(),
  plan_hash: z.string().regex(/^[0-9a-f]{64}$/, 'plan_hash is the 64-hex plan.hash of the request').optional(),
});

export function approveRoutes({ client }: ApiDeps) {
  return new Hono().post('/approve', jsonBody(approveBody), async (c) => {
    const body = c.req.valid('json');
    const approver = requireIdentity(c, body.approver);
    const decision = { approver, approved: body.approved, comment: body.comment, planHash: body.plan_hash };
    const state = await sendUpdate(client, body.request_id, decideUpdate, [decision]);
    return c.json({ request_id: body.request_id, dispatch_started: state.status === 'running', status: state.status });
  });
}
