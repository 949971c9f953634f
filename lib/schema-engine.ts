// Prisma's schema engine (the part that applies and generates migrations), run as WebAssembly.
// The native engine cannot be downloaded on these machines, and the CLI only knows the native one,
// so Chiffon drives the WebAssembly build itself through the pg driver adapter (see INFRA.md).
import { readFile, readdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import pg from 'pg';
import { PrismaPg } from '@prisma/adapter-pg';
import { bindMigrationAwareSqlAdapterFactory } from '@prisma/driver-adapter-utils';
import * as engineBindings from '@prisma/schema-engine-wasm/schema_engine_bg';
import type { MigrationList, SchemaEngine, SchemaFilter } from '@prisma/schema-engine-wasm/schema_engine_bg';

/** Prisma's layout: one folder per migration holding this file, plus a lock file beside them. */
const migrationFileName = 'migration.sql';
const migrationLockFileName = 'migration_lock.toml';
const noExternalEntities: SchemaFilter = { externalTables: [], externalEnums: [] };

// The bindings keep the WebAssembly instance in module state, and Node shares that module across
// every copy of this file a test runner may evaluate; so the instance is kept per process too.
const loadedKey = Symbol.for('chiffon.schemaEngineWasm');
type GlobalWithEngine = typeof globalThis & { [loadedKey]?: Promise<void> };

function loadEngineWasm(): Promise<void> {
  const holder = globalThis as GlobalWithEngine;
  holder[loadedKey] ??= (async () => {
    // The package's ESM entry does `import * from "./schema_engine_bg.wasm"`, which Node refuses,
    // so the glue module is imported directly and given the instance by hand, as that entry would.
    const gluePath = createRequire(import.meta.url).resolve('@prisma/schema-engine-wasm/schema_engine_bg');
    const wasmBytes = await readFile(path.join(path.dirname(gluePath), 'schema_engine_bg.wasm'));
    const { instance } = await WebAssembly.instantiate(wasmBytes, { './schema_engine_bg.js': engineBindings });
    engineBindings.__wbg_set_wasm(instance.exports);
    (instance.exports.__wbindgen_start as () => void)();
  })();
  return holder[loadedKey];
}

/**
 * The engine reads PostgreSQL's catalogs, whose flag columns (relkind, contype, ...) have the
 * one-byte type "char". @prisma/adapter-pg 7.10 has no mapping for that type and fails the whole
 * query ("Column type 'char' could not be deserialized"). pg already returns those values as
 * strings, so this client just reports such columns as text.
 */
class CatalogReadingClient extends pg.Client {
  override query(...args: any[]): any {
    const callback = typeof args.at(-1) === 'function' ? (args.pop() as (error: unknown, result?: unknown) => void) : undefined;
    const pending = super.query(...(args as [pg.QueryConfig])) as unknown;
    // Submittable queries (cursors, streams) report through their own events; leave them alone.
    if (!(pending instanceof Promise)) return pending;
    const reported = pending.then(reportCharColumnsAsText);
    if (!callback) return reported;
    reported.then((result) => callback(null, result), (error: unknown) => callback(error));
    return undefined;
  }
}

function reportCharColumnsAsText<T>(result: T): T {
  for (const single of Array.isArray(result) ? result : [result]) {
    for (const field of (single as pg.QueryResult).fields ?? []) {
      if (field.dataTypeID === pg.types.builtins.CHAR) field.dataTypeID = pg.types.builtins.TEXT;
    }
  }
  return result;
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
  await loadEngineWasm();
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 2, Client: CatalogReadingClient });
  const engineLog: string[] = [];
  let engine: SchemaEngine | undefined;
  try {
    const adapterFactory = bindMigrationAwareSqlAdapterFactory(new PrismaPg(pool));
    engine = await engineBindings.SchemaEngine.new(
      { datamodels: schemaFiles },
      (line: string) => engineLog.push(line),
      adapterFactory,
    );
    return await work(engine);
  } catch (error) {
    throw describeEngineError(error, engineLog);
  } finally {
    engine?.free();
    await pool.end();
  }
}

/** Engine errors arrive as plain objects or bare strings; turn them into Errors worth printing. */
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
    const { stdout } = await engine.diff({
      from: { tag: 'schemaDatasource', files: [schemaFile], configDir: path.dirname(schemaFile.path) },
      to: { tag: 'schemaDatamodel', files: [schemaFile] },
      script: true,
      exitCode: null,
      filters: noExternalEntities,
    });
    return stdout ?? '';
  });
}
