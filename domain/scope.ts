// Which hosts a request is about: "on meeseeks", "on the nas", "to homelab", "on the fleet",
// "reboot the nas". Read against the inventory, so a scope is always a host or group that exists.
// Pure.
import { WHOLE_FLEET_WORDS } from './intent-words.js';
import type { Inventory } from './types.js';

export type Scope =
  /** No scope given: the plays' own hosts. */
  | { kind: 'none' }
  /** Every host ("on the fleet", "all my servers"): the plays' own hosts as well. */
  | { kind: 'all' }
  /** Hosts and groups of the inventory, as named. */
  | { kind: 'limit'; names: string[] }
  /** "on X" where X is in no inventory: the request cannot be planned. */
  | { kind: 'unknown'; name: string };

const FILLERS = ['the', 'my', 'our', 'all', 'of', 'every', 'each', 'your', 'both'];
const FILLER = new Set(FILLERS);
/** Words after "on" that name a time or a manner, not a place: "start it on boot", "on demand". */
const NOT_PLACES = new Set([
  'boot',
  'startup',
  'start',
  'reboot',
  'demand',
  'schedule',
  'it',
  'this',
  'that',
  'them',
  'top',
  'again',
  'now',
  'port',
  'weekends',
  'weekdays',
  'monday',
  'tuesday',
  'wednesday',
  'thursday',
  'friday',
  'saturday',
  'sunday',
]);
/** After "on", a name must resolve; after "to", "at" and "across" it may be something else ("to the config"). */
const PREPOSITION = new RegExp(`\\b(on|to|at|across|onto)\\s+(?:(?:${FILLERS.join('|')})\\s+)*([a-z0-9][\\w.-]*)`, 'gi');

function words(text: string): string[] {
  return text
    .toLowerCase()
    .split(/[^a-z0-9_.-]+/)
    .filter(Boolean);
}

/** The inventory's host or group for a word: exact, or its singular/plural ("servers" → group server). */
function inventoryName(word: string, inventory: Inventory): string | undefined {
  const groups = inventory.hosts.flatMap((h) => h.groups);
  for (const form of [word, word.replace(/s$/, ''), `${word}s`]) {
    const host = inventory.hosts.find((h) => h.name.toLowerCase() === form);
    if (host) return host.name;
    const group = groups.find((g) => g.toLowerCase() === form);
    if (group) return group;
  }
  return undefined;
}

/**
 * The scope of one clause of a request. `bareNames`: a host or group named anywhere in the clause
 * counts (for actions on hosts: "reboot the nas"); otherwise only after a preposition.
 */
export function scopeOfClause(
  clause: string,
  inventory: Inventory,
  options: { bareNames?: boolean; ignore?: readonly string[] } = {},
): Scope {
  const ignore = new Set((options.ignore ?? []).map((w) => w.toLowerCase()));
  const names: string[] = [];
  let all = false;
  for (const match of clause.matchAll(PREPOSITION)) {
    const preposition = match[1]!.toLowerCase();
    const head = match[2]!.toLowerCase();
    if (ignore.has(head) || NOT_PLACES.has(head)) continue;
    const found = inventoryName(head, inventory);
    if (found) names.push(found);
    else if (WHOLE_FLEET_WORDS.has(head)) all = true;
    else if (preposition === 'on') return { kind: 'unknown', name: head };
  }
  if (options.bareNames) {
    for (const word of words(clause)) {
      if (ignore.has(word) || FILLER.has(word)) continue;
      const found = inventoryName(word, inventory);
      if (found && found !== 'all') names.push(found);
      else if (WHOLE_FLEET_WORDS.has(word)) all = true;
    }
  }
  if (names.length > 0) return { kind: 'limit', names: [...new Set(names)] };
  return all ? { kind: 'all' } : { kind: 'none' };
}

/** "hosts: nas, meeseeks; groups: media, servers" for a message that lists what can be named. */
export function describeInventoryNames(inventory: Inventory): string {
  const hosts = inventory.hosts.map((h) => h.name).sort();
  const groups = [...new Set(inventory.hosts.flatMap((h) => h.groups))].sort();
  return `hosts: ${hosts.join(', ') || 'none'}; groups: ${groups.join(', ') || 'none'}`;
}
