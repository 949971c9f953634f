// Keeping secrets out of everything Chiffon stores or streams (request events, the tasks table, the
// audit repository). Pure: given the values to hide, it rewrites strings anywhere in a JSON value.
//
// What is hidden:
// - the values of the step's vars its playbook marks secret (`no_log: true` in the meta file),
//   every string (and number) inside them, wherever they appear in a text;
// - Ansible Vault payloads (`$ANSIBLE_VAULT;1.1;AES256` and the hex lines after it);
// - bearer tokens (`Bearer <token>`, `Authorization: ...`).
// Results of tasks marked `no_log` arrive censored by Ansible itself ("the output has been hidden
// due to the fact that 'no_log: true' was specified for this result").
import type { PlaybookVar } from './types.js';

export const REDACTED = '********';

/** Shorter secret values are not searched for: hiding every "a" would hide the output, not the secret. */
export const MIN_SECRET_CHARS = 3;

const VAULT = /\$ANSIBLE_VAULT;[^\s"'\\]*(?:(?:\\n|\r?\n)[ \t]*[0-9a-fA-F]+)*/g;
const BEARER = /\b(Bearer|Basic|Token)(\s+)[A-Za-z0-9\-._~+/]{8,}=*/g;
// After the scheme-token rule: `Authorization: <token>` without a scheme (one with a scheme keeps it).
const AUTHORIZATION = /\b(authorization["']?\s*[:=]\s*["']?)(?!\*{8}|(?:Bearer|Basic|Token)\s)[^\s"',}]+/gi;

function collectStrings(value: unknown, into: Set<string>): void {
  if (typeof value === 'string') {
    if (value.length >= MIN_SECRET_CHARS) into.add(value);
  } else if (typeof value === 'number' || typeof value === 'bigint') {
    const text = String(value);
    if (text.length >= MIN_SECRET_CHARS) into.add(text);
  } else if (Array.isArray(value)) {
    for (const item of value) collectStrings(item, into);
  } else if (typeof value === 'object' && value !== null) {
    for (const item of Object.values(value)) collectStrings(item, into);
  }
}

/** The strings under keys named like secrets (an inventory's `admin_token` inside a list of portals), at any depth. */
function collectSecretLooking(value: unknown, into: Set<string>): void {
  if (Array.isArray(value)) {
    for (const item of value) collectSecretLooking(item, into);
  } else if (typeof value === 'object' && value !== null) {
    for (const [key, item] of Object.entries(value)) {
      if (SECRET_LOOKING_VAR.test(key)) collectStrings(item, into);
      else collectSecretLooking(item, into);
    }
  }
}

/**
 * The secret values of a step: its vars that the playbook's specs mark secret, and whatever sits
 * under a key named like a secret inside the others (values copied from the inventory).
 */
export function secretValues(vars: Record<string, unknown>, specs: readonly Pick<PlaybookVar, 'name' | 'secret'>[]): string[] {
  const secretNames = new Set(specs.filter((spec) => spec.secret).map((spec) => spec.name));
  const found = new Set<string>();
  for (const [name, value] of Object.entries(vars)) {
    if (secretNames.has(name)) collectStrings(value, found);
    else collectSecretLooking(value, found);
  }
  return [...found];
}

/** A copy of `value` whose values under keys named like secrets are `********`, at any depth. */
export function hideSecretLookingKeys<T>(value: T): T {
  if (Array.isArray(value)) return value.map(hideSecretLookingKeys) as T;
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(
      Object.entries(value).map(([key, item]) => [key, SECRET_LOOKING_VAR.test(key) ? REDACTED : hideSecretLookingKeys(item)]),
    ) as T;
  }
  return value;
}

export interface Redactor {
  text(text: string): string;
  /** A copy of a JSON-like value with every string redacted (object keys included). */
  value<T>(value: T): T;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

export function createRedactor(secrets: Iterable<string> = []): Redactor {
  const values = [...new Set([...secrets].filter((s) => s.length >= MIN_SECRET_CHARS))];
  // Also their JSON-escaped forms: a secret with a quote or newline shows up escaped in a message.
  const forms = new Set<string>();
  for (const value of values) {
    forms.add(value);
    forms.add(JSON.stringify(value).slice(1, -1));
  }
  // Longest first, so a secret that contains another is hidden whole.
  const sorted = [...forms].sort((a, b) => b.length - a.length);
  const secretPattern = sorted.length > 0 ? new RegExp(sorted.map(escapeRegExp).join('|'), 'g') : undefined;

  const text = (input: string): string => {
    let out = input;
    if (secretPattern) out = out.replace(secretPattern, REDACTED);
    return out
      .replace(VAULT, REDACTED)
      .replace(BEARER, (_match, scheme: string, space: string) => `${scheme}${space}${REDACTED}`)
      .replace(AUTHORIZATION, (_match, prefix: string) => `${prefix}${REDACTED}`);
  };

  const value = <T>(input: T): T => {
    const walk = (item: unknown): unknown => {
      if (typeof item === 'string') return text(item);
      if (Array.isArray(item)) return item.map(walk);
      if (typeof item === 'object' && item !== null && !(item instanceof Date)) {
        return Object.fromEntries(Object.entries(item).map(([key, inner]) => [text(key), walk(inner)]));
      }
      return item;
    };
    return walk(input) as T;
  };

  return { text, value };
}

/** Redacts patterns only (vault payloads, tokens): for places that do not know the step's vars. */
export const redactPatterns: Redactor = createRedactor();

/** Names that say "secret" even when a playbook's metadata forgot to mark them `no_log`. */
export const SECRET_LOOKING_VAR = /(^|_)pass(word|wd)?($|_)|secret|token|api_?key|private_?key|credential|vault/i;

/** Whether a var's value must be hidden: marked secret by its playbook's specs, or named like a secret. */
export function isSecretVar(name: string, specs: readonly Pick<PlaybookVar, 'name' | 'secret'>[] | undefined): boolean {
  return SECRET_LOOKING_VAR.test(name) || (specs ?? []).some((spec) => spec.name === name && spec.secret === true);
}

type VarSpecs = readonly Pick<PlaybookVar, 'name' | 'secret'>[];

/**
 * The names of a step's vars whose values are secret: those its plan names (`secretVars`, from
 * planning) and those named like secrets. For a plan made before steps named them, `specsOf` gives
 * the playbook's var specs; without them (unknown playbook, no catalog) every var counts as secret.
 */
export function secretVarNames(
  step: { playbook: string; vars: Record<string, unknown>; secretVars?: string[] },
  specsOf: (playbook: string) => VarSpecs | undefined = () => undefined,
): string[] {
  const specs = step.secretVars ? step.secretVars.map((name) => ({ name, secret: true })) : specsOf(step.playbook);
  return Object.keys(step.vars).filter((name) => specs === undefined || isSecretVar(name, specs));
}

/**
 * A copy of a plan whose secret var values (secretVarNames), and values under secret-looking keys
 * inside the other vars, are `********`, for showing or storing it.
 */
export function redactPlanVars<P extends { steps: { playbook: string; vars: Record<string, unknown>; secretVars?: string[] }[] }>(
  plan: P,
  specsOf?: (playbook: string) => VarSpecs | undefined,
): P {
  return {
    ...plan,
    steps: plan.steps.map((step) => {
      const secret = new Set(secretVarNames(step, specsOf));
      const vars = Object.fromEntries(
        Object.entries(step.vars).map(([name, value]) => [name, secret.has(name) ? REDACTED : hideSecretLookingKeys(value)]),
      );
      return { ...step, vars };
    }),
  };
}
