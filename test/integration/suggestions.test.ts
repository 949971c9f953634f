// Accepting and dismissing suggestions on real parts: PostgreSQL (a database of this file's own), a
// git repository made here from a copy of the sample playbooks, the real ansible-lint (analysis and
// fixer) and git apply; and the HTTP routes over them (GET /suggestions, accept, dismiss,
// GET /audit/failures).
import { randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import git from 'isomorphic-git';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lintPlaybook } from '../../services/ansible/lint-playbook.js';
import { createAuditActivities } from '../../activities/audit.js';
import { acceptSuggestion, dismissSuggestion, SuggestionError } from '../../services/suggestions.js';
import { createApp } from '../../api/app.js';
import { createApiToken } from '../../lib/api-tokens.js';
import { sha256 } from '../../domain/plan-hash.js';
import type { LintFinding } from '../../domain/types.js';
import type { PlaybookSuggestion } from '../../generated/prisma/client.js';
import { loadConfig, type ChiffonConfig } from '../../lib/config.js';
import { fromProjectRoot } from '../../lib/paths.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { testCodec } from '../support/codec.js';

const PLAYBOOK = 'failure-drill.yml';
const author = { name: 'Test', email: 'test@localhost' };

let database: TestDatabase;
let root: string;
/** The drill's findings, linted once: every fixture starts from the same playbook content. */
let findings: LintFinding[];

beforeAll(async () => {
  root = fs.mkdtempSync(path.join(tmpdir(), 'chiffon-suggestions-'));
  const pristine = path.join(root, 'pristine');
  fs.cpSync(fromProjectRoot('playbooks'), pristine, { recursive: true });
  [database, findings] = await Promise.all([
    createTestDatabase(),
    lintPlaybook({ playbookRepo: pristine, playbook: PLAYBOOK, workDir: path.join(root, 'lint-work') }),
  ]);
});

afterAll(async () => {
  await database?.drop();
  fs.rmSync(root, { recursive: true, force: true });
});

interface Fixture {
  config: ChiffonConfig;
  repo: string;
  initialCommit: string;
  requestId: string;
  taskId: string;
  /** The task's suggestions by `rule@line`. */
  byKey: Map<string, PlaybookSuggestion>;
  file: string;
  /** Audits the task again with the same input. */
  auditAgain(): Promise<unknown>;
}

/** A copy of the sample playbooks as a git repository with one commit. */
async function gitRepo(dir: string): Promise<string> {
  fs.cpSync(fromProjectRoot('playbooks'), dir, { recursive: true });
  await git.init({ fs, dir, defaultBranch: 'main' });
  await git.add({ fs, dir, filepath: '.' });
  return git.commit({ fs, dir, message: 'Sample playbooks', author, committer: author });
}

/** A failed drill task, audited the way the workflow does it, with its suggestions stored. */
async function failedDrill(name: string, options: { git?: boolean } = {}): Promise<Fixture> {
  const dir = path.join(root, `${name}-${randomBytes(3).toString('hex')}`);
  const repo = path.join(dir, 'playbooks');
  let initialCommit = '';
  if (options.git === false) fs.cpSync(fromProjectRoot('playbooks'), repo, { recursive: true });
  else initialCommit = await gitRepo(repo);
  const config: ChiffonConfig = {
    ...loadConfig({}),
    playbookRepo: repo,
    auditRepo: path.join(dir, 'audit'),
    stateDir: path.join(dir, 'state'),
    workDir: path.join(dir, 'work'),
  };
  const requestId = randomBytes(6).toString('hex');
  const taskId = randomUUID();
  await database.prisma.request.create({
    data: { id: requestId, workflowId: `request-${requestId}`, message: 'Run the failure drill', status: 'failed', intents: [] },
  });
  const audit = {
    requestId,
    planId: randomUUID(),
    step: { index: 0, taskId, playbook: PLAYBOOK, service: 'failure-drill' },
    attempt: 1,
    status: 'failed' as const,
    outcome: 'failed at task "fail on purpose" on localhost: non-zero return code',
    findings,
  };
  const auditAgain = () => createAuditActivities(config, database.prisma).auditTask(audit);
  await auditAgain();
  const rows = await database.prisma.playbookSuggestion.findMany({ where: { taskId } });
  return {
    config,
    repo,
    initialCommit,
    requestId,
    taskId,
    byKey: new Map(rows.map((r) => [`${r.rule}@${r.line}`, r])),
    file: path.join(repo, PLAYBOOK),
    auditAgain,
  };
}

