// One interface for everything that can decompose a request: a model behind an HTTP API or the
// deterministic parser. A provider either returns a DecomposeResult grounded in the catalog or
// throws; the chain (chain.ts) decides which provider is asked and records why others were not.
//
// Also the HTTP helpers the model providers share. They use the platform fetch, bound every call
// by an AbortSignal, cap what they read, and build error messages from the status and the
// provider's error *type* only: never request headers, never the URL's query, never the body of an
// error answer (providers echo parts of a wrong key back in it).
import type { DecomposeResult } from '../../domain/decompose.js';
import type { Catalog } from '../../domain/types.js';

export interface DecompositionProvider {
  /** Stable name recorded in the plan and the audit: `openai-compatible`, `anthropic`, `deterministic`. */
  readonly name: string;
  /** The model asked, when there is one (recorded with the decision). */
  readonly model?: string;
  /** A result grounded in the catalog, or a thrown error (a ProviderError for expected failures). */
  decompose(message: string, catalog: Catalog, signal: AbortSignal): Promise<DecomposeResult>;
  /**
   * The remaining quota as a fraction (0..1), or undefined when the provider does not know it.
   * Throws when the quota endpoint cannot be read.
   */
  remainingQuota?(signal: AbortSignal): Promise<number | undefined>;
}

/** An expected failure of a provider; its message is safe to record (no key, no header, bounded). */
export class ProviderError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ProviderError';
  }
}

/** Most a provider answer may weigh; a chat answer for this task is a few kilobytes. */
const MAX_RESPONSE_BYTES = 1024 * 1024;

/** `http://host:port/path` of a URL: no credentials, no query (which may hold a token). */
export function safeUrl(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.origin}${parsed.pathname}`;
  } catch {
    return '(invalid URL)';
  }
}

/** Why a fetch threw, in words that name no header and no key. */
function describeFetchError(error: unknown, signal: AbortSignal): string {
  if (signal.aborted) {
    const reason = signal.reason as { name?: unknown } | undefined;
    if (reason?.name === 'TimeoutError') return 'timed out';
    return 'cancelled';
  }
  if (error instanceof Error && error.name === 'AbortError') return 'cancelled';
  const cause = error instanceof Error ? (error.cause as { code?: unknown } | undefined) : undefined;
  if (cause && typeof cause.code === 'string' && /^[A-Z_]+$/.test(cause.code)) return `connection failed (${cause.code})`;
  return 'connection failed';
}

async function readBounded(response: Response, what: string): Promise<string> {
  if (!response.body) return '';
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > MAX_RESPONSE_BYTES) {
      await reader.cancel().catch(() => undefined);
      throw new ProviderError(`${what} answered more than ${MAX_RESPONSE_BYTES} bytes`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** The provider's own error code or type (`invalid_api_key`, `overloaded_error`), if it names one plainly. */
function errorType(body: string): string | undefined {
  try {
    const parsed = JSON.parse(body) as { error?: { type?: unknown; code?: unknown } | unknown; type?: unknown };
    const error =
      typeof parsed.error === 'object' && parsed.error !== null ? (parsed.error as { type?: unknown; code?: unknown }) : undefined;
    for (const candidate of [error?.code, error?.type]) {
      if (typeof candidate === 'string' && /^[A-Za-z0-9_.-]{1,64}$/.test(candidate)) return candidate;
    }
  } catch {
    // not JSON: say nothing about it
  }
  return undefined;
}

export interface JsonRequest {
  method: 'GET' | 'POST';
  url: string;
  /** Sent as they are; never part of an error message. */
  headers: Record<string, string>;
  body?: unknown;
  signal: AbortSignal;
  /** Names the call in error messages, e.g. `chat/completions`. */
  what: string;
}

/** Sends a request and parses the JSON answer; a non-2xx status, bad JSON or a failed fetch throws a ProviderError. */
export async function requestJson({ method, url, headers, body, signal, what }: JsonRequest): Promise<unknown> {
  let text: string;
  let response: Response;
  try {
    response = await fetch(url, {
      method,
      headers: { accept: 'application/json', ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      signal,
      redirect: 'error',
    });
    text = await readBounded(response, what);
  } catch (error) {
    if (error instanceof ProviderError) throw error;
    throw new ProviderError(`${what} at ${safeUrl(url)}: ${describeFetchError(error, signal)}`);
  }
  if (!response.ok) {
    const type = errorType(text);
    throw new ProviderError(`${what} at ${safeUrl(url)} answered HTTP ${response.status}${type ? ` (${type})` : ''}`);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new ProviderError(`${what} at ${safeUrl(url)} answered something that is not JSON`);
  }
}
