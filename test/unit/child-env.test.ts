// What Ansible's processes get from the worker's environment (lib/child-env.ts).
import { describe, expect, it } from 'vitest';
import { allowedEnv, ownSecretValues, parsePassEnv } from '../../lib/child-env.js';

const WORKER_ENV = {
  PATH: '/usr/bin',
  HOME: '/root',
  LANG: 'C.UTF-8',
  SSH_AUTH_SOCK: '/tmp/agent.sock',
  ANSIBLE_VAULT_PASSWORD_FILE: '/etc/chiffon/vault-pass',
  ANSIBLE_CONFIG: '/elsewhere/ansible.cfg',
  DATABASE_URL: 'postgresql://chiffon:s3cr%40t@db:5432/chiffon',
  ANTHROPIC_API_KEY: 'sk-ant-123',
  CHIFFON_LLM_API_KEY: 'llm-456',
  CHIFFON_BECOME_PASSWORD: 'sudo-789',
  AWS_SECRET_ACCESS_KEY: 'aws-000',
  CLOUD_TOKEN: 'listed',
};

describe('allowedEnv', () => {
  it("passes what a process needs and Ansible's settings, never Chiffon's secrets nor anything unlisted", () => {
    expect(allowedEnv([], WORKER_ENV)).toEqual({
      PATH: '/usr/bin',
      HOME: '/root',
      LANG: 'C.UTF-8',
      SSH_AUTH_SOCK: '/tmp/agent.sock',
      ANSIBLE_VAULT_PASSWORD_FILE: '/etc/chiffon/vault-pass',
    });
  });

  it('adds what the operator lists (CHIFFON_ANSIBLE_ENV)', () => {
    expect(allowedEnv(['CLOUD_TOKEN'], WORKER_ENV)).toMatchObject({ CLOUD_TOKEN: 'listed' });
    expect(allowedEnv(['CLOUD_TOKEN'], WORKER_ENV)).not.toHaveProperty('AWS_SECRET_ACCESS_KEY');
  });
});

describe('parsePassEnv', () => {
  it('reads a comma or space separated list, and refuses what is no name or is a secret of Chiffon', () => {
    expect(parsePassEnv(' CLOUD_TOKEN, AWS_PROFILE  AWS_PROFILE ')).toEqual(['CLOUD_TOKEN', 'AWS_PROFILE']);
    expect(parsePassEnv(undefined)).toEqual([]);
    expect(() => parsePassEnv('DATABASE_URL')).toThrow(/DATABASE_URL is Chiffon's own secret/);
    expect(() => parsePassEnv('NOT-A-NAME')).toThrow(/not an environment variable name/);
  });
});

describe('ownSecretValues', () => {
  it("lists Chiffon's secrets and the password inside DATABASE_URL, for the redactor", () => {
    expect(ownSecretValues(WORKER_ENV)).toEqual([WORKER_ENV.DATABASE_URL, 'sk-ant-123', 'llm-456', 'sudo-789', 's3cr@t']);
    expect(ownSecretValues({})).toEqual([]);
  });
});
