// Schedules and standing approvals on the real stack (test/support/e2e-stack.ts: the Temporal dev
// server, PostgreSQL, a real worker running ansible-playbook on a copy of the sample playbooks, the
// HTTP API). A real Temporal Schedule fires every 5 s: its first run waits for approval while later
// fire times are skipped (overlap SKIP), an approver approves it as standing, and the next run starts
// on time and completes without anyone deciding; a change to the playbook makes the run after that
// wait again, naming the plan it changed from. Then the routes' answers: pause, resume, run, list,
// revoke, delete, 404, 400 and 403.
import fs from 'node:fs';
import path from 'node:path';
import { ScheduleNotFoundError } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scheduleIdOfRequest } from '../../domain/schedules.js';
import {
  playbookRepoCopy,
  requestRow,
  startServices,
  startStack,
  type CallAs,
  type E2EServices,
  type Stack,
  deleteSchedules,
} from '../support/e2e-stack.js';

let services: E2EServices;
let stack: Stack;
let playbooks: string;
/** Every schedule a test created: afterAll deletes what is left, so nothing fires after the file. */
const created: string[] = [];

beforeAll(async () => {
  services = await startServices('schedules');
  // A copy: the test edits a playbook to change the plan hash.
  playbooks = playbookRepoCopy(path.join(services.scratch, 'playbooks'));
  stack = await startStack(services, 'schedules', { config: { playbookRepo: playbooks } });
});

afterAll(async () => {
  await deleteSchedules(services, created);
  await stack?.stop();
  await services?.stop();
});

async function createSchedule(body: Record<string, unknown>, as: CallAs = 'requester') {
  const answer = await stack.call('POST', '/schedules', body, {}, as);
  expect(answer.status, JSON.stringify(answer.body)).toBe(201);
  created.push(answer.body.schedule_id);
  return answer.body;
}

/** GET /schedules/:id until `accept` says yes. */
async function waitForSchedule(id: string, what: string, accept: (body: any) => boolean, timeoutMs = 60_000): Promise<any> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const answer = await stack.call('GET', `/schedules/${id}`);
    if (answer.status === 200 && accept(answer.body)) return answer.body;
    if (Date.now() > deadline)
      throw new Error(`schedule ${id}: no ${what} after ${timeoutMs} ms; last answer ${answer.status} ${JSON.stringify(answer.body)}`);
    await new Promise((resolve) => setTimeout(resolve, 150));
  }
}

const describeInTemporal = (id: string) => services.env.client.schedule.getHandle(id).describe();
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/;

