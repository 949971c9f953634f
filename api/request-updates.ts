// Sends an Update (decide, retry, resume, cancel, check run) to a request's workflow and turns every refusal
// into the API's answer: 400 no identity, 403 self-approval, 404 unknown request, 409 not possible
// in its state.
import { WorkflowNotFoundError, type Client, type WorkflowHandle } from '@temporalio/client';
import type { UpdateDefinition } from '@temporalio/common';
import { workflowIdFor, type RequestState } from '../domain/request-state.js';
import { requestStateQuery, statusSearchAttribute } from '../workflows/messages.js';
import type { Identity } from '../lib/api-tokens.js';
import type { ApiDeps } from './deps.js';
import { ApiError } from './errors.js';
import { toApiError } from './temporal-errors.js';

export async function sendUpdate<Args extends [unknown, ...unknown[]]>(
  client: Client,
  requestId: string,
  update: UpdateDefinition<RequestState, Args>,
  args: Args,
): Promise<RequestState> {
  const handle = client.workflow.getHandle(workflowIdFor(requestId));
  try {
    return await handle.executeUpdate(update, { args });
  } catch (err) {
    throw await refusalOf(err, handle, requestId);
  }
}

async function refusalOf(err: unknown, handle: WorkflowHandle, requestId: string): Promise<unknown> {
  // A closed workflow takes no Update and looks "not found"; it exists, so the answer is 409.
  if (err instanceof WorkflowNotFoundError) {
    const description = await handle.describe().catch(() => undefined);
    if (description) {
      const status = description.typedSearchAttributes.get(statusSearchAttribute) ?? description.status.name.toLowerCase();
      return new ApiError(409, 'conflict', `request ${requestId} has ended (${status})`);
    }
  }
  return toApiError(err, requestId);
}

/**
 * Who asked for the request: its `requests` row says so once the workflow mirrored it; until then
 * (or for a row without it) the workflow's own state. Undefined when neither knows, including for
 * an unknown request (the Update that follows answers 404).
 */
export async function requesterOf({ client, prisma }: Pick<ApiDeps, 'client' | 'prisma'>, requestId: string): Promise<string | undefined> {
  const row = await prisma.request.findUnique({ where: { id: requestId }, select: { requestedBy: true } });
  if (row?.requestedBy) return row.requestedBy;
  try {
    const state = await client.workflow.getHandle(workflowIdFor(requestId)).query(requestStateQuery);
    return state.requestedBy ?? undefined;
  } catch {
    return undefined;
  }
}

/**
 * 403 unless the caller may act on the request: approvers and admins on any, a requester only on
 * one they asked for. `act` says what, as in "a requester may <act> only the requests they asked for".
 */
export async function assertOwnIfRequester(deps: Pick<ApiDeps, 'client' | 'prisma'>, identity: Identity, requestId: string, act: string) {
  if (identity.role !== 'requester' || (await requesterOf(deps, requestId)) === identity.name) return;
  throw new ApiError(
    403,
    'forbidden',
    `a requester may ${act} only the requests they asked for, and ${identity.name} did not ask for request ${requestId}`,
    {
      required_roles: ['approver', 'admin'],
      role: identity.role,
    },
  );
}

/**
 * Whether there is such a request: its `requests` row, or (before the workflow mirrored it) its
 * workflow. A stream of a request that does not exist answers 404 rather than waiting forever.
 */
export async function requestExists({ client, prisma }: Pick<ApiDeps, 'client' | 'prisma'>, requestId: string): Promise<boolean> {
  if (await prisma.request.findUnique({ where: { id: requestId }, select: { id: true } })) return true;
  try {
    await client.workflow.getHandle(workflowIdFor(requestId)).describe();
    return true;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return false;
    throw err;
  }
}
