// GET /audit/task/:task_id: a task's PostgreSQL record next to its commit in the audit repository.
import { Hono } from 'hono';
import { readFileAtCommit } from '../../lib/audit-repo.js';
import type { ApiDeps } from '../deps.js';
import { ApiError } from '../errors.js';

export function auditRoutes({ prisma, config }: ApiDeps) {
  return new Hono().get('/audit/task/:task_id', async (c) => {
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
        playbook: task.playbook,
        status: task.status,
        outcome: task.outcome,
        exit_code: task.exitCode,
        resources: task.resources,
        result: task.result,
        started_at: task.startedAt,
        finished_at: task.finishedAt,
        created_at: task.createdAt,
        suggestions: task.suggestions.map((s) => ({
          id: s.id,
          rule: s.rule,
          category: s.category,
          severity: s.severity,
          message: s.message,
          path: s.path,
          line: s.line,
          status: s.status,
        })),
      },
      git: { commit: task.auditCommit, path: task.auditPath, content: content ? JSON.parse(content) : null },
    });
  });
}
