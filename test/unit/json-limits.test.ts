// How deep JSON nests, read from its text and from a value, without recursion (domain/json-limits.ts).
import { describe, expect, it } from 'vitest';
import { jsonTextDepth, jsonValueDepth, MAX_JSON_DEPTH } from '../../domain/json-limits.js';

const nested = (levels: number) => `${'['.repeat(levels)}${']'.repeat(levels)}`;

describe('jsonTextDepth', () => {
  it('counts brackets and braces outside strings', () => {
    expect(jsonTextDepth('{"a": [1, {"b": 2}]}')).toBe(3);
    expect(jsonTextDepth('"[[[["')).toBe(0);
    expect(jsonTextDepth('{"a": "\\\\", "b": "\\"[[["}')).toBe(1);
    expect(jsonTextDepth('42')).toBe(0);
  });

  it('reads 100,000 levels without a stack', () => {
    expect(jsonTextDepth(nested(100_000))).toBe(100_000);
  });
});

describe('jsonValueDepth', () => {
  it('is 0 for a scalar and one more per array or object', () => {
    expect(jsonValueDepth('x')).toBe(0);
    expect(jsonValueDepth({ a: [1, { b: {} }] })).toBe(4);
  });

  it('stops walking once past the limit, however deep the value', () => {
    let deep: unknown = 1;
    for (let i = 0; i < 50_000; i++) deep = [deep];
    expect(jsonValueDepth(deep)).toBe(MAX_JSON_DEPTH + 1);
  });
});
