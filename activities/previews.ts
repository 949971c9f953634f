// The preflight of a plan: each step's preview (ansible/preview-playbook.ts), all steps at once,
// remembered by what the plan hash binds (the step's command line and the repository's
// fingerprint), so a plan made again from unchanged files is not listed again.
import { heartbeat } from '@temporalio/activity';
import { stringify } from 'safe-stable-stringify';
import { HEARTBEAT_EVERY_MS } from '../domain/heartbeats.js';
import { limitOf } from '../domain/fleet.js';
import { sha256 } from '../domain/plan-hash.js';
import { createRedactor, secretValues, secretVarNames } from '../domain/redaction.js';
import type { PlanFingerprint, PlanStep, StepPreview } from '../domain/types.js';
import type { ChiffonConfig } from '../lib/config.js';
import { previewPlaybook } from '../services/ansible/preview-playbook.js';
import { locateInventory } from '../services/inventory/inventory-source.js';

export interface PreviewPlanInput {
  steps: PlanStep[];
  fingerprint: PlanFingerprint;
}

const REMEMBERED = 256;

export interface PreviewOptions {
  /** Through the repository's warm ansible-playbook (the default); false: a process per step (the bench compares). */
  warmAnsible?: boolean;
}

export function createPreviewActivities(
  config: Pick<ChiffonConfig, 'playbookRepo' | 'inventory' | 'stateDir' | 'workDir' | 'workerHost' | 'ansiblePassEnv'>,
  options: PreviewOptions = {},
) {
  const remembered = new Map<string, StepPreview>();

  async function previewStep(step: PlanStep, fingerprint: PlanFingerprint, inventory: string[]): Promise<StepPreview> {
    const limit = limitOf(step);
    // What the run gets: its vars, and the agent that will run it.
    const vars = { ...step.vars, chiffon_agent: step.agent ?? config.workerHost };
    const key = sha256(stringify({ fingerprint, playbook: step.playbook, limit, tags: step.tags, vars, inventory }) ?? '');
    const known = remembered.get(key);
    if (known) return structuredClone(known);
    const preview = await previewPlaybook({
      playbookRepo: config.playbookRepo,
      playbook: step.playbook,
      inventory,
      ...(limit ? { limit } : {}),
      ...(step.tags ? { tags: step.tags } : {}),
      vars,
      stateDir: config.stateDir,
      workDir: config.workDir,
      passEnv: config.ansiblePassEnv,
      ...(options.warmAnsible === false ? { warmAnsible: false } : {}),
    });
    // Task names are templated by Ansible and may show a var's value: secrets go, as everywhere.
    const secret = secretVarNames(step, () => undefined);
    const shown = createRedactor(
      secretValues(
        step.vars,
        secret.map((name) => ({ name, secret: true })),
      ),
    ).value(preview);
    remembered.set(key, shown);
    while (remembered.size > REMEMBERED) remembered.delete(remembered.keys().next().value!);
    return structuredClone(shown);
  }

  return {
    /** Each step's preview, in step order; a step that cannot run says why in `problems`. */
    async previewPlan({ steps, fingerprint }: PreviewPlanInput): Promise<StepPreview[]> {
      let inventory: string[];
      try {
        inventory = (await locateInventory(config.playbookRepo, config.inventory)).sources;
      } catch (err) {
        const problem = err instanceof Error ? err.message : String(err);
        return steps.map(() => ({ ok: false, hosts: [], tasks: [], problems: [problem] }));
      }
      // Alive while ansible lists (seconds): a preview lost with its worker is given again soon.
      const alive = setInterval(() => {
        try {
          heartbeat();
        } catch {
          // Called outside an activity (the bench): nobody to tell.
        }
      }, HEARTBEAT_EVERY_MS);
      try {
        return await Promise.all(steps.map((step) => previewStep(step, fingerprint, inventory)));
      } finally {
        clearInterval(alive);
      }
    },
  };
}
