// Where `chiffon` finds the API and its token (cli/settings.ts): the environment wins over the config
// file `chiffon login` writes, and that file, which holds a token, is 0600 in a 0700 directory.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { configPath, DEFAULT_URL, loadSettings, normalizeUrl, saveConfig } from '../../cli/settings.js';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chiffon-cli-settings-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const mode = (file: string) => fs.statSync(file).mode & 0o777;

describe('configPath', () => {
  it('is CHIFFON_CONFIG, else under XDG_CONFIG_HOME, else under ~/.config', () => {
    expect(configPath({ CHIFFON_CONFIG: '/etc/x.json', XDG_CONFIG_HOME: '/xdg', HOME: '/home/a' })).toBe('/etc/x.json');
    expect(configPath({ XDG_CONFIG_HOME: '/xdg', HOME: '/home/a' })).toBe('/xdg/chiffon/config.json');
    expect(configPath({ HOME: '/home/a' })).toBe('/home/a/.config/chiffon/config.json');
  });
});

describe('loadSettings', () => {
  it('takes each of CHIFFON_URL and CHIFFON_TOKEN over the file, the file over the default', () => {
    const file = path.join(dir, 'config.json');
    expect(loadSettings({ CHIFFON_CONFIG: file })).toEqual({ url: DEFAULT_URL, token: undefined, configPath: file });
    saveConfig(file, { url: 'http://nas.lan:3000', token: 'chf_from_file' });
    expect(loadSettings({ CHIFFON_CONFIG: file })).toMatchObject({ url: 'http://nas.lan:3000', token: 'chf_from_file' });
    expect(loadSettings({ CHIFFON_CONFIG: file, CHIFFON_TOKEN: 'chf_from_env' })).toMatchObject({
      url: 'http://nas.lan:3000',
      token: 'chf_from_env',
    });
    expect(loadSettings({ CHIFFON_CONFIG: file, CHIFFON_URL: 'http://127.0.0.1:4000/' })).toMatchObject({
      url: 'http://127.0.0.1:4000',
      token: 'chf_from_file',
    });
    // An empty variable is no setting (as `CHIFFON_TOKEN= chiffon ...` means).
    expect(loadSettings({ CHIFFON_CONFIG: file, CHIFFON_TOKEN: '', CHIFFON_URL: '' })).toMatchObject({
      url: 'http://nas.lan:3000',
      token: 'chf_from_file',
    });
  });

  it('refuses a config file that is not JSON (exit 2) instead of ignoring it', () => {
    const file = path.join(dir, 'config.json');
    fs.writeFileSync(file, 'url=http://x');
    expect(() => loadSettings({ CHIFFON_CONFIG: file })).toThrow(expect.objectContaining({ exitCode: 2 }));
  });
});

describe('normalizeUrl', () => {
  it('takes the origin with or without a trailing slash or /api/dashboard, and refuses what is not http(s)', () => {
    expect(normalizeUrl('http://127.0.0.1:3000/')).toBe('http://127.0.0.1:3000');
    expect(normalizeUrl('https://chiffon.lan/api/dashboard/')).toBe('https://chiffon.lan');
    expect(normalizeUrl('http://lan/chiffon')).toBe('http://lan/chiffon');
    expect(() => normalizeUrl('ftp://x')).toThrow(/not an http/);
    expect(() => normalizeUrl('nas:3000:x')).toThrow();
  });
});

describe('saveConfig', () => {
  it('creates the file 0600 and its directory 0700, whatever the umask', () => {
    const file = path.join(dir, 'xdg', 'chiffon', 'config.json');
    const previous = process.umask(0);
    try {
      saveConfig(file, { url: 'http://127.0.0.1:3000', token: 'chf_abc' });
    } finally {
      process.umask(previous);
    }
    expect(mode(file)).toBe(0o600);
    expect(mode(path.dirname(file))).toBe(0o700);
    expect(JSON.parse(fs.readFileSync(file, 'utf8'))).toEqual({ url: 'http://127.0.0.1:3000', token: 'chf_abc' });
    expect(fs.readdirSync(path.dirname(file))).toEqual(['config.json']);
  });

  it('replaces a file that others could read with a 0600 one', () => {
    const file = path.join(dir, 'config.json');
    fs.writeFileSync(file, '{"url": "http://old", "token": "old"}', { mode: 0o644 });
    fs.chmodSync(file, 0o644);
    saveConfig(file, { url: 'http://new:3000', token: 'chf_new' });
    expect(mode(file)).toBe(0o600);
    expect(loadSettings({ CHIFFON_CONFIG: file })).toMatchObject({ url: 'http://new:3000', token: 'chf_new' });
  });
});
