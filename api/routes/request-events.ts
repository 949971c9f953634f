// The live output of a request, from PostgreSQL:
//   GET /requests/:request_id/events?after_seq=N   Server-Sent Events, one per stored event, `id:`
//                                                  its seq. First every event with seq > N (or >
//                                                  the Last-Event-ID header an EventSource sends
//                                                  when it reconnects), then new ones as they are
//                                                  written (LISTEN/NOTIFY, a poll as fallback).
//   GET /requests/:request_id/events?format=json&after_seq=N&limit=M
//                                                  the same events as one JSON page.
// Any valid token may read them; an EventSource, which cannot send headers, may pass it as
// ?access_token= (api/auth.ts).
import { Hono } from 'hono';
import { streamSSE } from 'hono/streaming';
import { resolver } from 'hono-openapi';
import { z } from 'zod';
import type { PrismaClient } from '../../generated/prisma/client.js';
import { anyRole, queryTokenSecurity, type AuthEnv } from '../auth.js';
import type { ApiDeps } from '../deps.js';
import { ApiError } from '../errors.js';
import { docs, errors, eventSchema } from '../openapi.js';
import { requestExists } from '../request-updates.js';
import { queryParams } from '../validation.js';

const PAGE = 500;
/** Without a notification (or without LISTEN at all), the stream looks again this often. */
export const FALLBACK_POLL_MS = 3_000;
const KEEPALIVE_MS = 15_000;

const eventsQuery = z.object({
  after_seq: z.coerce
    .number()
    .int()
    .min(0)
    .optional()
    .meta({ description: 'events after this seq (default: the Last-Event-ID header, else 0)' }),
  format: z.enum(['sse', 'json']).default('sse'),
  limit: z.coerce.number().int().min(1).max(PAGE).default(PAGE).meta({ description: 'page size of format=json' }),
});

const eventsPage = z.object({
  request_id: z.string(),
  after_seq: z.number().int(),
  events: z.array(eventSchema),
  last_seq: z.number().int(),
});

// A scheduled run's id carries its time: `schedule-<hex>-2026-12-07T04:00:00Z`.
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,200}$/;

export interface PresentedEvent {
  seq: number;
  kind: string;
  step_index: number | null;
  task_id: string | null;
  payload: unknown;
  created_at: string;
}

async function eventsAfter(prisma: PrismaClient, requestId: string, afterSeq: number, limit: number): Promise<PresentedEvent[]> {
  const rows = await prisma.requestEvent.findMany({
    where: { requestId, seq: { gt: afterSeq } },
    orderBy: { seq: 'asc' },
    take: limit,
  });
  return rows.map((row) => {
    const payload = { ...(row.payload as Record<string, unknown>) };
    delete payload.dedupe;
    return {
      seq: row.seq,
      kind: row.kind,
      step_index: row.stepIndex,
      task_id: row.taskId,
      payload,
      created_at: row.createdAt.toISOString(),
    };
  });
}

/** A level-triggered wake-up: a signal that comes while nobody waits is kept for the next wait. */
class Waker {
  private pending = false;
  private resolve: (() => void) | undefined;
  signal = (): void => {
    this.pending = true;
    this.resolve?.();
  };
  wait(ms: number, abort: AbortSignal): Promise<void> {
    if (this.pending || abort.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        abort.removeEventListener('abort', done);
        this.resolve = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      abort.addEventListener('abort', done, { once: true });
      this.resolve = done;
    });
  }
  clear(): void {
    this.pending = false;
  }
}

/**
 * Sends every event of `requestId` after `afterSeq`, then each new one as it is written, until
 * `signal` aborts: woken by NOTIFY, and polling every FALLBACK_POLL_MS all the same.
 */
export async function followRequestEvents(
  { prisma, events }: Pick<ApiDeps, 'prisma' | 'events'>,
  requestId: string,
  afterSeq: number,
  signal: AbortSignal,
  send: { event(event: PresentedEvent): Promise<unknown>; keepAlive(): Promise<unknown> },
): Promise<void> {
  const waker = new Waker();
  const unsubscribe = events?.subscribe(requestId, waker.signal) ?? (() => {});
  let last = afterSeq;
  let lastWrite = Date.now();
  try {
    while (!signal.aborted) {
      waker.clear();
      const page = await eventsAfter(prisma, requestId, last, PAGE);
      for (const event of page) {
        if (signal.aborted) return;
        await send.event(event);
        last = event.seq;
        lastWrite = Date.now();
      }
      if (page.length === PAGE) continue;
      if (Date.now() - lastWrite >= KEEPALIVE_MS) {
        await send.keepAlive();
        lastWrite = Date.now();
      }
      await waker.wait(events ? FALLBACK_POLL_MS : 1_000, signal);
    }
  } finally {
    unsubscribe();
  }
}

export const isRequestId = (value: string): boolean => REQUEST_ID.test(value);

export function requestEventRoutes({ prisma, events, client }: ApiDeps) {
  return new Hono<AuthEnv>().get(
    '/requests/:request_id/events',
    docs({
      summary: 'The live output of a request',
      description:
        'Server-Sent Events (`id:` is the seq, `data:` a RequestEvent as JSON): every event after after_seq, then new ones as they are written; ' +
        'the stream stays open until the client closes it. With format=json, one page of events instead. ' +
        'Browsers (EventSource) may send the token as ?access_token=.',
      tags: ['live'],
      security: queryTokenSecurity,
      responses: {
        200: {
          description: 'the event stream, or with format=json one page of it',
          content: {
            'text/event-stream': { schema: { type: 'string' } },
            'application/json': { schema: resolver(eventsPage) },
          },
        },
        ...errors({ 400: true, 404: true }),
      },
    }),
    anyRole(),
    queryParams(eventsQuery),
    async (c) => {
      const requestId = c.req.param('request_id');
      if (!REQUEST_ID.test(requestId)) throw new ApiError(400, 'invalid_input', 'request_id: not a request id');
      if (!(await requestExists({ prisma, client }, requestId))) throw new ApiError(404, 'not_found', `no request ${requestId}`);
      const query = c.req.valid('query');
      const lastEventId = c.req.header('last-event-id');
      let afterSeq = query.after_seq ?? 0;
      if (query.after_seq === undefined && lastEventId !== undefined) {
        if (!/^\d{1,9}$/.test(lastEventId.trim())) throw new ApiError(400, 'invalid_input', 'Last-Event-ID: not a sequence number');
        afterSeq = Number(lastEventId.trim());
      }

      if (query.format === 'json') {
        const page = await eventsAfter(prisma, requestId, afterSeq, query.limit);
        return c.json({ request_id: requestId, after_seq: afterSeq, events: page, last_seq: page.at(-1)?.seq ?? afterSeq });
      }

      return streamSSE(c, async (stream) => {
        const abort = new AbortController();
        stream.onAbort(() => abort.abort());
        await followRequestEvents({ prisma, events }, requestId, afterSeq, abort.signal, {
          event: (event) => stream.writeSSE({ id: String(event.seq), data: JSON.stringify(event) }),
          keepAlive: () => stream.write(': keep-alive\n\n').then(() => undefined),
        });
      });
    },
  );
}
