// The preflight of a step with the real ansible-playbook (--list-hosts --list-tasks), on the
// fixture repositories: what runs where, and what cannot run said before anyone approves it.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { previewPlaybook } from '../../services/ansible/preview-playbook.js';
import { fromProjectRoot } from '../../lib/paths.js';

const repos = fromProjectRoot('test', 'fixtures', 'repos');
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'chiffon-preview-'));
afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }));

const preview = (
  repo: string,
  playbook: string,
  inventory: string,
  more: { limit?: string; tags?: string[]; vars?: Record<string, unknown> } = {},
) =>
  previewPlaybook({
    playbookRepo: path.join(repos, repo),
    playbook,
    inventory: [inventory],
    vars: more.vars ?? {},
    stateDir: path.join(scratch, 'state'),
    workDir: path.join(scratch, 'work'),
    ...more,
  });

describe('previewPlaybook', () => {
  it("lists the hosts and the tasks the run's --limit and --tags select, with their roles and tags", async () => {
    const result = await preview('site-roles', 'site.yml', 'inventories/home', {
      limit: 'nas',
      tags: ['sonarr', 'radarr'],
      vars: { sonarr_enabled: true, radarr_enabled: true },
    });
    expect(result).toEqual({
      ok: true,
      hosts: ['nas'],
      tasks: [
        { play: 'Homelab services', role: 'sonarr', name: 'Create the sonarr folder', tags: ['sonarr'] },
        { play: 'Homelab services', role: 'sonarr', name: 'Record that sonarr ran on this host', tags: ['sonarr'] },
        { play: 'Homelab services', role: 'radarr', name: 'Create the radarr folder', tags: ['radarr'] },
        { play: 'Homelab services', role: 'radarr', name: 'Record that radarr ran on this host', tags: ['radarr'] },
      ],
      problems: [],
    });
    // Nothing ran: a preview writes nothing.
    expect(fs.existsSync(path.join(scratch, 'state', 'nas'))).toBe(false);
  });

  it('says a role is not installed and how to install it', async () => {
    const result = await preview('mixed-files', 'monitoring.yml', 'hosts.yml');
    expect(result.ok).toBe(false);
    expect(result.problems).toEqual([
      expect.stringMatching(
        /^the role 'geerlingguy\.node_exporter' was not found.*; install it with: ansible-galaxy install -r requirements\.yml$/,
      ),
    ]);
  });

  it('says when no host matches and when --tags selects no task', async () => {
    expect((await preview('site-roles', 'site.yml', 'inventories/home', { limit: 'nowhere' })).problems).toEqual([
      expect.stringContaining('no hosts to target'),
    ]);
    const untagged = await preview('site-roles', 'site.yml', 'inventories/home', { tags: ['nosuchtag'] });
    expect(untagged).toMatchObject({ ok: false, tasks: [], problems: ['--tags nosuchtag selects no task of site.yml'] });
    expect([...untagged.hosts].sort()).toEqual(['meeseeks', 'nas']);
  });

  it('says where a playbook does not parse', async () => {
    const repo = path.join(scratch, 'broken');
    fs.mkdirSync(repo, { recursive: true });
    fs.writeFileSync(path.join(repo, 'hosts.ini'), 'web1 ansible_connection=local\n');
    fs.writeFileSync(path.join(repo, 'web.yml'), '- hosts: all\n  tasks:\n    - name: Bad module\n      not.a.module: {}\n');
    const result = await previewPlaybook({
      playbookRepo: repo,
      playbook: 'web.yml',
      inventory: ['hosts.ini'],
      vars: {},
      stateDir: path.join(scratch, 'state'),
      workDir: path.join(scratch, 'work'),
    });
    expect(result.ok).toBe(false);
    expect(result.problems.join('\n')).toMatch(/not\.a\.module/);
  });
});
