// A check run: the plan run with `ansible-playbook --check --diff` on its hosts, on demand, so a
// person sees what would change before approving. It changes nothing (tasks whose module has no
// check mode are skipped and reported), and it is audited as a check, never as a deployment.
import type { StepRunResult } from './types.js';

export const CHECK_RUN_STATUSES = ['waiting', 'running', 'completed', 'failed', 'cancelled', 'not_run'] as const;
export type CheckRunStatus = (typeof CHECK_RUN_STATUSES)[number];

export type CheckedTask = StepRunResult['tasks'][number];

export const CHECK_STEP_STATUSES = ['completed', 'failed', 'cancelled', 'skipped'] as const;

export interface CheckStep {
  index: number;
  /** `<step task id>.check<n>`: its own record in the tasks table and the audit repository. */
  taskId: string;
  status: (typeof CHECK_STEP_STATUSES)[number];
  exitCode?: number;
  /** Per task and host: changed (would change), its diff, or why it could not be checked. */
  tasks: CheckedTask[];
  /** Why it failed or was not run. */
  message?: string;
  auditCommit?: string;
}

export interface CheckRun {
  /** 1 for the request's first check run, then 2, 3, ... */
  number: number;
  status: CheckRunStatus;
  requestedBy: string;
  requestedAt: string;
  finishedAt?: string;
  /** The plan it checked: a check of an earlier plan says nothing about the current one. */
  planHash: string;
  steps: CheckStep[];
  /** Why it failed or was not run. */
  message?: string;
}

export interface CheckSummary {
  /** Task results that would change a host. */
  wouldChange: number;
  /** Hosts on which something would change. */
  hosts: string[];
  /** Task results that could not be checked (no check mode). */
  unchecked: number;
  failed: number;
  /** In words: "nothing would change", "3 tasks would change on 2 hosts", ... */
  text: string;
}

export const CHECK_RUN_ACTIVE: readonly CheckRunStatus[] = ['waiting', 'running'];

export function checkTaskId(stepTaskId: string, checkNumber: number): string {
  return `${stepTaskId}.check${checkNumber}`;
}

function plural(count: number, word: string): string {
  return `${count} ${word}${count === 1 ? '' : 's'}`;
}

/** What a check says about these tasks: "nothing would change", "3 tasks would change on 2 hosts", ... */
function describeTasks(tasks: readonly CheckedTask[], reachedTheEnd: boolean): Omit<CheckSummary, 'failed'> {
  const changed = tasks.filter((t) => t.status === 'changed');
  const hosts = [...new Set(changed.map((t) => t.host))];
  const unchecked = tasks.filter((t) => t.unchecked).length;
  const parts: string[] = [];
  if (changed.length > 0) parts.push(`${plural(changed.length, 'task')} would change on ${plural(hosts.length, 'host')}`);
  // "Nothing would change" only when every task was checked and the run got to its end.
  else parts.push(reachedTheEnd && unchecked === 0 ? 'nothing would change' : 'nothing checked would change');
  if (unchecked > 0) parts.push(`${plural(unchecked, 'task')} could not be checked (no check mode)`);
  return { wouldChange: changed.length, hosts, unchecked, text: parts.join('; ') };
}

export function summarizeCheck(run: CheckRun): CheckSummary {
  const tasks = run.steps.flatMap((step) => step.tasks);
  const failed = tasks.filter((t) => t.status === 'failed' || t.status === 'unreachable').length;
  const described = describeTasks(tasks, run.status === 'completed');
  if (run.status === 'completed') return { ...described, failed };
  if (run.status === 'failed')
    return { ...described, failed, text: `the check run failed (${run.message ?? 'see its steps'}); ${described.text}` };
  const state = run.status === 'not_run' ? 'not run' : run.status;
  return { ...described, failed, text: `check run ${state}${run.message ? `: ${run.message}` : ''}` };
}

/** A checked step in one line, for its audit record: what would change, or why the check failed. */
export function describeCheckStep(step: CheckStep, run?: StepRunResult): string {
  if (step.status === 'cancelled' || step.status === 'skipped') return `check ${step.status}${step.message ? `: ${step.message}` : ''}`;
  if (step.status === 'completed') return `check: ${describeTasks(step.tasks, true).text}`;
  if (!run) return `check failed: ${step.message ?? 'no run'}`;
  const first = run.failedTasks[0];
  if (first) return `check failed at task "${first.task}" on ${first.host}: ${first.message}`;
  const lastLine = run.stderrTail.trim().split('\n').pop();
  return `ansible-playbook --check exited with code ${run.exitCode}${lastLine ? `: ${lastLine}` : ''}`;
}
