// The words Chiffon gives the intents it infers from a repository (no metadata file), and the words
// that name a repository's actions on the whole fleet. Pure.

/** How people ask for a service to be there: each inferred service's intent answers to these. */
export const SERVICE_VERBS = [
  'deploy',
  'redeploy',
  'install',
  'reinstall',
  'enable',
  'set up',
  'setup',
  'add',
  'configure',
  'reconfigure',
  'provision',
  'apply',
  'run',
  'start',
  'update',
  'upgrade',
] as const;

/**
 * Actions on the hosts themselves rather than on a service: a playbook, play, role or tag named
 * like one of these (`update.yml`, role `upgrades`, tag `reboot`) answers a request that names
 * no service ("update all my servers", "reboot the nas"). Name (as it appears) → verbs.
 */
const FLEET_ACTIONS: Record<string, readonly string[]> = {
  update: ['update', 'upgrade', 'patch'],
  updates: ['update', 'upgrade', 'patch'],
  upgrade: ['upgrade', 'update', 'patch'],
  upgrades: ['upgrade', 'update', 'patch'],
  patch: ['patch', 'update', 'upgrade'],
  patching: ['patch', 'update', 'upgrade'],
  packages: ['update', 'upgrade', 'patch'],
  apt: ['update', 'upgrade', 'patch'],
  'apt-upgrade': ['update', 'upgrade', 'patch'],
  'apt-update': ['update', 'upgrade', 'patch'],
  'system-update': ['update', 'upgrade', 'patch'],
  maintenance: ['update', 'upgrade', 'patch'],
  reboot: ['reboot', 'restart'],
  restart: ['restart', 'reboot'],
  shutdown: ['shut down', 'shutdown', 'power off'],
};

/** Words that may stand beside an action in its name and still mean the hosts themselves. */
const FLEET_OBJECTS = new Set([
  'all',
  'packages',
  'package',
  'system',
  'systems',
  'os',
  'servers',
  'server',
  'hosts',
  'host',
  'nodes',
  'machines',
  'security',
  'everything',
  'apt',
  'dnf',
  'yum',
  'debian',
  'ubuntu',
  'the',
  'and',
]);

/**
 * The verbs of a fleet action named `name` (a file stem, play, role or tag: `update`,
 * `upgrade-all-packages`, `reboot_servers`), or undefined (`update-kuma` is about kuma).
 */
export function fleetActionVerbs(name: string): readonly string[] | undefined {
  const key = name.toLowerCase().replace(/[\s_]+/g, '-');
  if (Object.hasOwn(FLEET_ACTIONS, key)) return FLEET_ACTIONS[key];
  const words = key.split('-').filter(Boolean);
  const action = words.find((w) => Object.hasOwn(FLEET_ACTIONS, w) && !FLEET_OBJECTS.has(w));
  if (!action || !words.every((w) => w === action || FLEET_OBJECTS.has(w) || Object.hasOwn(FLEET_ACTIONS, w))) return undefined;
  return FLEET_ACTIONS[action];
}

/** Words that name every host rather than one: "on the fleet", "all my servers". */
export const WHOLE_FLEET_WORDS: ReadonlySet<string> = new Set([
  'all',
  'fleet',
  'everything',
  'everywhere',
  'hosts',
  'host',
  'servers',
  'server',
  'machines',
  'machine',
  'nodes',
  'boxes',
]);

/** Verbs and filler words stripped from a file or play name to find the service it names. */
const NAME_NOISE = new Set([
  'deploy',
  'install',
  'setup',
  'set',
  'up',
  'configure',
  'config',
  'provision',
  'playbook',
  'play',
  'main',
  'role',
  'roles',
  'and',
  'the',
  'a',
  'an',
  'on',
  'of',
  'for',
  'to',
]);

/** `deploy-jellyfin` → `jellyfin`, `Install the Jellyfin media server` → `jellyfin-media-server`. */
export function serviceNameFrom(text: string): string | undefined {
  const words = text
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter((w) => w.length > 0);
  const kept = words.filter((w) => !NAME_NOISE.has(w));
  const name = (kept.length > 0 ? kept : words).join('-');
  return /^[a-z0-9][a-z0-9_.-]*$/.test(name) ? name : undefined;
}
