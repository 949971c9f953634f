// Input is validated at the edge with zod; a failure answers 400 with what was wrong.
import { zValidator } from '@hono/zod-validator';
import type { ZodType } from 'zod';
import { ApiError } from './errors.js';

function validated<T extends ZodType>(target: 'json' | 'query', schema: T) {
  return zValidator(target, schema, (result) => {
    if (!result.success) {
      const problems = result.error.issues.map((issue) => `${issue.path.join('.') || (target === 'json' ? 'body' : 'query')}: ${issue.message}`);
      throw new ApiError(400, 'invalid_input', problems.join('; '));
    }
  });
}

/** The JSON body, checked against `schema`. */
export const jsonBody = <T extends ZodType>(schema: T) => validated('json', schema);

/** The query string, checked against `schema`. */
export const queryParams = <T extends ZodType>(schema: T) => validated('query', schema);
