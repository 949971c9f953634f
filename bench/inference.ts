// 7. Inference: a repository without Chiffon files at scale, laid out as test/fixtures/repos/site-roles
// (site.yml applying 150 tagged roles, each off by default, every other one with argument_specs;
// inventory in inventories/home/), through the same cached scan and request path as sections 3 and 5.
//
// cold: the first scan of a copy never seen by this process: a folder of its own (no cache rows, no
// repository memory; forgetRepositoryFiles as well) whose every file carries a salt comment, so the
// process-wide YAML memo (keyed by content) has none of it either. One more such copy is scanned step
// by step (readRepository, YAML of the support files, parse + inference, the cache's JSON round trip,
// assemble, the cache's query and write) to say where the cold time goes.
// warm: nothing changed (the files older than the 1 s racy margin, as in a repository at rest), the
// database cache answers (memo off: one query); memo: the in-process memo answers.
// The first cold scan of a process that has parsed no YAML yet (this section run alone) also pays
// the YAML library's and Prisma's query compiler's warm-up: coldSamplesMs keeps each scan in order.
// plan: request → plan end to end through a worker as section 3 does ("enable svc001 and svc075 on
// nas01": two roles without required vars, so no plan stops at needs_input), with the breakdown from
// the histories, and the plan activity's parts in process (catalog memo, locateInventory,
// readInventory, decompose, planRequest, readFingerprint).
import fs from 'node:fs';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createDecomposer } from '../services/decomposition/chain.js';
import { createPlanningActivities } from '../activities/planning.js';
import { assembleCatalog, parseSource, repoFilesOf } from '../services/catalog/catalog.js';
import { scanCatalogCached } from '../services/catalog/catalog-cache.js';
import { forgetRepositoryFiles, readRepository } from '../services/catalog/catalog-files.js';
import { forgetFingerprints, readFingerprint } from '../services/fingerprint.js';
import { listInventory, readInventory } from '../services/inventory/inventory.js';
import { locateInventory } from '../services/inventory/inventory-source.js';
import { decomposeRequest } from '../domain/decompose.js';
import { planRequest } from '../domain/plan.js';
import type { Catalog } from '../domain/types.js';
import type { Prisma } from '../generated/prisma/client.js';
import { loadConfig } from '../lib/config.js';
import { loadLlmConfig } from '../lib/llm-config.js';
import type { BenchStack } from './stack.js';
import { SITE_ROLE_HOSTS, siteRoleKind, siteRoleName, writeSiteRolesRepo } from './fixtures/repos.js';
import { planningPhases } from './planning.js';
import { round, summarize } from './stats.js';

export const INFERENCE_TARGETS = { coldMs: 5000, warmMs: 300, planP95Ms: 200 } as const;

export interface InferenceResult {
  roles: number;
  /** Roles with meta/argument_specs.yml (every other one). */
  withArgumentSpecs: number;
  /** YAML files in support folders the scan reads (roles/*): every playbook's hash covers them. */
  supportFiles: number;
  catalogEntries: number;
  warnings: number;
  generateMs: number;
  /** First scans of fresh copies: empty cache, nothing of them in the process's memory. */
  coldMs: ReturnType<typeof summarize>;
  /** Each cold scan in order: the first is also the first YAML this process parses when the section runs first. */
  coldSamplesMs: number[];
  /** One more fresh copy, step by step (same work as the cold scan, timed per step). */
  coldBreakdownMs: {
    /** readRepository: list the folders, read and hash every file. */
    readRepository: number;
    /** The support files' YAML parsed (what inference reads: defaults, tasks, meta, argument_specs). */
    supportYaml: number;
    /** parseSource of every candidate: site.yml parsed, the roles inferred (their YAML already parsed). */
    parseAndInfer: number;
    /** JSON round trip of the parse result (the cached scan stores and returns it as JSON). */
    jsonRoundTrip: number;
    assemble: number;
    /** The cache's findMany and its write transaction. */
    cacheQueryAndWrite: number;
  };
  /** Nothing changed, memo off: the repository is stat'ed, one query, the catalog assembled. */
  warmMs: ReturnType<typeof summarize>;
  /** readRepository alone on the unchanged repository (the warm scan's file part). */
  warmReadRepositoryMs: ReturnType<typeof summarize>;
  /** The in-process memo answers (no query). */
  memoMs: ReturnType<typeof summarize>;
  plan: {
    n: number;
    example: string;
    endToEndMs: ReturnType<typeof summarize>;
    breakdownMs: {
      decomposeActivity: ReturnType<typeof summarize>;
      planActivity: ReturnType<typeof summarize>;
      /** Other local activities of the first workflow task (recordRequest). */
      otherLocalActivities: ReturnType<typeof summarize>;
      /** Workflow tasks' time after their last local activity: workflow code and the completion RPC. */
      afterLocalActivities: ReturnType<typeof summarize>;
      workflowTasks: ReturnType<typeof summarize>;
      temporalDispatch: ReturnType<typeof summarize>;
      server: ReturnType<typeof summarize>;
    };
    /** The plan activity's parts, in process, on the warm repository. */
    inProcessMs: {
      /** The decompose and plan activities' own code (activities/planning.ts), run in a mock activity context. */
      decomposeActivity: ReturnType<typeof summarize>;
      planActivity: ReturnType<typeof summarize>;
      catalogMemo: ReturnType<typeof summarize>;
      locateInventory: ReturnType<typeof summarize>;
      readInventoryMemo: ReturnType<typeof summarize>;
      decompose: ReturnType<typeof summarize>;
      planRequest: ReturnType<typeof summarize>;
      readFingerprint: ReturnType<typeof summarize>;
      /** After forgetFingerprints: every file of the repository read and hashed. */
      readFingerprintCold: number;
    };
    /** ansible-inventory --list itself (what readInventory runs when the inventory changed). */
    ansibleInventoryMs: ReturnType<typeof summarize>;
  };
  /** The fixture does what it says: a role whose required var the inventory holds plans; one whose var nobody gives needs input. */
  checks: { filledByInventoryPlans: boolean; unfilledNeedsInput: boolean };
  errors: string[];
}

