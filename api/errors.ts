// Every error the API returns has one shape, {"error": {"code", "message"}}, and never a stack trace.
import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { describeUnavailable, unavailableDependency } from './unavailable.js';

/** What a 503 for a dependency that is down asks the client to wait. */
const RETRY_AFTER_SECONDS = 5;

export interface ErrorBody {
  error: { code: string; message: string; [detail: string]: unknown };
}

export function errorBody(code: string, message: string, details: Record<string, unknown> = {}): ErrorBody {
  return { error: { code, message, ...details } };
}

/** Throw from a handler to answer with a JSON error; app.onError renders it. */
export class ApiError extends Error {
  constructor(
    readonly status: ContentfulStatusCode,
    readonly code: string,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

export function renderError(err: Error, c: Context): Response {
  if (err instanceof ApiError) return c.json(errorBody(err.code, err.message, err.details), err.status);
  if (err instanceof HTTPException) {
    // Hono's own 4xx (e.g. malformed JSON from the validator) keep their status and message.
    const status = err.status as ContentfulStatusCode;
    const code = status === 400 ? 'bad_request' : `http_${status}`;
    return c.json(errorBody(code, err.message || 'request refused'), status);
  }
  const down = unavailableDependency(err);
  if (down) {
    c.header('Retry-After', String(RETRY_AFTER_SECONDS));
    return c.json(errorBody(`${down}_unavailable`, describeUnavailable(down, err)), 503);
  }
  console.error('chiffon api: unexpected error', err);
  return c.json(errorBody('internal', 'internal error; see the API log'), 500);
}
