// Reads what a plan depends on from disk: each playbook's content, the inventory, the repo's HEAD.
import fs from 'node:fs';
import path from 'node:path';
import git from 'isomorphic-git';
import { sha256 } from '../domain/plan-hash.js';
import type { PlanFingerprint } from '../domain/types.js';
import { resolveInside } from '../lib/paths.js';

async function fileHash(file: string): Promise<string> {
  try {
    return sha256(await fs.promises.readFile(file));
  } catch {
    return 'missing';
  }
}

async function repoHead(repoDir: string): Promise<string | undefined> {
  if (!fs.existsSync(path.join(repoDir, '.git'))) return undefined;
  return git.resolveRef({ fs, dir: repoDir, ref: 'HEAD' }).catch(() => undefined);
}

export async function readFingerprint(repoDir: string, inventory: string, playbooks: string[]): Promise<PlanFingerprint> {
  const entries = await Promise.all(playbooks.map(async (p) => [p, await fileHash(resolveInside(repoDir, p))] as const));
  const repoCommit = await repoHead(repoDir);
  return {
    playbooks: Object.fromEntries(entries),
    inventory: await fileHash(path.resolve(repoDir, inventory)),
    ...(repoCommit ? { repoCommit } : {}),
  };
}
