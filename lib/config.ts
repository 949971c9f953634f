// Chiffon's configuration, read once from the environment. Every setting has a default that
// works on a fresh clone, so `npm start` needs no configuration at all.
import path from 'node:path';
import { parsePassEnv } from './child-env.js';
import { isValidAgentName } from '../domain/fleet.js';
import { NOTIFICATION_EVENTS, type NotificationEvent } from '../domain/notifications.js';
import { REQUEST_DEFAULTS } from '../domain/request-state.js';
import { fromProjectRoot } from './paths.js';

export interface ChiffonConfig {
  /** PostgreSQL URL; unset means the embedded PostgreSQL under .data/postgres. */
  databaseUrl: string | undefined;
  temporalAddress: string;
  temporalNamespace: string;
  /** The shared orchestration queue (workflows, planning, records); steps go to `<taskQueue>-host-<agent>`. */
  taskQueue: string;
  /** This worker's agent name (`npm run worker -- --host NAME`): it runs the plan steps of that host. */
  workerHost: string;
  /** Whether this worker also serves the shared orchestration queue (false: a host-only worker). */
  orchestration: boolean;
  /** Address the API listens on; 127.0.0.1 unless CHIFFON_HOST opens it to the LAN. */
  host: string;
  port: number;
  /** The Ansible playbook repository (a folder or a git checkout). */
  playbookRepo: string;
  /**
   * CHIFFON_INVENTORY: the inventory (a file, a folder or a comma list), relative to the playbook
   * repository unless absolute. Unset: found as Ansible would, through the repository's ansible.cfg
   * or the conventional names (services/inventory/inventory-source.ts).
   */
  inventory: string | undefined;
  /** Git repository that receives `.audit/tasks/{task_id}.json`; created when missing. */
  auditRepo: string;
  /** The only place the sample playbooks write to (passed to them as `chiffon_state_dir`). */
  stateDir: string;
  /** Where `ansible-lint` writes its cache and where extra-vars files live briefly. */
  workDir: string;
  /** How long a plan waits for a decision before it expires (a Temporal duration string). */
  approvalTimeout: string;
  /** How long a failed request stays open for a retry-from-step. */
  retryWindow: string;
  /** How soon a paused request first re-checks capacity (then less and less often, up to 10 min). */
  capacityRecheckMs: number;
  /** CHIFFON_PLANNING_WAIT_MS: how long POST /chat waits for a worker to plan before answering 503. */
  planningWaitMs: number;
  /** CHIFFON_TEMPORAL_UI_URL: the Temporal Web UI the dashboard links to. */
  temporalUiUrl: string;
  /** Playbook steps one worker runs at once (also its share in the agent registry). */
  maxConcurrentSteps: number;
  /** An agent whose 1-minute load average per CPU is above this has no room for a step (where it has no CPU pressure). */
  maxLoadPerCpu: number;
  /**
   * CHIFFON_MAX_CPU_PRESSURE / CHIFFON_MAX_MEMORY_PRESSURE: an agent whose kernel reports more CPU or
   * memory pressure than this (/proc/pressure/*, "some avg10", in %) has no room for another step
   * while it runs steps of its own (domain/capacity.ts).
   */
  maxCpuPressure: number;
  maxMemoryPressure: number;
  /** An agent with less available memory than this percentage has no room for a step. */
  minFreeMemoryPercent: number;
  /** Four-eyes is the default: a requester may approve their own request only when this is true. */
  allowSelfApproval: boolean;
  /**
   * CHIFFON_BECOME_PASSWORD: the sudo password of the managed hosts, for plays with `become` whose
   * inventory does not hold one (in Ansible Vault). Given to ansible-playbook only, at run time, as
   * the secret `ansible_become_password`; never in a plan, the workflow history or a log.
   */
  becomePassword: string | undefined;
  /** CHIFFON_ANSIBLE_ENV: more environment variables Ansible's processes get (lib/child-env.ts). */
  ansiblePassEnv: string[];
  /** CHIFFON_CODEC_KEYS: the payload keys inline (lib/payload-codec.ts); they win over the key file. */
  codecKeys: string | undefined;
  /** CHIFFON_CODEC_KEY_FILE: the payload key file, created with one random key on first start. */
  codecKeyFile: string;
  /**
   * CHIFFON_CODEC_ACCEPT_UNSEALED: also open payloads that were never sealed. Only while requests
   * started before payloads were sealed are still open (their histories hold them); off by default,
   * because it lets an unsealed (forged) Update through again.
   */
  codecAcceptUnsealed: boolean;
  /**
   * CHIFFON_TEMPORAL_UI_ORIGINS: the Temporal Web UI origins (comma-separated) whose browser may call
   * the codec endpoint (/api/codec) to show decoded payloads; by default the local dev server's UI.
   */
  temporalUiOrigins: string[];
  /** CHIFFON_PUBLIC_URL: where people reach the API and its dashboard (notification links); else http://<host>:<port>. */
  publicUrl: string;
  /** Where request notifications go (CHIFFON_NOTIFY_*): nowhere unless a target is set. */
  notify: NotifyConfig;
}

