// GET /api/dashboard/ws?request_id=...&after_seq=N as a WebSocket: the same events as the SSE
// stream (GET /requests/:id/events), one JSON text message per event, in seq order; every event
// after `after_seq` first, then new ones as they are written. The protocol is the `ws` library's,
// on the HTTP server's `upgrade` event; messages from the client are ignored. Like every route under
// /api/dashboard it needs an API token, checked before the upgrade (401 without a valid one): in the
// Authorization header, or as `?access_token=` since browsers cannot set headers on a WebSocket.
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import type { ServerType } from '@hono/node-server';
import { WebSocketServer, type WebSocket } from 'ws';
import { checkToken, wwwAuthenticate } from './auth.js';
import type { ApiDeps } from './deps.js';
import { requestExists } from './request-updates.js';
import { followRequestEvents, isRequestId } from './routes/request-events.js';

export const LIVE_WS_PATH = '/api/dashboard/ws';

/** Clients have nothing to send: a larger message closes the connection. */
const MAX_CLIENT_MESSAGE = 64 * 1024;

const REASONS = { 400: 'Bad Request', 401: 'Unauthorized', 404: 'Not Found', 500: 'Internal Server Error' } as const;

function rejectHandshake(
  socket: Duplex,
  status: keyof typeof REASONS,
  code: string,
  message: string,
  headers: Record<string, string> = {},
): void {
  const body = JSON.stringify({ error: { code, message } });
  const extra = Object.entries(headers)
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join('');
  socket.end(
    `HTTP/1.1 ${status} ${REASONS[status]}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${extra}Connection: close\r\n\r\n${body}`,
  );
}

/** Sends `text` once the socket has room: a slow client holds back its own stream, nobody else's. */
function send(socket: WebSocket, text: string): Promise<void> {
  return new Promise((resolve) => {
    if (socket.readyState !== socket.OPEN) return resolve();
    socket.send(text, () => resolve());
  });
}

/** Serves the live event WebSocket on `server` (the one `serve()` returned). */
export function attachLiveEventsWebSocket(server: ServerType, deps: Pick<ApiDeps, 'prisma' | 'events' | 'client'>): void {
  const sockets = new WebSocketServer({ noServer: true, maxPayload: MAX_CLIENT_MESSAGE });
  (server as Server).on('close', () => sockets.close());
  (server as Server).on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => {});
    const url = new URL(request.url ?? '/', 'http://localhost');
    if (url.pathname !== LIVE_WS_PATH) return rejectHandshake(socket, 404, 'not_found', `no WebSocket at ${url.pathname}`);
    void checkToken(deps.prisma, {
      authorization: request.headers.authorization,
      accessToken: url.searchParams.get('access_token'),
      queryTokenAllowed: true,
    }).then(
      (check) => {
        if (!check.ok) return rejectHandshake(socket, 401, 'unauthorized', check.message, { 'WWW-Authenticate': wwwAuthenticate(check) });
        serveEvents(request, socket, head, url);
      },
      () => rejectHandshake(socket, 500, 'internal', 'cannot check the token now; try again'),
    );
  });

  function serveEvents(request: IncomingMessage, socket: Duplex, head: Buffer, url: URL): void {
    const requestId = url.searchParams.get('request_id') ?? '';
    if (!isRequestId(requestId)) return rejectHandshake(socket, 400, 'invalid_input', 'request_id: not a request id');
    const afterText = url.searchParams.get('after_seq') ?? '0';
    if (!/^\d{1,9}$/.test(afterText)) return rejectHandshake(socket, 400, 'invalid_input', 'after_seq: not a sequence number');
    void requestExists(deps, requestId).then(
      (exists) => (exists ? follow() : rejectHandshake(socket, 404, 'not_found', `no request ${requestId}`)),
      () => rejectHandshake(socket, 500, 'internal', 'cannot look the request up now; try again'),
    );

    const follow = () =>
      sockets.handleUpgrade(request, socket, head, (client) => {
        const abort = new AbortController();
        client.on('close', () => abort.abort());
        client.on('error', () => abort.abort());
        followRequestEvents(deps, requestId, Number(afterText), abort.signal, {
          event: (event) => send(client, JSON.stringify(event)),
          keepAlive: async () => client.ping(),
        }).catch(() => client.close(1011));
      });
  }
}
