-- AlterTable
ALTER TABLE "agents" ADD COLUMN     "max_load_per_cpu" DOUBLE PRECISION NOT NULL DEFAULT 2,
ADD COLUMN     "min_free_memory_percent" DOUBLE PRECISION NOT NULL DEFAULT 5;
