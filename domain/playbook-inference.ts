// What a playbook can do, read from the repository as its owner wrote it (no Chiffon metadata):
// the roles its plays apply with their tags, the task files it imports behind a switch
// (`when: jellyfin_enable`), the switches role defaults hold (`jellyfin_enabled: false`), role
// argument_specs and galaxy_info, play names and vars_prompt, and the file's name.
//
// Each thing it finds becomes a PlaybookEntry whose `run` selects just that part of the playbook
// (its tags, the extra vars that switch it on), so "enable sonarr" runs the site playbook with
// `--tags sonarr -e sonarr_enabled=true`, never the whole site. A part that can be neither tagged
// nor switched on alone is left out rather than planned as the whole playbook; a playbook with
// nothing to select (one service, or plain plays) is one entry for the whole file.
//
// Pure: the repository's files come through RepoFiles (parsed YAML), so the catalog scan decides
// what is read and cached.
import { fleetActionVerbs, serviceNameFrom, SERVICE_VERBS } from './intent-words.js';
import type { IntentSpec, PlaybookEntry, PlaybookVar } from './types.js';

/** The repository's YAML files, as the catalog scan read them. */
export interface RepoFiles {
  /** The parsed document at a repository-relative path; undefined when missing or not valid YAML. */
  yaml(path: string): unknown;
  /** Whether a file, or a folder holding files, exists at the path. */
  has(path: string): boolean;
}

export interface InferenceWarning {
  file: string;
  message: string;
}

export interface InferredPlaybook {
  entries: PlaybookEntry[];
  warnings: InferenceWarning[];
}

