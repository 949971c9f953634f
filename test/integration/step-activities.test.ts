// The step and audit activities as a worker runs them, but in MockActivityEnvironment (as the
// samples' hello-world activity test does): the real ansible-playbook on a copy of the sample
// playbooks, a PostgreSQL database of this file's own and a real audit git repository. What a
// workflow test with mocked activities cannot see: the heartbeats and their details, a plan that
// went stale refused before anything runs, a cancellation delivered through the heartbeats stopping
// the playbook's process tree, and the audit of a retried delivery written once.
import fs from 'node:fs';
import path from 'node:path';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import git from 'isomorphic-git';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAuditActivities } from '../../activities/audit.js';
import { readFingerprint } from '../../services/fingerprint.js';
import { locateInventory } from '../../services/inventory/inventory-source.js';
import { createStepActivities, type RunStepInput } from '../../activities/steps.js';
import { STALE_PLAN } from '../../domain/request-state.js';
import type { PlanStep, StepRunResult } from '../../domain/types.js';
import type { ChiffonConfig } from '../../lib/config.js';
import { processesMentioning, waitFor } from '../support/processes.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { activityFixture, type ActivityFixture } from '../support/activity-fixture.js';

const REQUEST_ID = 'stepacts01';
let database: TestDatabase;
let fixture: ActivityFixture;
let config: ChiffonConfig;
/** A task that takes a minute, unless it is stopped; its argument names it among the machine's processes. */
const SLOW_MARKER = `chiffon-slow-${process.pid}-${Date.now()}`;

beforeAll(async () => {
  database = await createTestDatabase();
  fixture = await activityFixture(database.prisma, REQUEST_ID, {
    'slow.yml': `- name: Slow\n  hosts: homelab\n  gather_facts: false\n  tasks:\n    - name: Wait a minute\n      ansible.builtin.command: bash -c "sleep 60; true" ${SLOW_MARKER}\n      changed_when: false\n`,
  });
  config = fixture.config;
});

afterAll(async () => {
  await database?.drop();
  fixture?.remove();
});

const stepOf = (playbook: string, taskId: string): PlanStep => ({
  index: 0,
  taskId,
  playbook,
  service: 'kuma',
  intent: 'deploy_kuma',
  vars: {},
  varSources: {},
  secretVars: [],
});

async function inputFor(step: PlanStep): Promise<RunStepInput> {
  const inventory = await locateInventory(config.playbookRepo, config.inventory);
  return { step, fingerprint: await readFingerprint(config.playbookRepo, inventory.sources, [step.playbook]) };
}

/** The run directories left in the work folder (a run removes its own). */
function runDirs(): string[] {
  return fs.existsSync(config.workDir) ? fs.readdirSync(config.workDir).filter((name) => name.startsWith('ansible-run-')) : [];
}

function activityEnv(): { env: MockActivityEnvironment; heartbeats: unknown[] } {
  const env = new MockActivityEnvironment({ workflowExecution: { workflowId: `request-${REQUEST_ID}`, runId: 'run-1' }, attempt: 1 });
  const heartbeats: unknown[] = [];
  env.on('heartbeat', (details: unknown) => heartbeats.push(details));
  return { env, heartbeats };
}

