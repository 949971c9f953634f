// The improvement suggestions ansible-lint made on failed playbooks, and a person's decision on each:
//   GET  /suggestions?playbook=&status=&task_id=&limit=&cursor=   newest first, paginated
//   POST /suggestions/:id/accept  {"by"}   applies the change to the playbook and commits it
//   POST /suggestions/:id/dismiss {"by"}   marks it dismissed
// A decision needs an identity ("by" in the body or the X-Chiffon-User header).
import { Hono } from 'hono';
import { z } from 'zod';
import { acceptSuggestion, dismissSuggestion, SUGGESTION_STATUSES, SuggestionError } from '../../activities/suggestions.js';
import type { PlaybookSuggestion } from '../../generated/prisma/client.js';
import type { ApiDeps } from '../deps.js';
import { ApiError } from '../errors.js';
import { requireIdentity } from '../identity.js';
import { jsonBody, queryParams } from '../validation.js';
import { presentSuggestion } from '../present.js';

const MAX_LIMIT = 200;

/** Where the previous page ended: the last suggestion's creation time and id (opaque to clients). */
interface Cursor {
  createdAt: Date;
  id: string;
}

function encodeCursor(s: Pick<PlaybookSuggestion, 'createdAt' | 'id'>): string {
  return Buffer.from(JSON.stringify([s.createdAt.toISOString(), s.id])).toString('base64url');
}

function decodeCursor(text: string): Cursor | undefined {
  try {
    const [at, id] = JSON.parse(Buffer.from(text, 'base64url').toString('utf8')) as unknown[];
    const createdAt = new Date(String(at));
    if (typeof id !== 'string' || Number.isNaN(createdAt.getTime())) return undefined;
    return { createdAt, id };
  } catch {
    return undefined;
  }
}

const listQuery = z.object({
  playbook: z.string().min(1).max(1000).optional(),
  status: z.enum(SUGGESTION_STATUSES).optional(),
  task_id: z.string().min(1).max(200).optional(),
  limit: z.coerce.number().int().min(1).max(MAX_LIMIT).default(50),
  cursor: z
    .string()
    .max(500)
    .transform((text, ctx) => {
      const cursor = decodeCursor(text);
      if (!cursor) {
        ctx.addIssue({ code: 'custom', message: 'not a cursor this API returned' });
        return z.NEVER;
      }
      return cursor;
    })
    .optional(),
});

const decisionBody = z.object({ by: z.string().max(200).optional() });

function toApiError(err: unknown): unknown {
  return err instanceof SuggestionError ? new ApiError(err.status, err.code, err.message, err.details) : err;
}

export function suggestionRoutes({ prisma, config }: ApiDeps) {
  return new Hono()
    .get('/suggestions', queryParams(listQuery), async (c) => {
      const { playbook, status, task_id: taskId, limit, cursor } = c.req.valid('query');
      const rows = await prisma.playbookSuggestion.findMany({
        where: {
          ...(playbook ? { playbook } : {}),
          ...(status ? { status } : {}),
          ...(taskId ? { taskId } : {}),
          ...(cursor
            ? { OR: [{ createdAt: { lt: cursor.createdAt } }, { createdAt: cursor.createdAt, id: { lt: cursor.id } }] }
            : {}),
        },
        include: { task: { select: { requestId: true } } },
        orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
        take: limit + 1,
      });
      const page = rows.slice(0, limit);
      const last = page[page.length - 1];
      return c.json({
        suggestions: page.map(presentSuggestion),
        next_cursor: rows.length > limit && last ? encodeCursor(last) : null,
      });
    })
    .post('/suggestions/:id/accept', jsonBody(decisionBody), async (c) => {
      const by = requireIdentity(c, c.req.valid('json').by);
      const id = c.req.param('id');
      const result = await acceptSuggestion(prisma, config, id, by).catch((err: unknown) => {
        throw toApiError(err);
      });
      return c.json({
        suggestion: presentSuggestion(result.suggestion),
        commit: result.commit,
        method: result.method,
        also_accepted: result.alsoAccepted,
      });
    })
    .post('/suggestions/:id/dismiss', jsonBody(decisionBody), async (c) => {
      const by = requireIdentity(c, c.req.valid('json').by);
      const dismissed = await dismissSuggestion(prisma, c.req.param('id'), by).catch((err: unknown) => {
        throw toApiError(err);
      });
      return c.json({ suggestion: presentSuggestion(dismissed) });
    });
}
