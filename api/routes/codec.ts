// The codec endpoint (Temporal's remote codec protocol) under /api/codec: the Temporal Web UI and
// `temporal workflow show --codec-endpoint` send it the sealed payloads of a history and get them
// back opened (POST /decode), so a person with a token can read what the server only holds sealed.
//
// Who may: an approver or an admin (a history holds input a requester may not see, e.g. no_log
// values). POST /encode seals payloads, which is what a forged Update would need: admins only.
// Tokens come as `Authorization: Bearer <token>` (the CLI's --codec-auth), or, for a browser, as the
// HttpOnly cookie POST /session sets (the Web UI's "Include cross-origin credentials"): the UI
// cannot send a header of Chiffon's. Browsers may call it only from the configured Temporal UI origins.
import { Hono, type MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import { cors } from 'hono/cors';
import { z } from 'zod';
import type { Payload } from '@temporalio/common';
import { isSealed } from '../../lib/payload-codec.js';
import { anyRole, checkToken, requireRole, wwwAuthenticate, type AuthEnv } from '../auth.js';
import type { ApiDeps } from '../deps.js';
import { ApiError, errorBody } from '../errors.js';
import { answer, docs, errors } from '../openapi.js';
import { jsonBody, shallowJsonBody } from '../validation.js';

/** A history's payloads come in one call; Temporal's own limit for one payload is 2 MiB. */
const MAX_CODEC_BODY_BYTES = 8 * 1024 * 1024;
const COOKIE = 'chiffon_codec';
const COOKIE_MAX_AGE_SECONDS = 12 * 60 * 60;
const base64 = z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/, 'base64');

/** Temporal's JSON for a Payload: metadata values and data in base64. */
const payloadJson = z.object({ metadata: z.record(z.string(), base64).optional(), data: base64.optional() });
// The CLI sends {} for no payloads.
const payloadsBody = z.object({ payloads: z.array(payloadJson).default([]) });
type PayloadJson = z.infer<typeof payloadJson>;

function fromJson({ metadata = {}, data = '' }: PayloadJson): Payload {
  return {
    metadata: Object.fromEntries(Object.entries(metadata).map(([k, v]) => [k, Buffer.from(v, 'base64')])),
    data: Buffer.from(data, 'base64'),
  };
}

function toJson(payload: Payload): PayloadJson {
  const metadata = Object.fromEntries(Object.entries(payload.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v ?? []).toString('base64')]));
  return { metadata, data: Buffer.from(payload.data ?? []).toString('base64') };
}

/** The token from the Authorization header, else (browsers) from the session cookie. */
function codecAuth(deps: ApiDeps, cookieAllowed: boolean): MiddlewareHandler<AuthEnv> {
  return async (c, next) => {
    const header = c.req.header('authorization');
    const cookie = cookieAllowed ? getCookie(c, COOKIE) : undefined;
    const check = await checkToken(deps.prisma, {
      authorization: header ?? (cookie ? `Bearer ${cookie}` : undefined),
      queryTokenAllowed: false,
    });
    if (!check.ok) return c.json(errorBody('unauthorized', check.message), 401, { 'WWW-Authenticate': wwwAuthenticate(check) });
    c.set('identity', check.identity);
    await next();
  };
}

export function codecRoutes(deps: ApiDeps) {
  const namespaceChecked: MiddlewareHandler = async (c, next) => {
    const namespace = c.req.header('x-namespace');
    if (namespace && namespace !== deps.config.temporalNamespace) {
      throw new ApiError(400, 'wrong_namespace', `this codec serves the namespace ${deps.config.temporalNamespace}, not ${namespace}`);
    }
    await next();
  };
  const encode = async (payloads: PayloadJson[]) => ({ payloads: (await deps.codec.encode(payloads.map(fromJson))).map(toJson) });
  // For reading, what was never sealed is shown as it is: the server's own (e.g. Temporal's markers).
  // Only workers refuse it.
  const decode = async (payloads: PayloadJson[]) => ({
    payloads: await Promise.all(
      payloads.map(async (json) => (isSealed(fromJson(json)) ? toJson((await deps.codec.decode([fromJson(json)]))[0]!) : json)),
    ),
  });

  return new Hono<AuthEnv>()
    .use(
      cors({
        origin: (origin) => (deps.config.temporalUiOrigins.includes(origin) ? origin : null),
        allowMethods: ['POST', 'DELETE'],
        allowHeaders: ['content-type', 'authorization', 'x-namespace'],
        credentials: true,
        maxAge: 600,
      }),
    )
    .use(
      bodyLimit({
        maxSize: MAX_CODEC_BODY_BYTES,
        onError: () => {
          throw new ApiError(400, 'body_too_large', `request body is larger than ${MAX_CODEC_BODY_BYTES} bytes`);
        },
      }),
    )
    .use(shallowJsonBody)
    .post(
      '/session',
      docs({
        summary: 'Let this browser use the codec endpoint (for the Temporal Web UI)',
        description: `Sets an HttpOnly cookie holding the token (${COOKIE_MAX_AGE_SECONDS / 3600} h), which the Web UI sends when its codec setting "Include cross-origin credentials" is on. Needs the token as a Bearer header.`,
        tags: ['codec'],
        responses: { 204: { description: 'the cookie is set' }, ...errors({ 401: true, 403: true }) },
      }),
      codecAuth(deps, false),
      requireRole('approver'),
      (c) => {
        const token = c.req
          .header('authorization')!
          .replace(/^Bearer[ \t]+/i, '')
          .trim();
        // Strict: a page of another site never gets the browser to send it. The UI's origin differs from the
        // API's by its port only, which is the same site.
        setCookie(c, COOKIE, token, {
          httpOnly: true,
          sameSite: 'Strict',
          path: '/api/codec',
          maxAge: COOKIE_MAX_AGE_SECONDS,
          secure: c.req.url.startsWith('https:'),
        });
        return c.body(null, 204);
      },
    )
    .delete(
      '/session',
      docs({
        summary: "Forget this browser's codec cookie",
        tags: ['codec'],
        responses: { 204: { description: 'the cookie is cleared' } },
      }),
      codecAuth(deps, true),
      anyRole(),
      (c) => {
        deleteCookie(c, COOKIE, { path: '/api/codec' });
        return c.body(null, 204);
      },
    )
    .post(
      '/decode',
      docs({
        summary: 'Open sealed payloads (Temporal remote codec protocol)',
        description:
          'Payloads that were never sealed (e.g. the markers Temporal writes itself) come back as they are; sealed ones that do not open come back as "refused: <why>" in their encoding.',
        tags: ['codec'],
        responses: { 200: answer('the payloads, opened', payloadsBody), ...errors({ 400: true, 401: true, 403: true }) },
      }),
      codecAuth(deps, true),
      requireRole('approver'),
      namespaceChecked,
      jsonBody(payloadsBody),
      async (c) => c.json(await decode(c.req.valid('json').payloads)),
    )
    .post(
      '/encode',
      docs({
        summary: 'Seal payloads (Temporal remote codec protocol)',
        description:
          "What the Web UI uses to send a signal or an Update; a sealed payload passes for one of Chiffon's own, so admins only.",
        tags: ['codec'],
        responses: { 200: answer('the payloads, sealed', payloadsBody), ...errors({ 400: true, 401: true, 403: true }) },
      }),
      codecAuth(deps, true),
      requireRole('admin'),
      namespaceChecked,
      jsonBody(payloadsBody),
      async (c) => c.json(await encode(c.req.valid('json').payloads)),
    );
}
