// The embedded PostgreSQL's password: random, made with its data directory and kept in a 0600 file
// beside it; a data directory from before (the fixed password) gets a random one at its next start.
import fs from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, expect, it } from 'vitest';
import { startEmbeddedPostgres } from '../../lib/database.js';
import { startOnFreePorts } from '../../lib/ports.js';

const root = fs.mkdtempSync(path.join(tmpdir(), 'chiffon-embedded-pg-'));
// The embedded server runs as the user `postgres` when the tests run as root: it must reach its folder.
fs.chmodSync(root, 0o755);
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

const dataDir = path.join(root, 'postgres');
const passwordFile = path.join(root, 'postgres.password');
const start = () => startOnFreePorts(1, ([port]) => startEmbeddedPostgres({ dataDir, port: port!, database: 'chiffon' }));

async function connects(url: string, password?: string): Promise<boolean> {
  const target = new URL(url);
  if (password !== undefined) target.password = password;
  const client = new pg.Client({ connectionString: target.toString(), connectionTimeoutMillis: 5_000 });
  client.on('error', () => {});
  try {
    await client.connect();
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

it(
  'makes a random password with the data directory, keeps it 0600, and replaces the fixed one of older directories',
  { timeout: 180_000 },
  async () => {
    const first = await start();
    try {
      const password = fs.readFileSync(passwordFile, 'utf8').trim();
      expect(password).toMatch(/^[A-Za-z0-9_-]{32}$/);
      expect(fs.statSync(passwordFile).mode & 0o777).toBe(0o600);
      expect(decodeURIComponent(new URL(first.url).password)).toBe(password);
      expect(await connects(first.url)).toBe(true);
      expect(await connects(first.url, 'chiffon')).toBe(false);
      // Back to how directories were made before: the fixed password, no file.
      const client = new pg.Client({ connectionString: first.url });
      await client.connect();
      await client.query("ALTER USER postgres PASSWORD 'chiffon'");
      await client.end();
    } finally {
      await first.stop();
    }
    fs.rmSync(passwordFile);

    const second = await start();
    try {
      const rotated = fs.readFileSync(passwordFile, 'utf8').trim();
      expect(rotated).toMatch(/^[A-Za-z0-9_-]{32}$/);
      expect(await connects(second.url)).toBe(true);
      expect(await connects(second.url, 'chiffon')).toBe(false);
    } finally {
      await second.stop();
    }
  },
);
