-- AlterTable
ALTER TABLE "requests" ADD COLUMN     "schedule_id" TEXT,
ADD COLUMN     "standing_approval_id" TEXT;

-- CreateTable
CREATE TABLE "standing_approvals" (
    "id" TEXT NOT NULL,
    "schedule_id" TEXT NOT NULL,
    "plan_hash" TEXT NOT NULL,
    "approver" TEXT NOT NULL,
    "comment" TEXT,
    "request_id" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "revoked_at" TIMESTAMPTZ(3),
    "revoked_by" TEXT,

    CONSTRAINT "standing_approvals_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "standing_approvals_schedule_id_created_at_idx" ON "standing_approvals"("schedule_id", "created_at");

-- CreateIndex
CREATE INDEX "requests_schedule_id_created_at_idx" ON "requests"("schedule_id", "created_at");
