// E2E-04, end to end on real parts: a Temporal dev server from the project's binary, a PostgreSQL
// database of this file's own, a real Chiffon worker and the HTTP API, the real ansible-playbook and
// ansible-lint, and a playbook repository that is a git repository (a copy of playbooks/ committed
// here), so that accepting a suggestion commits the improvement there.
//
// The group shares one failed "Run the failure drill" request (made the first time a test asks for
// it, once()), so each test also runs alone:
//   npx vitest run test/e2e/full-workflow-suggestions.test.ts -t "git repo contains commit"
// (The lead merges this group into full-workflow.test.ts.)
import fs from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import git from 'isomorphic-git';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lintPlaybook } from '../../activities/ansible/lint-playbook.js';
import { sha256 } from '../../domain/plan-hash.js';
import { once, playbookRepoCopy, requestRow, startServices, startStack, type E2EServices, type Stack } from '../support/e2e-stack.js';

const DRILL = 'Run the failure drill';
const PLAYBOOK = 'failure-drill.yml';
const CATEGORIES = ['idempotency', 'error_handling', 'security', 'deprecation', 'formatting', 'other'];
const author = { name: 'Homelab admin', email: 'admin@homelab.lan' };

let services: E2EServices;

beforeAll(async () => {
  services = await startServices('full-workflow-suggestions');
});

afterAll(async () => {
  await services?.stop();
});

interface ActivityRun {
  name: string;
  input: unknown[];
  scheduled: number;
  completed: number;
}

/** The activities of a request's workflow, in the order they were scheduled, from its Temporal history. */
async function activityRuns(requestId: string): Promise<ActivityRun[]> {
  const handle = services.env.client.workflow.getHandle(`request-${requestId}`);
  const events = (await handle.fetchHistory()).events ?? [];
  const idIndex = new Map(events.map((e, i) => [String(e.eventId), i]));
  const runs: ActivityRun[] = [];
  events.forEach((event, index) => {
    const scheduled = event.activityTaskScheduledEventAttributes;
    if (!scheduled?.activityType?.name) return;
    const input = (scheduled.input?.payloads ?? []).map((p) => JSON.parse(Buffer.from(p.data ?? new Uint8Array()).toString('utf8')));
    const completed = events.findIndex(
      (e) => e.activityTaskCompletedEventAttributes && idIndex.get(String(e.activityTaskCompletedEventAttributes.scheduledEventId)) === index,
    );
    runs.push({ name: scheduled.activityType.name, input, scheduled: index, completed });
  });
  return runs;
}

