// A database of a test file's own, on the server global-setup.ts provides, with the migrations
// applied: test files running side by side never see each other's rows.
import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';
import { createDatabase, dropDatabase, migrateDatabase } from '../../lib/database.js';
import { createPrismaClient, type PrismaClient } from '../../lib/prisma.js';

export interface TestDatabase {
  name: string;
  url: string;
  prisma: PrismaClient;
  /** Disconnects Prisma and drops the database, closing whatever connections remain. */
  drop(): Promise<void>;
}

export async function createTestDatabase(): Promise<TestDatabase> {
  const serverUrl = inject('databaseServerUrl');
  const name = `chiffon_test_${randomBytes(6).toString('hex')}`;
  const url = await createDatabase(serverUrl, name);
  try {
    await migrateDatabase(url);
  } catch (error) {
    await dropDatabase(serverUrl, name);
    throw error;
  }
  const prisma = createPrismaClient(url);
  return {
    name,
    url,
    prisma,
    async drop() {
      await prisma.$disconnect();
      await dropDatabase(serverUrl, name);
    },
  };
}
