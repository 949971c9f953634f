// A parser of Server-Sent Events (the WHATWG "text/event-stream" format), fed text as it arrives. The
// network cuts the stream anywhere, mid-line or mid-event, so the parser keeps what it has not
// completed until the next chunk. Only what Chiffon's stream uses is kept: `id`, `event`, `data`
// (several data lines joined by newlines), and comments (`: keep-alive`), which carry no event.

export interface SseMessage {
  /** The `id:` of the event, when it had one (Chiffon: the seq). */
  id: string | undefined;
  /** The `event:` type; "message" when none is given. */
  event: string;
  data: string;
}

export class SseParser {
  /** Text after the last complete line. */
  private pending = '';
  private data: string[] = [];
  private event = '';
  private id: string | undefined;

  /** Feeds a chunk of the stream; returns the events it completed, in order. */
  push(chunk: string): SseMessage[] {
    let text = this.pending + chunk;
    // A CR at the very end may be the first half of a CRLF: wait for the next chunk to know.
    const heldCr = text.endsWith('\r');
    if (heldCr) text = text.slice(0, -1);
    const lines = text.split(/\r\n|\r|\n/);
    this.pending = (lines.pop() ?? '') + (heldCr ? '\r' : '');
    const messages: SseMessage[] = [];
    for (const line of lines) {
      const message = this.line(line);
      if (message) messages.push(message);
    }
    return messages;
  }

  private line(line: string): SseMessage | undefined {
    if (line === '') return this.dispatch();
    if (line.startsWith(':')) return undefined; // a comment
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') this.data.push(value);
    else if (field === 'event') this.event = value;
    else if (field === 'id' && !value.includes('\0')) this.id = value;
    // `retry:` and unknown fields are ignored: the CLI has its own reconnection policy.
    return undefined;
  }

  /** A blank line ends an event; one without data is no event (the spec's rule). */
  private dispatch(): SseMessage | undefined {
    const message = this.data.length > 0 ? { id: this.id, event: this.event || 'message', data: this.data.join('\n') } : undefined;
    this.data = [];
    this.event = '';
    this.id = undefined;
    return message;
  }
}
