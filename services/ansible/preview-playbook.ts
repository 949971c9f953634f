// A step's preflight: `ansible-playbook --list-hosts --list-tasks` with the exact command line the
// run will use (playbook-command.ts). Listing parses the whole playbook with its imports and roles,
// so it fails where `--syntax-check` would, and also resolves the hosts (inventory and --limit) and
// the tasks --tags selects. What cannot run is said here, before anyone approves it. It runs in the
// repository's warm ansible-playbook (warm-ansible.ts) when there is one, else as its own process.
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { parseListing } from '../../domain/ansible-listing.js';
import type { StepPreview } from '../../domain/types.js';
import { tools } from '../../lib/tools.js';
import { ansibleEnv, playbookArgs, resolveInventory, serializeVars } from './playbook-command.js';
import { resolvePlaybook } from './playbook-path.js';
import type { RunPlaybookOptions } from './run-playbook.js';
import { runWarmAnsiblePlaybook } from './warm-ansible.js';

/** What the run would get (run-playbook.ts), and how long the listing may take. */
export type PreviewPlaybookOptions = Pick<
  RunPlaybookOptions,
  'playbookRepo' | 'playbook' | 'inventory' | 'limit' | 'tags' | 'vars' | 'stateDir' | 'workDir' | 'passEnv'
> & {
  timeoutMs?: number;
  /** false: always its own ansible-playbook process, never the warm one. */
  warmAnsible?: boolean;
};

const REQUIREMENTS = ['requirements.yml', 'requirements.yaml', 'roles/requirements.yml', 'collections/requirements.yml'];

/** Ansible's error lines, without the source excerpt it prints under them. */
function errorsOf(stderr: string): string[] {
  return stderr
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => /^\[?ERROR\]?:?|^ERROR!/.test(line))
    .map((line) => line.replace(/^\[ERROR\]:\s*|^ERROR!\s*/, ''));
}

/** What to do about a missing role or collection: the command that installs it, when the repository says. */
function installHint(repo: string, error: string): string | undefined {
  const requirements = REQUIREMENTS.find((file) => existsSync(path.join(repo, file)));
  if (/the role '[^']+' was not found/.test(error)) {
    return requirements
      ? `install it with: ansible-galaxy install -r ${requirements}`
      : 'install it with ansible-galaxy install, or add it under roles/';
  }
  if (/couldn't resolve module\/action|collection .* not found|unable to find .* collection/i.test(error)) {
    return requirements
      ? `install it with: ansible-galaxy collection install -r ${requirements}`
      : 'install the collection with ansible-galaxy collection install';
  }
  return undefined;
}

export async function previewPlaybook(options: PreviewPlaybookOptions): Promise<StepPreview> {
  const repo = path.resolve(options.playbookRepo);
  let playbookPath: string;
  let inventorySources: string[];
  try {
    playbookPath = await resolvePlaybook(repo, options.playbook);
    inventorySources = resolveInventory(repo, options.inventory);
  } catch (err) {
    return { ok: false, hosts: [], tasks: [], problems: [err instanceof Error ? err.message : String(err)] };
  }
  const workDir = path.resolve(options.workDir);
  await mkdir(workDir, { recursive: true });
  const runDir = await mkdtemp(path.join(workDir, 'ansible-preview-'));
  try {
    const varsFile = path.join(runDir, 'extra-vars.yml');
    const localTemp = path.join(runDir, 'tmp');
    await writeFile(varsFile, serializeVars(options.vars, path.resolve(options.stateDir)), { mode: 0o600, flag: 'wx' });
    await mkdir(localTemp);
    const ansiblePlaybook = tools.ansiblePlaybook();
    const command = {
      inventorySources,
      ...(options.limit ? { limit: options.limit } : {}),
      ...(options.tags ? { tags: options.tags } : {}),
      varsFile,
      playbookPath,
    };
    const argv = [...playbookArgs(command), '--list-hosts', '--list-tasks'];
    const timeoutMs = options.timeoutMs ?? 120_000;
    const warm =
      options.warmAnsible === false
        ? undefined
        : await runWarmAnsiblePlaybook({ ansiblePlaybook, repo, argv, outputDir: runDir, timeoutMs, passEnv: options.passEnv ?? [] });
    const result =
      warm ??
      (await execa(ansiblePlaybook, argv, {
        cwd: repo,
        env: ansibleEnv(ansiblePlaybook, localTemp, options.passEnv),
        extendEnv: false,
        stdin: 'ignore',
        reject: false,
        timeout: timeoutMs,
      }));
    const plays = parseListing(String(result.stdout ?? ''));
    const hosts = [...new Set(plays.flatMap((p) => p.hosts))];
    const tasks = plays.flatMap((p) => p.tasks);
    const problems: string[] = [];
    if (result.timedOut) problems.push(`ansible-playbook --list-tasks did not answer within ${timeoutMs / 1000} s`);
    else if (result.exitCode !== 0) {
      const errors = errorsOf(String(result.stderr ?? ''));
      if (errors.length === 0)
        errors.push(
          `ansible-playbook exited with code ${result.exitCode}: ${
            String(result.stderr ?? '')
              .trim()
              .split('\n')
              .pop() ?? ''
          }`,
        );
      for (const error of errors) {
        const hint = installHint(repo, error);
        problems.push(hint ? `${error}; ${hint}` : error);
      }
    } else {
      if (hosts.length === 0) problems.push(`no host matches the run${options.limit ? ` (--limit ${options.limit})` : ''}`);
      if (options.tags?.length && tasks.length === 0)
        problems.push(`--tags ${options.tags.join(',')} selects no task of ${options.playbook}`);
    }
    return { ok: problems.length === 0, hosts, tasks, problems };
  } finally {
    // The extra-vars file may hold secrets: it goes whatever happened.
    await rm(runDir, { recursive: true, force: true });
  }
}
