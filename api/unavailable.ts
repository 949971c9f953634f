// Telling "a dependency is down" from a bug: PostgreSQL or Temporal unreachable is a 503 the client
// can retry (with Retry-After), logged as one line at most every few seconds, not a 500 with a stack
// trace per request.

export type Dependency = 'database' | 'temporal';

/** Prisma's codes for a database it cannot reach or that went away. */
const PRISMA_UNREACHABLE = new Set(['P1001', 'P1002', 'P1008', 'P1017', 'P2024']);
/** Socket errors, and PostgreSQL's own for a server shutting down or not accepting connections. */
const SOCKET_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  '57P01',
  '57P02',
  '57P03',
  '08000',
  '08001',
  '08003',
  '08006',
]);
const DATABASE_WORDS =
  /Can't reach database server|Connection terminated unexpectedly|server closed the connection unexpectedly|Client has encountered a connection error/i;
/** gRPC's UNAVAILABLE, and the client's words for a server it cannot connect to. */
const GRPC_UNAVAILABLE = 14;
const TEMPORAL_WORDS = /UNAVAILABLE|Failed to connect before the deadline|TransportError/;

function* causes(err: unknown): Generator<Record<string, unknown>> {
  let current: unknown = err;
  for (let depth = 0; depth < 8 && typeof current === 'object' && current !== null; depth++) {
    yield current as Record<string, unknown>;
    current = (current as { cause?: unknown }).cause;
  }
}

/** Which dependency being down explains `err`, if any. */
export function unavailableDependency(err: unknown): Dependency | undefined {
  for (const cause of causes(err)) {
    const name = String(cause.name ?? cause.constructor?.name ?? '');
    const code = cause.code;
    const message = typeof cause.message === 'string' ? cause.message : '';
    if (name.startsWith('PrismaClient') && PRISMA_UNREACHABLE.has(String(code))) return 'database';
    // node-postgres's own errors for a connection that went away reach the API unwrapped.
    if (DATABASE_WORDS.test(message)) return 'database';
    if (name === 'PrismaClientInitializationError') return 'database';
    if (typeof code === 'string' && SOCKET_CODES.has(code)) return 'database';
    if (name === 'ServiceError' || code === GRPC_UNAVAILABLE) {
      if (code === GRPC_UNAVAILABLE || TEMPORAL_WORDS.test(message)) return 'temporal';
    }
  }
  return undefined;
}

const WHAT: Record<Dependency, string> = { database: 'PostgreSQL', temporal: 'the Temporal server' };
const LOG_EVERY_MS = 10_000;
const lastLogged = new Map<Dependency, number>();

/** The answer's message, and one log line per dependency at most every 10 s. */
export function describeUnavailable(dependency: Dependency, err: unknown, now = Date.now()): string {
  const message = `${WHAT[dependency]} cannot be reached; try again shortly`;
  if (now - (lastLogged.get(dependency) ?? 0) >= LOG_EVERY_MS) {
    lastLogged.set(dependency, now);
    const first = String((err as { message?: unknown })?.message ?? err)
      .split('\n')
      .map((line) => line.trim())
      .filter(Boolean)
      .pop();
    console.error(`chiffon api: ${WHAT[dependency]} is unavailable (${first ?? 'no message'}); answering 503`);
  }
  return message;
}
