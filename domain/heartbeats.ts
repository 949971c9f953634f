// How a long activity (a playbook step, its check run, a preview) shows it is alive, in one place:
// the workflow's heartbeat timeout, how often the activity heartbeats, and how soon the worker sends
// one on. A cancellation reaches a running activity only in a heartbeat's answer, so these also
// bound how soon a cancel stops a playbook.

/** The workflow's heartbeat timeout: a worker silent this long is taken for dead and the activity retried. */
export const HEARTBEAT_TIMEOUT = '10 seconds';

/** How often a long activity heartbeats by itself (also during one long task): well inside the timeout. */
export const HEARTBEAT_EVERY_MS = 2_000;

/** The worker sends a heartbeat on at least this often (the SDK's default waits up to 80% of the timeout). */
export const HEARTBEAT_THROTTLE = '2 seconds';
