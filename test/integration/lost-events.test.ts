// A PostgreSQL outage during a step loses no live event: what the database did not take while the
// playbook ran travels with the step's result, and the step's audit writes it once the database is
// back, in order, before the step's final status, with no gap in the request's sequence. Real
// ansible-playbook (the sample kuma-deploy.yml), the real step and audit activities (run in
// MockActivityEnvironment, not a worker), PostgreSQL behind a TCP proxy the test cuts.
import { MockActivityEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createAuditActivities } from '../../activities/audit.js';
import { readFingerprint } from '../../services/fingerprint.js';
import { locateInventory } from '../../services/inventory/inventory-source.js';
import { createStepActivities } from '../../activities/steps.js';
import type { PlanStep, StepRunResult } from '../../domain/types.js';
import type { ChiffonConfig } from '../../lib/config.js';
import type { PrismaClient } from '../../lib/prisma.js';
import { prismaThroughProxy, type TcpProxy } from '../support/tcp-proxy.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { activityFixture, type ActivityFixture } from '../support/activity-fixture.js';

const REQUEST_ID = 'lostevents01';
let database: TestDatabase;
let proxy: TcpProxy;
let throughProxy: PrismaClient;
let fixture: ActivityFixture;
let config: ChiffonConfig;

beforeAll(async () => {
  database = await createTestDatabase();
  ({ proxy, prisma: throughProxy } = await prismaThroughProxy(database.url));
  fixture = await activityFixture(database.prisma, REQUEST_ID);
  config = fixture.config;
});

afterAll(async () => {
  await throughProxy?.$disconnect();
  await proxy?.close();
  await database?.drop();
  fixture?.remove();
});

it(
  'keeps the events of a step run while PostgreSQL is down, and writes them with its audit, in order and once',
  { timeout: 120_000 },
  async () => {
    const step: PlanStep = {
      index: 0,
      taskId: 'lost-task-1',
      playbook: 'kuma-deploy.yml',
      service: 'kuma',
      intent: 'deploy_kuma',
      vars: {},
      varSources: {},
      secretVars: [],
    };
    const inventory = await locateInventory(config.playbookRepo, config.inventory);
    const fingerprint = await readFingerprint(config.playbookRepo, inventory.sources, [step.playbook]);
    const env = new MockActivityEnvironment({ workflowExecution: { workflowId: `request-${REQUEST_ID}`, runId: 'run-1' } });

    await proxy.cut();
    let run: StepRunResult;
    try {
      run = (await env.run(createStepActivities(config, throughProxy).runStep, { step, fingerprint })) as StepRunResult;
    } finally {
      await proxy.restore();
    }
    expect(run.succeeded, run.stderrTail).toBe(true);
    const pending = run.pendingEvents ?? [];
    // The step's running status, the play, each task's start and results, the recap.
    expect(pending.map((e) => e.kind)).toEqual(expect.arrayContaining(['step_status', 'play_start', 'task_start', 'task_result', 'stats']));
    expect(pending.filter((e) => e.kind === 'task_result')).toHaveLength(run.tasks.length);
    expect(run.lostEvents).toBeUndefined();
    expect(await database.prisma.requestEvent.count({ where: { requestId: REQUEST_ID } })).toBe(0);

    // The audit (retried until the database answers) writes them before the final status.
    const audits = createAuditActivities(config, database.prisma);
    const audit = {
      requestId: REQUEST_ID,
      planId: 'plan-1',
      step: { index: 0, taskId: step.taskId, playbook: step.playbook },
      attempt: 1,
      status: 'completed' as const,
      outcome: 'completed',
      run,
    };
    await audits.auditTask(audit);
    await audits.auditTask(audit); // a retried audit writes nothing twice
    const rows = await database.prisma.requestEvent.findMany({ where: { requestId: REQUEST_ID }, orderBy: { seq: 'asc' } });
    expect(rows.map((r) => r.seq)).toEqual(rows.map((_, i) => i + 1));
    expect(rows.map((r) => r.kind)).toEqual([...pending.map((e) => e.kind), 'step_status']);
    expect(rows.at(-1)!.payload).toMatchObject({ status: 'completed' });
    expect(rows.filter((r) => r.kind === 'task_result').map((r) => (r.payload as { task: { name: string } }).task.name)).toEqual(
      run.tasks.map((t) => t.name),
    );
  },
);
