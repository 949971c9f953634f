// Running a plan step and analysing a failed one: the real ansible-playbook and ansible-lint.
import os from 'node:os';
import { activityInfo, ApplicationFailure, CancelledFailure, cancellationSignal, getClient, heartbeat } from '@temporalio/activity';
import { HEARTBEAT_EVERY_MS } from '../domain/heartbeats.js';
import type { AnsibleEvent } from '../domain/ansible-events.js';
import { agentPauseReason } from '../domain/capacity.js';
import { limitOf } from '../domain/fleet.js';
import { describeFingerprintChange } from '../domain/plan-hash.js';
import { createRedactor, secretValues, secretVarNames, type Redactor } from '../domain/redaction.js';
import { requestIdOf, STALE_PLAN } from '../domain/request-state.js';
import { stepStartedSignal } from '../workflows/messages.js';
import type { LintFinding, PlanFingerprint, PlanStep, StepRunResult } from '../domain/types.js';
import type { PrismaClient } from '../generated/prisma/client.js';
import { ownSecretValues } from '../lib/child-env.js';
import type { ChiffonConfig } from '../lib/config.js';
import { lintPlaybook } from '../services/ansible/lint-playbook.js';
import {
  AnsibleRunCancelledError,
  prepareRun,
  type PreparedRun,
  type RunPlaybookOptions,
  type RunStartOptions,
} from '../services/ansible/run-playbook.js';
import { scanCatalogCached } from '../services/catalog/catalog-cache.js';
import { readFingerprint } from '../services/fingerprint.js';
import { InventoryNotFoundError, locateInventory, type InventoryLocation } from '../services/inventory/inventory-source.js';
import { appendRequestEvents, EventBatcher, type NewRequestEvent } from '../services/request-events.js';
import { readMachine } from '../services/machine.js';
import { runningSteps, type StepHold } from '../services/running-steps.js';

export interface RunStepInput {
  step: PlanStep;
  /** The approved plan's fingerprint: the step runs only if its inputs still match it. */
  fingerprint: PlanFingerprint;
  /** The workflow marked the step waiting (agent offline, busy or overloaded): signal it when the step starts. */
  notifyStart?: boolean;
  /**
   * The workflow found the agent overloaded while it runs steps, and paused: the agent holds the
   * step until it has room by its own figures, read now, or until the request is resumed.
   */
  hold?: boolean;
}

/** A step's run for real, or its check run (`--check --diff`), whose events say so. */
export type RunMode = 'run' | 'check';

/** A parsed ansible event as it is stored and streamed (redacted). */
export function ansibleEventRecord(
  event: AnsibleEvent,
  step: Pick<PlanStep, 'index' | 'taskId'>,
  redact: Redactor,
  mode: RunMode = 'run',
): NewRequestEvent {
  const record = eventRecord(event, step, redact);
  return mode === 'check' ? { ...record, payload: { ...(record.payload as object), mode } } : record;
}

function eventRecord(event: AnsibleEvent, step: Pick<PlanStep, 'index' | 'taskId'>, redact: Redactor): NewRequestEvent {
  const base = { stepIndex: step.index, taskId: step.taskId };
  switch (event.kind) {
    case 'play_start':
      return { ...base, kind: 'play_start', payload: redact.value({ timestamp: event.timestamp, play: event.play }) };
    case 'task_start':
      return {
        ...base,
        kind: 'task_start',
        payload: redact.value({ timestamp: event.timestamp, task: event.task, handler: event.handler }),
      };
    case 'runner_result':
      return {
        ...base,
        kind: 'task_result',
        payload: redact.value({
          timestamp: event.timestamp,
          task: event.task,
          host: event.host,
          status: event.status,
          action: event.action,
          ...(event.message !== undefined ? { message: event.message } : {}),
          ...(event.diff !== undefined ? { diff: event.diff } : {}),
          ...(event.unchecked !== undefined ? { unchecked: event.unchecked } : {}),
        }),
      };
    case 'stats':
      return { ...base, kind: 'stats', payload: redact.value({ timestamp: event.timestamp, stats: event.stats }) };
  }
}

/** At most this many unwritten events travel with a result (payloads crossing Temporal stay small). */
export const MAX_PENDING_EVENTS = 1_000;

