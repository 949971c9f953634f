// `npm run bench`: Chiffon's performance against the real stack (Temporal dev server from the
// project's binary, PostgreSQL, git, ansible-playbook). Prints a table and writes it, with the
// machine's description, to bench/results/<timestamp>.json. Not part of `npm test`.
//
//   npm run bench -- --only planning,stream,discovery   a subset of the sections (BENCH_ONLY=...):
//                                                       step, planning, stream, discovery, inference, preview, history, concurrency
//   npm run bench -- --concurrency 1,10                 the concurrency levels (BENCH_CONCURRENCY; default 1,10,50,100)
//   npm run bench -- --quick                            small N everywhere, a few minutes (BENCH_QUICK=1)
//   BENCH_MAX_LOAD_PER_CPU=N                            the workers' capacity threshold (default: the project's)
//   BENCH_TEMPORAL_ARGS='--dynamic-config-value k=v'    extra arguments of the Temporal dev server
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { execa } from 'execa';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { fromProjectRoot } from '../lib/paths.js';
import { tools } from '../lib/tools.js';
import { ansibleVersion } from './ansible.js';
import { measureConcurrency, type ConcurrencyResult } from './concurrency.js';
import { measureDiscovery, type DiscoveryResult } from './discovery.js';
import { writeBenchRepo } from './fixtures/repos.js';
import { measureHistory, type HistoryResult } from './history.js';
import { INFERENCE_TARGETS, measureInference, type InferenceResult } from './inference.js';
import { measurePlanning, type PlanningResult } from './planning.js';
import { measurePreview, PREVIEW_TARGETS, type PreviewResult } from './preview.js';
import { benchCapacityOverride, startBenchStack, type BenchStack } from './stack.js';
import { loadConfig } from '../lib/config.js';
import { measureStepOverhead, type StepOverheadResult } from './step-overhead.js';
import { measureStream, type StreamResult } from './stream.js';
import { round } from './stats.js';

const SECTIONS = ['step', 'planning', 'stream', 'discovery', 'inference', 'preview', 'history', 'concurrency'] as const;
const USAGE = `usage: npm run bench -- [--only ${SECTIONS.join(',')}] [--concurrency 1,10,50,100] [--quick]`;

function options() {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: { only: { type: 'string' }, concurrency: { type: 'string' }, quick: { type: 'boolean' }, help: { type: 'boolean' } },
    strict: true,
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const list = (text: string) =>
    text
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
  const onlyText = values.only ?? process.env.BENCH_ONLY;
  const only = onlyText ? new Set(list(onlyText)) : undefined;
  for (const name of only ?? []) {
    if (!(SECTIONS as readonly string[]).includes(name)) throw new Error(`--only: no section ${name} (${SECTIONS.join(', ')})`);
  }
  const levels = list(values.concurrency ?? process.env.BENCH_CONCURRENCY ?? '1,10,50,100').map(Number);
  if (levels.length === 0 || levels.some((level) => !Number.isInteger(level) || level < 1))
    throw new Error('--concurrency: positive whole numbers, e.g. 1,10,50,100');
  return { only, levels, quick: values.quick === true || process.env.BENCH_QUICK === '1' };
}

let parsed: ReturnType<typeof options>;
try {
  parsed = options();
} catch (error) {
  console.error(`${error instanceof Error ? error.message : String(error)}\n${USAGE}`);
  process.exit(2);
}
const { only, levels, quick } = parsed;
const sizes = quick
  ? { stepN: 5, planN: 20, streamRuns: 5, discoveryN: 3, inferenceColdN: 3, preview: { coldN: 3, warmN: 5, endToEndN: 3, breakdownN: 2 } }
  : {
      stepN: 20,
      planN: 100,
      streamRuns: 20,
      discoveryN: 10,
      inferenceColdN: 5,
      preview: { coldN: 10, warmN: 20, endToEndN: 10, breakdownN: 5 },
    };
