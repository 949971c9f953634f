// The Server-Sent Events parser of `chiffon follow` (cli/sse.ts): events arrive in chunks cut
// anywhere by the network, and the parser must give each event once, whole, in order.
import { describe, expect, it } from 'vitest';
import { SseParser } from '../../cli/sse.js';

const STREAM =
  'id: 1\ndata: {"seq":1,"kind":"request_status"}\n\n' +
  ': keep-alive\n\n' +
  'id: 2\r\ndata: {"seq":2,"kind":"step_status"}\r\n\r\n' +
  'event: note\ndata: first line\ndata: second line\n\n' +
  'id: 3\ndata:{"seq":3}\n\n';

const EXPECTED = [
  { id: '1', event: 'message', data: '{"seq":1,"kind":"request_status"}' },
  { id: '2', event: 'message', data: '{"seq":2,"kind":"step_status"}' },
  { id: undefined, event: 'note', data: 'first line\nsecond line' },
  { id: '3', event: 'message', data: '{"seq":3}' },
];

describe('SseParser', () => {
  it('parses ids, data (several lines joined), event types and skips comments', () => {
    expect(new SseParser().push(STREAM)).toEqual(EXPECTED);
  });

  it('gives the same events whatever the chunks: cut mid-line, mid-field, between CR and LF', () => {
    // Every cut of the stream into two pieces, and into single characters.
    for (let cut = 0; cut <= STREAM.length; cut++) {
      const parser = new SseParser();
      const events = [...parser.push(STREAM.slice(0, cut)), ...parser.push(STREAM.slice(cut))];
      expect(events, `cut at ${cut}: ${JSON.stringify(STREAM.slice(Math.max(0, cut - 5), cut))}|`).toEqual(EXPECTED);
    }
    const parser = new SseParser();
    expect([...STREAM].flatMap((char) => parser.push(char))).toEqual(EXPECTED);
  });

  it('keeps an event whose blank line has not come yet until it comes', () => {
    const parser = new SseParser();
    expect(parser.push('id: 7\ndata: {"seq"')).toEqual([]);
    expect(parser.push(':7}\n')).toEqual([]);
    expect(parser.push('\n')).toEqual([{ id: '7', event: 'message', data: '{"seq":7}' }]);
  });

  it('dispatches nothing for a block without data, and forgets its id', () => {
    const parser = new SseParser();
    expect(parser.push('id: 9\n\ndata: x\n\n')).toEqual([{ id: undefined, event: 'message', data: 'x' }]);
  });

  it('takes lone CRs as line ends, and a CR at the end of a chunk as the start of a possible CRLF', () => {
    const parser = new SseParser();
    expect(parser.push('id: 4\rdata: y\r\rdata: z\r\r')).toEqual([{ id: '4', event: 'message', data: 'y' }]);
    // The held CR and this LF are one line end: the blank line that ends the event.
    expect(parser.push('\n')).toEqual([{ id: undefined, event: 'message', data: 'z' }]);
  });
});
