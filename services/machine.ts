// What this machine goes through now: CPU and memory pressure, load, available memory. Read by the
// agent reporter (for the registry) and by a step held on its agent (services/running-steps.ts).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { MachineFigures } from '../domain/capacity.js';
import { someAvg10 } from '../domain/pressure.js';

/** MemAvailable (what can be had without swapping); os.freemem() leaves out the page cache. */
function availableMemoryBytes(): number {
  try {
    const match = /^MemAvailable:\s+(\d+) kB/m.exec(fs.readFileSync('/proc/meminfo', 'utf8'));
    if (match) return Number(match[1]) * 1024;
  } catch {
    // not Linux
  }
  return os.freemem();
}

/**
 * The kernel's "some avg10" pressure of `resource`; undefined where there is none: not Linux, a
 * kernel before 4.20 or without CONFIG_PSI, or booted with psi=0 (the file is there, reading it fails).
 */
export function readPressure(resource: 'cpu' | 'memory', dir = '/proc/pressure'): number | undefined {
  try {
    return someAvg10(fs.readFileSync(path.join(dir, resource), 'utf8'));
  } catch {
    return undefined;
  }
}

/** This machine's figures, read now (a few small /proc reads). */
export function readMachine(): MachineFigures {
  return {
    cpuCount: os.cpus().length,
    loadAverage1: os.loadavg()[0] ?? 0,
    cpuPressure10: readPressure('cpu') ?? null,
    memoryPressure10: readPressure('memory') ?? null,
    memoryFreeMb: Math.round(availableMemoryBytes() / 2 ** 20),
    memoryTotalMb: Math.round(os.totalmem() / 2 ** 20),
  };
}
