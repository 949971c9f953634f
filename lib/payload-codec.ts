// Every payload Chiffon hands to Temporal (workflow input, Update arguments and results, activity
// input and output, query answers) is sealed with AES-256-GCM before it leaves
// the process, so the Temporal server, its database, the Web UI and `temporal workflow show` see
// ciphertext only. A payload that was not sealed with one of the keys is refused when it is opened:
// an Update sent to the Temporal frontend by someone without the key (e.g. a forged decision with
// any approver name) fails its argument conversion, so the workflow rejects it and runs nothing.
//
// Keys: lines of `<key id>:<32 bytes in base64>` (a file, CHIFFON_CODEC_KEY_FILE, by default
// .data/codec.keys, created with one random key on first start; or CHIFFON_CODEC_KEYS inline, the
// lines separated by commas). The first key seals; every key opens. To rotate, put a new key first
// and keep the old ones for as long as histories sealed with them are kept.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { link, mkdir, readFile, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { METADATA_ENCODING_KEY, type DataConverter, type Payload, type PayloadCodec } from '@temporalio/common';
import proto from '@temporalio/proto';

const { Payload: PayloadMessage } = proto.temporal.api.common.v1;

export const SEALED_ENCODING = 'binary/encrypted';
export const KEY_ID_METADATA = 'encryption-key-id';
/** What an unopenable payload becomes: no payload converter knows it, so converting it fails with its name. */
export const REFUSED_ENCODING_PREFIX = 'refused: ';

const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const KEY_ID = /^[A-Za-z0-9._-]{1,64}$/;

export interface CodecKey {
  id: string;
  key: Buffer;
}

/** The sealing key first; all of them open. */
export type CodecKeys = [CodecKey, ...CodecKey[]];

