// A check run of the pending plan (the checkRun Update): each step with `ansible-playbook --check
// --diff` on the agent that would run it, its events streamed, each step audited as a check run.
// Every step is checked, also after one failed: the person asked what the whole plan would do.
import { ActivityFailure, CancellationScope, condition, isCancellation, workflowInfo } from '@temporalio/workflow';
import { checkTaskId, describeCheckStep, type CheckRun, type CheckStep } from '../domain/check-run.js';
import { hostTaskQueue } from '../domain/fleet.js';
import type { RequestState } from '../domain/request-state.js';
import type { Plan, PlanStep, StepRunResult } from '../domain/types.js';
import { checkOptions, checks } from './activity-proxies.js';

export interface CheckRunDeps {
  state: RequestState;
  plan: Plan;
  /** Audits one checked step (mode check); resolves to its commit. */
  audit: (step: PlanStep, checked: CheckStep, run?: StepRunResult) => Promise<string>;
  /** Mirrors the request (its check run on the stream). */
  record: () => Promise<void>;
}

/** Runs `checkRun` (the request's `state.checkRun`, waiting) over the plan, and records how it went. */
export async function checkPlan({ state, plan, audit, record }: CheckRunDeps, checkRun: CheckRun): Promise<void> {
  const { number } = checkRun;
  try {
    // The preview says whether the plan can run at all; a check run waits for it.
    await condition(() => state.preview?.status !== 'running');
    if (state.preview?.status === 'unrunnable') {
      checkRun.status = 'not_run';
      checkRun.message = 'the preview found that the plan cannot run';
      return;
    }
    checkRun.status = 'running';
    await record();
    for (const step of plan.steps) checkRun.steps.push(await checkStep(step));
    const failed = checkRun.steps.filter((s) => s.status === 'failed');
    checkRun.status = failed.length > 0 ? 'failed' : 'completed';
    if (failed.length > 0) checkRun.message = failed.map((s) => `step ${s.index + 1}: ${s.message ?? 'failed'}`).join('; ');
  } catch (err) {
    if (!isCancellation(err)) throw err;
    checkRun.status = 'cancelled';
    throw err;
  } finally {
    checkRun.finishedAt = new Date().toISOString();
    await CancellationScope.nonCancellable(record);
  }

  async function checkStep(step: PlanStep): Promise<CheckStep> {
    const taskId = checkTaskId(step.taskId, number);
    let checked: CheckStep;
    let run: StepRunResult | undefined;
    try {
      run = await checks.checkStep.executeWithOptions(
        {
          ...checkOptions,
          ...(step.agent ? { taskQueue: hostTaskQueue(workflowInfo().taskQueue, step.agent) } : {}),
          summary: `check step ${step.index + 1}: ${step.playbook}${step.agent ? ` on ${step.agent}` : ''} (task ${taskId})`,
        },
        [{ step: { ...step, taskId }, fingerprint: plan.fingerprint }],
      );
      checked = { index: step.index, taskId, status: run.succeeded ? 'completed' : 'failed', exitCode: run.exitCode, tasks: run.tasks };
    } catch (err) {
      if (isCancellation(err)) {
        checked = { index: step.index, taskId, status: 'cancelled', tasks: [], message: 'cancelled with the request' };
        checkRun.steps.push(checked);
        checked.auditCommit = await CancellationScope.nonCancellable(() => audit(step, checked));
        throw err;
      }
      const cause = err instanceof ActivityFailure ? err.cause : undefined;
      checked = { index: step.index, taskId, status: 'failed', tasks: [], message: `could not run: ${cause?.message ?? String(err)}` };
    }
    if (run && !run.succeeded) checked.message = describeCheckStep(checked, run);
    checked.auditCommit = await audit(step, checked, run);
    return checked;
  }
}
