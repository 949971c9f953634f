// Inference of what a playbook can do, from plays and role files held in memory.
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { inferPlaybook, uniqueIntentNames, type RepoFiles } from '../../domain/playbook-inference.js';
import type { PlaybookEntry } from '../../domain/types.js';

/** A repository of YAML texts by path. */
function repo(files: Record<string, string>): RepoFiles {
  const folders = new Set(
    Object.keys(files).flatMap((f) =>
      f
        .split('/')
        .slice(0, -1)
        .map((_, i, parts) => parts.slice(0, i + 1).join('/')),
    ),
  );
  return { yaml: (p) => (p in files ? parse(files[p]!) : undefined), has: (p) => p in files || folders.has(p) };
}

function infer(playbook: string, files: Record<string, string>, path = 'site.yml') {
  return inferPlaybook(path, parse(playbook), repo(files));
}

describe('inferPlaybook', () => {
  it('finds a role applied through include_role behind a switch, and its argument_specs', () => {
    const { entries, warnings } = infer(
      `
- hosts: media
  tasks:
    - name: Jellyfin
      ansible.builtin.include_role: { name: jellyfin }
      when: jellyfin_enabled | default(false)
    - name: Sonarr
      ansible.builtin.import_role: { name: sonarr }
      tags: [sonarr]
`,
      {
        'roles/jellyfin/tasks/main.yml': '- debug: {msg: hi}\n',
        'roles/jellyfin/meta/argument_specs.yml':
          'argument_specs:\n  main:\n    short_description: Jellyfin\n    options:\n      jellyfin_port: {type: int, default: 8096}\n',
        'roles/sonarr/tasks/main.yml': '- debug: {msg: hi}\n',
      },
    );
    expect(warnings).toEqual([]);
    expect(entries.map((e) => [e.service, e.run, e.source, e.description])).toEqual([
      ['jellyfin', { switches: { jellyfin_enabled: true } }, 'role jellyfin, switch jellyfin_enabled, argument_specs', 'Jellyfin'],
      ['sonarr', { tags: ['sonarr'] }, 'role sonarr, tag sonarr', 'Runs site.yml'],
    ]);
    expect(entries[0]!.vars).toEqual([{ name: 'jellyfin_port', type: 'int', required: false, ansibleDefault: 8096 }]);
  });

  it('reads switches written either way round (enable_<svc> as well as <svc>_enabled)', () => {
    const { entries } = infer(
      '- hosts: docker\n  tasks:\n    - import_tasks: tasks/portainer.yml\n      when: enable_portainer\n    - import_tasks: tasks/dozzle.yml\n      when: dozzle_enabled | bool\n',
      {},
    );
    expect(entries.map((e) => [e.service, e.run])).toEqual([
      ['portainer', { switches: { enable_portainer: true } }],
      ['dozzle', { switches: { dozzle_enabled: true } }],
    ]);
  });

  it('leaves out a part of a site playbook that can be neither tagged nor switched alone', () => {
    const { entries } = infer('- hosts: all\n  roles: [common, { role: web, tags: web }]\n', {
      'roles/common/tasks/main.yml': '- debug: {msg: x}\n',
      'roles/web/tasks/main.yml': '- debug: {msg: x}\n',
    });
    expect(entries.map((e) => e.service)).toEqual(['web']);
  });

  it('names a single-purpose playbook by its file, or by its first play when the file name is generic', () => {
    expect(infer('- name: Install Gitea\n  hosts: git\n  tasks: []\n', {}, 'playbooks/deploy-gitea.yml').entries[0]).toMatchObject({
      service: 'gitea',
      description: 'Install Gitea',
      source: 'file playbooks/deploy-gitea.yml, play "Install Gitea"',
    });
    expect(infer('- name: Home Assistant\n  hosts: hass\n  tasks: []\n', {}, 'site.yml').entries[0]).toMatchObject({
      service: 'home-assistant',
    });
  });

  it('sees plays that coordinate their hosts, in the play or in its roles', () => {
    const roleDelegates = infer('- hosts: db\n  roles: [replica]\n', {
      'roles/replica/tasks/main.yml': '- command: echo\n  delegate_to: "{{ groups.db[0] }}"\n',
    });
    expect(roleDelegates.entries[0]).toMatchObject({ service: 'replica', coordinated: true });
    expect(infer('- hosts: web\n  serial: 2\n  tasks: []\n', {}, 'rolling.yml').entries[0]).toMatchObject({ coordinated: true });
    expect(infer('- hosts: web\n  tasks: [{debug: {msg: "{{ inventory_hostname }}"}}]\n', {}, 'web.yml').entries[0]).not.toHaveProperty(
      'coordinated',
    );
  });

  it('marks actions on the hosts themselves as fleet intents, by name or by tag', () => {
    expect(infer('- hosts: all\n  tasks: []\n', {}, 'reboot.yml').entries[0]!.intents).toEqual([
      { name: 'fleet_reboot', verbs: ['reboot', 'restart'], objects: [], fleet: true },
    ]);
    expect(infer('- hosts: all\n  tasks: []\n', {}, 'upgrade-all-packages.yml').entries[0]!.intents[0]).toMatchObject({
      name: 'fleet_upgrade_all_packages',
      fleet: true,
    });
    expect(infer('- hosts: all\n  tasks: []\n', {}, 'update-kuma.yml').entries[0]!.intents[0]).toMatchObject({
      name: 'deploy_update_kuma',
    });
    const site = infer('- hosts: all\n  roles: [{ role: common, tags: [common, updates] }, { role: web, tags: web }]\n', {
      'roles/common/tasks/main.yml': '- debug: {msg: x}\n',
      'roles/web/tasks/main.yml': '- debug: {msg: x}\n',
    });
    expect(site.entries[0]!.intents.map((i) => [i.name, i.fleet ?? false])).toEqual([
      ['deploy_common', false],
      ['fleet_updates', true],
    ]);
  });

  it('warns about a role that is not there, with the install command when there are requirements', () => {
    expect(infer('- hosts: all\n  roles: [geerlingguy.docker]\n', {}).warnings).toEqual([
      { file: 'site.yml', message: 'uses the role geerlingguy.docker, which is not in the repository' },
    ]);
    expect(
      infer('- hosts: all\n  roles: [geerlingguy.docker]\n', { 'roles/requirements.yml': '- src: geerlingguy.docker\n' }).warnings[0]!
        .message,
    ).toContain('ansible-galaxy install -r roles/requirements.yml');
  });

  it('does not ask for a role option the play sets itself', () => {
    const { entries } = infer('- hosts: all\n  vars: {app_domain: x.lan}\n  roles: [app]\n', {
      'roles/app/tasks/main.yml': '- debug: {msg: x}\n',
      'roles/app/meta/argument_specs.yml': 'argument_specs:\n  main:\n    options:\n      app_domain: {type: str, required: true}\n',
    });
    expect(entries[0]!.vars).toEqual([{ name: 'app_domain', type: 'str', required: false }]);
  });
});

