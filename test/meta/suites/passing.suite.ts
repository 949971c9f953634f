// Passes, after a query on the run's PostgreSQL server (so the global setup really started one, on
// the embedded path: exit-code.test.ts runs it without DATABASE_URL).
import pg from 'pg';
import { expect, inject, it } from 'vitest';

it('reaches the test PostgreSQL, which the run started itself (no DATABASE_URL)', async () => {
  expect(process.env.DATABASE_URL).toBeUndefined();
  const client = new pg.Client({ connectionString: inject('databaseServerUrl') });
  await client.connect();
  try {
    expect((await client.query<{ one: number }>('SELECT 1 AS one')).rows[0]?.one).toBe(1);
  } finally {
    await client.end();
  }
});
