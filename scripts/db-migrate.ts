// `npm run db:migrate`: applies prisma/migrations to DATABASE_URL, or to the embedded PostgreSQL
// (started for the occasion and stopped again) when DATABASE_URL is unset.
import { loadConfig } from '../lib/config.js';
import { migrateDatabase, openDatabase } from '../lib/database.js';

/** Hides the password in a URL that is about to be printed. */
function withoutPassword(url: string): string {
  const parsed = new URL(url);
  if (parsed.password) parsed.password = '***';
  return parsed.toString();
}

async function run(): Promise<void> {
  const database = await openDatabase(loadConfig().databaseUrl);
  try {
    const applied = await migrateDatabase(database.url);
    const target = withoutPassword(database.url);
    if (applied.length === 0) {
      console.log(`${target}: already up to date, no migration applied`);
    } else {
      console.log(`${target}: applied ${applied.length} migration(s):`);
      for (const name of applied) console.log(`  ${name}`);
    }
  } finally {
    await database.stop();
  }
}

run().catch((error: unknown) => {
  console.error(`db:migrate failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
