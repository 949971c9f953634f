// Input is validated at the edge with zod; a failure answers 400 with what was wrong.
import { zValidator } from '@hono/zod-validator';
import type { ZodType } from 'zod';
import { ApiError } from './errors.js';

export function jsonBody<T extends ZodType>(schema: T) {
  return zValidator('json', schema, (result) => {
    if (!result.success) {
      const problems = result.error.issues.map((issue) => `${issue.path.join('.') || 'body'}: ${issue.message}`);
      throw new ApiError(400, 'invalid_input', problems.join('; '));
    }
  });
}
