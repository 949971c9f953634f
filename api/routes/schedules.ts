// Schedules: a Temporal Schedule starts the same request on time (`every` or `cron`), each run a
// request of its own that plans and waits for approval like any other. An approval given as standing
// (POST /approve {"standing": true}) lets the schedule's later runs with the identical plan hash run
// without waiting for a person (domain/schedules.ts); revoking it, or any change to what would run,
// makes the next run wait again. A requester may create schedules and pause, resume, run or delete
// the ones they created; approvers and admins act on any, and only they revoke a standing approval.
import { Hono } from 'hono';
import { z } from 'zod';
import { ScheduleNotFoundError, type ScheduleDescription, type ScheduleHandle } from '@temporalio/client';
import { SCHEDULE_ID_PATTERN } from '../../domain/schedules.js';
import type { Identity } from '../../lib/api-tokens.js';
import { currentStandingApproval, revokeStandingApprovals } from '../../services/standing-approvals.js';
import { anyRole, identityOf, requireRole, type AuthEnv } from '../auth.js';
import type { ApiDeps } from '../deps.js';
import { ApiError } from '../errors.js';
import { answer, docs, errors, scheduleSchema } from '../openapi.js';
import { presentSchedule } from '../present-schedule.js';
import { newScheduleId, parseInterval, scheduleOptionsFor, type ScheduleMemo } from '../schedule-options.js';
import { toScheduleApiError } from '../temporal-errors.js';
import { jsonBody, queryParams } from '../validation.js';

const createBody = z
  .object({
    message: z.string().trim().min(1, 'message must not be empty').max(2000, 'message is longer than 2000 characters'),
    every: z
      .string()
      .trim()
      .min(1)
      .max(100)
      .optional()
      .meta({ description: 'an interval: "30s", "15m", "1h", "7d", "1 hour" (at least 5 s); exactly one of every and cron' }),
    cron: z
      .string()
      .trim()
      .min(1)
      .max(200)
      .optional()
      .meta({ description: 'a cron expression, e.g. "0 4 * * 0" (Sundays at 4:00), checked by the Temporal server' }),
    timezone: z
      .string()
      .trim()
      .min(1)
      .max(100)
      .optional()
      .meta({ description: 'the IANA time zone of the cron expression, e.g. Europe/Paris (default UTC)' }),
    paused: z.boolean().optional().meta({ description: 'create it paused: nothing fires until it is resumed' }),
    note: z.string().trim().max(500, 'note is longer than 500 characters').optional(),
  })
  .superRefine((body, ctx) => {
    if ((body.every === undefined) === (body.cron === undefined)) {
      ctx.addIssue({ code: 'custom', message: 'give exactly one of every (e.g. "1h") and cron (e.g. "0 4 * * 0")' });
    }
    if (body.every !== undefined) {
      const interval = parseInterval(body.every);
      if ('problem' in interval) ctx.addIssue({ code: 'custom', path: ['every'], message: interval.problem });
    }
  });

const noteBody = z.object({ note: z.string().trim().max(500, 'note is longer than 500 characters').optional() });

const listQuery = z.object({
  limit: z.coerce.number().int().min(1).max(200).default(20),
  offset: z.coerce.number().int().min(0).max(1_000_000).default(0),
});

const listAnswer = z.object({
  schedules: z.array(scheduleSchema),
  total: z.number().int(),
  limit: z.number().int(),
  offset: z.number().int(),
});

const deletedAnswer = z.object({ schedule_id: z.string(), deleted: z.literal(true) });

/** How many Schedules GET /schedules describes at once. */
const DESCRIBE_CONCURRENCY = 8;

/** 403 unless the caller may act on the schedule: approvers and admins on any, a requester on one they created. */
function assertCreatorIfRequester(identity: Identity, schedule: ScheduleDescription, act: string) {
  if (identity.role !== 'requester' || (schedule.memo as Partial<ScheduleMemo> | undefined)?.created_by === identity.name) return;
  throw new ApiError(
    403,
    'forbidden',
    `a requester may ${act} only the schedules they created, and ${identity.name} did not create schedule ${schedule.scheduleId}`,
    { required_roles: ['approver', 'admin'], role: identity.role },
  );
}

