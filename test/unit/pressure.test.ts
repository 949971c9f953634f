import { describe, expect, it } from 'vitest';
import { parsePressure, someAvg10 } from '../../domain/pressure.js';

// Read from /proc/pressure/* of real machines: Linux 6.x (cpu has a "full" line, always 0 at the
// system level), Linux 5.4 (cpu has none), and a memory file under pressure.
const CPU_6X = `some avg10=0.77 avg60=5.63 avg300=6.91 total=45750948
full avg10=0.00 avg60=0.00 avg300=0.00 total=0
`;
const CPU_5_4 = `some avg10=93.41 avg60=71.02 avg300=40.87 total=912830211
`;
const MEMORY = `some avg10=12.50 avg60=3.10 avg300=0.84 total=5321807
full avg10=9.87 avg60=2.40 avg300=0.61 total=4012376
`;

describe('parsePressure', () => {
  it('reads both lines of the documented format', () => {
    expect(parsePressure(CPU_6X)).toEqual({
      some: { avg10: 0.77, avg60: 5.63, avg300: 6.91, total: 45750948 },
      full: { avg10: 0, avg60: 0, avg300: 0, total: 0 },
    });
    expect(parsePressure(MEMORY).full).toEqual({ avg10: 9.87, avg60: 2.4, avg300: 0.61, total: 4012376 });
  });

  it('reads a cpu file without the "full" line (kernels before 5.13)', () => {
    expect(parsePressure(CPU_5_4)).toEqual({ some: { avg10: 93.41, avg60: 71.02, avg300: 40.87, total: 912830211 } });
  });

  it('leaves out what it does not know rather than trust it', () => {
    expect(parsePressure('')).toEqual({});
    // A truncated read: the line lacks figures.
    expect(parsePressure('some avg10=1.00 avg60=')).toEqual({});
    expect(parsePressure('some avg10=abc avg60=1.00 avg300=1.00 total=1')).toEqual({});
    expect(parsePressure('other avg10=1.00 avg60=1.00 avg300=1.00 total=1')).toEqual({});
    // An unknown extra field beside the four does not spoil the line.
    expect(parsePressure('some avg10=2.50 avg60=1.00 avg300=0.50 total=7 avg900=0.10').some?.avg10).toBe(2.5);
  });
});

describe('someAvg10', () => {
  it('is the "some avg10" figure, in %', () => {
    expect(someAvg10(CPU_6X)).toBe(0.77);
    expect(someAvg10(CPU_5_4)).toBe(93.41);
    expect(someAvg10(MEMORY)).toBe(12.5);
  });

  it('is undefined where the text has none', () => {
    expect(someAvg10('')).toBeUndefined();
    expect(someAvg10('full avg10=1.00 avg60=1.00 avg300=1.00 total=1\n')).toBeUndefined();
  });
});