describe('runStep', () => {
  it('runs the playbook, heartbeating the number of task results so far', { timeout: 120_000 }, async () => {
    const { env, heartbeats } = activityEnv();
    const run = (await env.run(
      createStepActivities(config, database.prisma).runStep,
      await inputFor(stepOf('kuma-deploy.yml', 'acts-run-1')),
    )) as StepRunResult;
    expect(run.succeeded, run.stderrTail).toBe(true);
    expect(run.activityAttempt).toBe(1);
    const counts = heartbeats.map((details) => (details as { tasksDone: number }).tasksDone);
    expect(counts[0]).toBe(0); // at once, before ansible-playbook says anything
    expect(counts).toEqual([...counts].sort((a, b) => a - b)); // never backwards
    expect(Math.max(...counts)).toBe(run.tasks.length); // one more per task result
    const events = await database.prisma.requestEvent.findMany({
      where: { requestId: REQUEST_ID, taskId: 'acts-run-1' },
      orderBy: { seq: 'asc' },
    });
    expect(events.filter((e) => e.kind === 'task_result')).toHaveLength(run.tasks.length);
    // The step's status first (its write waits for ansible-playbook to start), then the run's own, in order.
    expect(events.map((e) => e.kind)).toEqual(['step_status', 'play_start', ...events.slice(2, -1).map((e) => e.kind), 'stats']);
    expect(events[0]?.payload).toMatchObject({ status: 'running', playbook: 'kuma-deploy.yml' });
    expect(events.slice(1).some((e) => e.kind === 'step_status')).toBe(false);
    expect(runDirs()).toEqual([]);
  });

  it('refuses, without running anything, a step whose playbook changed since the plan was approved', async () => {
    const input = await inputFor(stepOf('kuma-deploy.yml', 'acts-stale-1'));
    const file = path.join(config.playbookRepo, 'kuma-deploy.yml');
    const before = fs.readFileSync(file, 'utf8');
    fs.appendFileSync(file, '\n# edited after approval\n');
    try {
      const { env, heartbeats } = activityEnv();
      const refused = await env.run(createStepActivities(config, database.prisma).runStep, input).catch((err: unknown) => err);
      expect(refused).toBeInstanceOf(ApplicationFailure);
      expect(refused).toMatchObject({ type: STALE_PLAN, nonRetryable: true, message: expect.stringContaining('kuma-deploy.yml') });
      expect(heartbeats).toEqual([]);
      expect(await database.prisma.requestEvent.count({ where: { taskId: 'acts-stale-1' } })).toBe(0);
      // The run prepared beside the check (its folder, its extra-vars file) goes unstarted.
      await waitFor('the prepared run to be discarded', () => runDirs().length === 0 || undefined, 10_000, 20);
    } finally {
      fs.writeFileSync(file, before);
    }
  });

  it('stops the playbook and its process tree when the cancellation arrives, and reports it cancelled', { timeout: 120_000 }, async () => {
    const { env } = activityEnv();
    const running = env.run(createStepActivities(config, database.prisma).runStep, await inputFor(stepOf('slow.yml', 'acts-cancel-1')));
    let settled: unknown;
    const outcome = running.then(
      (result) => (settled = result),
      (err: unknown) => (settled = err),
    );
    await waitFor(
      'the slow task to run',
      () => {
        if (settled) throw new Error(`the step ended before it was cancelled: ${JSON.stringify(settled)}`);
        return processesMentioning(SLOW_MARKER).length > 0 || undefined;
      },
      60_000,
      100,
    );
    env.cancel();
    const error = await outcome;
    expect(error).toBeInstanceOf(CancelledFailure);
    await waitFor('the slow task to be gone', () => processesMentioning(SLOW_MARKER).length === 0 || undefined, 15_000, 100);
  });
});

describe('auditTask', () => {
  it('writes a retried delivery once: one commit, one task row, its suggestions and final status once', { timeout: 60_000 }, async () => {
    const audits = createAuditActivities(config, database.prisma);
    const audit = {
      requestId: REQUEST_ID,
      planId: 'plan-1',
      step: { index: 0, taskId: 'acts-audit-1', playbook: 'kuma-deploy.yml' },
      attempt: 1,
      status: 'failed' as const,
      outcome: 'failed at task "x"',
      findings: [
        {
          rule: 'no-changed-when',
          category: 'idempotency' as const,
          severity: 'major',
          message: 'Commands should not change things if nothing needs doing.',
          path: 'kuma-deploy.yml',
          line: 3,
        },
      ],
    };
    const first = await new MockActivityEnvironment().run(audits.auditTask, audit);
    const second = await new MockActivityEnvironment({ attempt: 2 }).run(audits.auditTask, audit);
    expect(second).toEqual(first);
    const log = await git.log({ fs, dir: config.auditRepo });
    expect(log.filter((entry) => entry.commit.message.includes('acts-audit-1'))).toHaveLength(1);
    expect(await database.prisma.task.count({ where: { id: 'acts-audit-1' } })).toBe(1);
    expect(await database.prisma.playbookSuggestion.count({ where: { taskId: 'acts-audit-1' } })).toBe(1);
    const finals = await database.prisma.requestEvent.findMany({ where: { taskId: 'acts-audit-1', kind: 'step_status' } });
    expect(finals.map((e) => (e.payload as { status: string }).status)).toEqual(['failed']);
  });
});
