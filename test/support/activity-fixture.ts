// What a test that runs activities outside a worker (in MockActivityEnvironment) starts from: a
// scratch folder with a copy of the sample playbooks, a configuration whose repositories and work
// folders are in it, and a running request of that id in the file's database.
import fs from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadConfig, type ChiffonConfig } from '../../lib/config.js';
import { fromProjectRoot } from '../../lib/paths.js';
import type { PrismaClient } from '../../lib/prisma.js';

export interface ActivityFixture {
  scratch: string;
  config: ChiffonConfig;
  remove(): void;
}

export async function activityFixture(
  prisma: PrismaClient,
  requestId: string,
  extraPlaybooks: Record<string, string> = {},
): Promise<ActivityFixture> {
  const scratch = fs.mkdtempSync(path.join(tmpdir(), `chiffon-${requestId}-`));
  const repo = path.join(scratch, 'playbooks');
  fs.cpSync(fromProjectRoot('playbooks'), repo, { recursive: true });
  for (const [file, content] of Object.entries(extraPlaybooks)) fs.writeFileSync(path.join(repo, file), content);
  const config: ChiffonConfig = {
    ...loadConfig({}),
    playbookRepo: repo,
    auditRepo: path.join(scratch, 'audit'),
    stateDir: path.join(scratch, 'state'),
    workDir: path.join(scratch, 'work'),
  };
  await prisma.request.create({
    data: { id: requestId, workflowId: `request-${requestId}`, message: 'deploy kuma', status: 'running', intents: [] },
  });
  return { scratch, config, remove: () => fs.rmSync(scratch, { recursive: true, force: true }) };
}
