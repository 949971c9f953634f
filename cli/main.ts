// `chiffon`: the command line client of Chiffon's HTTP API (README: Command line). This file parses
// the command, dispatches it and turns every failure into one line on stderr and an exit code:
//   0 done or accepted · 1 failed, rejected or an API error · 2 usage · 3 token refused or not allowed
// bin/chiffon.js runs main(); tests call run() with their own output and environment.
import { ApiClient } from './api-client.js';
import { helpText, parseCommand, scheduleHelpText, usageOf, type Command } from './args.js';
import * as commands from './commands.js';
import { CliError, EXIT, UsageError, type ExitCode } from './errors.js';
import { loadSettings } from './settings.js';

export type { Io } from './commands.js';

export async function run(argv: string[], io: commands.Io): Promise<ExitCode> {
  try {
    const command = parseCommand(argv);
    if (command.name === 'help' || command.help) {
      io.out(helpOf(command));
      return EXIT.ok;
    }
    if (command.name === 'login') return await commands.login(command, io);
    const settings = loadSettings(io.env);
    if (!settings.token) {
      throw new CliError(
        `no token: set CHIFFON_TOKEN, or save one with chiffon login --token - (config file ${settings.configPath})`,
        EXIT.auth,
      );
    }
    return await dispatch(command, new ApiClient(settings.url, settings.token), io);
  } catch (err) {
    if (err instanceof CliError) {
      io.err(`chiffon: ${err.message}`);
      if (err instanceof UsageError) io.err(err.usage);
      return err.exitCode;
    }
    // A bug of the CLI itself: say so, with the stack, rather than pretend it is the API's fault.
    io.err(`chiffon: unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    return EXIT.failed;
  }
}

/** `chiffon help [COMMAND]`, `chiffon COMMAND --help`: the whole help, a command's usage, or every schedule action's. */
function helpOf(command: Command): string {
  const topic = command.name === 'help' ? (command.args[0] as Command['name'] | undefined) : command.name;
  if (topic === undefined) return helpText();
  if (topic === 'schedule') return command.action ? usageOf(topic, command.action) : scheduleHelpText();
  return usageOf(topic);
}

function dispatch(command: Command, client: ApiClient, io: commands.Io): Promise<ExitCode> {
  switch (command.name) {
    case 'ask':
      return commands.ask(command, client, io);
    case 'approve':
    case 'reject':
      return commands.decide(command, client, io);
    case 'status':
      return commands.status(command, client, io);
    case 'follow':
      return commands.follow(command, client, io);
    case 'cancel':
    case 'retry':
    case 'resume':
      return commands.action(command, client, io);
    case 'audit':
      return commands.audit(command, client, io);
    case 'schedule':
      return commands.schedule(command, client, io);
    case 'login':
    case 'help':
      throw new Error(`${command.name} is handled before dispatch`);
  }
}

/** The process's own I/O; stdout and stderr get whole lines. */
export const processIo: commands.Io = {
  out: (line) => void process.stdout.write(`${line}\n`),
  err: (line) => void process.stderr.write(`${line}\n`),
  env: process.env,
  async readStdin() {
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  },
};

export async function main(): Promise<void> {
  // `chiffon status | head` closes the pipe early; that is not an error worth a stack.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw err;
  });
  process.exitCode = await run(process.argv.slice(2), processIo);
}
