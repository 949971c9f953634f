// A suite that fails before any test runs: the run must exit non-zero.
import { beforeAll, expect, it } from 'vitest';

beforeAll(() => {
  throw new Error('this suite fails in beforeAll on purpose');
});

it('never runs', () => {
  expect(true).toBe(true);
});
