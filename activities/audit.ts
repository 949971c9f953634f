// The audit trail: every task's record goes to PostgreSQL and, as JSON, to the audit git repository.
import type { PrismaClient } from '../generated/prisma/client.js';
import { workflowIdFor, type RequestState, type TaskAuditInput } from '../domain/request-state.js';
import type { ChiffonConfig } from '../lib/config.js';
import { commitFile } from '../lib/audit-repo.js';
import { lockRepository } from '../lib/repository-lock.js';
import { createRedactor, redactPatterns, redactPlanVars } from '../domain/redaction.js';
import { ownSecretValues } from '../lib/child-env.js';
import type { Plan } from '../domain/types.js';
import { summarizeCheck, type CheckRun } from '../domain/check-run.js';
import { scanCatalogCached } from '../services/catalog/catalog-cache.js';
import { appendRequestEventsStatements, type NewRequestEvent } from '../services/request-events.js';

/** The file committed for a task: what was run, for which request and plan, and what came of it. */
export function taskAuditDocument(input: TaskAuditInput) {
  return {
    task_id: input.step.taskId,
    // `check`: a dry run (--check --diff) that changed nothing; `run`: the playbook ran for real.
    mode: input.mode ?? 'run',
    status: input.status,
    outcome: input.outcome,
    plan_id: input.planId,
    request_id: input.requestId,
    step_index: input.step.index,
    attempt: input.attempt,
    playbook: input.step.playbook,
    service: input.step.service ?? null,
    host: input.step.host ?? null,
    agent: input.run?.agent ?? input.step.agent ?? null,
    execution_result: input.run
      ? {
          exit_code: input.run.exitCode,
          // Above 1: an earlier delivery of this step was interrupted (its worker died) and re-run.
          activity_attempt: input.run.activityAttempt ?? 1,
          ran_on: input.run.ranOn ?? null,
          started_at: input.run.startedAt,
          finished_at: input.run.finishedAt,
          resources: input.run.resources,
          stats: input.run.stats,
          tasks: input.run.tasks,
          failed_tasks: input.run.failedTasks,
        }
      : null,
    analysis: input.findings ? { lint_findings: input.findings } : null,
    decomposition: input.decomposition ?? null,
    // A run a Schedule started names it, and the standing approval it ran under (null: a person approved this run).
    schedule: input.schedule ? { schedule_id: input.schedule.id, standing_approval_id: input.schedule.standingApprovalId ?? null } : null,
  };
}

/** A check run on the stream: its state and, once it ended, what it found. */
function checkRunEvent(run: CheckRun) {
  const summary = summarizeCheck(run);
  return {
    mode: 'check',
    number: run.number,
    status: run.status,
    plan_hash: run.planHash,
    requested_by: run.requestedBy,
    summary: summary.text,
    would_change: summary.wouldChange,
    unchecked: summary.unchecked,
  };
}