export function scheduleRoutes({ client, prisma, config }: ApiDeps) {
  const ui = { temporalUiUrl: config.temporalUiUrl, namespace: config.temporalNamespace };

  /** Calls Temporal about one schedule: 404 for an id that is none of Chiffon's or does not exist. */
  const onSchedule = async <T>(scheduleId: string, call: (handle: ScheduleHandle) => Promise<T>): Promise<T> => {
    if (!SCHEDULE_ID_PATTERN.test(scheduleId)) throw new ApiError(404, 'not_found', `no schedule ${scheduleId}`);
    try {
      return await call(client.schedule.getHandle(scheduleId));
    } catch (err) {
      throw toScheduleApiError(err, scheduleId);
    }
  };
  const describe = (scheduleId: string) => onSchedule(scheduleId, (handle) => handle.describe());
  const view = async (schedule: ScheduleDescription) =>
    presentSchedule(schedule, await currentStandingApproval(prisma, schedule.scheduleId), ui);

  /** pause, resume, run: the creator's or an approver's act on the Schedule, answered with its view. */
  const actOn = async (
    identity: Identity,
    scheduleId: string,
    verb: string,
    perform: (handle: ScheduleHandle, schedule: ScheduleDescription) => Promise<void>,
  ) => {
    const schedule = await describe(scheduleId);
    assertCreatorIfRequester(identity, schedule, verb);
    await onSchedule(scheduleId, (handle) => perform(handle, schedule));
    return view(await describe(scheduleId));
  };

  const scheduleAnswer = (description: string) => answer(description, scheduleSchema);
  const actionErrors = (act: string, body = true) =>
    errors({
      ...(body ? { 400: true as const } : {}),
      403: `a requester may ${act} only the schedules they created`,
      404: 'no such schedule',
      503: true,
    });

  return new Hono<AuthEnv>()
    .post(
      '/schedules',
      docs({
        summary: 'Schedule a request: the same message, planned and run on time',
        description:
          'Creates a Temporal Schedule that starts the request workflow every interval or on a cron expression. Each run plans and waits for approval like any request, unless the schedule has a standing approval for the very same plan hash (approve a run with "standing": true). A fire time while the previous run is going (waiting for approval, running, or failed and open for a retry) is skipped. The runs are requested by the creator, so four-eyes holds.',
        tags: ['schedules'],
        responses: {
          201: scheduleAnswer('created'),
          ...errors({
            400: 'invalid input: neither or both of every and cron, an interval under 5 s, a cron expression or time zone Temporal refused',
            503: true,
          }),
        },
      }),
      requireRole('requester', 'approver'),
      jsonBody(createBody),
      async (c) => {
        const body = c.req.valid('json');
        const scheduleId = newScheduleId();
        const options = scheduleOptionsFor(config, {
          scheduleId,
          message: body.message,
          when: body.every !== undefined ? { every: body.every } : { cron: body.cron! },
          timezone: body.timezone,
          paused: body.paused,
          note: body.note || undefined,
          createdBy: identityOf(c).name,
        });
        try {
          await client.schedule.create(options);
        } catch (err) {
          throw toScheduleApiError(err, scheduleId, { refusedSpec: true });
        }
        return c.json(await view(await describe(scheduleId)), 201);
      },
    )
    .get(
      '/schedules',
      docs({
        summary: 'The schedules, newest first',
        description: "Chiffon's Temporal Schedules (ids schedule-<hex>), each as GET /schedules/:id shows it.",
        tags: ['schedules'],
        responses: { 200: answer('a page of schedules', listAnswer), ...errors({ 400: true, 503: true }) },
      }),
      anyRole(),
      queryParams(listQuery),
      async (c) => {
        const { limit, offset } = c.req.valid('query');
        // Temporal's list is eventually consistent (a new Schedule may be missing for a moment, a
        // deleted one still there): list the ids, describe each, and leave out what is gone.
        const ids: string[] = [];
        for await (const summary of client.schedule.list()) if (SCHEDULE_ID_PATTERN.test(summary.scheduleId)) ids.push(summary.scheduleId);
        const described: ScheduleDescription[] = [];
        for (let start = 0; start < ids.length; start += DESCRIBE_CONCURRENCY) {
          const batch = await Promise.all(
            ids.slice(start, start + DESCRIBE_CONCURRENCY).map((id) =>
              client.schedule
                .getHandle(id)
                .describe()
                .catch((err: unknown) => {
                  if (err instanceof ScheduleNotFoundError) return undefined;
                  throw err;
                }),
            ),
          );
          for (const schedule of batch) if (schedule) described.push(schedule);
        }
        described.sort((a, b) => b.info.createdAt.getTime() - a.info.createdAt.getTime() || a.scheduleId.localeCompare(b.scheduleId));
        const schedules = await Promise.all(described.slice(offset, offset + limit).map(view));
        return c.json({ schedules, total: described.length, limit, offset });
      },
    )
    .get(
      '/schedules/:schedule_id',
      docs({
        summary: 'One schedule: when it fires, its recent runs, the run going on and its standing approval',
        tags: ['schedules'],
        responses: { 200: scheduleAnswer('the schedule'), ...errors({ 404: 'no such schedule', 503: true }) },
      }),
      anyRole(),
      async (c) => c.json(await view(await describe(c.req.param('schedule_id')))),
    )
    .post(
      '/schedules/:schedule_id/pause',
      docs({
        summary: 'Pause a schedule: nothing fires until it is resumed',
        description: 'A run already going goes on. The note (default "paused by <name>") says why.',
        tags: ['schedules'],
        responses: { 200: scheduleAnswer('paused'), ...actionErrors('pause') },
      }),
      requireRole('requester', 'approver'),
      jsonBody(noteBody),
      async (c) => {
        const identity = identityOf(c);
        const { note } = c.req.valid('json');
        return c.json(
          await actOn(identity, c.req.param('schedule_id'), 'pause', (handle) => handle.pause(note || `paused by ${identity.name}`)),
        );
      },
    )
    .post(
      '/schedules/:schedule_id/resume',
      docs({
        summary: 'Resume a paused schedule',
        description: 'It fires again from its next time on; the times it was paused are not made up for.',
        tags: ['schedules'],
        responses: { 200: scheduleAnswer('resumed'), ...actionErrors('resume') },
      }),
      requireRole('requester', 'approver'),
      jsonBody(noteBody),
      async (c) => {
        const identity = identityOf(c);
        const { note } = c.req.valid('json');
        return c.json(
          await actOn(identity, c.req.param('schedule_id'), 'resume', (handle) => handle.unpause(note || `resumed by ${identity.name}`)),
        );
      },
    )
    .post(
      '/schedules/:schedule_id/run',
      docs({
        summary: 'Start a run of a schedule now',
        description:
          "With the schedule's overlap policy: skipped while a run of it is going. Paused or not. The run appears in recent_runs once Temporal started it.",
        tags: ['schedules'],
        responses: {
          202: scheduleAnswer('accepted: Temporal starts the run (or skips it while one is going)'),
          ...actionErrors('run', false),
        },
      }),
      requireRole('requester', 'approver'),
      async (c) =>
        c.json(
          await actOn(identityOf(c), c.req.param('schedule_id'), 'run', (handle, schedule) => handle.trigger(schedule.policies.overlap)),
          202,
        ),
    )
    .post(
      '/schedules/:schedule_id/revoke',
      docs({
        summary: "Revoke a schedule's standing approval",
        description: 'Its next run waits for a person again, whatever its plan. A run that already started under it goes on.',
        tags: ['schedules'],
        responses: { 200: scheduleAnswer('revoked (standing_approval is null)'), ...errors({ 404: 'no such schedule', 503: true }) },
      }),
      requireRole('approver'),
      async (c) => {
        const schedule = await describe(c.req.param('schedule_id'));
        await revokeStandingApprovals(prisma, schedule.scheduleId, identityOf(c).name);
        return c.json(await view(schedule));
      },
    )
    .delete(
      '/schedules/:schedule_id',
      docs({
        summary: 'Delete a schedule, and revoke its standing approval',
        description: 'Nothing fires any more. A run already going goes on (as a request of its own).',
        tags: ['schedules'],
        responses: {
          200: answer('deleted', deletedAnswer),
          ...errors({ 403: 'a requester may delete only the schedules they created', 404: 'no such schedule', 503: true }),
        },
      }),
      requireRole('requester', 'approver'),
      async (c) => {
        const identity = identityOf(c);
        const schedule = await describe(c.req.param('schedule_id'));
        assertCreatorIfRequester(identity, schedule, 'delete');
        // Revoked first: should the delete fail, no run can start under the approval meanwhile.
        await revokeStandingApprovals(prisma, schedule.scheduleId, identity.name);
        await onSchedule(schedule.scheduleId, (handle) => handle.delete());
        return c.json({ schedule_id: schedule.scheduleId, deleted: true as const });
      },
    );
}
