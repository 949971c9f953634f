// Reading ansible-playbook's progress from the `ansible.posix.jsonl` stdout callback.
//
// The callback (ansible_collections/ansible/posix/plugins/callback/jsonl.py) prints one JSON object
// per line, named by `_event`:
//   v2_playbook_on_play_start          {play: {id, name, path, duration}, tasks: []}
//   v2_playbook_on_task_start          {task: {id, name, path, duration}, hosts: {}}  (linear strategy)
//   v2_runner_on_start                 same shape, per host                            (free strategy)
//   v2_playbook_on_handler_task_start  same shape, for a handler
//   v2_runner_on_{ok,failed,skipped,unreachable}
//                                      {task: {...}, hosts: {<one host>: <module result>}}
//   v2_playbook_on_stats               {stats: {<host>: {ok, changed, failures, ...}}, custom_stats, ...}
// It has no playbook-start event. Anything else on stdout (warnings of other plugins) is not JSON
// and is skipped.
//
// Only what Chiffon needs is kept from a module result: the raw result can hold module arguments,
// i.e. var values, and parsed events are streamed to progress reporting.
import { renderAnsibleDiff } from './ansible-diff.js';
import type { FailedTask, StepRunResult } from './types.js';

export type HostStatus = StepRunResult['tasks'][number]['status'];

export interface AnsibleTaskRef {
  id: string;
  /** The task's name, or its action when it has none (what ansible prints). */
  name: string;
  /** `file:line` of the task. */
  path: string;
}

export type AnsibleEvent =
  | { kind: 'play_start'; timestamp: string; play: AnsibleTaskRef }
  | { kind: 'task_start'; timestamp: string; task: AnsibleTaskRef; handler: boolean }
  | {
      kind: 'runner_result';
      timestamp: string;
      task: AnsibleTaskRef;
      host: string;
      status: HostStatus;
      /** The module or action that ran, e.g. `ansible.builtin.copy`. */
      action: string;
      /** Why it failed (failed and unreachable results only); already censored by `no_log`. */
      message?: string;
      /** What it changed or, in check mode, would change (`--diff`), as a unified diff. */
      diff?: string;
      /** In check mode: why the task could not be checked (its module has no check mode). */
      unchecked?: string;
    }
  | { kind: 'stats'; timestamp: string; stats: Record<string, Record<string, number>> };

/** Long messages (a traceback in stderr) are cut in the middle: both ends carry the information. */
const MAX_MESSAGE_CHARS = 2_000;
/** Upper bound on `tasks`: the result crosses Temporal, whose payloads are limited to a few MB. */
const MAX_TASK_ENTRIES = 5_000;
/** A task's diff is cut after this many characters, and a run keeps this many in all. */
const MAX_DIFF_CHARS = 4_000;
const MAX_RUN_DIFF_CHARS = 200_000;
/**
 * What a skipped result says when check mode kept a task from running: a module without check
 * mode (AnsibleModule), and command/shell/raw, which only say they would have run.
 */
const NO_CHECK_MODE = /does not support check mode|would have run if not in check mode|check mode (is )?not supported/i;

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function str(value: unknown): string {
  return typeof value === 'string' ? value : '';
}

function taskRef(value: unknown): AnsibleTaskRef | undefined {
  if (!isObject(value)) return undefined;
  return { id: str(value.id), name: str(value.name), path: str(value.path) };
}

function clipDiff(text: string): string {
  return text.length <= MAX_DIFF_CHARS ? text : `${text.slice(0, MAX_DIFF_CHARS)}\n… (${text.length - MAX_DIFF_CHARS} more characters)\n`;
}

function clip(text: string): string {
  if (text.length <= MAX_MESSAGE_CHARS) return text;
  const half = Math.floor(MAX_MESSAGE_CHARS / 2);
  return `${text.slice(0, half)} … ${text.slice(-half)}`;
}

function asText(value: unknown): string {
  if (value === undefined || value === null) return '';
  return typeof value === 'string' ? value.trim() : JSON.stringify(value);
}