describe('a schedule every 5 s with a standing approval', () => {
  it(
    'waits for the first approval while skipping fire times, runs the next on time without anyone deciding, and waits again once the plan changed',
    { timeout: 240_000 },
    async () => {
      const schedule = await createSchedule({ message: 'Set up postgres', every: '5s', note: 'the database, every five seconds' });
      const id: string = schedule.schedule_id;
      expect(id).toMatch(/^schedule-[0-9a-f]{16}$/);
      expect(schedule).toMatchObject({
        message: 'Set up postgres',
        every: '5s',
        cron: null,
        timezone: null,
        paused: false,
        note: 'the database, every five seconds',
        created_by: 'alice',
        recent_runs: [],
        standing_approval: null,
        temporal_url: `${stack.config.temporalUiUrl}/namespaces/${stack.config.temporalNamespace}/schedules/${id}`,
      });
      expect(schedule.created_at).toMatch(ISO);
      expect(schedule.next_runs.length).toBeGreaterThanOrEqual(2);
      const [next0, next1] = schedule.next_runs.map((t: string) => Date.parse(t));
      expect(next1 - next0).toBe(5_000);

      // 1. The first run: planned, it waits for a person.
      const firing = await waitForSchedule(id, 'first run', (s) => s.running_request_id !== null);
      const first: string = firing.running_request_id;
      expect(scheduleIdOfRequest(first)).toBe(id);
      expect(firing.recent_runs).toEqual([
        { request_id: first, scheduled_at: expect.stringMatching(ISO), started_at: expect.stringMatching(ISO) },
      ]);
      const waiting = await stack.waitForStatus(first, 'pending_approval');
      expect(waiting).toMatchObject({
        requested_by: 'alice',
        decision: null,
        schedule: { schedule_id: id, standing_approval_id: null, plan_changed_from: null },
      });
      const planHash: string = waiting.plan.hash;

      // 2. While it waits, the fire times pass and start nothing (overlap SKIP): one request of the schedule.
      await expect
        .poll(async () => (await describeInTemporal(id)).info.numActionsSkippedOverlap, { timeout: 30_000, interval: 250 })
        .toBeGreaterThanOrEqual(2);
      expect(await services.database.prisma.request.count({ where: { scheduleId: id } })).toBe(1);
      expect((await stack.call('GET', `/schedules/${id}`)).body).toMatchObject({
        running_request_id: first,
        recent_runs: [{ request_id: first }],
      });

      // 3. Four-eyes: alice (who created it, so asked for its runs) may not approve; bob approves as standing.
      const own = await stack.call(
        'POST',
        '/approve',
        { request_id: first, approved: true, plan_hash: planHash, standing: true },
        {},
        'requester',
      );
      expect(own.status).toBe(403);
      const approved = await stack.call(
        'POST',
        '/approve',
        { request_id: first, approved: true, plan_hash: planHash, standing: true, comment: 'every night' },
        {},
        'approver',
      );
      expect(approved.status, JSON.stringify(approved.body)).toBe(200);
      const firstDone = await stack.waitForStatus(first, 'completed');
      expect(firstDone.decision).toMatchObject({ approver: 'bob', standing: true, standing_approval_id: null, plan_hash: planHash });
      const standingId = `standing-${first}`;
      expect((await stack.call('GET', `/schedules/${id}`)).body.standing_approval).toEqual({
        id: standingId,
        plan_hash: planHash,
        approver: 'bob',
        comment: 'every night',
        request_id: first,
        approved_at: expect.stringMatching(ISO),
      });

      // 4. The next fire time starts the second run; nobody decides it. Paused at once, so that no third
      //    run starts by itself (the second holds later fire times back while it runs).
      const secondFiring = await waitForSchedule(id, 'second run', (s) => s.recent_runs.length === 2, 30_000);
      const second: string = secondFiring.recent_runs[0].request_id;
      const paused = await stack.call('POST', `/schedules/${id}/pause`, { note: 'hold on' }, {}, 'requester');
      expect(paused.status, JSON.stringify(paused.body)).toBe(200);
      expect(paused.body).toMatchObject({ paused: true, note: 'hold on', next_runs: [] });
      expect(second).not.toBe(first);
      expect(scheduleIdOfRequest(second)).toBe(id);
      // On time: a fire time of the spec (a multiple of 5 s), started right then.
      const { scheduled_at, started_at } = secondFiring.recent_runs[0];
      expect(Date.parse(scheduled_at) % 5_000).toBe(0);
      expect(Date.parse(started_at) - Date.parse(scheduled_at)).toBeLessThan(3_000);

      const secondDone = await stack.waitForStatus(second, 'completed');
      expect(secondDone.decision).toMatchObject({ approver: 'bob', approved: true, plan_hash: planHash, standing_approval_id: standingId });
      expect(secondDone.schedule).toEqual({ schedule_id: id, standing_approval_id: standingId, plan_changed_from: null });
      expect(secondDone.operator_actions).toEqual([]);
      await requestRow(services, second, { status: 'completed', scheduleId: id, standingApprovalId: standingId, requestedBy: 'alice' });
      const audited = await stack.waitForRequest(second, 'the audit commit', (body) => body.steps[0].audit_commit !== null);
      const audit = await stack.call('GET', `/audit/task/${audited.steps[0].task_id}`);
      expect(audit.status).toBe(200);
      expect(audit.body.git.path).toBe(`.audit/tasks/${audited.steps[0].task_id}.json`);
      expect(audit.body.git.content.schedule).toEqual({ schedule_id: id, standing_approval_id: standingId });

      // 5. The playbook changes: the plan hash with it. A run started now waits, saying what it changed from.
      fs.appendFileSync(path.join(playbooks, 'postgres-setup.yml'), '\n# changed after the standing approval\n');
      const triggered = await stack.call('POST', `/schedules/${id}/run`, undefined, {}, 'requester');
      expect(triggered.status, JSON.stringify(triggered.body)).toBe(202);
      const thirdFiring = await waitForSchedule(id, 'third run', (s) => s.recent_runs.length === 3, 30_000);
      const third: string = thirdFiring.recent_runs[0].request_id;
      const changed = await stack.waitForStatus(third, 'pending_approval');
      expect(changed.plan.hash).not.toBe(planHash);
      expect(changed).toMatchObject({
        decision: null,
        schedule: { schedule_id: id, standing_approval_id: null, plan_changed_from: planHash },
      });
      // While it waits, a second trigger is skipped too (the schedule's overlap policy).
      const skipped = (await describeInTemporal(id)).info.numActionsSkippedOverlap;
      expect((await stack.call('POST', `/schedules/${id}/run`, undefined, {}, 'approver')).status).toBe(202);
      await expect
        .poll(async () => (await describeInTemporal(id)).info.numActionsSkippedOverlap, { timeout: 15_000, interval: 250 })
        .toBe(skipped + 1);
      expect(await services.database.prisma.request.count({ where: { scheduleId: id } })).toBe(3);

      // 6. Revoked (a requester may not), resumed, listed, deleted.
      const refused = await stack.call('POST', `/schedules/${id}/revoke`, undefined, {}, 'requester');
      expect(refused.status).toBe(403);
      expect(refused.body.error.code).toBe('forbidden');
      const revoked = await stack.call('POST', `/schedules/${id}/revoke`, undefined, {}, 'approver');
      expect(revoked.status, JSON.stringify(revoked.body)).toBe(200);
      expect(revoked.body.standing_approval).toBeNull();
      expect(await services.database.prisma.standingApproval.findUnique({ where: { id: standingId } })).toMatchObject({ revokedBy: 'bob' });

      const resumed = await stack.call('POST', `/schedules/${id}/resume`, {}, {}, 'requester');
      expect(resumed.status, JSON.stringify(resumed.body)).toBe(200);
      expect(resumed.body).toMatchObject({ paused: false, note: 'resumed by alice', running_request_id: third });
      expect(resumed.body.next_runs.length).toBeGreaterThan(0);
      await expect
        .poll(async () => (await stack.call('GET', '/schedules')).body.schedules.map((s: any) => s.schedule_id), { timeout: 15_000 })
        .toContain(id);

      const deleted = await stack.call('DELETE', `/schedules/${id}`, undefined, {}, 'requester');
      expect(deleted.status, JSON.stringify(deleted.body)).toBe(200);
      expect(deleted.body).toEqual({ schedule_id: id, deleted: true });
      expect((await stack.call('GET', `/schedules/${id}`)).status).toBe(404);
      await expect(describeInTemporal(id)).rejects.toBeInstanceOf(ScheduleNotFoundError);
      // The run that was waiting is a request of its own: it still waits.
      expect((await stack.call('GET', `/requests/${third}`)).body.status).toBe('pending_approval');
    },
  );
});

