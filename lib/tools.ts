// Finds the external programs Chiffon runs: an environment override first, then the project's
// virtualenv (.tools/venv, made by scripts/setup.sh), then PATH.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fromProjectRoot } from './paths.js';

const venvBin = fromProjectRoot('.tools', 'venv', 'bin');

function findOnPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    if (existsSync(candidate)) return candidate;
  }
  return undefined;
}

function findTool(name: string, overrideVar?: string): string {
  const override = overrideVar ? process.env[overrideVar] : undefined;
  if (override) {
    if (!existsSync(override)) throw new Error(`${overrideVar}=${override} does not exist`);
    return override;
  }
  const inVenv = path.join(venvBin, name);
  if (existsSync(inVenv)) return inVenv;
  const onPath = findOnPath(name);
  if (onPath) return onPath;
  throw new Error(`${name} not found: run \`npm run setup\` (or set ${overrideVar ?? 'PATH'})`);
}

export const tools = {
  temporalCli: () => findTool('temporal', 'TEMPORAL_CLI_PATH'),
  temporalTestServer: () => findTool('temporal-test-server', 'TEMPORAL_TEST_SERVER_PATH'),
  ansiblePlaybook: () => findTool('ansible-playbook', 'ANSIBLE_PLAYBOOK_PATH'),
  ansibleLint: () => findTool('ansible-lint', 'ANSIBLE_LINT_PATH'),
  ansibleInventory: () => findTool('ansible-inventory', 'ANSIBLE_INVENTORY_PATH'),
  ansibleConfig: () => findTool('ansible-config', 'ANSIBLE_CONFIG_TOOL_PATH'),
};
