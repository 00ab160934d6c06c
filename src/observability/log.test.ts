import { describe, expect, it } from 'vitest';
import { Throttle } from './log.js';

describe('Throttle', () => {
  it('admits the first N per window, then reports what it held back', () => {
    const throttle = new Throttle(2, 1000);
    const results = [0, 1, 2, 3, 4].map((t) => throttle.admit('sflow:truncated', t).log);
    expect(results).toEqual([true, true, false, false, false]);
    expect(throttle.admit('sflow:truncated', 1500)).toEqual({ log: true, suppressed: 3 });
    expect(throttle.admit('other', 1500)).toEqual({ log: true, suppressed: 0 });
  });
});
