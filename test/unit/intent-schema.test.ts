import { describe, expect, it } from 'vitest';
import { buildDecompositionPrompt, PROMPT_LIMITS, stripJsonFence, validateModelIntents } from '../../domain/intent-schema.js';
import type { Catalog } from '../../domain/types.js';
import { playbookEntry as playbook } from '../support/catalog-entry.js';

const catalog: Catalog = {
  warnings: [],
  playbooks: [
    playbook({
      path: 'kuma-deploy.yml',
      service: 'kuma',
      aliases: ['uptime kuma'],
      description: 'Deploys Uptime Kuma.',
      intents: [{ name: 'deploy_kuma', verbs: ['deploy', 'install'], objects: [] }],
      vars: [{ name: 'kuma_admin_password', type: 'str', required: false, secret: true, default: 'hunter2-default-secret' }],
    }),
    playbook({
      path: 'kuma-config-update.yml',
      service: 'kuma',
      intents: [
        { name: 'add_portals_to_config', verbs: ['add'], objects: ['portals'] },
        { name: 'configure_kuma', verbs: ['configure'], objects: [] },
      ],
      after: ['kuma-deploy.yml'],
    }),
    playbook({
      path: 'postgres-setup.yml',
      service: 'postgres',
      intents: [{ name: 'setup_postgres', verbs: ['set up'], objects: [] }],
    }),
  ],
};

const kumaAnswer = {
  intents: [
    { name: 'deploy_kuma', playbook: 'kuma-deploy.yml', source: 'Deploy Kuma Uptime to homelab' },
    { name: 'add_portals_to_config', playbook: 'kuma-config-update.yml', source: 'add our existing portals to the config' },
  ],
};

describe('validateModelIntents', () => {
  it('accepts the contract and takes the service from the catalog', () => {
    expect(validateModelIntents(kumaAnswer, catalog)).toEqual({
      ok: true,
      intents: [
        { name: 'deploy_kuma', service: 'kuma', playbook: 'kuma-deploy.yml', source: 'Deploy Kuma Uptime to homelab' },
        {
          name: 'add_portals_to_config',
          service: 'kuma',
          playbook: 'kuma-config-update.yml',
          source: 'add our existing portals to the config',
        },
      ],
    });
  });

  it('parses the answer text, also inside a ```json fence', () => {
    const text = JSON.stringify(kumaAnswer);
    expect(validateModelIntents(text, catalog).ok).toBe(true);
    expect(validateModelIntents(`\`\`\`json\n${text}\n\`\`\``, catalog).ok).toBe(true);
    expect(validateModelIntents(`  \`\`\`\n${JSON.stringify(kumaAnswer, null, 2)}\n\`\`\`  `, catalog).ok).toBe(true);
  });

  it('refuses text that is not JSON, and an empty answer', () => {
    expect(validateModelIntents('Sure! I will deploy Kuma for you.', catalog)).toEqual({
      ok: false,
      reason: 'the answer is not valid JSON',
    });
    expect(validateModelIntents('{"intents": [', catalog)).toEqual({ ok: false, reason: 'the answer is not valid JSON' });
    expect(validateModelIntents('  ', catalog)).toEqual({ ok: false, reason: 'the answer is empty' });
  });

  it('refuses an unknown intent or playbook', () => {
    const unknownPlaybook = validateModelIntents({ intents: [{ name: 'deploy_kuma', playbook: 'rm-rf.yml', source: 'x' }] }, catalog);
    expect(unknownPlaybook).toEqual({ ok: false, reason: 'intents.0: unknown playbook "rm-rf.yml"' });
    const unknownIntent = validateModelIntents({ intents: [{ name: 'wipe_disks', playbook: 'kuma-deploy.yml', source: 'x' }] }, catalog);
    expect(unknownIntent).toEqual({ ok: false, reason: 'intents.0: unknown intent "wipe_disks"' });
  });

  it('refuses an intent paired with a playbook that does not declare it', () => {
    const result = validateModelIntents({ intents: [{ name: 'setup_postgres', playbook: 'kuma-deploy.yml', source: 'x' }] }, catalog);
    expect(result).toEqual({ ok: false, reason: 'intents.0: playbook "kuma-deploy.yml" does not declare intent "setup_postgres"' });
  });

  it('refuses a service that contradicts the catalog, tolerates one that agrees', () => {
    const wrong = validateModelIntents(
      { intents: [{ name: 'deploy_kuma', playbook: 'kuma-deploy.yml', source: 'x', service: 'postgres' }] },
      catalog,
    );
    expect(wrong.ok).toBe(false);
    const right = validateModelIntents(
      { intents: [{ name: 'deploy_kuma', playbook: 'kuma-deploy.yml', source: 'x', service: 'kuma' }] },
      catalog,
    );
    expect(right.ok).toBe(true);
  });

  it('refuses an empty list, a missing list and extra keys', () => {
    expect(validateModelIntents({ intents: [] }, catalog)).toMatchObject({
      ok: false,
      reason: expect.stringContaining('lists no intents'),
    });
    expect(validateModelIntents({}, catalog)).toMatchObject({ ok: false, reason: expect.stringContaining('intents') });
    expect(validateModelIntents([kumaAnswer], catalog).ok).toBe(false);
    expect(validateModelIntents(null, catalog).ok).toBe(false);
    const junkTop = validateModelIntents({ ...kumaAnswer, explanation: 'I chose these because...' }, catalog);
    expect(junkTop).toMatchObject({ ok: false, reason: expect.stringContaining('explanation') });
    const junkItem = validateModelIntents({ intents: [{ ...kumaAnswer.intents[0], vars: { kuma_port: 22 } }] }, catalog);
    expect(junkItem).toMatchObject({ ok: false, reason: expect.stringContaining('vars') });
    const wrongType = validateModelIntents({ intents: [{ name: 1, playbook: 'kuma-deploy.yml', source: 'x' }] }, catalog);
    expect(wrongType).toMatchObject({ ok: false, reason: expect.stringContaining('intents.0.name') });
  });

  it('refuses an answer with too many intents and bounds what a reason repeats of the answer', () => {
    const many = { intents: Array.from({ length: 21 }, () => kumaAnswer.intents[0]) };
    expect(validateModelIntents(many, catalog).ok).toBe(false);
    const long = validateModelIntents(
      { intents: [{ name: 'deploy_kuma', playbook: `${'a'.repeat(5000)}\u0000.yml`, source: 'x' }] },
      catalog,
    );
    expect(long.ok).toBe(false);
    if (!long.ok) {
      expect(long.reason.length).toBeLessThanOrEqual(300);
      expect(long.reason).not.toContain('\u0000');
    }
  });

  it('lists the same intent once', () => {
    const result = validateModelIntents({ intents: [kumaAnswer.intents[0], kumaAnswer.intents[0]] }, catalog);
    expect(result.ok && result.intents).toHaveLength(1);
  });
});

