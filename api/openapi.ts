// GET /api/openapi.json: the API described from its own routes. Nothing here is a hand-written
// document: hono-openapi walks the app's routes and reads what each one carries — its
// describeRoute (summary, tags, responses, below as `docs`), the zod schema its validator checks the
// body or query with (api/validation.ts), and the role check from api/auth.ts (security and
// `x-chiffon-roles`). This file holds the shapes the routes answer with, which the routes' `docs`
// name, and the document's frame.
import type { Context, Hono } from 'hono';
import { describeRoute, generateSpecs, resolver, type DescribeRouteOptions, type GenerateSpecOptions } from 'hono-openapi';
import { z } from 'zod';
import { CHECK_RUN_STATUSES, CHECK_STEP_STATUSES } from '../domain/check-run.js';
import { ENDED_STATUSES, OPERATOR_ACTIONS, REQUEST_STATUSES } from '../domain/request-state.js';
import { STEP_STATUSES } from '../domain/types.js';

export const BEARER_SCHEME = 'bearerToken';
export const QUERY_TOKEN_SCHEME = 'accessTokenQuery';

// ---- What the routes answer -------------------------------------------------------------------

export const errorSchema = z
  .object({
    error: z.looseObject({
      code: z
        .string()
        .meta({ description: 'machine-readable: invalid_input, unauthorized, forbidden, self_approval, not_found, conflict, ...' }),
      message: z.string(),
    }),
  })
  .meta({ id: 'Error', description: 'Every error has this shape; some carry details beside code and message.' });

const decisionSchema = z.object({
  approver: z.string().meta({ description: 'the name of the token that decided' }),
  approved: z.boolean(),
  comment: z.string().nullable(),
  decided_at: z.string(),
  plan_hash: z.string(),
  standing: z
    .boolean()
    .meta({ description: "a scheduled run's approval that stands for the schedule's later runs with the same plan hash" }),
  standing_approval_id: z
    .string()
    .nullable()
    .meta({ description: 'set when no person decided this run: the standing approval (of its schedule) that covered its plan' }),
});

const checkRunSchema = z
  .object({
    number: z.number().int().meta({ description: "1 for the request's first check run, then 2, 3, ..." }),
    status: z.enum(CHECK_RUN_STATUSES).meta({ description: 'waiting: for the preview' }),
    requested_by: z.string(),
    requested_at: z.string(),
    finished_at: z.string().nullable(),
    plan_hash: z.string().meta({ description: 'the plan it checked' }),
    for_current_plan: z.boolean().meta({ description: 'false once the plan changed since (a retry planned again)' }),
    summary: z.string().meta({ description: 'e.g. "nothing would change", "3 tasks would change on 2 hosts"' }),
    nothing_would_change: z.boolean().meta({ description: 'it completed, every task was checked and none would change' }),
    would_change: z.number().int(),
    hosts_changed: z.array(z.string()),
    unchecked: z.number().int().meta({ description: 'task results not checked: their module has no check mode' }),
    message: z.string().nullable(),
    steps: z.array(
      z.object({
        index: z.number().int(),
        task_id: z.string().meta({ description: '<step task id>.check<n>, audited as a check run' }),
        status: z.enum(CHECK_STEP_STATUSES),
        exit_code: z.number().int().nullable(),
        message: z.string().nullable(),
        audit_commit: z.string().nullable(),
        tasks: z.array(
          z.object({
            task: z.string(),
            host: z.string(),
            status: z
              .enum(['ok', 'changed', 'failed', 'skipped', 'unreachable'])
              .meta({ description: 'changed: it would change the host' }),
            diff: z.string().nullable().meta({ description: 'what would change, as a unified diff (redacted)' }),
            unchecked: z.string().nullable().meta({ description: 'why it could not be checked' }),
          }),
        ),
      }),
    ),
  })
  .meta({ id: 'CheckRun', description: 'The plan run with ansible-playbook --check --diff: it changes nothing.' });