/**
 * The result's share of the events the database did not take: the first ones, each keyed so that
 * a retried audit writes it once, and how many more were lost.
 */
export function pendingOf(unwritten: NewRequestEvent[], attempt: number): Pick<StepRunResult, 'pendingEvents' | 'lostEvents'> {
  if (unwritten.length === 0) return {};
  const lost = unwritten.length - MAX_PENDING_EVENTS;
  const pendingEvents = unwritten
    .slice(0, MAX_PENDING_EVENTS)
    .map((event, i) => ({ ...event, dedupe: event.dedupe ?? `pending:${event.taskId}:${attempt}:${i}` }));
  return { pendingEvents, ...(lost > 0 ? { lostEvents: lost } : {}) };
}

/** The run result with every text redacted: it goes to Temporal's history, the tasks table and the audit. */
export function redactRun(run: StepRunResult, redact: Redactor): StepRunResult {
  return redact.value(run);
}

/** The longest a step's first event write waits for ansible-playbook to start. */
const START_WRITE_WAIT_MS = 1_000;

/** A promise that resolves at open(), or after `ms` at the latest. */
function opening(ms: number): { opened: Promise<void>; open: () => void } {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  const timer = setTimeout(open, ms);
  void opened.then(() => clearTimeout(timer));
  return { opened, open };
}

/** What running a step needs of the configuration. */
export type StepConfig = Pick<
  ChiffonConfig,
  | 'playbookRepo'
  | 'inventory'
  | 'workerHost'
  | 'stateDir'
  | 'workDir'
  | 'ansiblePassEnv'
  | 'becomePassword'
  | 'maxConcurrentSteps'
  | 'maxLoadPerCpu'
  | 'minFreeMemoryPercent'
  | 'maxCpuPressure'
  | 'maxMemoryPressure'
>;

