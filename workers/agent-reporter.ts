// Keeps this worker's row in the agent registry current: CPU, memory, load and running steps.
import fs from 'node:fs';
import os from 'node:os';
import type { PrismaClient } from '../generated/prisma/client.js';
import { runningSteps } from '../activities/running-steps.js';
import type { ChiffonConfig } from '../lib/config.js';

const REPORT_INTERVAL_MS = 5_000;

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

export function startAgentReporter(prisma: PrismaClient, config: ChiffonConfig): { stop(): Promise<void> } {
  const id = `${os.hostname()}:${process.pid}`;
  const startedAt = new Date();
  const report = async () => {
    const row = {
      hostname: os.hostname(),
      taskQueue: config.taskQueue,
      cpuCount: os.cpus().length,
      loadAverage1: os.loadavg()[0] ?? 0,
      memoryFreeMb: Math.round(availableMemoryBytes() / 2 ** 20),
      memoryTotalMb: Math.round(os.totalmem() / 2 ** 20),
      runningSteps: runningSteps.count(),
      maxSteps: config.maxConcurrentSteps,
      lastSeenAt: new Date(),
    };
    await prisma.agent.upsert({ where: { id }, create: { id, startedAt, ...row }, update: row });
  };
  const reportSafely = () => report().catch((err) => console.error(`chiffon agent registry: ${String(err)}`));
  void reportSafely();
  const timer = setInterval(reportSafely, REPORT_INTERVAL_MS);
  return {
    async stop() {
      clearInterval(timer);
      await prisma.agent.deleteMany({ where: { id } }).catch(() => undefined);
    },
  };
}
