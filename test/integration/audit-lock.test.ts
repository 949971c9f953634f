// Several worker processes auditing into one repository: every commit lands, none is lost to a race
// on the repository's HEAD (PostgreSQL's advisory lock serializes them across processes; the
// in-process queue alone would not).
import fs from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import git from 'isomorphic-git';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { fromProjectRoot } from '../../lib/paths.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';

const PROCESSES = 3;
const TASKS_EACH = 8;

let database: TestDatabase;
let auditRepo: string;

beforeAll(async () => {
  database = await createTestDatabase();
  auditRepo = fs.mkdtempSync(path.join(tmpdir(), 'chiffon-audit-lock-'));
  await database.prisma.request.create({
    data: { id: 'audit-lock', workflowId: 'request-audit-lock', message: 'audit lock', status: 'running', intents: [] },
  });
}, 60_000);

afterAll(async () => {
  await database?.drop();
  fs.rmSync(auditRepo, { recursive: true, force: true });
});

it('keeps every commit when several processes audit into one repository at once', async () => {
  const writer = fromProjectRoot('test', 'support', 'audit-writer.ts');
  const tsx = fromProjectRoot('node_modules', '.bin', 'tsx');
  await Promise.all(
    Array.from({ length: PROCESSES }, (_, p) =>
      execa(tsx, [writer, database.url, auditRepo, 'audit-lock', `proc${p}`, String(TASKS_EACH)], { timeout: 90_000 }),
    ),
  );

  const log = await git.log({ fs, dir: auditRepo });
  expect(log).toHaveLength(PROCESSES * TASKS_EACH);
  const files = fs.readdirSync(path.join(auditRepo, '.audit', 'tasks')).sort();
  expect(files).toHaveLength(PROCESSES * TASKS_EACH);
  // HEAD's tree holds every task: no commit was written on top of a stale HEAD.
  const head = await git.listFiles({ fs, dir: auditRepo, ref: 'HEAD' });
  expect(head).toHaveLength(PROCESSES * TASKS_EACH);
  const rows = await database.prisma.task.findMany({ where: { requestId: 'audit-lock' } });
  expect(rows).toHaveLength(PROCESSES * TASKS_EACH);
  for (const row of rows) expect(log.map((entry) => entry.oid)).toContain(row.auditCommit);
}, 120_000);
