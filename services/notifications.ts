// Sending one notification to one target: the signed webhook POST and the ntfy publish over HTTP,
// the mail through an SMTP server (nodemailer). Each answers what happened (delivered, or why not)
// rather than throwing, so the activity can record every target's outcome before it asks Temporal
// to retry.
import { createHmac } from 'node:crypto';
import { createTransport, type SendMailOptions } from 'nodemailer';
import { emailMessage, webhookPayload, ntfyMessage, type RequestNotice } from '../domain/notifications.js';

export type NotificationTarget =
  | {
      kind: 'webhook';
      url: string;
      /** The signing secret. */
      secret?: string;
    }
  | {
      kind: 'ntfy';
      url: string;
      /** The access token (Authorization: Bearer). */
      token?: string;
    }
  | EmailTarget;

/** An SMTP server (its URL holds the login) and who the mail is from and to. */
export interface EmailTarget {
  kind: 'email';
  /** `smtp://[user:password@]host[:port]` (STARTTLS) or `smtps://...` (TLS from the start). */
  url: string;
  from: { name?: string; address: string };
  to: string[];
  /** smtp:// only: refuse a server that offers no STARTTLS rather than send in clear text. */
  requireTLS: boolean;
}

export type TargetKind = NotificationTarget['kind'];
type HttpTarget = Exclude<NotificationTarget, EmailTarget>;

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

/** SMTP's usual ports: submission with STARTTLS, or TLS from the start. */
const SMTP_PORT: Record<string, number> = { 'smtp:': 587, 'smtps:': 465 };

/** The target as recorded: no credentials, no query string (either may hold a secret). */
export function displayTarget(url: string): string {
  const parsed = new URL(url);
  const smtpPort = SMTP_PORT[parsed.protocol];
  // A URL of a scheme unknown to WHATWG has no origin: an SMTP server is its scheme, host and port.
  if (smtpPort !== undefined) return `${parsed.protocol}//${parsed.hostname}:${parsed.port || smtpPort}`;
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

/** The request an HTTP target gets for a notice: its headers and body. */
export function requestFor(target: HttpTarget, notice: RequestNotice, link: string, now = new Date()): SentRequest {
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

/**
 * Sends the notice to the target. Over HTTP a 2xx answer is a delivery; by mail, the server taking
 * the message; anything else (or no answer) is not.
 */
export function deliver(
  target: NotificationTarget,
  notice: RequestNotice,
  link: string,
  options: SendOptions = {},
): Promise<DeliveryOutcome> {
  return target.kind === 'email' ? sendMail(target, notice, link, options) : post(target, notice, link);
}

export interface SendOptions {
  /** How long a mail server may take to take the message (SMTP_TIMEOUT_MS); tests shorten it. */
  timeoutMs?: number;
}

async function post(target: HttpTarget, notice: RequestNotice, link: string): Promise<DeliveryOutcome> {
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

/**
 * A whole SMTP exchange (connect, TLS, login, message) that takes longer counts as down; under the
 * activity's minute, with room to record the attempt.
 */
const SMTP_TIMEOUT_MS = 30_000;

/** A Message-ID's left part is a dot-atom: anything else in a delivery id (a schedule run's `:`) is =XX. */
function messageIdOf(deliveryId: string, fromAddress: string): string {
  const local = deliveryId.replace(/[^A-Za-z0-9._-]/g, (c) => `=${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`);
  return `<chiffon.${local}@${fromAddress.slice(fromAddress.lastIndexOf('@') + 1)}>`;
}

/**
 * The mail a target gets for a notice. Its Message-ID comes from the delivery id, so a retried
 * delivery is the same message to the recipients' servers (and X-Chiffon-Delivery says so).
 */
export function mailFor(target: EmailTarget, notice: RequestNotice, link: string): SendMailOptions {
  const message = emailMessage(notice, link);
  return {
    from: target.from.name ? { name: target.from.name, address: target.from.address } : target.from.address,
    to: target.to,
    subject: message.subject,
    text: message.text,
    messageId: messageIdOf(notice.deliveryId, target.from.address),
    headers: { [DELIVERY_HEADER]: notice.deliveryId, [EVENT_HEADER]: notice.event },
  };
}

async function sendMail(target: EmailTarget, notice: RequestNotice, link: string, options: SendOptions): Promise<DeliveryOutcome> {
  const timeoutMs = options.timeoutMs ?? SMTP_TIMEOUT_MS;
  const url = new URL(target.url);
  const secure = url.protocol === 'smtps:';
  const transport = createTransport({
    host: url.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: Number(url.port) || SMTP_PORT[url.protocol],
    secure,
    requireTLS: !secure && target.requireTLS,
    ...(url.username ? { auth: { user: decodeURIComponent(url.username), pass: decodeURIComponent(url.password) } } : {}),
    connectionTimeout: timeoutMs,
    greetingTimeout: timeoutMs,
    socketTimeout: timeoutMs,
    dnsTimeout: timeoutMs,
    // Nodemailer's log would name the server and the recipients, and its debug log the exchange.
    logger: false,
    debug: false,
  });
  try {
    const info = await transport.sendMail({ ...mailFor(target, notice, link), signal: AbortSignal.timeout(timeoutMs) });
    // The server took the message: sent again, the recipients it accepted would have it twice.
    if (info.rejected.length === 0) return { delivered: true };
    const replies = (info.rejectedErrors ?? []).map((e) => e.response).filter(Boolean);
    return {
      delivered: true,
      error: `the server refused ${info.rejected.join(', ')}${replies.length > 0 ? ` (${replies.join('; ')})` : ''}`,
    };
  } catch (err) {
    return { delivered: false, error: describeSmtpError(err, timeoutMs) };
  } finally {
    transport.close();
  }
}

/** Nodemailer's message names the step ("Invalid login", "Message failed") and quotes the server's reply. */
function describeSmtpError(err: unknown, timeoutMs: number): string {
  if (!(err instanceof Error)) return String(err);
  const code = (err as { code?: unknown }).code;
  // The whole send's deadline, or one step's (every step has the same): either way the server is down.
  if (err.name === 'AbortError') return `no answer within ${timeoutMs} ms`;
  if (code === 'ETIMEDOUT') return `no answer within ${timeoutMs} ms (${err.message})`;
  return typeof code === 'string' && !err.message.includes(code) ? `${code}: ${err.message}` : err.message;
}
