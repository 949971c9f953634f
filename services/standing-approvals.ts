// A schedule's standing approvals in PostgreSQL: the activities find and record them for the
// scheduled runs, the API shows and revokes them.
import type { PrismaClient, StandingApproval as StandingApprovalRow } from '../generated/prisma/client.js';
import type { StandingApproval } from '../domain/schedules.js';

export function standingApprovalOf(row: StandingApprovalRow): StandingApproval {
  return {
    id: row.id,
    scheduleId: row.scheduleId,
    planHash: row.planHash,
    approver: row.approver,
    ...(row.comment ? { comment: row.comment } : {}),
    requestId: row.requestId,
    approvedAt: row.createdAt.toISOString(),
  };
}

/** The schedule's standing approval: the newest one nobody revoked (nor a newer one replaced). */
export async function currentStandingApproval(prisma: PrismaClient, scheduleId: string): Promise<StandingApproval | undefined> {
  const row = await prisma.standingApproval.findFirst({ where: { scheduleId, revokedAt: null }, orderBy: { createdAt: 'desc' } });
  return row ? standingApprovalOf(row) : undefined;
}

/** Revokes the schedule's standing approval (if any): its next run waits for a person again. */
export async function revokeStandingApprovals(prisma: PrismaClient, scheduleId: string, by: string): Promise<number> {
  const { count } = await prisma.standingApproval.updateMany({
    where: { scheduleId, revokedAt: null },
    data: { revokedAt: new Date(), revokedBy: by },
  });
  return count;
}
