// The command line: which command, its arguments and options (node:util parseArgs). Anything that
// does not fit is a UsageError (exit 2) naming the problem, shown with the command's usage line.
import { parseArgs } from 'node:util';
import { UsageError, oneLine } from './errors.js';

type OptionName = 'comment' | 'url' | 'token' | 'standing' | 'every' | 'cron' | 'timezone' | 'paused' | 'note';

interface CommandSpec {
  /** Positional arguments, as the usage line shows them; `[X]` is optional, `X...` takes the rest. */
  args: string[];
  options: OptionName[];
  summary: string;
}

export const COMMANDS = {
  ask: { args: ['MESSAGE...'], options: [], summary: 'ask for something: prints the intents, the plan and the request id' },
  approve: {
    args: ['ID'],
    options: ['comment', 'standing'],
    summary: 'approve the plan of a request, bound to the plan hash shown by GET (--standing: for the later runs of its schedule)',
  },
  reject: { args: ['ID'], options: ['comment'], summary: 'reject a request' },
  status: { args: ['[ID]'], options: [], summary: 'the recent requests, or one request in detail' },
  follow: { args: ['ID'], options: [], summary: 'the live output of a request until it ends; exits with its outcome' },
  cancel: { args: ['ID'], options: [], summary: 'cancel a request (a running playbook is stopped)' },
  retry: { args: ['ID'], options: [], summary: 'retry a failed request from its failed step' },
  resume: { args: ['ID'], options: [], summary: 'resume a paused request' },
  audit: { args: ['TASK_ID'], options: [], summary: "a task's audit record and its commit" },
  schedule: {
    args: ['ACTION', '[ID|MESSAGE...]'],
    options: [],
    summary: 'ask for something on time, and manage schedules: create, list, show, pause, resume, run, revoke, delete',
  },
  login: { args: [], options: ['url', 'token'], summary: 'check a token against the API and save it with the URL' },
  help: { args: ['[COMMAND]'], options: [], summary: 'this help' },
} satisfies Record<string, CommandSpec>;

export type CommandName = keyof typeof COMMANDS;

/** `chiffon schedule <action>`: each action with its own arguments and options. */
export const SCHEDULE_ACTIONS = {
  create: {
    args: ['MESSAGE...'],
    options: ['every', 'cron', 'timezone', 'paused', 'note'],
    summary: 'a schedule that asks for MESSAGE every DURATION or on a cron expression',
  },
  list: { args: [], options: [], summary: 'the schedules, newest first' },
  show: { args: ['ID'], options: [], summary: 'one schedule: when, next and recent runs, its standing approval' },
  pause: { args: ['ID'], options: ['note'], summary: 'nothing fires until it is resumed' },
  resume: { args: ['ID'], options: ['note'], summary: 'it fires again from its next time on' },
  run: { args: ['ID'], options: [], summary: 'a run now (skipped while a run of it is going)' },
  revoke: { args: ['ID'], options: [], summary: 'revoke its standing approval: the next run waits for a person' },
  delete: { args: ['ID'], options: [], summary: 'delete it (and revoke its standing approval)' },
} satisfies Record<string, CommandSpec>;

export type ScheduleAction = keyof typeof SCHEDULE_ACTIONS;

export interface Command {
  name: CommandName;
  /** `schedule` only: what to do. */
  action?: ScheduleAction;
  /** The positional arguments after the command (for ask and schedule create: the message, joined). */
  args: string[];
  json: boolean;
  help: boolean;
  comment?: string;
  url?: string;
  token?: string;
  /** approve: as the standing approval of the request's schedule. */
  standing?: boolean;
  every?: string;
  cron?: string;
  timezone?: string;
  paused?: boolean;
  note?: string;
}

const OPTION_USAGE: Record<OptionName, string> = {
  comment: '--comment TEXT',
  url: '--url URL',
  token: '--token TOKEN|-',
  standing: '--standing',
  every: '--every DURATION',
  cron: '--cron EXPR',
  timezone: '--timezone ZONE',
  paused: '--paused',
  note: '--note TEXT',
};

/**
 * Request, task and schedule ids as the API makes them (a scheduled run's carries its time, with
 * colons: schedule-<hex>-2026-12-07T04:00:00Z); anything else would only make a confusing URL.
 */
const ID = /^[A-Za-z0-9._:-]{1,200}$/;

function optionsUsage(options: OptionName[]): string[] {
  const usage: string[] = [];
  for (const option of options) {
    if (option === 'token') usage.push(OPTION_USAGE[option]);
    else if (option === 'every') usage.push(`(${OPTION_USAGE.every} | ${OPTION_USAGE.cron})`);
    else if (option !== 'cron') usage.push(`[${OPTION_USAGE[option]}]`);
  }
  return usage;
}

export function usageOf(name: CommandName, action?: ScheduleAction): string {
  if (name === 'schedule') {
    if (action === undefined) return `usage: chiffon schedule ${Object.keys(SCHEDULE_ACTIONS).join('|')} ... (chiffon help schedule)`;
    const spec: CommandSpec = SCHEDULE_ACTIONS[action];
    return ['usage: chiffon schedule', action, ...spec.args, ...optionsUsage(spec.options), '[--json]'].join(' ');
  }
  const spec: CommandSpec = COMMANDS[name];
  const json = name === 'help' || name === 'login' ? [] : ['[--json]'];
  return ['usage: chiffon', name, ...spec.args, ...optionsUsage(spec.options), ...json].join(' ');
}

