// The command line: which command, its arguments and options (node:util parseArgs). Anything that
// does not fit is a UsageError (exit 2) naming the problem, shown with the command's usage line.
import { parseArgs } from 'node:util';
import { UsageError, oneLine } from './errors.js';

type OptionName = 'comment' | 'url' | 'token';

interface CommandSpec {
  /** Positional arguments, as the usage line shows them; `[X]` is optional, `X...` takes the rest. */
  args: string[];
  options: OptionName[];
  summary: string;
}

export const COMMANDS = {
  ask: { args: ['MESSAGE...'], options: [], summary: 'ask for something: prints the intents, the plan and the request id' },
  approve: { args: ['ID'], options: ['comment'], summary: 'approve the plan of a request, bound to the plan hash shown by GET' },
  reject: { args: ['ID'], options: ['comment'], summary: 'reject a request' },
  status: { args: ['[ID]'], options: [], summary: 'the recent requests, or one request in detail' },
  follow: { args: ['ID'], options: [], summary: 'the live output of a request until it ends; exits with its outcome' },
  cancel: { args: ['ID'], options: [], summary: 'cancel a request (a running playbook is stopped)' },
  retry: { args: ['ID'], options: [], summary: 'retry a failed request from its failed step' },
  resume: { args: ['ID'], options: [], summary: 'resume a paused request' },
  audit: { args: ['TASK_ID'], options: [], summary: "a task's audit record and its commit" },
  login: { args: [], options: ['url', 'token'], summary: 'check a token against the API and save it with the URL' },
  help: { args: ['[COMMAND]'], options: [], summary: 'this help' },
} satisfies Record<string, CommandSpec>;

export type CommandName = keyof typeof COMMANDS;

export interface Command {
  name: CommandName;
  /** The positional arguments after the command (for ask: the message, joined). */
  args: string[];
  json: boolean;
  help: boolean;
  comment?: string;
  url?: string;
  token?: string;
}

const OPTION_USAGE: Record<OptionName, string> = { comment: '--comment TEXT', url: '--url URL', token: '--token TOKEN|-' };

/** Request ids and task ids as the API makes them; anything else would only make a confusing URL. */
const ID = /^[A-Za-z0-9._-]{1,200}$/;

export function usageOf(name: CommandName): string {
  const spec: CommandSpec = COMMANDS[name];
  const options = spec.options.map((option) => (option === 'token' ? OPTION_USAGE[option] : `[${OPTION_USAGE[option]}]`));
  const json = name === 'help' || name === 'login' ? [] : ['[--json]'];
  return ['usage: chiffon', name, ...spec.args, ...options, ...json].join(' ');
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

export function parseCommand(argv: string[]): Command {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (err) {
    const name = argv.find(isCommand);
    // parseArgs explains over several lines; its first says what is wrong.
    const problem = oneLine(String((err as Error).message).split('\n')[0]!);
    throw new UsageError(problem, name ? usageOf(name) : 'usage: chiffon <command> [arguments] [--json] (chiffon --help)');
  }
  const { values, positionals } = parsed;
  const [first, ...rest] = positionals;
  if (first === undefined) {
    if (values.help) return { name: 'help', args: [], json: false, help: true };
    throw new UsageError('no command given', 'usage: chiffon <command> [arguments] [--json] (chiffon --help)');
  }
  if (!isCommand(first)) throw new UsageError(`unknown command ${first}`, 'usage: chiffon <command> [arguments] [--json] (chiffon --help)');
  const name = first;
  const spec: CommandSpec = COMMANDS[name];
  const usage = usageOf(name);
  const command: Command = { name, args: rest, json: values.json ?? false, help: values.help ?? false };
  if (command.help) return command;

  for (const option of ['comment', 'url', 'token'] as const) {
    const value = values[option];
    if (value === undefined) continue;
    if (!spec.options.includes(option)) throw new UsageError(`${name} takes no --${option}`, usage);
    command[option] = value;
  }
  if (command.json && (name === 'login' || name === 'help')) throw new UsageError(`${name} takes no --json`, usage);

  const required = spec.args.filter((arg) => !arg.startsWith('['));
  const takesRest = spec.args.some((arg) => arg.endsWith('...'));
  if (rest.length < required.length) throw new UsageError(`${name} needs ${required.join(' ')}`, usage);
  if (!takesRest && rest.length > spec.args.length) throw new UsageError(`${name} takes ${spec.args.join(' ') || 'no arguments'}`, usage);
  if (name === 'ask') {
    const message = rest.join(' ').trim();
    if (message === '') throw new UsageError('ask needs a message', usage);
    command.args = [message];
  } else if (name === 'help') {
    if (rest[0] !== undefined && !isCommand(rest[0])) throw new UsageError(`unknown command ${rest[0]}`, usage);
  } else {
    for (const id of rest) if (!ID.test(id)) throw new UsageError(`not an id: ${id}`, usage);
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
    },
  });
}