describe('stripJsonFence', () => {
  it('removes a fence with or without a language tag and leaves bare JSON alone', () => {
    expect(stripJsonFence('```json\n{"a":1}\n```')).toBe('{"a":1}');
    expect(stripJsonFence('```\n{"a":1}```')).toBe('{"a":1}');
    expect(stripJsonFence(' {"a":1} ')).toBe('{"a":1}');
  });
});

describe('buildDecompositionPrompt', () => {
  it('lists every intent, playbook and service, and never var values', () => {
    const prompt = buildDecompositionPrompt('Deploy Kuma', catalog);
    for (const word of [
      'deploy_kuma',
      'add_portals_to_config',
      'configure_kuma',
      'setup_postgres',
      'kuma-deploy.yml',
      'kuma-config-update.yml',
      'postgres-setup.yml',
      'service: postgres',
      'uptime kuma',
    ]) {
      expect(prompt.system).toContain(word);
    }
    expect(prompt.system).toContain('"intents"');
    expect(prompt.system).not.toContain('hunter2-default-secret');
    expect(prompt.system).not.toContain('kuma_admin_password');
    expect(prompt.user).toBe('Request:\nDeploy Kuma');
  });

  it('stays bounded however large the catalog or the request, and refuses what it did not list', () => {
    const huge: Catalog = {
      warnings: [],
      playbooks: Array.from({ length: 500 }, (_, i) =>
        playbook({
          path: `svc-${i}.yml`,
          service: `svc${i}`,
          description: 'x'.repeat(10_000),
          intents: [{ name: `deploy_svc${i}`, verbs: ['deploy'], objects: [] }],
        }),
      ),
    };
    const prompt = buildDecompositionPrompt('y'.repeat(100_000), huge);
    expect(prompt.system.length).toBeLessThan(PROMPT_LIMITS.catalogChars + 3_000);
    expect(prompt.user.length).toBeLessThan(PROMPT_LIMITS.messageChars + 100);
    expect(prompt.system).toContain('more playbooks not listed');
    expect(validateModelIntents({ intents: [{ name: 'deploy_svc0', playbook: 'svc-0.yml', source: 'x' }] }, huge).ok).toBe(true);
    expect(validateModelIntents({ intents: [{ name: 'deploy_svc499', playbook: 'svc-499.yml', source: 'x' }] }, huge)).toEqual({
      ok: false,
      reason: 'intents.0: unknown intent "deploy_svc499"',
    });
  });
});
