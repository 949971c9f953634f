// The vocabulary shared by the planner, the workflow, the activities and the API.
// Plain data only: these values cross the Temporal boundary, so they must be JSON-serializable.

/** A variable a playbook declares in its `<playbook>.meta.yml` (Ansible argument_specs style). */
export interface PlaybookVar {
  name: string;
  type: string;
  required: boolean;
  description?: string;
  default?: unknown;
  /** Marked `no_log: true` in the spec: its value must never be logged, stored or streamed. */
  secret?: boolean;
  /** Fill this var from an inventory group: `portals` → [{name: host, ...its non-ansible_ vars}, ...]. */
  fromInventoryGroup?: string;
  /** A default Ansible applies by itself (a role's argument_specs or defaults): shown, never passed
   * as an extra var, which would override the repository's own group_vars and host_vars. */
  ansibleDefault?: unknown;
  /** Allowed values (argument_specs `choices`). */
  choices?: unknown[];
}

/** Something a person can ask for that one playbook carries out. */
export interface IntentSpec {
  /** e.g. `deploy_kuma`, `add_portals_to_config`. */
  name: string;
  /** Verbs that ask for it: deploy, install, add, ... */
  verbs: string[];
  /** Words that must also appear, e.g. `portals` (empty: the service name suffices). */
  objects: string[];
  /** An action on the hosts themselves (update, reboot): asked for without naming a service. */
  fleet?: boolean;
}

/** How an entry's intents run when they are not the whole playbook. */
export interface RunSelector {
  /** `--tags` that select it (a role's or an import's tags in a site playbook). */
  tags?: string[];
  /** Extra vars that switch it on (`jellyfin_enabled: true`), where the repository guards it by one. */
  switches?: Record<string, boolean>;
}

/**
 * Something the repository can do, carried out by one playbook: the whole playbook (a metadata file,
 * a single-purpose playbook) or the part of it `run` selects (one role of a site playbook). Several
 * entries may share a playbook; intent names are unique across the catalog.
 */
export interface PlaybookEntry {
  /** Path relative to the playbook repository, e.g. `kuma-deploy.yml`. */
  path: string;
  service: string;
  /** Other names a person may use for the service ("uptime kuma"). */
  aliases: string[];
  description: string;
  intents: IntentSpec[];
  vars: PlaybookVar[];
  /** Playbooks (paths) that must run before this one when both are in a plan. */
  after: string[];
  /** The `hosts:` pattern of the plays that do it (e.g. `homelab`). */
  hosts?: string;
  /** Absent: the whole playbook runs. */
  run?: RunSelector;
  /** Where Chiffon learned of it, for a person: `metadata kuma-deploy.meta.yml`,
   * `role jellyfin, tag jellyfin, switch jellyfin_enabled`. */
  source?: string;
  /** Its plays coordinate several hosts (run_once, groups[...], hostvars, delegate_to, serial):
   * it runs as one step over all of them, never split per host. */
  coordinated?: boolean;
  /** Its plays (or roles) use `become`. */
  become?: boolean;
}

/** A decomposition provider that was passed over, and why (quota, timeout, refused answer, ...). */
export interface SkippedProvider {
  provider: string;
  reason: string;
}

/** Which provider decided a request's intents and why the ones before it did not. */
export interface ProviderDecision {
  decidedBy: string;
  /** The model that decided, when a model did. */
  model?: string;
  skipped: SkippedProvider[];
}

export interface Catalog {
  playbooks: PlaybookEntry[];
  /** Problems found while scanning; they never stop a scan. */
  warnings: { file: string; line?: number; message: string }[];
}

/** A host of the inventory, with its variables (as `ansible-inventory --list` reports them). */
export interface InventoryHost {
  name: string;
  groups: string[];
  vars: Record<string, unknown>;
}

export interface Inventory {
  hosts: InventoryHost[];
}

export interface Intent {
  name: string;
  service: string;
  playbook: string;
  /** The words of the request this intent was read from. */
  source: string;
}

export const STEP_STATUSES = ['pending', 'waiting', 'running', 'completed', 'failed', 'skipped', 'cancelled'] as const;
export type StepStatus = (typeof STEP_STATUSES)[number];

