-- AlterTable
ALTER TABLE "tasks" ADD COLUMN     "mode" TEXT NOT NULL DEFAULT 'run';
