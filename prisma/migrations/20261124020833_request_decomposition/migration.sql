-- AlterTable
ALTER TABLE "requests" ADD COLUMN     "decomposition" JSONB;
