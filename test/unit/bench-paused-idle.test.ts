import { describe, expect, it } from 'vitest';
import { idleOverlapMs } from '../../bench/concurrency.js';

describe("the concurrency bench's paused-while-idle time", () => {
  // The agent: idle until 100, 2 steps from 100, 1 from 150, idle from 200, 1 step from 300.
  const timeline = [
    { at: 0, count: 0 },
    { at: 100, count: 2 },
    { at: 150, count: 1 },
    { at: 200, count: 0 },
    { at: 300, count: 1 },
  ];

  it('counts only the paused time in which the agent ran no step', () => {
    expect(idleOverlapMs([120, 180], timeline)).toBe(0); // it ran steps throughout
    expect(idleOverlapMs([50, 250], timeline)).toBe(50 + 50);
    expect(idleOverlapMs([190, 400], timeline)).toBe(100);
    expect(idleOverlapMs([200, 200], timeline)).toBe(0);
  });

  it('holds the last count to the end, and counts nothing before the first', () => {
    expect(idleOverlapMs([0, 1000], [{ at: 500, count: 0 }])).toBe(500);
    expect(idleOverlapMs([0, 1000], [{ at: 0, count: 3 }])).toBe(0);
    expect(idleOverlapMs([0, 1000], [])).toBe(0);
  });
});
