// Running a plan step and analysing a failed one: the real ansible-playbook and ansible-lint.
import { heartbeat, cancellationSignal } from '@temporalio/activity';
import type { LintFinding, PlanStep, StepRunResult } from '../domain/types.js';
import type { ChiffonConfig } from '../lib/config.js';
import { runPlaybook } from './ansible/run-playbook.js';
import { lintPlaybook } from './ansible/lint-playbook.js';

const HEARTBEAT_INTERVAL_MS = 5_000;

export function createStepActivities(config: ChiffonConfig) {
  return {
    async runStep(step: PlanStep): Promise<StepRunResult> {
      let tasksDone = 0;
      heartbeat({ tasksDone });
      // A single long task (a package install) emits no event for a while; the worker is alive all the
      // same, so it heartbeats on a timer too. Heartbeats are throttled by the SDK.
      const keepAlive = setInterval(() => heartbeat({ tasksDone }), HEARTBEAT_INTERVAL_MS);
      try {
        return await runPlaybook({
        playbookRepo: config.playbookRepo,
        playbook: step.playbook,
        inventory: config.inventory,
        vars: step.vars,
        stateDir: config.stateDir,
        workDir: config.workDir,
        signal: cancellationSignal(),
        // Each finished task is progress: the heartbeat tells Temporal the worker is alive.
        onEvent: (event) => {
            if (event.kind === 'runner_result') heartbeat({ tasksDone: ++tasksDone });
          },
        });
      } finally {
        clearInterval(keepAlive);
      }
    },

    async analyzeFailure(playbook: string): Promise<LintFinding[]> {
      return lintPlaybook({ playbookRepo: config.playbookRepo, playbook, workDir: config.workDir });
    },
  };
}
