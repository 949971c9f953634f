// The machine's CPU time from /proc/stat (Linux): what all processes used, and what the hypervisor
// gave to other guests (steal). Wall time on a shared VM moves with its neighbours; CPU time used
// does much less, so a comparison reports both, with the steal that explains a gap between them.
import { readFile } from 'node:fs/promises';

export interface CpuTime {
  /** user + nice + system + irq + softirq, every core summed, in ms. */
  busyMs: number;
  /** Time this VM's cores were ready to run but the hypervisor ran someone else, in ms. */
  stealMs: number;
}

/** Clock ticks per second of /proc/stat: USER_HZ, 100 on every Linux architecture Node runs on. */
const USER_HZ = 100;

export async function readCpuTime(): Promise<CpuTime | undefined> {
  let stat: string;
  try {
    stat = await readFile('/proc/stat', 'utf8');
  } catch {
    return undefined; // not Linux
  }
  const fields = stat.split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = fields;
  const toMs = (ticks: number) => (ticks * 1000) / USER_HZ;
  return { busyMs: toMs(user + nice + system + irq + softirq), stealMs: toMs(steal) };
}

/** CPU time spent between two readings (undefined off Linux). */
export function cpuTimeSince(start: CpuTime | undefined, end: CpuTime | undefined): CpuTime | undefined {
  if (!start || !end) return undefined;
  return { busyMs: end.busyMs - start.busyMs, stealMs: end.stealMs - start.stealMs };
}