/** msg, plus stderr when the module has some: "non-zero return code" alone says little. */
function describeOne(result: Json): string {
  if (typeof result.censored === 'string') return result.censored;
  const parts = [asText(result.msg), asText(result.stderr)].filter((part) => part.length > 0);
  return [...new Set(parts)].join(': ');
}

/** The error of a failed or unreachable host result, as ansible's default output would show it. */
export function failureMessage(result: Json): string {
  let message = describeOne(result);
  // A loop reports "One or more items failed"; the items say why.
  if (Array.isArray(result.results)) {
    const itemMessages = result.results
      .filter((item): item is Json => isObject(item) && (item.failed === true || item.unreachable === true))
      .map(describeOne)
      .filter((text) => text.length > 0);
    if (itemMessages.length > 0) message = [message, ...new Set(itemMessages)].filter(Boolean).join(': ');
  }
  if (!message && typeof result.rc === 'number') message = `exit code ${result.rc}`;
  return clip(message || 'failed without a message');
}

/** Why check mode skipped a task; undefined for other skips (a `when`, a tag). */
function uncheckedReason(result: Json): string | undefined {
  if (typeof result.msg === 'string' && NO_CHECK_MODE.test(result.msg)) return result.msg;
  // raw skips without a word in check mode.
  if (/^(ansible\.builtin\.)?raw$/.test(str(result.action)) && !('skip_reason' in result)) return 'raw would have run if not in check mode';
  return undefined;
}

/** A result's diff; a loop's is in its items' results. */
function diffOf(result: Json): string {
  const items = Array.isArray(result.results) ? result.results.filter(isObject) : [];
  return [result, ...items].map((r) => ('diff' in r ? renderAnsibleDiff(r.diff) : '')).join('');
}

const RESULT_STATUS: Record<string, HostStatus> = {
  v2_runner_on_failed: 'failed',
  v2_runner_on_skipped: 'skipped',
  v2_runner_on_unreachable: 'unreachable',
};

/** One stdout line → an event; null for blank lines, non-JSON lines and events Chiffon does not use. */
export function parseAnsibleEventLine(line: string): AnsibleEvent | null {
  const text = line.trim();
  if (!text.startsWith('{')) return null;
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    return null;
  }
  if (!isObject(data) || typeof data._event !== 'string') return null;
  const timestamp = str(data._timestamp);

  switch (data._event) {
    case 'v2_playbook_on_play_start': {
      const play = taskRef(data.play);
      return play ? { kind: 'play_start', timestamp, play } : null;
    }
    case 'v2_playbook_on_task_start':
    case 'v2_runner_on_start':
    case 'v2_playbook_on_handler_task_start': {
      const task = taskRef(data.task);
      return task ? { kind: 'task_start', timestamp, task, handler: data._event === 'v2_playbook_on_handler_task_start' } : null;
    }
    case 'v2_runner_on_ok':
    case 'v2_runner_on_failed':
    case 'v2_runner_on_skipped':
    case 'v2_runner_on_unreachable': {
      const task = taskRef(data.task);
      // The callback writes exactly one host per result event.
      const [entry] = isObject(data.hosts) ? Object.entries(data.hosts) : [];
      if (!task || !entry || !isObject(entry[1])) return null;
      const [host, result] = entry;
      const status = RESULT_STATUS[data._event] ?? (result.changed === true ? 'changed' : 'ok');
      const event: AnsibleEvent = { kind: 'runner_result', timestamp, task, host, status, action: str(result.action) };
      if (status === 'failed' || status === 'unreachable') event.message = failureMessage(result);
      if (status === 'skipped') {
        const unchecked = uncheckedReason(result);
        if (unchecked) event.unchecked = unchecked;
      }
      const diff = diffOf(result);
      if (diff) event.diff = clipDiff(diff);
      return event;
    }
    case 'v2_playbook_on_stats': {
      if (!isObject(data.stats)) return null;
      const stats: Record<string, Record<string, number>> = {};
      for (const [host, counts] of Object.entries(data.stats)) {
        if (!isObject(counts)) continue;
        stats[host] = Object.fromEntries(Object.entries(counts).filter((pair): pair is [string, number] => typeof pair[1] === 'number'));
      }
      return { kind: 'stats', timestamp, stats };
    }
    default:
      return null;
  }
}

