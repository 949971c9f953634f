// Prisma Client for Chiffon's records. Prisma 7 queries through a driver adapter (pg here), so no
// native query engine is needed; the generated client lives in generated/prisma (scripts/setup.sh).
import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaClient } from '../generated/prisma/client.js';

export type { PrismaClient };

/** A client for the database at `url`; call `$disconnect()` when done to close its connections. */
export function createPrismaClient(url: string): PrismaClient {
  return new PrismaClient({ adapter: new PrismaPg({ connectionString: url }) });
}
