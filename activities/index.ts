// All of Chiffon's activities, bound to their configuration and database. Workflows import only the
// type of this object (through proxyActivities), never its code.
import type { PrismaClient } from '../generated/prisma/client.js';
import type { ChiffonConfig } from '../lib/config.js';
import { createAuditActivities } from './audit.js';
import { createCapacityActivities } from './capacity.js';
import type { Decomposer } from '../services/decomposition/chain.js';
import { createNotificationActivities } from './notifications.js';
import { createPlanningActivities } from './planning.js';
import { createPreviewActivities } from './previews.js';
import { createStandingApprovalActivities } from './standing-approvals.js';
import { createStepActivities } from './steps.js';

export function createActivities(config: ChiffonConfig, prisma: PrismaClient, decomposer: Decomposer) {
  return {
    ...createPlanningActivities(config, prisma, decomposer),
    ...createStepActivities(config, prisma),
    ...createPreviewActivities(config),
    ...createAuditActivities(config, prisma),
    ...createCapacityActivities(config, prisma),
    ...createNotificationActivities(config, prisma),
    ...createStandingApprovalActivities(prisma),
  };
}

export type ChiffonActivities = ReturnType<typeof createActivities>;
