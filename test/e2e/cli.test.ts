// The `chiffon` command line (cli/, bin/chiffon.js) as a person runs it: a child process
// (`node bin/chiffon.js ...`) with CHIFFON_URL and CHIFFON_TOKEN, against the real stack (Temporal
// dev server, PostgreSQL, a real worker running ansible-playbook, the HTTP API; see
// test/support/e2e-stack.ts). Asking, four-eyes, approving, following a run to its end, rejecting,
// the status table, an audit, --json, a refused token, a usage error, `login`, a `follow` that
// outlives a restart of the API on the same port without losing or repeating an event, and a
// schedule from its creation to its deletion with a standing approval in between.
import fs from 'node:fs';
import type http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import path from 'node:path';
import { serve } from '@hono/node-server';
import { execa, type ResultPromise } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../api/app.js';
import { attachLiveEventsWebSocket } from '../../api/live-websocket.js';
import type { ApiDeps } from '../../api/deps.js';
import { createEventNotifier } from '../../lib/event-notifier.js';
import { fromProjectRoot } from '../../lib/paths.js';
import { testCodec } from '../support/codec.js';
import { playbookRepoCopy, startServices, startStack, type E2EServices, type Stack } from '../support/e2e-stack.js';
import { liveGate, liveGateFiles } from '../support/live-gate.js';

const BIN = fromProjectRoot('bin', 'chiffon.js');

let services: E2EServices;
let stack: Stack;
let origin: string;

beforeAll(async () => {
  services = await startServices('cli');
  // The live gate (test/support/live-gate.ts): its step runs until the test opens the gate, so the
  // API can be restarted while it runs.
  const repo = playbookRepoCopy(path.join(services.scratch, 'playbooks'), liveGateFiles());
  stack = await startStack(services, 'cli', { config: { playbookRepo: repo } });
  origin = stack.baseUrl.replace(/\/api\/dashboard$/, '');
});

afterAll(async () => {
  await stack?.stop();
  await services?.stop();
});

type As = 'requester' | 'approver' | 'admin';

interface CliOptions {
  as?: As;
  /** A token instead of the stack's (a bad one, or none: ''). */
  token?: string;
  url?: string;
  /** What the CLI reads on stdin (login --token -). */
  input?: string;
  env?: Record<string, string>;
}

/**
 * `node bin/chiffon.js ...` with an allow-listed environment: PATH, a HOME of the test's own, the
 * URL, the token and CHIFFON_CONFIG in the scratch folder (never the developer's own config).
 */
function chiffon(args: string[], { as = 'requester', token, url = origin, input, env = {} }: CliOptions = {}) {
  return execa(process.execPath, [BIN, ...args], {
    cwd: fromProjectRoot(),
    extendEnv: false,
    env: {
      PATH: process.env.PATH,
      HOME: services.scratch,
      CHIFFON_URL: url,
      CHIFFON_TOKEN: token ?? stack.tokens[as],
      CHIFFON_CONFIG: path.join(services.scratch, 'cli-config', 'config.json'),
      ...env,
    },
    ...(input === undefined ? { stdin: 'ignore' as const } : { input }),
    reject: false,
    timeout: 150_000,
  });
}

