// Decompose and plan: read the catalog (and the inventory), apply the pure planner, and fingerprint
// what the plan was made from so an approval is bound to exactly that.
import { randomUUID } from 'node:crypto';
import { cancellationSignal } from '@temporalio/activity';
import type { DecomposeResult } from '../domain/decompose.js';
import { planHash } from '../domain/plan-hash.js';
import { planRequest, type PlannedSteps, type SuppliedVars } from '../domain/plan.js';
import type { Intent, Inventory, Plan } from '../domain/types.js';
import type { PrismaClient } from '../generated/prisma/client.js';
import type { ChiffonConfig } from '../lib/config.js';
import { scanCatalogCached } from '../services/catalog/catalog-cache.js';
import type { Decomposer } from '../services/decomposition/chain.js';
import { readFingerprint } from '../services/fingerprint.js';
import { readInventory } from '../services/inventory/inventory.js';
import { InventoryNotFoundError, locateInventory } from '../services/inventory/inventory-source.js';

export type PlanActivityResult =
  { ok: true; plan: Plan } | { ok: false; message: string; missingVars: { playbook: string; vars: string[] }[] };

export function createPlanningActivities(
  config: Pick<ChiffonConfig, 'playbookRepo' | 'inventory' | 'workerHost'>,
  prisma: PrismaClient,
  decomposer: Decomposer,
) {
  /** The inventory as Ansible finds it in the repository (inventory-source.ts), read there; or why it cannot be. */
  async function plannedInventory(): Promise<{ sources: string[]; inventory: Inventory } | { message: string }> {
    try {
      const location = await locateInventory(config.playbookRepo, config.inventory);
      return { sources: location.sources, inventory: await readInventory(location.sources, { cwd: config.playbookRepo }) };
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      return { message: err instanceof InventoryNotFoundError ? message : `cannot read the inventory: ${message}` };
    }
  }

  /** `inventorySources`: where the plan's inventory was read; default: located again (none if it cannot be, which changes the hash). */
  async function fingerprinted(planned: PlannedSteps, inventorySources?: string[]): Promise<Plan> {
    const sources =
      inventorySources ??
      (await locateInventory(config.playbookRepo, config.inventory).then(
        (l) => l.sources,
        () => [],
      ));
    const fingerprint = await readFingerprint(config.playbookRepo, sources, [...new Set(planned.steps.map((s) => s.playbook))]);
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
      const [catalog, inventory] = await Promise.all([scanCatalogCached(prisma, config.playbookRepo), plannedInventory()]);
      // A missing or unreadable inventory makes the request unplannable, with the message saying why.
      if ('message' in inventory) return { ok: false, message: inventory.message, missingVars: [] };
      const ids = { planId: randomUUID(), newTaskId: randomUUID };
      // Hosts without a chiffon_agent are run from this controller: the agent of the worker that plans.
      const result = planRequest(intents, catalog, inventory.inventory, ids, supplied, { controllerAgent: config.workerHost });
      if (!result.ok) return result;
      return { ok: true, plan: await fingerprinted(result.plan, inventory.sources) };
    },

    /** The same plan with its fingerprint read again (before a retry): a new hash means something changed. */
    async refreshPlan(plan: Plan): Promise<Plan> {
      return fingerprinted({ planId: plan.planId, steps: plan.steps });
    },
  };
}
