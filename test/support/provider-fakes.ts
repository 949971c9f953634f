// Loopback fakes of the decomposition providers' HTTP APIs: an OpenAI-compatible chat-completions
// server, a quota endpoint, and Anthropic's Messages API (which checks the headers and body shape
// the real API requires). Real HTTP servers on 127.0.0.1, started and closed by the tests.
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: unknown;
}

export interface Fake {
  url: string;
  requests: RecordedRequest[];
  close(): Promise<void>;
}

type Handler = (request: RecordedRequest, res: ServerResponse) => void;

async function readBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

const fakes: Fake[] = [];

/** Closes every fake started so far (afterAll). */
export async function closeAllFakes(): Promise<void> {
  await Promise.all(fakes.splice(0).map((fake) => fake.close()));
}

export async function startFake(handler: Handler): Promise<Fake> {
  const requests: RecordedRequest[] = [];
  const server = createServer((req, res) => {
    void readBody(req).then((body) => {
      const request = { method: req.method ?? '', path: req.url ?? '', headers: req.headers, body };
      requests.push(request);
      handler(request, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const fake: Fake = {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  fakes.push(fake);
  return fake;
}

/** An OpenAI-compatible server whose chat completion carries `content` (or that fails as told). */
export function openAiFake(behaviour: { content: string } | { status: number; body: unknown } | 'hang'): Promise<Fake> {
  return startFake((request, res) => {
    if (request.method !== 'POST' || request.path !== '/v1/chat/completions') return sendJson(res, 404, { error: { type: 'not_found' } });
    if (behaviour === 'hang') return; // never answers
    if ('status' in behaviour) return sendJson(res, behaviour.status, behaviour.body);
    sendJson(res, 200, {
      id: 'chatcmpl-1',
      object: 'chat.completion',
      created: 1_700_000_000,
      model: (request.body as { model?: string }).model,
      choices: [{ index: 0, message: { role: 'assistant', content: behaviour.content }, finish_reason: 'stop' }],
      usage: { prompt_tokens: 100, completion_tokens: 40, total_tokens: 140 },
    });
  });
}

/** A quota endpoint answering `body` on GET /quota. */
export function quotaFake(body: unknown): Promise<Fake> {
  return startFake((request, res) => (request.path === '/quota' ? sendJson(res, 200, body) : sendJson(res, 404, {})));
}

/** What the Messages API requires of a request; undefined when it is well-formed. */
export function messagesRequestProblem(request: RecordedRequest, apiKey: string): string | undefined {
  if (request.method !== 'POST' || request.path !== '/v1/messages') return 'not POST /v1/messages';
  if (request.headers['x-api-key'] !== apiKey) return 'x-api-key';
  if (request.headers['anthropic-version'] !== '2023-06-01') return 'anthropic-version';
  if (!String(request.headers['content-type']).startsWith('application/json')) return 'content-type';
  const body = request.body as Record<string, unknown>;
  if (typeof body?.model !== 'string' || !body.model) return 'model';
  if (typeof body.max_tokens !== 'number' || body.max_tokens < 1) return 'max_tokens';
  if (typeof body.system !== 'string' || !body.system.includes('kuma-deploy.yml')) return 'system';
  const messages = body.messages as { role?: unknown; content?: unknown }[];
  if (!Array.isArray(messages) || messages.length !== 1 || messages[0]?.role !== 'user' || typeof messages[0]?.content !== 'string')
    return 'messages';
  return undefined;
}

/** Anthropic's Messages API (accepting only `apiKey`), answering `text` as content[0].text (or failing as told). */
export function anthropicFake(apiKey: string, behaviour: { text: string } | { status: number; body: unknown }): Promise<Fake> {
  return startFake((request, res) => {
    const problem = messagesRequestProblem(request, apiKey);
    if (problem) return sendJson(res, 400, { type: 'error', error: { type: 'invalid_request_error', message: `bad ${problem}` } });
    if ('status' in behaviour) return sendJson(res, behaviour.status, behaviour.body);
    sendJson(res, 200, {
      id: 'msg_01',
      type: 'message',
      role: 'assistant',
      model: (request.body as { model: string }).model,
      content: [{ type: 'text', text: behaviour.text }],
      stop_reason: 'end_turn',
      stop_sequence: null,
      usage: { input_tokens: 120, output_tokens: 45 },
    });
  });
}
