// prisma/schema.prisma and prisma/migrations must describe the same database, and the migrations
// must apply the way `prisma migrate deploy` applies them.
import { createHash, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createDatabase, dropDatabase, migrationsDir, prismaSchemaPath } from '../../lib/database.js';
import { applyMigrations, diffDatabaseAgainstSchema, readMigrationList } from '../../lib/schema-engine.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';

let database: TestDatabase;

beforeAll(async () => {
  database = await createTestDatabase();
});

afterAll(async () => {
  await database?.drop();
});

describe('schema and migrations', () => {
  it('agree: a database with every migration applied needs no further change', async () => {
    expect(await diffDatabaseAgainstSchema(database.url, prismaSchemaPath)).toBe('');
  });

  it('apply once, recorded in _prisma_migrations as migrate deploy does, and not again', async () => {
    const serverUrl = inject('databaseServerUrl');
    const name = `chiffon_test_${randomBytes(6).toString('hex')}`;
    const url = await createDatabase(serverUrl, name);
    try {
      const folders = (await readMigrationList(migrationsDir)).migrationDirectories.map((dir) => dir.path);
      expect(folders.length).toBeGreaterThan(0);

      expect(await applyMigrations(url, migrationsDir)).toEqual(folders);
      expect(await applyMigrations(url, migrationsDir)).toEqual([]);

      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        const { rows } = await client.query<{ migration_name: string; checksum: string; finished: boolean }>(
          'SELECT migration_name, checksum, finished_at IS NOT NULL AS finished FROM _prisma_migrations ORDER BY migration_name',
        );
        const expected = await Promise.all(
          folders.map(async (folder) => ({
            migration_name: folder,
            checksum: createHash('sha256')
              .update(await readFile(path.join(migrationsDir, folder, 'migration.sql')))
              .digest('hex'),
            finished: true,
          })),
        );
        expect(rows).toEqual(expected);
      } finally {
        await client.end();
      }
    } finally {
      await dropDatabase(serverUrl, name);
    }
  });

  it('create the tables Prisma Client reads and writes', async () => {
    const tables = await database.prisma.$queryRaw<{ table_name: string }[]>`
      SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name`;
    expect(tables.map((row) => row.table_name)).toEqual(expect.arrayContaining(['playbook_suggestions', 'requests', 'tasks']));

    await database.prisma.request.create({
      data: {
        id: 'req-1',
        workflowId: 'request-req-1',
        message: 'restart uptime kuma',
        status: 'planned',
        intents: [{ kind: 'restart', service: 'kuma' }],
        tasks: {
          create: {
            id: 'task-1',
            planId: 'plan-1',
            stepIndex: 0,
            playbook: 'kuma-config-update.yml',
            status: 'succeeded',
            outcome: 'ok',
            exitCode: 0,
          },
        },
      },
    });

    const stored = await database.prisma.request.findUniqueOrThrow({ where: { id: 'req-1' }, include: { tasks: true } });
    expect(stored.intents).toEqual([{ kind: 'restart', service: 'kuma' }]);
    expect(stored.createdAt).toBeInstanceOf(Date);
    expect(stored.tasks).toMatchObject([{ id: 'task-1', playbook: 'kuma-config-update.yml', exitCode: 0 }]);
  });
});
