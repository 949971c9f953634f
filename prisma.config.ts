// Prisma CLI configuration. Chiffon applies migrations itself (scripts/db-migrate.ts, on the
// WebAssembly schema engine), so the CLI is only used for `prisma generate`, which needs no URL.
import { defineConfig } from 'prisma/config';

export default defineConfig({
  schema: 'prisma/schema.prisma',
  migrations: { path: 'prisma/migrations' },
  datasource: { url: process.env.DATABASE_URL ?? '' },
});