export const requestSchema = z
  .object({
    request_id: z.string(),
    workflow_id: z.string(),
    status: z.enum(REQUEST_STATUSES).meta({ description: `ended: ${ENDED_STATUSES.join(', ')}` }),
    message: z.string(),
    requested_by: z.string().nullable().meta({ description: 'the name of the token that asked; it may not approve (four-eyes)' }),
    intents: z.array(z.object({ name: z.string(), service: z.string(), playbook: z.string(), source: z.string() })),
    plan: z
      .object({
        plan_id: z.string(),
        hash: z.string().meta({ description: 'what an approval approves; pass it as plan_hash to /approve' }),
        repo_commit: z.string().nullable(),
        decided_by: z.string().nullable(),
        preview_status: z
          .enum(['running', 'ready', 'unrunnable'])
          .nullable()
          .meta({ description: "the plan's preflight (ansible-playbook --list-hosts --list-tasks per step)" }),
        steps: z.array(
          z.object({
            index: z.number().int(),
            playbook: z.string(),
            service: z.string(),
            intent: z.string(),
            vars: z.record(z.string(), z.unknown()).meta({ description: 'secret vars show as ********' }),
            var_sources: z.record(z.string(), z.string()),
            host: z.string().nullable().meta({ description: "the run's --limit (inventory hosts or groups); null: the plays' own hosts" }),
            tags: z.array(z.string()).meta({ description: 'the --tags that select what was asked for; empty: the whole playbook' }),
            become: z.boolean().meta({ description: 'its plays escalate privileges (become)' }),
            agent: z.string().nullable().meta({ description: 'the agent (worker) that runs it' }),
            task_id: z.string(),
            status: z.enum(STEP_STATUSES),
            preview: z
              .object({
                ok: z.boolean(),
                hosts: z.array(z.string()),
                tasks: z.array(z.object({ play: z.string(), name: z.string(), role: z.string().nullable(), tags: z.array(z.string()) })),
                problems: z.array(z.string()).meta({ description: 'why the step cannot run, in words to act on' }),
              })
              .nullable()
              .meta({ description: "Ansible's own view of the step before it runs, with the run's exact command line" }),
          }),
        ),
      })
      .nullable(),
    steps: z.array(
      z.object({
        index: z.number().int(),
        playbook: z.string(),
        status: z.enum(STEP_STATUSES),
        host: z.string().nullable(),
        agent: z.string().nullable(),
        waiting_reason: z.string().nullable().meta({ description: 'while waiting: for what (its agent offline, or busy)' }),
        task_id: z.string(),
        attempt: z.number().int(),
        exit_code: z.number().int().nullable(),
        started_at: z.string().nullable(),
        finished_at: z.string().nullable(),
        audit_commit: z.string().nullable(),
      }),
    ),
    decision: decisionSchema.nullable(),
    previous_decisions: z.array(decisionSchema),
    schedule: z
      .object({
        schedule_id: z.string(),
        standing_approval_id: z.string().nullable().meta({ description: 'the standing approval this run started under, if any' }),
        plan_changed_from: z.string().nullable().meta({
          description: "the plan hash the schedule's standing approval names, when this run's plan differs (it waits for a person)",
        }),
      })
      .nullable()
      .meta({ description: 'the schedule that started this request (POST /schedules); null for a request a person asked for' }),
    decomposition: z
      .object({
        decided_by: z.string(),
        model: z.string().nullable(),
        skipped: z.array(z.object({ provider: z.string(), reason: z.string() })),
      })
      .nullable(),
    operator_actions: z.array(z.object({ action: z.enum(OPERATOR_ACTIONS), by: z.string(), at: z.string() })),
    missing_inputs: z.array(z.object({ playbook: z.string(), vars: z.array(z.string()) })).nullable(),
    paused_reason: z.string().nullable(),
    error: z.object({ message: z.string(), knownServices: z.array(z.string()).optional() }).nullable(),
    check_run: checkRunSchema
      .nullable()
      .meta({ description: 'the latest check run (POST .../preview {"check": true}); null before one is asked for' }),
  })
  .meta({ id: 'Request', description: 'A request as its workflow holds it.' });

