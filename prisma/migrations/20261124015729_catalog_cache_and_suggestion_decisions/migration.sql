-- AlterTable
ALTER TABLE "playbook_suggestions" ADD COLUMN     "commit_hash" TEXT,
ADD COLUMN     "decided_at" TIMESTAMPTZ(3),
ADD COLUMN     "decided_by" TEXT,
ADD COLUMN     "fixable" BOOLEAN NOT NULL DEFAULT false,
ADD COLUMN     "patch" TEXT,
ADD COLUMN     "playbook_sha256" TEXT,
ADD COLUMN     "suggested_change" TEXT;

-- AlterTable
ALTER TABLE "tasks" ADD COLUMN     "service" TEXT;

-- CreateTable
CREATE TABLE "playbook_cache" (
    "id" TEXT NOT NULL,
    "repo" TEXT NOT NULL,
    "path" TEXT NOT NULL,
    "content_hash" TEXT NOT NULL,
    "entry" JSONB,
    "warnings" JSONB NOT NULL,
    "scanned_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "playbook_cache_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "playbook_cache_repo_path_key" ON "playbook_cache"("repo", "path");

-- CreateIndex
CREATE INDEX "tasks_service_status_idx" ON "tasks"("service", "status");
