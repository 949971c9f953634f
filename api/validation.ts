// Input is validated at the edge with zod; a failure answers 400 with what was wrong. The validators
// are hono-openapi's (Standard Schema, so zod 4 as is): the schema a route validates with is also
// what GET /api/openapi.json says the route takes.
import type { MiddlewareHandler } from 'hono';
import { validator } from 'hono-openapi';
import { jsonTextDepth, MAX_JSON_DEPTH } from '../domain/json-limits.js';
import type { ZodType } from 'zod';
import { ApiError } from './errors.js';

function validated<T extends ZodType>(target: 'json' | 'query', schema: T) {
  return validator(target, schema, (result) => {
    if (!result.success) {
      const problems = result.error.map((issue) => {
        const path = (issue.path ?? []).map((segment) => String(typeof segment === 'object' ? segment.key : segment)).join('.');
        return `${path || (target === 'json' ? 'body' : 'query')}: ${issue.message}`;
      });
      throw new ApiError(400, 'invalid_input', problems.join('; '));
    }
  });
}

/** The JSON body, checked against `schema`. */
export const jsonBody = <T extends ZodType>(schema: T) => validated('json', schema);

/** The query string, checked against `schema`. */
export const queryParams = <T extends ZodType>(schema: T) => validated('query', schema);

/**
 * Refuses a JSON body that nests deeper than MAX_JSON_DEPTH before anything parses or walks it
 * (validation, the plan hash and the payload converter recurse). For every route that takes one.
 */
export const shallowJsonBody: MiddlewareHandler = async (c, next) => {
  if (c.req.header('content-type')?.includes('json')) {
    const depth = jsonTextDepth(await c.req.text()); // Hono keeps the text for the parse that follows
    if (depth > MAX_JSON_DEPTH)
      throw new ApiError(400, 'too_deep', `the body nests ${depth} levels deep; at most ${MAX_JSON_DEPTH} are taken`);
  }
  await next();
};
