// What an Ansible command's configuration depends on, as one hash: the ansible.cfg files Ansible may
// read (the repository's, ~/.ansible.cfg, /etc/ansible/ansible.cfg), the repository folder's mode
// (Ansible ignores the ansible.cfg of a world-writable one), the environment and the binary. Equal
// keys: the same configuration; the memoized inventory answer and the warm ansible-playbook go by it.
import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

export async function ansibleConfigKey(repo: string, binary: string, env: Record<string, string>): Promise<string> {
  const hash = createHash('sha256');
  const part = (label: string, value: string | Buffer) => {
    hash.update(`${label}:${Buffer.byteLength(value)}:`);
    hash.update(value);
  };
  part('binary', binary);
  part('repo', repo);
  part('mode', String((await stat(repo).catch(() => undefined))?.mode ?? 'missing'));
  for (const [name, value] of Object.entries(env).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) part(`env:${name}`, value);
  for (const file of [path.join(repo, 'ansible.cfg'), path.join(os.homedir(), '.ansible.cfg'), '/etc/ansible/ansible.cfg']) {
    part(`config:${file}`, (await readFile(file).catch(() => undefined)) ?? 'missing');
  }
  return hash.digest('hex');
}