export function createStepActivities(config: StepConfig, prisma: PrismaClient) {
  /** A playbook's var specs from the catalog: undefined when the catalog cannot be read (then every var counts as secret). */
  async function catalogVarSpecs(playbook: string): Promise<{ name: string; secret?: boolean }[] | undefined> {
    try {
      const catalog = await scanCatalogCached(prisma, config.playbookRepo);
      return catalog?.playbooks.find((p) => p.path === playbook)?.vars ?? [];
    } catch {
      return undefined;
    }
  }

  /** What must not appear in anything this step stores: the values of its secret vars. */
  async function redactorFor(step: PlanStep): Promise<Redactor> {
    // The plan names the step's secret vars; only a plan made before it did needs the catalog.
    const specs = step.secretVars ? undefined : await catalogVarSpecs(step.playbook);
    const secret = secretVarNames(step, () => specs);
    const values = secretValues(
      step.vars,
      secret.map((name) => ({ name, secret: true })),
    );
    // Chiffon's own secrets too, should a playbook reach one all the same.
    return createRedactor([...values, ...(config.becomePassword ? [config.becomePassword] : []), ...ownSecretValues()]);
  }

  /** Refuses (non-retryably) to run a step whose playbook, inventory or repository changed since approval. */
  async function assertStillApproved({ step, fingerprint }: RunStepInput, inventorySources: string[]): Promise<void> {
    const current = await readFingerprint(config.playbookRepo, inventorySources, [step.playbook]);
    const planned = { ...fingerprint, playbooks: { [step.playbook]: fingerprint.playbooks[step.playbook] ?? 'unplanned' } };
    const changes = describeFingerprintChange(planned, current);
    if (changes.length > 0) {
      throw ApplicationFailure.create({
        type: STALE_PLAN,
        nonRetryable: true,
        message: `step ${step.index + 1} (${step.playbook}) was not run: ${changes.join(', ')} since the plan was approved`,
      });
    }
  }

  /**
   * How a step whose request paused for its overloaded agent waits on that agent: it starts the
   * moment the agent runs no step or is no longer overloaded (by this machine's figures, read now),
   * or once the request is no longer paused: the workflow recorded `paused` before it scheduled
   * the step, and an operator's resume records it running again.
   */
  function holdOnAgent(requestId: string, onHold: (reason: string) => void): StepHold {
    return {
      blockedBy: (running) =>
        agentPauseReason({
          ...config,
          id: config.workerHost,
          ...readMachine(),
          runningSteps: running,
          maxSteps: config.maxConcurrentSteps,
        }),
      lifted: async () => (await prisma.request.findUnique({ where: { id: requestId }, select: { status: true } }))?.status !== 'paused',
      onHold,
      signal: cancellationSignal(),
    };
  }

  /** The inventory the step runs with: the one found when the plan was made, else a STALE_PLAN failure. */
  async function stepInventory({ step }: RunStepInput): Promise<InventoryLocation> {
    return locateInventory(config.playbookRepo, config.inventory).catch((err: unknown) => {
      // It was found when the plan was made: it moved or went away since.
      if (!(err instanceof InventoryNotFoundError)) throw err;
      throw ApplicationFailure.create({
        type: STALE_PLAN,
        nonRetryable: true,
        message: `step ${step.index + 1} (${step.playbook}) was not run: ${err.message}`,
      });
    });
  }

  async function runOnce(input: RunStepInput, mode: RunMode): Promise<StepRunResult> {
    const { step } = input;
    // The redactor is made beside the checks (a plan too old to name its secret vars reads the
    // catalog for them); a check's failure is the step's all the same.
    const redacting = redactorFor(step);
    redacting.catch(() => {});
    const runOptions: Omit<RunPlaybookOptions, keyof RunStartOptions> = {
      playbookRepo: config.playbookRepo,
      playbook: step.playbook,
      ...(limitOf(step) ? { limit: limitOf(step) } : {}),
      ...(step.tags?.length ? { tags: step.tags } : {}),
      ...(mode === 'check' ? { check: true } : {}),
      // The playbook may record which agent ran it (chiffon_agent), as it may chiffon_state_dir.
      vars: {
        ...step.vars,
        chiffon_agent: config.workerHost,
        // Only here, at run time: the plan and the history never hold it.
        ...(step.become && config.becomePassword ? { ansible_become_password: config.becomePassword } : {}),
      },
      stateDir: config.stateDir,
      workDir: config.workDir,
      passEnv: config.ansiblePassEnv,
    };
    // The run is prepared (the playbook's path, the run's folder and extra-vars file, the launcher's
    // FIFOs) while the inventory is found and the step's files are compared with the approved
    // fingerprint: it starts only once they match, and goes unstarted otherwise. A held step's run
    // is prepared once its agent has room.
    const preparing = input.hold ? undefined : prepareRun(runOptions);
    let prepared: PreparedRun | undefined;
    // A failure to prepare is the run's: thrown where the step starts, as it always was.
    const preparingSettled = preparing?.then(
      (run) => void (prepared = run),
      () => undefined,
    );
    try {
      const inventory = await stepInventory(input);
      await assertStillApproved(input, inventory.sources);
      const redact = await redacting;
      // Settled before the step is counted as running: the prepared run then starts within that
      // very call, ahead of what the new count sets off in this process (the agent reporter writes
      // its row at once), which would otherwise come first and delay it by a few ms.
      await preparingSettled;
      return await runApproved(
        input,
        mode,
        (callbacks) => {
          const startOptions = { ...callbacks, inventory: inventory.sources };
          if (prepared) return prepared.start(startOptions);
          // A held step, or a run that could not be prepared (its failure is thrown here).
          return (preparing ?? prepareRun(runOptions)).then((run) => run.start(startOptions));
        },
        redact,
      );
    } finally {
      // A run prepared but not started (a check failed) goes, with its extra-vars file.
      void preparing?.then(
        (run) => run.discard(),
        () => undefined,
      );
    }
  }

  /**
   * The step once its checks passed: counted as its agent's running step (held until the agent has
   * room, when the workflow says so), its events written as they come, its run started by `start`
   * and followed to its end.
   */
  async function runApproved(
    input: RunStepInput,
    mode: RunMode,
    start: (callbacks: Omit<RunStartOptions, 'inventory'>) => Promise<StepRunResult>,
    redact: Redactor,
  ): Promise<StepRunResult> {
    const { step } = input;
    const workflowId = activityInfo().workflowExecution?.workflowId;
    const requestId = requestIdOf(workflowId ?? step.taskId);
    const attempt = activityInfo().attempt;
    // Once the run is under way, its events' first write waits for ansible-playbook to have started
    // (at most START_WRITE_WAIT_MS): the write's work, in this process and in PostgreSQL, would
    // otherwise compete with the start (the launcher's fork and exec, and a held step's preparation).
    // Events are queued meanwhile, in order.
    let runStarting: Promise<void> | undefined;
    const events = new EventBatcher(
      async (batch) => {
        await runStarting;
        return appendRequestEvents(prisma, requestId, batch);
      },
      {
        closeRetryMs: 5_000,
        onError: (err) => console.warn(`request ${requestId}: live events not written yet (will retry): ${String(err)}`),
      },
    );
    const stepStatus = (status: 'held' | 'running', extra: Record<string, unknown> = {}): NewRequestEvent => ({
      kind: 'step_status',
      stepIndex: step.index,
      taskId: step.taskId,
      payload: {
        status,
        playbook: step.playbook,
        activity_attempt: attempt,
        agent: config.workerHost,
        ...(limitOf(step) ? { host: limitOf(step) } : {}),
        ...(mode === 'check' ? { mode } : {}),
        ...extra,
      },
      dedupe: `step:${step.taskId}:${status}:${attempt}`,
    });
    let closing: Promise<unknown> | undefined;
    const closeEvents = () => (closing ??= events.close());
    let tasksDone = 0;
    heartbeat({ tasksDone });
    // A single long task (a package install) emits no event for a while; the worker is alive all the
    // same, so it heartbeats on a timer too. A dead worker stops heartbeating and Temporal notices.
    const keepAlive = setInterval(() => heartbeat({ tasksDone }), HEARTBEAT_EVERY_MS);
    try {
      const hold = input.hold ? holdOnAgent(requestId, (reason) => events.push(stepStatus('held', { reason }))) : undefined;
      const run = await runningSteps.track(
        config.workerHost,
        () => {
          const started = opening(START_WRITE_WAIT_MS);
          runStarting = started.opened;
          events.push(stepStatus('running'));
          if (input.notifyStart && workflowId) {
            // Best effort, and not waited for: the step runs either way, and its events say it started.
            void getClient()
              .workflow.getHandle(workflowId)
              .signal(stepStartedSignal, { taskId: step.taskId, agent: config.workerHost })
              .catch((err: unknown) =>
                console.warn(`request ${requestId}: could not tell the workflow step ${step.index + 1} started: ${String(err)}`),
              );
          }
          return start({
            signal: cancellationSignal(),
            onStart: started.open,
            onEvent: (event) => {
              if (event.kind === 'runner_result') heartbeat({ tasksDone: ++tasksDone });
              events.push(ansibleEventRecord(event, step, redact, mode));
            },
          }).finally(started.open);
        },
        hold,
      );
      // Every event of the run is written before the step reports (its final status comes after
      // them), still heartbeating: with the database away, close() retries for a few seconds, and
      // what it could not write travels with the result, for the step's audit to write first.
      await closeEvents();
      return redactRun(
        {
          ...run,
          activityAttempt: attempt,
          ranOn: `${os.hostname()}:${process.pid}`,
          agent: config.workerHost,
          ...pendingOf(events.unwritten(), attempt),
        },
        redact,
      );
    } catch (err) {
      // Temporal reports the activity as cancelled (not failed) only for a CancelledFailure.
      if (err instanceof AnsibleRunCancelledError) throw new CancelledFailure(err.message);
      if (err instanceof Error) err.message = redact.text(err.message);
      throw err;
    } finally {
      await closeEvents();
      clearInterval(keepAlive);
    }
  }

  return {
    runStep: (input: RunStepInput): Promise<StepRunResult> => runOnce(input, 'run'),

    /** The step with `--check --diff` (task id `<id>.check<n>`): changes nothing, reports what would change. */
    checkStep: (input: RunStepInput): Promise<StepRunResult> => runOnce(input, 'check'),

    async analyzeFailure(playbook: string): Promise<LintFinding[]> {
      return lintPlaybook({ playbookRepo: config.playbookRepo, playbook, workDir: config.workDir, passEnv: config.ansiblePassEnv });
    },
  };
}
