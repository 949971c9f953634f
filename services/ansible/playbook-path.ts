// Where a playbook of the repository is on disk; a path (or a symlink) leading out of the
// repository is refused, so a request can never run or lint a file elsewhere.
import { realpath, stat } from 'node:fs/promises';
import { resolveInside } from '../../lib/paths.js';

export async function resolvePlaybook(repo: string, playbook: string): Promise<string> {
  const resolved = resolveInside(repo, playbook);
  const info = await stat(resolved).catch(() => undefined);
  if (!info?.isFile()) throw new Error(`playbook ${JSON.stringify(playbook)} not found in ${repo}`);
  // resolveInside is lexical: a symlink inside the repository must not lead out of it either.
  resolveInside(await realpath(repo), await realpath(resolved));
  return resolved;
}
