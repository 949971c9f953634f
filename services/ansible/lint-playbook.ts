// Runs ansible-lint over one playbook and returns its findings.
//
// ansible-lint rewrites files in place when its config asks for it (`write_list` in a repository's
// .ansible-lint wins over anything on the command line, `--fix none` included), so it runs on a
// throw-away copy of the repository under workDir: the playbook itself is never touched. The copy's
// config loses `write_list` too, so the findings are those of the playbook as it is, not of what
// would remain after fixing. Each finding carries the sha256 of the playbook it was made from.
//
// With `fix` (accepting a suggestion), ansible-lint's fixer runs on the copy for that one rule and
// the fixed playbook's content is returned; the repository is still never touched here. Note that
// any `--fix` run also reformats the whole file with ansible-lint's YAML formatter.
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { parseDocument } from 'yaml';
import { lintFindingsFromCodeclimate } from '../../domain/lint-findings.js';
import { sha256 } from '../../domain/plan-hash.js';
import type { LintFinding } from '../../domain/types.js';
import { allowedEnv } from '../../lib/child-env.js';
import { tools } from '../../lib/tools.js';
import { resolvePlaybook } from './playbook-path.js';

export interface LintPlaybookOptions {
  playbookRepo: string;
  /** Path of the playbook inside the repository. */
  playbook: string;
  /** Holds the copy, ansible-lint's temp files (removed afterwards) and its cache. */
  workDir: string;
  /** More environment variables to give ansible-lint (CHIFFON_ANSIBLE_ENV). */
  passEnv?: readonly string[];
}

export interface AnsibleLintOptions extends LintPlaybookOptions {
  /** A rule id (or tag) for `--fix`: ansible-lint rewrites the copy's playbook for that rule. */
  fix?: string;
}

export interface AnsibleLintRun {
  /** What ansible-lint reported; after a fix, what it did not fix. */
  findings: LintFinding[];
  /** sha256 of the playbook as ansible-lint read it. */
  playbookSha256: string;
  /** With `fix`: the playbook's content afterwards, when ansible-lint changed it. */
  fixed?: Buffer;
}

const STDERR_TAIL_CHARS = 4_096;
/** ansible-lint exit codes that carry a report: 0 clean (warnings possible), 2 violations. */
const REPORT_EXIT_CODES = new Set([0, 2]);
/** ... and with --fix: 8 all violations fixed. */
const FIX_EXIT_CODES = new Set([0, 2, 8]);
/** What --fix takes here: one rule id or tag (no list, no option). */
const FIX_RULE = /^[a-z0-9][a-z0-9-]*$/;
/** The file names ansible-lint looks for, in its order (ansiblelint/cli.py get_config_path). */
const CONFIG_NAMES = ['.ansible-lint', '.ansible-lint.yml', '.ansible-lint.yaml', '.config/ansible-lint.yml', '.config/ansible-lint.yaml'];

function isInside(root: string, file: string): boolean {
  const relative = path.relative(root, file);
  return relative !== '' && !relative.startsWith('..') && !path.isAbsolute(relative);
}

/** The config ansible-lint would pick when run in `dir`: it climbs up to the first .git folder. */
function findLintConfig(dir: string): string | undefined {
  for (let current = dir; ; current = path.dirname(current)) {
    const found = CONFIG_NAMES.map((name) => path.join(current, name)).find((file) => existsSync(file));
    if (found) return found;
    if (existsSync(path.join(current, '.git')) || path.dirname(current) === current) return undefined;
  }
}

/** Drops `write_list` from a config file of the copy (only when present: the file stays as it was). */
async function disableFixes(configFile: string): Promise<void> {
  const document = parseDocument(await readFile(configFile, 'utf8'));
  if (!document.has('write_list')) return;
  document.delete('write_list');
  await writeFile(configFile, String(document));
}

/** The playbook's findings, each with the sha256 of the content linted. */
export async function lintPlaybook(options: LintPlaybookOptions): Promise<LintFinding[]> {
  const { findings, playbookSha256 } = await runAnsibleLint(options);
  return findings.map((finding) => ({ ...finding, playbookSha256 }));
}