export interface PlanStep {
  index: number;
  /** Decided at planning time so the audit record of a step has one id from start to end. */
  taskId: string;
  playbook: string;
  service: string;
  intent: string;
  vars: Record<string, unknown>;
  /** Where each var's value came from: `inventory:portals`, `default`, ... */
  varSources: Record<string, string>;
  /** Names of its vars whose values are secret (the playbook marks them no_log, or they are named
   * like secrets): whatever shows or stores the plan shows `********` instead (redactPlanVars).
   * Absent only in plans made before steps carried it. */
  secretVars?: string[];
  /** The inventory host this step runs against (`ansible-playbook --limit`), in plans made before
   * steps carried `limit`; read `limit ?? host`. */
  host?: string;
  /** `ansible-playbook --limit`: the hosts and groups the request was scoped to, or the hosts of
   * one agent's share (comma-separated pattern). Absent: the play's own `hosts:`. */
  limit?: string;
  /** `ansible-playbook --tags`: what the intent selects of a playbook that does more (a site
   * playbook's role tags). Absent: the whole playbook. */
  tags?: string[];
  /** The plays use `become` (privilege escalation on the managed hosts). */
  become?: boolean;
  /** The agent whose task queue runs the step (`npm run worker -- --host NAME`): its hosts'
   * `chiffon_agent` inventory var, else the controller (the agent of the worker that planned).
   * Absent (plans made before routing): any worker of the shared queue. */
  agent?: string;
}

/** What a plan was made from, so a change between approval and running can be detected. */
export interface PlanFingerprint {
  /** sha256 of each planned playbook's content, by path. */
  playbooks: Record<string, string>;
  /** sha256 of the inventory: one file's content, or (folders, several sources, group_vars/host_vars
   * beside a file) one sha256 over every inventory file's path and content; 'missing' when absent. */
  inventory: string;
  /** HEAD of the playbook repository when it is a git repository. */
  repoCommit?: string;
  /** sha256 per area of the playbook repository (every file that can affect a run, the inventory's
   * files excepted): `roles/<name>`, else the first path component (`group_vars`, `site.yml`,
   * `ansible.cfg`), at most ~200 areas with the rest in `(other files)`. Absent in plans made
   * before fingerprints carried it: then not compared. */
  tree?: Record<string, string>;
}

export interface Plan {
  planId: string;
  steps: PlanStep[];
  fingerprint: PlanFingerprint;
  /** sha256 over the steps (playbooks, vars) and the fingerprint: what an approval approves. */
  hash: string;
}

/**
 * Ansible's own view of one step before it runs (`--list-hosts --list-tasks` with the step's exact
 * command line), and whether it can run at all.
 */
export interface StepPreview {
  /** The run parses, its roles and collections are there, hosts match and its tags select tasks. */
  ok: boolean;
  hosts: string[];
  tasks: { play: string; name: string; role?: string; tags: string[] }[];
  /** Why it cannot run, in words a person can act on (empty when ok). */
  problems: string[];
}

/** Resources the ansible-playbook process tree used (from getrusage of its children). */
export interface ResourceUsage {
  wallMs: number;
  userCpuMs: number;
  systemCpuMs: number;
  maxRssKb: number;
}

/** One failed task as the jsonl callback reported it. */
export interface FailedTask {
  task: string;
  host: string;
  message: string;
}

/** What running one playbook produced. Output is trimmed: it is stored and crosses Temporal. */
export interface StepRunResult {
  exitCode: number;
  succeeded: boolean;
  startedAt: string;
  finishedAt: string;
  resources: ResourceUsage;
  /** Per-host totals from the play recap: {host: {ok, changed, failures, ...}}. */
  stats: Record<string, Record<string, number>>;
  /** The tasks that ran, per host, in order; `diff` with `--diff`, `unchecked` in check mode (see AnsibleEvent). */
  tasks: {
    name: string;
    host: string;
    status: 'ok' | 'changed' | 'failed' | 'skipped' | 'unreachable';
    diff?: string;
    unchecked?: string;
  }[];
  failedTasks: FailedTask[];
  /** The last lines of stderr (ansible's own errors, e.g. a syntax error). */
  stderrTail: string;
  /** Which delivery of the step activity produced this run: above 1, an earlier worker died mid-run. */
  activityAttempt?: number;
  /** The worker that ran it (`hostname:pid`). */
  ranOn?: string;
  /** The agent (`--host` name of the worker) that ran it. */
  agent?: string;
  /**
   * Live events the database did not take while the step ran (it was down): carried here, through
   * Temporal, and written by the step's audit before its final status, in order. `lostEvents`
   * counts any beyond what a result may carry; the audit records that number as an event.
   */
  pendingEvents?: PendingEvent[];
  lostEvents?: number;
}

/** A live event not yet written (services/request-events.ts NewRequestEvent, already redacted). */
export interface PendingEvent {
  kind: string;
  stepIndex?: number;
  taskId?: string;
  payload: Record<string, unknown>;
  dedupe?: string;
}

export type LintCategory = 'idempotency' | 'error_handling' | 'security' | 'deprecation' | 'formatting' | 'other';

/** One ansible-lint finding over a failed playbook. */
export interface LintFinding {
  rule: string;
  category: LintCategory;
  severity: string;
  message: string;
  path: string;
  line?: number;
  /** What to change, in words a person can act on. */
  suggestedChange?: string;
  /** ansible-lint's `--fix` rewrites this rule itself. */
  fixable?: boolean;
  /** sha256 of the playbook as it was linted; a suggestion is applied only to that content. */
  playbookSha256?: string;
}