function suggestion(fixture: Fixture, key: string): PlaybookSuggestion {
  const found = fixture.byKey.get(key);
  if (!found) throw new Error(`no suggestion ${key}; have ${[...fixture.byKey.keys()].join(', ')}`);
  return found;
}

/** The SuggestionError a promise is refused with. */
async function refusal(promise: Promise<unknown>): Promise<SuggestionError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(SuggestionError);
  return error as SuggestionError;
}

async function row(id: string) {
  return database.prisma.playbookSuggestion.findUniqueOrThrow({ where: { id } });
}

async function headOf(repo: string) {
  return git.resolveRef({ fs, dir: repo, ref: 'HEAD' });
}

/** The files whose content differs between two commits. */
async function changedFiles(repo: string, from: string, to: string): Promise<string[]> {
  const files = new Set([...(await git.listFiles({ fs, dir: repo, ref: from })), ...(await git.listFiles({ fs, dir: repo, ref: to }))]);
  const oid = (commit: string, filepath: string) =>
    git.readBlob({ fs, dir: repo, oid: commit, filepath }).then(
      (b) => b.oid,
      () => 'missing',
    );
  const changed: string[] = [];
  for (const file of files) if ((await oid(from, file)) !== (await oid(to, file))) changed.push(file);
  return changed.sort();
}

describe('the stored suggestions', () => {
  it('carry the suggested change, whether ansible-lint can fix them and the playbook version', async () => {
    const fixture = await failedDrill('stored');
    const sha = sha256(fs.readFileSync(fixture.file));
    expect([...fixture.byKey.keys()].sort()).toEqual(
      [
        'fqcn[action-core]@23',
        'fqcn[action-core]@26',
        'name[casing]@25',
        'name[missing]@23',
        'no-changed-when@23',
        'no-changed-when@25',
        'risky-file-permissions@18',
      ].sort(),
    );
    for (const s of fixture.byKey.values()) {
      expect(s).toMatchObject({
        taskId: fixture.taskId,
        playbook: PLAYBOOK,
        path: PLAYBOOK,
        status: 'open',
        playbookSha256: sha,
        commitHash: null,
        decidedBy: null,
      });
      expect(s.suggestedChange?.length).toBeGreaterThan(0);
    }
    expect(suggestion(fixture, 'fqcn[action-core]@23')).toMatchObject({
      category: 'formatting',
      fixable: true,
      suggestedChange: 'use ansible.builtin.shell instead of shell',
    });
    expect(suggestion(fixture, 'fqcn[action-core]@26')).toMatchObject({
      suggestedChange: 'use ansible.builtin.command instead of command',
    });
    expect(suggestion(fixture, 'no-changed-when@25')).toMatchObject({ category: 'idempotency', fixable: false });
    expect(suggestion(fixture, 'risky-file-permissions@18')).toMatchObject({ category: 'security', fixable: false });
    expect(suggestion(fixture, 'name[casing]@25')).toMatchObject({
      fixable: true,
      suggestedChange: 'start the name with an uppercase letter: "Fail on purpose"',
    });
  });
});

