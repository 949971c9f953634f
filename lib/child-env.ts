// The environment Chiffon gives the programs it runs for Ansible (ansible-playbook and its
// preview, ansible-lint, ansible-inventory, ansible-config): what they need from this process's
// environment, never its own secrets. A playbook can read its environment (`lookup('env', ...)`),
// and whatever it reads may end up in a message that is stored and streamed.
//
// Passed: the names below, Ansible's own settings (ANSIBLE_*, except the two Chiffon decides from
// the repository), and the names the operator lists in CHIFFON_ANSIBLE_ENV (e.g. a cloud
// inventory plugin's credentials). Never passed, listed or not: Chiffon's own secrets.

/** What a process needs to find programs, its home and locale, and an SSH agent. */
const PASSED = ['PATH', 'HOME', 'USER', 'LOGNAME', 'LANG', 'LC_ALL', 'LC_CTYPE', 'TZ', 'TMPDIR', 'SSH_AUTH_SOCK'] as const;

/** The repository's ansible.cfg and inventory are Chiffon's to find (inventory-source.ts). */
const ANSIBLE_NOT_PASSED = new Set(['ANSIBLE_CONFIG', 'ANSIBLE_INVENTORY']);

/** Chiffon's own secrets (lib/config.ts, lib/llm-config.ts): never given to Ansible, hidden from stored output. */
export const CHIFFON_SECRET_VARS = [
  'DATABASE_URL',
  'ANTHROPIC_API_KEY',
  'CHIFFON_LLM_API_KEY',
  'CHIFFON_BECOME_PASSWORD',
  'CHIFFON_CODEC_KEYS',
  // A notification target's URL may itself be a capability (an ntfy.sh topic, a webhook id).
  'CHIFFON_NOTIFY_WEBHOOK_URL',
  'CHIFFON_NOTIFY_WEBHOOK_SECRET',
  'CHIFFON_NOTIFY_NTFY_URL',
  'CHIFFON_NOTIFY_NTFY_TOKEN',
  // The mail server's URL carries its login (smtp://user:password@host).
  'CHIFFON_NOTIFY_SMTP_URL',
] as const;

/** The secrets above that are URLs whose password may appear on its own (an error quoting a login). */
const URLS_WITH_PASSWORD = ['DATABASE_URL', 'CHIFFON_NOTIFY_SMTP_URL'] as const;

/** CHIFFON_ANSIBLE_ENV: a comma- or space-separated list of names; Chiffon's secrets refused. */
export function parsePassEnv(raw: string | undefined): string[] {
  const names = (raw ?? '').split(/[\s,]+/).filter(Boolean);
  for (const name of names) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name))
      throw new Error(`CHIFFON_ANSIBLE_ENV: ${JSON.stringify(name)} is not an environment variable name`);
    if ((CHIFFON_SECRET_VARS as readonly string[]).includes(name))
      throw new Error(`CHIFFON_ANSIBLE_ENV: ${name} is Chiffon's own secret and is never given to Ansible`);
  }
  return [...new Set(names)];
}

/** The allow-listed part of `env` (this process's by default), for a child's `env` with extendEnv off. */
export function allowedEnv(passEnv: readonly string[] = [], env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const allowed: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined || (CHIFFON_SECRET_VARS as readonly string[]).includes(name)) continue;
    const ansible = name.startsWith('ANSIBLE_') && !ANSIBLE_NOT_PASSED.has(name);
    if (ansible || (PASSED as readonly string[]).includes(name) || passEnv.includes(name)) allowed[name] = value;
  }
  return allowed;
}

/**
 * The values of Chiffon's own secrets in `env`, and the passwords inside DATABASE_URL and
 * CHIFFON_NOTIFY_SMTP_URL: what the redactor hides from every stored output as a last line of
 * defence, should one reach it anyway.
 */
export function ownSecretValues(env: NodeJS.ProcessEnv = process.env): string[] {
  const values: string[] = [];
  for (const name of CHIFFON_SECRET_VARS) {
    const value = env[name];
    if (value) values.push(value);
  }
  // Each payload key alone too (CHIFFON_CODEC_KEYS holds `<id>:<key>` entries).
  for (const entry of (env.CHIFFON_CODEC_KEYS ?? '').split(/[\n,]/)) {
    const key = entry.slice(entry.indexOf(':') + 1).trim();
    if (key.length >= 16) values.push(key);
  }
  for (const name of URLS_WITH_PASSWORD) {
    try {
      const password = env[name] ? decodeURIComponent(new URL(env[name]).password) : '';
      if (password) values.push(password);
    } catch {
      // Not a URL: its whole value is hidden already.
    }
  }
  return values;
}
