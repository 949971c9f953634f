// Decompose and plan: read the catalog (and the inventory), then apply the pure planner.
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { decomposeRequest, type DecomposeResult } from '../domain/decompose.js';
import { planRequest, type PlanResult } from '../domain/plan.js';
import type { Intent } from '../domain/types.js';
import type { ChiffonConfig } from '../lib/config.js';
import { scanCatalog } from './catalog.js';
import { readInventory } from './inventory.js';

export function createPlanningActivities(config: ChiffonConfig) {
  return {
    async decompose(message: string): Promise<DecomposeResult> {
      const catalog = await scanCatalog(config.playbookRepo);
      return decomposeRequest(message, catalog);
    },

    async plan(intents: Intent[]): Promise<PlanResult> {
      const [catalog, inventory] = await Promise.all([
        scanCatalog(config.playbookRepo),
        readInventory(path.resolve(config.playbookRepo, config.inventory)),
      ]);
      return planRequest(intents, catalog, inventory, { planId: randomUUID(), newTaskId: randomUUID });
    },
  };
}
