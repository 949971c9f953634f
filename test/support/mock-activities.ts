// MOCKED activities for workflow tests: the full ChiffonActivities shape with no I/O at all (no
// catalog, no ansible, no database, no git). Every call is recorded, in order, so a test can assert
// exactly what the workflow asked for. `vi.mock` cannot reach the workflow sandbox, so the activity
// boundary is where Chiffon's workflow tests mock.
import { CancelledFailure, Context } from '@temporalio/activity';
import type { ChiffonActivities } from '../../activities/index.js';
import type { PreviewPlanInput } from '../../activities/previews.js';
import type { RunStepInput } from '../../activities/steps.js';
import type { RequestNotice } from '../../domain/notifications.js';
import type { CapacityCheck, RequestState, TaskAuditInput } from '../../domain/request-state.js';
import type { Intent, LintFinding, Plan, StepRunResult } from '../../domain/types.js';
import type { SuppliedVars } from '../../domain/plan.js';
import { standingApprovalIdFor, type StandingApproval } from '../../domain/schedules.js';

export type ActivityName = keyof ChiffonActivities;

/** One recorded activity call (each attempt of a retried activity is its own call). */
export interface ActivityCall {
  name: ActivityName;
  args: unknown[];
}

/** A ChiffonActivities-shaped object plus the log of every call made to it. */
export type MockedActivities = ChiffonActivities & {
  /** Every call, in the order the worker ran them. */
  readonly calls: ActivityCall[];
  /** The inputs of every runStep call. */
  readonly stepRuns: () => RunStepInput[];
  /** The inputs of every auditTask call. */
  readonly audits: () => TaskAuditInput[];
  /** The state passed to each recordRequest call (a snapshot per call). */
  readonly records: () => RequestState[];
  /** The notice of each (mocked) notify call, one per attempt. */
  readonly notices: () => RequestNotice[];
  /** The playbook of each analyzeFailure call. */
  readonly analyzed: () => string[];
  /** The names of the activities called, in order. */
  readonly names: () => ActivityName[];
};

export const FAKE_INTENTS: Intent[] = [
  { name: 'deploy_kuma', service: 'kuma', playbook: 'kuma-deploy.yml', source: 'deploy kuma uptime' },
  { name: 'add_portals_to_config', service: 'kuma', playbook: 'kuma-config-update.yml', source: 'add our existing portals to the config' },
  { name: 'reload_proxy', service: 'caddy', playbook: 'caddy-reload.yml', source: 'reload the proxy' },
];

/** A fake catalog plan of three steps: two kuma playbooks and a caddy one. */
export function fakePlan(hash = 'hash-v1'): Plan {
  return {
    planId: 'plan-fake-1',
    steps: [
      {
        index: 0,
        taskId: 'task-0',
        playbook: 'kuma-deploy.yml',
        service: 'kuma',
        intent: 'deploy_kuma',
        vars: { kuma_port: 3001 },
        varSources: { kuma_port: 'default' },
      },
      {
        index: 1,
        taskId: 'task-1',
        playbook: 'kuma-config-update.yml',
        service: 'kuma',
        intent: 'add_portals_to_config',
        vars: { kuma_monitors: [{ name: 'portal-1', portal_url: 'https://portal-1.homelab.lan' }] },
        varSources: { kuma_monitors: 'inventory:portals' },
      },
      { index: 2, taskId: 'task-2', playbook: 'caddy-reload.yml', service: 'caddy', intent: 'reload_proxy', vars: {}, varSources: {} },
    ],
    fingerprint: {
      playbooks: { 'kuma-deploy.yml': 'sha-deploy', 'kuma-config-update.yml': 'sha-config', 'caddy-reload.yml': 'sha-caddy' },
      inventory: 'sha-inventory',
    },
    hash,
  };
}

/** fakePlan() spread over the fleet: every step on host nas-1, run by agent `nas` (its own task queue). */
export function fakeFleetPlan(hash = 'hash-v1'): Plan {
  const plan = fakePlan(hash);
  return { ...plan, steps: plan.steps.map((step) => ({ ...step, host: 'nas-1', agent: 'nas' })) };
}

const FIXED_TIME = '2026-01-01T00:00:00.000Z';

/** A playbook run that succeeded (one changed task). */
export function succeededRun(playbook = 'playbook.yml'): StepRunResult {
  return {
    exitCode: 0,
    succeeded: true,
    startedAt: FIXED_TIME,
    finishedAt: FIXED_TIME,
    resources: { wallMs: 1, userCpuMs: 1, systemCpuMs: 1, maxRssKb: 1 },
    stats: { localhost: { ok: 2, changed: 1, failures: 0 } },
    tasks: [
      { name: `${playbook}: gather`, host: 'localhost', status: 'ok' },
      { name: `${playbook}: apply`, host: 'localhost', status: 'changed' },
    ],
    failedTasks: [],
    stderrTail: '',
  };
}

/** A playbook run whose task failed (exit code 2): a result, not an exception. */
export function failedRun(playbook = 'playbook.yml'): StepRunResult {
  return {
    ...succeededRun(playbook),
    exitCode: 2,
    succeeded: false,
    stats: { localhost: { ok: 1, changed: 0, failures: 1 } },
    tasks: [{ name: `${playbook}: apply`, host: 'localhost', status: 'failed' }],
    failedTasks: [{ task: `${playbook}: apply`, host: 'localhost', message: 'boom' }],
  };
}