describe('the schedule routes', () => {
  it('create with cron and time zone, paused; list newest first in pages; pause and resume with notes; 404, 400 and 403', async () => {
    const cron = await createSchedule(
      { message: 'Set up postgres', cron: '0 4 * * 0', timezone: 'Europe/Paris', paused: true },
      'approver',
    );
    expect(cron).toMatchObject({
      every: null,
      cron: '0 4 * * 0',
      timezone: 'Europe/Paris',
      paused: true,
      created_by: 'bob',
      next_runs: [],
    });
    const mine = await createSchedule({ message: 'Set up postgres', every: '1 hour', paused: true, note: 'mine' });
    expect(mine).toMatchObject({ every: '1 hour', cron: null, paused: true, note: 'mine', created_by: 'alice' });

    // Listed newest first (Temporal's list is eventually consistent: polled).
    await expect
      .poll(async () => (await stack.call('GET', '/schedules', undefined, {}, 'requester')).body.schedules.map((s: any) => s.schedule_id), {
        timeout: 15_000,
      })
      .toEqual(expect.arrayContaining([mine.schedule_id, cron.schedule_id]));
    const all = (await stack.call('GET', '/schedules?limit=200')).body;
    const order = all.schedules.map((s: any) => s.schedule_id);
    expect(order.indexOf(mine.schedule_id)).toBeLessThan(order.indexOf(cron.schedule_id));
    expect(all).toMatchObject({ total: all.schedules.length, limit: 200, offset: 0 });
    const page = (await stack.call('GET', '/schedules?limit=1&offset=1')).body;
    expect(page).toMatchObject({ total: all.total, limit: 1, offset: 1 });
    expect(page.schedules.map((s: any) => s.schedule_id)).toEqual([order[1]]);
    expect((await stack.call('GET', '/schedules?limit=0')).status).toBe(400);

    // A requester acts on her own schedule only; an approver on any.
    const notHers = await stack.call('POST', `/schedules/${cron.schedule_id}/resume`, {}, {}, 'requester');
    expect(notHers.status).toBe(403);
    expect(notHers.body.error).toMatchObject({ code: 'forbidden', role: 'requester' });
    expect(notHers.body.error.message).toBe(
      `a requester may resume only the schedules they created, and alice did not create schedule ${cron.schedule_id}`,
    );
    for (const action of ['run', 'pause'])
      expect((await stack.call('POST', `/schedules/${cron.schedule_id}/${action}`, {}, {}, 'requester')).status).toBe(403);
    expect((await stack.call('DELETE', `/schedules/${cron.schedule_id}`, undefined, {}, 'requester')).status).toBe(403);
    const resumed = await stack.call('POST', `/schedules/${mine.schedule_id}/resume`, { note: 'go' }, {}, 'requester');
    expect(resumed.body).toMatchObject({ paused: false, note: 'go' });
    const pausedByBob = await stack.call('POST', `/schedules/${mine.schedule_id}/pause`, {}, {}, 'approver');
    expect(pausedByBob.body).toMatchObject({ paused: true, note: 'paused by bob', next_runs: [] });
    // Nothing to revoke is no error.
    expect((await stack.call('POST', `/schedules/${mine.schedule_id}/revoke`, undefined, {}, 'admin')).body.standing_approval).toBeNull();

    // Unknown ids, and ids that are none of Chiffon's.
    for (const unknown of ['schedule-00000000deadbeef', 'nightly', 'request-abc']) {
      const answer = await stack.call('GET', `/schedules/${unknown}`);
      expect(answer.status, unknown).toBe(404);
      expect(answer.body.error).toEqual({ code: 'not_found', message: `no schedule ${unknown}` });
    }
    expect((await stack.call('POST', '/schedules/schedule-00000000deadbeef/pause', {}, {}, 'approver')).status).toBe(404);
    expect((await stack.call('DELETE', '/schedules/schedule-00000000deadbeef', undefined, {}, 'approver')).status).toBe(404);

    // What Temporal refuses, in its words; what the API refuses before.
    const invalid = async (body: Record<string, unknown>) => {
      const answer = await stack.call('POST', '/schedules', { message: 'Set up postgres', ...body }, {}, 'requester');
      expect(answer.status, JSON.stringify(answer.body)).toBe(400);
      expect(answer.body.error.code).toBe('invalid_input');
      return answer.body.error.message as string;
    };
    expect(await invalid({ cron: '61 4 * * 0' })).toMatch(/^the schedule was refused: .*[Mm]inute/);
    expect(await invalid({ cron: 'every night' })).toMatch(/^the schedule was refused: /);
    expect(await invalid({ cron: '0 4 * * 0', timezone: 'Mars/Olympus' })).toMatch(/^the schedule was refused: .*Mars\/Olympus/);
    expect(await invalid({})).toBe('body: give exactly one of every (e.g. "1h") and cron (e.g. "0 4 * * 0")');
    expect(await invalid({ every: '1h', cron: '0 4 * * 0' })).toMatch(/exactly one of every/);
    expect(await invalid({ every: '1s' })).toBe('every: "1s" is shorter than the shortest interval, 5s');
    expect(await invalid({ every: 'soon' })).toMatch(/^every: "soon" is not a duration/);
    expect(await invalid({ every: '1h', message: '  ' })).toMatch(/^message: /);
    // None of the refused ones exists.
    expect((await stack.call('GET', '/schedules?limit=200')).body.total).toBe(all.total);

    expect((await stack.call('DELETE', `/schedules/${cron.schedule_id}`, undefined, {}, 'admin')).status).toBe(200);
    expect((await stack.call('DELETE', `/schedules/${mine.schedule_id}`, undefined, {}, 'requester')).status).toBe(200);
  });
});
