// The improvement suggestions ansible-lint made on failed playbooks, and a person's decision on each:
//   GET  /suggestions?playbook=&status=&task_id=&limit=&cursor=   newest first, paginated
//   POST /suggestions/:id/accept    applies the change to the playbook and commits it
//   POST /suggestions/:id/dismiss   marks it dismissed
// Deciding takes an approver (or admin) token; the decision is recorded under its name.
import { Hono } from 'hono';
import { z } from 'zod';
import { acceptSuggestion, dismissSuggestion, SUGGESTION_STATUSES, SuggestionError } from '../../services/suggestions.js';
import type { PlaybookSuggestion } from '../../generated/prisma/client.js';
import { anyRole, identityOf, requireRole, type AuthEnv } from '../auth.js';
import type { ApiDeps } from '../deps.js';
import { ApiError } from '../errors.js';
import { answer, docs, errors, suggestionSchema } from '../openapi.js';
import { queryParams } from '../validation.js';
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

const listAnswer = z.object({
  suggestions: z.array(suggestionSchema),
  next_cursor: z.string().nullable().meta({ description: 'pass as cursor for the next page; null on the last one' }),
});
const acceptAnswer = z.object({
  suggestion: suggestionSchema,
  commit: z.string().meta({ description: 'the commit in the playbook repository' }),
  method: z.enum(['ansible-lint-fix', 'patch']),
  also_accepted: z.array(z.string()).meta({ description: 'other suggestions the same fix resolved' }),
});
const dismissAnswer = z.object({ suggestion: suggestionSchema });

function toApiError(err: unknown): unknown {
  return err instanceof SuggestionError ? new ApiError(err.status, err.code, err.message, err.details) : err;
}

export function suggestionRoutes({ prisma, config }: ApiDeps) {
  return new Hono<AuthEnv>()
    .get(
      '/suggestions',
      docs({
        summary: 'Improvement suggestions on failed playbooks, newest first',
        tags: ['suggestions'],
        responses: { 200: answer('a page of suggestions', listAnswer) },
      }),
      anyRole(),
      queryParams(listQuery),
      async (c) => {
        const { playbook, status, task_id: taskId, limit, cursor } = c.req.valid('query');
        const rows = await prisma.playbookSuggestion.findMany({
          where: {
            ...(playbook ? { playbook } : {}),
            ...(status ? { status } : {}),
            ...(taskId ? { taskId } : {}),
            ...(cursor ? { OR: [{ createdAt: { lt: cursor.createdAt } }, { createdAt: cursor.createdAt, id: { lt: cursor.id } }] } : {}),
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
      },
    )
    .post(
      '/suggestions/:id/accept',
      docs({
        summary: 'Accept a suggestion: apply it to the playbook and commit',
        description:
          'Runs ansible-lint --fix for a fixable rule (or applies the stored patch) on a copy and commits the playbook, naming the person.',
        tags: ['suggestions'],
        responses: {
          200: answer('applied and committed', acceptAnswer),
          ...errors({
            404: true,
            409: 'already decided, the playbook changed since or has uncommitted changes, or the repository is not a git repository',
            422: 'no automatic fix, or the fix did not resolve the finding',
          }),
        },
      }),
      requireRole('approver'),
      async (c) => {
        const by = identityOf(c).name;
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
      },
    )
    .post(
      '/suggestions/:id/dismiss',
      docs({
        summary: 'Dismiss a suggestion',
        tags: ['suggestions'],
        responses: { 200: answer('dismissed', dismissAnswer), ...errors({ 404: true, 409: 'already decided' }) },
      }),
      requireRole('approver'),
      async (c) => {
        const by = identityOf(c).name;
        const dismissed = await dismissSuggestion(prisma, c.req.param('id'), by).catch((err: unknown) => {
          throw toApiError(err);
        });
        return c.json({ suggestion: presentSuggestion(dismissed) });
      },
    );
}
