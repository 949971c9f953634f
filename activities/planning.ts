// Decompose and plan: read the catalog (and the inventory), apply the pure planner, and fingerprint
// what the plan was made from so an approval is bound to exactly that.
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { cancellationSignal } from '@temporalio/activity';
import type { DecomposeResult } from '../domain/decompose.js';
import { planHash } from '../domain/plan-hash.js';
import { planRequest, type PlannedSteps, type SuppliedVars } from '../domain/plan.js';
import type { Intent, Plan } from '../domain/types.js';
import type { PrismaClient } from '../generated/prisma/client.js';
import type { ChiffonConfig } from '../lib/config.js';
import { scanCatalogCached } from './catalog-cache.js';
import type { Decomposer } from './decomposition/chain.js';
import { readFingerprint } from './fingerprint.js';
import { readInventory } from './inventory.js';

export type PlanActivityResult =
  | { ok: true; plan: Plan }
  | { ok: false; message: string; missingVars: { playbook: string; vars: string[] }[] };

export function createPlanningActivities(config: ChiffonConfig, prisma: PrismaClient, decomposer: Decomposer) {
  async function fingerprinted(planned: PlannedSteps): Promise<Plan> {
    const fingerprint = await readFingerprint(config.playbookRepo, config.inventory, [...new Set(planned.steps.map((s) => s.playbook))]);
    return { ...planned, fingerprint, hash: planHash(planned.steps, fingerprint) };
  }

  return {
    /** The provider chain (model, Claude, deterministic parser) reads the request against the catalog. */
    async decompose(message: string): Promise<DecomposeResult> {
      const catalog = await scanCatalogCached(prisma, config.playbookRepo);
      const { result, decidedBy, model, skipped } = await decomposer(message, catalog, cancellationSignal());
      return { ...result, provider: { decidedBy, ...(model ? { model } : {}), skipped } };
    },

    /** `supplied`: values a person gave for variables an earlier plan could not fill. */
    async plan(intents: Intent[], supplied: SuppliedVars = {}): Promise<PlanActivityResult> {
      const [catalog, inventory] = await Promise.all([
        scanCatalogCached(prisma, config.playbookRepo),
        readInventory(path.resolve(config.playbookRepo, config.inventory)),
      ]);
      const result = planRequest(intents, catalog, inventory, { planId: randomUUID(), newTaskId: randomUUID }, supplied);
      if (!result.ok) return result;
      return { ok: true, plan: await fingerprinted(result.plan) };
    },

    /** The same plan with its fingerprint read again (before a retry): a new hash means something changed. */
    async refreshPlan(plan: Plan): Promise<Plan> {
      return fingerprinted({ planId: plan.planId, steps: plan.steps });
    },
  };
}
