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
}

/** Something a person can ask for that one playbook carries out. */
export interface IntentSpec {
  /** e.g. `deploy_kuma`, `add_portals_to_config`. */
  name: string;
  /** Verbs that ask for it: deploy, install, add, ... */
  verbs: string[];
  /** Words that must also appear, e.g. `portals` (empty: the service name suffices). */
  objects: string[];
}

/** One playbook of the repository, with the metadata Chiffon plans with. */
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
  /** The plays' `hosts:` pattern (e.g. `homelab`); the plan has a step for each host it matches. */
  hosts?: string;
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

export type StepStatus = 'pending' | 'waiting' | 'running' | 'completed' | 'failed' | 'skipped' | 'cancelled';

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
  /** The inventory host this step runs against (`ansible-playbook --limit`); absent: every host of the play. */
  host?: string;
  /** The agent whose task queue runs the step (`npm run worker -- --host NAME`): the host's
   * `chiffon_agent` inventory var, else the host itself. Absent: any worker of the shared queue. */
  agent?: string;
}

/** What a plan was made from, so a change between approval and running can be detected. */
export interface PlanFingerprint {
  /** sha256 of each planned playbook's content, by path. */
  playbooks: Record<string, string>;
  /** sha256 of the inventory file's content. */
  inventory: string;
  /** HEAD of the playbook repository when it is a git repository. */
  repoCommit?: string;
}

export interface Plan {
  planId: string;
  steps: PlanStep[];
  fingerprint: PlanFingerprint;
  /** sha256 over the steps (playbooks, vars) and the fingerprint: what an approval approves. */
  hash: string;
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
  /** Names of the tasks that ran, in order. */
  tasks: { name: string; host: string; status: 'ok' | 'changed' | 'failed' | 'skipped' | 'unreachable' }[];
  failedTasks: FailedTask[];
  /** The last lines of stderr (ansible's own errors, e.g. a syntax error). */
  stderrTail: string;
  /** Which delivery of the step activity produced this run: above 1, an earlier worker died mid-run. */
  activityAttempt?: number;
  /** The worker that ran it (`hostname:pid`). */
  ranOn?: string;
  /** The agent (`--host` name of the worker) that ran it. */
  agent?: string;
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