const plainRoles = (roles: number) => Array.from({ length: roles }, (_, i) => i + 1).filter((i) => siteRoleKind(i) === 'plain');

/** Request i: two roles without required vars on one host, another pair and host each time. */
function messageFor(i: number, roles: number): string {
  const plain = plainRoles(roles);
  // Half the list apart: never the same role twice.
  const a = plain[(i * 37) % plain.length]!;
  const b = plain[(i * 37 + Math.floor(plain.length / 2)) % plain.length]!;
  return `enable ${siteRoleName(a)} and ${siteRoleName(b)} on ${SITE_ROLE_HOSTS[i % SITE_ROLE_HOSTS.length]}`;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function timed(times: number, run: () => Promise<unknown> | unknown) {
  const samples: number[] = [];
  for (let i = 0; i < times; i++) {
    const started = performance.now();
    await run();
    samples.push(performance.now() - started);
  }
  return summarize(samples);
}

function checkCatalog(catalog: Catalog, roles: number, what: string): void {
  if (catalog.playbooks.length !== roles) throw new Error(`${what}: ${catalog.playbooks.length} catalog entries, expected ${roles}`);
  if (catalog.warnings.length > 0) throw new Error(`${what}: warnings ${JSON.stringify(catalog.warnings.slice(0, 3))}`);
}

export async function measureInference(
  stack: BenchStack,
  roles: number,
  n: number,
  options: { coldN: number; warmN: number },
): Promise<InferenceResult> {
  const errors: string[] = [];
  const base = path.join(stack.scratch, `inference-${roles}`);
  let started = performance.now();
  const repo = writeSiteRolesRepo(base, roles);
  const generatedAt = Date.now();
  const generateMs = round(performance.now() - started);

  // Cold: fresh copies, each with bytes of its own. The database connection is made first, as in a
  // worker (its agent reporter has written by the time it scans): the scan is measured, not the connect.
  await stack.prisma.$queryRaw`SELECT 1`;
  const cold: number[] = [];
  for (let k = 0; k < options.coldN; k++) {
    const copy = writeSiteRolesRepo(`${base}-cold${k}`, roles, `cold copy ${k} ${randomUUID()}`);
    forgetRepositoryFiles();
    started = performance.now();
    const scanned = await scanCatalogCached(stack.prisma, copy, { memoMs: 0 });
    cold.push(performance.now() - started);
    if (scanned.stats.parsed !== scanned.stats.scanned || scanned.cacheError)
      throw new Error(`cold scan: ${JSON.stringify(scanned.stats)} ${scanned.cacheError ?? ''}`);
    checkCatalog(scanned, roles, 'cold scan');
    fs.rmSync(copy, { recursive: true, force: true });
  }

  // The same work step by step, on one more fresh copy.
  const copy = writeSiteRolesRepo(`${base}-steps`, roles, `step copy ${randomUUID()}`);
  forgetRepositoryFiles();
  let t = performance.now();
  const read = await readRepository(copy, { remember: false });
  const readRepositoryMs = performance.now() - t;
  const supportFiles = read.listing.supportFiles.length;
  const files = repoFilesOf(
    read.current.map((c) => [c.source.playbook, c.content.playbook] as const),
    read.support,
  );
  t = performance.now();
  for (const file of read.listing.supportFiles) files.yaml(file);
  const supportYamlMs = performance.now() - t;
  t = performance.now();
  const parsed = read.current.map((c) => parseSource(c.source, c.content, files));
  const parseAndInferMs = performance.now() - t;
  t = performance.now();
  const stored = parsed.map((p) => JSON.parse(JSON.stringify(p)) as typeof p);
  const jsonRoundTripMs = performance.now() - t;
  t = performance.now();
  checkCatalog(assembleCatalog(stored, read.listing.warnings), roles, 'step-by-step scan');
  const assembleMs = performance.now() - t;
  t = performance.now();
  await stack.prisma.playbookCache.findMany({
    where: { repo: read.listing.root },
    select: { path: true, contentHash: true, entry: true, warnings: true },
  });
  const scannedAt = new Date();
  await stack.prisma.$transaction([
    stack.prisma.playbookCache.createMany({
      data: read.current.map((c, i) => ({
        repo: read.listing.root,
        path: c.source.playbook,
        contentHash: c.hash,
        entry: stored[i]!.entries as unknown as Prisma.InputJsonArray,
        warnings: stored[i]!.warnings as unknown as Prisma.InputJsonArray,
        scannedAt,
      })),
      skipDuplicates: true,
    }),
  ]);
  const cacheMs = performance.now() - t;
  fs.rmSync(copy, { recursive: true, force: true });

  // Warm: the repository at rest (older than the racy margin), its cache rows written by a first scan.
  const age = Date.now() - generatedAt;
  if (age < 1500) await sleep(1500 - age);
  forgetRepositoryFiles();
  const first = await scanCatalogCached(stack.prisma, repo, { memoMs: 0 });
  checkCatalog(first, roles, 'first scan');
  const warmMs = await timed(options.warmN, async () => {
    const warm = await scanCatalogCached(stack.prisma, repo, { memoMs: 0 });
    if (warm.stats.reused !== warm.stats.scanned || warm.stats.memo) throw new Error(`warm scan: ${JSON.stringify(warm.stats)}`);
  });
  const warmReadRepositoryMs = await timed(options.warmN, async () => {
    const again = await readRepository(repo);
    if (again.filesRead !== 0) throw new Error(`warm readRepository read ${again.filesRead} files`);
  });
  await scanCatalogCached(stack.prisma, repo); // primes the memo
  const memoMs = await timed(options.warmN, async () => {
    const memo = await scanCatalogCached(stack.prisma, repo, { memoMs: 60_000 });
    if (!memo.stats.memo) throw new Error('the memo did not answer');
  });

  // The plan activity's parts, in process.
  const catalog = await scanCatalogCached(stack.prisma, repo, { memoMs: 60_000 });
  const location = await locateInventory(repo, undefined);
  const inventory = await readInventory(location.sources, { cwd: repo });
  const ids = () => ({ planId: randomUUID(), newTaskId: randomUUID });
  const planOf = (message: string) => {
    const decomposed = decomposeRequest(message, catalog);
    return decomposed.ok
      ? planRequest(decomposed.intents, catalog, inventory, ids())
      : { ok: false as const, message: decomposed.message, missingVars: [] };
  };
  const filled = planOf(`enable ${siteRoleName(4)} on node01`);
  // Without one role's token in the inventory, a request for another role of the play needs it too.
  const lacking = structuredClone(inventory);
  for (const host of lacking.hosts) delete host.vars[`${siteRoleName(2)}_admin_token`];
  const decomposedFour = decomposeRequest(`enable ${siteRoleName(4)} on node01`, catalog);
  const unfilled = decomposedFour.ok
    ? planRequest(decomposedFour.intents, catalog, lacking, ids())
    : { ok: false as const, message: decomposedFour.message, missingVars: [] };
  const checks = {
    filledByInventoryPlans: filled.ok && filled.plan.steps[0]?.varSources[`${siteRoleName(4)}_admin_token`] === 'inventory',
    unfilledNeedsInput: !unfilled.ok && unfilled.missingVars.some((m) => m.vars.includes(`${siteRoleName(2)}_admin_token`)),
  };
  if (!checks.filledByInventoryPlans)
    errors.push(`fixture: ${siteRoleName(4)} (admin token in group_vars) does not plan: ${JSON.stringify(filled).slice(0, 300)}`);
  if (!checks.unfilledNeedsInput)
    errors.push(
      `fixture: ${siteRoleName(4)} with ${siteRoleName(2)}'s admin token nowhere does not need input: ${JSON.stringify(unfilled).slice(0, 300)}`,
    );

  const decomposeSamples: number[] = [];
  const planSamples: number[] = [];
  for (let i = 0; i < n; i++) {
    t = performance.now();
    const decomposed = decomposeRequest(messageFor(i, roles), catalog);
    decomposeSamples.push(performance.now() - t);
    if (!decomposed.ok) {
      errors.push(`in process: "${messageFor(i, roles)}" decomposed to nothing`);
      continue;
    }
    t = performance.now();
    const planned = planRequest(decomposed.intents, catalog, inventory, ids());
    planSamples.push(performance.now() - t);
    if (!planned.ok) errors.push(`in process: "${messageFor(i, roles)}": ${planned.message}`);
  }
  forgetFingerprints();
  t = performance.now();
  await readFingerprint(repo, location.sources, ['site.yml']);
  const readFingerprintCold = round(performance.now() - t);
  // The activities themselves, as the worker builds them (deterministic parser unless a model is configured).
  const activities = createPlanningActivities({ ...loadConfig({}), playbookRepo: repo }, stack.prisma, createDecomposer(loadLlmConfig({})));
  const env = new MockActivityEnvironment();
  const activitySamples = { decompose: [] as number[], plan: [] as number[] };
  for (let i = 0; i < n; i++) {
    t = performance.now();
    const decomposed = (await env.run(activities.decompose, messageFor(i, roles))) as Awaited<ReturnType<typeof activities.decompose>>;
    activitySamples.decompose.push(performance.now() - t);
    if (!decomposed.ok) continue;
    t = performance.now();
    const planned = (await env.run(activities.plan, decomposed.intents)) as Awaited<ReturnType<typeof activities.plan>>;
    activitySamples.plan.push(performance.now() - t);
    if (!planned.ok) errors.push(`plan activity: "${messageFor(i, roles)}": ${planned.message}`);
  }
  const inProcessMs = {
    decomposeActivity: summarize(activitySamples.decompose),
    planActivity: summarize(activitySamples.plan),
    catalogMemo: await timed(n, () => scanCatalogCached(stack.prisma, repo)),
    locateInventory: await timed(n, () => locateInventory(repo, undefined)),
    readInventoryMemo: await timed(n, () => readInventory(location.sources, { cwd: repo })),
    decompose: summarize(decomposeSamples),
    planRequest: summarize(planSamples),
    readFingerprint: await timed(n, () => readFingerprint(repo, location.sources, ['site.yml'])),
    readFingerprintCold,
  };
  const ansibleInventoryMs = await timed(Math.min(n, 5), () => listInventory(location.sources, { cwd: repo }));

  // End to end, as section 3.
  const worker = await stack.startWorker(`inference${roles}`, { playbookRepo: repo });
  const endToEnd: number[] = [];
  const requestIds: string[] = [];
  try {
    await stack.submit(worker, messageFor(n, roles)); // warm-up, not counted
    for (let i = 0; i < n; i++) {
      started = performance.now();
      const { requestId, state } = await stack.submit(worker, messageFor(i, roles));
      const ms = performance.now() - started;
      const step = state.plan?.steps[0];
      if (state.status === 'pending_approval' && state.plan?.steps.length === 1 && step?.tags?.length === 2 && step.limit) {
        endToEnd.push(ms);
        requestIds.push(requestId);
      } else
        errors.push(
          `request ${requestId} "${messageFor(i, roles)}": ${state.status} ${state.error?.message ?? JSON.stringify(state.plan?.steps ?? [])}`,
        );
    }
  } finally {
    await worker.stop();
  }
  const phases = await Promise.all(requestIds.map((id) => planningPhases(stack, id)));
  const pick = (key: keyof (typeof phases)[number]) => summarize(phases.map((p) => p[key]));
  for (const error of errors.slice(0, 5)) console.error(`bench: inference: ${error}`);

  return {
    roles,
    withArgumentSpecs: Array.from({ length: roles }, (_, i) => i + 1).filter((i) => siteRoleKind(i) !== 'plain').length,
    supportFiles,
    catalogEntries: first.playbooks.length,
    warnings: first.warnings.length,
    generateMs,
    coldMs: summarize(cold),
    coldSamplesMs: cold.map((ms) => round(ms)),
    coldBreakdownMs: {
      readRepository: round(readRepositoryMs),
      supportYaml: round(supportYamlMs),
      parseAndInfer: round(parseAndInferMs),
      jsonRoundTrip: round(jsonRoundTripMs),
      assemble: round(assembleMs),
      cacheQueryAndWrite: round(cacheMs),
    },
    warmMs,
    warmReadRepositoryMs,
    memoMs,
    plan: {
      n,
      example: messageFor(0, roles),
      endToEndMs: summarize(endToEnd),
      breakdownMs: {
        decomposeActivity: pick('decompose'),
        planActivity: pick('plan'),
        otherLocalActivities: pick('otherLocal'),
        afterLocalActivities: pick('afterLocal'),
        workflowTasks: pick('workflowTasks'),
        temporalDispatch: pick('dispatch'),
        server: pick('server'),
      },
      inProcessMs,
      ansibleInventoryMs,
    },
    checks,
    errors,
  };
}
