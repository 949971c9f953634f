import { describe, expect, it } from 'vitest';
import { metadataPathFor, parseMetadata } from '../../domain/playbook-metadata.js';

const valid = `---
short_description: Update the Uptime Kuma monitors
description: Writes the monitor list.
argument_specs:
  main:
    short_description: Update the Uptime Kuma monitors
    description:
      - Writes kuma/monitors.json.
    examples: |
      ansible-playbook kuma-config-update.yml
    options:
      kuma_monitors:
        type: list
        elements: dict
        required: true
        description: The monitors.
      kuma_monitor_interval:
        type: int
        default: 60
      api_token:
        type: str
        no_log: true
        description:
          - Token of the Kuma API.
          - Never logged.
      plain: {}
    chiffon:
      service: kuma
      aliases: [Uptime  Kuma, kuma uptime, kuma]
      intents:
        - name: add_portals_to_config
          verbs: [Add, include, add]
          objects: [portals]
        - name: configure_kuma
          verbs: [configure]
      after: [kuma-deploy.yml, ./kuma-deploy.yml]
      vars_from_inventory:
        kuma_monitors: portals
`;

describe('parseMetadata', () => {
  it('reads a valid file into a PlaybookEntry', () => {
    const { entry, warnings } = parseMetadata('kuma-config-update.yml', valid);
    expect(warnings).toEqual([]);
    expect(entry).toEqual({
      path: 'kuma-config-update.yml',
      service: 'kuma',
      aliases: ['uptime kuma', 'kuma uptime'],
      description: 'Update the Uptime Kuma monitors',
      intents: [
        { name: 'add_portals_to_config', verbs: ['add', 'include'], objects: ['portals'] },
        { name: 'configure_kuma', verbs: ['configure'], objects: [] },
      ],
      vars: [
        { name: 'kuma_monitors', type: 'list', required: true, description: 'The monitors.', fromInventoryGroup: 'portals' },
        { name: 'kuma_monitor_interval', type: 'int', required: false, default: 60 },
        { name: 'api_token', type: 'str', required: false, description: 'Token of the Kuma API. Never logged.', secret: true },
        { name: 'plain', type: 'str', required: false },
      ],
      after: ['kuma-deploy.yml'],
    });
  });

  it('accepts the chiffon section at the top level too, and resolves `after` from the playbook folder', () => {
    const text = `argument_specs:
  main:
    options: {}
chiffon:
  service: postgres
  intents: [{name: setup_postgres, verbs: [set up]}]
  after: [../base/prepare.yml]
`;
    const { entry, warnings } = parseMetadata('db/postgres-setup.yml', text);
    expect(warnings).toEqual([]);
    expect(entry).toMatchObject({ path: 'db/postgres-setup.yml', service: 'postgres', aliases: [], vars: [], after: ['base/prepare.yml'] });
  });

  it('turns malformed YAML into a warning with the file and line', () => {
    const text = `argument_specs:
  main:
    options:
      kuma_port: {type: int, default: 3001
chiffon:
  service: kuma
`;
    const { entry, warnings } = parseMetadata('kuma-deploy.yml', text);
    expect(entry).toBeUndefined();
    expect(warnings.length).toBeGreaterThan(0);
    expect(warnings[0]).toMatchObject({ file: 'kuma-deploy.meta.yml', message: expect.stringMatching(/^YAML: /) });
    expect(warnings[0]!.line).toBeGreaterThanOrEqual(4);
    expect(warnings[0]!.line).toBeLessThanOrEqual(5);
  });

  it('reports duplicate keys as YAML errors', () => {
    const { entry, warnings } = parseMetadata('a.yml', 'argument_specs: {}\nargument_specs: {}\n');
    expect(entry).toBeUndefined();
    expect(warnings).toEqual([{ file: 'a.meta.yml', line: 2, message: expect.stringContaining('unique') }]);
  });

  it('turns schema errors into warnings that point at the offending line', () => {
    const text = `argument_specs:
  main:
    options:
      kuma_port:
        type: integer
    chiffon:
      service: kuma
      intents:
        - name: Deploy Kuma
          verbs: [deploy]
      vars_from_inventroy: {}
`;
    const { entry, warnings } = parseMetadata('kuma-deploy.yml', text);
    expect(entry).toBeUndefined();
    expect(warnings).toEqual([
      { file: 'kuma-deploy.meta.yml', line: 5, message: expect.stringMatching(/^argument_specs\.main\.options\.kuma_port\.type: .*"int"/) },
      {
        file: 'kuma-deploy.meta.yml',
        line: 9,
        message: expect.stringMatching(/^argument_specs\.main\.chiffon\.intents\[0\]\.name: .*snake_case/),
      },
      { file: 'kuma-deploy.meta.yml', line: 11, message: expect.stringMatching(/unknown key vars_from_inventroy/) },
    ]);
  });

  it('checks what the schema alone cannot: inventory vars, required defaults, after, reserved vars', () => {
    const text = `argument_specs:
  main:
    options:
      chiffon_state_dir: {type: path}
      kuma_port: {type: int, required: true, default: 3001}
    chiffon:
      service: kuma
      intents: [{name: deploy_kuma, verbs: [deploy]}]
      after: [../../elsewhere.yml, kuma-deploy.yml]
      vars_from_inventory:
        kuma_monitors: portals
`;
    const { entry, warnings } = parseMetadata('kuma-deploy.yml', text);
    expect(entry).toBeUndefined();
    expect(warnings.map((w) => [w.line, w.message])).toEqual([
      [4, expect.stringContaining('chiffon_state_dir: is set by Chiffon')],
      [5, expect.stringContaining('a required option cannot have a default')],
      [11, expect.stringContaining('kuma_monitors is not an option')],
      [9, expect.stringContaining('leaves the playbook repository')],
      [9, expect.stringContaining('cannot run after itself')],
    ]);
  });

  it('needs a chiffon section and an unambiguous entry point', () => {
    const noChiffon = parseMetadata('x.yml', 'argument_specs:\n  main:\n    options: {}\n');
    expect(noChiffon.entry).toBeUndefined();
    expect(noChiffon.warnings).toEqual([{ file: 'x.meta.yml', line: 1, message: expect.stringContaining('no chiffon section') }]);

    const twoEntries = parseMetadata('x.yml', 'argument_specs:\n  a: {options: {}}\n  b: {options: {}}\n');
    expect(twoEntries.warnings[0]?.message).toContain('none is named "main"');

    const empty = parseMetadata('x.yml', '');
    expect(empty.warnings).toEqual([{ file: 'x.meta.yml', line: 1, message: expect.stringContaining('empty') }]);

    const notAMap = parseMetadata('x.yml', '- just\n- a list\n');
    expect(notAMap.entry).toBeUndefined();
    expect(notAMap.warnings[0]).toMatchObject({ file: 'x.meta.yml', line: 1 });
  });

  it('never throws, whatever the input', () => {
    const inputs = ['\u0000\u0001', 'a: *nope', '{{{', `a: &a [${'*a,'.repeat(5)}]`, 'x: !!binary zz', '%YAML 9.9\n---\na: 1'];
    for (const text of inputs) expect(() => parseMetadata('p.yml', text)).not.toThrow();
  });

  it('names the sibling metadata file', () => {
    expect(metadataPathFor('kuma-deploy.yml')).toBe('kuma-deploy.meta.yml');
    expect(metadataPathFor('sub/site.yaml')).toBe('sub/site.meta.yml');
    expect(parseMetadata('sub/site.yaml', '', 'sub/site.meta.yaml').warnings[0]?.file).toBe('sub/site.meta.yaml');
  });
});
