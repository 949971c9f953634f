// GET /requests: the newest requests, from the requests table (what the workflows mirror there).
// GET /requests/:request_id: the live state of one request, from its workflow.
import { Hono } from 'hono';
import { z } from 'zod';
import { workflowIdFor } from '../../domain/request-state.js';
import { requestStateQuery } from '../../workflows/messages.js';
import { anyRole, type AuthEnv } from '../auth.js';
import type { ApiDeps } from '../deps.js';
import { answer, docs, errors, requestSchema } from '../openapi.js';
import { presentRequest } from '../present.js';
import { toApiError } from '../temporal-errors.js';
import { queryParams } from '../validation.js';

const listQuery = z.object({
  status: z.string().min(1).max(40).optional().meta({ description: 'only requests with this status' }),
  limit: z.coerce.number().int().min(1).max(200).default(50),
  offset: z.coerce.number().int().min(0).max(1_000_000).default(0),
});

const requestSummary = z.object({
  request_id: z.string(),
  status: z.string(),
  message: z.string(),
  requested_by: z.string().nullable(),
  approver: z.string().nullable(),
  services: z.array(z.string()),
  steps: z.number().int(),
  created_at: z.string(),
  updated_at: z.string(),
});

const listAnswer = z.object({
  requests: z.array(requestSummary),
  total: z.number().int(),
  limit: z.number().int(),
  offset: z.number().int(),
});

export function requestRoutes({ client, prisma }: ApiDeps) {
  return new Hono<AuthEnv>()
    .get(
      '/requests',
      docs({
        summary: 'The newest requests',
        description: 'Newest first, from the requests table the workflows keep current; GET /requests/:id has the live detail.',
        tags: ['requests'],
        responses: { 200: answer('a page of requests', listAnswer), ...errors({ 400: true }) },
      }),
      anyRole(),
      queryParams(listQuery),
      async (c) => {
        const { status, limit, offset } = c.req.valid('query');
        const where = status ? { status } : {};
        const [rows, total] = await Promise.all([
          prisma.request.findMany({ where, orderBy: [{ createdAt: 'desc' }, { id: 'asc' }], take: limit, skip: offset }),
          prisma.request.count({ where }),
        ]);
        return c.json({
          requests: rows.map((row) => {
            const steps = (row.plan as { steps?: { service?: string }[] } | null)?.steps ?? [];
            return {
              request_id: row.id,
              status: row.status,
              message: row.message,
              requested_by: row.requestedBy,
              approver: row.approver,
              services: [...new Set(steps.map((step) => step.service).filter((s): s is string => typeof s === 'string'))],
              steps: steps.length,
              created_at: row.createdAt.toISOString(),
              updated_at: row.updatedAt.toISOString(),
            };
          }),
          total,
          limit,
          offset,
        });
      },
    )
    .get(
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