describe('acceptSuggestion', () => {
  it('applies a fixable finding with ansible-lint --fix, commits it naming the suggestion and the task, and records the commit', async () => {
    const fixture = await failedDrill('accept');
    const fqcn = suggestion(fixture, 'fqcn[action-core]@23');
    const result = await acceptSuggestion(database.prisma, fixture.config, fqcn.id, 'alice');

    // The playbook is fixed, in the repository itself.
    const content = fs.readFileSync(fixture.file, 'utf8');
    expect(content).toContain('- ansible.builtin.shell: date -u');
    expect(content).toContain("  ansible.builtin.command: sh -c 'echo");
    expect(content).not.toMatch(/^\s+(- )?(shell|command):/m);
    expect(
      (await lintPlaybook({ playbookRepo: fixture.repo, playbook: PLAYBOOK, workDir: fixture.config.workDir })).map((f) => f.rule),
    ).not.toContain('fqcn[action-core]');

    // One commit on top of the first, changing that file only, and the working tree matches it.
    const head = await headOf(fixture.repo);
    expect(result).toMatchObject({ commit: head, method: 'ansible-lint-fix' });
    const [last, first, ...older] = await git.log({ fs, dir: fixture.repo });
    expect(older).toEqual([]);
    expect(first!.oid).toBe(fixture.initialCommit);
    expect(last!.oid).toBe(head);
    expect(last!.commit.parent).toEqual([fixture.initialCommit]);
    expect(await changedFiles(fixture.repo, fixture.initialCommit, head)).toEqual([PLAYBOOK]);
    expect(await git.statusMatrix({ fs, dir: fixture.repo, filepaths: [PLAYBOOK] })).toEqual([[PLAYBOOK, 1, 1, 1]]);

    // The message names the suggestion, its rule, the task and the request, and who accepted it.
    const message = last!.commit.message;
    expect(message.split('\n')[0]).toBe(`Apply suggestion ${fqcn.id}: fqcn[action-core] in ${PLAYBOOK}`);
    expect(message).toContain('use ansible.builtin.shell instead of shell (failure-drill.yml:23).');
    expect(message).toContain(`when task ${fixture.taskId} of request ${fixture.requestId} failed`);
    expect(message).toContain(
      `Chiffon-Suggestion: ${fqcn.id}\nChiffon-Rule: fqcn[action-core]\nChiffon-Task: ${fixture.taskId}\nChiffon-Request: ${fixture.requestId}\nAccepted-By: alice`,
    );

    // Recorded: accepted by alice with the commit; the other fqcn finding went with the same fix.
    const accepted = await row(fqcn.id);
    expect(accepted).toMatchObject({ status: 'accepted', decidedBy: 'alice', commitHash: head });
    expect(accepted.decidedAt!.getTime()).toBeGreaterThan(Date.now() - 60_000);
    const other = suggestion(fixture, 'fqcn[action-core]@26');
    expect(result.alsoAccepted).toEqual([other.id]);
    expect(await row(other.id)).toMatchObject({ status: 'accepted', decidedBy: 'alice', commitHash: head });
    // Other rules stay open.
    expect(await row(suggestion(fixture, 'no-changed-when@25').id)).toMatchObject({ status: 'open', commitHash: null });

    // Accepting it again is refused; so is a suggestion made for the playbook as it was before.
    const again = await refusal(acceptSuggestion(database.prisma, fixture.config, fqcn.id, 'bob'));
    expect(again).toMatchObject({ status: 409, code: 'conflict', details: { reason: 'already_decided' } });
    expect(again.message).toContain('already accepted by alice');
    const stale = await refusal(acceptSuggestion(database.prisma, fixture.config, suggestion(fixture, 'name[casing]@25').id, 'bob'));
    expect(stale).toMatchObject({ status: 409, code: 'conflict', details: { reason: 'playbook_changed' } });
    expect(stale.message).toContain('the playbook changed since the suggestion was made');
    expect(await headOf(fixture.repo)).toBe(head);
  });

  it('refuses a suggestion whose playbook changed since it was made (409), changing nothing', async () => {
    const fixture = await failedDrill('changed');
    const edited = `${fs.readFileSync(fixture.file, 'utf8')}# edited by hand\n`;
    fs.writeFileSync(fixture.file, edited);
    await git.add({ fs, dir: fixture.repo, filepath: PLAYBOOK });
    const handEdit = await git.commit({ fs, dir: fixture.repo, message: 'Edit the drill', author, committer: author });

    const fqcn = suggestion(fixture, 'fqcn[action-core]@23');
    const error = await refusal(acceptSuggestion(database.prisma, fixture.config, fqcn.id, 'alice'));
    expect(error).toMatchObject({ status: 409, code: 'conflict', details: { reason: 'playbook_changed' } });
    expect(await row(fqcn.id)).toMatchObject({ status: 'open', decidedBy: null, commitHash: null });
    expect(fs.readFileSync(fixture.file, 'utf8')).toBe(edited);
    expect(await headOf(fixture.repo)).toBe(handEdit);
  });

  it('refuses a playbook with uncommitted changes, and a playbook repository that is not a git repository (409)', async () => {
    // The working file is the version that was linted, but HEAD holds another one.
    const fixture = await failedDrill('uncommitted');
    const linted = fs.readFileSync(fixture.file);
    fs.writeFileSync(fixture.file, `${linted.toString('utf8')}# committed, then undone in the working tree\n`);
    await git.add({ fs, dir: fixture.repo, filepath: PLAYBOOK });
    const head = await git.commit({ fs, dir: fixture.repo, message: 'Another version', author, committer: author });
    fs.writeFileSync(fixture.file, linted);
    const uncommitted = await refusal(
      acceptSuggestion(database.prisma, fixture.config, suggestion(fixture, 'fqcn[action-core]@23').id, 'alice'),
    );
    expect(uncommitted).toMatchObject({ status: 409, details: { reason: 'uncommitted_changes' } });
    expect(uncommitted.message).toContain('failure-drill.yml has uncommitted changes');
    expect(await headOf(fixture.repo)).toBe(head);
    expect(fs.readFileSync(fixture.file).equals(linted)).toBe(true);

    const plain = await failedDrill('plain', { git: false });
    const notGit = await refusal(acceptSuggestion(database.prisma, plain.config, suggestion(plain, 'fqcn[action-core]@23').id, 'alice'));
    expect(notGit).toMatchObject({ status: 409, details: { reason: 'not_a_git_repository' } });
    expect(notGit.message).toContain('is not a git repository');
    expect(fs.existsSync(path.join(plain.repo, '.git'))).toBe(false);
    expect(fs.readFileSync(plain.file).equals(fs.readFileSync(fromProjectRoot('playbooks', PLAYBOOK)))).toBe(true);
  });

  it('refuses a finding without an automatic fix (422), and applies a stored patch instead when there is one', async () => {
    const fixture = await failedDrill('patch');
    const noChange = suggestion(fixture, 'no-changed-when@25');
    const error = await refusal(acceptSuggestion(database.prisma, fixture.config, noChange.id, 'alice'));
    expect(error).toMatchObject({ status: 422, code: 'no_automatic_fix' });
    expect(error.message).toBe('this suggestion has no automatic fix; edit the playbook by hand and dismiss it');
    expect(await row(noChange.id)).toMatchObject({ status: 'open' });

    // A patch that reaches outside the playbook is refused.
    const permissions = suggestion(fixture, 'risky-file-permissions@18');
    await database.prisma.playbookSuggestion.update({
      where: { id: permissions.id },
      data: { patch: '--- a/inventory/hosts.yml\n+++ b/inventory/hosts.yml\n@@ -1,1 +1,1 @@\n----\n+--- # x\n' },
    });
    expect(await refusal(acceptSuggestion(database.prisma, fixture.config, permissions.id, 'alice'))).toMatchObject({
      status: 422,
      code: 'fix_failed',
    });

    // A patch that changes the playbook's mode, or makes it a symlink (to a file outside the
    // repository, whose content would be committed as the playbook), is refused too.
    const lines = fs.readFileSync(fixture.file, 'utf8').split('\n');
    const modeChange = `diff --git a/${PLAYBOOK} b/${PLAYBOOK}\nold mode 100644\nnew mode 100755\n`;
    const content = lines.at(-1) === '' ? lines.slice(0, -1) : lines;
    const symlink = [
      `diff --git a/${PLAYBOOK} b/${PLAYBOOK}`,
      'deleted file mode 100644',
      `--- a/${PLAYBOOK}`,
      '+++ /dev/null',
      `@@ -1,${content.length} +0,0 @@`,
      ...content.map((line) => `-${line}`),
      `diff --git a/${PLAYBOOK} b/${PLAYBOOK}`,
      'new file mode 120000',
      '--- /dev/null',
      `+++ b/${PLAYBOOK}`,
      '@@ -0,0 +1 @@',
      '+/etc/hostname',
      '\\ No newline at end of file',
      '',
    ].join('\n');
    for (const structural of [modeChange, symlink]) {
      await database.prisma.playbookSuggestion.update({ where: { id: permissions.id }, data: { patch: structural } });
      const refused = await refusal(acceptSuggestion(database.prisma, fixture.config, permissions.id, 'alice'));
      expect(refused, structural.slice(0, 80)).toMatchObject({
        status: 422,
        code: 'fix_failed',
        message: expect.stringContaining(`must change the content of ${PLAYBOOK} only`),
      });
    }
    expect(fs.lstatSync(fixture.file).isFile()).toBe(true);
    expect(await row(permissions.id)).toMatchObject({ status: 'open' });

    // The risky-file-permissions fix as a unified diff against the playbook.
    const at = lines.findIndex((l) => l.trim() === 'state: directory');
    const patch = [
      `--- a/${PLAYBOOK}`,
      `+++ b/${PLAYBOOK}`,
      `@@ -${at + 1},2 +${at + 1},3 @@`,
      ` ${lines[at]}`,
      `+        mode: "0755"`,
      ` ${lines[at + 1]}`,
      '',
    ].join('\n');
    await database.prisma.playbookSuggestion.update({ where: { id: permissions.id }, data: { patch } });
    const result = await acceptSuggestion(database.prisma, fixture.config, permissions.id, 'carol');
    expect(result).toMatchObject({ method: 'patch', alsoAccepted: [] });
    expect(
      fs
        .readFileSync(fixture.file, 'utf8')
        .split('\n')
        .slice(at, at + 2),
    ).toEqual(['        state: directory', '        mode: "0755"']);
    const [last] = await git.log({ fs, dir: fixture.repo, depth: 1 });
    expect(last!.oid).toBe(result.commit);
    expect(last!.commit.message).toContain(`Apply suggestion ${permissions.id}: risky-file-permissions in ${PLAYBOOK}`);
    expect(last!.commit.message).toContain("Applied with the suggestion's stored patch; accepted by carol");
    expect(await changedFiles(fixture.repo, fixture.initialCommit, result.commit)).toEqual([PLAYBOOK]);
    expect(await row(permissions.id)).toMatchObject({ status: 'accepted', decidedBy: 'carol', commitHash: result.commit });
  });

  it('takes one accept at a time: of two at once on one playbook, the second finds it changed', async () => {
    const fixture = await failedDrill('race');
    const fqcn = suggestion(fixture, 'fqcn[action-core]@23');
    const casing = suggestion(fixture, 'name[casing]@25');
    const outcomes = await Promise.allSettled([
      acceptSuggestion(database.prisma, fixture.config, fqcn.id, 'alice'),
      acceptSuggestion(database.prisma, fixture.config, fqcn.id, 'bob'),
      acceptSuggestion(database.prisma, fixture.config, casing.id, 'carol'),
    ]);
    const accepted = outcomes.filter((o) => o.status === 'fulfilled');
    expect(accepted).toHaveLength(1);
    for (const outcome of outcomes) {
      if (outcome.status === 'rejected') expect(outcome.reason).toMatchObject({ status: 409, code: 'conflict' });
    }
    expect(await git.log({ fs, dir: fixture.repo })).toHaveLength(2);
  });
});

