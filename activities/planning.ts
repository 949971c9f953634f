// Decompose and plan: read the catalog (and the inventory), apply the pure planner, and fingerprint
// what the plan was made from so an approval is bound to exactly that.
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { decomposeRequest, type DecomposeResult } from '../domain/decompose.js';
import { planHash } from '../domain/plan-hash.js';
import { planRequest, type PlannedSteps } from '../domain/plan.js';
import type { Intent, Plan } from '../domain/types.js';
import type { ChiffonConfig } from '../lib/config.js';
import { scanCatalog } from './catalog.js';
import { readFingerprint } from './fingerprint.js';
import { readInventory } from './inventory.js';

export type PlanActivityResult = { ok: true; plan: Plan } | { ok: false; message: string };

export function createPlanningActivities(config: ChiffonConfig) {
  async function fingerprinted(planned: PlannedSteps): Promise<Plan> {
    const fingerprint = await readFingerprint(config.playbookRepo, config.inventory, [...new Set(planned.steps.map((s) => s.playbook))]);
    return { ...planned, fingerprint, hash: planHash(planned.steps, fingerprint) };
  }

  return {
    async decompose(message: string): Promise<DecomposeResult> {
      const catalog = await scanCatalog(config.playbookRepo);
      return decomposeRequest(message, catalog);
    },

    async plan(intents: Intent[]): Promise<PlanActivityResult> {
      const [catalog, inventory] = await Promise.all([
        scanCatalog(config.playbookRepo),
        readInventory(path.resolve(config.playbookRepo, config.inventory)),
      ]);
      const result = planRequest(intents, catalog, inventory, { planId: randomUUID(), newTaskId: randomUUID });
      if (!result.ok) return { ok: false, message: result.message };
      return { ok: true, plan: await fingerprinted(result.plan) };
    },

    /** The same plan with its fingerprint read again (before a retry): a new hash means something changed. */
    async refreshPlan(plan: Plan): Promise<Plan> {
      return fingerprinted({ planId: plan.planId, steps: plan.steps });
    },
  };
}