export const eventSchema = z
  .object({
    seq: z.number().int(),
    kind: z.string().meta({
      description:
        'request_status, step_status, preview, check_run, play_start, task_start, task_result, stats; a check run\'s have payload.mode "check"',
    }),
    step_index: z.number().int().nullable(),
    task_id: z.string().nullable(),
    payload: z.unknown(),
    created_at: z.string(),
  })
  .meta({ id: 'RequestEvent' });

export const suggestionSchema = z
  .object({
    id: z.string(),
    task_id: z.string(),
    request_id: z.string().optional(),
    playbook: z.string(),
    rule: z.string(),
    category: z.string(),
    severity: z.string(),
    message: z.string(),
    path: z.string(),
    line: z.number().int().nullable(),
    suggested_change: z.string().nullable(),
    fixable: z.boolean(),
    patch: z.string().nullable(),
    playbook_sha256: z.string().nullable(),
    status: z.enum(['open', 'accepted', 'dismissed']),
    decided_by: z.string().nullable(),
    decided_at: z.string().nullable(),
    commit_hash: z.string().nullable(),
    created_at: z.string(),
  })
  .meta({ id: 'Suggestion' });

export const standingApprovalSchema = z
  .object({
    id: z.string(),
    plan_hash: z.string().meta({ description: "the plan it approves: the schedule's runs with this plan hash start without waiting" }),
    approver: z.string().meta({ description: 'who approved the run whose approval stands' }),
    comment: z.string().nullable(),
    request_id: z.string().meta({ description: 'the run whose approval it was' }),
    approved_at: z.string(),
  })
  .meta({
    id: 'StandingApproval',
    description: "A person's approval of one plan of a schedule, standing for its later runs with the same plan hash.",
  });

export const scheduleSchema = z
  .object({
    schedule_id: z.string().meta({ description: 'schedule-<hex>; also the Temporal Schedule id' }),
    message: z.string().meta({ description: 'what each run asks for, as POST /chat would' }),
    every: z.string().nullable().meta({ description: 'the interval as given ("1h", "30m"); null for a cron schedule' }),
    cron: z.string().nullable().meta({ description: 'the cron expression as given; null for an interval schedule' }),
    timezone: z.string().nullable().meta({ description: 'the time zone of the cron expression; null: UTC' }),
    paused: z.boolean(),
    note: z.string().nullable().meta({ description: 'why it was created, paused or resumed' }),
    created_by: z.string().nullable().meta({ description: 'the name of the token that created it; its runs are requested by it' }),
    created_at: z.string(),
    next_runs: z.array(z.string()).meta({ description: 'the next times it fires (up to 5); empty while paused' }),
    recent_runs: z
      .array(z.object({ request_id: z.string(), scheduled_at: z.string(), started_at: z.string() }))
      .meta({ description: 'the runs it started, newest first (up to 10); each is a request' }),
    running_request_id: z.string().nullable().meta({
      description:
        'the run that is going (waiting for approval, running, or failed and open for a retry): later fire times are skipped meanwhile',
    }),
    standing_approval: standingApprovalSchema.nullable(),
    temporal_url: z.string().meta({ description: 'the Schedule in the Temporal Web UI' }),
  })
  .meta({ id: 'Schedule', description: 'A Temporal Schedule that starts the same request on time (see StandingApproval).' });

// ---- Route descriptions -----------------------------------------------------------------------

const ERROR_MEANINGS: Record<number, string> = {
  400: 'invalid input: malformed JSON, a field that does not validate, a body over 64 KiB',
  401: 'no token, or a malformed, unknown or revoked one (with WWW-Authenticate: Bearer)',
  403: "the token's role may not do this",
  404: 'no such request, task, suggestion or schedule',
  409: "not possible in the request's current state",
  422: 'understood but not doable',
  503: 'a dependency did not answer in time',
};

type Responses = NonNullable<DescribeRouteOptions['responses']>;

/** A JSON answer of shape `schema`. */
export function answer(description: string, schema: z.ZodType): Responses[string] {
  return { description, content: { 'application/json': { schema: resolver(schema) } } };
}