/**
 * Notification targets; the secrets (webhook secret, ntfy token, the SMTP URL's credentials) are
 * Chiffon secrets (lib/child-env.ts).
 */
export interface NotifyConfig {
  /** CHIFFON_NOTIFY_WEBHOOK_URL and _SECRET: a JSON POST signed with HMAC-SHA256 of the secret. */
  webhook?: { url: string; secret: string };
  /** CHIFFON_NOTIFY_NTFY_URL (a topic URL) and the optional CHIFFON_NOTIFY_NTFY_TOKEN (an access token). */
  ntfy?: { url: string; token?: string };
  /** CHIFFON_NOTIFY_SMTP_URL, CHIFFON_NOTIFY_EMAIL_FROM and _TO: a plain-text mail through that server. */
  email?: EmailConfig;
  /** CHIFFON_NOTIFY_EVENTS: which events notify (default all). */
  events: NotificationEvent[];
}

export interface EmailConfig {
  /** `smtp://[user:password@]host[:port]` (STARTTLS, port 587) or `smtps://...` (TLS from the start, 465). */
  url: string;
  from: { name?: string; address: string };
  to: string[];
  /**
   * smtp:// only refuses a server that offers no STARTTLS when this is set (smtps:// is TLS anyway):
   * CHIFFON_NOTIFY_SMTP_REQUIRE_TLS, by default true except for a loopback host.
   */
  requireTLS: boolean;
}

/** Whether any target is configured: only then do requests schedule notifications. */
export function notifyTargetsConfigured(notify: NotifyConfig): boolean {
  return notify.webhook !== undefined || notify.ntfy !== undefined || notify.email !== undefined;
}

function positiveNumber(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 0) throw new Error(`${name}=${raw} is not a non-negative number`);
  return value;
}

/** A percentage, 0 to 100. */
function percentage(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const value = positiveNumber(env, name, fallback);
  if (value > 100) throw new Error(`${name}=${env[name]} is not a percentage (0 to 100)`);
  return value;
}

function booleanFlag(env: NodeJS.ProcessEnv, name: string): boolean {
  const raw = (env[name] ?? '').trim().toLowerCase();
  if (raw === '' || raw === 'false' || raw === '0') return false;
  if (raw === 'true' || raw === '1') return true;
  throw new Error(`${name}=${env[name]} is not true or false`);
}

/** An agent name, checked here so a typo fails at start rather than as an unroutable task queue. */
export function agentName(value: string, setting: string): string {
  if (!isValidAgentName(value)) throw new Error(`${setting}=${value} is not a host name (letters, digits and . _ : - only)`);
  return value;
}

/** A comma-separated list of web origins (scheme://host[:port]), each checked. */
function origins(env: NodeJS.ProcessEnv, name: string, fallback: string): string[] {
  return (env[name] || fallback)
    .split(',')
    .map((o) => o.trim())
    .filter(Boolean)
    .map((o) => {
      let url: URL;
      try {
        url = new URL(o);
      } catch {
        throw new Error(`${name}: ${o} is not an origin (e.g. http://127.0.0.1:8233)`);
      }
      if (url.origin !== o.replace(/\/$/, '')) throw new Error(`${name}: ${o} is not an origin (scheme://host[:port], no path)`);
      return url.origin;
    });
}

