// The replay guard: every recorded history (test/fixtures/histories, written by
// scripts/record-histories.ts) must replay against the current workflow code. A change that would
// make a running request's workflow take a different path than its history (an activity added,
// removed or reordered, a timer changed, ...) fails here with a DeterminismViolationError instead
// of breaking requests in flight after a deploy. Intended changes: see README "Workflow changes".
import { Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { beforeAll, describe, expect, it } from 'vitest';
import { replayDataConverter, testDataConverter } from '../support/codec.js';
import { readHistoryFixtures, type HistoryFixture } from '../support/history-fixtures.js';
import { bundleChiffonWorkflows, installQuietRuntime } from '../support/workflow-env.js';

let workflowBundle: WorkflowBundleWithSourceMap;
const fixtures: HistoryFixture[] = readHistoryFixtures();

beforeAll(async () => {
  installQuietRuntime();
  // CHIFFON_REPLAY_WORKFLOWS_PATH: replay against another copy of the workflows' entry point instead
  // of workers/worker.ts's (e.g. a scratch copy with a deliberately non-deterministic change, to see
  // this guard fail).
  workflowBundle = await bundleChiffonWorkflows(process.env.CHIFFON_REPLAY_WORKFLOWS_PATH || undefined);
});

describe('replay guard', () => {
  it('has the representative histories', () => {
    expect(fixtures.map((f) => f.name)).toEqual(
      expect.arrayContaining([
        'happy',
        'sealed',
        'failed',
        'rejected',
        'expired',
        'paused-then-resumed',
        'operator-resumed',
        'cancelled-running',
        'retried',
        'unplannable',
        'short-step-path',
        'scheduled-approved-standing',
        'scheduled-standing',
        'held-by-agent',
        'held-then-resumed',
      ]),
    );
  });

  it('replays a history with sealed payloads through the codec, which refuses one in clear', async () => {
    const byName = (name: string) => fixtures.find((f) => f.name === name)!;
    const text = JSON.stringify(byName('sealed').history);
    expect(text).toContain(Buffer.from('binary/encrypted').toString('base64'));
    expect(text).not.toContain(Buffer.from('Deploy Kuma').toString('base64').slice(0, 12));
    const replay = (name: string) =>
      Worker.runReplayHistory(
        { workflowBundle, replayName: 'chiffon-replay-sealed', dataConverter: testDataConverter },
        byName(name).history,
        `request-fixture-${name}`,
      );
    await expect(replay('sealed')).resolves.toBeUndefined();
    // The strict codec (what the workers run) refuses the unsealed payloads of an older history.
    await expect(replay('happy')).rejects.toThrow(/refused: not sealed/);
  });

  it('replays every recorded history against the current workflow code without a determinism error', async () => {
    const failures: string[] = [];
    let replayed = 0;
    const results = Worker.runReplayHistories(
      // Sealed with the test key (histories recorded since payloads are sealed) or not at all (before).
      { workflowBundle, replayName: 'chiffon-replay-guard', dataConverter: replayDataConverter },
      fixtures.map(({ name, history }) => ({ workflowId: `request-fixture-${name}`, history })),
    );
    for await (const result of results) {
      replayed += 1;
      if (result.error) failures.push(`${result.workflowId}: ${result.error.name}: ${result.error.message}`);
    }
    expect(failures).toEqual([]); // each entry: a history that no longer replays, and why
    expect(replayed).toBe(fixtures.length);
  });
});
