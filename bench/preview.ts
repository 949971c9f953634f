// 8. Preview: the preflight every plan gets (activities/previews.ts previewPlan: per step
// ansible-playbook --list-hosts --list-tasks with the step's exact command line, all steps side by
// side, remembered in-process by the fingerprint and the command line).
//
// Plans are made by the real planning path (createPlanningActivities in a mock activity context):
// on a copy of the sample repository playbooks/, "Deploy Kuma Uptime to homelab" (one step,
// kuma-deploy.yml) and the sample Kuma request (two steps, kuma-deploy.yml then
// kuma-config-update.yml); on the 150-role site fixture, "enable svc001 and svc075 on nas01" (one
// step: site.yml --tags svc001,svc075 --limit nas01).
//
// cold: the first preview of a plan, a fresh createPreviewActivities instance per sample (nothing
// remembered), through the repository's warm ansible-playbook (services/ansible/warm-ansible.ts,
// Ansible imported once); cold process: the same with an ansible-playbook process per step, as
// before the warm one, interleaved with cold. warm: the same plan again by the same instance (the
// memo answers). Samples of the
// different plans are interleaved so the machine's background load falls on all of them alike.
// Each step is also previewed alone (a one-step plan of it), and the two steps of the two-step plan
// side by side with each step timed (what previewPlan does inside: one ansible-playbook per step at
// once), to say what the second step costs.
//
// breakdown: where a cold step's time goes, from the same command line run under a small Python
// wrapper that timestamps ansible-playbook's phases (python start, ansible's imports, CLI setup,
// inventory parse, playbook parse, the executor's listing, the CLI's tag filter and print, exit).
//
// endToEnd: through a real worker, as section 3: stack.submit of the sample Kuma request (returns
// once planned) until the preview is on the request (requestStateQuery polled: preview.status
// ready), with where the time went read from the history (the previewPlan activity's dispatch and
// run, the workflow task that records it). cold: a salt file in templates/ is rewritten before each
// request, so each plan's fingerprint (and the preview memo key) is new; warm: the repository
// unchanged, the worker's memo answers.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { MockActivityEnvironment } from '@temporalio/testing';
import proto from '@temporalio/proto';
import { execa } from 'execa';
import { createDecomposer } from '../services/decomposition/chain.js';
import { createPlanningActivities } from '../activities/planning.js';
import { createPreviewActivities } from '../activities/previews.js';
import { ansibleEnv, playbookArgs, resolveInventory, serializeVars } from '../services/ansible/playbook-command.js';
import { resolvePlaybook } from '../services/ansible/playbook-path.js';
import { locateInventory } from '../services/inventory/inventory-source.js';
import { limitOf } from '../domain/fleet.js';
import { workflowIdFor, type RequestState } from '../domain/request-state.js';
import type { Plan, PlanStep, StepPreview } from '../domain/types.js';
import { loadConfig, type ChiffonConfig } from '../lib/config.js';
import { loadLlmConfig } from '../lib/llm-config.js';
import { fromProjectRoot } from '../lib/paths.js';
import { tools } from '../lib/tools.js';
import { requestStateQuery } from '../workflows/messages.js';
import type { BenchStack } from './stack.js';
import { writeSiteRolesRepo } from './fixtures/repos.js';
import { round, summarize } from './stats.js';

export const PREVIEW_TARGETS = { stepP95Ms: 1500 } as const;

/** The sample requests (the two-step one is the README's Kuma request). */
export const KUMA_ONE_STEP_MESSAGE = 'Deploy Kuma Uptime to homelab';
export const KUMA_REQUEST = 'Deploy Kuma Uptime to homelab and add our existing portals to the config';
export const SITE_MESSAGE = 'enable svc001 and svc075 on nas01';

type Summary = ReturnType<typeof summarize>;

