// `npm run token -- <command>`: the API tokens of this Chiffon (DATABASE_URL, or the embedded
// PostgreSQL, migrated first).
//   create --name alice --role requester|approver|admin
//                        prints the new token on stdout, once (nothing else goes to stdout, so
//                        TOKEN=$(npm run -s token -- create ...) works); the database keeps only
//                        its sha256
//   list                 id, name, role, prefix, created, last used, revoked
//   revoke <id-or-prefix>
// Exit codes: 0 done, 1 failed, 2 bad usage.
import { parseArgs } from 'node:util';
import { checkName, createApiToken, listApiTokens, revokeApiToken, ROLES, type ApiTokenInfo } from '../lib/api-tokens.js';
import { loadConfig } from '../lib/config.js';
import { migrateDatabase, openDatabase } from '../lib/database.js';
import { createPrismaClient, type PrismaClient } from '../lib/prisma.js';

const USAGE = `usage:
  npm run token -- create --name <name> --role <${ROLES.join('|')}>
  npm run token -- list
  npm run token -- revoke <id-or-prefix>`;

class UsageError extends Error {}

type Command = { command: 'create'; name: string; role: string } | { command: 'list' } | { command: 'revoke'; key: string };

function parseCommand(argv: string[]): Command {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: { name: { type: 'string' }, role: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    });
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  const { values, positionals } = parsed;
  if (values.help) throw new UsageError('');
  const [command, ...rest] = positionals;
  switch (command) {
    case 'create':
      if (rest.length > 0) throw new UsageError(`create takes no positional arguments (got ${rest.join(' ')})`);
      if (!values.name) throw new UsageError('create needs --name <name>');
      if (!values.role) throw new UsageError(`create needs --role <${ROLES.join('|')}>`);
      if (!(ROLES as readonly string[]).includes(values.role)) throw new UsageError(`--role must be one of ${ROLES.join(', ')}`);
      try {
        return { command, name: checkName(values.name), role: values.role };
      } catch (error) {
        throw new UsageError(`--name: ${error instanceof Error ? error.message : String(error)}`);
      }
    case 'list':
      if (rest.length > 0 || values.name || values.role) throw new UsageError('list takes no arguments');
      return { command };
    case 'revoke':
      if (rest.length !== 1 || values.name || values.role)
        throw new UsageError('revoke takes exactly one argument: the token id or prefix');
      return { command, key: rest[0]! };
    case undefined:
      throw new UsageError('say what to do: create, list or revoke');
    default:
      throw new UsageError(`unknown command ${JSON.stringify(command)}`);
  }
}

const when = (date: Date | null) => (date ? date.toISOString() : '-');

function printTable(tokens: ApiTokenInfo[]): void {
  if (tokens.length === 0) {
    console.log('no tokens yet: npm run token -- create --name <name> --role <role>');
    return;
  }
  const header = ['id', 'name', 'role', 'prefix', 'created', 'last used', 'revoked'];
  const rows = tokens.map((t) => [t.id, t.name, t.role, t.prefix, when(t.createdAt), when(t.lastUsedAt), when(t.revokedAt)]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  for (const row of [header, ...rows])
    console.log(
      row
        .map((cell, i) => cell.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    );
}

async function execute(prisma: PrismaClient, command: Command): Promise<void> {
  switch (command.command) {
    case 'create': {
      const created = await createApiToken(prisma, command);
      // Everything but the token goes to stderr, so stdout can be captured into a variable.
      console.error(`created token ${created.prefix}… (id ${created.id}) for ${created.name}, role ${created.role}.`);
      console.error('It is shown this once and stored only as a hash: keep it now. Send it as "Authorization: Bearer <token>".');
      console.log(created.token);
      return;
    }
    case 'list':
      printTable(await listApiTokens(prisma));
      return;
    case 'revoke': {
      const revoked = await revokeApiToken(prisma, command.key);
      console.log(`revoked ${revoked.prefix}… (id ${revoked.id}, ${revoked.name}, ${revoked.role}) at ${when(revoked.revokedAt)}`);
      return;
    }
  }
}

async function run(): Promise<void> {
  let command: Command;
  try {
    command = parseCommand(process.argv.slice(2));
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    // --help (a UsageError without a message) is not a mistake.
    if (error.message) console.error(`token: ${error.message}`);
    console.error(USAGE);
    process.exitCode = error.message ? 2 : 0;
    return;
  }
  const database = await openDatabase(loadConfig().databaseUrl);
  try {
    await migrateDatabase(database.url);
    const prisma = createPrismaClient(database.url);
    try {
      await execute(prisma, command);
    } finally {
      await prisma.$disconnect();
    }
  } finally {
    await database.stop();
  }
}

run().catch((error: unknown) => {
  console.error(`token: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
