// The HTTP API (<url>/api/dashboard) with a Bearer token, through Node's fetch. Every failure
// becomes an ApiError (the server answered with an error) or an UnreachableError (it did not answer),
// so commands only deal with answers. The token goes in the Authorization header and nowhere else:
// never in a URL, a message or an error.
import { ApiError, UnreachableError } from './errors.js';

/** Long enough for POST /chat, which answers once the request is planned. */
const CALL_TIMEOUT_MS = 120_000;

export type Query = Record<string, string | number | undefined>;

export class ApiClient {
  constructor(
    /** The server's origin, e.g. http://127.0.0.1:3000. */
    readonly url: string,
    private readonly token: string | undefined,
  ) {}

  get<T>(route: string, query?: Query): Promise<T> {
    return this.call<T>('GET', route, undefined, query);
  }

  post<T>(route: string, body?: unknown): Promise<T> {
    return this.call<T>('POST', route, body);
  }

  delete<T>(route: string): Promise<T> {
    return this.call<T>('DELETE', route);
  }

  async call<T>(method: string, route: string, body?: unknown, query?: Query): Promise<T> {
    const response = await this.send(method, route, {
      query,
      body: body === undefined ? undefined : JSON.stringify(body),
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      signal: AbortSignal.timeout(CALL_TIMEOUT_MS),
    });
    const text = await response.text().catch((err: unknown) => {
      throw new UnreachableError(this.url, reasonOf(err));
    });
    if (!response.ok) throw errorOf(response, text);
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new ApiError(response.status, 'bad_answer', `${method} ${route} answered ${response.status} with something that is not JSON`);
    }
  }

  /** Opens a Server-Sent Events stream; the caller reads the body (and aborts `signal` to close it). */
  async openStream(route: string, query: Query, signal: AbortSignal): Promise<ReadableStream<Uint8Array>> {
    const response = await this.send('GET', route, { query, headers: { accept: 'text/event-stream' }, signal });
    if (!response.ok || !response.body) throw errorOf(response, await response.text().catch(() => ''));
    return response.body;
  }

  private async send(
    method: string,
    route: string,
    options: { query?: Query; body?: string; headers: Record<string, string>; signal: AbortSignal },
  ): Promise<Response> {
    const target = new URL(`${this.url}/api/dashboard${route}`);
    for (const [key, value] of Object.entries(options.query ?? {})) if (value !== undefined) target.searchParams.set(key, String(value));
    const headers: Record<string, string> = { ...options.headers };
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    try {
      return await fetch(target, { method, headers, body: options.body, signal: options.signal });
    } catch (err) {
      throw new UnreachableError(this.url, reasonOf(err));
    }
  }
}

/** The API's `{"error": {"code", "message"}}`, or the bare status when the answer is not that (a proxy's page). */
function errorOf(response: Response, text: string): ApiError {
  try {
    const { error } = JSON.parse(text) as { error?: { code?: unknown; message?: unknown } };
    if (error && typeof error.code === 'string') {
      return new ApiError(response.status, error.code, typeof error.message === 'string' ? error.message : response.statusText);
    }
  } catch {
    // not JSON: fall through
  }
  return new ApiError(response.status, `http_${response.status}`, response.statusText || 'no error message');
}

/**
 * Why a fetch failed, in words: undici's errors say "fetch failed" and keep the reason (ECONNREFUSED,
 * ENOTFOUND, a reset) in `cause`.
 */
export function reasonOf(err: unknown): string {
  if (err instanceof Error) {
    if (err.name === 'TimeoutError') return 'no answer in time';
    const cause = err.cause as { code?: unknown; message?: unknown } | undefined;
    if (cause && typeof cause.message === 'string' && cause.message) return cause.message;
    if (cause && typeof cause.code === 'string') return cause.code;
    return err.message;
  }
  return String(err);
}