const lines = (text: string) => text.split('\n').filter((line) => line !== '');
const lastLine = (text: string) => lines(text).at(-1) ?? '';
/** The seqs at the start of `follow`'s text lines (`#12  step 1/1 ...`). */
const seqsOf = (text: string) => lines(text).flatMap((line) => (/^#(\d+)\s/.exec(line) ? [Number(/^#(\d+)\s/.exec(line)![1])] : []));

async function storedEvents(id: string): Promise<any[]> {
  const page = await stack.call('GET', `/requests/${id}/events?format=json`);
  expect(page.status).toBe(200);
  return page.body.events;
}

/** `ask` as alice: exit 0, and the request id from its last line. */
async function ask(message: string): Promise<string> {
  const result = await chiffon(['ask', message]);
  expect(result.exitCode, result.stderr).toBe(0);
  const match = /^request ([0-9a-f]+): pending_approval$/.exec(lastLine(result.stdout));
  expect(match, result.stdout).not.toBeNull();
  return match![1]!;
}

describe('chiffon ask, approve, follow, status, audit', () => {
  it('asks as alice, is refused her own approval (exit 3), bob approves, follow shows the run to completed', async () => {
    const asked = await chiffon(['ask', 'Set up postgres']);
    expect(asked.exitCode, asked.stderr).toBe(0);
    expect(asked.stderr).toBe('');
    const out = lines(asked.stdout);
    expect(out[0]).toMatch(/^intents: .*postgres-setup\.yml/);
    expect(out).toContainEqual(expect.stringMatching(/^plan \S+, hash [0-9a-f]{64}/));
    expect(out).toContainEqual(expect.stringMatching(/^ {2}step 1\/1 \(index 0\) {2}postgres-setup\.yml {2}host: /));
    expect(out).toContainEqual('      postgres_port = 5432  (default)');
    const id = /^request ([0-9a-f]{12}): pending_approval$/.exec(out.at(-1)!)?.[1];
    expect(id, asked.stdout).toBeDefined();
    const { body: detail } = await stack.call('GET', `/requests/${id}`);
    expect(detail.requested_by).toBe('alice');

    // Four-eyes, twice: alice (a requester) may not approve at all; carol (an admin) may not approve her own request.
    const refused = await chiffon(['approve', id!], { as: 'requester' });
    expect(refused.exitCode).toBe(3);
    expect(refused.stdout).toBe('');
    expect(lines(refused.stderr)).toEqual([expect.stringMatching(/^chiffon: forbidden: \S/)]);
    const own = await chiffon(['ask', 'Set up postgres'], { as: 'admin' });
    const carols = /^request (\S+): pending_approval$/.exec(lastLine(own.stdout))![1]!;
    const self = await chiffon(['approve', carols], { as: 'admin' });
    expect(self.exitCode).toBe(3);
    expect(lines(self.stderr)).toEqual([expect.stringMatching(/^chiffon: self_approval: \S/)]);
    expect((await stack.call('GET', `/requests/${carols}`)).body).toMatchObject({ status: 'pending_approval', decision: null });

    const approved = await chiffon(['approve', id!, '--comment', 'ship it'], { as: 'approver' });
    expect(approved.exitCode, approved.stderr).toBe(0);
    expect(lines(approved.stdout)).toEqual([
      `approved plan ${detail.plan.hash}`,
      expect.stringMatching(new RegExp(`^request ${id}: (running|completed)$`)),
    ]);

    const followed = await chiffon(['follow', id!]);
    expect(followed.exitCode, followed.stderr).toBe(0);
    expect(followed.stderr).toBe('');
    expect(lastLine(followed.stdout)).toBe(`request ${id}: completed`);
    const stored = await storedEvents(id!);
    // Every stored event once, in order (the follower may also see what was written after it ended: none here).
    expect(seqsOf(followed.stdout)).toEqual(stored.map((e) => e.seq));
    // Each task result as a progress line: its seq, step k/n, the time since the step began, status, host, task.
    const bySeq = new Map(lines(followed.stdout).map((line) => [Number(/^#(\d+)/.exec(line)?.[1]), line]));
    const results = stored.filter((e) => e.kind === 'task_result');
    expect(results.length).toBeGreaterThan(3);
    for (const { seq, payload } of results) {
      expect(bySeq.get(seq)).toMatch(
        new RegExp(`^#${seq} +step 1/1 \\+\\d+\\.\\ds +${payload.status} +${payload.host} {2}${payload.task.name}$`),
      );
    }
    expect(lines(followed.stdout)).toContainEqual(
      expect.stringMatching(/ step 1\/1 \+\d+\.\ds +completed {2}postgres-setup\.yml exit 0 audit [0-9a-f]{12}$/),
    );

    const done = await stack.waitForRequest(id!, 'the audit commit', (body) => body.steps[0].audit_commit !== null);
    const status = await chiffon(['status', id!]);
    expect(status.exitCode).toBe(0);
    expect(status.stdout).toContain('decision: approved by bob');
    expect(status.stdout).toContain(
      `step 1/1  postgres-setup.yml  completed  exit 0  task ${done.steps[0].task_id}  audit ${done.steps[0].audit_commit}`,
    );
    expect(lastLine(status.stdout)).toBe(`request ${id}: completed`);

    const table = await chiffon(['status']);
    expect(table.exitCode).toBe(0);
    const rows = lines(table.stdout);
    expect(rows[0]).toMatch(/^ID +STATUS +REQUESTED_BY +SERVICES +STEPS +CREATED_AT$/);
    expect(rows).toContainEqual(expect.stringMatching(new RegExp(`^${id} +completed +alice +postgres +1 +\\d{4}-`)));
    expect(rows).toContainEqual(expect.stringMatching(new RegExp(`^${carols} +pending_approval +carol +postgres +1 `)));

    const audit = await chiffon(['audit', done.steps[0].task_id]);
    expect(audit.exitCode, audit.stderr).toBe(0);
    expect(audit.stdout).toContain(`task ${done.steps[0].task_id} (run)`);
    expect(audit.stdout).toContain('status:   completed, exit 0');
    expect(lastLine(audit.stdout)).toBe(`commit ${done.steps[0].audit_commit} .audit/tasks/${done.steps[0].task_id}.json`);
    expect((await stack.auditLog()).map((c) => c.oid)).toContain(done.steps[0].audit_commit);
  });

  it('reject: the decision is taken (exit 0), and follow then exits 1 with the request rejected', async () => {
    const id = await ask('Set up postgres');
    const rejected = await chiffon(['reject', id, '--comment', 'not today'], { as: 'approver' });
    expect(rejected.exitCode, rejected.stderr).toBe(0);
    expect(lines(rejected.stdout)).toEqual([`rejected request ${id}`, `request ${id}: rejected`]);
    const followed = await chiffon(['follow', id]);
    expect(followed.exitCode).toBe(1);
    expect(lastLine(followed.stdout)).toBe(`request ${id}: rejected`);
    const seqs = seqsOf(followed.stdout);
    expect(new Set(seqs).size).toBe(seqs.length);
    expect(lines(followed.stdout)).toContainEqual(expect.stringMatching(/request rejected/));
    expect((await stack.call('GET', `/requests/${id}`)).body.decision).toMatchObject({
      approver: 'bob',
      approved: false,
      comment: 'not today',
    });
  });

  it('--json prints the API’s answers as JSON, and follow one event per line', async () => {
    const asked = await chiffon(['ask', 'Set up postgres', '--json']);
    expect(asked.exitCode).toBe(0);
    const request = JSON.parse(asked.stdout);
    expect(request).toMatchObject({
      status: 'pending_approval',
      requested_by: 'alice',
      plan: { steps: [{ playbook: 'postgres-setup.yml' }] },
    });
    const approved = await chiffon(['approve', request.request_id, '--json'], { as: 'approver' });
    expect(JSON.parse(approved.stdout)).toMatchObject({ request_id: request.request_id, dispatch_started: true });
    const followed = await chiffon(['follow', request.request_id, '--json']);
    expect(followed.exitCode, followed.stderr).toBe(0);
    const printed = lines(followed.stdout).map((line) => JSON.parse(line));
    expect(printed).toEqual(await storedEvents(request.request_id));
    const status = await chiffon(['status', '--json']);
    expect(JSON.parse(status.stdout).requests.map((r: any) => r.request_id)).toContain(request.request_id);
    const detail = await chiffon(['status', request.request_id, '--json']);
    expect(JSON.parse(detail.stdout)).toMatchObject({ request_id: request.request_id, status: 'completed' });
  });
});

describe('chiffon errors and exit codes', () => {
  it('a refused token: exit 3, one line, the token never printed; an unknown id: exit 1; a usage error: exit 2', async () => {
    const badToken = 'chf_not-a-real-token-0123456789abcdefghijklmnop';
    const refused = await chiffon(['status'], { token: badToken });
    expect(refused.exitCode).toBe(3);
    expect(refused.stdout).toBe('');
    expect(lines(refused.stderr)).toEqual([expect.stringMatching(/^chiffon: unauthorized: \S/)]);
    expect(refused.stderr).not.toContain(badToken);

    const unknown = await chiffon(['follow', 'doesnotexist']);
    expect(unknown.exitCode).toBe(1);
    expect(lines(unknown.stderr)).toEqual(['chiffon: not_found: no request doesnotexist']);

    const unplannable = await chiffon(['ask', 'Make me a sandwich']);
    expect(unplannable.exitCode).toBe(1);
    expect(lines(unplannable.stderr)).toEqual([expect.stringMatching(/^chiffon: unplannable: \S/)]);

    const usage = await chiffon(['approve']);
    expect(usage.exitCode).toBe(2);
    expect(lines(usage.stderr)).toEqual(['chiffon: approve needs ID', 'usage: chiffon approve ID [--comment TEXT] [--standing] [--json]']);

    const closed = `http://127.0.0.1:${await closedPort()}`;
    const unreachable = await chiffon(['status'], { url: closed });
    expect(unreachable.exitCode).toBe(1);
    expect(lines(unreachable.stderr)).toEqual([`chiffon: cannot reach ${closed}: connect ECONNREFUSED ${closed.slice('http://'.length)}`]);
  });

  it('login checks the token, saves it 0600, and later commands use it (the environment still wins)', async () => {
    const configFile = path.join(services.scratch, 'login', 'chiffon', 'config.json');
    const env = { CHIFFON_CONFIG: configFile };
    const bad = await chiffon(['login', '--url', origin, '--token', '-'], { token: '', input: 'chf_wrong\n', env });
    expect(bad.exitCode).toBe(3);
    expect(fs.existsSync(configFile)).toBe(false);

    const login = await chiffon(['login', '--url', `${origin}/api/dashboard/`, '--token', '-'], {
      token: '',
      url: '',
      input: `${stack.tokens.approver}\n`,
      env,
    });
    expect(login.exitCode, login.stderr).toBe(0);
    expect(login.stdout).not.toContain(stack.tokens.approver);
    expect(fs.statSync(configFile).mode & 0o777).toBe(0o600);
    expect(fs.statSync(path.dirname(configFile)).mode & 0o777).toBe(0o700);
    expect(JSON.parse(fs.readFileSync(configFile, 'utf8'))).toEqual({ url: origin, token: stack.tokens.approver });

    // No CHIFFON_URL or CHIFFON_TOKEN: the saved ones.
    const status = await chiffon(['status'], { token: '', url: '', env });
    expect(status.exitCode, status.stderr).toBe(0);
    expect(lines(status.stdout)[0]).toMatch(/^ID +STATUS/);
    // CHIFFON_TOKEN wins over the file.
    const overridden = await chiffon(['status'], { token: 'chf_wrong', url: '', env });
    expect(overridden.exitCode).toBe(3);
  });
});

describe('chiffon schedule', () => {
  it('creates a paused schedule, lists, resumes, pauses and runs it; approve --standing; revoke (an approver only) and delete', async () => {
    // A cron of leap days: nothing fires by itself during the test; runs are asked for with `schedule run`.
    const created = await chiffon([
      'schedule',
      'create',
      'Set up postgres',
      '--cron',
      '0 4 29 2 *',
      '--timezone',
      'Europe/Paris',
      '--paused',
      '--note',
      'leap days',
    ]);
    expect(created.exitCode, created.stderr).toBe(0);
    const out = lines(created.stdout);
    expect(out.slice(0, 4)).toEqual([
      'message: Set up postgres',
      'when: cron 0 4 29 2 * (Europe/Paris)',
      expect.stringMatching(/^created by alice at \d{4}-/),
      'note: leap days',
    ]);
    expect(out).toContain('next runs: none (paused)');
    expect(out).toContain('standing approval: none');
    const id = /^schedule (schedule-[0-9a-f]{16}): paused$/.exec(out.at(-1)!)?.[1];
    expect(id, created.stdout).toBeDefined();

    try {
      // Temporal lists schedules eventually: polled.
      await expect
        .poll(async () => lines((await chiffon(['schedule', 'list'])).stdout), { timeout: 30_000, interval: 500 })
        .toContainEqual(
          expect.stringMatching(new RegExp(`^${id} +paused +cron 0 4 29 2 \\* \\(Europe/Paris\\) +- +no +alice +Set up postgres$`)),
        );
      const table = await chiffon(['schedule', 'list']);
      expect(lines(table.stdout)[0]).toMatch(/^ID +STATE +WHEN +NEXT_RUN +STANDING +CREATED_BY +MESSAGE$/);
      const listed = await chiffon(['schedule', 'list', '--json']);
      expect(JSON.parse(listed.stdout).schedules).toContainEqual(
        expect.objectContaining({ schedule_id: id, cron: '0 4 29 2 *', paused: true }),
      );

      const resumed = await chiffon(['schedule', 'resume', id!, '--note', 'back']);
      expect(resumed.exitCode, resumed.stderr).toBe(0);
      expect(lines(resumed.stdout)).toEqual([`schedule ${id}: active`]);
      expect((await stack.call('GET', `/schedules/${id}`)).body).toMatchObject({ paused: false, note: 'back' });
      const paused = await chiffon(['schedule', 'pause', id!]);
      expect(lines(paused.stdout)).toEqual([`schedule ${id}: paused`]);

      // A run now, paused or not; approved as standing by bob, under the run's id (colons and all).
      const ran = await chiffon(['schedule', 'run', id!]);
      expect(ran.exitCode, ran.stderr).toBe(0);
      expect(lastLine(ran.stdout)).toBe(`schedule ${id}: paused`);
      let run = '';
      await expect
        .poll(async () => (run = (await stack.call('GET', `/schedules/${id}`)).body.recent_runs[0]?.request_id ?? ''), { timeout: 30_000 })
        .toMatch(new RegExp(`^${id}-\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ$`));
      const waiting = await stack.waitForStatus(run, 'pending_approval');
      const approved = await chiffon(['approve', run, '--standing'], { as: 'approver' });
      expect(approved.exitCode, approved.stderr).toBe(0);
      expect(lines(approved.stdout)).toEqual([
        `approved plan ${waiting.plan.hash} as standing`,
        expect.stringMatching(new RegExp(`^request ${run}: (running|completed)$`)),
      ]);
      await stack.waitForStatus(run, 'completed');
      const shown = await chiffon(['schedule', 'show', id!]);
      expect(lines(shown.stdout)).toContainEqual(
        expect.stringMatching(new RegExp(`^standing approval: standing-${run} by bob at \\S+, plan ${waiting.plan.hash}$`)),
      );
      expect(lines(shown.stdout)).toContainEqual(expect.stringMatching(new RegExp(`^ {2}${run} {2}started \\d{4}-\\S+Z$`)));

      // Revoking is an approver's: alice's token may not (exit 3); bob's may.
      const refused = await chiffon(['schedule', 'revoke', id!]);
      expect(refused.exitCode).toBe(3);
      expect(lines(refused.stderr)).toEqual([expect.stringMatching(/^chiffon: forbidden: \S/)]);
      const revoked = await chiffon(['schedule', 'revoke', id!], { as: 'approver' });
      expect(revoked.exitCode, revoked.stderr).toBe(0);
      expect(lines(revoked.stdout)).toEqual(['standing approval revoked: the next run waits for a person', `schedule ${id}: paused`]);
      expect(JSON.parse((await chiffon(['schedule', 'show', id!, '--json'])).stdout).standing_approval).toBeNull();

      const deleted = await chiffon(['schedule', 'delete', id!]);
      expect(deleted.exitCode, deleted.stderr).toBe(0);
      expect(lines(deleted.stdout)).toEqual([`schedule ${id}: deleted`]);
      const gone = await chiffon(['schedule', 'show', id!]);
      expect(gone.exitCode).toBe(1);
      expect(lines(gone.stderr)).toEqual([`chiffon: not_found: no schedule ${id}`]);

      // What the API refuses: one line, exit 1.
      const tooOften = await chiffon(['schedule', 'create', 'Set up postgres', '--every', '1s']);
      expect(tooOften.exitCode).toBe(1);
      expect(lines(tooOften.stderr)).toEqual(['chiffon: invalid_input: every: "1s" is shorter than the shortest interval, 5s']);
    } finally {
      await services.env.client.schedule
        .getHandle(id!)
        .delete()
        .catch(() => undefined);
    }
  });
});

describe('chiffon follow across an API restart', () => {
  it('reconnects after the last event it printed, to a new API on the same port, and prints every event exactly once', async () => {
    // An API of the test's own (built as e2e-stack builds the stack's), so that it can be stopped and
    // served again on its port while the stack's worker runs the step.
    const events = createEventNotifier(services.database.url);
    const deps: ApiDeps = { client: services.env.client, codec: testCodec, prisma: services.database.prisma, config: stack.config, events };
    const listen = async (port: number) => {
      const server = serve({ fetch: createApp(deps).fetch, port, hostname: '127.0.0.1' }) as http.Server;
      attachLiveEventsWebSocket(server, deps);
      await new Promise<void>((resolve) => server.once('listening', () => resolve()));
      return server;
    };
    const stop = (server: http.Server) =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        // The follower's stream would keep close() waiting: cut it, as a crash or a restart does.
        server.closeAllConnections();
      });
    let server = await listen(0);
    const port = (server.address() as AddressInfo).port;
    let follower: ResultPromise | undefined;
    try {
      const chat = await stack.call('POST', '/chat', { message: 'Run the live gate' });
      expect(chat.status, JSON.stringify(chat.body)).toBe(201);
      const id: string = chat.body.request_id;
      const answer = await stack.call('POST', '/approve', { request_id: id, approved: true, plan_hash: chat.body.plan.hash });
      expect(answer.status, JSON.stringify(answer.body)).toBe(200);

      follower = chiffon(['follow', id, '--json'], { url: `http://127.0.0.1:${port}` });
      const output = watch(follower);
      // The step is running and waits at the gate: stop the API under the follower.
      await output.until('stdout', (out) =>
        lines(out).some((line) => {
          const event = JSON.parse(line);
          return event.kind === 'task_start' && event.payload.task.name === 'Wait until the gate opens';
        }),
      );
      await stop(server);
      await output.until('stderr', (err) => err.includes('reconnecting'));

      // While no API answers, the step goes on and the request completes; its events are stored.
      liveGate(stack.config.stateDir).open();
      await stack.waitForStatus(id, 'completed', 60_000);
      server = await listen(port);

      const result = await follower;
      const [stdout, stderr] = [String(result.stdout), String(result.stderr)];
      expect(result.exitCode, stderr).toBe(0);
      expect(lines(stderr)).toEqual([
        expect.stringMatching(
          new RegExp(`^chiffon: lost the stream from http://127\\.0\\.0\\.1:${port} \\(.+\\); reconnecting after event \\d+$`),
        ),
      ]);
      const printed = lines(stdout).map((line) => JSON.parse(line));
      const stored = await storedEvents(id);
      expect(printed.map((e) => e.seq)).toEqual(stored.map((e) => e.seq));
      expect(printed).toEqual(stored);
      // Some of them were printed only after the restart: the ones of the end of the run.
      const cutAfter = Number(/after event (\d+)/.exec(stderr)![1]);
      expect(stored.filter((e) => e.seq > cutAfter).map((e) => e.kind)).toEqual(
        expect.arrayContaining(['task_result', 'step_status', 'request_status']),
      );
    } finally {
      follower?.kill();
      await stop(server);
      await events.close();
    }
  });
});

/** A local port nothing listens on (taken from the kernel, then let go). */
async function closedPort(): Promise<number> {
  const server = net.createServer().listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Collects a child's output as it comes; until() resolves once a predicate holds (and fails if the child exits first). */
function watch(child: ResultPromise) {
  const text = { stdout: '', stderr: '' };
  const waiters = new Set<() => void>();
  let exited = false;
  const wake = () => {
    for (const waiter of waiters) waiter();
  };
  child.stdout!.on('data', (chunk: Buffer) => {
    text.stdout += chunk.toString();
    wake();
  });
  child.stderr!.on('data', (chunk: Buffer) => {
    text.stderr += chunk.toString();
    wake();
  });
  void child.finally(() => {
    exited = true;
    wake();
  });
  return {
    until(stream: 'stdout' | 'stderr', accept: (text: string) => boolean, timeoutMs = 60_000) {
      return new Promise<void>((resolve, reject) => {
        const check = () => {
          // Only complete lines: a JSON line may arrive in pieces.
          const complete = text[stream].slice(0, text[stream].lastIndexOf('\n') + 1);
          if (accept(complete)) done(resolve);
          else if (exited) done(() => reject(new Error(`the follower exited first; stdout:\n${text.stdout}\nstderr:\n${text.stderr}`)));
        };
        const timer = setTimeout(
          () => done(() => reject(new Error(`no such ${stream} within ${timeoutMs} ms:\n${text[stream]}`))),
          timeoutMs,
        );
        const done = (then: () => void) => {
          clearTimeout(timer);
          waiters.delete(check);
          then();
        };
        waiters.add(check);
        check();
      });
    },
  };
}