/** `chiffon help schedule`: every action's usage and what it does. */
export function scheduleHelpText(): string {
  return [
    ...Object.entries(SCHEDULE_ACTIONS).map(([action, spec]) => `${usageOf('schedule', action as ScheduleAction)}\n    ${spec.summary}`),
    '',
    'DURATION: 30s, 15m, 1h, 7d, "1 hour" (at least 5s). EXPR: a cron expression, e.g. "0 4 * * 0" (Sundays at 4:00),',
    'in ZONE (e.g. Europe/Paris; default UTC). Approve a run with `chiffon approve ID --standing` so that the',
    'later runs with the same plan run without waiting; any change to the plan makes a run wait again.',
  ].join('\n');
}

export function helpText(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((name) => name.length));
  return [
    'usage: chiffon <command> [arguments] [--json] [--help]',
    '',
    'Asks Chiffon for homelab changes and follows them, over its HTTP API.',
    '',
    'commands:',
    ...Object.entries(COMMANDS).map(([name, spec]) => `  ${name.padEnd(width)}  ${spec.summary}`),
    '',
    'options:',
    '  --json     print the API’s JSON answer instead of text (follow: one event per line)',
    '  --help     the usage of a command',
    '',
    'environment:',
    '  CHIFFON_URL     the server (default http://127.0.0.1:3000)',
    '  CHIFFON_TOKEN   the API token (npm run token -- create ...); or run `chiffon login --token -`',
    '  CHIFFON_CONFIG  the config file (default $XDG_CONFIG_HOME/chiffon/config.json or ~/.config/chiffon/config.json)',
    '',
    'exit codes: 0 done or accepted, 1 failed, rejected or an API error, 2 usage, 3 token refused or not allowed',
  ].join('\n');
}

const isCommand = (word: string): word is CommandName => Object.hasOwn(COMMANDS, word);
const isScheduleAction = (word: string | undefined): word is ScheduleAction => word !== undefined && Object.hasOwn(SCHEDULE_ACTIONS, word);

export function parseCommand(argv: string[]): Command {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (err) {
    const name = argv.find(isCommand);
    const action = name === 'schedule' ? argv.find(isScheduleAction) : undefined;
    // parseArgs explains over several lines; its first says what is wrong.
    const problem = oneLine(String((err as Error).message).split('\n')[0]!);
    throw new UsageError(problem, name ? usageOf(name, action) : 'usage: chiffon <command> [arguments] [--json] (chiffon --help)');
  }
  const { values, positionals } = parsed;
  const [first, ...afterName] = positionals;
  if (first === undefined) {
    if (values.help) return { name: 'help', args: [], json: false, help: true };
    throw new UsageError('no command given', 'usage: chiffon <command> [arguments] [--json] (chiffon --help)');
  }
  if (!isCommand(first)) throw new UsageError(`unknown command ${first}`, 'usage: chiffon <command> [arguments] [--json] (chiffon --help)');
  const name = first;
  let spec: CommandSpec = COMMANDS[name];
  let rest = afterName;
  const command: Command = { name, args: rest, json: values.json ?? false, help: values.help ?? false };
  if (name === 'schedule') {
    const [action, ...actionArgs] = afterName;
    if (command.help && action === undefined) return command;
    if (action === undefined) throw new UsageError('schedule needs an action', usageOf(name));
    if (!isScheduleAction(action)) throw new UsageError(`unknown schedule action ${action}`, usageOf(name));
    command.action = action;
    spec = SCHEDULE_ACTIONS[action];
    rest = actionArgs;
    command.args = rest;
  }
  const what = command.action ? `${name} ${command.action}` : name;
  const usage = usageOf(name, command.action);
  if (command.help) return command;

  for (const option of ['comment', 'url', 'token', 'every', 'cron', 'timezone', 'note'] as const) {
    const value = values[option];
    if (value === undefined) continue;
    if (!spec.options.includes(option)) throw new UsageError(`${what} takes no --${option}`, usage);
    command[option] = value;
  }
  for (const option of ['standing', 'paused'] as const) {
    if (values[option] === undefined) continue;
    if (!spec.options.includes(option)) throw new UsageError(`${what} takes no --${option}`, usage);
    command[option] = values[option];
  }
  if (command.json && (name === 'login' || name === 'help')) throw new UsageError(`${name} takes no --json`, usage);

  const required = spec.args.filter((arg) => !arg.startsWith('['));
  const takesRest = spec.args.some((arg) => arg.endsWith('...'));
  if (rest.length < required.length) throw new UsageError(`${what} needs ${required.join(' ')}`, usage);
  if (!takesRest && rest.length > spec.args.length) throw new UsageError(`${what} takes ${spec.args.join(' ') || 'no arguments'}`, usage);
  if (name === 'ask' || command.action === 'create') {
    const message = rest.join(' ').trim();
    if (message === '') throw new UsageError(`${what} needs a message`, usage);
    command.args = [message];
  } else if (name === 'help') {
    if (rest[0] !== undefined && !isCommand(rest[0])) throw new UsageError(`unknown command ${rest[0]}`, usage);
  } else {
    for (const id of rest) if (!ID.test(id)) throw new UsageError(`not an id: ${id}`, usage);
  }
  if (command.action === 'create' && (command.every === undefined) === (command.cron === undefined)) {
    throw new UsageError('schedule create needs either --every DURATION or --cron EXPR (one of them)', usage);
  }
  if (name === 'login' && command.token === undefined)
    throw new UsageError('login needs --token TOKEN (or --token - to read it from stdin)', usage);
  return command;
}

function parse(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
      comment: { type: 'string' },
      url: { type: 'string' },
      token: { type: 'string' },
      standing: { type: 'boolean' },
      every: { type: 'string' },
      cron: { type: 'string' },
      timezone: { type: 'string' },
      paused: { type: 'boolean' },
      note: { type: 'string' },
    },
  });
}
