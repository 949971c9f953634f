// Accepting or dismissing a playbook suggestion. This is a person's action, not a workflow step: the
// API calls it directly.
//
// Accepting applies the change to the playbook in its git repository and commits it there:
//   - a fixable rule: ansible-lint's own fixer (`--fix=<rule>`) runs on a throw-away copy of the
//     repository and only the fixed playbook is copied back (any `--fix` run also reformats the
//     file with ansible-lint's YAML formatter, so the commit carries that too);
//   - otherwise the suggestion's stored `patch` (a git-style unified diff, paths relative to the
//     playbook repository, a/ and b/ prefixes) is applied with `git apply`, again on a copy;
//   - otherwise there is nothing to apply: the person edits the playbook and dismisses it.
// It is refused while the playbook differs from what was linted (its sha256), when the playbook has
// uncommitted changes (they would end up in the commit), and when the repository is not a git
// repository. The commit contains that one file (other staged changes stay staged), names the
// suggestion, its rule and the task whose failure produced it, and is recorded on the suggestion.
//
// Accepts on one playbook repository are serialized through PostgreSQL (an advisory lock per
// repository), and every decision takes the suggestion's row lock, so two people, or two API
// processes, never apply changes over each other or decide the same suggestion twice.
import fs from 'node:fs';
import { lstat, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import git from 'isomorphic-git';
import { parseAllDocuments } from 'yaml';
import { baseRuleId } from '../domain/lint-findings.js';
import { sha256 } from '../domain/plan-hash.js';
import type { PlaybookSuggestion, PrismaClient } from '../generated/prisma/client.js';
import type { ChiffonConfig } from '../lib/config.js';
import { lockRepository } from '../lib/repository-lock.js';
import { runAnsibleLint } from './ansible/lint-playbook.js';
import { resolvePlaybook } from './ansible/playbook-path.js';

export const SUGGESTION_STATUSES = ['open', 'accepted', 'dismissed'] as const;

/** A refusal the API answers with `status` and `{"error": {code, message, ...details}}`. */
export class SuggestionError extends Error {
  constructor(
    readonly status: 404 | 409 | 422,
    readonly code: string,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'SuggestionError';
  }
}

export interface AcceptResult {
  suggestion: PlaybookSuggestion;
  commit: string;
  /** How the change was made. */
  method: 'ansible-lint-fix' | 'patch';
  /** The task's other open suggestions that the same fix resolved (the fixer fixes a rule file-wide). */
  alsoAccepted: string[];
}

const author = { name: 'Chiffon', email: 'chiffon@localhost' };
const STDERR_TAIL_CHARS = 2_000;
/** Accepting runs ansible-lint inside the transaction that holds the locks. */
const TRANSACTION = { maxWait: 60_000, timeout: 10 * 60_000 };

type Tx = Parameters<Parameters<PrismaClient['$transaction']>[0]>[0];

function conflict(reason: string, message: string): SuggestionError {
  return new SuggestionError(409, 'conflict', message, { reason });
}

/** An identity as it may appear in a commit message: one line, no control characters. */
function oneLine(text: string): string {
  // eslint-disable-next-line no-control-regex -- control characters are what this removes
  return text.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim();
}

function toPosix(relative: string): string {
  return relative.split(path.sep).join('/');
}

async function lockedSuggestion(tx: Tx, id: string): Promise<PlaybookSuggestion> {
  // The row lock makes a concurrent dismiss (or accept) of the same suggestion wait for this one.
  await tx.$executeRaw`SELECT id FROM playbook_suggestions WHERE id = ${id} FOR UPDATE`;
  const suggestion = await tx.playbookSuggestion.findUnique({ where: { id } });
  if (!suggestion) throw new SuggestionError(404, 'not_found', `no suggestion ${id}`);
  if (suggestion.status !== 'open') {
    const by = suggestion.decidedBy ? ` by ${suggestion.decidedBy}` : '';
    const at = suggestion.decidedAt ? ` at ${suggestion.decidedAt.toISOString()}` : '';
    throw conflict('already_decided', `suggestion ${id} is already ${suggestion.status}${by}${at}`);
  }
  return suggestion;
}

async function headOf(repo: string): Promise<string> {
  try {
    return await git.resolveRef({ fs, dir: repo, ref: 'HEAD' });
  } catch {
    throw conflict('not_a_git_repository', `the playbook repository ${repo} has no commit yet; commit the playbooks first`);
  }
}

async function blobAt(repo: string, commit: string, filepath: string): Promise<Uint8Array | undefined> {
  try {
    return (await git.readBlob({ fs, dir: repo, oid: commit, filepath })).blob;
  } catch {
    return undefined;
  }
}

/** The tree `treeOid` with the file at `segments` pointing at `blobOid` (same mode). */
async function treeWithBlob(repo: string, treeOid: string, segments: string[], blobOid: string): Promise<string> {
  const { tree } = await git.readTree({ fs, dir: repo, oid: treeOid });
  const [name, ...rest] = segments;
  const index = tree.findIndex((entry) => entry.path === name);
  const entry = tree[index];
  if (!entry) throw new Error(`${segments.join('/')} is not in the tree ${treeOid}`);
  const oid = rest.length === 0 ? blobOid : await treeWithBlob(repo, entry.oid, rest, blobOid);
  return git.writeTree({ fs, dir: repo, tree: tree.map((e, i) => (i === index ? { ...e, oid } : e)) });
}

/**
 * Writes `content` to the playbook and commits that one file on top of `head`: the commit's tree is
 * HEAD's with the file replaced, so whatever else is staged in the index stays staged, uncommitted.
 */
async function commitPlaybook(
  repo: string,
  head: string,
  file: string,
  filepath: string,
  content: Buffer,
  message: string,
): Promise<string> {
  const before = await readFile(file);
  const { commit } = await git.readCommit({ fs, dir: repo, oid: head });
  const blob = await git.writeBlob({ fs, dir: repo, blob: content });
  const tree = await treeWithBlob(repo, commit.tree, filepath.split('/'), blob);
  await writeFile(file, content);
  try {
    await git.add({ fs, dir: repo, filepath });
    return await git.commit({ fs, dir: repo, message, author, committer: author, tree, parent: [head] });
  } catch (error) {
    await writeFile(file, before);
    await git.add({ fs, dir: repo, filepath }).catch(() => undefined);
    throw error;
  }
}

/** The playbook after ansible-lint's fixer for the suggestion's rule, and which rules it cleared. */
async function fixWithAnsibleLint(
  tx: Tx,
  config: ChiffonConfig,
  suggestion: PlaybookSuggestion,
): Promise<{ content: Buffer; clearedRules: Set<string> }> {
  const fix = baseRuleId(suggestion.rule);
  let run;
  try {
    run = await runAnsibleLint({ playbookRepo: config.playbookRepo, playbook: suggestion.playbook, workDir: config.workDir, fix });
  } catch (error) {
    throw new SuggestionError(
      422,
      'fix_failed',
      `ansible-lint --fix=${fix} failed on ${suggestion.playbook}: ${String(error instanceof Error ? error.message : error).slice(-STDERR_TAIL_CHARS)}`,
    );
  }
  const remaining = (rule: string) => run.findings.filter((f) => f.rule === rule && f.path === suggestion.path).length;
  // A rule can be reported several times in one file (once per task): it was fixed when fewer remain.
  const before = await tx.playbookSuggestion.count({ where: { taskId: suggestion.taskId, rule: suggestion.rule, path: suggestion.path } });
  if (!run.fixed || remaining(suggestion.rule) >= before) {
    throw new SuggestionError(
      422,
      'fix_not_applied',
      `ansible-lint's fixer did not resolve ${suggestion.rule} in ${suggestion.playbook}; edit the playbook by hand and dismiss the suggestion`,
    );
  }
  // Every sub-rule of the fixed rule that no longer appears in the file (e.g. all fqcn[...] ones).
  const clearedRules = new Set<string>();
  const siblings = await tx.playbookSuggestion.findMany({
    where: { taskId: suggestion.taskId, path: suggestion.path },
    select: { rule: true },
    distinct: ['rule'],
  });
  for (const { rule } of siblings) if (baseRuleId(rule) === fix && remaining(rule) === 0) clearedRules.add(rule);
  return { content: run.fixed, clearedRules };
}

/** The playbook with the stored patch applied (`git apply` on a copy holding only that file). */
async function applyPatch(config: ChiffonConfig, patch: string, filepath: string, content: Buffer): Promise<Buffer> {
  const workDir = path.resolve(config.workDir);
  await mkdir(workDir, { recursive: true });
  const dir = await mkdtemp(path.join(workDir, 'suggestion-patch-'));
  try {
    const tree = path.join(dir, 'tree');
    const file = path.join(tree, ...filepath.split('/'));
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, content);
    const patchFile = path.join(dir, 'change.patch');
    await writeFile(patchFile, patch.endsWith('\n') ? patch : `${patch}\n`);
    // Outside any repository (discovery stops at `dir`), git apply works like patch(1), refusing
    // paths that leave the tree; no user or system configuration is read.
    const options = {
      cwd: tree,
      env: {
        GIT_CEILING_DIRECTORIES: dir,
        GIT_CONFIG_NOSYSTEM: '1',
        GIT_CONFIG_GLOBAL: path.join(dir, 'gitconfig'),
        HOME: dir,
        LC_ALL: 'C',
      },
      stdin: 'ignore' as const,
      reject: false,
    };
    const touched = await execa('git', ['apply', '--numstat', patchFile], options);
    if (touched.exitCode !== 0) {
      throw new SuggestionError(
        422,
        'fix_failed',
        `the stored patch cannot be read: ${touched.stderr.slice(-STDERR_TAIL_CHARS) || touched.shortMessage}`,
      );
    }
    const files = touched.stdout
      .split('\n')
      .filter(Boolean)
      .map((line) => line.split('\t')[2]);
    if (files.length === 0 || files.some((f) => f !== filepath)) {
      throw new SuggestionError(
        422,
        'fix_failed',
        `the stored patch must change ${filepath} only; it changes ${files.join(', ') || 'nothing'}`,
      );
    }
    // Content only: a patch that changes a file's mode, or makes it a symlink (whose target, read
    // back, would be committed as the playbook), is no fix of a playbook.
    const summary = await execa('git', ['apply', '--summary', patchFile], options);
    const structural = summary.stdout
      .split('\n')
      .map((line) => line.trim())
      .filter(Boolean);
    if (summary.exitCode !== 0 || structural.length > 0) {
      throw new SuggestionError(
        422,
        'fix_failed',
        `the stored patch must change the content of ${filepath} only; it would ${structural.join('; ') || 'not apply'}`,
      );
    }
    const applied = await execa('git', ['apply', '--whitespace=nowarn', patchFile], options);
    if (applied.exitCode !== 0) {
      throw new SuggestionError(
        422,
        'fix_failed',
        `the stored patch does not apply to ${filepath}: ${applied.stderr.slice(-STDERR_TAIL_CHARS) || applied.shortMessage}`,
      );
    }
    if (!(await lstat(file)).isFile())
      throw new SuggestionError(422, 'fix_failed', `the stored patch does not leave ${filepath} a regular file`);
    return await readFile(file);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function commitMessage(suggestion: PlaybookSuggestion, requestId: string, by: string, method: AcceptResult['method']): string {
  const where = suggestion.line ? `${suggestion.path}:${suggestion.line}` : suggestion.path;
  const how = method === 'patch' ? "the suggestion's stored patch" : `ansible-lint --fix=${baseRuleId(suggestion.rule)}`;
  return [
    `Apply suggestion ${suggestion.id}: ${suggestion.rule} in ${suggestion.playbook}`,
    '',
    suggestion.suggestedChange ? `${suggestion.suggestedChange} (${where}).` : `${suggestion.message} (${where}).`,
    '',
    `ansible-lint found ${suggestion.rule} when task ${suggestion.taskId} of request ${requestId} failed.`,
    `Applied with ${how}; accepted by ${by} in Chiffon.`,
    '',
    `Chiffon-Suggestion: ${suggestion.id}`,
    `Chiffon-Rule: ${suggestion.rule}`,
    `Chiffon-Task: ${suggestion.taskId}`,
    `Chiffon-Request: ${requestId}`,
    `Accepted-By: ${by}`,
    '',
  ].join('\n');
}

/**
 * Applies suggestion `id` to its playbook, commits it in the playbook repository and marks it
 * accepted by `by`. Throws SuggestionError: 404 unknown; 409 already decided, playbook changed since
 * the suggestion was made, uncommitted changes, not a git repository; 422 no automatic fix, or the
 * fix did not apply.
 */
export async function acceptSuggestion(prisma: PrismaClient, config: ChiffonConfig, id: string, by: string): Promise<AcceptResult> {
  const who = oneLine(by);
  const repo = path.resolve(config.playbookRepo);
  return prisma.$transaction(async (tx) => {
    // One accept at a time per playbook repository, whichever process serves it.
    await lockRepository(tx, 'playbook-repo', repo);
    const suggestion = await lockedSuggestion(tx, id);

    if (!fs.existsSync(path.join(repo, '.git'))) {
      throw conflict(
        'not_a_git_repository',
        `the playbook repository ${repo} is not a git repository (it has no .git); accepting a suggestion commits the change there: ` +
          'make it one (git init, commit the playbooks) or point CHIFFON_PLAYBOOK_REPO at a git checkout',
      );
    }
    const file = await resolvePlaybook(repo, suggestion.playbook).catch(() => {
      throw conflict('playbook_changed', `the playbook ${suggestion.playbook} no longer exists in ${repo}`);
    });
    const filepath = toPosix(path.relative(repo, file));
    const current = await readFile(file);
    if (!suggestion.playbookSha256) {
      throw conflict(
        'playbook_changed',
        `suggestion ${id} does not record which version of ${suggestion.playbook} it was made for; dismiss it (the next failure is analyzed afresh)`,
      );
    }
    if (sha256(current) !== suggestion.playbookSha256) {
      throw conflict(
        'playbook_changed',
        `the playbook changed since the suggestion was made: ${suggestion.playbook} is no longer the version ansible-lint analyzed`,
      );
    }
    const head = await headOf(repo);
    const committed = await blobAt(repo, head, filepath);
    if (!committed || !Buffer.from(committed).equals(current)) {
      throw conflict(
        'uncommitted_changes',
        `${filepath} ${committed ? 'has uncommitted changes' : 'is not committed'} in the playbook repository; commit it first, so that the suggestion's commit holds only the suggested change`,
      );
    }
    let method: AcceptResult['method'];
    let content: Buffer;
    let clearedRules = new Set<string>();
    if (suggestion.fixable && suggestion.path === filepath) {
      method = 'ansible-lint-fix';
      ({ content, clearedRules } = await fixWithAnsibleLint(tx, config, suggestion));
    } else if (suggestion.patch) {
      method = 'patch';
      content = await applyPatch(config, suggestion.patch, filepath, current);
    } else if (suggestion.fixable) {
      throw new SuggestionError(
        422,
        'no_automatic_fix',
        `the finding is in ${suggestion.path}, not in the playbook ${filepath}, and Chiffon changes only the playbook; edit the file by hand and dismiss the suggestion`,
      );
    } else {
      throw new SuggestionError(422, 'no_automatic_fix', 'this suggestion has no automatic fix; edit the playbook by hand and dismiss it');
    }
    if (content.equals(current)) {
      throw new SuggestionError(422, 'fix_not_applied', `applying the suggestion leaves ${filepath} as it is; dismiss it`);
    }
    const invalid = parseAllDocuments(content.toString('utf8')).flatMap((doc) => doc.errors);
    if (invalid.length > 0) {
      throw new SuggestionError(
        422,
        'fix_not_applied',
        `applying the suggestion would leave ${filepath} invalid YAML: ${invalid[0]!.message}`,
      );
    }

    const task = await tx.task.findUnique({ where: { id: suggestion.taskId }, select: { requestId: true } });
    const commit = await commitPlaybook(
      repo,
      head,
      file,
      filepath,
      content,
      commitMessage(suggestion, task?.requestId ?? 'unknown', who, method),
    );
    const decided = { status: 'accepted', decidedBy: who, decidedAt: new Date(), commitHash: commit };
    // The fixer rewrites every occurrence of the rule in the file: the task's other findings of it
    // are resolved by this commit too. (Only the task's: suggestions do not record which repository
    // they were made in, and one database may serve several.)
    const siblings = await tx.playbookSuggestion.findMany({
      where: { id: { not: id }, taskId: suggestion.taskId, status: 'open', path: suggestion.path, rule: { in: [...clearedRules] } },
      select: { id: true },
    });
    let alsoAccepted: string[] = [];
    if (siblings.length > 0) {
      // Still open: one dismissed meanwhile (its row lock released) keeps its decision.
      const ids = siblings.map((s) => s.id);
      await tx.playbookSuggestion.updateMany({ where: { id: { in: ids }, status: 'open' }, data: decided });
      const updated = await tx.playbookSuggestion.findMany({ where: { id: { in: ids }, commitHash: commit }, select: { id: true } });
      alsoAccepted = updated.map((s) => s.id);
    }
    const accepted = await tx.playbookSuggestion.update({ where: { id }, data: decided });
    return { suggestion: accepted, commit, method, alsoAccepted };
  }, TRANSACTION);
}

/** Marks suggestion `id` dismissed by `by`. Throws SuggestionError: 404 unknown, 409 already decided. */
export async function dismissSuggestion(prisma: PrismaClient, id: string, by: string): Promise<PlaybookSuggestion> {
  const who = oneLine(by);
  return prisma.$transaction(async (tx) => {
    await lockedSuggestion(tx, id);
    return tx.playbookSuggestion.update({ where: { id }, data: { status: 'dismissed', decidedBy: who, decidedAt: new Date() } });
  }, TRANSACTION);
}
