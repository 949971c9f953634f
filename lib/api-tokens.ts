// API tokens: who is calling the HTTP API, and with which role. A token is `chf_` followed by 32
// random bytes (base64url); only its sha256 is stored, with its first characters (`prefix`) so a
// person can tell their tokens apart in a listing. The clear token exists once, in what
// createApiToken returns (the CLI prints it, the database never sees it).
//
// Why a plain sha256 and not bcrypt/scrypt/argon2: those slow hashes exist to protect low-entropy
// secrets (passwords) against guessing. A token carries 256 random bits, so guessing it from its
// hash is hopeless at any hash speed, and a fast, unsalted hash lets the API find the token by an
// indexed lookup (`token_hash` is unique) on every request instead of comparing against every row.
import { createHash, randomBytes } from 'node:crypto';
import type { PrismaClient } from '../generated/prisma/client.js';

export const ROLES = ['requester', 'approver', 'admin'] as const;
export type Role = (typeof ROLES)[number];

/** Who a valid token speaks for: the name requests and decisions are recorded under, and the role. */
export interface Identity {
  name: string;
  role: Role;
}

export const TOKEN_PREFIX = 'chf_';
const TOKEN_BYTES = 32;
/** `chf_` and 8 characters of the random part: enough to tell tokens apart, far too little to guess. */
const SHOWN_PREFIX_LENGTH = TOKEN_PREFIX.length + 8;
const TOKEN_FORMAT = /^chf_[A-Za-z0-9_-]{43}$/;
/** Identities end up in audit records and commit trailers: one plain word, no spaces or newlines. */
const NAME_FORMAT = /^[A-Za-z0-9][A-Za-z0-9._@+-]{0,99}$/;
/** lastUsedAt is written at most this often per token, so reads do not turn into writes. */
const LAST_USED_RESOLUTION_MS = 60_000;

export function isRole(value: unknown): value is Role {
  return typeof value === 'string' && (ROLES as readonly string[]).includes(value);
}

export function checkRole(value: string): Role {
  if (!isRole(value)) throw new Error(`role must be one of ${ROLES.join(', ')}, not ${JSON.stringify(value)}`);
  return value;
}

export function checkName(value: string): string {
  const name = value.trim();
  if (!NAME_FORMAT.test(name)) {
    throw new Error('name must be 1 to 100 letters, digits or . _ @ + - (starting with a letter or digit), e.g. alice');
  }
  return name;
}

/** A new random token: `chf_` + 32 random bytes in base64url (43 characters). */
export function generateToken(): string {
  return TOKEN_PREFIX + randomBytes(TOKEN_BYTES).toString('base64url');
}

/** The sha256 of a token, in hex: what the database stores and looks tokens up by. */
export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** Whether `text` has the shape of a token (checked before any database lookup). */
export function looksLikeToken(text: string): boolean {
  return TOKEN_FORMAT.test(text);
}

export function tokenPrefix(token: string): string {
  return token.slice(0, SHOWN_PREFIX_LENGTH);
}

export interface CreatedApiToken extends Identity {
  id: string;
  prefix: string;
  /** The token in clear: shown to its owner once, stored nowhere. */
  token: string;
}

export async function createApiToken(prisma: PrismaClient, input: { name: string; role: string }): Promise<CreatedApiToken> {
  const name = checkName(input.name);
  const role = checkRole(input.role);
  const token = generateToken();
  const row = await prisma.apiToken.create({ data: { name, role, tokenHash: hashToken(token), prefix: tokenPrefix(token) } });
  return { id: row.id, name, role, prefix: row.prefix, token };
}

/** The name of the token made on first start. */
export const FIRST_ADMIN_NAME = 'admin';

/**
 * On a first start (no token was ever made, revoked ones included), one admin token so the person
 * who installed Chiffon can sign in and make the others; undefined once any token exists. Several
 * processes starting at once make one between them (a transaction-scoped advisory lock).
 */
export async function createFirstAdminToken(prisma: PrismaClient): Promise<CreatedApiToken | undefined> {
  return prisma.$transaction(async (tx) => {
    await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtext('chiffon:first-admin-token'))`;
    if ((await tx.apiToken.count()) > 0) return undefined;
    const token = generateToken();
    const row = await tx.apiToken.create({
      data: { name: FIRST_ADMIN_NAME, role: 'admin', tokenHash: hashToken(token), prefix: tokenPrefix(token) },
    });
    return { id: row.id, name: FIRST_ADMIN_NAME, role: 'admin' as const, prefix: row.prefix, token };
  });
}

/**
 * The identity of a valid token, or undefined for a malformed, unknown or revoked one (which the
 * caller cannot tell apart, on purpose). Marks the token used, at most once a minute, without
 * waiting for that write.
 */
export async function findIdentityByToken(prisma: PrismaClient, token: string): Promise<Identity | undefined> {
  if (!looksLikeToken(token)) return undefined;
  const row = await prisma.apiToken.findUnique({ where: { tokenHash: hashToken(token) } });
  if (!row || row.revokedAt !== null || !isRole(row.role)) return undefined;
  const now = new Date();
  if (!row.lastUsedAt || now.getTime() - row.lastUsedAt.getTime() >= LAST_USED_RESOLUTION_MS) {
    void prisma.apiToken.update({ where: { id: row.id }, data: { lastUsedAt: now } }).catch(() => {});
  }
  return { name: row.name, role: row.role };
}

/** A token as listings show it: never its hash. */
export interface ApiTokenInfo {
  id: string;
  name: string;
  role: string;
  prefix: string;
  createdAt: Date;
  lastUsedAt: Date | null;
  revokedAt: Date | null;
}

const INFO = { id: true, name: true, role: true, prefix: true, createdAt: true, lastUsedAt: true, revokedAt: true } as const;

export function listApiTokens(prisma: PrismaClient): Promise<ApiTokenInfo[]> {
  return prisma.apiToken.findMany({ select: INFO, orderBy: [{ createdAt: 'asc' }, { id: 'asc' }] });
}

/**
 * Revokes the token whose id or prefix is `idOrPrefix` (a revoked token answers 401 from then on).
 * Throws when nothing or more than one token matches; revoking a revoked token changes nothing.
 */
export async function revokeApiToken(prisma: PrismaClient, idOrPrefix: string): Promise<ApiTokenInfo> {
  const key = idOrPrefix.trim();
  if (key === '') throw new Error('say which token: its id or its prefix');
  const isUuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(key);
  const matches = await prisma.apiToken.findMany({
    where: isUuid ? { OR: [{ id: key.toLowerCase() }, { prefix: key }] } : { prefix: key },
    select: INFO,
  });
  if (matches.length === 0) throw new Error(`no token has the id or prefix ${key}`);
  if (matches.length > 1) throw new Error(`${matches.length} tokens have the prefix ${key}: revoke by id (npm run token -- list)`);
  const match = matches[0]!;
  if (match.revokedAt) return match;
  return prisma.apiToken.update({ where: { id: match.id }, data: { revokedAt: new Date() }, select: INFO });
}