describe('dismissSuggestion', () => {
  it('marks a suggestion dismissed by a person, once', async () => {
    const fixture = await failedDrill('dismiss');
    const noChange = suggestion(fixture, 'no-changed-when@23');
    const dismissed = await dismissSuggestion(database.prisma, noChange.id, 'bob');
    expect(dismissed).toMatchObject({ id: noChange.id, status: 'dismissed', decidedBy: 'bob', commitHash: null });
    expect(await row(noChange.id)).toMatchObject({ status: 'dismissed', decidedBy: 'bob' });

    expect(await refusal(dismissSuggestion(database.prisma, noChange.id, 'carol'))).toMatchObject({
      status: 409,
      details: { reason: 'already_decided' },
    });
    expect(await refusal(acceptSuggestion(database.prisma, fixture.config, noChange.id, 'carol'))).toMatchObject({
      status: 409,
      details: { reason: 'already_decided' },
    });
    expect(await refusal(dismissSuggestion(database.prisma, randomUUID(), 'carol'))).toMatchObject({ status: 404, code: 'not_found' });
    expect(await refusal(acceptSuggestion(database.prisma, fixture.config, randomUUID(), 'carol'))).toMatchObject({
      status: 404,
      code: 'not_found',
    });
    // Nothing was committed.
    expect(await git.log({ fs, dir: fixture.repo })).toHaveLength(1);
  });

  it('survives a retried audit of the task: no duplicate suggestions, the decision kept', async () => {
    const fixture = await failedDrill('reaudit');
    const noChange = suggestion(fixture, 'no-changed-when@23');
    await dismissSuggestion(database.prisma, noChange.id, 'bob');
    await fixture.auditAgain(); // as Temporal does when an audit activity's first attempt timed out
    expect(await database.prisma.playbookSuggestion.count({ where: { taskId: fixture.taskId } })).toBe(fixture.byKey.size);
    expect(await row(noChange.id)).toMatchObject({ status: 'dismissed', decidedBy: 'bob' });
  });
});

