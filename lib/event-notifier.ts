// One LISTEN connection per API process: PostgreSQL NOTIFYs `chiffon_request_events` with a
// request id whenever events of that request are committed; subscribers of that id are woken.
// The connection reconnects after an error; streams poll every few seconds too, so a missed
// notification only delays an event, never loses it.
import pg from 'pg';

/** The channel services/request-events.ts NOTIFYs on, with the request id as the payload. */
export const EVENTS_CHANNEL = 'chiffon_request_events';

export interface EventNotifier {
  /** Calls `wake` whenever events of `requestId` may have been written; returns the unsubscribe. */
  subscribe(requestId: string, wake: () => void): () => void;
  close(): Promise<void>;
}

const RECONNECT_MS = 1_000;

export function createEventNotifier(databaseUrl: string): EventNotifier {
  const subscribers = new Map<string, Set<() => void>>();
  let client: pg.Client | undefined;
  let connecting: Promise<void> | undefined;
  let closed = false;
  let retry: NodeJS.Timeout | undefined;

  const wakeAll = () => {
    for (const wakes of subscribers.values()) for (const wake of wakes) wake();
  };

  const connect = (): Promise<void> =>
    (connecting ??= (async () => {
      const next = new pg.Client({ connectionString: databaseUrl });
      const lost = () => {
        if (client !== next) return;
        client = undefined;
        next.end().catch(() => {});
        // Anything written meanwhile is found by the streams' next query.
        wakeAll();
        if (!closed && subscribers.size > 0) retry = setTimeout(() => void connect().catch(() => {}), RECONNECT_MS);
      };
      next.on('error', lost);
      next.on('end', lost);
      next.on('notification', (message) => {
        if (message.channel !== EVENTS_CHANNEL || !message.payload) return;
        for (const wake of subscribers.get(message.payload) ?? []) wake();
      });
      try {
        await next.connect();
        await next.query(`LISTEN ${EVENTS_CHANNEL}`);
        client = next;
        if (closed) await next.end();
      } catch (err) {
        next.end().catch(() => {});
        if (!closed) retry = setTimeout(() => void connect().catch(() => {}), RECONNECT_MS);
        throw err;
      }
    })().finally(() => {
      connecting = undefined;
    }));

  return {
    subscribe(requestId, wake) {
      let wakes = subscribers.get(requestId);
      if (!wakes) subscribers.set(requestId, (wakes = new Set()));
      wakes.add(wake);
      if (!client && !closed) void connect().catch(() => {});
      return () => {
        wakes.delete(wake);
        if (wakes.size === 0) subscribers.delete(requestId);
      };
    },
    async close() {
      closed = true;
      clearTimeout(retry);
      const current = client;
      client = undefined;
      await current?.end().catch(() => {});
    },
  };
}
