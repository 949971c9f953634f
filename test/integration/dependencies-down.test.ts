// What the API says while PostgreSQL or the Temporal server is down: 503 with Retry-After and a
// code naming what is down, /healthz per dependency, one log line rather than a stack per request;
// and it answers again once the dependency is back. PostgreSQL "goes down" behind a TCP proxy the
// test cuts (its connections reset, new ones refused); Temporal is an address nothing listens on.
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createApp } from '../../api/app.js';
import { createApiToken } from '../../lib/api-tokens.js';
import { loadConfig } from '../../lib/config.js';
import type { PrismaClient } from '../../lib/prisma.js';
import { prismaThroughProxy, type TcpProxy } from '../support/tcp-proxy.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { testCodec } from '../support/codec.js';
import { apiConnectionOptions } from '../../lib/temporal-connection.js';

let database: TestDatabase;
let proxy: TcpProxy;
let prisma: PrismaClient;
let token: string;
let temporalDown: Client;
/** A Temporal client that answers what /healthz asks, for the database's tests. */
const temporalUp = {
  connection: { withDeadline: <T>(_deadline: number, fn: () => Promise<T>) => fn() },
  workflowService: { getSystemInfo: async () => ({}) },
} as unknown as Client;

beforeAll(async () => {
  database = await createTestDatabase();
  ({ proxy, prisma } = await prismaThroughProxy(database.url));
  token = (await createApiToken(database.prisma, { name: 'alice', role: 'requester' })).token;
  temporalDown = new Client({ connection: Connection.lazy(apiConnectionOptions({ address: '127.0.0.1:1', connectTimeout: '1 second' })) });
});

afterAll(async () => {
  await prisma?.$disconnect();
  await proxy?.close();
  await database?.drop();
});

const get = (app: ReturnType<typeof createApp>, path: string) => app.request(path, { headers: { authorization: `Bearer ${token}` } });

describe('PostgreSQL down', () => {
  it('answers 503 database_unavailable with Retry-After, logs one line, and answers again once it is back', async () => {
    const app = createApp({ client: temporalUp, codec: testCodec, prisma, config: loadConfig({}) });
    expect((await get(app, '/api/dashboard/requests')).status).toBe(200);
    expect((await app.request('/healthz')).status).toBe(200);

    await proxy.cut();
    const logged = vi.spyOn(console, 'error').mockImplementation(() => {});
    try {
      for (let i = 0; i < 5; i++) {
        const answer = await get(app, '/api/dashboard/requests');
        expect(answer.status).toBe(503);
        expect(answer.headers.get('retry-after')).toBe('5');
        expect(await answer.json()).toEqual({
          error: { code: 'database_unavailable', message: 'PostgreSQL cannot be reached; try again shortly' },
        });
      }
      const health = await app.request('/healthz');
      expect(health.status).toBe(503);
      expect(await health.json()).toMatchObject({ ok: false, database: expect.stringMatching(/^down: /), temporal: 'ok' });
      // One line for the outage, no stack trace per request.
      expect(logged.mock.calls).toHaveLength(1);
      expect(logged.mock.calls[0]!.join(' ')).toMatch(/^chiffon api: PostgreSQL is unavailable \(.*\); answering 503$/);
    } finally {
      logged.mockRestore();
      await proxy.restore();
    }
    await expect.poll(async () => (await get(app, '/api/dashboard/requests')).status, { timeout: 15_000 }).toBe(200);
    expect((await app.request('/healthz')).status).toBe(200);
  });
});

describe('Temporal down', () => {
  it('answers 503 temporal_unavailable where the API needs the server, and /healthz says so', async () => {
    const app = createApp({ client: temporalDown, codec: testCodec, prisma: database.prisma, config: loadConfig({}) });
    const logged = vi.spyOn(console, 'error').mockImplementation(() => {});
    try {
      const answer = await get(app, '/api/dashboard/requests/abc123');
      expect(answer.status).toBe(503);
      expect(answer.headers.get('retry-after')).toBe('5');
      expect(((await answer.json()) as any).error.code).toBe('temporal_unavailable');
      // The schedules are Temporal's too.
      for (const path of ['/api/dashboard/schedules', '/api/dashboard/schedules/schedule-00000000deadbeef']) {
        const schedules = await get(app, path);
        expect(schedules.status, path).toBe(503);
        expect(((await schedules.json()) as any).error.code, path).toBe('temporal_unavailable');
      }
      const health = await app.request('/healthz');
      expect(health.status).toBe(503);
      expect(await health.json()).toMatchObject({ ok: false, database: 'ok', temporal: expect.stringMatching(/^down: /) });
    } finally {
      logged.mockRestore();
    }
  });
});
