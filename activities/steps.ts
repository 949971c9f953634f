// Running a plan step and analysing a failed one: the real ansible-playbook and ansible-lint.
import os from 'node:os';
import { activityInfo, ApplicationFailure, CancelledFailure, cancellationSignal, heartbeat } from '@temporalio/activity';
import { describeFingerprintChange } from '../domain/plan-hash.js';
import { STALE_PLAN } from '../domain/request-state.js';
import type { LintFinding, PlanFingerprint, PlanStep, StepRunResult } from '../domain/types.js';
import type { ChiffonConfig } from '../lib/config.js';
import { lintPlaybook } from './ansible/lint-playbook.js';
import { AnsibleRunCancelledError, runPlaybook } from './ansible/run-playbook.js';
import { readFingerprint } from './fingerprint.js';
import { runningSteps } from './running-steps.js';

/** Well inside the workflow's 10 s heartbeat timeout; the SDK throttles what it sends. */
const HEARTBEAT_INTERVAL_MS = 2_000;

export interface RunStepInput {
  step: PlanStep;
  /** The approved plan's fingerprint: the step runs only if its inputs still match it. */
  fingerprint: PlanFingerprint;
}

export function createStepActivities(config: ChiffonConfig) {
  /** Refuses (non-retryably) to run a step whose playbook, inventory or repository changed since approval. */
  async function assertStillApproved({ step, fingerprint }: RunStepInput): Promise<void> {
    const current = await readFingerprint(config.playbookRepo, config.inventory, [step.playbook]);
    const planned = { ...fingerprint, playbooks: { [step.playbook]: fingerprint.playbooks[step.playbook] ?? 'unplanned' } };
    const changes = describeFingerprintChange(planned, current);
    if (changes.length > 0) {
      throw ApplicationFailure.create({ type: STALE_PLAN, nonRetryable: true, message: `step ${step.index + 1} (${step.playbook}) was not run: ${changes.join(', ')} since the plan was approved` });
    }
  }

  return {
    async runStep(input: RunStepInput): Promise<StepRunResult> {
      await assertStillApproved(input);
      let tasksDone = 0;
      heartbeat({ tasksDone });
      // A single long task (a package install) emits no event for a while; the worker is alive all the
      // same, so it heartbeats on a timer too. A dead worker stops heartbeating and Temporal notices.
      const keepAlive = setInterval(() => heartbeat({ tasksDone }), HEARTBEAT_INTERVAL_MS);
      try {
        const run = await runningSteps.track(() =>
          runPlaybook({
            playbookRepo: config.playbookRepo,
            playbook: input.step.playbook,
            inventory: config.inventory,
            vars: input.step.vars,
            stateDir: config.stateDir,
            workDir: config.workDir,
            signal: cancellationSignal(),
            onEvent: (event) => {
              if (event.kind === 'runner_result') heartbeat({ tasksDone: ++tasksDone });
            },
          }),
        );
        return { ...run, activityAttempt: activityInfo().attempt, ranOn: `${os.hostname()}:${process.pid}` };
      } catch (err) {
        // Temporal reports the activity as cancelled (not failed) only for a CancelledFailure.
        if (err instanceof AnsibleRunCancelledError) throw new CancelledFailure(err.message);
        throw err;
      } finally {
        clearInterval(keepAlive);
      }
    },

    async analyzeFailure(playbook: string): Promise<LintFinding[]> {
      return lintPlaybook({ playbookRepo: config.playbookRepo, playbook, workDir: config.workDir });
    },
  };
}
