// The capacity guard on a real PostgreSQL: the agent reporter's row (pressure, load, memory, running
// steps), checkCapacity reading it, and the wake of paused requests (the requests table's `paused`
// rows get the capacityChanged signal when the agent has room again). The machine's figures come from
// the test and the Temporal client is a recorder, so every step is driven by the test (tick()), never
// by a timer.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createCapacityActivities } from '../../activities/capacity.js';
import { loadConfig, type ChiffonConfig } from '../../lib/config.js';
import { runningSteps } from '../../services/running-steps.js';
import { readPressure } from '../../services/machine.js';
import { agentIdFor, sampleAgent, startAgentReporter, type AgentReporter, type AgentSample } from '../../workers/agent-reporter.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';

let database: TestDatabase;
const reporters: AgentReporter[] = [];

beforeAll(async () => {
  database = await createTestDatabase();
});

afterEach(async () => {
  for (const reporter of reporters.splice(0)) await reporter.stop();
  await database.prisma.request.deleteMany();
});

afterAll(async () => {
  await database?.drop();
});

/** An agent of its own per test: its own name (runningSteps is per process) and task queue. */
function agentConfig(): ChiffonConfig {
  const suffix = randomBytes(4).toString('hex');
  return { ...loadConfig({}), taskQueue: `reporter-${suffix}`, workerHost: `agent-${suffix}`, maxConcurrentSteps: 4 };
}

const AT_EASE: AgentSample = {
  cpuCount: 2,
  loadAverage1: 0.2,
  cpuPressure10: 1,
  memoryPressure10: 0,
  memoryFreeMb: 8000,
  memoryTotalMb: 16000,
  runningSteps: 0,
};

/** A Temporal client that records the signals (by workflow id); `gone` ones answer "not found", `failing` ones fail. */
function recordingClient() {
  const signalled: string[] = [];
  const attempts: string[] = [];
  const gone = new Set<string>();
  const failing = new Set<string>();
  const client = {
    workflow: {
      getHandle: (workflowId: string) => ({
        async signal(definition: { name: string }) {
          attempts.push(workflowId);
          if (gone.has(workflowId)) throw new WorkflowNotFoundError('workflow execution already completed', workflowId, undefined);
          if (failing.has(workflowId)) throw new Error('unavailable');
          expect(definition.name).toBe('capacityChanged');
          signalled.push(workflowId);
        },
      }),
    },
  } as unknown as Client;
  /** The signals since the last call, sorted. */
  const taken = () => signalled.splice(0).sort();
  return { client, taken, attempts, gone, failing };
}

async function startReporter(config: ChiffonConfig, sample: () => AgentSample, client?: Client): Promise<AgentReporter> {
  // The timer never fires during a test: the test ticks.
  const reporter = startAgentReporter(database.prisma, config, client, { sample, sampleEveryMs: 3_600_000 });
  reporters.push(reporter);
  await reporter.idle();
  return reporter;
}

async function request(id: string, status: string): Promise<void> {
  await database.prisma.request.upsert({
    where: { id },
    create: { id, workflowId: `wf-${id}`, message: 'test', status, intents: [] },
    update: { status },
  });
}

