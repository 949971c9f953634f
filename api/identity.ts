// Who is asking: decisions, retries, resumes and cancels are recorded with a person's identity.
import type { Context } from 'hono';
import { ApiError } from './errors.js';

/** The identity from the body field (approver/by) or the X-Chiffon-User header; 400 without one. */
export function requireIdentity(c: Context, fromBody: string | undefined): string {
  const identity = fromBody?.trim() || c.req.header('x-chiffon-user')?.trim();
  if (!identity) throw new ApiError(400, 'identity_required', 'say who is asking: "approver" (or "by") in the body, or the X-Chiffon-User header');
  return identity;
}