export interface PreviewScenarioResult {
  /** kuma-deploy, kuma-config-update (step 2 of the two-step plan, alone), kuma-two-step, site. */
  id: string;
  repo: string;
  message: string;
  steps: { playbook: string; limit?: string; tags?: string[]; hosts: number; tasks: number }[];
  /** previewPlan of the plan, fresh instance each sample (nothing remembered), through the warm ansible-playbook. */
  coldMs: Summary;
  /** The same, with an ansible-playbook process per step (warmAnsible: false), interleaved with coldMs. */
  coldProcessMs: Summary;
  /** coldProcessMs per step. */
  coldProcessPerStepMs: Summary;
  /** coldMs divided by the plan's steps (what each step costs when they run side by side). */
  coldPerStepMs: Summary;
  /** previewPlan of the same plan by the same instance again. */
  warmMs: Summary;
}

export interface PreviewPhases {
  /** Spawn to the wrapper's first line: the process and the interpreter (site, venv). */
  pythonStart: number;
  /** import ansible.cli.playbook. */
  ansibleImport: number;
  /** Arguments, config, plugin loader, DataLoader, vault: up to InventoryManager. */
  cliSetup: number;
  /** InventoryManager: every inventory source parsed. */
  inventoryParse: number;
  /** VariableManager, host list, PlaybookExecutor: up to Playbook.load. */
  beforePlaybook: number;
  /** Playbook.load: the playbook, its imports and roles parsed. */
  playbookParse: number;
  /** The executor's listing after Playbook.load: each play's vars (group_vars, host_vars) and hosts. */
  varsAndListing: number;
  /** After the executor: the CLI walks every task of every play, keeps those --tags selects, prints them. */
  tagFilterAndPrint: number;
  /** sys.exit → the process ended (interpreter teardown, Node sees the exit). */
  processExit: number;
  total: number;
}

export interface PreviewBreakdown {
  step: string;
  n: number;
  /** Medians of each phase over n instrumented runs. */
  medianMs: PreviewPhases;
  /** The plain interpreter: python -c pass. */
  pythonBareMs: number;
}

export interface PreviewResult {
  ansiblePlaybook: string;
  coldN: number;
  warmN: number;
  scenarios: PreviewScenarioResult[];
  /** The two-step plan's steps, previewed side by side (each timed), fresh instance each sample. */
  sideBySide: { playbooks: string[]; perStepMs: Summary[]; wallMs: Summary };
  /** Two-step plan p50 against the one-step plan (kuma-deploy) p50, and against both steps one after the other. */
  twoStep: { ratioToOneStep: number; extraMs: number; sequentialMs: number; savedPercent: number };
  breakdown: PreviewBreakdown[];
  endToEnd: {
    message: string;
    pollMs: number;
    cold: EndToEndResult;
    warm: EndToEndResult;
  };
  loadAverage: { start: number[]; end: number[] };
  errors: string[];
}