describe('the HTTP routes', () => {
  let fixture: Fixture;
  let app: ReturnType<typeof createApp>;
  /** API tokens: dave approves, erin administers, frank only asks. */
  const tokens = { dave: '', erin: '', frank: '' };
  const call = async (method: string, route: string, body?: unknown, as: keyof typeof tokens | 'none' = 'dave') => {
    const response = await app.request(`/api/dashboard${route}`, {
      method,
      headers: { 'content-type': 'application/json', ...(as === 'none' ? {} : { authorization: `Bearer ${tokens[as]}` }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json()) as any };
  };

  beforeAll(async () => {
    fixture = await failedDrill('http');
    // These routes use PostgreSQL and the repositories only, never Temporal.
    app = createApp({ client: {} as Client, codec: testCodec, prisma: database.prisma, config: fixture.config });
    tokens.dave = (await createApiToken(database.prisma, { name: 'dave', role: 'approver' })).token;
    tokens.erin = (await createApiToken(database.prisma, { name: 'erin', role: 'admin' })).token;
    tokens.frank = (await createApiToken(database.prisma, { name: 'frank', role: 'requester' })).token;
  });

  it('lists suggestions by playbook, status and task, a page at a time', async () => {
    const all = await call('GET', `/suggestions?task_id=${fixture.taskId}&limit=200`);
    expect(all.status).toBe(200);
    expect(all.body.suggestions).toHaveLength(fixture.byKey.size);
    expect(all.body.next_cursor).toBeNull();
    expect(all.body.suggestions[0]).toMatchObject({
      task_id: fixture.taskId,
      request_id: fixture.requestId,
      playbook: PLAYBOOK,
      status: 'open',
      playbook_sha256: expect.stringMatching(/^[0-9a-f]{64}$/),
      suggested_change: expect.any(String),
      fixable: expect.any(Boolean),
      commit_hash: null,
    });

    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: { status: number; body: any } = await call(
        'GET',
        `/suggestions?task_id=${fixture.taskId}&limit=3${cursor ? `&cursor=${cursor}` : ''}`,
      );
      expect(page.status).toBe(200);
      expect(page.body.suggestions.length).toBeLessThanOrEqual(3);
      seen.push(...page.body.suggestions.map((s: any) => s.id));
      cursor = page.body.next_cursor;
    } while (cursor);
    expect(seen).toEqual(all.body.suggestions.map((s: any) => s.id));

    const byPlaybook = await call('GET', `/suggestions?playbook=${PLAYBOOK}&status=open&limit=200`);
    expect(byPlaybook.body.suggestions.map((s: any) => s.id)).toEqual(expect.arrayContaining(seen));
    expect((await call('GET', '/suggestions?playbook=nope.yml')).body).toEqual({ suggestions: [], next_cursor: null });

    for (const bad of ['status=maybe', 'limit=0', 'limit=201', 'limit=x', 'cursor=zzz']) {
      const refused = await call('GET', `/suggestions?${bad}`);
      expect(refused.status, bad).toBe(400);
      expect(refused.body.error.code).toBe('invalid_input');
    }
  });

  it("accepts and dismisses under the token's identity, answering refusals with their status", async () => {
    const fqcn = suggestion(fixture, 'fqcn[action-core]@26');
    const anonymous = await call('POST', `/suggestions/${fqcn.id}/accept`, undefined, 'none');
    expect(anonymous.status).toBe(401);
    expect(anonymous.body.error.code).toBe('unauthorized');
    const requester = await call('POST', `/suggestions/${fqcn.id}/accept`, undefined, 'frank');
    expect(requester.status).toBe(403);
    expect(requester.body.error.code).toBe('forbidden');

    const accepted = await call('POST', `/suggestions/${fqcn.id}/accept`);
    expect(accepted.status, JSON.stringify(accepted.body)).toBe(200);
    expect(accepted.body).toMatchObject({
      suggestion: { id: fqcn.id, status: 'accepted', decided_by: 'dave', commit_hash: accepted.body.commit },
      method: 'ansible-lint-fix',
      also_accepted: [suggestion(fixture, 'fqcn[action-core]@23').id],
    });
    expect(await headOf(fixture.repo)).toBe(accepted.body.commit);

    const twice = await call('POST', `/suggestions/${fqcn.id}/accept`);
    expect(twice.status).toBe(409);
    expect(twice.body.error).toMatchObject({ code: 'conflict', reason: 'already_decided' });
    const stale = await call('POST', `/suggestions/${suggestion(fixture, 'name[casing]@25').id}/accept`);
    expect(stale.status).toBe(409);
    expect(stale.body.error).toMatchObject({ code: 'conflict', reason: 'playbook_changed' });

    const dismissed = await call('POST', `/suggestions/${suggestion(fixture, 'no-changed-when@25').id}/dismiss`, undefined, 'erin');
    expect(dismissed.status).toBe(200);
    expect(dismissed.body.suggestion).toMatchObject({ status: 'dismissed', decided_by: 'erin' });
    expect((await call('POST', `/suggestions/${randomUUID()}/dismiss`, undefined, 'erin')).status).toBe(404);

    const listed = await call('GET', `/suggestions?task_id=${fixture.taskId}&status=accepted`);
    expect(listed.body.suggestions.map((s: any) => s.id).sort()).toEqual([fqcn.id, suggestion(fixture, 'fqcn[action-core]@23').id].sort());
  });

  it('answers audit queries: failures of the last days, by service and by playbook, paginated', async () => {
    const failures = await call('GET', '/audit/failures?days=7');
    expect(failures.status).toBe(200);
    // Every fixture of this file audited one failed drill task.
    const total = await database.prisma.task.count({ where: { status: 'failed' } });
    expect(failures.body).toMatchObject({ days: 7, total, limit: 50, offset: 0, next_offset: null });
    expect(failures.body.failures).toHaveLength(total);
    expect(failures.body.failures).toContainEqual(
      expect.objectContaining({
        task_id: fixture.taskId,
        request_id: fixture.requestId,
        playbook: PLAYBOOK,
        service: 'failure-drill',
        outcome: 'failed at task "fail on purpose" on localhost: non-zero return code',
        suggestions: fixture.byKey.size,
      }),
    );
    expect(failures.body.by_service).toEqual([{ service: 'failure-drill', failures: total }]);
    expect(failures.body.by_playbook).toEqual([{ playbook: PLAYBOOK, failures: total }]);

    const byService = await call('GET', '/audit/failures?days=7&group_by=service');
    expect(byService.body.by_service).toEqual([{ service: 'failure-drill', failures: total }]);
    expect(byService.body).not.toHaveProperty('by_playbook');
    const byPlaybook = await call('GET', '/audit/failures?group_by=playbook');
    expect(byPlaybook.body).not.toHaveProperty('by_service');

    const first = await call('GET', '/audit/failures?days=7&limit=1');
    const second = await call('GET', `/audit/failures?days=7&limit=1&offset=${first.body.next_offset}`);
    expect(first.body.failures).toHaveLength(1);
    expect(first.body.next_offset).toBe(1);
    expect(second.body.failures[0].task_id).not.toBe(first.body.failures[0].task_id);
    expect(second.body.failures[0].task_id).toBe(failures.body.failures[1].task_id);

    expect((await call('GET', '/audit/failures?days=7&service=kuma')).body).toMatchObject({ total: 0, failures: [], by_service: [] });
    expect((await call('GET', `/audit/failures?playbook=${PLAYBOOK}`)).body.total).toBe(total);

    for (const bad of ['days=0', 'days=-1', 'days=1.5', 'days=week', 'group_by=host', 'limit=0', 'offset=-1']) {
      const refused = await call('GET', `/audit/failures?${bad}`);
      expect(refused.status, bad).toBe(400);
      expect(refused.body.error.code).toBe('invalid_input');
    }
  });
});