export function createAuditActivities(config: Pick<ChiffonConfig, 'auditRepo' | 'playbookRepo'>, prisma: PrismaClient) {
  const ownSecrets = createRedactor(ownSecretValues());
  /** The plan as stored: the values of secret vars (by the catalog's specs) hidden. */
  async function storablePlan(plan: Plan): Promise<Plan> {
    // Steps name their secret vars; only a plan made before they did needs the playbooks' specs.
    if (plan.steps.every((step) => step.secretVars)) return redactPlanVars(plan);
    const catalog = await scanCatalogCached(prisma, config.playbookRepo).catch(() => undefined);
    // Without the catalog every var is hidden: too much hidden beats a leak.
    return redactPlanVars(plan, (playbook) => catalog?.playbooks.find((p) => p.path === playbook)?.vars);
  }

  return {
    /** Keeps the requests table in step with the workflow (the dashboard lists from it). */
    async recordRequest(state: RequestState): Promise<void> {
      const fields = {
        status: state.status,
        intents: state.intents as object[],
        plan: state.plan ? ((await storablePlan(state.plan)) as object) : undefined,
        planId: state.plan?.planId ?? null,
        approver: state.decision?.approver ?? null,
        approved: state.decision?.approved ?? null,
        decisionComment: state.decision?.comment ?? null,
        decidedAt: state.decision ? new Date(state.decision.decidedAt) : null,
        decomposition: state.decomposition ? (state.decomposition as object) : undefined,
        requestedBy: state.requestedBy ?? null,
        scheduleId: state.schedule?.id ?? null,
        standingApprovalId: state.schedule?.standingApprovalId ?? null,
      };
      // The row and the stream's events in one transaction: one round of BEGIN/COMMIT per record.
      await prisma.$transaction([
        prisma.request.upsert({
          where: { id: state.requestId },
          create: { id: state.requestId, workflowId: workflowIdFor(state.requestId), message: state.message, ...fields },
          update: fields,
        }),
        ...appendRequestEventsStatements(prisma, state.requestId, [
          // The status change (written once per change, also when this activity is retried).
          {
            kind: 'request_status',
            payload: redactPatterns.value({
              status: state.status,
              ...(state.error ? { message: state.error.message } : {}),
              ...(state.pausedReason ? { paused_reason: state.pausedReason } : {}),
            }),
          },
          // The plan's preflight, once it is done: whether it can run, and what Ansible will do per step.
          ...(state.preview && state.preview.status !== 'running' && state.plan
            ? [
                {
                  kind: 'preview' as const,
                  payload: redactPatterns.value({
                    status: state.preview.status,
                    plan_hash: state.plan.hash,
                    steps: state.preview.steps.map((step, index) => ({
                      index,
                      ok: step.ok,
                      hosts: step.hosts,
                      tasks: step.tasks.length,
                      problems: step.problems,
                    })),
                  }),
                  dedupe: `preview:${state.plan.hash}:${state.plan.planId}`,
                },
              ]
            : []),
          // A check run when it starts and when it ends, with what would change.
          ...(state.checkRun && state.checkRun.status !== 'waiting'
            ? [
                {
                  kind: 'check_run' as const,
                  payload: redactPatterns.value(checkRunEvent(state.checkRun)),
                  dedupe: `check:${state.checkRun.number}:${state.checkRun.status}`,
                },
              ]
            : []),
          // A step waiting for its agent (offline or busy) says so on the stream, once per reason.
          ...state.steps
            .filter((step) => step.status === 'waiting')
            .map((step) => ({
              kind: 'step_status' as const,
              stepIndex: step.index,
              taskId: step.taskId,
              payload: { status: 'waiting', playbook: step.playbook, agent: step.agent ?? null, reason: step.waitingReason ?? null },
              dedupe: `step:${step.taskId}:waiting:${step.waitingReason ?? ''}`,
            })),
        ]),
      ]);
    },

    /** Commits the task's JSON to git, then records it (and any lint findings) in PostgreSQL. */
    async auditTask(unredacted: TaskAuditInput): Promise<{ commit: string; path: string }> {
      // The run was redacted with the step's secrets by runStep; vault payloads, tokens and Chiffon's
      // own secrets go here too.
      const input = ownSecrets.value(redactPatterns.value(unredacted));
      const filepath = `.audit/tasks/${input.step.taskId}.json`;
      const document = `${JSON.stringify(taskAuditDocument(input), null, 2)}\n`;
      // Several worker processes may audit into one repository: one commit at a time among them all.
      const { commit } = await prisma.$transaction(
        async (tx) => {
          await lockRepository(tx, 'audit', config.auditRepo);
          const what = input.mode === 'check' ? 'check run' : 'task';
          return commitFile(
            config.auditRepo,
            filepath,
            document,
            `audit: ${what} ${input.step.taskId} ${input.status} (${input.step.playbook}, request ${input.requestId})`,
          );
        },
        { maxWait: 60_000, timeout: 60_000 },
      );
      const record = {
        requestId: input.requestId,
        planId: input.planId,
        stepIndex: input.step.index,
        attempt: input.attempt,
        mode: input.mode ?? 'run',
        playbook: input.step.playbook,
        service: input.step.service ?? null,
        host: input.run?.agent ?? input.step.agent ?? null,
        status: input.status,
        outcome: input.outcome,
        exitCode: input.run?.exitCode ?? null,
        resources: input.run ? (input.run.resources as object) : undefined,
        result: input.run ? ({ stats: input.run.stats, failed_tasks: input.run.failedTasks } as object) : undefined,
        startedAt: input.run ? new Date(input.run.startedAt) : null,
        finishedAt: input.run ? new Date(input.run.finishedAt) : null,
        auditCommit: commit,
        auditPath: filepath,
      };
      const findings = input.findings ?? [];
      // One transaction: the task row, its suggestions and the step's final status on the stream
      // are written together, idempotently.
      await prisma.$transaction([
        prisma.task.upsert({ where: { id: input.step.taskId }, create: { id: input.step.taskId, ...record }, update: record }),
        prisma.playbookSuggestion.createMany({
          // Ids follow the findings' order, so a retried audit inserts nothing twice and never
          // touches a suggestion a person has already accepted or dismissed.
          skipDuplicates: true,
          data: findings.map((f, index) => ({
            id: `${input.step.taskId}.s${index + 1}`,
            taskId: input.step.taskId,
            playbook: input.step.playbook,
            rule: f.rule,
            category: f.category,
            severity: f.severity,
            message: f.message,
            path: f.path,
            line: f.line ?? null,
            suggestedChange: f.suggestedChange ?? null,
            fixable: f.fixable ?? false,
            playbookSha256: f.playbookSha256 ?? null,
          })),
        }),
        ...appendRequestEventsStatements(prisma, input.requestId, [
          // The run's live events the database did not take while it was away, in order, before
          // the step's final status; and how many did not fit in the result, if any.
          ...((input.run?.pendingEvents ?? []) as NewRequestEvent[]),
          ...(input.run?.lostEvents
            ? [
                {
                  kind: 'step_status' as const,
                  stepIndex: input.step.index,
                  taskId: input.step.taskId,
                  payload: { status: 'events_lost', lost_events: input.run.lostEvents },
                  dedupe: `step:${input.step.taskId}:events_lost`,
                },
              ]
            : []),
          {
            kind: 'step_status',
            stepIndex: input.step.index,
            taskId: input.step.taskId,
            payload: {
              status: input.status,
              playbook: input.step.playbook,
              attempt: input.attempt,
              outcome: input.outcome,
              ...(input.run ? { exit_code: input.run.exitCode } : {}),
              ...(input.mode ? { mode: input.mode } : {}),
              audit_commit: commit,
            },
            dedupe: `step:${input.step.taskId}:${input.status}`,
          },
        ]),
      ]);
      return { commit, path: filepath };
    },
  };
}
