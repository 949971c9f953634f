// Where the API is and which token to send: CHIFFON_URL and CHIFFON_TOKEN, else the config file that
// `chiffon login` writes, else the default URL (and no token). Each environment variable wins over
// the file on its own, so CHIFFON_TOKEN=... overrides a saved token without forgetting the saved URL.
//
// The file holds a bearer token, so it is created 0600 in a 0700 directory, like an SSH key: written
// to a temporary file with that mode first and renamed over, so it is never readable by others, not
// even for a moment, and an older file with wider permissions is replaced rather than reused.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CliError, EXIT } from './errors.js';

export const DEFAULT_URL = 'http://127.0.0.1:3000';

export interface Settings {
  /** The server's origin, e.g. http://127.0.0.1:3000 (the API is under /api/dashboard). */
  url: string;
  token: string | undefined;
  configPath: string;
}

export interface SavedConfig {
  url: string;
  token: string;
}

type Env = Record<string, string | undefined>;

/** CHIFFON_CONFIG, else $XDG_CONFIG_HOME/chiffon/config.json, else ~/.config/chiffon/config.json. */
export function configPath(env: Env): string {
  if (env.CHIFFON_CONFIG) return path.resolve(env.CHIFFON_CONFIG);
  const base = env.XDG_CONFIG_HOME || path.join(env.HOME || os.homedir(), '.config');
  return path.join(base, 'chiffon', 'config.json');
}

/** The saved config, or undefined when there is none. A file that is there but unusable is an error, not ignored. */
export function readConfig(file: string): Partial<SavedConfig> | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new CliError(`cannot read ${file}: ${(err as Error).message}`, EXIT.usage);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new CliError(`${file} is not JSON; run chiffon login again`, EXIT.usage);
  }
  if (!parsed || typeof parsed !== 'object') throw new CliError(`${file} is not a JSON object; run chiffon login again`, EXIT.usage);
  const { url, token } = parsed as Record<string, unknown>;
  return { url: typeof url === 'string' ? url : undefined, token: typeof token === 'string' ? token : undefined };
}

export function loadSettings(env: Env): Settings {
  const file = configPath(env);
  const saved = readConfig(file);
  return {
    url: normalizeUrl(env.CHIFFON_URL || saved?.url || DEFAULT_URL),
    token: env.CHIFFON_TOKEN || saved?.token || undefined,
    configPath: file,
  };
}

/**
 * The origin of the server as people write it: `http://host:3000`, with or without a trailing
 * slash or the /api/dashboard prefix (what the README's curl lines use).
 */
export function normalizeUrl(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw.trim());
  } catch {
    throw new CliError(`not a URL: ${raw}`, EXIT.usage);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new CliError(`not an http(s) URL: ${raw}`, EXIT.usage);
  const pathname = url.pathname.replace(/\/+$/, '').replace(/\/api\/dashboard$/, '');
  return `${url.origin}${pathname}`;
}

/** Writes the config file, mode 0600, in a directory made 0700 if it did not exist. */
export function saveConfig(file: string, config: SavedConfig): void {
  const dir = path.dirname(file);
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const temporary = path.join(dir, `.${path.basename(file)}.${process.pid}.tmp`);
  try {
    // `wx`: never write through a file (or a symlink) someone else put at the temporary name.
    fs.writeFileSync(temporary, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
    fs.chmodSync(temporary, 0o600); // the mode given to open() is reduced by the umask, never widened: make sure
    fs.renameSync(temporary, file);
  } catch (err) {
    fs.rmSync(temporary, { force: true });
    throw new CliError(`cannot write ${file}: ${(err as Error).message}`);
  }
}
