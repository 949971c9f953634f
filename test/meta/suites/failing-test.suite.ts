// One passing and one failing test: the run must exit non-zero.
import { expect, it } from 'vitest';

it('passes', () => {
  expect(1).toBe(1);
});

it('fails on purpose', () => {
  expect(1).toBe(2);
});