/** Reads `<id>:<base64>` entries (one a line, or comma-separated; `#` starts a comment). `source` names where they came from in errors. */
export function parseCodecKeys(text: string, source: string): CodecKeys {
  const keys: CodecKey[] = [];
  const entries = text
    .split('\n')
    .flatMap((line) => line.replace(/#.*/, '').split(','))
    .map((entry) => entry.trim())
    .filter(Boolean);
  for (const [index, entry] of entries.entries()) {
    const where = `${source}, entry ${index + 1}`;
    const separator = entry.indexOf(':');
    if (separator < 0) throw new Error(`${where}: expected <key id>:<base64 key>`);
    const id = entry.slice(0, separator).trim();
    const key = Buffer.from(entry.slice(separator + 1).trim(), 'base64');
    if (!KEY_ID.test(id)) throw new Error(`${where}: the key id must be 1-64 letters, digits, . _ or -`);
    if (key.length !== KEY_BYTES)
      throw new Error(`${where} (key ${id}): the key must be ${KEY_BYTES} bytes in base64 (openssl rand -base64 32), not ${key.length}`);
    if (keys.some((k) => k.id === id)) throw new Error(`${where}: the key id ${id} appears twice`);
    keys.push({ id, key });
  }
  const [first, ...rest] = keys;
  if (!first) throw new Error(`${source}: no key (expected lines of <key id>:<base64 key>)`);
  return [first, ...rest];
}

/** A fresh key entry, as `parseCodecKeys` reads it. */
export function newCodecKeyEntry(id = `k${new Date().toISOString().slice(0, 10).replaceAll('-', '')}`): string {
  return `${id}:${randomBytes(KEY_BYTES).toString('base64')}`;
}

export interface CodecKeySettings {
  /** CHIFFON_CODEC_KEYS: the entries inline (they win over the file). */
  codecKeys: string | undefined;
  /** CHIFFON_CODEC_KEY_FILE: the key file, created with one random key when missing. */
  codecKeyFile: string;
  /** CHIFFON_CODEC_ACCEPT_UNSEALED: let unsealed payloads through (lib/config.ts says when). */
  codecAcceptUnsealed?: boolean;
}

/** The keys from the environment, else from the key file (made 0600 with one fresh key if absent). */
export async function loadCodecKeys({ codecKeys, codecKeyFile }: CodecKeySettings): Promise<CodecKeys> {
  if (codecKeys) return parseCodecKeys(codecKeys, 'CHIFFON_CODEC_KEYS');
  try {
    return parseCodecKeys(await readFile(codecKeyFile, 'utf8'), codecKeyFile);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  await mkdir(path.dirname(codecKeyFile), { recursive: true });
  const header = '# Chiffon payload keys (lib/payload-codec.ts): the first seals, all open. Every API and worker needs this file.\n';
  // Written aside, then linked into place: another process of this checkout starting at the same
  // moment either wins (EEXIST: we use its key) or finds the whole file, never half of it.
  const draft = `${codecKeyFile}.${process.pid}.${randomBytes(4).toString('hex')}`;
  await writeFile(draft, `${header}${newCodecKeyEntry()}\n`, { mode: 0o600, flag: 'wx' });
  try {
    await link(draft, codecKeyFile);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  } finally {
    await unlink(draft);
  }
  return parseCodecKeys(await readFile(codecKeyFile, 'utf8'), codecKeyFile);
}

export interface SealingCodecOptions {
  /** Let payloads that were never sealed through (histories from before payloads were sealed). */
  acceptUnsealed?: boolean;
}

/** Whether `payload` is one a SealingCodec sealed (or claims to be). */
export function isSealed(payload: Payload): boolean {
  return text(payload.metadata?.[METADATA_ENCODING_KEY]) === SEALED_ENCODING;
}

/** AES-256-GCM over the whole serialized payload; the key id is in the metadata and bound as associated data. */
export class SealingCodec implements PayloadCodec {
  private readonly byId: Map<string, Buffer>;

  constructor(
    private readonly keys: CodecKeys,
    private readonly options: SealingCodecOptions = {},
  ) {
    this.byId = new Map(keys.map((k) => [k.id, k.key]));
  }

  async encode(payloads: Payload[]): Promise<Payload[]> {
    const { id, key } = this.keys[0];
    return payloads.map((payload) => {
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', key, iv);
      cipher.setAAD(Buffer.from(id));
      const sealed = Buffer.concat([iv, cipher.update(PayloadMessage.encode(payload).finish()), cipher.final(), cipher.getAuthTag()]);
      return { metadata: { [METADATA_ENCODING_KEY]: utf8(SEALED_ENCODING), [KEY_ID_METADATA]: utf8(id) }, data: sealed };
    });
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => this.open(payload));
  }

  private open(payload: Payload): Payload {
    if (!isSealed(payload)) return this.options.acceptUnsealed ? payload : refused('not sealed with a Chiffon payload key');
    const id = text(payload.metadata?.[KEY_ID_METADATA]) ?? '';
    const key = this.byId.get(id);
    if (!key) return refused(`sealed with key ${JSON.stringify(id)}, which this process does not have (CHIFFON_CODEC_KEY_FILE)`);
    const data = Buffer.from(payload.data ?? []);
    if (data.length < IV_BYTES + TAG_BYTES) return refused('sealed payload too short');
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, data.subarray(0, IV_BYTES));
      decipher.setAAD(Buffer.from(id));
      decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
      const plain = Buffer.concat([decipher.update(data.subarray(IV_BYTES, data.length - TAG_BYTES)), decipher.final()]);
      return PayloadMessage.decode(plain) as Payload;
    } catch {
      return refused(`does not open with key ${id}: altered, or sealed with another key of that id`);
    }
  }
}

/**
 * The data converter of every Chiffon client and worker: payloads sealed by `codec`. (Failure
 * messages stay readable: they are redacted text, and the UI shows them as they are.)
 */
export function sealingDataConverter(codec: PayloadCodec): DataConverter {
  return { payloadCodecs: [codec] };
}

/** The codec of this process, from its configuration (the key file is created on first start). */
export async function loadPayloadCodec(settings: CodecKeySettings): Promise<SealingCodec> {
  return new SealingCodec(await loadCodecKeys(settings), { acceptUnsealed: settings.codecAcceptUnsealed ?? false });
}

function refused(reason: string): Payload {
  return { metadata: { [METADATA_ENCODING_KEY]: utf8(`${REFUSED_ENCODING_PREFIX}${reason}`) }, data: new Uint8Array() };
}

function utf8(value: string): Uint8Array {
  return Buffer.from(value, 'utf8');
}

function text(bytes: Uint8Array | null | undefined): string | undefined {
  return bytes ? Buffer.from(bytes).toString('utf8') : undefined;
}
