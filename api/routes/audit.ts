// Audit queries:
//   GET /audit/task/:task_id   a task's PostgreSQL record next to its commit in the audit repository
//   GET /audit/failures?days=7&group_by=service|playbook&service=&playbook=&limit=&offset=
//                              the tasks that failed in the last `days` days, newest first, with
//                              counts per service and per playbook
import { Hono } from 'hono';
import { z } from 'zod';
import type { Prisma } from '../../generated/prisma/client.js';
import { readFileAtCommit } from '../../lib/audit-repo.js';
import { anyRole, type AuthEnv } from '../auth.js';
import type { ApiDeps } from '../deps.js';
import { ApiError } from '../errors.js';
import { answer, docs, errors, suggestionSchema } from '../openapi.js';
import { presentSuggestion } from '../present.js';
import { queryParams } from '../validation.js';

const DAY_MS = 24 * 60 * 60 * 1000;

const failuresAnswer = z.object({
  days: z.number().int(),
  since: z.string(),
  total: z.number().int(),
  limit: z.number().int(),
  offset: z.number().int(),
  next_offset: z.number().int().nullable(),
  failures: z.array(
    z.object({
      task_id: z.string(),
      request_id: z.string(),
      step_index: z.number().int(),
      attempt: z.number().int(),
      playbook: z.string(),
      service: z.string().nullable(),
      outcome: z.string().nullable(),
      exit_code: z.number().int().nullable(),
      started_at: z.string().nullable(),
      finished_at: z.string().nullable(),
      audit_commit: z.string().nullable(),
      suggestions: z.number().int(),
    }),
  ),
  by_service: z.array(z.object({ service: z.string().nullable(), failures: z.number().int() })).optional(),
  by_playbook: z.array(z.object({ playbook: z.string(), failures: z.number().int() })).optional(),
});

const taskAnswer = z.object({
  task: z.looseObject({
    task_id: z.string(),
    request_id: z.string(),
    plan_id: z.string(),
    step_index: z.number().int(),
    mode: z.enum(['run', 'check']).meta({ description: 'check: a dry run (--check --diff) that changed nothing' }),
    playbook: z.string(),
    status: z.string(),
    outcome: z.string().nullable(),
    exit_code: z.number().int().nullable(),
    suggestions: z.array(suggestionSchema),
  }),
  git: z.object({
    commit: z.string().nullable(),
    path: z.string().nullable(),
    content: z.unknown().meta({ description: 'the audit file .audit/tasks/{task_id}.json at that commit' }),
  }),
});

const failuresQuery = z.object({
  days: z.coerce.number().int().min(1).max(3660).default(7),
  group_by: z.enum(['service', 'playbook']).optional(),
  service: z.string().min(1).max(200).optional(),
  playbook: z.string().min(1).max(1000).optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
  offset: z.coerce.number().int().min(0).max(1_000_000).default(0),
});

export function auditRoutes({ prisma, config }: ApiDeps) {
  return new Hono<AuthEnv>()
    .get(
      '/audit/failures',
      docs({
        summary: 'Failed tasks of the last days, with counts per service and playbook',
        tags: ['audit'],
        responses: { 200: answer('newest first', failuresAnswer) },
      }),
      anyRole(),
      queryParams(failuresQuery),
      async (c) => {
        const query = c.req.valid('query');
        const since = new Date(Date.now() - query.days * DAY_MS);
        // A task that failed without a run (its worker kept failing) has no finished_at: its record's
        // creation time stands in.
        const where: Prisma.TaskWhereInput = {
          status: 'failed',
          // A check run that failed changed nothing: it is no failed deployment.
          mode: 'run',
          OR: [{ finishedAt: { gte: since } }, { finishedAt: null, createdAt: { gte: since } }],
          ...(query.service ? { service: query.service } : {}),
          ...(query.playbook ? { playbook: query.playbook } : {}),
        };
        const [total, tasks, byService, byPlaybook] = await Promise.all([
          prisma.task.count({ where }),
          prisma.task.findMany({
            where,
            orderBy: [{ finishedAt: { sort: 'desc', nulls: 'last' } }, { createdAt: 'desc' }, { id: 'asc' }],
            skip: query.offset,
            take: query.limit,
            include: { _count: { select: { suggestions: true } } },
          }),
          query.group_by === 'playbook' ? undefined : prisma.task.groupBy({ by: ['service'], where, _count: { _all: true } }),
          query.group_by === 'service' ? undefined : prisma.task.groupBy({ by: ['playbook'], where, _count: { _all: true } }),
        ]);
        const next = query.offset + tasks.length;
        // Most failures first, then by name.
        const ranked = <T extends { failures: number }>(rows: T[], name: (row: T) => string | null) =>
          rows.sort((x, y) => y.failures - x.failures || (name(x) ?? '').localeCompare(name(y) ?? ''));
        return c.json({
          days: query.days,
          since: since.toISOString(),
          total,
          limit: query.limit,
          offset: query.offset,
          next_offset: next < total ? next : null,
          failures: tasks.map((task) => ({
            task_id: task.id,
            request_id: task.requestId,
            step_index: task.stepIndex,
            attempt: task.attempt,
            playbook: task.playbook,
            service: task.service,
            outcome: task.outcome,
            exit_code: task.exitCode,
            started_at: task.startedAt,
            finished_at: task.finishedAt ?? task.createdAt,
            audit_commit: task.auditCommit,
            suggestions: task._count.suggestions,
          })),
          ...(byService && {
            by_service: ranked(
              byService.map((row) => ({ service: row.service, failures: row._count._all })),
              (row) => row.service,
            ),
          }),
          ...(byPlaybook && {
            by_playbook: ranked(
              byPlaybook.map((row) => ({ playbook: row.playbook, failures: row._count._all })),
              (row) => row.playbook,
            ),
          }),
        });
      },
    )
    .get(
      '/audit/task/:task_id',
      docs({
        summary: "A task's record and its commit in the audit repository",
        tags: ['audit'],
        responses: {
          200: answer("the PostgreSQL record (with the task's suggestions) and the audited file", taskAnswer),
          ...errors({ 404: true }),
        },
      }),
      anyRole(),
      async (c) => {
        const taskId = c.req.param('task_id');
        const task = await prisma.task.findUnique({ where: { id: taskId }, include: { suggestions: true } });
        if (!task) throw new ApiError(404, 'not_found', `no task ${taskId}`);
        const content =
          task.auditCommit && task.auditPath ? await readFileAtCommit(config.auditRepo, task.auditCommit, task.auditPath) : undefined;
        return c.json({
          task: {
            task_id: task.id,
            request_id: task.requestId,
            plan_id: task.planId,
            step_index: task.stepIndex,
            mode: task.mode,
            playbook: task.playbook,
            status: task.status,
            outcome: task.outcome,
            exit_code: task.exitCode,
            resources: task.resources,
            result: task.result,
            started_at: task.startedAt,
            finished_at: task.finishedAt,
            created_at: task.createdAt,
            suggestions: task.suggestions.map(presentSuggestion),
          },
          git: { commit: task.auditCommit, path: task.auditPath, content: content ? JSON.parse(content) : null },
        });
      },
    );
}
