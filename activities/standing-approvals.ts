// A schedule's standing approval, kept in PostgreSQL: a scheduled run asks whether one covers its
// plan, and an approval given "as standing" becomes the schedule's (replacing the one before).
import type { PrismaClient } from '../generated/prisma/client.js';
import { standingApprovalIdFor, type StandingApproval, type StandingApprovalLookup } from '../domain/schedules.js';
import { currentStandingApproval, standingApprovalOf } from '../services/standing-approvals.js';

export function createStandingApprovalActivities(prisma: PrismaClient) {
  return {
    /** Whether the schedule's standing approval covers a plan with this hash. */
    async findStandingApproval(input: { scheduleId: string; planHash: string }): Promise<StandingApprovalLookup> {
      const current = await currentStandingApproval(prisma, input.scheduleId);
      if (!current) return {};
      return current.planHash === input.planHash ? { approval: current } : { otherPlanHash: current.planHash };
    },

    /**
     * Makes a run's approval the schedule's standing approval, replacing the one before. Idempotent
     * (its id is the run's), so a retried delivery records it once.
     */
    async recordStandingApproval(input: {
      scheduleId: string;
      requestId: string;
      planHash: string;
      approver: string;
      comment?: string;
    }): Promise<StandingApproval> {
      const id = standingApprovalIdFor(input.requestId);
      const [, row] = await prisma.$transaction([
        prisma.standingApproval.updateMany({
          where: { scheduleId: input.scheduleId, revokedAt: null, id: { not: id } },
          data: { revokedAt: new Date(), revokedBy: `superseded by ${id}` },
        }),
        prisma.standingApproval.upsert({
          where: { id },
          create: {
            id,
            scheduleId: input.scheduleId,
            planHash: input.planHash,
            approver: input.approver,
            comment: input.comment ?? null,
            requestId: input.requestId,
          },
          update: {},
        }),
      ]);
      return standingApprovalOf(row);
    },
  };
}