/** An http(s) URL, checked at start so a typo is not found at the first notification. */
function httpUrl(value: string, name: string): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new Error(`${name}=${value} is not a URL (e.g. https://ntfy.sh/mytopic)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`${name}: ${url.protocol} is not http: or https:`);
  return url;
}

/** Webhook secrets shorter than this are guessable enough to forge a signature. */
const MIN_WEBHOOK_SECRET = 16;

function notifyConfig(env: NodeJS.ProcessEnv): NotifyConfig {
  const webhookUrl = env.CHIFFON_NOTIFY_WEBHOOK_URL || undefined;
  const secret = env.CHIFFON_NOTIFY_WEBHOOK_SECRET || undefined;
  if (webhookUrl && !secret)
    throw new Error('CHIFFON_NOTIFY_WEBHOOK_URL needs CHIFFON_NOTIFY_WEBHOOK_SECRET (the bodies are signed with it)');
  if (secret && !webhookUrl) throw new Error('CHIFFON_NOTIFY_WEBHOOK_SECRET is set without CHIFFON_NOTIFY_WEBHOOK_URL');
  if (secret && secret.length < MIN_WEBHOOK_SECRET)
    throw new Error(`CHIFFON_NOTIFY_WEBHOOK_SECRET is shorter than ${MIN_WEBHOOK_SECRET} characters (e.g. openssl rand -hex 32)`);
  const ntfyUrl = env.CHIFFON_NOTIFY_NTFY_URL || undefined;
  const token = env.CHIFFON_NOTIFY_NTFY_TOKEN || undefined;
  if (token && !ntfyUrl) throw new Error('CHIFFON_NOTIFY_NTFY_TOKEN is set without CHIFFON_NOTIFY_NTFY_URL');
  if (ntfyUrl && httpUrl(ntfyUrl, 'CHIFFON_NOTIFY_NTFY_URL').pathname.replace(/\/+$/, '') === '')
    throw new Error(`CHIFFON_NOTIFY_NTFY_URL=${ntfyUrl} names no topic (e.g. https://ntfy.sh/mytopic)`);
  const events = (env.CHIFFON_NOTIFY_EVENTS ?? '').split(/[\s,]+/).filter(Boolean);
  for (const event of events) {
    if (!(NOTIFICATION_EVENTS as readonly string[]).includes(event))
      throw new Error(`CHIFFON_NOTIFY_EVENTS: ${event} is not one of ${NOTIFICATION_EVENTS.join(', ')}`);
  }
  const email = emailConfig(env);
  return {
    ...(webhookUrl && secret ? { webhook: { url: httpUrl(webhookUrl, 'CHIFFON_NOTIFY_WEBHOOK_URL').href, secret } } : {}),
    ...(ntfyUrl ? { ntfy: { url: httpUrl(ntfyUrl, 'CHIFFON_NOTIFY_NTFY_URL').href, ...(token ? { token } : {}) } } : {}),
    ...(email ? { email } : {}),
    events: events.length > 0 ? [...new Set(events as NotificationEvent[])] : [...NOTIFICATION_EVENTS],
  };
}

const SMTP_EXAMPLE = 'e.g. smtp://user:password@mail.lan:587 or smtps://user:password@mail.lan:465';

/**
 * The SMTP server's URL, checked at start. Its errors never quote the URL: it holds the password.
 * Only scheme, credentials, host and port: anything else would be silently ignored.
 */
function smtpUrl(value: string): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new Error(`CHIFFON_NOTIFY_SMTP_URL is not a URL (${SMTP_EXAMPLE})`);
  }
  if (url.protocol !== 'smtp:' && url.protocol !== 'smtps:')
    throw new Error(`CHIFFON_NOTIFY_SMTP_URL: ${url.protocol} is not smtp: or smtps: (${SMTP_EXAMPLE})`);
  if (url.hostname === '') throw new Error(`CHIFFON_NOTIFY_SMTP_URL names no host (${SMTP_EXAMPLE})`);
  if (!/^[A-Za-z0-9.-]+$|^\[[0-9A-Fa-f:.]+\]$/.test(url.hostname))
    throw new Error(`CHIFFON_NOTIFY_SMTP_URL: ${url.hostname} is not a host name or address`);
  if ((url.pathname !== '' && url.pathname !== '/') || url.search || url.hash)
    throw new Error(`CHIFFON_NOTIFY_SMTP_URL has a path, query or fragment: only ${url.protocol}//[user:password@]host[:port]`);
  if (url.username === '' && url.password !== '') throw new Error('CHIFFON_NOTIFY_SMTP_URL has a password without a user');
  if (url.username !== '' && url.password === '') throw new Error('CHIFFON_NOTIFY_SMTP_URL has a user without a password');
  try {
    decodeURIComponent(url.username);
    decodeURIComponent(url.password);
  } catch {
    throw new Error('CHIFFON_NOTIFY_SMTP_URL: its user or password is badly percent-encoded (write @ : / % as %40 %3A %2F %25)');
  }
  return url;
}

