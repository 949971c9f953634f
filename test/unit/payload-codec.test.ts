import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import { afterEach, describe, expect, it } from 'vitest';
import {
  KEY_ID_METADATA,
  loadCodecKeys,
  newCodecKeyEntry,
  parseCodecKeys,
  SealingCodec,
  SEALED_ENCODING,
} from '../../lib/payload-codec.js';
import { ownSecretValues } from '../../lib/child-env.js';

const value = { step: 'kuma', vars: { admin_password: 'hunter2-not-in-clear' } };
const plain = () => defaultPayloadConverter.toPayload(value);
const text = (bytes: Uint8Array | null | undefined) => Buffer.from(bytes ?? []).toString('utf8');

async function sealOne(codec: SealingCodec, payload: Payload = plain()): Promise<Payload> {
  const [sealed] = await codec.encode([payload]);
  return sealed!;
}

async function openOne(codec: SealingCodec, payload: Payload): Promise<unknown> {
  const [opened] = await codec.decode([payload]);
  return defaultPayloadConverter.fromPayload(opened!);
}

describe('the payload codec', () => {
  const codec = new SealingCodec(parseCodecKeys(newCodecKeyEntry('k1'), 'test'));

  it('seals a payload so that none of it is readable, names the key, and opens it again', async () => {
    const sealed = await sealOne(codec);
    expect(text(sealed.metadata?.encoding)).toBe(SEALED_ENCODING);
    expect(text(sealed.metadata?.[KEY_ID_METADATA])).toBe('k1');
    expect(text(sealed.data)).not.toContain('hunter2');
    expect(text(sealed.data)).not.toContain('json/plain');
    expect(await openOne(codec, sealed)).toEqual(value);
    // A fresh IV each time: the same value never seals to the same bytes.
    expect(Buffer.from((await sealOne(codec)).data!).equals(Buffer.from(sealed.data!))).toBe(false);
  });

  it('refuses a payload it did not seal, so converting it fails with the reason', async () => {
    await expect(openOne(codec, plain())).rejects.toThrow('refused: not sealed with a Chiffon payload key');
    // ...unless told to let unsealed ones through (the replay guard's old histories).
    expect(await openOne(new SealingCodec(parseCodecKeys(newCodecKeyEntry('k1'), 'test'), { acceptUnsealed: true }), plain())).toEqual(
      value,
    );
  });

  it('refuses a payload sealed with a key it lacks, or altered in any byte (data or key id)', async () => {
    const other = new SealingCodec(parseCodecKeys(newCodecKeyEntry('k1'), 'test'));
    await expect(openOne(codec, await sealOne(other))).rejects.toThrow('does not open with key k1');
    await expect(openOne(codec, await sealOne(new SealingCodec(parseCodecKeys(newCodecKeyEntry('k9'), 'test'))))).rejects.toThrow(
      'sealed with key "k9"',
    );

    const sealed = await sealOne(codec);
    const flipped = Buffer.from(sealed.data!);
    flipped[20] = flipped[20]! ^ 1;
    await expect(openOne(codec, { ...sealed, data: flipped })).rejects.toThrow('altered');
    await expect(openOne(codec, { ...sealed, data: Buffer.alloc(10) })).rejects.toThrow('too short');
  });

  it('rotates: the first key seals, every listed key opens', async () => {
    const [oldEntry, newEntry] = [newCodecKeyEntry('old'), newCodecKeyEntry('new')];
    const before = new SealingCodec(parseCodecKeys(oldEntry, 'test'));
    const after = new SealingCodec(parseCodecKeys(`${newEntry}\n${oldEntry}`, 'test'));
    const sealedBefore = await sealOne(before);
    expect(await openOne(after, sealedBefore)).toEqual(value);
    const sealedAfter = await sealOne(after);
    expect(text(sealedAfter.metadata?.[KEY_ID_METADATA])).toBe('new');
    await expect(openOne(before, sealedAfter)).rejects.toThrow('sealed with key "new"');
  });
});

describe('payload keys', () => {
  let dir: string | undefined;
  afterEach(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });

  it('reads entries from lines or commas, with comments, and says what is wrong with a bad one', () => {
    const [a, b] = [newCodecKeyEntry('a'), newCodecKeyEntry('b')];
    expect(parseCodecKeys(`# keys\n${a}  # current\n\n${b}\n`, 'f').map((k) => k.id)).toEqual(['a', 'b']);
    expect(parseCodecKeys(`${a},${b}`, 'f').map((k) => k.id)).toEqual(['a', 'b']);
    expect(() => parseCodecKeys('', 'the file')).toThrow('the file: no key');
    expect(() => parseCodecKeys('a', 'f')).toThrow('f, entry 1: expected <key id>:<base64 key>');
    expect(() => parseCodecKeys(`a:${Buffer.alloc(16).toString('base64')}`, 'f')).toThrow(
      'must be 32 bytes in base64 (openssl rand -base64 32), not 16',
    );
    expect(() => parseCodecKeys(`${a},${a}`, 'f')).toThrow('appears twice');
    expect(() => parseCodecKeys(`bad id:${Buffer.alloc(32).toString('base64')}`, 'f')).toThrow('key id');
  });

  it('creates the key file once, 0600, and every later load (or a second process) gets the same key', async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chiffon-keys-'));
    const codecKeyFile = path.join(dir, 'sub', 'codec.keys');
    const [first, concurrent] = await Promise.all([
      loadCodecKeys({ codecKeys: undefined, codecKeyFile }),
      loadCodecKeys({ codecKeys: undefined, codecKeyFile }),
    ]);
    expect(fs.statSync(codecKeyFile).mode & 0o777).toBe(0o600);
    expect(concurrent[0].key.equals(first[0].key)).toBe(true);
    const again = await loadCodecKeys({ codecKeys: undefined, codecKeyFile });
    expect(again[0].key.equals(first[0].key)).toBe(true);
    // CHIFFON_CODEC_KEYS wins over the file.
    const inline = newCodecKeyEntry('inline');
    expect((await loadCodecKeys({ codecKeys: inline, codecKeyFile }))[0].id).toBe('inline');
  });

  it('are Chiffon secrets: never given to Ansible, and each key is hidden by the redactor', () => {
    const [a, b] = [newCodecKeyEntry('a'), newCodecKeyEntry('b')];
    const secrets = ownSecretValues({ CHIFFON_CODEC_KEYS: `${a},${b}` });
    expect(secrets).toEqual(expect.arrayContaining([a.slice(2), b.slice(2)]));
  });
});