const wanted = (name: string) => !only || only.has(name);

interface Results {
  startedAt: string;
  mode: 'quick' | 'full';
  machine: Record<string, unknown>;
  stepOverhead?: StepOverheadResult;
  planning?: PlanningResult[];
  discovery?: DiscoveryResult;
  /** A 150-role site playbook without Chiffon files (services inferred): cold/warm scan, request → plan. */
  inference?: InferenceResult;
  /**
   * The plan preflight (ansible-playbook --list-hosts --list-tasks per step): cold/warm per step and plan, breakdown,
   * submit → preview on the request.
   */
  preview?: PreviewResult;
  history?: HistoryResult;
  concurrency?: ConcurrencyResult[];
  /** Concurrency levels asked for (the run may have stopped before the last). */
  concurrencyLevels: number[];
  stream?: StreamResult;
  failures: Record<string, string>;
  targets: { target: string; measured: string; met: boolean | null }[];
}

let stack: BenchStack | undefined;
let stopping: Promise<void> | undefined;
const stopStack = () => (stopping ??= stack ? stack.stop() : Promise.resolve());

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    console.error(`bench: ${signal}, stopping the stack`);
    void stopStack().finally(() => process.exit(130));
  });
}

async function machine(): Promise<Record<string, unknown>> {
  const temporal = await execa(tools.temporalCli(), ['--version'], { reject: false });
  const cpus = os.cpus();
  return {
    cores: cpus.length,
    cpuModel: cpus[0]?.model ?? 'unknown',
    memoryGb: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    os: `${os.type()} ${os.release()}`,
    node: process.version,
    temporal: temporal.stdout.trim() || 'unknown',
    ansible: await ansibleVersion(),
    loadAverageAtStart: os.loadavg().map((load) => Math.round(load * 100) / 100),
    database: process.env.DATABASE_URL ? 'DATABASE_URL' : 'embedded PostgreSQL',
    maxLoadPerCpu: benchCapacityOverride().maxLoadPerCpu ?? loadConfig({}).maxLoadPerCpu,
  };
}

async function run(): Promise<void> {
  // Workers log each state change at INFO: only warnings and errors matter here.
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const startedAt = new Date();
  const results: Results = {
    startedAt: startedAt.toISOString(),
    mode: quick ? 'quick' : 'full',
    machine: await machine(),
    concurrencyLevels: levels,
    failures: {},
    targets: [],
  };
  console.log(`chiffon bench (${results.mode}) on ${JSON.stringify(results.machine)}`);
  const file = path.join(fromProjectRoot('bench', 'results'), `${startedAt.toISOString().replace(/[:.]/g, '-')}.json`);
  // Written after every measurement too, so that a run stopped half-way keeps what it measured.
  const save = () => {
    results.targets = targets(results);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
  };
  try {
    stack = await startBenchStack();
    const repo = writeBenchRepo(path.join(stack.scratch, 'bench-repo'));
    const attempt = async <T>(name: string, measure: () => Promise<T>): Promise<T | undefined> => {
      if (!wanted(name)) {
        results.failures[name] = 'skipped (--only)';
        return undefined;
      }
      const t = performance.now();
      console.log(`bench: ${name}...`);
      try {
        const result = await measure();
        console.log(`bench: ${name} done in ${Math.round((performance.now() - t) / 1000)} s`);
        return result;
      } catch (error) {
        results.failures[name] = error instanceof Error ? error.message : String(error);
        console.error(`bench: ${name} failed: ${results.failures[name]}`);
        return undefined;
      }
    };
    results.stepOverhead = await attempt('step', () => measureStepOverhead(stack!, repo, sizes.stepN));
    save();
    results.planning = await attempt('planning', async () => [
      await measurePlanning(stack!, 20, sizes.planN),
      await measurePlanning(stack!, 2000, sizes.planN),
    ]);
    save();
    results.stream = await attempt('stream', () => measureStream(stack!, repo, sizes.streamRuns));
    save();
    results.discovery = await attempt('discovery', () => measureDiscovery(stack!, 2000, sizes.discoveryN));
    save();
    results.inference = await attempt('inference', () =>
      measureInference(stack!, 150, sizes.planN, { coldN: sizes.inferenceColdN, warmN: Math.max(sizes.discoveryN, 10) }),
    );
    save();
    results.preview = await attempt('preview', () => measurePreview(stack!, sizes.preview));
    save();
    results.history = await attempt('history', () => measureHistory(stack!, repo));
    save();
    results.concurrency = await attempt('concurrency', async () => {
      const out: ConcurrencyResult[] = (results.concurrency = []);
      for (const level of levels) {
        console.log(`bench: concurrency ${level}...`);
        out.push(await measureConcurrency(stack!, repo, level));
        save();
      }
      return out;
    });
  } finally {
    await stopStack();
  }
  save();
  console.log(`\n${table(results)}\nresults: ${path.relative(process.cwd(), file)}`);
}

