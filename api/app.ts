// The HTTP API: small routers composed under /api/dashboard, one error shape for everything. Every
// route under /api/dashboard needs an API token (api/auth.ts), and so does the codec endpoint
// /api/codec (routes/codec.ts); /healthz and /api/openapi.json (the API described from these
// routes, api/openapi.ts) are open.
import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { z } from 'zod';
import { authenticate, type AuthEnv } from './auth.js';
import type { ApiDeps } from './deps.js';
import { ApiError, errorBody, renderError } from './errors.js';
import { answer, docs, openApiDocument } from './openapi.js';
import { shallowJsonBody } from './validation.js';
import { agentRoutes } from './routes/agents.js';
import { approveRoutes } from './routes/approve.js';
import { auditRoutes } from './routes/audit.js';
import { chatRoutes } from './routes/chat.js';
import { codecRoutes } from './routes/codec.js';
import { dashboardPageRoutes } from './routes/dashboard-page.js';
import { playbookRoutes } from './routes/playbooks.js';
import { requestActionRoutes } from './routes/request-actions.js';
import { requestEventRoutes } from './routes/request-events.js';
import { requestInputRoutes } from './routes/request-input.js';
import { requestPreviewRoutes } from './routes/request-preview.js';
import { requestRoutes } from './routes/requests.js';
import { scheduleRoutes } from './routes/schedules.js';
import { suggestionRoutes } from './routes/suggestions.js';

export const MAX_BODY_BYTES = 64 * 1024;
/** How long /healthz waits for each dependency. */
const HEALTH_TIMEOUT_MS = 2_000;

/** 'ok', or the first line of why `probe` failed (or took longer than HEALTH_TIMEOUT_MS). */
async function checked(probe: () => Promise<unknown>): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${HEALTH_TIMEOUT_MS} ms`)), HEALTH_TIMEOUT_MS);
  });
  try {
    await Promise.race([probe(), timeout]);
    return 'ok';
  } catch (err) {
    const lines = String((err as { message?: unknown })?.message ?? err)
      .split('\n')
      .map((line) => line.trim())
      .filter(Boolean);
    return `down: ${lines.at(-1) ?? 'no answer'}`;
  } finally {
    clearTimeout(timer);
  }
}

export function createApp(deps: ApiDeps) {
  const dashboard = new Hono<AuthEnv>()
    .use(authenticate(deps.prisma))
    .use(
      bodyLimit({
        maxSize: MAX_BODY_BYTES,
        onError: () => {
          throw new ApiError(400, 'body_too_large', `request body is larger than ${MAX_BODY_BYTES} bytes`);
        },
      }),
    )
    .use(shallowJsonBody)
    .route('/', chatRoutes(deps))
    .route('/', approveRoutes(deps))
    .route('/', requestRoutes(deps))
    .route('/', requestActionRoutes(deps))
    .route('/', requestEventRoutes(deps))
    .route('/', requestInputRoutes(deps))
    .route('/', requestPreviewRoutes(deps))
    .route('/', scheduleRoutes(deps))
    .route('/', auditRoutes(deps))
    .route('/', playbookRoutes(deps))
    .route('/', suggestionRoutes(deps))
    .route('/', agentRoutes(deps));

  const app = new Hono();
  const health = z.object({
    ok: z.boolean(),
    database: z.string().meta({ description: 'ok, or why PostgreSQL does not answer' }),
    temporal: z.string().meta({ description: 'ok, or why the Temporal server does not answer' }),
  });
  app.get(
    '/healthz',
    docs({
      summary: 'Whether the API and what it depends on answer',
      tags: ['meta'],
      security: [],
      responses: { 200: answer('everything answers', health), 503: answer('PostgreSQL or the Temporal server does not', health) },
    }),
    async (c) => {
      const [database, temporal] = await Promise.all([
        checked(() => deps.prisma.$queryRaw`SELECT 1`),
        checked(() =>
          deps.client.connection.withDeadline(Date.now() + HEALTH_TIMEOUT_MS, () => deps.client.workflowService.getSystemInfo({})),
        ),
      ]);
      const ok = database === 'ok' && temporal === 'ok';
      if (!ok) c.header('Retry-After', '5');
      return c.json({ ok, database, temporal }, ok ? 200 : 503);
    },
  );
  app.route('/api/dashboard', dashboard);
  app.route('/api/codec', codecRoutes(deps));
  app.get(
    '/api/openapi.json',
    docs({
      summary: 'This document: the API in OpenAPI 3.1',
      tags: ['meta'],
      security: [],
      responses: { 200: { description: 'the OpenAPI document' } },
    }),
    openApiDocument(app),
  );
  // The web page (static, no token needed to load it; it sends the person's token to the API).
  app.route(
    '/',
    dashboardPageRoutes({
      temporalUiUrl: deps.config.temporalUiUrl,
      namespace: deps.config.temporalNamespace,
    }),
  );
  app.notFound((c) => c.json(errorBody('not_found', `no route ${c.req.method} ${c.req.path}`), 404));
  app.onError(renderError);
  return app;
}