describe('the agent row', () => {
  it('holds the pressure figures and limits, and checkCapacity judges by them', async () => {
    const config = { ...agentConfig(), maxCpuPressure: 80, maxMemoryPressure: 40, maxLoadPerCpu: 2 };
    let figures: AgentSample = { ...AT_EASE, runningSteps: 1, cpuPressure10: 95.5, memoryPressure10: 2.25, loadAverage1: 0.1 };
    const reporter = await startReporter(config, () => figures);
    const { checkCapacity } = createCapacityActivities(config, database.prisma);
    const id = agentIdFor(config);

    expect(await database.prisma.agent.findUniqueOrThrow({ where: { id } })).toMatchObject({
      name: config.workerHost,
      taskQueue: config.taskQueue,
      cpuPressure10: 95.5,
      memoryPressure10: 2.25,
      maxCpuPressure: 80,
      maxMemoryPressure: 40,
      runningSteps: 1,
      maxSteps: 4,
    });
    // High CPU pressure while it runs a step: the request pauses (the agent holds the step), and the reason says why.
    expect(await checkCapacity(config.workerHost)).toEqual({
      ok: false,
      wait: 'overloaded',
      reason: `no agent has room: ${id}: CPU pressure 95.5% (some avg10) is above 80% while it runs 1 step`,
    });

    // The load average still says "overloaded" (a minute late); the pressure says the load is gone.
    figures = { ...figures, cpuPressure10: 3, loadAverage1: 50 };
    await reporter.tick();
    expect(await checkCapacity(config.workerHost)).toEqual({ ok: true });

    // No pressure figures (an older kernel): the load average counts.
    figures = { ...figures, cpuPressure10: null, memoryPressure10: null };
    await reporter.tick();
    expect(await database.prisma.agent.findUniqueOrThrow({ where: { id } })).toMatchObject({ cpuPressure10: null, memoryPressure10: null });
    expect(await checkCapacity(config.workerHost)).toMatchObject({
      ok: false,
      reason: expect.stringContaining('load 25.00 per CPU is above 2'),
    });
    expect(await checkCapacity()).toMatchObject({ ok: false }); // the shared queue's only agent

    // The same machine running nothing: never held back.
    figures = { ...figures, runningSteps: 0, cpuPressure10: 100, memoryFreeMb: 1 };
    await reporter.tick();
    expect(await checkCapacity(config.workerHost)).toEqual({ ok: true });

    // Stopped: offline at once, and its steps wait for it.
    await reporter.stop();
    expect(await checkCapacity(config.workerHost)).toMatchObject({ ok: false, wait: 'offline' });
  });

  it('is read from this machine: pressure where the kernel has it, null where not', async () => {
    const sample = sampleAgent({ workerHost: 'nobody' });
    for (const figure of [sample.cpuPressure10, sample.memoryPressure10]) {
      expect(figure === null || (typeof figure === 'number' && figure >= 0 && figure <= 100)).toBe(true);
    }
    expect(sample.cpuPressure10).toBe(readPressure('cpu') ?? null);
    expect(sample.runningSteps).toBe(0);
    expect(sample.cpuCount).toBeGreaterThan(0);

    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chiffon-pressure-'));
    try {
      fs.writeFileSync(
        path.join(dir, 'cpu'),
        'some avg10=42.00 avg60=10.00 avg300=3.00 total=123\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n',
      );
      fs.mkdirSync(path.join(dir, 'memory')); // unreadable as a file, as with psi=0
      expect(readPressure('cpu', dir)).toBe(42);
      expect(readPressure('memory', dir)).toBeUndefined();
      expect(readPressure('cpu', path.join(dir, 'absent'))).toBeUndefined();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('waking paused requests', () => {
  const overloaded: AgentSample = { ...AT_EASE, runningSteps: 2, cpuPressure10: 97 };

  it('signals every paused request when the agent has room again, once per pause', async () => {
    const config = agentConfig();
    const { client, taken } = recordingClient();
    await Promise.all([request('p1', 'paused'), request('p2', 'paused'), request('r1', 'running'), request('c1', 'completed')]);
    let figures = overloaded;
    const reporter = await startReporter(config, () => figures, client);
    expect(taken()).toEqual([]); // overloaded while it runs steps: nothing to wake

    figures = { ...overloaded, cpuPressure10: 12 }; // the pressure is gone, its steps still run
    await reporter.tick();
    expect(taken()).toEqual(['wf-p1', 'wf-p2']);
    await reporter.tick();
    expect(taken()).toEqual([]); // not again while the room lasts

    // A request that paused on a reading from before the room came: woken at the next reading.
    await request('p3', 'paused');
    await reporter.tick();
    expect(taken()).toEqual(['wf-p3']);

    // Overloaded again, then room again: the same pauses are not signalled twice (a request that
    // stayed paused re-checks on its own; one whose agent holds its step needs no signal).
    figures = overloaded;
    await reporter.tick();
    figures = AT_EASE;
    await reporter.tick();
    expect(taken()).toEqual([]);

    // One that went on and paused again later (for another agent) is woken again, once.
    await request('p1', 'running');
    await reporter.tick();
    await request('p1', 'paused');
    await reporter.tick();
    expect(taken()).toEqual(['wf-p1']);
  });

  it('wakes them the moment its last step ends, however loaded the machine', async () => {
    const config = agentConfig();
    const { client, taken } = recordingClient();
    await request('p1', 'paused');
    // The machine stays under full CPU pressure throughout (a neighbour's load); only the steps change.
    const reporter = await startReporter(
      config,
      () => ({ ...overloaded, cpuPressure10: 100, runningSteps: runningSteps.count(config.workerHost) }),
      client,
    );
    expect(taken()).toEqual(['wf-p1']); // idle at start: room
    await request('p1', 'running');
    await reporter.tick();

    let finish!: () => void;
    const step = runningSteps.track(config.workerHost, () => new Promise<void>((resolve) => (finish = resolve)));
    await reporter.idle(); // the step's start was reported without a tick of the test's
    const row = () => database.prisma.agent.findUniqueOrThrow({ where: { id: agentIdFor(config) } });
    expect((await row()).runningSteps).toBe(1);
    await request('p1', 'paused'); // it checked while the step ran, and paused
    await reporter.tick();
    expect(taken()).toEqual([]);

    finish();
    await step;
    await reporter.idle(); // the step's end: reported and the paused request woken, by the reporter itself
    expect((await row()).runningSteps).toBe(0);
    expect(taken()).toEqual(['wf-p1']);
  });

  it('does not try an ended workflow again, and tries a failed signal again at the next reading', async () => {
    const config = agentConfig();
    const { client, taken, attempts, gone, failing } = recordingClient();
    gone.add('wf-ended');
    failing.add('wf-flaky');
    await Promise.all([request('ended', 'paused'), request('flaky', 'paused'), request('p1', 'paused')]);
    const reporter = await startReporter(config, () => AT_EASE, client);
    expect(taken()).toEqual(['wf-p1']);
    expect(attempts.splice(0).sort()).toEqual(['wf-ended', 'wf-flaky', 'wf-p1']);

    failing.delete('wf-flaky');
    await reporter.tick();
    expect(taken()).toEqual(['wf-flaky']);
    expect(attempts.splice(0)).toEqual(['wf-flaky']);
  });

  it('wakes nothing without a Temporal client, and reports all the same', async () => {
    const config = agentConfig();
    await request('p1', 'paused');
    await startReporter(config, () => AT_EASE);
    expect(await database.prisma.agent.count({ where: { id: agentIdFor(config) } })).toBe(1);
  });
});