export type AnsibleRunSummary = Pick<StepRunResult, 'tasks' | 'failedTasks' | 'stats'>;

interface Problem extends FailedTask {
  status: 'failed' | 'unreachable';
  play: number;
  /** Position among all host results, to tell whether the host went on afterwards. */
  seq: number;
}

/**
 * Folds the events of one run into StepRunResult's `tasks`, `failedTasks` and `stats`.
 *
 * The callback reports ignored (`ignore_errors`) and rescued failures exactly like fatal ones, so
 * `failedTasks` is decided at the end: with the recap, a host's last `failures` failed results
 * (and last `unreachable` unreachable ones) are the fatal ones, because a failed host stops; a
 * rescued or ignored failure comes before them and is not counted in `failures`. Without a recap
 * (the run was killed), a failure counts when the host ran nothing after it in that play.
 */
export class AnsibleRunCollector {
  private readonly tasks: AnsibleRunSummary['tasks'] = [];
  private readonly problems: Problem[] = [];
  private readonly lastSeq = new Map<string, number>();
  private stats: Record<string, Record<string, number>> | undefined;
  private play = 0;
  private seq = 0;
  private diffChars = 0;

  add(event: AnsibleEvent): void {
    switch (event.kind) {
      case 'play_start':
        this.play += 1;
        return;
      case 'runner_result': {
        const seq = this.seq++;
        this.lastSeq.set(`${this.play}\u0000${event.host}`, seq);
        if (this.tasks.length < MAX_TASK_ENTRIES) {
          this.tasks.push({
            name: event.task.name,
            host: event.host,
            status: event.status,
            ...(event.diff ? { diff: this.keptDiff(event.diff) } : {}),
            ...(event.unchecked ? { unchecked: event.unchecked } : {}),
          });
        }
        if (event.status === 'failed' || event.status === 'unreachable') {
          this.problems.push({
            task: event.task.name,
            host: event.host,
            message: event.message ?? '',
            status: event.status,
            play: this.play,
            seq,
          });
        }
        return;
      }
      case 'stats':
        this.stats = event.stats;
        return;
      case 'task_start':
        return;
    }
  }

  private keptDiff(diff: string): string {
    this.diffChars += diff.length;
    return this.diffChars <= MAX_RUN_DIFF_CHARS ? diff : `(diff not kept: this run's diffs passed ${MAX_RUN_DIFF_CHARS} characters)\n`;
  }

  summary(): AnsibleRunSummary {
    return {
      tasks: [...this.tasks],
      failedTasks: this.fatalProblems().map(({ task, host, message }) => ({ task, host, message })),
      stats: this.stats ?? {},
    };
  }

  private fatalProblems(): Problem[] {
    const stats = this.stats;
    if (!stats) {
      return this.problems.filter((p) => this.lastSeq.get(`${p.play}\u0000${p.host}`) === p.seq);
    }
    const fatal = new Set<Problem>();
    const byHost = new Map<string, Problem[]>();
    for (const problem of this.problems) {
      byHost.set(problem.host, [...(byHost.get(problem.host) ?? []), problem]);
    }
    for (const [host, problems] of byHost) {
      for (const [status, counter] of [
        ['failed', 'failures'],
        ['unreachable', 'unreachable'],
      ] as const) {
        const count = stats[host]?.[counter] ?? 0;
        if (count > 0)
          problems
            .filter((p) => p.status === status)
            .slice(-count)
            .forEach((p) => fatal.add(p));
      }
    }
    return this.problems.filter((p) => fatal.has(p));
  }
}

/** Convenience for whole outputs (tests, replays): every line of a jsonl stdout. */
export function summarizeAnsibleOutput(stdout: string): AnsibleRunSummary {
  const collector = new AnsibleRunCollector();
  for (const line of stdout.split('\n')) {
    const event = parseAnsibleEventLine(line);
    if (event) collector.add(event);
  }
  return collector.summary();
}
