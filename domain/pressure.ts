// The kernel's pressure stall information (PSI, Linux 4.20+): /proc/pressure/{cpu,memory,io}, in
// the format of Documentation/accounting/psi.rst:
//
//   some avg10=0.00 avg60=0.00 avg300=0.00 total=0
//   full avg10=0.00 avg60=0.00 avg300=0.00 total=0
//
// "some" is the share of wall time (in %) in which at least one task was stalled waiting for the
// resource; avg10/avg60/avg300 average it over 10 s, 60 s and 5 min, and total is the stall time in
// microseconds. Unlike the load average, avg10 forgets a burst within seconds, so it says what the
// machine is going through now. Pure: the agent reporter reads the files.

export interface PressureFigures {
  avg10: number;
  avg60: number;
  avg300: number;
  /** Stall time since boot, in microseconds. */
  total: number;
}

export interface Pressure {
  some?: PressureFigures;
  /** Absent from /proc/pressure/cpu before Linux 5.13 (and always 0 there at the system level). */
  full?: PressureFigures;
}

const LINE = /^(some|full)\s+(.*)$/;
const FIELD = /^(avg10|avg60|avg300|total)=(\d+(?:\.\d+)?)$/;

/**
 * Reads a /proc/pressure/* file's text. Lines it does not know (a future field, a truncated read)
 * are left out rather than trusted: a line counts only with all four figures.
 */
export function parsePressure(text: string): Pressure {
  const pressure: Pressure = {};
  for (const line of text.split('\n')) {
    const match = LINE.exec(line.trim());
    if (!match) continue;
    const figures: Partial<PressureFigures> = {};
    for (const field of match[2]!.split(/\s+/)) {
      const value = FIELD.exec(field);
      if (value) figures[value[1] as keyof PressureFigures] = Number(value[2]);
    }
    const { avg10, avg60, avg300, total } = figures;
    if (avg10 === undefined || avg60 === undefined || avg300 === undefined || total === undefined) continue;
    pressure[match[1] as 'some' | 'full'] = { avg10, avg60, avg300, total };
  }
  return pressure;
}

/** The "some avg10" figure (% of the last ~10 s), or undefined when the text has none. */
export function someAvg10(text: string): number | undefined {
  return parsePressure(text).some?.avg10;
}
