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

/** The verbs of a fleet action named `name` (a file stem, play, role or tag), or undefined. */
export function fleetActionVerbs(name: string): readonly string[] | undefined {
  const key = name.toLowerCase().replace(/[\s_]+/g, '-');
  return Object.hasOwn(FLEET_ACTIONS, key) ? FLEET_ACTIONS[key] : undefined;
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
