// Ports for the servers tests and the bench start (Temporal dev and test servers, their UI, an
// embedded PostgreSQL), chosen so two starts cannot collide.
//
// Asking the kernel for a free port (listen on 0, close, hand the number on) races: the port is
// in the ephemeral range, so any outgoing connection on the machine may take it as its local port
// before the server binds it, and so may another test file doing the same. These servers cannot
// listen on 0 and report back, so: pick at random *below* the ephemeral range (outgoing
// connections never get those ports), check that nothing listens there, and retry the start with
// a fresh pick when it still fails on a bind error.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

const LOWEST_PORT = 10_000;
const DEFAULT_EPHEMERAL_LOW = 32_768;
const START_ATTEMPTS = 5;

/** The first port of the kernel's ephemeral range (net.ipv4.ip_local_port_range). */
function ephemeralLow(): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(low) && low > LOWEST_PORT + 1_000 ? low : DEFAULT_EPHEMERAL_LOW;
  } catch {
    return DEFAULT_EPHEMERAL_LOW;
  }
}

function listensFreely(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', () => resolve(false));
    probe.listen(port, host, () => probe.close(() => resolve(true)));
  });
}

/** A port below the ephemeral range on which nothing listens right now. */
export async function pickPort(host = '127.0.0.1', avoid: readonly number[] = []): Promise<number> {
  const high = ephemeralLow() - 1;
  for (let tries = 0; tries < 100; tries++) {
    const port = LOWEST_PORT + Math.floor(Math.random() * (high - LOWEST_PORT));
    if (!avoid.includes(port) && (await listensFreely(port, host))) return port;
  }
  throw new Error(`no free port found between ${LOWEST_PORT} and ${high}`);
}

/** `count` distinct such ports. */
export async function pickPorts(count: number, host = '127.0.0.1'): Promise<number[]> {
  const ports: number[] = [];
  while (ports.length < count) ports.push(await pickPort(host, ports));
  return ports;
}

/** Whether a start failed because a port was taken (as the servers we start word it). */
export function isPortClash(error: unknown): boolean {
  const text = error instanceof Error ? `${error.message}\n${String(error.cause ?? '')}` : String(error);
  return /already in use|EADDRINUSE|could not bind|bind: /i.test(text);
}

/**
 * Runs `start` with `count` fresh ports, again with new ones when it fails on a port clash (its
 * error says so, or one of its ports is now held by someone else, for servers whose error does
 * not say why), at most START_ATTEMPTS times; any other failure is thrown at once.
 */
export async function startOnFreePorts<T>(count: number, start: (ports: number[]) => Promise<T>, host = '127.0.0.1'): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const ports = await pickPorts(count, host);
    try {
      return await start(ports);
    } catch (error) {
      if (attempt >= START_ATTEMPTS) throw error;
      const taken = await Promise.all(ports.map(async (port) => !(await listensFreely(port, host))));
      if (!isPortClash(error) && !taken.includes(true)) throw error;
    }
  }
}
