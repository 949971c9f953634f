// 3. Planning: request → plan latency with the deterministic parser, over catalogs of 20 and 2,000
// playbooks. End to end: the request workflow is started with the planReady Update (as POST /chat
// does) and timed until the plan comes back; each run asks for another service. In process: the
// same decompose + plan as pure functions over the already-scanned catalog, for the breakdown.
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { scanCatalog } from '../activities/catalog.js';
import { readInventory } from '../activities/inventory.js';
import { decomposeRequest } from '../domain/decompose.js';
import { planRequest } from '../domain/plan.js';
import type { BenchStack } from './stack.js';
import { serviceName, writeGeneratedRepo } from './fixtures/repos.js';
import { summarize } from './stats.js';

export interface PlanningResult {
  catalogSize: number;
  n: number;
  endToEndMs: ReturnType<typeof summarize>;
  parseAndPlanMs: ReturnType<typeof summarize>;
  inventoryReadMs: ReturnType<typeof summarize>;
  errors: string[];
}

export async function measurePlanning(stack: BenchStack, catalogSize: number, n: number): Promise<PlanningResult> {
  const repo = writeGeneratedRepo(path.join(stack.scratch, `catalog-${catalogSize}`), catalogSize);
  const messageFor = (i: number) => `Deploy ${serviceName((i * 7919) % catalogSize)} please`;
  const errors: string[] = [];

  // In process: the parser and the planner alone (the catalog and inventory are read once).
  const catalog = await scanCatalog(repo);
  const inventoryPath = path.join(repo, 'inventory', 'hosts.yml');
  const inventory = await readInventory(inventoryPath);
  const pure: number[] = [];
  const inventoryReads: number[] = [];
  for (let i = 0; i < n; i++) {
    const started = performance.now();
    const decomposed = decomposeRequest(messageFor(i), catalog);
    if (decomposed.ok) planRequest(decomposed.intents, catalog, inventory, { planId: randomUUID(), newTaskId: randomUUID });
    pure.push(performance.now() - started);
  }
  for (let i = 0; i < Math.min(n, 5); i++) {
    const started = performance.now();
    await readInventory(inventoryPath);
    inventoryReads.push(performance.now() - started);
  }

  const worker = await stack.startWorker(`plan${catalogSize}`, { playbookRepo: repo });
  const endToEnd: number[] = [];
  try {
    await stack.submit(worker, messageFor(n)); // warm-up (fills the catalog cache), not counted
    for (let i = 0; i < n; i++) {
      const started = performance.now();
      const { requestId, state } = await stack.submit(worker, messageFor(i));
      const ms = performance.now() - started;
      if (state.status === 'pending_approval' && state.plan?.steps.length === 1) endToEnd.push(ms);
      else errors.push(`request ${requestId}: ${state.status} ${state.error?.message ?? ''}`);
    }
  } finally {
    await worker.stop();
  }
  return {
    catalogSize,
    n,
    endToEndMs: summarize(endToEnd),
    parseAndPlanMs: summarize(pure),
    inventoryReadMs: summarize(inventoryReads),
    errors,
  };
}