describe('E2E-04 suggestions and audit', () => {
  let stack: Stack;
  let repo: string;
  let initialCommit: string;
  let originalSha: string;

  beforeAll(async () => {
    // The playbook repository is a git repository of its own.
    repo = playbookRepoCopy(path.join(services.scratch, 'playbook-repo'));
    await git.init({ fs, dir: repo, defaultBranch: 'main' });
    await git.add({ fs, dir: repo, filepath: '.' });
    initialCommit = await git.commit({ fs, dir: repo, message: 'Homelab playbooks', author, committer: author });
    originalSha = sha256(fs.readFileSync(path.join(repo, PLAYBOOK)));
    stack = await startStack(services, 'e2e04', { config: { playbookRepo: repo } });
  });
  afterAll(async () => {
    await stack?.stop();
  });

  async function runDrill(): Promise<{ request: any; done: any }> {
    const chat = await stack.call('POST', '/chat', { message: DRILL });
    expect(chat.status, JSON.stringify(chat.body)).toBe(201);
    const approve = await stack.call('POST', '/approve', { request_id: chat.body.request_id, approved: true, approver: 'alice', plan_hash: chat.body.plan.hash });
    expect(approve.status, JSON.stringify(approve.body)).toBe(200);
    const done = await stack.waitForStatus(chat.body.request_id, 'failed');
    return { request: chat.body, done };
  }

  /** The drill, failed and analyzed. */
  const failed = once(async () => {
    const { request, done } = await runDrill();
    return { request, done, taskId: done.steps[0].task_id as string };
  });

  /** Its suggestions as the API lists them and as PostgreSQL holds them, before anyone decided. */
  const listed = once(async () => {
    const { taskId } = await failed();
    const answer = await stack.call('GET', `/suggestions?task_id=${taskId}&limit=200`);
    expect(answer.status).toBe(200);
    const rows = await services.database.prisma.playbookSuggestion.findMany({ where: { taskId } });
    return { suggestions: answer.body.suggestions as any[], rows };
  });

  const find = (suggestions: any[], rule: string, line: number) => {
    const found = suggestions.find((s) => s.rule === rule && s.line === line);
    if (!found) throw new Error(`no ${rule} at line ${line} in ${JSON.stringify(suggestions.map((s) => `${s.rule}@${s.line}`))}`);
    return found;
  };

  /** alice accepts the fqcn suggestion of the shell task; bob dismisses a no-changed-when one. */
  const decided = once(async () => {
    const { suggestions } = await listed();
    const fqcn = find(suggestions, 'fqcn[action-core]', 23);
    const accept = await stack.call('POST', `/suggestions/${fqcn.id}/accept`, { by: 'alice' });
    expect(accept.status, JSON.stringify(accept.body)).toBe(200);
    const dismissedOne = find(suggestions, 'no-changed-when', 25);
    const dismiss = await stack.call('POST', `/suggestions/${dismissedOne.id}/dismiss`, {}, { 'x-chiffon-user': 'bob' });
    expect(dismiss.status, JSON.stringify(dismiss.body)).toBe(200);
    return { fqcn, accept: accept.body, dismissedOne, dismiss: dismiss.body };
  });

  /** A second drill, planned and run from the improved playbook. */
  const secondFailure = once(async () => {
    await decided();
    return runDrill();
  });

  it('analyzer runs after failure', async () => {
    const { request, done, taskId } = await failed();
    expect(done.steps).toEqual([expect.objectContaining({ playbook: PLAYBOOK, status: 'failed', task_id: taskId })]);
    expect(done.steps[0].exit_code).not.toBe(0);

    // In the workflow: the playbook ran and failed, then analyzeFailure linted it, then the task was audited.
    const runs = await activityRuns(request.request_id);
    const step = runs.find((r) => r.name === 'runStep');
    const analysis = runs.find((r) => r.name === 'analyzeFailure');
    const audit = runs.find((r) => r.name === 'auditTask' && (r.input[0] as any).step.taskId === taskId);
    expect(step && analysis && audit).toBeTruthy();
    expect(analysis!.input).toEqual([PLAYBOOK]);
    expect(analysis!.scheduled).toBeGreaterThan(step!.completed);
    expect(analysis!.completed).toBeGreaterThan(analysis!.scheduled);
    expect(audit!.scheduled).toBeGreaterThan(analysis!.completed);

    // What it found: the failing task, its host and error, and the lint findings over the playbook.
    const trail = await stack.call('GET', `/audit/task/${taskId}`);
    expect(trail.body.task.outcome).toMatch(/^failed at task "fail on purpose" on localhost/);
    const content = trail.body.git.content;
    expect(content.execution_result.failed_tasks).toEqual([
      { task: 'fail on purpose', host: 'localhost', message: expect.stringContaining('non-zero return code') },
    ]);
    const findings = content.analysis.lint_findings;
    expect(findings.length).toBeGreaterThan(0);
    for (const finding of findings) {
      expect(finding).toMatchObject({ path: PLAYBOOK, playbookSha256: originalSha, suggestedChange: expect.any(String), fixable: expect.any(Boolean) });
      expect(finding.line).toBeGreaterThan(0);
    }
  });

  it('suggestions categorized', async () => {
    const { suggestions } = await listed();
    expect(suggestions.length).toBeGreaterThanOrEqual(5);
    for (const s of suggestions) {
      expect(CATEGORIES).toContain(s.category);
      expect(s).toMatchObject({ playbook: PLAYBOOK, path: PLAYBOOK, severity: expect.stringMatching(/^(major|minor)$/) });
      expect(s.line).toBeGreaterThan(0);
      expect(s.message.length).toBeGreaterThan(0);
      expect(s.suggested_change.length).toBeGreaterThan(0);
    }
    // Placed by the rules' tags (and ids), each with a concrete change.
    expect(find(suggestions, 'fqcn[action-core]', 23)).toMatchObject({ category: 'formatting', fixable: true, suggested_change: 'use ansible.builtin.shell instead of shell' });
    expect(find(suggestions, 'fqcn[action-core]', 26)).toMatchObject({ category: 'formatting', fixable: true, suggested_change: 'use ansible.builtin.command instead of command' });
    expect(find(suggestions, 'no-changed-when', 25)).toMatchObject({
      category: 'idempotency',
      fixable: false,
      suggested_change: expect.stringMatching(/^add changed_when: \(a condition\) to the command task "fail on purpose"/),
    });
    expect(find(suggestions, 'risky-file-permissions', 18)).toMatchObject({ category: 'security', fixable: false, suggested_change: expect.stringContaining('set mode: explicitly') });
    expect(find(suggestions, 'name[missing]', 23)).toMatchObject({ category: 'other', suggested_change: expect.stringMatching(/^give the task a name/) });
    expect(find(suggestions, 'name[casing]', 25)).toMatchObject({ category: 'other', fixable: true, suggested_change: 'start the name with an uppercase letter: "Fail on purpose"' });
  });

  it('suggestions stored in database', async () => {
    const { taskId } = await failed();
    const { suggestions, rows } = await listed();
    expect(rows).toHaveLength(suggestions.length);
    expect(new Set(rows.map((r) => r.id))).toEqual(new Set(suggestions.map((s) => s.id)));
    for (const row of rows) {
      // Linked to the failed task, with the version of the playbook they were made for.
      expect(row).toMatchObject({ taskId, playbook: PLAYBOOK, status: 'open', playbookSha256: originalSha, decidedBy: null, decidedAt: null, commitHash: null });
      expect(row.suggestedChange).toBe(suggestions.find((s) => s.id === row.id).suggested_change);
    }
    const task = await services.database.prisma.task.findUniqueOrThrow({ where: { id: taskId }, include: { suggestions: true } });
    expect(task.suggestions).toHaveLength(rows.length);
    expect(task).toMatchObject({ status: 'failed', playbook: PLAYBOOK, service: 'failure-drill' });
  });

  it('user can accept suggestion', async () => {
    const { taskId } = await failed();
    const { suggestions } = await listed();
    const fqcn = find(suggestions, 'fqcn[action-core]', 23);

    // Accepting is a decision: it needs an identity.
    const anonymous = await stack.call('POST', `/suggestions/${fqcn.id}/accept`, {});
    expect(anonymous.status).toBe(400);
    expect(anonymous.body.error.code).toBe('identity_required');

    const { accept, dismissedOne, dismiss } = await decided();
    expect(accept).toMatchObject({
      suggestion: { id: fqcn.id, status: 'accepted', decided_by: 'alice', commit_hash: accept.commit, task_id: taskId },
      method: 'ansible-lint-fix',
      // ansible-lint's fixer fixed the playbook's other fqcn finding with it.
      also_accepted: [find(suggestions, 'fqcn[action-core]', 26).id],
    });
    expect(accept.commit).toMatch(/^[0-9a-f]{40}$/);
    expect(dismiss.suggestion).toMatchObject({ id: dismissedOne.id, status: 'dismissed', decided_by: 'bob', commit_hash: null });

    // A decided suggestion stays decided; one made for the playbook before the change is refused.
    const twice = await stack.call('POST', `/suggestions/${fqcn.id}/accept`, { by: 'alice' });
    expect(twice.status).toBe(409);
    expect(twice.body.error).toMatchObject({ code: 'conflict', reason: 'already_decided' });
    expect((await stack.call('POST', `/suggestions/${dismissedOne.id}/dismiss`, { by: 'bob' })).status).toBe(409);
    const stale = await stack.call('POST', `/suggestions/${find(suggestions, 'name[casing]', 25).id}/accept`, { by: 'alice' });
    expect(stale.status).toBe(409);
    expect(stale.body.error).toMatchObject({ code: 'conflict', reason: 'playbook_changed', message: expect.stringContaining('the playbook changed since the suggestion was made') });

    // The lists follow the decisions.
    const byStatus = async (status: string) =>
      (await stack.call('GET', `/suggestions?playbook=${PLAYBOOK}&status=${status}&task_id=${taskId}`)).body.suggestions.map((s: any) => s.id).sort();
    expect(await byStatus('accepted')).toEqual([fqcn.id, find(suggestions, 'fqcn[action-core]', 26).id].sort());
    expect(await byStatus('dismissed')).toEqual([dismissedOne.id]);
    expect(await byStatus('open')).toHaveLength(suggestions.length - 3);
  });

  it('improvement committed to git', async () => {
    await decided();
    const file = path.join(repo, PLAYBOOK);
    const content = fs.readFileSync(file, 'utf8');
    expect(content).toContain('- ansible.builtin.shell: date -u');
    expect(content).toContain("ansible.builtin.command: sh -c 'echo");
    expect(sha256(content)).not.toBe(originalSha);
    // The fqcn findings are gone; the others are still there (nobody fixed them).
    const rules = (await lintPlaybook({ playbookRepo: repo, playbook: PLAYBOOK, workDir: stack.config.workDir })).map((f) => f.rule);
    expect(rules).not.toContain('fqcn[action-core]');
    expect(rules).toEqual(expect.arrayContaining(['no-changed-when', 'risky-file-permissions', 'name[missing]']));
    // Committed, not just written: ordinary git sees a clean working tree.
    const status = await execa('git', ['-C', repo, 'status', '--porcelain'], { stdin: 'ignore' });
    expect(status.stdout).toBe('');
  });

  it('git repo contains commit', async () => {
    const { accept } = await decided();
    const log = await git.log({ fs, dir: repo });
    expect(log.map((entry) => entry.oid)).toEqual([accept.commit, initialCommit]);
    expect(log[0]!.commit.parent).toEqual([initialCommit]);
    // It changes the playbook and nothing else.
    const changed: string[] = [];
    for (const filepath of await git.listFiles({ fs, dir: repo, ref: initialCommit })) {
      const before = await git.readBlob({ fs, dir: repo, oid: initialCommit, filepath });
      const after = await git.readBlob({ fs, dir: repo, oid: accept.commit, filepath });
      if (before.oid !== after.oid) changed.push(filepath);
    }
    expect(changed).toEqual([PLAYBOOK]);
    const committed = await git.readBlob({ fs, dir: repo, oid: accept.commit, filepath: PLAYBOOK });
    expect(Buffer.from(committed.blob).equals(fs.readFileSync(path.join(repo, PLAYBOOK)))).toBe(true);
    // The git command line reads the same history.
    const cli = await execa('git', ['-C', repo, 'log', '--format=%H'], { stdin: 'ignore' });
    expect(cli.stdout.split('\n')).toEqual([accept.commit, initialCommit]);
  });

  it('commit includes task details', async () => {
    const { request, taskId } = await failed();
    const { fqcn, accept } = await decided();
    const { commit } = await git.readCommit({ fs, dir: repo, oid: accept.commit });
    const message = commit.message;
    expect(message.split('\n')[0]).toBe(`Apply suggestion ${fqcn.id}: fqcn[action-core] in ${PLAYBOOK}`);
    expect(message).toContain(`use ansible.builtin.shell instead of shell (${PLAYBOOK}:23).`);
    expect(message).toContain(`ansible-lint found fqcn[action-core] when task ${taskId} of request ${request.request_id} failed.`);
    expect(message).toContain('Applied with ansible-lint --fix=fqcn; accepted by alice in Chiffon.');
    expect(message).toContain(
      [`Chiffon-Suggestion: ${fqcn.id}`, 'Chiffon-Rule: fqcn[action-core]', `Chiffon-Task: ${taskId}`, `Chiffon-Request: ${request.request_id}`, 'Accepted-By: alice'].join('\n'),
    );
    expect(commit.author.name).toBe('Chiffon');
  });

  it('PostgreSQL records task state', async () => {
    const { request, done, taskId } = await failed();
    const { fqcn, accept, dismissedOne } = await decided();
    const task = await services.database.prisma.task.findUniqueOrThrow({ where: { id: taskId }, include: { suggestions: true } });
    expect(task).toMatchObject({
      requestId: request.request_id,
      planId: request.plan.plan_id,
      stepIndex: 0,
      attempt: 1,
      playbook: PLAYBOOK,
      service: 'failure-drill',
      status: 'failed',
      exitCode: done.steps[0].exit_code,
      auditCommit: done.steps[0].audit_commit,
      auditPath: `.audit/tasks/${taskId}.json`,
    });
    expect(task.outcome).toMatch(/^failed at task "fail on purpose" on localhost/);
    expect(task.finishedAt?.toISOString()).toBe(new Date(done.steps[0].finished_at).toISOString());
    expect((task.result as any).failed_tasks).toEqual([expect.objectContaining({ task: 'fail on purpose', host: 'localhost' })]);

    const byId = new Map(task.suggestions.map((s) => [s.id, s]));
    const accepted = task.suggestions.filter((s) => s.status === 'accepted');
    expect(accepted.map((s) => s.id).sort()).toEqual([fqcn.id, ...accept.also_accepted].sort());
    for (const s of accepted) {
      expect(s).toMatchObject({ rule: 'fqcn[action-core]', decidedBy: 'alice', commitHash: accept.commit });
      expect(s.decidedAt!.getTime()).toBeGreaterThanOrEqual(task.finishedAt!.getTime());
    }
    expect(byId.get(dismissedOne.id)).toMatchObject({ status: 'dismissed', decidedBy: 'bob', commitHash: null });
    expect(task.suggestions.filter((s) => s.status === 'open')).toHaveLength(task.suggestions.length - 3);
    await requestRow(services, request.request_id, { status: 'failed', approver: 'alice', approved: true });
  });

  it('user reviews audit trail from the API', async () => {
    const { request, done, taskId } = await failed();
    const { fqcn, accept, dismissedOne } = await decided();

    // One task: its record, its suggestions with their decisions, and its commit in the audit repository.
    const trail = await stack.call('GET', `/audit/task/${taskId}`);
    expect(trail.status).toBe(200);
    expect(trail.body.task).toMatchObject({ task_id: taskId, request_id: request.request_id, playbook: PLAYBOOK, status: 'failed' });
    const bySuggestion = new Map(trail.body.task.suggestions.map((s: any) => [s.id, s]));
    expect(bySuggestion.get(fqcn.id)).toMatchObject({ status: 'accepted', decided_by: 'alice', commit_hash: accept.commit, fixable: true });
    expect(bySuggestion.get(dismissedOne.id)).toMatchObject({ status: 'dismissed', decided_by: 'bob', commit_hash: null });
    expect(trail.body.git).toMatchObject({ commit: done.steps[0].audit_commit, path: `.audit/tasks/${taskId}.json` });
    expect(trail.body.git.content.analysis.lint_findings).toHaveLength(trail.body.task.suggestions.length);
    expect((await stack.auditLog()).map((c) => c.oid)).toContain(done.steps[0].audit_commit);

    // The failures of the last week, with the request, playbook, service, outcome and time of each.
    const failures = await stack.call('GET', '/audit/failures?days=7');
    expect(failures.status).toBe(200);
    expect(failures.body.failures).toContainEqual({
      task_id: taskId,
      request_id: request.request_id,
      step_index: 0,
      attempt: 1,
      playbook: PLAYBOOK,
      service: 'failure-drill',
      outcome: trail.body.task.outcome,
      exit_code: done.steps[0].exit_code,
      started_at: new Date(done.steps[0].started_at).toISOString(),
      finished_at: new Date(done.steps[0].finished_at).toISOString(),
      audit_commit: done.steps[0].audit_commit,
      suggestions: trail.body.task.suggestions.length,
    });
    expect(failures.body.by_service).toContainEqual({ service: 'failure-drill', failures: expect.any(Number) });
    expect(failures.body.by_playbook).toContainEqual({ playbook: PLAYBOOK, failures: expect.any(Number) });
  });

  it('audit trail queryable', async () => {
    const first = await failed();
    const second = await secondFailure();
    const { accept } = await decided();

    // The second drill was planned from the improved playbook (the repository at the suggestion's
    // commit), and its analysis no longer finds what was fixed.
    expect(second.request.plan.repo_commit).toBe(accept.commit);
    const secondTask = second.done.steps[0].task_id;
    const improved = (await stack.call('GET', `/suggestions?task_id=${secondTask}&status=open`)).body.suggestions;
    expect(improved.length).toBeGreaterThan(0);
    expect(improved.map((s: any) => s.rule)).not.toContain('fqcn[action-core]');
    for (const s of improved) expect(s.playbook_sha256).toBe(sha256(fs.readFileSync(path.join(repo, PLAYBOOK))));

    // Both failures, newest first, counted per service and per playbook.
    const all = await stack.call('GET', '/audit/failures?days=7');
    expect(all.body).toMatchObject({ days: 7, total: 2, limit: 50, offset: 0, next_offset: null });
    expect(all.body.failures.map((f: any) => [f.task_id, f.request_id])).toEqual([
      [secondTask, second.request.request_id],
      [first.taskId, first.request.request_id],
    ]);
    expect(all.body.by_service).toEqual([{ service: 'failure-drill', failures: 2 }]);
    expect(all.body.by_playbook).toEqual([{ playbook: PLAYBOOK, failures: 2 }]);

    // Grouped one way, filtered, and a page at a time.
    const byService = await stack.call('GET', '/audit/failures?days=7&group_by=service');
    expect(byService.body.by_service).toEqual([{ service: 'failure-drill', failures: 2 }]);
    expect(byService.body).not.toHaveProperty('by_playbook');
    const byPlaybook = await stack.call('GET', '/audit/failures?days=1&group_by=playbook');
    expect(byPlaybook.body.by_playbook).toEqual([{ playbook: PLAYBOOK, failures: 2 }]);
    expect(byPlaybook.body).not.toHaveProperty('by_service');
    const pageOne = await stack.call('GET', '/audit/failures?days=7&limit=1');
    const pageTwo = await stack.call('GET', `/audit/failures?days=7&limit=1&offset=${pageOne.body.next_offset}`);
    expect(pageOne.body).toMatchObject({ total: 2, next_offset: 1, failures: [expect.objectContaining({ task_id: secondTask })] });
    expect(pageTwo.body).toMatchObject({ total: 2, next_offset: null, failures: [expect.objectContaining({ task_id: first.taskId })] });
    expect((await stack.call('GET', '/audit/failures?days=7&service=kuma')).body).toMatchObject({ total: 0, failures: [], by_service: [] });
    expect((await stack.call('GET', `/audit/failures?days=7&playbook=${PLAYBOOK}`)).body.total).toBe(2);

    // The same in PostgreSQL.
    expect(await services.database.prisma.task.count({ where: { status: 'failed', service: 'failure-drill' } })).toBe(2);

    // A window that is not a whole number of days is refused.
    for (const days of ['0', '-3', 'week', '2.5']) {
      const refused = await stack.call('GET', `/audit/failures?days=${days}`);
      expect(refused.status, days).toBe(400);
      expect(refused.body.error.code).toBe('invalid_input');
    }
  });
});
