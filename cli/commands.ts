// What each command does against the API, and what it prints. Each returns its exit code; failures
// are thrown (errors.ts) and turned into a line and a code by main.ts.
import { ApiClient } from './api-client.js';
import type { Command } from './args.js';
import { CliError, EXIT, type ExitCode } from './errors.js';
import { followRequest } from './follow.js';
import {
  auditLines,
  requestDetailLines,
  requestLines,
  requestTable,
  scheduleLine,
  scheduleLines,
  scheduleTable,
  statusLine,
} from './format.js';
import { configPath, DEFAULT_URL, normalizeUrl, readConfig, saveConfig } from './settings.js';
import type { DecisionAnswer, RequestDetail, RequestList, Schedule, ScheduleDeleted, ScheduleList, TaskAudit } from './types.js';

export interface Io {
  out(line: string): void;
  err(line: string): void;
  env: Record<string, string | undefined>;
  readStdin(): Promise<string>;
}

const requestRoute = (id: string) => `/requests/${encodeURIComponent(id)}`;
const scheduleRoute = (id: string) => `/schedules/${encodeURIComponent(id)}`;

/** Prints the API's answer as JSON (--json) or as the lines `text` makes of it. */
function print<T>(command: Command, io: Io, answer: T, text: (answer: T) => string[]): void {
  if (command.json) io.out(JSON.stringify(answer, null, 2));
  else for (const line of text(answer)) io.out(line);
}

export async function ask(command: Command, client: ApiClient, io: Io): Promise<ExitCode> {
  const request = await client.post<RequestDetail>('/chat', { message: command.args[0] });
  print(command, io, request, requestLines);
  return EXIT.ok;
}

/**
 * approve / reject. An approval names the plan hash of the plan as GET shows it right now, so that
 * what is approved is what was looked at: if the plan changes in between, the API refuses (409).
 * `approve --standing` makes it the standing approval of the request's schedule (409 for a request
 * no schedule started).
 */
export async function decide(command: Command, client: ApiClient, io: Io): Promise<ExitCode> {
  const id = command.args[0]!;
  const approved = command.name === 'approve';
  let planHash: string | undefined;
  if (approved) {
    const request = await client.get<RequestDetail>(requestRoute(id));
    if (!request.plan) throw new CliError(`request ${id} has no plan to approve (status ${request.status})`);
    planHash = request.plan.hash;
  }
  const answer = await client.post<DecisionAnswer>('/approve', {
    request_id: id,
    approved,
    ...(command.comment !== undefined ? { comment: command.comment } : {}),
    ...(planHash ? { plan_hash: planHash } : {}),
    ...(command.standing ? { standing: true } : {}),
  });
  const decided = approved ? `approved plan ${planHash}${command.standing ? ' as standing' : ''}` : `rejected request ${answer.request_id}`;
  print(command, io, answer, (a) => [decided, statusLine(a)]);
  return EXIT.ok;
}

export async function status(command: Command, client: ApiClient, io: Io): Promise<ExitCode> {
  const id = command.args[0];
  if (id === undefined) {
    const list = await client.get<RequestList>('/requests', { limit: 20 });
    print(command, io, list, (l) => (l.requests.length === 0 ? ['no requests yet'] : requestTable(l.requests)));
  } else {
    const request = await client.get<RequestDetail>(requestRoute(id));
    print(command, io, request, requestDetailLines);
  }
  return EXIT.ok;
}

export async function follow(command: Command, client: ApiClient, io: Io): Promise<ExitCode> {
  const request = await followRequest(client, command.args[0]!, { json: command.json, out: io.out, err: io.err });
  if (!command.json) io.out(statusLine(request));
  return request.status === 'completed' ? EXIT.ok : EXIT.failed;
}

/** cancel, retry, resume: the API answers 202 with the request's state; it goes on in its workflow. */
export async function action(command: Command, client: ApiClient, io: Io): Promise<ExitCode> {
  const request = await client.post<RequestDetail>(`${requestRoute(command.args[0]!)}/${command.name}`);
  print(command, io, request, (r) => [statusLine(r)]);
  return EXIT.ok;
}

export async function audit(command: Command, client: ApiClient, io: Io): Promise<ExitCode> {
  const answer = await client.get<TaskAudit>(`/audit/task/${encodeURIComponent(command.args[0]!)}`);
  print(command, io, answer, auditLines);
  return EXIT.ok;
}

/** `schedule <action>`: each answers with the schedule (delete with what was deleted). */
export async function schedule(command: Command, client: ApiClient, io: Io): Promise<ExitCode> {
  // create: the message; list: nothing; the others: the schedule's id.
  const [arg = ''] = command.args;
  const note = command.note !== undefined ? { note: command.note } : {};
  switch (command.action) {
    case 'create': {
      const created = await client.post<Schedule>('/schedules', {
        message: arg,
        ...(command.every !== undefined ? { every: command.every } : {}),
        ...(command.cron !== undefined ? { cron: command.cron } : {}),
        ...(command.timezone !== undefined ? { timezone: command.timezone } : {}),
        ...(command.paused ? { paused: true } : {}),
        ...note,
      });
      print(command, io, created, scheduleLines);
      break;
    }
    case 'list': {
      const list = await client.get<ScheduleList>('/schedules', { limit: 50 });
      print(command, io, list, (l) => (l.schedules.length === 0 ? ['no schedules yet'] : scheduleTable(l.schedules)));
      break;
    }
    case 'show':
      print(command, io, await client.get<Schedule>(scheduleRoute(arg)), scheduleLines);
      break;
    case 'pause':
    case 'resume':
      print(command, io, await client.post<Schedule>(`${scheduleRoute(arg)}/${command.action}`, note), (s) => [scheduleLine(s)]);
      break;
    case 'run':
      print(command, io, await client.post<Schedule>(`${scheduleRoute(arg)}/run`), (s) => [
        'a run was asked for (Temporal skips it while a run of the schedule is going)',
        scheduleLine(s),
      ]);
      break;
    case 'revoke':
      print(command, io, await client.post<Schedule>(`${scheduleRoute(arg)}/revoke`), (s) => [
        'standing approval revoked: the next run waits for a person',
        scheduleLine(s),
      ]);
      break;
    case 'delete':
      print(command, io, await client.delete<ScheduleDeleted>(scheduleRoute(arg)), (d) => [`schedule ${d.schedule_id}: deleted`]);
      break;
    case undefined:
      throw new Error('schedule without an action: parseCommand refuses it');
  }
  return EXIT.ok;
}

/** Saves the URL and the token, once the API has taken the token (so a typo is not saved). */
export async function login(command: Command, io: Io): Promise<ExitCode> {
  const file = configPath(io.env);
  // Without --url: CHIFFON_URL, else the URL saved before (a file that cannot be read is replaced), else the default.
  const saved = (() => {
    try {
      return readConfig(file);
    } catch {
      return undefined;
    }
  })();
  const url = normalizeUrl(command.url ?? (io.env.CHIFFON_URL || saved?.url || DEFAULT_URL));
  const token = (command.token === '-' ? await io.readStdin() : command.token!).trim();
  if (token === '') throw new CliError('no token given', EXIT.usage);
  await new ApiClient(url, token).get<RequestList>('/requests', { limit: 1 });
  saveConfig(file, { url, token });
  io.out(`saved the URL ${url} and the token in ${file}`);
  return EXIT.ok;
}
