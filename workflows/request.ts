// The request workflow: decompose → plan → wait for a person's decision → run each step in order →
// on a failed step, analyze it → audit every task. It is never lost (Temporal), never runs
// unapproved (the decide Update, bound to the plan hash) and always ends in an audited state.
//
// This file wires the messages (workflows/messages.ts) to the request's run (request-run.ts, its
// state and transitions); every Update is validated first by a pure rule (domain/update-rules.ts),
// so a refused act leaves no trace in the history. Deterministic: all I/O happens in activities.
import { ApplicationFailure, setHandler } from '@temporalio/workflow';
import type { RequestInput, RequestState } from '../domain/request-state.js';
import {
  whyNotCancel,
  whyNotCheckRun,
  whyNotDecide,
  whyNotInput,
  whyNotResume,
  whyNotRetry,
  type Refusal,
  type RequestView,
} from '../domain/update-rules.js';
import {
  cancelUpdate,
  capacityChangedSignal,
  checkRunUpdate,
  decideUpdate,
  planReadyUpdate,
  provideInputUpdate,
  requestStateQuery,
  resumeUpdate,
  retryUpdate,
  stepStartedSignal,
} from './messages.js';
import { RequestRun } from './request-run.js';

export { PREVIEW_PATCH } from './request-run.js';

/** An Update validator from a rule over the run's view: it throws the rule's refusal, which rejects the Update. */
function validator<A>(run: RequestRun, rule: (view: RequestView, action: A) => Refusal | undefined): (action: A) => void {
  return (action) => {
    const refusal = rule(run.view(), action);
    if (refusal) throw ApplicationFailure.create({ type: refusal.type, message: refusal.message, nonRetryable: true });
  };
}

export async function requestWorkflow(input: RequestInput): Promise<RequestState> {
  const run = new RequestRun(input);

  setHandler(requestStateQuery, () => run.state);
  setHandler(planReadyUpdate, () => run.planned());
  setHandler(decideUpdate, (decision) => run.decide(decision), { validator: validator(run, whyNotDecide) });
  setHandler(retryUpdate, (action) => run.retry(action), { validator: validator(run, whyNotRetry) });
  setHandler(provideInputUpdate, (action) => run.provideInput(action), { validator: validator(run, whyNotInput) });
  setHandler(cancelUpdate, (action) => run.cancel(action), { validator: validator(run, whyNotCancel) });
  setHandler(resumeUpdate, (action) => run.resume(action), { validator: validator(run, whyNotResume) });
  setHandler(checkRunUpdate, (action) => run.startCheckRun(action), { validator: validator(run, whyNotCheckRun) });
  setHandler(stepStartedSignal, ({ taskId }) => run.stepStarted(taskId));
  setHandler(capacityChangedSignal, () => run.capacityReturned());

  return run.execute(async () => {
    // 1-2. Decompose and plan, grounded in the playbooks and inventory that really exist.
    if (!(await run.planRequest())) return run.state;
    // 3. Nothing runs before a person decides, and nothing Ansible could not run is offered.
    if (!(await run.preflightAndDecide())) return run.state;
    // 4-6. Run the steps in order, analyze a failure, audit every task; a failed request waits for a retry.
    return run.runToTheEnd();
  });
}