function targets(r: Results): Results['targets'] {
  const out: Results['targets'] = [];
  const s = r.stepOverhead;
  out.push({
    target: 'step overhead <= 100 ms and <= 3% (~3 s playbook)',
    measured: s ? `${s.overheadMs} ms, ${s.overheadPercent}% (raw median ${s.rawMs.p50} ms)` : 'not measured',
    met: s ? s.overheadMs <= 100 && s.overheadPercent <= 3 : null,
  });
  const c100 = r.concurrency?.find((c) => c.concurrency === 100);
  out.push({
    target: '100 concurrent requests: 0 errors, wall <= 1.2x raw parallel ansible',
    measured: c100 ? `${c100.errors.length} errors, ${c100.wallRatio}x` : 'not measured (level 100 not run)',
    met: c100 ? c100.errors.length === 0 && c100.wallRatio <= 1.2 : null,
  });
  for (const p of r.planning ?? []) {
    out.push({
      target: `plan p95 <= 200 ms (${p.catalogSize} playbooks)`,
      measured: `${p.endToEndMs.p95} ms`,
      met: p.endToEndMs.p95 <= 200,
    });
  }
  if (!r.planning) out.push({ target: 'plan p95 <= 200 ms', measured: 'not measured', met: null });
  const st = r.stream;
  out.push({
    target: 'stream p95 <= 100 ms (ansible emits a task event → WebSocket subscriber)',
    measured: st
      ? `${st.latencyMs.p95} ms p95, ${st.latencyMs.p50} ms p50 (${st.events} events), ${st.transactionsPerEvent} transactions/event`
      : 'not measured',
    met: st ? st.latencyMs.p95 <= 100 : null,
  });
  // Each burst length: the steps' transactions per event (their writes share the worker's group
  // commit, services/group-commit.ts) beside those of the 150 ms batches; met when no length costs more.
  const loads = (st?.load ?? []).flatMap((l) => {
    const before = st?.load.find((o) => o.mode === 'batched 150 ms' && o.eventsPerWriter === l.eventsPerWriter);
    return l.mode === 'adaptive' && before
      ? [{ events: l.eventsPerWriter, now: l.transactionsPerEvent, before: before.transactionsPerEvent }]
      : [];
  });
  out.push({
    target: 'stream under load: transactions per event <= the 150 ms batches, short bursts and sustained',
    measured: loads.length
      ? loads.map((p) => `${p.events} events a step: ${p.now} (150 ms batches: ${p.before})`).join('; ')
      : 'not measured',
    met: loads.length ? loads.every((p) => p.now <= p.before) : null,
  });
  const d = r.discovery;
  out.push({
    target: 'warm discovery of 2,000 playbooks <= 1 s',
    measured: d ? `${d.warmMs.p50} ms p50 (memo ${d.memoMs.p50} ms)` : 'not measured',
    met: d ? d.warmMs.p50 <= 1000 : null,
  });
  const inf = r.inference;
  const T = INFERENCE_TARGETS;
  out.push({
    target: `cold scan of a 150-role site playbook (inferred, empty cache, fresh memory) <= ${T.coldMs / 1000} s`,
    measured: inf ? `${inf.coldMs.p50} ms p50 (max ${inf.coldMs.max}, n=${inf.coldMs.n})` : 'not measured',
    met: inf ? inf.coldMs.p50 <= T.coldMs : null,
  });
  out.push({
    target: `warm scan of a 150-role site playbook (nothing changed, db cache) <= ${T.warmMs} ms`,
    measured: inf ? `${inf.warmMs.p50} ms p50 (p95 ${inf.warmMs.p95}; memo ${inf.memoMs.p50} ms)` : 'not measured',
    met: inf ? inf.warmMs.p50 <= T.warmMs : null,
  });
  out.push({
    target: `plan p95 <= ${T.planP95Ms} ms (150-role site playbook, "${inf?.plan.example ?? 'enable svcA and svcB on host'}")`,
    measured: inf ? `${inf.plan.endToEndMs.p95} ms (p50 ${inf.plan.endToEndMs.p50}, n=${inf.plan.endToEndMs.n})` : 'not measured',
    met: inf ? inf.plan.endToEndMs.n > 0 && inf.plan.endToEndMs.p95 <= T.planP95Ms : null,
  });
  const pv = r.preview;
  const scenario = (id: string) => pv?.scenarios.find((s) => s.id === id);
  const stepTarget = PREVIEW_TARGETS.stepP95Ms;
  const previewRow = (label: string, id: string, detail: (s: NonNullable<ReturnType<typeof scenario>>) => string = () => '') => {
    const s = scenario(id);
    out.push({
      target: `preview p95 <= ${stepTarget / 1000} s per step, cold (${label})`,
      measured: s
        ? `${s.coldPerStepMs.p95} ms per step p95 (plan p50/p95 ${s.coldMs.p50} / ${s.coldMs.p95} ms, n=${s.coldMs.n}${detail(s)}; a process per step instead: ${s.coldProcessPerStepMs.p95} ms; warm p95 ${s.warmMs.p95} ms)`
        : 'not measured',
      met: s ? s.coldMs.n > 0 && s.coldPerStepMs.p95 <= stepTarget : null,
    });
  };
  previewRow('playbooks/, one step kuma-deploy', 'kuma-deploy');
  previewRow('playbooks/, two steps kuma-deploy + kuma-config-update side by side', 'kuma-two-step', () =>
    pv
      ? `; each step side by side p95 ${pv.sideBySide.perStepMs.map((m) => m.p95).join(' / ')} ms; kuma-config-update alone p95 ${scenario('kuma-config-update')?.coldMs.p95} ms`
      : '',
  );
  previewRow(`150-role site, "${pv?.scenarios.find((s) => s.id === 'site')?.message ?? 'enable svc001 and svc075 on nas01'}"`, 'site');
  return out;
}

