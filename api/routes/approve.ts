// POST /approve: a person's decision on a planned request, recorded under the token's identity. It
// may name the plan hash the person reviewed (refused with 409 if the plan is no longer that one).
// Four-eyes: whoever asked for a request, or gave the values its plan runs with, may not approve it
// (403 self_approval) unless CHIFFON_ALLOW_SELF_APPROVAL=true. The workflow's decide validator
// decides that (domain/four-eyes.ts), with what it alone knows for sure; this route only says so.
import { Hono } from 'hono';
import { z } from 'zod';
import { decideUpdate } from '../../workflows/messages.js';
import { identityOf, requireRole, type AuthEnv } from '../auth.js';
import type { ApiDeps } from '../deps.js';
import { answer, docs, errors } from '../openapi.js';
import { sendUpdate } from '../request-updates.js';
import { jsonBody } from '../validation.js';

const approveBody = z.object({
  request_id: z.string().trim().min(1, 'request_id is required').max(100),
  approved: z.boolean({ error: 'approved must be true or false' }),
  comment: z.string().max(2000).optional(),
  plan_hash: z
    .string()
    .regex(/^[0-9a-f]{64}$/, 'plan_hash is the 64-hex plan.hash of the request')
    .optional(),
  standing: z
    .boolean()
    .optional()
    .meta({ description: "approve a scheduled run as standing: the schedule's later runs with the same plan hash start without waiting" }),
});

const approveAnswer = z.object({
  request_id: z.string(),
  dispatch_started: z.boolean().meta({ description: 'whether the steps started running' }),
  status: z.string(),
});

export function approveRoutes(deps: ApiDeps) {
  return new Hono<AuthEnv>().post(
    '/approve',
    docs({
      summary: 'Approve or reject the plan of a request',
      description:
        'Recorded under the name of the token. Pass the plan.hash you reviewed as plan_hash to approve exactly that plan. ' +
        "The person who asked for the request may not approve it (403 self_approval) unless CHIFFON_ALLOW_SELF_APPROVAL=true; rejecting one's own request is allowed.",
      tags: ['decisions'],
      responses: {
        200: answer('decided', approveAnswer),
        ...errors({
          403: "the token's role may not decide, or (self_approval) it is the requester's own request",
          404: true,
          409: 'already decided, not waiting for approval, the plan hash no longer matches, or standing asked for a request no schedule started',
        }),
      },
    }),
    requireRole('approver'),
    jsonBody(approveBody),
    async (c) => {
      const body = c.req.valid('json');
      const approver = identityOf(c).name;
      const decision = { approver, approved: body.approved, comment: body.comment, planHash: body.plan_hash, standing: body.standing };
      const state = await sendUpdate(deps.client, body.request_id, decideUpdate, [decision]);
      return c.json({ request_id: body.request_id, dispatch_started: state.status === 'running', status: state.status });
    },
  );
}
