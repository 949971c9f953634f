// `chiffon follow`'s reconnection (cli/follow.ts) against a scripted stand-in for the API's stream,
// on a real local HTTP server: a connection reset mid-stream, a stream that goes silent, a request
// that had ended already. Each time every event is printed exactly once, in order, and the
// reconnection is said once on stderr. (test/e2e/cli.test.ts does the same across a real API restart.)
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ApiClient } from '../../cli/api-client.js';
import { followRequest } from '../../cli/follow.js';
import type { RequestEvent } from '../../cli/types.js';

const ID = 'r1';

const event = (seq: number, kind = 'task_result', payload: Record<string, unknown> = {}): RequestEvent => ({
  seq,
  kind,
  step_index: kind === 'request_status' ? null : 0,
  task_id: kind === 'request_status' ? null : 'task-1',
  payload: { status: 'ok', host: 'localhost', task: { name: `task ${seq}` }, ...payload },
  created_at: new Date(1_000 * seq).toISOString(),
});

interface FakeApi {
  url: string;
  /** The after_seq of each SSE connection, in order. */
  connections: number[];
  close(): Promise<void>;
}

/**
 * The API as `follow` sees it. `events` is the whole stream; `status()` what GET /requests/r1 says;
 * `serve(n, after, res)` writes the n-th SSE connection (0-based) however the test wants.
 */
async function fakeApi(
  events: RequestEvent[],
  status: () => string,
  serve: (n: number, after: number, res: http.ServerResponse) => void,
): Promise<FakeApi> {
  const connections: number[] = [];
  const server = http.createServer((req, res) => {
    const url = new URL(req.url!, 'http://x');
    expect(req.headers.authorization).toBe('Bearer chf_test');
    const after = Number(url.searchParams.get('after_seq') ?? 0);
    if (url.pathname === `/api/dashboard/requests/${ID}`) {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ request_id: ID, status: status(), plan: { steps: [{ index: 0 }] }, steps: [] }));
    } else if (url.pathname === `/api/dashboard/requests/${ID}/events` && url.searchParams.get('format') === 'json') {
      const page = events.filter((e) => e.seq > after);
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ events: page, last_seq: page.at(-1)?.seq ?? after }));
    } else if (url.pathname === `/api/dashboard/requests/${ID}/events`) {
      connections.push(after);
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      serve(connections.length - 1, after, res);
    } else {
      res.writeHead(404).end(JSON.stringify({ error: { code: 'not_found', message: 'no route' } }));
    }
  });
  server.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    connections,
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

const sse = (res: http.ServerResponse, e: RequestEvent) => res.write(`id: ${e.seq}\ndata: ${JSON.stringify(e)}\n\n`);

let api: FakeApi | undefined;
afterEach(async () => {
  await api?.close();
  api = undefined;
});

async function follow(idleMs = 10_000) {
  const out: string[] = [];
  const err: string[] = [];
  const request = await followRequest(new ApiClient(api!.url, 'chf_test'), ID, {
    json: true,
    out: (line) => out.push(line),
    err: (line) => err.push(line),
    idleMs,
    backoff: { minMs: 10, maxMs: 40 },
  });
  return { status: request.status, seqs: out.map((line) => (JSON.parse(line) as RequestEvent).seq), err };
}

describe('followRequest', () => {
  it('after a connection reset mid-stream, reconnects after the last seq it printed and prints the rest once', async () => {
    const events = [1, 2, 3, 4, 5].map((seq) => event(seq)).concat(event(6, 'request_status', { status: 'completed' }));
    let status = 'running';
    api = await fakeApi(
      events,
      () => status,
      (n, after, res) => {
        if (n === 0) {
          for (const e of events.slice(0, 3)) sse(res, e);
          // A chunk cut in the middle of event 4, then the connection dies.
          res.write(`id: 4\ndata: ${JSON.stringify(events[3]).slice(0, 20)}`, () => res.socket?.destroy());
        } else {
          status = 'completed';
          for (const e of events.filter((e) => e.seq > after)) sse(res, e);
        }
      },
    );
    const result = await follow();
    expect(result.status).toBe('completed');
    expect(result.seqs).toEqual([1, 2, 3, 4, 5, 6]);
    expect(api.connections).toEqual([0, 3]);
    expect(result.err).toHaveLength(1);
    expect(result.err[0]).toMatch(/^chiffon: lost the stream from http:\/\/127\.0\.0\.1:\d+ \(.+\); reconnecting after event 3$/);
  });

  it('takes a stream that stays silent past the idle limit as cut, and reconnects', async () => {
    const events = [event(1), event(2, 'request_status', { status: 'failed' })];
    let status = 'running';
    api = await fakeApi(
      events,
      () => status,
      (n, _after, res) => {
        if (n === 0)
          sse(res, events[0]!); // ... and then nothing, not even a keep-alive
        else {
          status = 'failed';
          sse(res, events[1]!);
        }
      },
    );
    const result = await follow(300);
    expect(result).toEqual({
      status: 'failed',
      seqs: [1, 2],
      err: [expect.stringContaining('(nothing received for 0.3 s); reconnecting after event 1')],
    });
    expect(api.connections).toEqual([0, 1]);
  });

  it('ends on what GET says, not on a replayed request_status (a failed request retried since)', async () => {
    const stored = [event(1, 'request_status', { status: 'failed' }), event(2, 'request_status', { status: 'running' }), event(3)];
    const last = event(4, 'request_status', { status: 'completed' });
    let gets = 0;
    let stream: http.ServerResponse | undefined;
    api = await fakeApi(
      stored,
      () => {
        // GET 1: before following; 2: after event 1; 3: after event 2, when the run goes on and completes.
        gets++;
        if (gets === 3) {
          stored.push(last);
          sse(stream!, last);
        }
        return gets >= 4 ? 'completed' : 'running';
      },
      (_n, after, res) => {
        stream = res;
        for (const e of stored.filter((e) => e.seq > after)) sse(res, e);
      },
    );
    const result = await follow();
    expect(result).toEqual({ status: 'completed', seqs: [1, 2, 3, 4], err: [] });
    expect(api.connections).toEqual([0]);
  });

  it('prints a request that had already ended from the stored events, without a stream', async () => {
    const events = [event(1), event(2), event(3, 'request_status', { status: 'rejected' })];
    api = await fakeApi(
      events,
      () => 'rejected',
      () => {
        throw new Error('no stream should be opened');
      },
    );
    const result = await follow();
    expect(result).toEqual({ status: 'rejected', seqs: [1, 2, 3], err: [] });
    expect(api.connections).toEqual([]);
  });
});
