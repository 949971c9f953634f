// The payload keys of the test suite (lib/payload-codec.ts): one fixed key, so the recorded histories
// of test/fixtures/histories open in every run, and the workers the tests start as processes get it
// as CHIFFON_CODEC_KEYS. A test key, never a deployment's.
import type { Payload } from '@temporalio/common';
import { KEY_ID_METADATA, parseCodecKeys, SealingCodec, sealingDataConverter } from '../../lib/payload-codec.js';

export const TEST_CODEC_KEYS = `test-1:${Buffer.alloc(32, 'chiffon test payload key').toString('base64')}`;

export const testCodec = new SealingCodec(parseCodecKeys(TEST_CODEC_KEYS, 'test/support/codec.ts'));

export const testDataConverter = sealingDataConverter(testCodec);

/** The replay guard's: the test key, and the histories recorded before payloads were sealed. */
export const replayDataConverter = sealingDataConverter(
  new SealingCodec(parseCodecKeys(TEST_CODEC_KEYS, 'test/support/codec.ts'), { acceptUnsealed: true }),
);

/**
 * Opens, in place, every sealed payload in `value` (a history as fetchHistory() gives it, or a part
 * of one), for a test that reads what the workflow was given. Returns `value`.
 */
export async function openPayloadsIn<T>(value: T): Promise<T> {
  const visit = async (node: unknown): Promise<void> => {
    if (!node || typeof node !== 'object' || node instanceof Uint8Array) return;
    if (Array.isArray(node)) {
      for (const item of node) await visit(item);
      return;
    }
    const record = node as Record<string, unknown>;
    const metadata = record.metadata as Record<string, Uint8Array> | undefined;
    if (metadata?.[KEY_ID_METADATA] instanceof Uint8Array) {
      const [opened] = await testCodec.decode([record as Payload]);
      record.metadata = opened!.metadata;
      record.data = opened!.data;
      return;
    }
    for (const child of Object.values(record)) await visit(child);
  };
  await visit(value);
  return value;
}
