// API tokens (lib/api-tokens.ts) against a real PostgreSQL database of this file's own: the token's
// shape, its hash, that only the hash is stored, lookup, lastUsedAt, listing and revoking.
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createApiToken,
  findIdentityByToken,
  generateToken,
  hashToken,
  listApiTokens,
  looksLikeToken,
  revokeApiToken,
} from '../../lib/api-tokens.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';

let database: TestDatabase;

beforeAll(async () => {
  database = await createTestDatabase();
});

afterAll(async () => {
  await database?.drop();
});

describe('tokens and their hashes', () => {
  it('are chf_ followed by 32 random bytes in base64url, different every time', () => {
    const tokens = new Set(Array.from({ length: 200 }, generateToken));
    expect(tokens.size).toBe(200);
    for (const token of tokens) {
      expect(token).toMatch(/^chf_[A-Za-z0-9_-]{43}$/);
      expect(Buffer.from(token.slice(4), 'base64url')).toHaveLength(32);
      expect(looksLikeToken(token)).toBe(true);
    }
    for (const bad of [
      '',
      'chf_',
      'Bearer chf_x',
      `chf_${'a'.repeat(42)}`,
      `chf_${'a'.repeat(44)}`,
      `xyz_${'a'.repeat(43)}`,
      `chf_${'a'.repeat(42)}=`,
    ]) {
      expect(looksLikeToken(bad), bad).toBe(false);
    }
  });

  it('hash with sha256, in hex', () => {
    const token = generateToken();
    expect(hashToken(token)).toBe(createHash('sha256').update(token).digest('hex'));
    expect(hashToken(token)).toMatch(/^[0-9a-f]{64}$/);
    expect(hashToken(token)).not.toBe(hashToken(generateToken()));
  });
});

describe('stored tokens', () => {
  it('keep only the hash and a short prefix; the clear token is returned once', async () => {
    const created = await createApiToken(database.prisma, { name: 'alice', role: 'approver' });
    expect(created).toMatchObject({ name: 'alice', role: 'approver', id: expect.any(String) });
    expect(looksLikeToken(created.token)).toBe(true);
    expect(created.prefix).toBe(created.token.slice(0, 12));

    const row = await database.prisma.apiToken.findUniqueOrThrow({ where: { id: created.id } });
    expect(row).toMatchObject({
      name: 'alice',
      role: 'approver',
      tokenHash: hashToken(created.token),
      prefix: created.prefix,
      lastUsedAt: null,
      revokedAt: null,
    });
    // Nothing in the row, nor anywhere in the table, holds the token or its random part.
    const everything = JSON.stringify(await database.prisma.$queryRawUnsafe('SELECT * FROM api_tokens'));
    expect(everything).not.toContain(created.token);
    expect(everything).not.toContain(created.token.slice(12));
  });

  it('refuse unknown roles and names that do not fit in an audit record', async () => {
    await expect(createApiToken(database.prisma, { name: 'mallory', role: 'root' })).rejects.toThrow(
      /role must be one of requester, approver, admin/,
    );
    for (const name of ['', ' ', 'two words', 'line\nbreak', '-dash-first', 'x'.repeat(101)]) {
      await expect(createApiToken(database.prisma, { name, role: 'requester' }), JSON.stringify(name)).rejects.toThrow(/name must be/);
    }
    expect((await createApiToken(database.prisma, { name: '  erin@lab  ', role: 'requester' })).name).toBe('erin@lab');
  });

  it('are found by the token, marking them used; anything else finds nobody', async () => {
    const { token, id } = await createApiToken(database.prisma, { name: 'bob', role: 'requester' });
    expect(await findIdentityByToken(database.prisma, token)).toEqual({ name: 'bob', role: 'requester' });
    await expect.poll(async () => (await database.prisma.apiToken.findUniqueOrThrow({ where: { id } })).lastUsedAt).not.toBeNull();

    expect(await findIdentityByToken(database.prisma, generateToken())).toBeUndefined();
    expect(await findIdentityByToken(database.prisma, hashToken(token))).toBeUndefined();
    expect(await findIdentityByToken(database.prisma, token.slice(0, -1))).toBeUndefined();
    expect(await findIdentityByToken(database.prisma, '')).toBeUndefined();
  });

  it('are listed without their hashes, and revoked by id or prefix', async () => {
    const carol = await createApiToken(database.prisma, { name: 'carol', role: 'admin' });
    const dave = await createApiToken(database.prisma, { name: 'dave', role: 'requester' });

    const listed = await listApiTokens(database.prisma);
    expect(listed.map((t) => t.name)).toEqual(expect.arrayContaining(['carol', 'dave']));
    for (const entry of listed)
      expect(Object.keys(entry).sort()).toEqual(['createdAt', 'id', 'lastUsedAt', 'name', 'prefix', 'revokedAt', 'role']);

    const byId = await revokeApiToken(database.prisma, carol.id);
    expect(byId).toMatchObject({ id: carol.id, revokedAt: expect.any(Date) });
    expect(await findIdentityByToken(database.prisma, carol.token)).toBeUndefined();
    // Revoking again changes nothing.
    expect((await revokeApiToken(database.prisma, carol.id)).revokedAt).toEqual(byId.revokedAt);

    expect(await findIdentityByToken(database.prisma, dave.token)).toEqual({ name: 'dave', role: 'requester' });
    await revokeApiToken(database.prisma, dave.prefix);
    expect(await findIdentityByToken(database.prisma, dave.token)).toBeUndefined();

    await expect(revokeApiToken(database.prisma, 'chf_nothing')).rejects.toThrow(/no token has the id or prefix/);
    await expect(revokeApiToken(database.prisma, '')).rejects.toThrow(/say which token/);
  });

  it('refuse to revoke when a prefix is ambiguous', async () => {
    const one = await createApiToken(database.prisma, { name: 'frank', role: 'requester' });
    const two = await createApiToken(database.prisma, { name: 'grace', role: 'requester' });
    // Prefixes of real tokens practically never collide; make two do so.
    await database.prisma.apiToken.update({ where: { id: two.id }, data: { prefix: one.prefix } });
    await expect(revokeApiToken(database.prisma, one.prefix)).rejects.toThrow(/2 tokens have the prefix/);
    expect(await findIdentityByToken(database.prisma, one.token)).toEqual({ name: 'frank', role: 'requester' });
  });
});
