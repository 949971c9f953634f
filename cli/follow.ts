// `chiffon follow ID`: the request's live stream (GET /requests/ID/events, Server-Sent Events) until
// the request ends, surviving dropped connections.
//
// Exactly once: every event has a seq (1, 2, 3, ... per request, no gaps), the follower remembers
// the last one it printed and reconnects with after_seq=<last>, so the server sends only what came
// after; an event at or below it (should one ever come twice) is not printed again.
//
// When it ends: a request_status event says the status changed, and GET /requests/ID says what it
// is now (an old `failed` replayed from the start of the stream is no end when the request was
// retried since). Once ended, the events stored meanwhile are read as JSON pages and printed too.
//
// A connection that drops (the API restarted, the network cut, a 5xx) is retried with growing waits,
// said once on stderr per outage. A stream that sends nothing, not even the server's keep-alive
// comment (every 15 s), for IDLE_MS is taken as cut: a dead TCP peer does not always say so.
import { ENDED_STATUSES } from '../domain/request-state.js';
import { reasonOf, type ApiClient } from './api-client.js';
import { ApiError, CliError, UnreachableError } from './errors.js';
import { EventLines } from './event-lines.js';
import { SseParser } from './sse.js';
import type { EventPage, RequestDetail, RequestEvent } from './types.js';

/** Statuses after which `follow` stops: the ended ones, and failed or unrunnable (a retry may follow: follow it again then). */
export const ENDED: readonly string[] = [...ENDED_STATUSES, 'failed', 'unrunnable'];

export const isEnded = (status: string): boolean => ENDED.includes(status);

export interface FollowOptions {
  json: boolean;
  out(line: string): void;
  err(line: string): void;
  /** Taken as a cut connection after this long without a byte (default 45 s, three keep-alives). */
  idleMs?: number;
  /** Waits between reconnections: from minMs, doubling up to maxMs (default 250 ms to 5 s). */
  backoff?: { minMs: number; maxMs: number };
}

/** Follows the request until it ends; returns its final state. */
export async function followRequest(client: ApiClient, requestId: string, options: FollowOptions): Promise<RequestDetail> {
  const route = `/requests/${encodeURIComponent(requestId)}`;
  // Not retried: an unknown id or a refused token is an answer, and nothing has been followed yet.
  let request = await client.get<RequestDetail>(route);
  const lines = new EventLines(stepCount(request));
  let lastSeq = 0;
  const print = (event: RequestEvent) => {
    if (event.seq <= lastSeq) return;
    lastSeq = event.seq;
    options.out(options.json ? JSON.stringify(event) : lines.line(event));
  };
  const retry = new Reconnection(client.url, options);
  // True from a request_status event until GET /requests/ID has answered (it may fail while the API is away).
  let statusUnknown = false;
  const refreshStatus = async () => {
    statusUnknown = true;
    request = await client.get<RequestDetail>(route);
    statusUnknown = false;
    lines.steps = stepCount(request);
  };

  while (!isEnded(request.status)) {
    try {
      if (statusUnknown) {
        await refreshStatus();
        continue;
      }
      for await (const event of streamEvents(client, `${route}/events`, lastSeq, options.idleMs ?? 45_000, () => retry.connected())) {
        print(event);
        if (event.kind === 'request_status') {
          await refreshStatus();
          if (isEnded(request.status)) break;
        }
      }
      if (!isEnded(request.status)) await retry.wait('the API closed the stream', lastSeq);
    } catch (err) {
      if (!isTransient(err)) throw err;
      await retry.wait(whyLost(err), lastSeq);
    }
  }

  // The rest of what is stored (all of it, for a request that had ended before `follow` began).
  for (;;) {
    let page: EventPage;
    try {
      page = await client.get<EventPage>(`${route}/events`, { format: 'json', after_seq: lastSeq });
    } catch (err) {
      if (!isTransient(err)) throw err;
      await retry.wait(whyLost(err), lastSeq);
      continue;
    }
    if (page.events.length === 0) break;
    for (const event of page.events) print(event);
  }
  return request;
}

const stepCount = (request: RequestDetail): number => request.plan?.steps.length ?? request.steps.length;

/** Worth another try: the API did not answer, or answered that it (or what it needs) is down for now. */
export function isTransient(err: unknown): boolean {
  if (err instanceof ApiError) return err.status >= 500;
  return err instanceof UnreachableError || err instanceof StreamLost;
}

const whyLost = (err: unknown): string => (err instanceof UnreachableError ? err.reason : err instanceof Error ? err.message : String(err));

/** The stream stopped in the middle (the connection was reset, or went quiet past the idle limit). */
class StreamLost extends Error {}

/** The events of one connection, parsed; ends when the server ends the stream. */
async function* streamEvents(
  client: ApiClient,
  route: string,
  afterSeq: number,
  idleMs: number,
  onOpen: () => void,
): AsyncGenerator<RequestEvent> {
  const abort = new AbortController();
  let idle: NodeJS.Timeout | undefined;
  const watch = () => {
    clearTimeout(idle);
    idle = setTimeout(() => abort.abort(new StreamLost(`nothing received for ${idleMs / 1000} s`)), idleMs);
  };
  try {
    watch();
    const body = await client.openStream(route, { after_seq: afterSeq }, abort.signal);
    onOpen();
    const parser = new SseParser();
    const reader = body.pipeThrough(new TextDecoderStream()).getReader();
    for (;;) {
      let chunk: Awaited<ReturnType<typeof reader.read>>;
      try {
        chunk = await reader.read();
      } catch (err) {
        throw abort.signal.reason instanceof StreamLost ? abort.signal.reason : new StreamLost(reasonOf(err));
      }
      if (chunk.done) return;
      watch();
      for (const message of parser.push(chunk.value)) yield parseEvent(message.data);
    }
  } catch (err) {
    // Whatever failed after the idle timer fired (also while the connection was being opened) failed because of it.
    throw abort.signal.reason instanceof StreamLost ? abort.signal.reason : err;
  } finally {
    clearTimeout(idle);
    abort.abort();
  }
}

function parseEvent(data: string): RequestEvent {
  let event: RequestEvent;
  try {
    event = JSON.parse(data) as RequestEvent;
  } catch {
    throw new CliError(`the event stream sent something that is not JSON: ${data.slice(0, 80)}`);
  }
  if (typeof event?.seq !== 'number' || typeof event.kind !== 'string') {
    throw new CliError(`the event stream sent an event without seq or kind: ${data.slice(0, 80)}`);
  }
  return event;
}

/** Waits between reconnection attempts, and says once per outage that it reconnects. */
class Reconnection {
  private delay: number;
  private announced = false;
  private readonly minMs: number;
  private readonly maxMs: number;

  constructor(
    private readonly url: string,
    private readonly options: FollowOptions,
  ) {
    this.minMs = options.backoff?.minMs ?? 250;
    this.maxMs = options.backoff?.maxMs ?? 5_000;
    this.delay = this.minMs;
  }

  /** A stream is open again: the next outage starts over. */
  connected(): void {
    this.delay = this.minMs;
    this.announced = false;
  }

  async wait(reason: string, lastSeq: number): Promise<void> {
    if (!this.announced) {
      this.options.err(`chiffon: lost the stream from ${this.url} (${reason}); reconnecting after event ${lastSeq}`);
      this.announced = true;
    }
    await new Promise((resolve) => setTimeout(resolve, this.delay));
    this.delay = Math.min(this.delay * 2, this.maxMs);
  }
}
