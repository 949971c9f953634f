// POST /chat: a sentence becomes a request workflow; the answer carries its intents and plan. The
// request records who asked (the token's name), which four-eyes approval checks against.
import { randomBytes } from 'node:crypto';
import { Hono } from 'hono';
import { z } from 'zod';
import { WithStartWorkflowOperation } from '@temporalio/client';
import { workflowIdFor } from '../../domain/request-state.js';
import { requestWorkflow } from '../../workflows/index.js';
import { planReadyUpdate, statusSearchAttribute } from '../../workflows/messages.js';
import { identityOf, requireRole, type AuthEnv } from '../auth.js';
import type { ApiDeps } from '../deps.js';
import { ApiError } from '../errors.js';
import { answer, docs, errors, requestSchema } from '../openapi.js';
import { presentRequest } from '../present.js';
import { requestStartInput } from '../request-start.js';
import { jsonBody } from '../validation.js';

const chatBody = z.object({
  message: z.string().trim().min(1, 'message must not be empty').max(2000, 'message is longer than 2000 characters'),
});

function newRequestId(): string {
  return randomBytes(6).toString('hex');
}

export function chatRoutes({ client, config }: ApiDeps) {
  return new Hono<AuthEnv>().post(
    '/chat',
    docs({
      summary: 'Ask for something: the sentence becomes a planned request',
      description: 'Starts the request workflow and answers once it is planned (or found unplannable). Nothing runs before an approval.',
      tags: ['requests'],
      responses: {
        201: answer('planned: pending_approval, or needs_input when a required variable has no value', requestSchema),
        ...errors({
          422: 'nothing in the message is plannable (known_services lists what is)',
          503: 'no worker planned the request in time',
        }),
      },
    }),
    requireRole('requester'),
    jsonBody(chatBody),
    async (c) => {
      const { message } = c.req.valid('json');
      const requestId = newRequestId();
      const startWorkflowOperation = new WithStartWorkflowOperation(requestWorkflow, {
        workflowId: workflowIdFor(requestId),
        taskQueue: config.taskQueue,
        args: [requestStartInput(config, { requestId, message, requestedBy: identityOf(c).name })],
        workflowIdConflictPolicy: 'FAIL',
        typedSearchAttributes: [{ key: statusSearchAttribute, value: 'planning' }],
      });
      // Start the workflow and wait (bounded) until it has planned, in one call.
      const state = await client
        .withAbortSignal(AbortSignal.timeout(config.planningWaitMs), () =>
          client.workflow.executeUpdateWithStart(planReadyUpdate, { startWorkflowOperation }),
        )
        .catch((err: unknown) => {
          if (err instanceof Error && /abort|cancel/i.test(`${err.name} ${err.message}`)) {
            throw new ApiError(
              503,
              'planning_timeout',
              `request ${requestId} was not planned within ${config.planningWaitMs} ms: is a Chiffon worker running on task queue ${config.taskQueue}?`,
              {
                request_id: requestId,
              },
            );
          }
          throw err;
        });
      if (state.status === 'unplannable') {
        throw new ApiError(422, 'unplannable', state.error?.message ?? 'nothing to do', {
          request_id: requestId,
          known_services: state.error?.knownServices ?? [],
        });
      }
      return c.json(presentRequest(state), 201);
    },
  );
}
