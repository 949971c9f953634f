// Passes, after a query on the run's PostgreSQL server (so the global setup really started one).
import pg from 'pg';
import { expect, inject, it } from 'vitest';

it('reaches the test PostgreSQL', async () => {
  const client = new pg.Client({ connectionString: inject('databaseServerUrl') });
  await client.connect();
  try {
    expect((await client.query<{ one: number }>('SELECT 1 AS one')).rows[0]?.one).toBe(1);
  } finally {
    await client.end();
  }
});
