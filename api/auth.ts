// Who is calling, and may they: every route under /api/dashboard needs an API token
// (lib/api-tokens.ts), sent as `Authorization: Bearer <token>`. `authenticate` answers 401 without a
// valid one and puts the token's identity on the context; `requireRole` on a route answers 403 when
// the identity's role is not among the route's (admin may do everything). The identity is what
// requests, decisions and operator actions are recorded under. Tokens are never logged and never
// appear in an answer.
//
// Browsers cannot set headers on an EventSource or a WebSocket, so the live streams (GET
// /requests/:id/events here, the WebSocket in live-websocket.ts) also take the token as the
// `access_token` query parameter; no other route does.
import type { Context, MiddlewareHandler } from 'hono';
import { routePath } from 'hono/route';
import { uniqueSymbol } from 'hono-openapi';
import { findIdentityByToken, ROLES, type Identity, type Role } from '../lib/api-tokens.js';
import type { PrismaClient } from '../generated/prisma/client.js';
import { errorBody } from './errors.js';
import { BEARER_SCHEME, errors, QUERY_TOKEN_SCHEME } from './openapi.js';

/** What authenticated routes find on their context: c.get('identity'). */
export interface AuthEnv {
  Variables: { identity: Identity };
}

/** Routes that take the token as `?access_token=` (under /api/dashboard). */
const QUERY_TOKEN_ROUTES = [/\/requests\/[^/]+\/events$/];

/** The token of an `Authorization: Bearer <token>` header, if that is what it holds. */
export function bearerToken(header: string | undefined): string | undefined {
  const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header ?? '');
  return match?.[1];
}

export type TokenCheck = { ok: true; identity: Identity } | { ok: false; message: string; invalidToken: boolean };

/**
 * Checks the token of a request: from the Authorization header, else (where allowed) from the
 * access_token query parameter. The message says what was wrong without repeating the token.
 */
export async function checkToken(
  prisma: PrismaClient,
  request: { authorization: string | undefined; accessToken?: string | null; queryTokenAllowed: boolean },
): Promise<TokenCheck> {
  let token: string | undefined;
  if (request.authorization !== undefined) {
    token = bearerToken(request.authorization);
    if (!token) return { ok: false, invalidToken: true, message: 'the Authorization header must be "Bearer <token>"' };
  } else if (request.accessToken) {
    if (!request.queryTokenAllowed) {
      return {
        ok: false,
        invalidToken: false,
        message: 'send the token as "Authorization: Bearer <token>" (access_token is taken only by the live event streams)',
      };
    }
    token = request.accessToken;
  }
  if (!token)
    return {
      ok: false,
      invalidToken: false,
      message: 'an API token is required: send "Authorization: Bearer <token>" (npm run token -- create)',
    };
  const identity = await findIdentityByToken(prisma, token);
  if (!identity) return { ok: false, invalidToken: true, message: 'the token is not valid (malformed, unknown or revoked)' };
  return { ok: true, identity };
}

/** The WWW-Authenticate header of a 401 (RFC 6750). */
export function wwwAuthenticate(check: { invalidToken: boolean }): string {
  return check.invalidToken ? 'Bearer realm="chiffon", error="invalid_token"' : 'Bearer realm="chiffon"';
}

/** 401 without a valid token; otherwise the token's identity goes on the context. */
export function authenticate(prisma: PrismaClient): MiddlewareHandler<AuthEnv> {
  return async (c, next) => {
    const queryTokenAllowed = c.req.method === 'GET' && QUERY_TOKEN_ROUTES.some((route) => route.test(c.req.path));
    const check = await checkToken(prisma, {
      authorization: c.req.header('authorization'),
      accessToken: c.req.query('access_token'),
      queryTokenAllowed,
    });
    if (!check.ok) {
      return c.json(errorBody('unauthorized', check.message), 401, { 'WWW-Authenticate': wwwAuthenticate(check) });
    }
    c.set('identity', check.identity);
    await next();
  };
}

/** The caller's identity (set by `authenticate`). */
export function identityOf(c: Context<AuthEnv>): Identity {
  const identity = c.get('identity');
  // Only reachable if a route were mounted outside the authenticated router: a bug, not a 401.
  if (!identity) throw new Error('no identity on the context: is the route behind authenticate()?');
  return identity;
}

/**
 * 403 unless the caller's role is one of `roles` (or admin). It also documents the route in
 * GET /api/openapi.json: its `x-chiffon-roles` and its 401/403 answers (the bearer scheme is the
 * document's default security).
 */
export function requireRole(...roles: Role[]): MiddlewareHandler<AuthEnv> {
  const allowed: Role[] = [...new Set<Role>([...roles, 'admin'])];
  const middleware: MiddlewareHandler<AuthEnv> = async (c, next) => {
    const { name, role } = identityOf(c);
    if (!allowed.includes(role)) {
      return c.json(
        errorBody(
          'forbidden',
          `${c.req.method} ${routePath(c).replace(/^\/api\/dashboard/, '')} needs the role ${allowed.join(' or ')}; the token of ${name} has the role ${role}`,
          {
            required_roles: allowed,
            role,
          },
        ),
        403,
      );
    }
    await next();
  };
  const everyone = ROLES.every((r) => allowed.includes(r));
  return Object.assign(middleware, {
    [uniqueSymbol]: {
      spec: {
        'x-chiffon-roles': allowed,
        responses: errors(everyone ? { 401: true } : { 401: true, 403: true }),
      },
    },
  });
}

/** Any valid token (documented like requireRole). */
export const anyRole = () => requireRole(...ROLES);

/** Documents that a live stream also takes the token as `?access_token=`. */
export const queryTokenSecurity: Record<string, string[]>[] = [{ [BEARER_SCHEME]: [] }, { [QUERY_TOKEN_SCHEME]: [] }];
