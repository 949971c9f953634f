import { describe, expect, it } from 'vitest';
import { decomposeRequest } from '../../domain/decompose.js';
import type { Catalog } from '../../domain/types.js';
import { playbookEntry as playbook } from '../support/catalog-entry.js';

const catalog: Catalog = {
  warnings: [],
  playbooks: [
    playbook({
      path: 'kuma-deploy.yml',
      service: 'kuma',
      aliases: ['uptime kuma', 'kuma uptime'],
      intents: [{ name: 'deploy_kuma', verbs: ['deploy', 'install', 'set up'], objects: [] }],
    }),
    playbook({
      path: 'kuma-config-update.yml',
      service: 'kuma',
      intents: [
        { name: 'add_portals_to_config', verbs: ['add', 'include'], objects: ['portals'] },
        { name: 'configure_kuma', verbs: ['configure', 'update'], objects: [] },
      ],
      after: ['kuma-deploy.yml'],
    }),
    playbook({
      path: 'postgres-setup.yml',
      service: 'postgres',
      aliases: ['postgresql', 'database'],
      intents: [{ name: 'setup_postgres', verbs: ['set up', 'setup', 'install', 'deploy'], objects: [] }],
    }),
  ],
};

describe('decomposeRequest', () => {
  it('reads the Kuma request as deploy_kuma then add_portals_to_config', () => {
    const result = decomposeRequest('Deploy Kuma Uptime to homelab and add our existing portals to the config', catalog);
    expect(result).toEqual({
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

  it('prefers the more specific intent and accepts inflected verbs', () => {
    const result = decomposeRequest('Kuma: adding the portals, please', catalog);
    expect(result.ok && result.intents.map((i) => i.name)).toEqual(['add_portals_to_config']);
  });

  it('matches multi-word aliases and verbs across services', () => {
    const result = decomposeRequest('set up postgresql, then install uptime kuma', catalog);
    expect(result.ok && result.intents.map((i) => i.name)).toEqual(['setup_postgres', 'deploy_kuma']);
  });

  it('does not count a word that merely contains a verb', () => {
    const result = decomposeRequest('what is the address of kuma', catalog);
    expect(result.ok).toBe(false);
  });

  it('names the known services when it understands nothing', () => {
    const result = decomposeRequest('make me a sandwich', catalog);
    expect(result).toEqual({
      ok: false,
      knownServices: ['kuma', 'postgres'],
      message: 'Chiffon found nothing it can do in this request. Known services: kuma, postgres.',
    });
  });

  it('lists each intent once', () => {
    const result = decomposeRequest('deploy kuma and deploy kuma again', catalog);
    expect(result.ok && result.intents).toHaveLength(1);
  });
});
