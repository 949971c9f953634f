// Where the project lives on disk, so every module resolves project files the same way.
import { fileURLToPath } from 'node:url';
import path from 'node:path';

export const projectRoot = path.resolve(fileURLToPath(new URL('..', import.meta.url)));

export function fromProjectRoot(...segments: string[]): string {
  return path.join(projectRoot, ...segments);
}

/** Resolves `candidate` against `root` and refuses anything that would land outside it. */
export function resolveInside(root: string, candidate: string): string {
  const base = path.resolve(root);
  const resolved = path.resolve(base, candidate);
  if (resolved !== base && !resolved.startsWith(base + path.sep)) {
    throw new Error(`path ${JSON.stringify(candidate)} leaves ${base}`);
  }
  return resolved;
}
