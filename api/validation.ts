// Input is validated at the edge with zod; a failure answers 400 with what was wrong. The validators
// are hono-openapi's (Standard Schema, so zod 4 as is): the schema a route validates with is also
// what GET /api/openapi.json says the route takes.
import { validator } from 'hono-openapi';
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
