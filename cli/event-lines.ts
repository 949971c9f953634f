// One readable line per event of a request's stream (`chiffon follow`), e.g.
//
//   #12  step 1/2 +2.4s  changed    localhost  Write the Uptime Kuma compose file
//
// The seq comes first, so a line can be matched with the stored event (and a repeated or missing
// one is visible). Events of a step carry `step k/n` and the time since that step's first event, on
// the clock of the machine that ran it: ansible's own timestamps where the event has one, else the
// database's created_at.
import type { RequestEvent } from './types.js';

type Payload = Record<string, unknown>;

const text = (value: unknown): string | undefined => (typeof value === 'string' && value !== '' ? value : undefined);

/** A task is `{id, name, path}` on the stream; a plain string is taken as its name. */
const taskName = (value: unknown): string =>
  text(value) ?? text((value as { name?: unknown } | null | undefined)?.name) ?? '(unnamed task)';

/** The first line of a message, cut to `max` characters: the line stays a line. */
function short(message: string, max = 160): string {
  const first = message.split('\n')[0]!.trim();
  return first.length > max ? `${first.slice(0, max - 1)}…` : first;
}

export class EventLines {
  /** When each step run (by task id: a retry is a run of its own) showed its first event, in ms. */
  private readonly starts = new Map<string, number>();

  /** `steps`: how many steps the plan has (the n of `step k/n`); updated when a new plan is made. */
  constructor(public steps: number) {}

  line(event: RequestEvent): string {
    return `#${event.seq}`.padEnd(5) + ' ' + this.body(event);
  }

  private body(event: RequestEvent): string {
    const p = event.payload ?? {};
    switch (event.kind) {
      case 'request_status':
        return `request ${String(p.status)}${this.suffix(text(p.message) ?? text(p.paused_reason))}`;
      case 'preview':
        return `preview ${String(p.status)}${this.suffix(previewSummary(p))}`;
      case 'check_run':
        return `check run${p.number === undefined ? '' : ` ${String(p.number)}`} ${String(p.status)}${this.suffix(text(p.summary))}`;
      case 'step_status':
        return `${this.prefix(event)} ${stepStatus(p)}`;
      case 'play_start':
        return `${this.prefix(event)} play       ${taskName(p.play)}`;
      case 'task_start':
        return `${this.prefix(event)} task       ${taskName(p.task)}`;
      case 'task_result':
        return `${this.prefix(event)} ${String(p.status).padEnd(10)} ${String(p.host ?? '?')}  ${taskName(p.task)}${this.suffix(text(p.message) && short(text(p.message)!), ' — ')}`;
      case 'stats':
        return `${this.prefix(event)} recap      ${recap(p.stats)}`;
      default:
        return `${event.kind} ${JSON.stringify(p)}`;
    }
  }

  /** `step k/n +t` (or `check k/n +t` for a check run's events). */
  private prefix(event: RequestEvent): string {
    const what = event.payload?.mode === 'check' ? 'check' : 'step';
    const index = event.step_index === null ? '?' : String(event.step_index + 1);
    return `${what} ${index}/${this.steps} ${this.elapsed(event)}`;
  }

  private elapsed(event: RequestEvent): string {
    const at = Date.parse(text(event.payload?.timestamp) ?? event.created_at);
    const key = event.task_id ?? `step-${event.step_index}`;
    if (!Number.isFinite(at)) return '+?';
    const start = this.starts.get(key) ?? at;
    if (!this.starts.has(key)) this.starts.set(key, at);
    return `+${(Math.max(0, at - start) / 1000).toFixed(1)}s`.padEnd(7);
  }

  private suffix(value: string | undefined, separator = ': '): string {
    return value ? `${separator}${value}` : '';
  }
}

function stepStatus(p: Payload): string {
  const status = String(p.status);
  const parts = [status.padEnd(10), text(p.playbook) ?? ''];
  if (status === 'running') {
    if (text(p.host)) parts.push(`on ${String(p.host)}`);
    if (text(p.agent)) parts.push(`(agent ${String(p.agent)})`);
    if (typeof p.activity_attempt === 'number' && p.activity_attempt > 1) parts.push(`delivery ${p.activity_attempt}`);
  }
  if ((status === 'waiting' || status === 'held') && text(p.reason)) parts.push(`— ${String(p.reason)}`);
  if (status === 'events_lost') parts.push(`${String(p.lost_events)} events were not stored`);
  if (typeof p.exit_code === 'number') parts.push(`exit ${p.exit_code}`);
  if (text(p.audit_commit)) parts.push(`audit ${String(p.audit_commit).slice(0, 12)}`);
  if (text(p.outcome) && status !== 'completed') parts.push(`— ${short(String(p.outcome))}`);
  return parts.filter(Boolean).join(' ');
}

function previewSummary(p: Payload): string | undefined {
  if (!Array.isArray(p.steps)) return undefined;
  return (p.steps as Payload[])
    .map((step) => {
      const hosts = Array.isArray(step.hosts) ? step.hosts.join(',') : '';
      const problems = Array.isArray(step.problems) && step.problems.length > 0 ? ` (${short(String(step.problems[0]))})` : '';
      return `step ${Number(step.index) + 1} ${step.ok ? 'ok' : 'cannot run'}, ${String(step.tasks ?? 0)} tasks on ${hosts || 'no host'}${problems}`;
    })
    .join('; ');
}

/** Ansible's recap: `localhost ok=5 changed=2 failed=0`, per host. */
function recap(stats: unknown): string {
  if (!stats || typeof stats !== 'object') return '';
  return Object.entries(stats as Record<string, Record<string, number>>)
    .map(
      ([host, counts]) =>
        `${host} ${Object.entries(counts ?? {})
          .map(([name, count]) => `${name}=${count}`)
          .join(' ')}`,
    )
    .join('; ');
}
