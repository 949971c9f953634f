// Prisma's schema engine (the part that applies and generates migrations), run as WebAssembly.
// The native engine cannot be downloaded on these machines, and the CLI only knows the native one,
// so Chiffon drives the WebAssembly build itself through the pg driver adapter (see INFRA.md).
import { readFile, readdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import pg from 'pg';
import { PrismaPg } from '@prisma/adapter-pg';
import { bindMigrationAwareSqlAdapterFactory, ColumnTypeEnum, type SqlResultSet } from '@prisma/driver-adapter-utils';
import * as engineBindings from '@prisma/schema-engine-wasm/schema_engine_bg';
import type { MigrationList, SchemaEngine, SchemaFilter } from '@prisma/schema-engine-wasm/schema_engine_bg';

/** Prisma's layout: one folder per migration holding this file, plus a lock file beside them. */
const migrationFileName = 'migration.sql';
const migrationLockFileName = 'migration_lock.toml';
const noExternalEntities: SchemaFilter = { externalTables: [], externalEnums: [] };
/** The exit code `prisma migrate diff --exit-code` uses for "there are differences". */
const diffFoundChanges = 2;

// The bindings keep the WebAssembly instance in module state, and Node shares that module across
// every copy of this file a test runner may evaluate; so what goes with it is kept per process too.
interface EngineRuntime {
  ready: Promise<void>;
  /** withSchemaEngine calls under way (engines being created, working or freed). */
  activeOperations: number;
  /** Timers the engine started that have not fired yet. */
  pendingTimers: Set<NodeJS.Timeout>;
}
const runtimeKey = Symbol.for('chiffon.schemaEngineRuntime');

// The project compiles against ES2023 and Node's types, which leave out the WebAssembly global.
interface WebAssemblyApi {
  instantiate(
    bytes: Uint8Array,
    imports: Record<string, Record<string, unknown>>,
  ): Promise<{ instance: { exports: Record<string, unknown> } }>;
}
const webAssembly = (globalThis as unknown as { WebAssembly: WebAssemblyApi }).WebAssembly;

function engineRuntime(): EngineRuntime {
  const holder = globalThis as typeof globalThis & { [runtimeKey]?: EngineRuntime };
  if (!holder[runtimeKey]) {
    const runtime: EngineRuntime = { ready: Promise.resolve(), activeOperations: 0, pendingTimers: new Set() };
    runtime.ready = instantiateEngine(runtime);
    holder[runtimeKey] = runtime;
  }
  return holder[runtimeKey];
}

async function instantiateEngine(runtime: EngineRuntime): Promise<void> {
  // The package's ESM entry does `import * from "./schema_engine_bg.wasm"`, which Node refuses,
  // so the glue module is imported directly and given the instance by hand, as that entry would.
  const gluePath = createRequire(import.meta.url).resolve('@prisma/schema-engine-wasm/schema_engine_bg');
  const wasmBytes = await readFile(path.join(path.dirname(gluePath), 'schema_engine_bg.wasm'));
  const imports: Record<string, unknown> = { ...engineBindings };
  // The engine races some steps against timeouts (10 s for the migration lock) and never cancels
  // the losing timer, which would keep a finished script alive; so its timers are tracked and
  // cleared once no engine is left to wait on them.
  const setTimeoutImport = Object.keys(imports).find((name) => name.startsWith('__wbg_setTimeout_'));
  if (setTimeoutImport) {
    imports[setTimeoutImport] = (callback: () => void, delay: number) => {
      const timer = setTimeout(() => {
        runtime.pendingTimers.delete(timer);
        callback();
      }, delay >>> 0);
      runtime.pendingTimers.add(timer);
      return timer;
    };
  }
  const { instance } = await webAssembly.instantiate(wasmBytes, { './schema_engine_bg.js': imports });
  engineBindings.__wbg_set_wasm(instance.exports);
  (instance.exports.__wbindgen_start as () => void)();
}

function endOperation(runtime: EngineRuntime): void {
  runtime.activeOperations -= 1;
  if (runtime.activeOperations > 0) return;
  for (const timer of runtime.pendingTimers) clearTimeout(timer);
  runtime.pendingTimers.clear();
}

// Two gaps in @prisma/adapter-pg 7.10 that the Prisma Client never meets but the engine does.
//
// 1. The engine reads PostgreSQL's catalogs, whose flag columns (relkind, contype, ...) have the
//    one-byte type "char". The adapter has no mapping for it and fails the whole query ("Column
//    type 'char' could not be deserialized"), while the engine wants such columns typed as
//    Character. So the pg client reports them as text, which the adapter accepts, and notes
//    their positions on the rows; the adapter's answer is then corrected to Character.
const charColumnsKey = Symbol('chiffon.charColumns');
type RowsWithCharColumns = unknown[] & { [charColumnsKey]?: number[] };

class CatalogReadingClient extends pg.Client {
  // pg's query() has many overloads; this passes every call through unchanged but for the result.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- one signature for all of pg's overloads
  override query(...args: any[]): any {
    // Submittable queries (cursors, streams) report through their own events; leave them alone.
    if (typeof args[0]?.submit === 'function') return super.query(...(args as [pg.QueryConfig]));
    const callback = typeof args.at(-1) === 'function' ? (args.pop() as (error: unknown, result?: unknown) => void) : undefined;
    const pending = super.query(...(args as [pg.QueryConfig])) as Promise<pg.QueryResult>;
    const reported = pending.then(reportCharColumnsAsText);
    if (!callback) return reported;
    reported.then(
      (result) => callback(null, result),
      (error: unknown) => callback(error),
    );
    return undefined;
  }
}

function reportCharColumnsAsText<T>(result: T): T {
  // A query of several statements answers with one result each.
  for (const single of (Array.isArray(result) ? result : [result]) as pg.QueryResult[]) {
    const charColumns: number[] = [];
    (single.fields ?? []).forEach((field, index) => {
      if (field.dataTypeID !== pg.types.builtins.CHAR) return;
      field.dataTypeID = pg.types.builtins.TEXT;
      charColumns.push(index);
    });
    if (charColumns.length > 0) (single.rows as RowsWithCharColumns)[charColumnsKey] = charColumns;
  }
  return result;
}

function typeCharColumnsAsCharacter(resultSet: SqlResultSet): SqlResultSet {
  for (const index of (resultSet.rows as RowsWithCharColumns)[charColumnsKey] ?? []) {
    resultSet.columnTypes[index] = ColumnTypeEnum.Character;
  }
  return resultSet;
}

// 2. The adapter runs a script by splitting it on every ";", which breaks any migration with a
//    semicolon inside a string or a function body. Sent whole without parameters, pg uses
//    PostgreSQL's simple query protocol, which runs all statements in one implicit transaction,
//    as Prisma's native engine does.
class SchemaEnginePrismaPg extends PrismaPg {
  override async connect() {
    const adapter = await super.connect();
    const queryRaw = adapter.queryRaw.bind(adapter);
    adapter.queryRaw = async (query) => typeCharColumnsAsCharacter(await queryRaw(query));
    const startTransaction = adapter.startTransaction.bind(adapter);
    adapter.startTransaction = async (isolationLevel) => {
      const transaction = await startTransaction(isolationLevel);
      const transactionQueryRaw = transaction.queryRaw.bind(transaction);
      transaction.queryRaw = async (query) => typeCharColumnsAsCharacter(await transactionQueryRaw(query));
      return transaction;
    };
    adapter.executeScript = async (script: string) => {
      await adapter.executeRaw({ sql: script, args: [], argTypes: [] });
    };
    return adapter;
  }
}

/**
 * Runs `work` with an engine connected to `databaseUrl`, then frees the engine and closes every
 * connection it opened: the engine owns no sockets itself, the pool handed to it does.
 */
async function withSchemaEngine<T>(
  databaseUrl: string,
  schemaFiles: [path: string, content: string][] | undefined,
  work: (engine: SchemaEngine) => Promise<T>,
): Promise<T> {
  const runtime = engineRuntime();
  await runtime.ready;
  runtime.activeOperations += 1;
  const pool = new pg.Pool({ connectionString: databaseUrl, Client: CatalogReadingClient });
  const engineLog: string[] = [];
  let engine: SchemaEngine | undefined;
  try {
    const adapterFactory = bindMigrationAwareSqlAdapterFactory(new SchemaEnginePrismaPg(pool));
    engine = await engineBindings.SchemaEngine.new({ datamodels: schemaFiles }, (line: string) => engineLog.push(line), adapterFactory);
    return await work(engine);
  } catch (error) {
    throw describeEngineError(error, engineLog);
  } finally {
    engine?.free();
    await pool.end();
    endOperation(runtime);
  }
}

/**
 * The engine's own failures are Errors carrying its message and trace; anything else it might
 * reject with becomes an Error too, with the engine's log to explain it.
 */
function describeEngineError(error: unknown, engineLog: string[]): Error {
  if (error instanceof Error) return error;
  const detail = typeof error === 'string' ? error : JSON.stringify(error, null, 2);
  const log = engineLog.length > 0 ? `\nschema engine log:\n${engineLog.join('\n')}` : '';
  return new Error(`schema engine: ${detail}${log}`);
}

/** Reads a migrations folder the way the Prisma CLI does before handing it to the engine. */
export async function readMigrationList(migrationsDir: string): Promise<MigrationList> {
  const baseDir = path.resolve(migrationsDir);
  const lockfileContent = await readFile(path.join(baseDir, migrationLockFileName), 'utf8').catch(() => null);
  const entries = await readdir(baseDir, { withFileTypes: true }).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return [];
    throw error;
  });
  const migrationDirectories = await Promise.all(
    entries
      .filter((entry) => entry.isDirectory())
      .map(async (entry) => ({
        path: entry.name,
        migrationFile: {
          path: migrationFileName,
          content: await readFile(path.join(baseDir, entry.name, migrationFileName), 'utf8').then(
            (value) => ({ tag: 'ok' as const, value }),
            (error: Error) => ({ tag: 'error' as const, value: error.message }),
          ),
        },
      })),
  );
  // Folder names start with a timestamp, so name order is the order they were created in.
  migrationDirectories.sort((a, b) => a.path.localeCompare(b.path));
  return {
    baseDir,
    lockfile: { path: migrationLockFileName, content: lockfileContent },
    shadowDbInitScript: '',
    migrationDirectories,
  };
}