function grid(rows: (string | number)[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => String(row[i] ?? '').length)));
  return rows
    .map((row) =>
      row
        .map((cell, i) => String(cell ?? '').padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

function table(r: Results): string {
  const lines: string[] = [];
  const m = r.machine;
  lines.push(
    `machine: ${m.cores} cores (${m.cpuModel}), ${m.memoryGb} GB, node ${m.node}, ${m.temporal}, ${m.ansible}, ${m.database}; load average at start ${JSON.stringify(m.loadAverageAtStart)}; capacity threshold ${m.maxLoadPerCpu} load/CPU; mode ${r.mode}`,
  );
  const rows: (string | number)[][] = [['measurement', 'figure', 'value']];
  const s = r.stepOverhead;
  if (s) {
    rows.push(['1 step overhead', `raw ansible-playbook p50/p95 (n=${s.n})`, `${s.rawMs.p50} / ${s.rawMs.p95} ms`]);
    rows.push(['', 'chiffon approval→step completed p50/p95', `${s.chiffonMs.p50} / ${s.chiffonMs.p95} ms`]);
    rows.push(['', 'overhead (median diff), ratio', `${s.overheadMs} ms (${s.overheadPercent}%), ${s.ratio}x`]);
    rows.push(['', 'approval→run start / run end→recorded p50', `${s.beforeRunMs.p50} / ${s.afterRunMs.p50} ms`]);
    if (s.errors.length) rows.push(['', 'errors', s.errors.length]);
  }
  for (const c of r.concurrency ?? []) {
    rows.push([`2 concurrency ${c.concurrency}`, 'wall raw / chiffon (ratio)', `${c.rawWallMs} / ${c.chiffonWallMs} ms (${c.wallRatio}x)`]);
    rows.push([
      '',
      'request p50/p95, errors, max RSS',
      `${c.requestMs.p50} / ${c.requestMs.p95} ms, ${c.errors.length} errors, ${c.maxRssMb} MB`,
    ]);
    if (c.rawCpu && c.chiffonCpu) {
      const seconds = (ms: number) => round(ms / 1000);
      rows.push([
        '',
        'CPU busy raw / chiffon (ratio); steal',
        `${seconds(c.rawCpu.busyMs)} / ${seconds(c.chiffonCpu.busyMs)} s (${c.cpuRatio}x); ${seconds(c.rawCpu.stealMs)} / ${seconds(c.chiffonCpu.stealMs)} s`,
      ]);
    }
    if (c.pausedRequests) rows.push(['', 'requests paused for capacity', c.pausedRequests]);
  }
  for (const p of r.planning ?? []) {
    rows.push([`3 planning ${p.catalogSize}`, `request→plan p50/p95 (n=${p.n})`, `${p.endToEndMs.p50} / ${p.endToEndMs.p95} ms`]);
    const b = p.breakdownMs;
    rows.push([
      '',
      'of which p50: workflow tasks (decompose / plan / recordRequest / after), temporal dispatch',
      `${b.workflowTasks.p50} (${b.decomposeActivity.p50} / ${b.planActivity.p50} / ${b.otherLocalActivities.p50} / ${b.afterLocalActivities.p50}), ${b.temporalDispatch.p50} ms`,
    ]);
    rows.push(['', 'parse+plan in process p50/p95', `${p.parseAndPlanMs.p50} / ${p.parseAndPlanMs.p95} ms`]);
    rows.push([
      '',
      'ansible-inventory p50; inventory memo p50/p95',
      `${p.inventoryReadMs.p50} ms; ${p.inventoryMemoMs.p50} / ${p.inventoryMemoMs.p95} ms`,
    ]);
    if (p.errors.length) rows.push(['', 'errors', p.errors.length]);
  }
  const st = r.stream;
  if (st) {
    rows.push([
      '4 stream',
      `emitted→received p50/p95 (${st.events} events, ${st.runs} runs)`,
      `${st.latencyMs.p50} / ${st.latencyMs.p95} ms (max ${st.latencyMs.max})`,
    ]);
    rows.push([
      '',
      'emitted→stored / stored→received p50/p95; transactions per event',
      `${st.emittedToStoredMs.p50}/${st.emittedToStoredMs.p95} / ${st.storedToReceivedMs.p50}/${st.storedToReceivedMs.p95} ms; ${st.transactionsPerEvent}`,
    ]);
    if (st.errors.length) rows.push(['', 'errors', st.errors.length]);
    for (const l of st.load) {
      rows.push([
        '',
        `under load (${l.writers} steps × ${l.eventsPerWriter} events, one per ${l.intervalMs} ms each) ${l.mode}: transactions per event; push→committed p50/p95`,
        `${l.transactionsPerEvent} (${l.transactions}); ${l.pushToCommittedMs.p50} / ${l.pushToCommittedMs.p95} ms${l.errors.length ? `; ${l.errors.length} errors` : ''}`,
      ]);
    }
  }
  const d = r.discovery;
  if (d) {
    rows.push([`5 discovery ${d.playbooks}`, 'cold (empty cache)', `${d.coldMs} ms`]);
    rows.push(['', 'warm (db cache) / memo / uncached p50', `${d.warmMs.p50} / ${d.memoMs.p50} / ${d.uncachedMs.p50} ms`]);
  }
  const inf = r.inference;
  if (inf) {
    const c = inf.coldBreakdownMs;
    const q = inf.plan.inProcessMs;
    const b = inf.plan.breakdownMs;
    rows.push([
      `7 inference ${inf.roles} roles`,
      `cold scan p50/max (${inf.supportFiles} role files, ${inf.withArgumentSpecs} argument_specs); samples`,
      `${inf.coldMs.p50} / ${inf.coldMs.max} ms; ${inf.coldSamplesMs.join(', ')}`,
    ]);
    rows.push([
      '',
      'cold steps: readRepository / support YAML / parse+infer / JSON / assemble / cache query+write',
      `${c.readRepository} / ${c.supportYaml} / ${c.parseAndInfer} / ${c.jsonRoundTrip} / ${c.assemble} / ${c.cacheQueryAndWrite} ms`,
    ]);
    rows.push([
      '',
      'warm (db cache) p50/p95; of which readRepository p50; memo p50',
      `${inf.warmMs.p50} / ${inf.warmMs.p95} ms; ${inf.warmReadRepositoryMs.p50} ms; ${inf.memoMs.p50} ms`,
    ]);
    rows.push(['', `request→plan p50/p95 (n=${inf.plan.endToEndMs.n})`, `${inf.plan.endToEndMs.p50} / ${inf.plan.endToEndMs.p95} ms`]);
    rows.push([
      '',
      'of which p50: workflow tasks (decompose / plan / recordRequest / after), temporal dispatch',
      `${b.workflowTasks.p50} (${b.decomposeActivity.p50} / ${b.planActivity.p50} / ${b.otherLocalActivities.p50} / ${b.afterLocalActivities.p50}), ${b.temporalDispatch.p50} ms`,
    ]);
    rows.push([
      '',
      'activities in process p50/p95: decompose / plan',
      `${q.decomposeActivity.p50}/${q.decomposeActivity.p95} / ${q.planActivity.p50}/${q.planActivity.p95} ms`,
    ]);
    rows.push([
      '',
      'in process p50: catalog memo / locateInventory / readInventory memo / decompose / planRequest',
      `${q.catalogMemo.p50} / ${q.locateInventory.p50} / ${q.readInventoryMemo.p50} / ${q.decompose.p50} / ${q.planRequest.p50} ms`,
    ]);
    rows.push([
      '',
      'readFingerprint warm p50 (cold); ansible-inventory p50',
      `${q.readFingerprint.p50} ms (${q.readFingerprintCold} ms); ${inf.plan.ansibleInventoryMs.p50} ms`,
    ]);
    if (inf.errors.length) rows.push(['', 'errors', inf.errors.length]);
  }
  const pv = r.preview;
  if (pv) {
    for (const s of pv.scenarios) {
      const what = s.steps
        .map(
          (step) =>
            `${step.playbook}${step.tags ? ` --tags ${step.tags.join(',')}` : ''}${step.limit ? ` --limit ${step.limit}` : ''} (${step.hosts} hosts, ${step.tasks} tasks)`,
        )
        .join(' + ');
      rows.push([s === pv.scenarios[0] ? '8 preview' : '', `${s.id}: ${what}`, '']);
      rows.push([
        '',
        `  cold plan p50/p95 (n=${s.coldMs.n}); per step p50/p95`,
        `${s.coldMs.p50} / ${s.coldMs.p95} ms; ${s.coldPerStepMs.p50} / ${s.coldPerStepMs.p95} ms`,
      ]);
      rows.push([
        '',
        `  cold, a process per step: plan p50/p95; per step p50/p95`,
        `${s.coldProcessMs.p50} / ${s.coldProcessMs.p95} ms; ${s.coldProcessPerStepMs.p50} / ${s.coldProcessPerStepMs.p95} ms`,
      ]);
      rows.push(['', `  warm plan p50/p95 (n=${s.warmMs.n})`, `${s.warmMs.p50} / ${s.warmMs.p95} ms`]);
    }
    const sb = pv.sideBySide;
    rows.push([
      '',
      `two-step: each step side by side p50/p95 (${sb.playbooks.join(' / ')}); wall`,
      `${sb.perStepMs.map((m) => `${m.p50}/${m.p95}`).join(' / ')} ms; ${sb.wallMs.p50}/${sb.wallMs.p95} ms`,
    ]);
    rows.push([
      '',
      'two-step vs one-step plan p50: ratio, extra; vs one after the other',
      `${pv.twoStep.ratioToOneStep}x, +${pv.twoStep.extraMs} ms; ${pv.twoStep.sequentialMs} ms sequential (${pv.twoStep.savedPercent}% saved)`,
    ]);
    for (const b of pv.breakdown) {
      const m = b.medianMs;
      rows.push([
        '',
        `breakdown p50 (n=${b.n}) ${b.step}: python start / ansible import / CLI setup / inventory parse / before playbook / playbook parse / executor listing / tag filter+print / exit = total`,
        `${m.pythonStart} / ${m.ansibleImport} / ${m.cliSetup} / ${m.inventoryParse} / ${m.beforePlaybook} / ${m.playbookParse} / ${m.varsAndListing} / ${m.tagFilterAndPrint} / ${m.processExit} = ${m.total} ms (bare python ${b.pythonBareMs} ms)`,
      ]);
    }
    for (const [name, e] of [
      ['cold', pv.endToEnd.cold],
      ['warm', pv.endToEnd.warm],
    ] as const) {
      const hm = e.historyMs;
      rows.push([
        '',
        `submit→preview ready (${name}, poll ${pv.endToEnd.pollMs} ms) p50/p95 (n=${e.n}, ${e.distinctFingerprints} fingerprints); →planned / planned→preview p50`,
        `${e.submitToPreviewMs.p50} / ${e.submitToPreviewMs.p95} ms; ${e.submitToPlannedMs.p50} / ${e.plannedToPreviewMs.p50} ms`,
      ]);
      rows.push([
        '',
        `  history p50: start→scheduled / dispatch / previewPlan / →recorded; submit→recorded p50/p95`,
        `${hm.startToScheduled.p50} / ${hm.dispatch.p50} / ${hm.activity.p50} / ${hm.recorded.p50} ms; ${hm.submitToRecorded.p50} / ${hm.submitToRecorded.p95} ms`,
      ]);
    }
    rows.push(['', 'load average start / end', `${JSON.stringify(pv.loadAverage.start)} / ${JSON.stringify(pv.loadAverage.end)}`]);
    if (pv.errors.length) rows.push(['', 'errors', pv.errors.length]);
  }
  const h = r.history;
  if (h) {
    rows.push(['6 history', 'events 1-step / 2-step request', `${h.oneStepEvents} / ${h.twoStepEvents}`]);
    rows.push(['', 'events per extra step, retention', `${h.eventsPerStep}, ${h.namespaceRetention}`]);
  }
  lines.push(grid(rows));
  const failures = Object.entries(r.failures);
  if (failures.length) lines.push('', ...failures.map(([name, why]) => `${name}: ${why}`));
  lines.push(
    '',
    grid([['target', 'measured', 'met'], ...r.targets.map((t) => [t.target, t.measured, t.met === null ? 'n/a' : t.met ? 'yes' : 'NO'])]),
  );
  return lines.join('\n');
}

run().catch(async (error: unknown) => {
  console.error(error);
  await stopStack();
  process.exit(1);
});
