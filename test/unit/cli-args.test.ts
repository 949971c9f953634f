// The command line of `chiffon` (cli/args.ts) and what run() makes of a bad one: exit 2, the problem
// and the command's usage line on stderr, nothing on stdout and no call to the API.
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { parseCommand } from '../../cli/args.js';
import { run, type Io } from '../../cli/main.js';

/** A local port nothing listens on (taken from the kernel, then let go). */
async function closedPort(): Promise<number> {
  const server = net.createServer().listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** run() with captured output and an environment that points at nothing (a call would fail with exit 1, not 2). */
async function runCli(argv: string[], env: Record<string, string> = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const io: Io = {
    out: (line) => out.push(line),
    err: (line) => err.push(line),
    env: { CHIFFON_URL: 'http://127.0.0.1:9', CHIFFON_TOKEN: 'chf_test', CHIFFON_CONFIG: '/nonexistent/chiffon.json', ...env },
    readStdin: () => Promise.resolve(''),
  };
  const code = await run(argv, io);
  return { code, out, err };
}

describe('parseCommand', () => {
  it('reads the commands, their arguments and options', () => {
    expect(parseCommand(['ask', 'deploy', 'kuma', 'and', 'add', 'the', 'portals'])).toMatchObject({
      name: 'ask',
      args: ['deploy kuma and add the portals'],
      json: false,
    });
    expect(parseCommand(['approve', 'a332393df3ee', '--comment', 'ship it', '--json'])).toMatchObject({
      name: 'approve',
      args: ['a332393df3ee'],
      comment: 'ship it',
      json: true,
    });
    expect(parseCommand(['status'])).toMatchObject({ name: 'status', args: [] });
    expect(parseCommand(['status', 'abc'])).toMatchObject({ name: 'status', args: ['abc'] });
    expect(parseCommand(['login', '--url', 'http://nas:3000', '--token', '-'])).toMatchObject({
      name: 'login',
      url: 'http://nas:3000',
      token: '-',
    });
    expect(parseCommand(['--help'])).toMatchObject({ name: 'help' });
    expect(parseCommand(['follow', '--help'])).toMatchObject({ name: 'follow', help: true });
    // A scheduled run's id carries its time, colons included.
    expect(parseCommand(['approve', 'schedule-00c0ffee00c0ffee-2026-12-07T04:00:00Z', '--standing'])).toMatchObject({
      name: 'approve',
      args: ['schedule-00c0ffee00c0ffee-2026-12-07T04:00:00Z'],
      standing: true,
    });
  });

  it('reads the schedule actions, their arguments and options', () => {
    expect(parseCommand(['schedule', 'create', 'Set', 'up', 'postgres', '--every', '1h', '--note', 'nightly', '--json'])).toEqual({
      name: 'schedule',
      action: 'create',
      args: ['Set up postgres'],
      every: '1h',
      note: 'nightly',
      json: true,
      help: false,
    });
    expect(
      parseCommand(['schedule', 'create', 'Set up postgres', '--cron', '0 4 * * 0', '--timezone', 'Europe/Paris', '--paused']),
    ).toEqual({
      name: 'schedule',
      action: 'create',
      args: ['Set up postgres'],
      cron: '0 4 * * 0',
      timezone: 'Europe/Paris',
      paused: true,
      json: false,
      help: false,
    });
    expect(parseCommand(['schedule', 'list'])).toMatchObject({ name: 'schedule', action: 'list', args: [] });
    for (const action of ['show', 'run', 'revoke', 'delete'])
      expect(parseCommand(['schedule', action, 'schedule-00c0ffee00c0ffee'])).toMatchObject({
        action,
        args: ['schedule-00c0ffee00c0ffee'],
      });
    expect(parseCommand(['schedule', 'pause', 'schedule-00c0ffee00c0ffee', '--note', 'holidays'])).toMatchObject({
      action: 'pause',
      note: 'holidays',
    });
    expect(parseCommand(['schedule', '--help'])).toMatchObject({ name: 'schedule', help: true });
    expect(parseCommand(['schedule', 'create', '--help'])).toMatchObject({ name: 'schedule', action: 'create', help: true });
  });

  it.each([
    [[], 'no command given', 'usage: chiffon <command>'],
    [['deploy'], 'unknown command deploy', 'usage: chiffon <command>'],
    [['toString'], 'unknown command toString', 'usage: chiffon <command>'],
    [['approve'], 'approve needs ID', 'usage: chiffon approve ID [--comment TEXT] [--standing] [--json]'],
    [['reject', 'x', '--standing'], 'reject takes no --standing', 'usage: chiffon reject ID [--comment TEXT] [--json]'],
    [['schedule'], 'schedule needs an action', 'usage: chiffon schedule create|list|show|pause|resume|run|revoke|delete ...'],
    [['schedule', 'start'], 'unknown schedule action start', 'usage: chiffon schedule create|list|show|pause|resume|run|revoke|delete ...'],
    [
      ['schedule', 'create', 'Set up postgres'],
      'schedule create needs either --every DURATION or --cron EXPR (one of them)',
      'usage: chiffon schedule create MESSAGE... (--every DURATION | --cron EXPR) [--timezone ZONE] [--paused] [--note TEXT] [--json]',
    ],
    [
      ['schedule', 'create', 'x', '--every', '1h', '--cron', '0 4 * * 0'],
      'schedule create needs either --every DURATION or --cron EXPR (one of them)',
      'usage: chiffon schedule create',
    ],
    [['schedule', 'create', ' ', '--every', '1h'], 'schedule create needs a message', 'usage: chiffon schedule create'],
    [['schedule', 'create', 'x', '--every'], "Option '--every <value>' argument missing", 'usage: chiffon schedule create MESSAGE...'],
    [['schedule', 'pause'], 'schedule pause needs ID', 'usage: chiffon schedule pause ID [--note TEXT] [--json]'],
    [['schedule', 'run', 'a', 'b'], 'schedule run takes ID', 'usage: chiffon schedule run ID [--json]'],
    [['schedule', 'list', '--every', '1h'], 'schedule list takes no --every', 'usage: chiffon schedule list [--json]'],
    [['schedule', 'revoke', '--note', 'x', 'abc'], 'schedule revoke takes no --note', 'usage: chiffon schedule revoke ID [--json]'],
    [['schedule', 'delete', '../x'], 'not an id: ../x', 'usage: chiffon schedule delete ID [--json]'],
    [['ask', 'x', '--every', '1h'], 'ask takes no --every', 'usage: chiffon ask MESSAGE...'],
    [['approve', 'a', 'b'], 'approve takes ID', 'usage: chiffon approve ID'],
    [['approve', 'x', '--comment'], "Option '--comment <value>' argument missing", 'usage: chiffon approve ID'],
    [['status', '--comment', 'hi'], 'status takes no --comment', 'usage: chiffon status [ID] [--json]'],
    [['status', '--verbose'], "Unknown option '--verbose'", 'usage: chiffon status [ID] [--json]'],
    [['follow', '../../etc/passwd'], 'not an id: ../../etc/passwd', 'usage: chiffon follow ID [--json]'],
    [['ask', '   '], 'ask needs a message', 'usage: chiffon ask MESSAGE...'],
    [['login'], 'login needs --token TOKEN', 'usage: chiffon login [--url URL] --token TOKEN|-'],
    [['login', '--token', 'x', '--json'], 'login takes no --json', 'usage: chiffon login'],
  ])('%j is a usage error: exit 2 with the problem and a usage line', async (argv, problem, usage) => {
    const { code, out, err } = await runCli(argv);
    expect(code).toBe(2);
    expect(out).toEqual([]);
    expect(err).toHaveLength(2);
    expect(err[0]).toContain(`chiffon: ${problem}`);
    expect(err[1]).toContain(usage);
  });

  it('prints the help on stdout with exit 0, and a command’s usage for --help', async () => {
    const help = await runCli(['help']);
    expect(help.code).toBe(0);
    expect(help.out.join('\n')).toMatch(/^usage: chiffon <command>/);
    for (const command of ['ask', 'approve', 'reject', 'status', 'follow', 'cancel', 'retry', 'resume', 'audit', 'schedule', 'login'])
      expect(help.out.join('\n')).toContain(`  ${command} `);
    const usage = await runCli(['follow', '--help']);
    expect(usage).toEqual({ code: 0, out: ['usage: chiffon follow ID [--json]'], err: [] });
    expect((await runCli(['help', 'audit'])).out).toEqual(['usage: chiffon audit TASK_ID [--json]']);
    // schedule: every action's usage; an action's own with --help.
    for (const argv of [
      ['help', 'schedule'],
      ['schedule', '--help'],
    ]) {
      const text = (await runCli(argv)).out.join('\n');
      for (const action of ['create', 'list', 'show', 'pause', 'resume', 'run', 'revoke', 'delete'])
        expect(text, argv.join(' ')).toContain(`usage: chiffon schedule ${action} `);
    }
    expect(await runCli(['schedule', 'pause', '--help'])).toEqual({
      code: 0,
      out: ['usage: chiffon schedule pause ID [--note TEXT] [--json]'],
      err: [],
    });
  });

  it('without a token: exit 3 before any call, naming how to give one', async () => {
    const { code, err } = await runCli(['status'], { CHIFFON_TOKEN: '' });
    expect(code).toBe(3);
    expect(err).toHaveLength(1);
    expect(err[0]).toMatch(/^chiffon: no token: set CHIFFON_TOKEN/);
  });

  it('an API that cannot be reached: one line, exit 1, without the token', async () => {
    const url = `http://127.0.0.1:${await closedPort()}`;
    const { code, out, err } = await runCli(['status'], { CHIFFON_URL: url, CHIFFON_TOKEN: 'chf_secret-token-value' });
    expect(code).toBe(1);
    expect(out).toEqual([]);
    expect(err).toEqual([`chiffon: cannot reach ${url}: connect ECONNREFUSED ${url.slice('http://'.length)}`]);
    expect(err[0]).not.toContain('secret-token-value');
  });
});
