// Reads a playbook's sibling metadata file (`<playbook>.meta.yml`) into a PlaybookEntry.
//
// The file follows Ansible's play argument_specs convention (ansible-core 2.20 `validate_argspec`,
// ansible-lint's `schema[play-argspec]`) and adds a `chiffon:` section the planner works from:
//
//   short_description: Deploy Uptime Kuma          # ansible-lint wants these two at the top
//   description: Deploys Uptime Kuma with docker compose.
//   argument_specs:
//     main:                                         # the entry point Chiffon reads
//       short_description: Deploy Uptime Kuma
//       description: [...]
//       examples: |
//         ...
//       options:
//         kuma_port: {type: int, default: 3001, description: ...}
//         api_token: {type: str, required: true, no_log: true}      # a secret
//       chiffon:                                    # or at the top level (ansible-lint refuses it there)
//         service: kuma
//         aliases: [uptime kuma]
//         intents:
//           - {name: deploy_kuma, verbs: [deploy, install], objects: []}
//         after: []                                 # playbook paths, relative to this playbook's folder
//         vars_from_inventory: {}                   # option name -> inventory group
//
// Pure: no I/O and no Node built-ins (safe to import from workflow code). Never throws: a YAML
// error or a schema error becomes a warning with the file and, where known, the line.
import { LineCounter, isMap, isNode, isPair, isScalar, parseDocument, type Document } from 'yaml';
import { z } from 'zod';
import type { PlaybookEntry, PlaybookVar } from './types.js';

export interface MetadataWarning {
  file: string;
  line?: number;
  message: string;
}

export interface ParsedMetadata {
  entry?: PlaybookEntry;
  warnings: MetadataWarning[];
}

/** The entry point of `argument_specs` Chiffon reads when a file declares several. */
export const MAIN_ENTRY_POINT = 'main';

/** Set by Chiffon on every run; a playbook must not declare it as an option. */
export const RESERVED_VARS = ['chiffon_state_dir'] as const;

/** Argument types Ansible's argument spec validation knows. */
const ANSIBLE_TYPES = ['str', 'int', 'bool', 'float', 'list', 'dict', 'path', 'raw', 'jsonarg', 'json', 'bytes', 'bits'] as const;

const VAR_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const INTENT_NAME = /^[a-z][a-z0-9_]*$/;
const SERVICE_NAME = /^[a-z0-9][a-z0-9_.-]*$/;
const GROUP_NAME = /^[A-Za-z_][A-Za-z0-9_-]*$/;

/** A trimmed, lowercased phrase with single spaces ("Set  Up" -> "set up"). */
const phrase = z
  .string()
  .transform((s) => s.trim().replace(/\s+/g, ' ').toLowerCase())
  .refine((s) => s.length > 0, 'must not be empty');

/** A list that may also be written as an empty YAML value (`after:`). */
function listOf<T extends z.ZodType>(item: T) {
  return z
    .array(item)
    .nullish()
    .transform((v) => dedupe(v ?? []));
}

function dedupe<T>(values: T[]): T[] {
  return [...new Set(values)];
}

const textSchema = z.union([z.string(), z.array(z.string())]);

const intentSchema = z.strictObject({
  name: z.string().regex(INTENT_NAME, 'intent names are snake_case (e.g. deploy_kuma)'),
  verbs: listOf(phrase).refine((v) => v.length > 0, 'an intent needs at least one verb'),
  objects: listOf(phrase),
});

const chiffonSchema = z.strictObject({
  service: z.string().regex(SERVICE_NAME, 'service names are lowercase words joined by - _ or . (e.g. kuma)'),
  aliases: listOf(phrase),
  intents: z.array(intentSchema).min(1, 'at least one intent is needed'),
  after: listOf(z.string().min(1)),
  vars_from_inventory: z
    .record(z.string().regex(VAR_NAME, 'not a variable name'), z.string().regex(GROUP_NAME, 'not an inventory group name'))
    .nullish()
    .transform((v) => v ?? {}),
});

const optionSchema = z.looseObject({
  type: z.enum(ANSIBLE_TYPES).default('str'),
  required: z.boolean().default(false),
  default: z.unknown().optional(),
  description: textSchema.optional(),
  elements: z.enum(ANSIBLE_TYPES).optional(),
  no_log: z.boolean().default(false),
  choices: z.array(z.unknown()).optional(),
});

const entryPointSchema = z.looseObject({
  short_description: z.string().optional(),
  description: textSchema.optional(),
  options: z
    .record(z.string().regex(VAR_NAME, 'not a variable name'), optionSchema)
    .nullish()
    .transform((v) => v ?? {}),
  chiffon: chiffonSchema.optional(),
});

const metadataSchema = z.looseObject({
  short_description: z.string().optional(),
  description: textSchema.optional(),
  argument_specs: z.record(z.string(), entryPointSchema).refine((specs) => Object.keys(specs).length > 0, 'no entry point'),
  chiffon: chiffonSchema.optional(),
});