/**
 * Applies the migrations in `migrationsDir` that the database lacks, recording each in
 * `_prisma_migrations` exactly as `prisma migrate deploy` does. Returns the names it applied
 * (none when the database is already up to date).
 */
export async function applyMigrations(databaseUrl: string, migrationsDir: string): Promise<string[]> {
  const migrationsList = await readMigrationList(migrationsDir);
  return withSchemaEngine(databaseUrl, undefined, async (engine) => {
    const { appliedMigrationNames } = await engine.applyMigrations({ migrationsList, filters: noExternalEntities });
    return appliedMigrationNames;
  });
}

/**
 * The SQL that takes the database at `databaseUrl` to the Prisma schema at `schemaPath`;
 * an empty string when they already agree.
 */
export async function diffDatabaseAgainstSchema(databaseUrl: string, schemaPath: string): Promise<string> {
  const schemaFile = { path: path.resolve(schemaPath), content: await readFile(schemaPath, 'utf8') };
  return withSchemaEngine(databaseUrl, [[schemaFile.path, schemaFile.content]], async (engine) => {
    const { exitCode, stdout } = await engine.diff({
      // "schemaDatasource" is the live database, reached through the driver adapter.
      from: { tag: 'schemaDatasource', files: [schemaFile], configDir: path.dirname(schemaFile.path) },
      to: { tag: 'schemaDatamodel', files: [schemaFile] },
      script: true,
      // Asked for so the engine says whether anything differs; an empty script is not empty
      // text but a comment ("-- This is an empty migration.").
      exitCode: true,
      filters: noExternalEntities,
    });
    return exitCode === diffFoundChanges ? (stdout ?? '') : '';
  });
}

/**
 * The SQL of the next migration: applies the migrations in `migrationsDir` to the empty scratch
 * database at `scratchDatabaseUrl`, then diffs that against the schema. Empty when they agree.
 */
export async function diffMigrationsAgainstSchema(scratchDatabaseUrl: string, migrationsDir: string, schemaPath: string): Promise<string> {
  await applyMigrations(scratchDatabaseUrl, migrationsDir);
  return diffDatabaseAgainstSchema(scratchDatabaseUrl, schemaPath);
}