/** A mail sent in clear text to this machine never crosses a network. */
function isLoopbackHost(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || /^127(?:\.\d{1,3}){3}$/.test(hostname);
}

/** A plain address: no display name, comment or route; the domain a host name. */
const EMAIL_ADDRESS = /^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$/;

function emailAddress(value: string, name: string): string {
  if (!EMAIL_ADDRESS.test(value)) throw new Error(`${name}: ${JSON.stringify(value)} is not an email address (e.g. chiffon@homelab.lan)`);
  return value;
}

/** `chiffon@homelab.lan` or `Chiffon <chiffon@homelab.lan>`. */
function emailFrom(raw: string): EmailConfig['from'] {
  const named = /^([\s\S]*?)\s*<([^<>]*)>$/.exec(raw.trim());
  if (!named) return { address: emailAddress(raw.trim(), 'CHIFFON_NOTIFY_EMAIL_FROM') };
  const displayName = (named[1] ?? '').replace(/^"(.*)"$/, '$1').trim();
  // Quotes, brackets and line breaks are what would let a name rewrite the header around it.
  // eslint-disable-next-line no-control-regex -- control characters are what this refuses
  if (/[\x00-\x1f\x7f"<>\\]/.test(displayName))
    throw new Error('CHIFFON_NOTIFY_EMAIL_FROM: the name before <address> has a quote, bracket, backslash or control character');
  return { ...(displayName ? { name: displayName } : {}), address: emailAddress(named[2] ?? '', 'CHIFFON_NOTIFY_EMAIL_FROM') };
}

function emailConfig(env: NodeJS.ProcessEnv): EmailConfig | undefined {
  const url = env.CHIFFON_NOTIFY_SMTP_URL || undefined;
  const from = env.CHIFFON_NOTIFY_EMAIL_FROM || undefined;
  const to = env.CHIFFON_NOTIFY_EMAIL_TO || undefined;
  const requireTls = env.CHIFFON_NOTIFY_SMTP_REQUIRE_TLS || undefined;
  if (!url) {
    const stray = Object.entries({
      CHIFFON_NOTIFY_EMAIL_FROM: from,
      CHIFFON_NOTIFY_EMAIL_TO: to,
      CHIFFON_NOTIFY_SMTP_REQUIRE_TLS: requireTls,
    });
    const set = stray.find(([, value]) => value !== undefined);
    if (set) throw new Error(`${set[0]} is set without CHIFFON_NOTIFY_SMTP_URL`);
    return undefined;
  }
  const parsed = smtpUrl(url);
  if (!from) throw new Error('CHIFFON_NOTIFY_SMTP_URL needs CHIFFON_NOTIFY_EMAIL_FROM (the sender, e.g. Chiffon <chiffon@homelab.lan>)');
  if (!to) throw new Error('CHIFFON_NOTIFY_SMTP_URL needs CHIFFON_NOTIFY_EMAIL_TO (the recipients, comma-separated)');
  const recipients = to
    .split(',')
    .map((address) => address.trim())
    .filter(Boolean)
    .map((address) => emailAddress(address, 'CHIFFON_NOTIFY_EMAIL_TO'));
  if (recipients.length === 0) throw new Error('CHIFFON_NOTIFY_EMAIL_TO names no address');
  const explicitTls = requireTls === undefined ? undefined : booleanFlag(env, 'CHIFFON_NOTIFY_SMTP_REQUIRE_TLS');
  if (parsed.protocol === 'smtps:' && explicitTls === false)
    throw new Error('CHIFFON_NOTIFY_SMTP_REQUIRE_TLS=false cannot turn TLS off for smtps:// (TLS from the start); use smtp://');
  return {
    url: parsed.href,
    from: emailFrom(from),
    to: [...new Set(recipients)],
    requireTLS: parsed.protocol === 'smtps:' || (explicitTls ?? !isLoopbackHost(parsed.hostname)),
  };
}

function publicUrl(env: NodeJS.ProcessEnv, host: string, port: number): string {
  const raw = env.CHIFFON_PUBLIC_URL;
  if (!raw) return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  const url = httpUrl(raw, 'CHIFFON_PUBLIC_URL');
  if (url.search || url.hash) throw new Error(`CHIFFON_PUBLIC_URL=${raw} has a query or fragment`);
  return url.href.replace(/\/+$/, '');
}

function resolvePath(value: string | undefined, fallback: string): string {
  return path.resolve(value && value.length > 0 ? value : fallback);
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): ChiffonConfig {
  const port = Number(env.PORT ?? 3000);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`PORT=${env.PORT} is not a port`);
  const host = env.CHIFFON_HOST || '127.0.0.1';
  return {
    databaseUrl: env.DATABASE_URL || undefined,
    temporalAddress: env.TEMPORAL_ADDRESS || '127.0.0.1:7233',
    temporalNamespace: env.TEMPORAL_NAMESPACE || 'default',
    taskQueue: env.CHIFFON_TASK_QUEUE || 'chiffon',
    workerHost: agentName(env.CHIFFON_WORKER_HOST || 'localhost', 'CHIFFON_WORKER_HOST'),
    orchestration:
      env.CHIFFON_ORCHESTRATION === undefined || env.CHIFFON_ORCHESTRATION === '' ? true : booleanFlag(env, 'CHIFFON_ORCHESTRATION'),
    host,
    port,
    playbookRepo: resolvePath(env.CHIFFON_PLAYBOOK_REPO, fromProjectRoot('playbooks')),
    inventory: env.CHIFFON_INVENTORY || undefined,
    auditRepo: resolvePath(env.CHIFFON_AUDIT_REPO, fromProjectRoot('.data', 'audit')),
    stateDir: resolvePath(env.CHIFFON_STATE_DIR, fromProjectRoot('.data', 'state')),
    workDir: resolvePath(env.CHIFFON_WORK_DIR, fromProjectRoot('.data', 'work')),
    approvalTimeout: env.CHIFFON_APPROVAL_TIMEOUT || REQUEST_DEFAULTS.approvalTimeout,
    retryWindow: env.CHIFFON_RETRY_WINDOW || REQUEST_DEFAULTS.retryWindow,
    capacityRecheckMs: positiveNumber(env, 'CHIFFON_CAPACITY_RECHECK_MS', REQUEST_DEFAULTS.capacityRecheckMs),
    planningWaitMs: positiveNumber(env, 'CHIFFON_PLANNING_WAIT_MS', 60_000),
    temporalUiUrl: (env.CHIFFON_TEMPORAL_UI_URL || `http://127.0.0.1:${env.TEMPORAL_UI_PORT || 8233}`).replace(/\/+$/, ''),
    maxConcurrentSteps: Math.max(1, Math.floor(positiveNumber(env, 'CHIFFON_MAX_CONCURRENT_STEPS', 4))),
    maxLoadPerCpu: positiveNumber(env, 'CHIFFON_MAX_LOAD_PER_CPU', 2),
    minFreeMemoryPercent: positiveNumber(env, 'CHIFFON_MIN_FREE_MEMORY_PERCENT', 5),
    maxCpuPressure: percentage(env, 'CHIFFON_MAX_CPU_PRESSURE', 80),
    maxMemoryPressure: percentage(env, 'CHIFFON_MAX_MEMORY_PRESSURE', 40),
    allowSelfApproval: booleanFlag(env, 'CHIFFON_ALLOW_SELF_APPROVAL'),
    becomePassword: env.CHIFFON_BECOME_PASSWORD || undefined,
    ansiblePassEnv: parsePassEnv(env.CHIFFON_ANSIBLE_ENV),
    codecKeys: env.CHIFFON_CODEC_KEYS || undefined,
    codecKeyFile: resolvePath(env.CHIFFON_CODEC_KEY_FILE, fromProjectRoot('.data', 'codec.keys')),
    codecAcceptUnsealed: booleanFlag(env, 'CHIFFON_CODEC_ACCEPT_UNSEALED'),
    temporalUiOrigins: origins(
      env,
      'CHIFFON_TEMPORAL_UI_ORIGINS',
      `http://127.0.0.1:${env.TEMPORAL_UI_PORT || 8233},http://localhost:${env.TEMPORAL_UI_PORT || 8233}`,
    ),
    publicUrl: publicUrl(env, host, port),
    notify: notifyConfig(env),
  };
}