/** Runs ansible-lint (and, with `fix`, its fixer) on a throw-away copy of the repository. */
export async function runAnsibleLint(options: AnsibleLintOptions): Promise<AnsibleLintRun> {
  if (options.fix !== undefined && !FIX_RULE.test(options.fix)) throw new Error(`not a rule id for --fix: ${JSON.stringify(options.fix)}`);
  const repo = path.resolve(options.playbookRepo);
  const playbookPath = await resolvePlaybook(repo, options.playbook);
  const ansibleLint = tools.ansibleLint();
  const workDir = path.resolve(options.workDir);
  await mkdir(workDir, { recursive: true });
  const runDir = await mkdtemp(path.join(workDir, 'ansible-lint-'));
  try {
    const copy = path.join(runDir, 'repo');
    const localTemp = path.join(runDir, 'tmp');
    // History is not needed to lint; relative symlinks keep pointing inside the copy; a workDir
    // inside the repository is not copied into itself.
    await cp(repo, copy, {
      recursive: true,
      verbatimSymlinks: true,
      filter: (source) => !(path.basename(source) === '.git' && path.dirname(source) === repo) && source !== workDir,
    });
    await mkdir(localTemp);

    // The copy sits elsewhere, so its config lookup would climb through other folders: hand
    // ansible-lint the config it would have found from the repository (or none). A config above
    // the repository is used as it is (its relative paths are relative to where it lives).
    const config = findLintConfig(repo);
    let configArg = '/dev/null';
    if (config && isInside(repo, config)) {
      configArg = path.join(copy, path.relative(repo, config));
      await disableFixes(configArg);
    } else if (config) {
      configArg = config;
    }

    // `./` keeps a file named `-x.yml` from reading as an option.
    const target = `.${path.sep}${path.relative(repo, playbookPath)}`;
    const copiedPlaybook = path.join(copy, path.relative(repo, playbookPath));
    const linted = await readFile(copiedPlaybook);
    const fixArgs = options.fix === undefined ? [] : [`--fix=${options.fix}`];
    const result = await execa(
      ansibleLint,
      ['--offline', '-f', 'codeclimate', ...fixArgs, '--project-dir', copy, '-c', configArg, target],
      {
        cwd: copy,
        // The allow-listed environment only (lib/child-env.ts): never Chiffon's own secrets.
        env: {
          ...allowedEnv(options.passEnv),
          // ansible-lint warns unless its own bin folder comes first on PATH.
          PATH: [path.dirname(ansibleLint), process.env.PATH].filter(Boolean).join(path.delimiter),
          ANSIBLE_LOCAL_TEMP: localTemp,
          XDG_CACHE_HOME: path.join(workDir, 'cache'),
          NO_COLOR: '1',
          ANSIBLE_NOCOLOR: '1',
        },
        extendEnv: false,
        stdin: 'ignore',
        reject: false,
      },
    );

    const stderrTail = result.stderr.slice(-STDERR_TAIL_CHARS);
    if (result.exitCode === undefined) {
      throw new Error(`cannot run ansible-lint: ${result.shortMessage}`);
    }
    if (!(options.fix === undefined ? REPORT_EXIT_CODES : FIX_EXIT_CODES).has(result.exitCode)) {
      throw new Error(`ansible-lint exited with code ${result.exitCode}: ${stderrTail}`);
    }
    let report: unknown;
    try {
      report = JSON.parse(result.stdout.trim() || '[]');
    } catch {
      throw new Error(`ansible-lint printed no codeclimate report (exit ${result.exitCode}): ${stderrTail}`);
    }
    const findings = lintFindingsFromCodeclimate(report, { root: copy });
    const run: AnsibleLintRun = { findings, playbookSha256: sha256(linted) };
    if (options.fix !== undefined) {
      const after = await readFile(copiedPlaybook);
      if (!after.equals(linted)) run.fixed = after;
    }
    return run;
  } finally {
    await rm(runDir, { recursive: true, force: true });
  }
}