/** Error answers, each with the common error shape and a word on what it means here. */
export function errors(meanings: Partial<Record<400 | 401 | 403 | 404 | 409 | 422 | 503, string | true>>): Responses {
  return Object.fromEntries(
    Object.entries(meanings).map(([status, meaning]) => [
      status,
      answer(meaning === true ? ERROR_MEANINGS[Number(status)]! : meaning, errorSchema),
    ]),
  );
}

/** A route's description: summary, tags and its answers (what it takes comes from its validators). */
export function docs(spec: DescribeRouteOptions & { summary: string; tags: string[]; responses: Responses }) {
  return describeRoute(spec);
}

// ---- The document -----------------------------------------------------------------------------

const ROLES_NOTE = 'x-chiffon-roles';

const options: Partial<GenerateSpecOptions> = {
  documentation: {
    info: {
      title: 'Chiffon API',
      version: '1',
      description: [
        'Requests become Temporal workflows that run Ansible playbooks after a person approved their plan.',
        '',
        'Every route under /api/dashboard needs an API token (`npm run token -- create --name <name> --role <role>`),',
        'sent as `Authorization: Bearer <token>`; the live event stream and the WebSocket also take it as',
        '`?access_token=`. The roles each operation accepts are in its `x-chiffon-roles` (admin may do everything).',
        'Missing or bad token: 401; a role that may not: 403; approving a request one asked for oneself: 403',
        '`self_approval` (unless CHIFFON_ALLOW_SELF_APPROVAL=true).',
      ].join('\n'),
    },
    servers: [{ url: '/', description: 'this server' }],
    tags: [
      { name: 'requests', description: 'asking, following and acting on requests' },
      { name: 'decisions', description: 'approving or rejecting a plan' },
      { name: 'schedules', description: 'requests started on time, and their standing approvals' },
      { name: 'live', description: 'event streams of a request' },
      { name: 'audit', description: 'what ran, from PostgreSQL and the audit repository' },
      { name: 'playbooks', description: 'the playbook catalog and inventory' },
      { name: 'suggestions', description: 'ansible-lint suggestions on failed playbooks' },
      { name: 'fleet', description: 'the worker agents' },
      { name: 'meta', description: 'health and this document' },
    ],
    components: {
      securitySchemes: {
        [BEARER_SCHEME]: { type: 'http', scheme: 'bearer', description: 'an API token: chf_ followed by 43 base64url characters' },
        [QUERY_TOKEN_SCHEME]: {
          type: 'apiKey',
          in: 'query',
          name: 'access_token',
          description: 'the token as a query parameter; accepted only by the live streams (browsers cannot set headers there)',
        },
      },
    },
    security: [{ [BEARER_SCHEME]: [] }],
  },
  // /api/openapi.json ends in ".json": without this hono-openapi would take it for a static file.
  excludeStaticFile: false,
  // Every route's 401 names the Error schema (.meta id above), so it is always among the components.
  defaultValidationErrorResponse: {
    description: ERROR_MEANINGS[400]!,
    content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
  },
};

interface Operation {
  description?: string;
  [ROLES_NOTE]?: string[];
}

/** Says in words, in each operation's description, which roles it takes. */
function noteRoles<T extends { paths?: object }>(spec: T): T {
  for (const methods of Object.values(spec.paths ?? {}) as (Record<string, Operation | undefined> | undefined)[]) {
    for (const operation of Object.values(methods ?? {})) {
      const roles = operation?.[ROLES_NOTE];
      if (!operation || !roles) continue;
      const note = `Token role: ${roles.join(' or ')}.`;
      operation.description = operation.description ? `${operation.description}\n\n${note}` : note;
    }
  }
  return spec;
}

/** The handler of GET /api/openapi.json for `app` (generated once, on the first call). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- any app, whatever its env, schema and base path
export function openApiDocument(app: Hono<any, any, any>) {
  let document: Promise<object> | undefined;
  return async (c: Context) => {
    document ??= generateSpecs(app, options).then(noteRoles);
    try {
      return c.json(await document);
    } catch (error) {
      document = undefined;
      throw error;
    }
  };
}
