-- AlterTable
ALTER TABLE "tasks" ADD COLUMN     "attempt" INTEGER NOT NULL DEFAULT 1;

-- CreateTable
CREATE TABLE "agents" (
    "id" TEXT NOT NULL,
    "hostname" TEXT NOT NULL,
    "task_queue" TEXT NOT NULL,
    "cpu_count" INTEGER NOT NULL,
    "load_average_1" DOUBLE PRECISION NOT NULL,
    "memory_free_mb" INTEGER NOT NULL,
    "memory_total_mb" INTEGER NOT NULL,
    "running_steps" INTEGER NOT NULL,
    "max_steps" INTEGER NOT NULL,
    "started_at" TIMESTAMPTZ(3) NOT NULL,
    "last_seen_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "agents_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "agents_task_queue_last_seen_at_idx" ON "agents"("task_queue", "last_seen_at");