export interface EndToEndResult {
  n: number;
  /** submit → preview ready seen by polling requestStateQuery. */
  submitToPreviewMs: Summary;
  /** submit → stack.submit returned (planned, pending approval). */
  submitToPlannedMs: Summary;
  /** planned → preview ready seen (what the preview adds to the request, from the client). */
  plannedToPreviewMs: Summary;
  /** From each request's history (server clock, the same machine's). */
  historyMs: {
    /** Workflow start → previewPlan scheduled. */
    startToScheduled: Summary;
    /** previewPlan scheduled → started (matching, the worker's poll). */
    dispatch: Summary;
    /** previewPlan started → completed (the activity: ansible-playbook per step, side by side). */
    activity: Summary;
    /** previewPlan completed → the workflow task that put it on the state and recorded the request completed. */
    recorded: Summary;
    /** submit (client) → that workflow task completed: the preview on the request record. */
    submitToRecorded: Summary;
  };
  distinctFingerprints: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const loadAverage = () => os.loadavg().map((load) => round(load, 2));

function checkPreview(preview: StepPreview | undefined, what: string): string | undefined {
  if (!preview) return `${what}: no preview`;
  if (!preview.ok) return `${what}: not ok: ${preview.problems.join('; ')}`;
  if (preview.hosts.length === 0 || preview.tasks.length === 0)
    return `${what}: ${preview.hosts.length} hosts, ${preview.tasks.length} tasks`;
  return undefined;
}

type Previewer = ReturnType<typeof createPreviewActivities>;

export async function measurePreview(
  stack: BenchStack,
  options: { coldN: number; warmN: number; endToEndN: number; breakdownN: number },
): Promise<PreviewResult> {
  const errors: string[] = [];
  const loadAtStart = loadAverage();
  const sample = path.join(stack.scratch, 'preview-playbooks');
  fs.cpSync(fromProjectRoot('playbooks'), sample, { recursive: true });
  const site = writeSiteRolesRepo(path.join(stack.scratch, 'preview-site-150'), 150);
  const previewConfig = (repo: string, name: string): ChiffonConfig => {
    const dir = path.join(stack.scratch, `preview-${name}`);
    return { ...loadConfig({}), playbookRepo: repo, stateDir: path.join(dir, 'state'), workDir: path.join(dir, 'work') };
  };
  const sampleConfig = previewConfig(sample, 'sample');
  const siteConfig = previewConfig(site, 'site');

  // The plans, by the real planning path.
  const env = new MockActivityEnvironment();
  const planOf = async (config: ChiffonConfig, message: string, playbooks: string[]): Promise<Plan> => {
    const planning = createPlanningActivities(config, stack.prisma, createDecomposer(loadLlmConfig({})));
    const decomposed = (await env.run(planning.decompose, message)) as Awaited<ReturnType<typeof planning.decompose>>;
    if (!decomposed.ok) throw new Error(`"${message}" decomposed to nothing: ${decomposed.message}`);
    const planned = (await env.run(planning.plan, decomposed.intents)) as Awaited<ReturnType<typeof planning.plan>>;
    if (!planned.ok) throw new Error(`"${message}" did not plan: ${planned.message}`);
    const got = planned.plan.steps.map((s) => s.playbook);
    if (got.join(',') !== playbooks.join(',')) throw new Error(`"${message}" planned ${got.join(', ')}, expected ${playbooks.join(', ')}`);
    return planned.plan;
  };
  const oneStep = await planOf(sampleConfig, KUMA_ONE_STEP_MESSAGE, ['kuma-deploy.yml']);
  const twoStep = await planOf(sampleConfig, KUMA_REQUEST, ['kuma-deploy.yml', 'kuma-config-update.yml']);
  const sitePlan = await planOf(siteConfig, SITE_MESSAGE, ['site.yml']);
  const siteStep = sitePlan.steps[0]!;
  if (limitOf(siteStep) !== 'nas01' || siteStep.tags?.join(',') !== 'svc001,svc075') {
    throw new Error(`site plan: --limit ${limitOf(siteStep)} --tags ${siteStep.tags?.join(',')}, expected nas01 and svc001,svc075`);
  }

  interface Scenario {
    id: string;
    repo: string;
    message: string;
    config: ChiffonConfig;
    steps: PlanStep[];
    fingerprint: Plan['fingerprint'];
    cold: number[];
    coldProcess: number[];
    warm: number[];
    previews?: StepPreview[];
  }
  const scenario = (id: string, repo: string, message: string, config: ChiffonConfig, plan: Plan, steps = plan.steps): Scenario => ({
    id,
    repo,
    message,
    config,
    steps,
    fingerprint: plan.fingerprint,
    cold: [],
    coldProcess: [],
    warm: [],
  });
  const scenarios = [
    scenario('kuma-deploy', 'playbooks/', KUMA_ONE_STEP_MESSAGE, sampleConfig, oneStep),
    scenario('kuma-config-update', 'playbooks/', `${KUMA_REQUEST} (step 2 alone)`, sampleConfig, twoStep, [twoStep.steps[1]!]),
    scenario('kuma-two-step', 'playbooks/', KUMA_REQUEST, sampleConfig, twoStep),
    scenario('site', 'site fixture, 150 roles', SITE_MESSAGE, siteConfig, sitePlan),
  ];
  const previewOnce = async (previewer: Previewer, s: Scenario, what: string, into: number[]) => {
    const started = performance.now();
    const previews = await previewer.previewPlan({ steps: s.steps, fingerprint: s.fingerprint });
    into.push(performance.now() - started);
    previews.forEach((p, i) => {
      const problem = checkPreview(p, `${what} ${s.id} step ${i + 1}`);
      if (problem) errors.push(problem);
    });
    s.previews ??= previews;
  };

  // One unmeasured preview of each first: ansible's own files in the page cache, Python's bytecode.
  for (const s of scenarios) await previewOnce(createPreviewActivities(s.config), s, 'warm-up', []);

  // Cold, interleaved; the two-step plan's steps side by side, each timed, in the same rounds.
  const sideBySide = { perStep: twoStep.steps.map(() => [] as number[]), wall: [] as number[] };
  for (let k = 0; k < options.coldN; k++) {
    for (const s of scenarios) {
      await previewOnce(createPreviewActivities(s.config), s, `cold ${k}`, s.cold);
      await previewOnce(createPreviewActivities(s.config, { warmAnsible: false }), s, `cold process ${k}`, s.coldProcess);
    }
    const previewer = createPreviewActivities(sampleConfig);
    const started = performance.now();
    await Promise.all(
      twoStep.steps.map(async (step, i) => {
        const previews = await previewer.previewPlan({ steps: [step], fingerprint: twoStep.fingerprint });
        sideBySide.perStep[i]!.push(performance.now() - started);
        const problem = checkPreview(previews[0], `side by side ${k} step ${i + 1}`);
        if (problem) errors.push(problem);
      }),
    );
    sideBySide.wall.push(performance.now() - started);
  }

  // Warm: the same instance, the same plan.
  for (const s of scenarios) {
    const previewer = createPreviewActivities(s.config);
    await previewOnce(previewer, s, 'warm prime', []);
    for (let k = 0; k < options.warmN; k++) await previewOnce(previewer, s, `warm ${k}`, s.warm);
  }

  const results: PreviewScenarioResult[] = scenarios.map((s) => ({
    id: s.id,
    repo: s.repo,
    message: s.message,
    steps: s.steps.map((step, i) => ({
      playbook: step.playbook,
      ...(limitOf(step) ? { limit: limitOf(step) } : {}),
      ...(step.tags ? { tags: step.tags } : {}),
      hosts: s.previews?.[i]?.hosts.length ?? 0,
      tasks: s.previews?.[i]?.tasks.length ?? 0,
    })),
    coldMs: summarize(s.cold),
    coldPerStepMs: summarize(s.cold.map((ms) => ms / s.steps.length)),
    coldProcessMs: summarize(s.coldProcess),
    coldProcessPerStepMs: summarize(s.coldProcess.map((ms) => ms / s.steps.length)),
    warmMs: summarize(s.warm),
  }));
  const p50 = (id: string) => results.find((r) => r.id === id)!.coldMs.p50;
  const sequentialMs = p50('kuma-deploy') + p50('kuma-config-update');

  // Where a cold step's time goes.
  const breakdown: PreviewBreakdown[] = [];
  for (const [config, step, label] of [
    [sampleConfig, oneStep.steps[0]!, 'kuma-deploy.yml'],
    [sampleConfig, twoStep.steps[1]!, 'kuma-config-update.yml'],
    [siteConfig, siteStep, `site.yml --tags ${siteStep.tags?.join(',')} --limit ${limitOf(siteStep)}`],
  ] as const) {
    breakdown.push(await phasesOf(config, step, label, options.breakdownN, errors));
  }

  // End to end through a worker.
  const endToEnd = await measureEndToEnd(stack, sample, options.endToEndN, errors);

  for (const error of errors.slice(0, 5)) console.error(`bench: preview: ${error}`);
  return {
    ansiblePlaybook: tools.ansiblePlaybook(),
    coldN: options.coldN,
    warmN: options.warmN,
    scenarios: results,
    sideBySide: {
      playbooks: twoStep.steps.map((s) => s.playbook),
      perStepMs: sideBySide.perStep.map((samples) => summarize(samples)),
      wallMs: summarize(sideBySide.wall),
    },
    twoStep: {
      ratioToOneStep: round(p50('kuma-two-step') / p50('kuma-deploy'), 2),
      extraMs: round(p50('kuma-two-step') - p50('kuma-deploy')),
      sequentialMs: round(sequentialMs),
      savedPercent: round((1 - p50('kuma-two-step') / sequentialMs) * 100),
    },
    breakdown,
    endToEnd,
    loadAverage: { start: loadAtStart, end: loadAverage() },
    errors,
  };
}

// The instrumented ansible-playbook: the same entry point (ansible.cli.playbook main), with
// timestamps (epoch seconds) taken around its phases, printed on stderr at exit.
const PHASES_WRAPPER = `
import sys, time, json, atexit
marks = {'start': time.time()}
import ansible.cli.playbook as cli_playbook
marks['imported'] = time.time()
from ansible.inventory.manager import InventoryManager
from ansible.playbook import Playbook
from ansible.executor.playbook_executor import PlaybookExecutor
_inventory_init = InventoryManager.__init__
def _timed_inventory_init(self, *args, **kwargs):
    marks.setdefault('inventory_start', time.time())
    try:
        return _inventory_init(self, *args, **kwargs)
    finally:
        marks['inventory_end'] = time.time()
InventoryManager.__init__ = _timed_inventory_init
_load = Playbook.load
def _timed_load(*args, **kwargs):
    marks.setdefault('playbook_start', time.time())
    try:
        return _load(*args, **kwargs)
    finally:
        marks['playbook_end'] = time.time()
Playbook.load = staticmethod(_timed_load)
_run = PlaybookExecutor.run
def _timed_run(self):
    try:
        return _run(self)
    finally:
        marks['executor_end'] = time.time()
PlaybookExecutor.run = _timed_run
def _report():
    marks['exit'] = time.time()
    sys.stderr.write('CHIFFON_PHASES ' + json.dumps(marks) + '\\n')
    sys.stderr.flush()
atexit.register(_report)
sys.argv[0] = 'ansible-playbook'
sys.exit(cli_playbook.main())
`;

/** The interpreter of the ansible-playbook script (its shebang). */
function pythonOf(ansiblePlaybook: string): string {
  const first = fs.readFileSync(ansiblePlaybook, 'utf8').split('\n')[0] ?? '';
  const interpreter = first.startsWith('#!') ? first.slice(2).trim().split(/\s+/)[0] : undefined;
  return interpreter && fs.existsSync(interpreter) ? interpreter : path.join(path.dirname(ansiblePlaybook), 'python3');
}

const medianOf = (values: number[]) => summarize(values).p50;

/** The step's exact preview command line (as preview-playbook.ts builds it), run n times under the wrapper. */
async function phasesOf(config: ChiffonConfig, step: PlanStep, label: string, n: number, errors: string[]): Promise<PreviewBreakdown> {
  const repo = path.resolve(config.playbookRepo);
  const ansiblePlaybook = tools.ansiblePlaybook();
  const python = pythonOf(ansiblePlaybook);
  const playbookPath = await resolvePlaybook(repo, step.playbook);
  const inventorySources = resolveInventory(repo, (await locateInventory(repo, config.inventory)).sources);
  const dir = fs.mkdtempSync(path.join(path.resolve(config.workDir, '..'), 'phases-'));
  const varsFile = path.join(dir, 'extra-vars.yml');
  const localTemp = path.join(dir, 'tmp');
  fs.mkdirSync(localTemp, { recursive: true });
  fs.writeFileSync(
    varsFile,
    serializeVars({ ...step.vars, chiffon_agent: step.agent ?? config.workerHost }, path.resolve(config.stateDir)),
    { mode: 0o600 },
  );
  const limit = limitOf(step);
  const args = [
    ...playbookArgs({ inventorySources, ...(limit ? { limit } : {}), ...(step.tags ? { tags: step.tags } : {}), varsFile, playbookPath }),
    '--list-hosts',
    '--list-tasks',
  ];
  const samples: PreviewPhases[] = [];
  const bare: number[] = [];
  try {
    for (let k = 0; k < n; k++) {
      let t = performance.now();
      await execa(python, ['-c', 'pass'], { stdin: 'ignore' });
      bare.push(performance.now() - t);
      const spawnedAt = performance.timeOrigin + performance.now();
      t = performance.now();
      const result = await execa(python, ['-c', PHASES_WRAPPER, ...args], {
        cwd: repo,
        env: ansibleEnv(ansiblePlaybook, localTemp),
        stdin: 'ignore',
        reject: false,
      });
      const endedAt = performance.timeOrigin + performance.now();
      const total = performance.now() - t;
      const line = String(result.stderr ?? '')
        .split('\n')
        .find((l) => l.startsWith('CHIFFON_PHASES '));
      if (result.exitCode !== 0 || !line) {
        errors.push(`breakdown ${label}: exit ${result.exitCode} ${String(result.stderr ?? '').slice(-300)}`);
        continue;
      }
      const m = JSON.parse(line.slice('CHIFFON_PHASES '.length)) as Record<string, number>;
      const at = (key: string) => (m[key] ?? Number.NaN) * 1000;
      samples.push({
        pythonStart: at('start') - spawnedAt,
        ansibleImport: at('imported') - at('start'),
        cliSetup: at('inventory_start') - at('imported'),
        inventoryParse: at('inventory_end') - at('inventory_start'),
        beforePlaybook: at('playbook_start') - at('inventory_end'),
        playbookParse: at('playbook_end') - at('playbook_start'),
        varsAndListing: at('executor_end') - at('playbook_end'),
        tagFilterAndPrint: at('exit') - at('executor_end'),
        processExit: endedAt - at('exit'),
        total,
      });
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  const keys = Object.keys(samples[0] ?? {}) as (keyof PreviewPhases)[];
  const medianMs = Object.fromEntries(keys.map((key) => [key, medianOf(samples.map((s) => s[key]))])) as unknown as PreviewPhases;
  return { step: label, n: samples.length, medianMs, pythonBareMs: medianOf(bare) };
}

const EventType = proto.temporal.api.enums.v1.EventType;
const POLL_MS = 25;

async function measureEndToEnd(stack: BenchStack, repo: string, n: number, errors: string[]): Promise<PreviewResult['endToEnd']> {
  const worker = await stack.startWorker('preview', { playbookRepo: repo });
  const salt = path.join(repo, 'templates', 'bench-salt.txt');
  const runs = async (count: number, change: boolean, what: string) => {
    const samples: { requestId: string; submitAt: number; planned: number; seen: number; fingerprint: string }[] = [];
    for (let i = 0; i < count; i++) {
      if (change) fs.writeFileSync(salt, `${what} ${i} ${randomUUID()}\n`);
      const submitAt = performance.timeOrigin + performance.now();
      const started = performance.now();
      const { requestId, state } = await stack.submit(worker, KUMA_REQUEST);
      const planned = performance.now() - started;
      if (state.status !== 'pending_approval' || state.plan?.steps.length !== 2) {
        errors.push(`end to end ${what} ${requestId}: ${state.status} ${state.error?.message ?? ''}`);
        continue;
      }
      const handle = stack.client.workflow.getHandle(workflowIdFor(requestId));
      let seen: RequestState = state;
      const deadline = performance.now() + 120_000;
      while (!seen.preview || seen.preview.status === 'running') {
        if (performance.now() > deadline) break;
        await sleep(POLL_MS);
        seen = await handle.query(requestStateQuery);
      }
      const ms = performance.now() - started;
      if (seen.preview?.status !== 'ready') {
        errors.push(`end to end ${what} ${requestId}: preview ${seen.preview?.status ?? 'missing'} ${seen.error?.message ?? ''}`);
        continue;
      }
      samples.push({ requestId, submitAt, planned, seen: ms, fingerprint: JSON.stringify(state.plan.fingerprint) });
    }
    return samples;
  };
  try {
    // Warm-up (the worker's first workflow task, its first preview): not counted.
    await runs(1, true, 'warm-up');
    const cold = await runs(n, true, 'cold');
    const warm = await runs(n, false, 'warm');
    return { message: KUMA_REQUEST, pollMs: POLL_MS, cold: await endToEndOf(stack, cold), warm: await endToEndOf(stack, warm) };
  } finally {
    await worker.stop();
  }
}

async function endToEndOf(
  stack: BenchStack,
  samples: { requestId: string; submitAt: number; planned: number; seen: number; fingerprint: string }[],
): Promise<EndToEndResult> {
  const phases = await Promise.all(samples.map(async (s) => ({ ...(await previewPhases(stack, s.requestId)), submitAt: s.submitAt })));
  const pick = (get: (p: (typeof phases)[number]) => number) => summarize(phases.map(get));
  return {
    n: samples.length,
    submitToPreviewMs: summarize(samples.map((s) => s.seen)),
    submitToPlannedMs: summarize(samples.map((s) => s.planned)),
    plannedToPreviewMs: summarize(samples.map((s) => s.seen - s.planned)),
    historyMs: {
      startToScheduled: pick((p) => p.scheduled - p.start),
      dispatch: pick((p) => p.started - p.scheduled),
      activity: pick((p) => p.completed - p.started),
      recorded: pick((p) => p.recorded - p.completed),
      submitToRecorded: pick((p) => p.recorded - p.submitAt),
    },
    distinctFingerprints: new Set(samples.map((s) => s.fingerprint)).size,
  };
}

/** The previewPlan activity's events of a request's history (epoch ms, server clock). */
async function previewPhases(stack: BenchStack, requestId: string) {
  const history = await stack.client.workflow.getHandle(workflowIdFor(requestId)).fetchHistory();
  const events = history.events ?? [];
  const at = (e: (typeof events)[number] | undefined) =>
    e ? Number(String(e.eventTime?.seconds ?? 0)) * 1000 + (e.eventTime?.nanos ?? 0) / 1e6 : Number.NaN;
  const scheduled = events.find(
    (e) =>
      e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED &&
      e.activityTaskScheduledEventAttributes?.activityType?.name === 'previewPlan',
  );
  const id = String(scheduled?.eventId);
  const started = events.find(
    (e) =>
      e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED && String(e.activityTaskStartedEventAttributes?.scheduledEventId) === id,
  );
  const completedIndex = events.findIndex(
    (e) =>
      e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED &&
      String(e.activityTaskCompletedEventAttributes?.scheduledEventId) === id,
  );
  const recorded = events.slice(completedIndex + 1).find((e) => e.eventType === EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED);
  return {
    start: at(events[0]),
    scheduled: at(scheduled),
    started: at(started),
    completed: completedIndex >= 0 ? at(events[completedIndex]) : Number.NaN,
    recorded: completedIndex >= 0 ? at(recorded) : Number.NaN,
  };
}