export const FAKE_FINDINGS: LintFinding[] = [
  {
    rule: 'no-changed-when',
    category: 'idempotency',
    severity: 'major',
    message: 'Commands should not change things if nothing needs doing',
    path: 'x.yml',
    line: 3,
  },
];

/**
 * A runStep body that behaves like the real one when cancelled: it heartbeats until Temporal
 * delivers the cancellation (through a heartbeat response), then throws CancelledFailure.
 * `onStarted` is called once the activity runs, so a test can cancel at the right moment.
 */
export async function runUntilCancelled(onStarted?: () => void): Promise<never> {
  const ctx = Context.current();
  onStarted?.();
  const beat = setInterval(() => ctx.heartbeat(), 100);
  try {
    ctx.heartbeat();
    await ctx.cancelled; // rejects with a CancelledFailure once the cancellation arrives
  } catch (err) {
    if (err instanceof CancelledFailure) throw new CancelledFailure(`mocked playbook run stopped: ${err.message}`);
    throw err;
  } finally {
    clearInterval(beat);
  }
  throw new Error('unreachable: ctx.cancelled never resolves');
}

/**
 * The full set of Chiffon activities, mocked. Defaults: decompose finds FAKE_INTENTS, plan returns
 * fakePlan(), refreshPlan returns the plan unchanged, every step's preview is clean, every step succeeds (and
 * its check run would change one task), there is always capacity,
 * analysis finds FAKE_FINDINGS, audits return a fake commit, notify reaches a (pretend) webhook at once,
 * and standing approvals are kept in memory (per mock: a schedule's runs share the worker's mocks).
 * `overrides` replace any of them.
 */
export function mockActivities(overrides: Partial<ChiffonActivities> = {}): MockedActivities {
  const calls: ActivityCall[] = [];
  const standing = new Map<string, StandingApproval>();
  const defaults: ChiffonActivities = {
    async decompose(_message: string) {
      return { ok: true as const, intents: structuredClone(FAKE_INTENTS) };
    },
    async plan(_intents: Intent[], _supplied?: SuppliedVars) {
      return { ok: true as const, plan: fakePlan() };
    },
    async refreshPlan(plan: Plan) {
      return plan;
    },
    async runStep(input: RunStepInput) {
      return succeededRun(input.step.playbook);
    },
    async checkStep(input: RunStepInput) {
      // A dry run: the same tasks, reported as what would change.
      return {
        ...succeededRun(input.step.playbook),
        tasks: [
          {
            name: `${input.step.playbook}: apply`,
            host: 'localhost',
            status: 'changed' as const,
            diff: '--- before\n+++ after\n@@ -1 +1 @@\n-a\n+b\n',
          },
        ],
      };
    },
    async analyzeFailure(_playbook: string) {
      return structuredClone(FAKE_FINDINGS);
    },
    async previewPlan({ steps }: PreviewPlanInput) {
      return steps.map((step) => ({
        ok: true,
        hosts: ['localhost'],
        tasks: [{ play: step.playbook, name: `run ${step.playbook}`, tags: [] }],
        problems: [],
      }));
    },
    async recordRequest(_state: RequestState) {},
    async auditTask(input: TaskAuditInput) {
      return { commit: `commit-${input.step.taskId}-${input.status}`, path: `.audit/tasks/${input.step.taskId}.json` };
    },
    async checkCapacity(): Promise<CapacityCheck> {
      return { ok: true };
    },
    async notify(_notice: RequestNotice) {
      return { delivered: ['webhook' as const] };
    },
    // A schedule's standing approvals, kept as the table keeps them: the newest one stands.
    async findStandingApproval({ scheduleId, planHash }) {
      const current = standing.get(scheduleId);
      if (!current) return {};
      return current.planHash === planHash ? { approval: current } : { otherPlanHash: current.planHash };
    },
    async recordStandingApproval(input) {
      const approval: StandingApproval = { ...input, id: standingApprovalIdFor(input.requestId), approvedAt: FIXED_TIME };
      standing.set(input.scheduleId, approval);
      return approval;
    },
  };
  const merged = { ...defaults, ...overrides } as ChiffonActivities;
  const recorded = {} as Record<ActivityName, (...args: unknown[]) => Promise<unknown>>;
  for (const name of Object.keys(merged) as ActivityName[]) {
    const fn = merged[name] as (...args: unknown[]) => Promise<unknown>;
    recorded[name] = (...args: unknown[]) => {
      calls.push({ name, args: structuredClone(args) });
      return fn(...args);
    };
  }
  const argsOf = <T>(name: ActivityName) => calls.filter((c) => c.name === name).map((c) => c.args[0] as T);
  return Object.assign(recorded as unknown as ChiffonActivities, {
    calls,
    stepRuns: () => argsOf<RunStepInput>('runStep'),
    audits: () => argsOf<TaskAuditInput>('auditTask'),
    records: () => argsOf<RequestState>('recordRequest'),
    notices: () => argsOf<RequestNotice>('notify'),
    analyzed: () => argsOf<string>('analyzeFailure'),
    names: () => calls.map((c) => c.name),
  });
}

/** `runStep` that runs `taskId` until it is cancelled (calling `onStart` once it runs) and succeeds for the rest. */
export function runStepCancellableAt(taskId: string, onStart: () => void): ChiffonActivities['runStep'] {
  return async (input) => (input.step.taskId === taskId ? runUntilCancelled(onStart) : succeededRun(input.step.playbook));
}

/** A promise with its resolve function, to hold a mocked activity until the test lets it go. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}