/** File stems that name no service: the entry is named after the first play instead. */
const GENERIC_STEMS = new Set(['site', 'main', 'playbook', 'all', 'default', 'local', 'index', 'setup', 'deploy', 'provision', 'run']);
/** A var that switches a service on: `jellyfin_enabled`, `jellyfin_enable`, `enable_jellyfin`, `install_jellyfin`. */
const SWITCH_VAR = /\b(?:([a-z][a-z0-9_]*?)_(?:enabled|enable|install|installed|deploy)|(?:enable|install|deploy)_([a-z][a-z0-9_]*))\b/i;
/** Play keywords and task texts by which a play works across its hosts rather than per host. */
const COORDINATING_TEXT = /\bgroups\s*\[|\bgroups\.|\bhostvars\b|\bplay_hosts\b|\bansible_play_hosts/;
const TASK_LISTS = ['pre_tasks', 'tasks', 'post_tasks', 'handlers'] as const;

type Yaml = Record<string, unknown>;

function isMap(value: unknown): value is Yaml {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function strings(value: unknown): string[] {
  if (typeof value === 'string')
    return value
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
  if (Array.isArray(value))
    return value.flatMap((v) => (typeof v === 'string' || typeof v === 'number' ? [String(v).trim()] : [])).filter(Boolean);
  return [];
}

function conditions(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.filter((v): v is string => typeof v === 'string');
  return [];
}

/** A module key with or without its `ansible.builtin.` / `ansible.legacy.` prefix. */
function moduleArg(task: Yaml, name: string): unknown {
  return task[name] ?? task[`ansible.builtin.${name}`] ?? task[`ansible.legacy.${name}`];
}

function dirOf(file: string): string {
  const at = file.lastIndexOf('/');
  return at < 0 ? '' : file.slice(0, at);
}

function joinPath(dir: string, relative: string): string | undefined {
  if (relative.startsWith('/') || relative.includes('{{')) return undefined;
  const parts = dir ? dir.split('/') : [];
  for (const segment of relative.split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') {
      if (parts.length === 0) return undefined;
      parts.pop();
    } else parts.push(segment);
  }
  return parts.join('/');
}

function stemOf(file: string): string {
  return file.slice(file.lastIndexOf('/') + 1).replace(/\.ya?ml$/i, '');
}

function snake(name: string): string {
  return name.replace(/[^a-z0-9]+/g, '_').replace(/^_+|_+$/g, '');
}

/** The switch var a `when:` tests (`sonarr_enabled`, `sonarr_enable | default(false) | bool`). */
function switchIn(whens: string[]): string | undefined {
  for (const when of whens) {
    const found = SWITCH_VAR.exec(when);
    if (found) return found[0];
  }
  return undefined;
}

function serviceOfSwitch(variable: string): string {
  const found = SWITCH_VAR.exec(variable);
  return (found?.[1] ?? found?.[2] ?? variable).toLowerCase().replace(/_/g, '-');
}

// ---- What a play holds -------------------------------------------------------------------------

interface RoleUse {
  name: string;
  tags: string[];
  whens: string[];
  vars: string[];
}

interface TaskImport {
  file: string;
  /** import_tasks: its tags apply to every imported task, so `--tags` selects them. */
  isStatic: boolean;
  tags: string[];
  whens: string[];
}

interface PlayScan {
  roles: RoleUse[];
  imports: TaskImport[];
  runOnce: boolean;
  become: boolean;
}

/** Walks a task list (into blocks), collecting role uses, task imports and coordination markers. */
function scanTasks(tasks: unknown, inherited: { tags: string[]; whens: string[] }, into: PlayScan): void {
  if (!Array.isArray(tasks)) return;
  for (const task of tasks) {
    if (!isMap(task)) continue;
    const tags = [...inherited.tags, ...strings(task.tags)];
    const whens = [...inherited.whens, ...conditions(task.when)];
    if (task.run_once === true || task.delegate_to !== undefined) into.runOnce = true;
    if (task.become === true) into.become = true;
    if (task.block !== undefined) {
      for (const list of ['block', 'rescue', 'always']) scanTasks(task[list], { tags, whens }, into);
      continue;
    }
    for (const [module, isStatic] of [
      ['import_tasks', true],
      ['include_tasks', false],
      ['include', false],
    ] as const) {
      const arg = moduleArg(task, module);
      const file = typeof arg === 'string' ? arg : isMap(arg) && typeof arg.file === 'string' ? arg.file : undefined;
      if (file) into.imports.push({ file, isStatic, tags, whens });
    }
    for (const module of ['import_role', 'include_role']) {
      const arg = moduleArg(task, module);
      if (isMap(arg) && typeof arg.name === 'string')
        into.roles.push({ name: arg.name, tags, whens, vars: isMap(task.vars) ? Object.keys(task.vars) : [] });
    }
  }
}

function scanPlay(play: Yaml): PlayScan {
  const scan: PlayScan = { roles: [], imports: [], runOnce: false, become: play.become === true };
  for (const role of Array.isArray(play.roles) ? play.roles : []) {
    if (typeof role === 'string') scan.roles.push({ name: role, tags: [], whens: [], vars: [] });
    else if (isMap(role)) {
      const name = typeof role.role === 'string' ? role.role : typeof role.name === 'string' ? role.name : undefined;
      if (!name) continue;
      if (role.become === true) scan.become = true;
      const vars = Object.keys(role).filter((k) => !['role', 'name', 'tags', 'when', 'become', 'vars'].includes(k));
      scan.roles.push({
        name,
        tags: strings(role.tags),
        whens: conditions(role.when),
        vars: [...vars, ...(isMap(role.vars) ? Object.keys(role.vars) : [])],
      });
    }
  }
  for (const list of TASK_LISTS) scanTasks(play[list], { tags: [], whens: [] }, scan);
  return scan;
}

// ---- Roles -------------------------------------------------------------------------------------

interface RoleInfo {
  dir: string;
  defaults: Yaml;
  options: Yaml;
  description?: string;
  /** Which file the description came from, for the entry's source. */
  described?: 'argument_specs' | 'galaxy_info';
  switchVar?: string;
  coordinated: boolean;
  become: boolean;
}

function firstYaml(files: RepoFiles, ...paths: string[]): unknown {
  for (const p of paths) {
    const value = files.yaml(p);
    if (value !== undefined) return value;
  }
  return undefined;
}

function describe(text: unknown): string | undefined {
  const joined = (Array.isArray(text) ? text.filter((t) => typeof t === 'string').join(' ') : typeof text === 'string' ? text : '').trim();
  return joined || undefined;
}

/** The folder of a role as Ansible looks for it: beside the playbook, then at the repository's top. */
function findRole(name: string, playbookDir: string, files: RepoFiles): string | undefined {
  if (name.includes('{{')) return undefined;
  const candidates = name.includes('/') ? [joinPath(playbookDir, name)] : [joinPath(playbookDir, `roles/${name}`), `roles/${name}`];
  return candidates.find((dir): dir is string => dir !== undefined && files.has(dir));
}

function readRole(name: string, dir: string, files: RepoFiles): RoleInfo {
  const defaults = firstYaml(files, `${dir}/defaults/main.yml`, `${dir}/defaults/main.yaml`);
  const metaMain = firstYaml(files, `${dir}/meta/main.yml`, `${dir}/meta/main.yaml`);
  const specsFile = firstYaml(files, `${dir}/meta/argument_specs.yml`, `${dir}/meta/argument_specs.yaml`);
  const specs = (
    isMap(specsFile) && isMap(specsFile.argument_specs)
      ? specsFile.argument_specs
      : isMap(metaMain) && isMap(metaMain.argument_specs)
        ? metaMain.argument_specs
        : {}
  ) as Yaml;
  const main = isMap(specs.main) ? specs.main : {};
  const galaxy = isMap(metaMain) && isMap(metaMain.galaxy_info) ? metaMain.galaxy_info : {};

  const tasks = firstYaml(files, `${dir}/tasks/main.yml`, `${dir}/tasks/main.yaml`);
  const scan: PlayScan = { roles: [], imports: [], runOnce: false, become: false };
  scanTasks(tasks, { tags: [], whens: [] }, scan);
  // Task files the role imports are part of how it behaves across hosts too.
  for (const imported of scan.imports) {
    const file = joinPath(`${dir}/tasks`, imported.file);
    if (file) scanTasks(files.yaml(file), { tags: [], whens: [] }, scan);
  }

  const defaultsMap = isMap(defaults) ? defaults : {};
  const own = snake(stemOf(name).split('.').pop() ?? name);
  const ownSwitches = new Set([`${own}_enabled`, `${own}_enable`, `enable_${own}`, `install_${own}`]);
  const switchVar =
    Object.keys(defaultsMap).find((key) => ownSwitches.has(key)) ??
    switchIn(Array.isArray(tasks) ? tasks.flatMap((t) => (isMap(t) ? conditions(t.when) : [])) : []);
  const specDescription = describe(main.short_description) ?? describe(main.description);
  const galaxyDescription = describe(galaxy.description);
  return {
    dir,
    defaults: defaultsMap,
    options: isMap(main.options) ? main.options : {},
    ...(specDescription
      ? { description: specDescription, described: 'argument_specs' as const }
      : galaxyDescription
        ? { description: galaxyDescription, described: 'galaxy_info' as const }
        : {}),
    ...(switchVar ? { switchVar } : {}),
    coordinated: scan.runOnce || COORDINATING_TEXT.test(JSON.stringify(tasks ?? null)),
    become: scan.become,
  };
}

/** Role argument_specs options as vars: Ansible validates them at run time; defaults stay Ansible's. */
function roleVars(info: RoleInfo, provided: ReadonlySet<string>): PlaybookVar[] {
  return Object.entries(info.options).flatMap(([name, raw]) => {
    if (!isMap(raw) || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) return [];
    const hasDefault = 'default' in raw || name in info.defaults;
    const v: PlaybookVar = {
      name,
      type: typeof raw.type === 'string' ? raw.type : 'str',
      required: raw.required === true && !hasDefault && !provided.has(name),
    };
    const description = describe(raw.description);
    if (description) v.description = description;
    if (raw.no_log === true) v.secret = true;
    if ('default' in raw) v.ansibleDefault = raw.default;
    else if (name in info.defaults) v.ansibleDefault = info.defaults[name];
    if (Array.isArray(raw.choices)) v.choices = raw.choices;
    return [v];
  });
}

function alsoValidated(v: PlaybookVar): string {
  const why = "required by another role of the play: Ansible checks every role's argument_specs, with --tags too";
  return v.description ? `${v.description} (${why})` : why;
}

/** `vars_prompt` entries: Chiffon never lets Ansible prompt; it asks through needs_input instead. */
function promptVars(play: Yaml): PlaybookVar[] {
  return (Array.isArray(play.vars_prompt) ? play.vars_prompt : []).flatMap((prompt) => {
    if (!isMap(prompt) || typeof prompt.name !== 'string') return [];
    const v: PlaybookVar = { name: prompt.name, type: 'str', required: prompt.default === undefined };
    if (typeof prompt.prompt === 'string') v.description = prompt.prompt;
    // Ansible hides what is typed unless `private: false`.
    if (prompt.private !== false && !/^(false|no)$/i.test(String(prompt.private ?? ''))) v.secret = true;
    if (prompt.default !== undefined) v.default = prompt.default;
    return [v];
  });
}

/** Vars a play sets itself (vars:, vars_files:): a role option they set is not asked for. */
function playVars(play: Yaml, playbookDir: string, files: RepoFiles): Set<string> {
  const names = new Set(isMap(play.vars) ? Object.keys(play.vars) : []);
  for (const file of strings(play.vars_files)) {
    const resolved = joinPath(playbookDir, file);
    const data = resolved ? files.yaml(resolved) : undefined;
    if (isMap(data)) for (const key of Object.keys(data)) names.add(key);
  }
  return names;
}

// ---- From candidates to entries ----------------------------------------------------------------

interface Candidate {
  service: string;
  aliases: string[];
  sources: string[];
  description?: string;
  tags: string[];
  switches: string[];
  hosts: string[];
  coordinated: boolean;
  become: boolean;
  vars: PlaybookVar[];
}

/** A service's intent; a service named (or tagged) like an action on the hosts answers that action. */
function intentsFor(service: string, tags: string[]): IntentSpec[] {
  const fleetVerbs = fleetActionVerbs(service);
  if (fleetVerbs) return [{ name: `fleet_${snake(service)}`, verbs: [...fleetVerbs], objects: [], fleet: true }];
  const deploy: IntentSpec = { name: `deploy_${snake(service)}`, verbs: [...SERVICE_VERBS], objects: [] };
  const tagged = tags.map((tag) => ({ tag, verbs: fleetActionVerbs(tag) })).find((t) => t.verbs);
  return tagged ? [deploy, { name: `fleet_${snake(tagged.tag)}`, verbs: [...tagged.verbs!], objects: [], fleet: true }] : [deploy];
}

function toEntry(path: string, c: Candidate, run: boolean): PlaybookEntry {
  const byName = new Map<string, PlaybookVar>();
  for (const v of c.vars) if (!byName.has(v.name)) byName.set(v.name, v);
  const aliases = [...new Set([c.service.replace(/[-_.]+/g, ' '), ...c.aliases].map((a) => a.toLowerCase()))].filter(
    (a) => a !== c.service,
  );
  const switches = Object.fromEntries(c.switches.map((s) => [s, true]));
  const selector = { ...(run && c.tags.length > 0 ? { tags: [...new Set(c.tags)] } : {}), ...(c.switches.length > 0 ? { switches } : {}) };
  return {
    path,
    service: c.service,
    aliases,
    description: c.description ?? `Runs ${path}`,
    intents: intentsFor(c.service, c.tags),
    vars: [...byName.values()],
    after: [],
    ...(c.hosts.length > 0 ? { hosts: [...new Set(c.hosts)].join(',') } : {}),
    ...(Object.keys(selector).length > 0 ? { run: selector } : {}),
    source: [...new Set(c.sources)].join(', '),
    ...(c.coordinated ? { coordinated: true } : {}),
    ...(c.become ? { become: true } : {}),
  };
}

function mergeInto(byService: Map<string, Candidate>, c: Candidate): void {
  const known = byService.get(c.service);
  if (!known) {
    // A copy: candidates of one play share its arrays, and merging appends to them.
    byService.set(c.service, {
      ...c,
      aliases: [...c.aliases],
      sources: [...c.sources],
      tags: [...c.tags],
      switches: [...c.switches],
      hosts: [...c.hosts],
      vars: [...c.vars],
    });
    return;
  }
  known.aliases.push(...c.aliases);
  known.sources.push(...c.sources);
  known.description ??= c.description;
  // One part without a tag cannot be selected by tags any more: the union would miss it.
  known.tags = known.tags.length > 0 && c.tags.length > 0 ? [...known.tags, ...c.tags] : [];
  known.switches.push(...c.switches.filter((s) => !known.switches.includes(s)));
  known.hosts.push(...c.hosts);
  known.coordinated ||= c.coordinated;
  known.become ||= c.become;
  known.vars.push(...c.vars);
}

function playHosts(play: Yaml): string[] {
  return strings(play.hosts).map((h) => h.trim());
}

function playName(play: Yaml): string | undefined {
  return typeof play.name === 'string' && play.name.trim() ? play.name.trim() : undefined;
}

/** `requirements.yml` (or roles/requirements.yml) lists the role: it is installed by ansible-galaxy. */
function requirementsFile(files: RepoFiles): string | undefined {
  return [
    'requirements.yml',
    'requirements.yaml',
    'roles/requirements.yml',
    'roles/requirements.yaml',
    'collections/requirements.yml',
  ].find((p) => files.has(p));
}

/** Infers the entries of one playbook (`plays`: its parsed document, a list of plays). */
export function inferPlaybook(path: string, plays: unknown[], files: RepoFiles): InferredPlaybook {
  const warnings: InferenceWarning[] = [];
  const dir = dirOf(path);
  const parts = new Map<string, Candidate>();
  const plainPlays: Candidate[] = [];
  const allHosts: string[] = [];
  let anyCoordinated = false;
  let anyBecome = false;
  const allVars: PlaybookVar[] = [];
  const missingRoles = new Set<string>();

  for (const raw of plays) {
    if (!isMap(raw) || raw.hosts === undefined) continue; // import_playbook: the imported file is catalogued itself
    const hosts = playHosts(raw);
    const name = playName(raw);
    const scan = scanPlay(raw);
    const provided = playVars(raw, dir, files);
    const coordinated = scan.runOnce || raw.serial !== undefined || COORDINATING_TEXT.test(JSON.stringify(raw));
    const prompts = promptVars(raw);
    allHosts.push(...hosts);
    anyBecome ||= scan.become;
    allVars.push(...prompts);
    const playTags = strings(raw.tags);
    const found: Candidate[] = [];
    // Ansible validates every role's argument_specs in a task tagged `always`: a run selecting one
    // role with --tags still fails on another role's missing required var. Each part asks for them all.
    const playRequired: PlaybookVar[] = [];

    for (const use of scan.roles) {
      const roleDir = findRole(use.name, dir, files);
      if (!roleDir) {
        // A templated name is resolved only at run time: nothing to say about it here.
        if (!use.name.includes('{{')) missingRoles.add(use.name);
        continue;
      }
      const info = readRole(use.name, roleDir, files);
      const service = serviceNameFrom(use.name.split('/').pop()!.split('.').pop()!) ?? snake(use.name);
      const switchVar = switchIn(use.whens) ?? info.switchVar;
      const vars = [...roleVars(info, new Set([...provided, ...use.vars])), ...prompts];
      const sources = [
        `role ${use.name}`,
        ...(use.tags.length ? [`tag ${use.tags.join('/')}`] : []),
        ...(switchVar ? [`switch ${switchVar}`] : []),
        ...(info.described ? [info.described] : []),
      ];
      found.push({
        service,
        aliases: use.name !== service ? [use.name] : [],
        sources,
        ...(info.description ? { description: info.description } : {}),
        tags: use.tags,
        switches: switchVar ? [switchVar] : [],
        hosts,
        coordinated: coordinated || info.coordinated,
        become: scan.become || info.become,
        vars,
      });
      anyCoordinated ||= info.coordinated;
      anyBecome ||= info.become;
      playRequired.push(...vars.filter((v) => v.required));
    }
    for (const imported of scan.imports) {
      const switchVar = switchIn(imported.whens);
      const tags = imported.isStatic ? imported.tags : [];
      if (!switchVar && tags.length === 0) continue;
      const service = switchVar ? serviceOfSwitch(switchVar) : serviceNameFrom(tags[0]!);
      if (!service) continue;
      const module = imported.isStatic ? 'import_tasks' : 'include_tasks';
      found.push({
        service,
        aliases: [],
        sources: [
          `${module} ${imported.file}`,
          ...(tags.length ? [`tag ${tags.join('/')}`] : []),
          ...(switchVar ? [`switch ${switchVar}`] : []),
        ],
        tags,
        switches: switchVar ? [switchVar] : [],
        hosts,
        coordinated,
        become: scan.become,
        vars: prompts,
      });
    }
    anyCoordinated ||= coordinated;
    if (found.length === 0) {
      const service = (name && serviceNameFrom(name)) || serviceNameFrom(stemOf(path)) || snake(stemOf(path));
      plainPlays.push({
        service,
        aliases: [],
        sources: [name ? `play "${name}"` : `play on ${hosts.join(',')}`, ...(playTags.length ? [`tag ${playTags.join('/')}`] : [])],
        ...(name ? { description: name } : {}),
        tags: playTags,
        switches: [],
        hosts,
        coordinated,
        become: scan.become,
        vars: prompts,
      });
    }
    allVars.push(...playRequired);
    // In a play that applies one thing, the play's own tags select it too.
    for (const c of found) {
      c.vars = [
        ...c.vars,
        ...playRequired.filter((v) => !c.vars.some((own) => own.name === v.name)).map((v) => ({ ...v, description: alsoValidated(v) })),
      ];
      if (c.tags.length === 0 && found.length === 1 && playTags.length > 0) c.tags = playTags;
      mergeInto(parts, c);
    }
  }

  if (missingRoles.size > 0) {
    const requirements = requirementsFile(files);
    const install = requirements ? `; install it with: ansible-galaxy install -r ${requirements}` : '';
    for (const role of missingRoles)
      warnings.push({ file: path, message: `uses the role ${role}, which is not in the repository${install}` });
  }

  // Tagged plain plays (per-host plays) are parts too; untagged ones are only ever the whole file.
  const taggedPlays = plainPlays.filter((p) => p.tags.length > 0);
  if (parts.size > 0 || taggedPlays.length > 1) for (const p of taggedPlays) mergeInto(parts, p);

  const selectable = [...parts.values()].filter((c) => c.tags.length > 0 || c.switches.length > 0);
  if (parts.size > 1 && selectable.length > 0) {
    return { entries: selectable.map((c) => toEntry(path, c, true)), warnings };
  }

  // One thing, or nothing that can be selected: the whole playbook, named after the file (or its
  // first play when the file's name is generic), with the switches its one part needs.
  const only = parts.size === 1 ? [...parts.values()][0] : undefined;
  const stem = stemOf(path);
  const firstPlay = plays.find(isMap);
  const firstName = firstPlay ? playName(firstPlay) : undefined;
  const fileService = serviceNameFrom(stem);
  const service =
    only?.service ??
    (fileService && !GENERIC_STEMS.has(stem.toLowerCase())
      ? fileService
      : (firstName && serviceNameFrom(firstName)) || fileService || snake(stem) || 'playbook');
  const whole: Candidate = {
    service,
    aliases: only ? only.aliases : fileService && fileService !== service ? [fileService] : [],
    sources: only ? only.sources : [`file ${path}`, ...(firstName ? [`play "${firstName}"`] : [])],
    ...((only?.description ?? firstName) ? { description: only?.description ?? firstName } : {}),
    tags: [],
    switches: only?.switches ?? [],
    hosts: allHosts,
    coordinated: anyCoordinated,
    become: anyBecome,
    vars: only ? only.vars : allVars.filter((v, i) => allVars.findIndex((o) => o.name === v.name) === i),
  };
  return { entries: [toEntry(path, whole, false)], warnings };
}

/**
 * Intent names are unique across the catalog. Inferred entries may repeat one (a role applied by
 * the site playbook and by a playbook of its own): the entry of the more specific playbook (fewer
 * entries) keeps the name, the others get their playbook's name appended.
 */
export function uniqueIntentNames(entries: PlaybookEntry[]): PlaybookEntry[] {
  const perPlaybook = new Map<string, number>();
  for (const e of entries) perPlaybook.set(e.path, (perPlaybook.get(e.path) ?? 0) + 1);
  const order = [...entries].sort(
    (a, b) => perPlaybook.get(a.path)! - perPlaybook.get(b.path)! || (a.path < b.path ? -1 : a.path > b.path ? 1 : 0),
  );
  const declared = (e: PlaybookEntry) => !e.source || e.source.startsWith('metadata');
  // Names a metadata file declares are its own (a clash between two of those is a catalog warning).
  const taken = new Set(entries.filter(declared).flatMap((e) => e.intents.map((i) => i.name)));
  const renamed = new Map<PlaybookEntry, PlaybookEntry>();
  for (const entry of order) {
    if (declared(entry)) continue;
    const intents = entry.intents.map((intent) => {
      let name = intent.name;
      if (taken.has(name)) name = `${intent.name}_${snake(stemOf(entry.path).toLowerCase()) || 'playbook'}`;
      for (let n = 2; taken.has(name); n++) name = `${intent.name}_${n}`;
      taken.add(name);
      return name === intent.name ? intent : { ...intent, name };
    });
    renamed.set(entry, { ...entry, intents });
  }
  return entries.map((e) => renamed.get(e) ?? e);
}
