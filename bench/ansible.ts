// Runs a playbook directly with ansible-playbook, the way the worker's step activity does (same
// binary, inventory, stdout callback and environment, extra vars from a 0600 JSON file), for the
// "raw ansible" side of each comparison.
import fs from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { tools } from '../lib/tools.js';

let runs = 0;

export async function runAnsibleDirectly(repo: string, playbook: string, scratch: string): Promise<{ ms: number; exitCode: number }> {
  const dir = path.join(scratch, `raw-${process.pid}-${++runs}`);
  fs.mkdirSync(path.join(dir, 'tmp'), { recursive: true });
  fs.mkdirSync(path.join(dir, 'state'), { recursive: true }); // the worker makes the step's state folder too
  const varsFile = path.join(dir, 'vars.json');
  fs.writeFileSync(varsFile, JSON.stringify({ chiffon_state_dir: path.join(dir, 'state') }), { mode: 0o600 });
  const ansiblePlaybook = tools.ansiblePlaybook();
  const started = performance.now();
  const result = await execa(
    ansiblePlaybook,
    ['-i', path.join(repo, 'inventory', 'hosts.yml'), '-e', `@${varsFile}`, path.join(repo, playbook)],
    {
      cwd: repo,
      env: {
        PATH: [path.dirname(ansiblePlaybook), process.env.PATH].filter(Boolean).join(path.delimiter),
        ANSIBLE_STDOUT_CALLBACK: 'ansible.posix.jsonl',
        PYTHONUNBUFFERED: '1',
        ANSIBLE_JSON_INDENT: '0',
        ANSIBLE_NOCOLOR: '1',
        ANSIBLE_FORCE_COLOR: '0',
        ANSIBLE_RETRY_FILES_ENABLED: '0',
        ANSIBLE_LOCAL_TEMP: path.join(dir, 'tmp'),
        ANSIBLE_INVENTORY_UNPARSED_FAILED: '1',
      },
      stdin: 'ignore',
      reject: false,
      timeout: 300_000,
    },
  );
  const ms = performance.now() - started;
  fs.rmSync(dir, { recursive: true, force: true });
  return { ms, exitCode: result.exitCode ?? -1 };
}

export async function ansibleVersion(): Promise<string> {
  const result = await execa(tools.ansiblePlaybook(), ['--version'], { reject: false });
  return result.stdout.split('\n')[0]?.trim() ?? 'unknown';
}