describe('uniqueIntentNames', () => {
  const entry = (path: string, service: string, source = `role ${service}`): PlaybookEntry => ({
    path,
    service,
    aliases: [],
    description: '',
    intents: [{ name: `deploy_${service}`, verbs: ['deploy'], objects: [] }],
    vars: [],
    after: [],
    source,
  });

  it('keeps the name for the more specific playbook and for metadata, and renames the others', () => {
    const named = uniqueIntentNames([
      entry('site.yml', 'jellyfin'),
      entry('site.yml', 'sonarr'),
      entry('jellyfin.yml', 'jellyfin'),
      entry('x.yml', 'sonarr', 'metadata x.meta.yml'),
    ]);
    expect(named.map((e) => [e.path, e.intents[0]!.name])).toEqual([
      ['site.yml', 'deploy_jellyfin_site'],
      ['site.yml', 'deploy_sonarr_site'],
      ['jellyfin.yml', 'deploy_jellyfin'],
      ['x.yml', 'deploy_sonarr'],
    ]);
  });
});

describe('inferPlaybook: argument_specs across the roles of a play', () => {
  it("asks each tagged part for every role's required vars, since Ansible validates them all even with --tags", () => {
    const specs = (v: string) => `argument_specs:\n  main:\n    options:\n      ${v}: {type: str, required: true}\n`;
    const { entries } = infer('- hosts: all\n  roles: [{ role: a, tags: a }, { role: b, tags: b }]\n', {
      'roles/a/tasks/main.yml': '- debug: {msg: x}\n',
      'roles/b/tasks/main.yml': '- debug: {msg: x}\n',
      'roles/b/meta/argument_specs.yml': specs('b_token'),
    });
    expect(entries.map((e) => [e.service, e.vars.map((v) => [v.name, v.required])])).toEqual([
      ['a', [['b_token', true]]],
      ['b', [['b_token', true]]],
    ]);
    expect(entries[0]!.vars[0]!.description).toContain("Ansible checks every role's argument_specs");
  });
});
