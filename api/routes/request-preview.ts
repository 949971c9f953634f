// POST /requests/:id/preview {"check": true}: a check run of the plan waiting for approval, i.e. the
// plan run with `ansible-playbook --check --diff` on its hosts. It changes nothing; its events are
// streamed with `mode: "check"`, its outcome is the request's `check_run`, and each step is audited
// as a check run. (The list preview, Ansible's --list-tasks, comes with every plan by itself.)
import { Hono } from 'hono';
import { z } from 'zod';
import { checkRunUpdate } from '../../workflows/messages.js';
import { identityOf, requireRole, type AuthEnv } from '../auth.js';
import type { ApiDeps } from '../deps.js';
import { answer, docs, errors, requestSchema } from '../openapi.js';
import { presentRequest } from '../present.js';
import { assertOwnIfRequester, sendUpdate } from '../request-updates.js';
import { jsonBody } from '../validation.js';

const previewBody = z.object({
  check: z.literal(true, { error: 'give {"check": true} for a check run (the list of tasks comes with every plan by itself)' }),
});

export function requestPreviewRoutes(deps: ApiDeps) {
  return new Hono<AuthEnv>().post(
    '/requests/:request_id/preview',
    docs({
      summary: 'Check what the pending plan would change (ansible-playbook --check --diff)',
      description:
        'Runs every step in check mode on its hosts: nothing changes; tasks whose module has no check mode are reported as not checked. Follow it on the request\'s events (payload.mode "check"); its outcome is the request\'s check_run. An approval that comes meanwhile waits for it. A requester may check only their own requests.',
      tags: ['requests'],
      responses: {
        202: answer('accepted; the check run goes on (GET the request or follow its events)', requestSchema),
        ...errors({
          400: true,
          403: 'a requester may check only their own requests',
          404: true,
          409: 'the request is not waiting for approval (it ended or runs), or a check run of it is still going',
        }),
      },
    }),
    requireRole('requester', 'approver'),
    jsonBody(previewBody),
    async (c) => {
      const requestId = c.req.param('request_id');
      const identity = identityOf(c);
      await assertOwnIfRequester(deps, identity, requestId, 'check');
      const state = await sendUpdate(deps.client, requestId, checkRunUpdate, [{ by: identity.name }]);
      return c.json(presentRequest(state), 202);
    },
  );
}
