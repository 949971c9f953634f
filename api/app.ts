// The HTTP API: small routers composed under /api/dashboard, one error shape for everything.
import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { ApiDeps } from './deps.js';
import { ApiError, errorBody, renderError } from './errors.js';
import { approveRoutes } from './routes/approve.js';
import { auditRoutes } from './routes/audit.js';
import { chatRoutes } from './routes/chat.js';
import { playbookRoutes } from './routes/playbooks.js';
import { requestActionRoutes } from './routes/request-actions.js';
import { requestEventRoutes } from './routes/request-events.js';
import { requestInputRoutes } from './routes/request-input.js';
import { requestRoutes } from './routes/requests.js';
import { suggestionRoutes } from './routes/suggestions.js';

export const MAX_BODY_BYTES = 64 * 1024;

export function createApp(deps: ApiDeps) {
  const dashboard = new Hono()
    .use(
      bodyLimit({
        maxSize: MAX_BODY_BYTES,
        onError: () => {
          throw new ApiError(400, 'body_too_large', `request body is larger than ${MAX_BODY_BYTES} bytes`);
        },
      }),
    )
    .route('/', chatRoutes(deps))
    .route('/', approveRoutes(deps))
    .route('/', requestRoutes(deps))
    .route('/', requestActionRoutes(deps))
    .route('/', requestEventRoutes(deps))
    .route('/', requestInputRoutes(deps))
    .route('/', auditRoutes(deps))
    .route('/', playbookRoutes(deps))
    .route('/', suggestionRoutes(deps));

  const app = new Hono();
  app.get('/healthz', (c) => c.json({ ok: true }));
  app.route('/api/dashboard', dashboard);
  app.notFound((c) => c.json(errorBody('not_found', `no route ${c.req.method} ${c.req.path}`), 404));
  app.onError(renderError);
  return app;
}
