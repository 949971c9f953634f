// Sending one notification to one target over HTTP: the signed webhook POST and the ntfy publish.
// Each answers what happened (delivered, or why not) rather than throwing, so the activity can record
// every target's outcome before it asks Temporal to retry.
import { createHmac } from 'node:crypto';
import { webhookPayload, ntfyMessage, type RequestNotice } from '../domain/notifications.js';

export type TargetKind = 'webhook' | 'ntfy';

export interface NotificationTarget {
  kind: TargetKind;
  url: string;
  /** The webhook's signing secret. */
  secret?: string;
  /** The ntfy access token (Authorization: Bearer). */
  token?: string;
}

export interface DeliveryOutcome {
  delivered: boolean;
  httpStatus?: number;
  error?: string;
}

/** What a request to a target sent: the bodies a test (or a log) may look at. */
export interface SentRequest {
  headers: Record<string, string>;
  body: string;
}

/** A receiver that does not answer in this time counts as down; Temporal retries later. */
const SEND_TIMEOUT_MS = 10_000;

export const SIGNATURE_HEADER = 'X-Chiffon-Signature';
export const DELIVERY_HEADER = 'X-Chiffon-Delivery';
export const TIMESTAMP_HEADER = 'X-Chiffon-Timestamp';
export const EVENT_HEADER = 'X-Chiffon-Event';

/** `sha256=<hex>`: HMAC-SHA256 of the exact body bytes with the shared secret (as GitHub signs webhooks). */
export function signBody(secret: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(body, 'utf8').digest('hex')}`;
}

/** The target as recorded: no credentials, no query string (either may hold a secret). */
export function displayTarget(url: string): string {
  const parsed = new URL(url);
  return `${parsed.origin}${parsed.pathname}`;
}

/** fetch refuses URLs with credentials: they become a Basic Authorization header instead. */
function splitCredentials(url: string): { url: string; authorization?: string } {
  const parsed = new URL(url);
  if (!parsed.username && !parsed.password) return { url };
  const user = decodeURIComponent(parsed.username);
  const password = decodeURIComponent(parsed.password);
  parsed.username = '';
  parsed.password = '';
  return { url: parsed.href, authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` };
}

/** HTTP header values are bytes: a non-ASCII value goes RFC 2047-encoded, which ntfy decodes. */
function headerValue(value: string): string {
  return /^[\x20-\x7e]*$/.test(value) ? value : `=?UTF-8?B?${Buffer.from(value, 'utf8').toString('base64')}?=`;
}

/** The request a target gets for a notice: its headers and body. */
export function requestFor(target: NotificationTarget, notice: RequestNotice, link: string, now = new Date()): SentRequest {
  if (target.kind === 'webhook') {
    const timestamp = Math.floor(now.getTime() / 1000);
    const body = JSON.stringify(webhookPayload(notice, link, timestamp));
    return {
      body,
      headers: {
        'content-type': 'application/json',
        [SIGNATURE_HEADER]: signBody(target.secret ?? '', body),
        [DELIVERY_HEADER]: notice.deliveryId,
        [TIMESTAMP_HEADER]: String(timestamp),
        [EVENT_HEADER]: notice.event,
      },
    };
  }
  const message = ntfyMessage(notice, link);
  return {
    body: message.body,
    headers: {
      'content-type': 'text/plain; charset=utf-8',
      Title: headerValue(message.title),
      Tags: headerValue(message.tags.join(',')),
      Priority: String(message.priority),
      Click: message.click,
      ...(target.token ? { Authorization: `Bearer ${target.token}` } : {}),
    },
  };
}

/** POSTs the notice to the target; a 2xx answer is a delivery, anything else (or no answer) is not. */
export async function deliver(target: NotificationTarget, notice: RequestNotice, link: string): Promise<DeliveryOutcome> {
  const sent = requestFor(target, notice, link);
  const { url, authorization } = splitCredentials(target.url);
  const headers = { ...sent.headers, ...(authorization && !sent.headers.Authorization ? { Authorization: authorization } : {}) };
  try {
    const response = await fetch(url, { method: 'POST', headers, body: sent.body, signal: AbortSignal.timeout(SEND_TIMEOUT_MS) });
    if (response.ok) {
      await response.body?.cancel();
      return { delivered: true, httpStatus: response.status };
    }
    const text = (await response.text().catch(() => '')).trim().slice(0, 200);
    return { delivered: false, httpStatus: response.status, error: `HTTP ${response.status}${text ? `: ${text}` : ''}` };
  } catch (err) {
    return { delivered: false, error: describeFetchError(err) };
  }
}

/** fetch's "fetch failed" says nothing: the cause (ECONNREFUSED 127.0.0.1:9, a timeout) does. */
function describeFetchError(err: unknown): string {
  if (err instanceof Error && err.name === 'TimeoutError') return `no answer within ${SEND_TIMEOUT_MS} ms`;
  const cause = err instanceof Error ? (err.cause as { message?: string; code?: string } | undefined) : undefined;
  const message = err instanceof Error ? err.message : String(err);
  return cause?.message ? `${message}: ${cause.message}` : message;
}
