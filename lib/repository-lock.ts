// One writer at a time per git repository, across every process that shares the database: two
// workers committing to one repository at once would race on its index and HEAD. Inside a
// transaction: the lock is released when it ends.
import path from 'node:path';
import type { Prisma } from '../generated/prisma/client.js';

export async function lockRepository(tx: Prisma.TransactionClient, purpose: 'audit' | 'playbook-repo', repoDir: string): Promise<void> {
  await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtextextended(${`chiffon:${purpose}:${path.resolve(repoDir)}`}, 0))`;
}