type Metadata = z.infer<typeof metadataSchema>;
type Path = readonly PropertyKey[];
interface Problem {
  path: Path;
  message: string;
  /** Point at the key of the last path element rather than at its value. */
  atKey?: boolean;
}

/** `kuma-deploy.yml` -> `kuma-deploy.meta.yml` (the sibling metadata file). */
export function metadataPathFor(playbookPath: string): string {
  return playbookPath.replace(/\.ya?ml$/i, '') + '.meta.yml';
}

/**
 * Parses the metadata of `playbookPath` (relative to the playbook repository, `/`-separated).
 * `metaPath` names the file in warnings; it defaults to `<playbook-basename>.meta.yml`.
 */
export function parseMetadata(playbookPath: string, metaText: string, metaPath?: string): ParsedMetadata {
  const file = metaPath ?? metadataPathFor(playbookPath);
  const warnings: MetadataWarning[] = [];
  try {
    const lineCounter = new LineCounter();
    const doc = parseDocument(metaText, { lineCounter, prettyErrors: false, uniqueKeys: true });
    const lineAt = (offset: number | undefined) => (offset === undefined ? undefined : lineCounter.linePos(offset).line);

    for (const w of doc.warnings) warnings.push({ file, line: lineAt(w.pos[0]), message: `YAML: ${w.message}` });
    if (doc.errors.length > 0) {
      for (const e of doc.errors) warnings.push({ file, line: lineAt(e.pos[0]), message: `YAML: ${e.message}` });
      return { warnings };
    }

    let data: unknown;
    try {
      data = doc.toJS({ maxAliasCount: 100 });
    } catch (err) {
      warnings.push({ file, message: `YAML: ${errorMessage(err)}` });
      return { warnings };
    }

    const report = (problems: Problem[]) => {
      for (const p of problems) {
        warnings.push({ file, line: lineAt(offsetOf(doc, p.path, p.atKey)), message: `${formatPath(p.path)}${p.message}` });
      }
      return { warnings };
    };

    if (data === null || data === undefined) {
      warnings.push({ file, line: 1, message: 'the file is empty: expected argument_specs with a chiffon section' });
      return { warnings };
    }

    const parsed = metadataSchema.safeParse(data);
    if (!parsed.success) {
      return report(
        parsed.error.issues.map((issue) => {
          if (issue.code === 'unrecognized_keys') {
            const keys = issue.keys;
            return {
              path: [...issue.path, keys[0] ?? ''],
              message: `unknown key${keys.length > 1 ? 's' : ''} ${keys.join(', ')}`,
              atKey: true,
            };
          }
          if (issue.code === 'invalid_key') {
            return { path: issue.path, message: `invalid key: ${issue.issues.map((i) => i.message).join('; ')}`, atKey: true };
          }
          return { path: issue.path, message: issue.message };
        }),
      );
    }

    const built = buildEntry(normalizeRelative(playbookPath), parsed.data);
    if ('problems' in built) return report(built.problems);
    return { entry: built.entry, warnings };
  } catch (err) {
    // Nothing above should throw; if something does, it is still only a warning.
    warnings.push({ file, message: `could not read the metadata: ${errorMessage(err)}` });
    return { warnings };
  }
}

