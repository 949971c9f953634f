// The first start (lib/api-tokens.ts createFirstAdminToken, lib/first-run.ts): with no token at all,
// one admin token, made once even by processes starting together, never again once any token exists
// (a revoked one too); and what npm start prints: the token and a sign-in link on a terminal, only
// the name of a 0600 file holding them otherwise. Against a PostgreSQL database of this file's own.
import fs from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createApiToken, createFirstAdminToken, findIdentityByToken, revokeApiToken } from '../../lib/api-tokens.js';
import { FIRST_TOKEN_FILE, firstRunNotice, signInLink } from '../../lib/first-run.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';

let database: TestDatabase;
const scratch = fs.mkdtempSync(path.join(tmpdir(), 'chiffon-first-run-'));
const dashboardUrl = 'http://127.0.0.1:3000/dashboard/';

beforeAll(async () => {
  database = await createTestDatabase();
});

afterAll(async () => {
  await database?.drop();
  fs.rmSync(scratch, { recursive: true, force: true });
});

it('makes one admin token on a first start, even when several processes start at once, and none after', async () => {
  const made = await Promise.all([1, 2, 3].map(() => createFirstAdminToken(database.prisma)));
  const created = made.filter((m) => m !== undefined);
  expect(created).toHaveLength(1);
  expect(await database.prisma.apiToken.count()).toBe(1);
  expect(await findIdentityByToken(database.prisma, created[0]!.token)).toEqual({ name: 'admin', role: 'admin' });
  expect(await createFirstAdminToken(database.prisma)).toBeUndefined();

  // Revoked, the token still counts: a later start makes no new admin token.
  await revokeApiToken(database.prisma, created[0]!.id);
  expect(await createFirstAdminToken(database.prisma)).toBeUndefined();
  expect(await database.prisma.apiToken.count()).toBe(1);
});

it('prints the token and a sign-in link on a terminal, and only a 0600 file name otherwise', async () => {
  const created = await createApiToken(database.prisma, { name: 'someone', role: 'admin' });
  const onTerminal = await firstRunNotice(created, { dashboardUrl, terminal: true, dataDir: scratch });
  expect(onTerminal.join('\n')).toContain(created.token);
  expect(onTerminal.join('\n')).toContain(`Sign in: ${dashboardUrl}#token=${created.token}`);
  expect(onTerminal.join('\n')).toContain('npm run token -- create');
  expect(fs.existsSync(path.join(scratch, FIRST_TOKEN_FILE))).toBe(false);

  const toALog = await firstRunNotice(created, { dashboardUrl, terminal: false, dataDir: scratch });
  expect(toALog.join('\n')).not.toContain(created.token);
  const file = path.join(scratch, FIRST_TOKEN_FILE);
  expect(toALog.join('\n')).toContain(file);
  expect(fs.statSync(file).mode & 0o777).toBe(0o600);
  expect(fs.readFileSync(file, 'utf8')).toBe(`${created.token}\n${signInLink(dashboardUrl, created.token)}\n`);
});
