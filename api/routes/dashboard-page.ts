// The dashboard: a static page (plain HTML, an ES module and a stylesheet from api/dashboard-page/,
// no build step) that talks to the API under /api/dashboard with the person's bearer token.
//   GET /                        redirects to /dashboard/
//   GET /dashboard/              the page
//   GET /dashboard/app.js        the page's script
//   GET /dashboard/styles.css    the page's stylesheet
//   GET /dashboard/config.json   {temporalUiUrl, namespace}: where the page links each request's workflow
// The files are read once, when the routes are built; only these three names are served, so no
// path from a request ever reaches the file system. None of this needs a token: the page asks for
// one and sends it with every API call.
import fs from 'node:fs';
import { Hono } from 'hono';
import { fromProjectRoot } from '../../lib/paths.js';

export const DEFAULT_TEMPORAL_UI_URL = 'http://127.0.0.1:8233';

export interface DashboardPageOptions {
  /** Base URL of the Temporal Web UI (CHIFFON_TEMPORAL_UI_URL); http://127.0.0.1:8233 by default. */
  temporalUiUrl?: string;
  /** Temporal namespace of the request workflows; `default` by default. */
  namespace?: string;
}

const PAGE_DIR = fromProjectRoot('api', 'dashboard-page');

const FILES = {
  'index.html': 'text/html; charset=utf-8',
  'app.js': 'text/javascript; charset=utf-8',
  'styles.css': 'text/css; charset=utf-8',
} as const;

/** The page loads only its own files, and talks only to this origin (HTTP and WebSocket). */
const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  // Its own origin only: CSP 3's 'self' also matches ws: and wss: on the same host and port.
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

const PAGE_HEADERS = {
  'content-security-policy': CONTENT_SECURITY_POLICY,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-cache',
};

function readPageFiles(): Record<keyof typeof FILES, string> {
  const read = (name: keyof typeof FILES) => fs.readFileSync(`${PAGE_DIR}/${name}`, 'utf8');
  return { 'index.html': read('index.html'), 'app.js': read('app.js'), 'styles.css': read('styles.css') };
}

export function dashboardPageRoutes(options: DashboardPageOptions = {}) {
  const files = readPageFiles();
  const config = {
    temporalUiUrl: (options.temporalUiUrl?.trim() || DEFAULT_TEMPORAL_UI_URL).replace(/\/+$/, ''),
    namespace: options.namespace?.trim() || 'default',
  };
  const serve = (name: keyof typeof FILES) => () =>
    new Response(files[name], { headers: { 'content-type': FILES[name], ...PAGE_HEADERS } });

  return new Hono()
    .get('/', (c) => c.redirect('/dashboard/'))
    .get('/dashboard', (c) => c.redirect('/dashboard/'))
    .get('/dashboard/', serve('index.html'))
    .get('/dashboard/index.html', serve('index.html'))
    .get('/dashboard/app.js', serve('app.js'))
    .get('/dashboard/styles.css', serve('styles.css'))
    .get('/dashboard/config.json', (c) => c.json(config, 200, PAGE_HEADERS));
}
