// The replay guard's fixtures (test/fixtures/histories/<name>.json): written by
// scripts/record-histories.ts, replayed by test/workflow/replay.test.ts.
//
// A fixture is the History message's own JSON (what JSON.stringify gives for the History that
// handle.fetchHistory() returns: protobufjs toJSON, int64 as strings, enums by name, bytes in base64)
// and is read back with History.fromObject into a real History message for Worker.runReplayHistories.
// The SDK's historyToJSON/historyFromJSON (the CLI's proto3 JSON) would be the usual choice, but in
// this install they throw "type must be a Type": @temporalio/common and @temporalio/proto each got
// their own nested copy of protobufjs 8 (the hoisted one is 7, for @grpc/proto-loader), and
// protojson checks `instanceof Type` against the other copy.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { History } from '@temporalio/common/lib/proto-utils.js';
import proto, { type temporal } from '@temporalio/proto';
import { fromProjectRoot } from '../../lib/paths.js';

// A CommonJS module: its namespace is reached through the default import under ESM.
const { History: HistoryMessage } = proto.temporal.api.history.v1;

export const historiesDir = fromProjectRoot('test', 'fixtures', 'histories');

export function historyFixtureText(history: History): string {
  // fromObject returns a History message as is, and makes one of a plain object; its toJSON gives
  // the readable form.
  const message = HistoryMessage.fromObject(history);
  return `${JSON.stringify(message.toJSON(), null, 2)}\n`;
}

export interface HistoryFixture {
  /** The file name without .json (also used as the workflow id during replay). */
  name: string;
  history: temporal.api.history.v1.History;
}

export function readHistoryFixtures(dir = historiesDir): HistoryFixture[] {
  return readdirSync(dir)
    .filter((file) => file.endsWith('.json'))
    .sort()
    .map((file) => ({
      name: path.basename(file, '.json'),
      history: HistoryMessage.fromObject(JSON.parse(readFileSync(path.join(dir, file), 'utf8'))),
    }));
}