function buildEntry(playbookPath: string, meta: Metadata): { entry: PlaybookEntry } | { problems: Problem[] } {
  const specNames = Object.keys(meta.argument_specs);
  const entryName = specNames.includes(MAIN_ENTRY_POINT) ? MAIN_ENTRY_POINT : specNames.length === 1 ? specNames[0]! : undefined;
  if (entryName === undefined) {
    return {
      problems: [
        { path: ['argument_specs'], message: `several entry points (${specNames.join(', ')}) and none is named "${MAIN_ENTRY_POINT}"` },
      ],
    };
  }
  const spec = meta.argument_specs[entryName]!;
  const specPath = ['argument_specs', entryName] as const;

  if (meta.chiffon && spec.chiffon) {
    return {
      problems: [{ path: ['chiffon'], message: `chiffon section given twice (also in ${specPath.join('.')}.chiffon)`, atKey: true }],
    };
  }
  const chiffon = spec.chiffon ?? meta.chiffon;
  const chiffonPath: Path = spec.chiffon ? [...specPath, 'chiffon'] : ['chiffon'];
  if (!chiffon) {
    return {
      problems: [
        { path: [], message: `no chiffon section (at the top level or in ${specPath.join('.')}.chiffon): the playbook cannot be planned` },
      ],
    };
  }

  const problems: Problem[] = [];
  const options = spec.options;

  for (const [name, option] of Object.entries(options)) {
    if ((RESERVED_VARS as readonly string[]).includes(name)) {
      problems.push({
        path: [...specPath, 'options', name],
        message: 'is set by Chiffon on every run and cannot be an option',
        atKey: true,
      });
    }
    if (option.required && 'default' in option) {
      problems.push({ path: [...specPath, 'options', name, 'default'], message: 'a required option cannot have a default', atKey: true });
    }
  }

  for (const [varName, group] of Object.entries(chiffon.vars_from_inventory)) {
    if (!(varName in options)) {
      problems.push({
        path: [...chiffonPath, 'vars_from_inventory', varName],
        message: `fills ${varName} from the group ${group}, but ${varName} is not an option of ${specPath.join('.')}`,
        atKey: true,
      });
    }
  }

  const seenIntents = new Set<string>();
  chiffon.intents.forEach((intent, i) => {
    if (seenIntents.has(intent.name))
      problems.push({ path: [...chiffonPath, 'intents', i, 'name'], message: `intent ${intent.name} is declared twice` });
    seenIntents.add(intent.name);
  });

  const after: string[] = [];
  chiffon.after.forEach((ref, i) => {
    const resolved = resolveSibling(playbookPath, ref);
    if (resolved === undefined) {
      problems.push({ path: [...chiffonPath, 'after', i], message: `${ref} leaves the playbook repository` });
    } else if (!/\.ya?ml$/i.test(resolved) || /\.meta\.ya?ml$/i.test(resolved)) {
      problems.push({ path: [...chiffonPath, 'after', i], message: `${ref} is not a playbook (.yml or .yaml)` });
    } else if (resolved === playbookPath) {
      problems.push({ path: [...chiffonPath, 'after', i], message: 'a playbook cannot run after itself' });
    } else if (!after.includes(resolved)) {
      after.push(resolved);
    }
  });

  if (problems.length > 0) return { problems };

  const vars: PlaybookVar[] = Object.entries(options).map(([name, option]) => {
    const v: PlaybookVar = { name, type: option.type, required: option.required };
    const description = joinText(option.description);
    if (description) v.description = description;
    if ('default' in option) v.default = option.default;
    if (option.no_log) v.secret = true;
    const group = chiffon.vars_from_inventory[name];
    if (group !== undefined) v.fromInventoryGroup = group;
    return v;
  });

  const entry: PlaybookEntry = {
    path: playbookPath,
    service: chiffon.service,
    aliases: chiffon.aliases.filter((a) => a !== chiffon.service),
    description: spec.short_description ?? meta.short_description ?? joinText(spec.description) ?? joinText(meta.description) ?? '',
    intents: chiffon.intents.map((intent) => ({ name: intent.name, verbs: intent.verbs, objects: intent.objects })),
    vars,
    after,
  };
  return { entry };
}

function joinText(text: string | string[] | undefined): string | undefined {
  if (text === undefined) return undefined;
  const joined = (Array.isArray(text) ? text.join(' ') : text).trim();
  return joined.length > 0 ? joined : undefined;
}

/** `a/./b/../c.yml` -> `a/c.yml`; backslashes count as separators; a leading `/` is dropped. */
function normalizeRelative(p: string): string {
  return resolveSibling('', p) ?? p;
}

/**
 * Resolves `ref` (relative to the folder of `fromPath`) to a repository-relative path, or undefined
 * when it would leave the repository. An absolute `ref` is refused.
 */
function resolveSibling(fromPath: string, ref: string): string | undefined {
  if (ref.startsWith('/') || /^[A-Za-z]:[\\/]/.test(ref)) return undefined;
  const parts = fromPath.split(/[\\/]/).filter((s) => s.length > 0);
  parts.pop(); // the playbook's own file name
  for (const seg of ref.split(/[\\/]/)) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') {
      if (parts.length === 0) return undefined;
      parts.pop();
    } else {
      parts.push(seg);
    }
  }
  return parts.join('/');
}

function formatPath(path: Path): string {
  if (path.length === 0) return '';
  return path.map((seg, i) => (typeof seg === 'number' ? `[${seg}]` : `${i > 0 ? '.' : ''}${String(seg)}`)).join('') + ': ';
}

/** The source offset of the node at `path`, or of its nearest existing ancestor. */
function offsetOf(doc: Document, path: Path, atKey = false): number {
  for (let len = path.length; len >= 0; len--) {
    const prefix = path.slice(0, len);
    if (atKey && len === path.length && len > 0) {
      const parent = prefix.length > 1 ? doc.getIn(prefix.slice(0, -1), true) : doc.contents;
      const last = prefix[prefix.length - 1];
      if (isMap(parent)) {
        const pair = parent.items.find((it) => isPair(it) && isScalar(it.key) && String(it.key.value) === String(last));
        if (pair && isNode(pair.key) && pair.key.range) return pair.key.range[0];
      }
    }
    const node = len === 0 ? doc.contents : doc.getIn(prefix, true);
    if (isNode(node) && node.range) return node.range[0];
  }
  return 0; // an empty document: its first line
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
