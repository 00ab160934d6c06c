import { describe, expect, it } from 'vitest';
import { formatDateTime64 } from './tsv.js';

describe('formatDateTime64', () => {
  it.each([
    { name: 'milliseconds padded', ms: Date.UTC(2026, 0, 15, 10, 0, 5, 7), text: '2026-01-15 10:00:05.007' },
    { name: 'sub-millisecond part dropped', ms: Date.UTC(2026, 0, 15, 10, 0, 5, 123) + 0.9, text: '2026-01-15 10:00:05.123' },
    { name: 'same second, cache reused', ms: Date.UTC(2026, 0, 15, 10, 0, 5, 999), text: '2026-01-15 10:00:05.999' },
    { name: 'next second', ms: Date.UTC(2026, 0, 15, 10, 0, 6, 40), text: '2026-01-15 10:00:06.040' },
    { name: 'the epoch', ms: 0, text: '1970-01-01 00:00:00.000' },
  ])('$name', ({ ms, text }) => {
    expect(formatDateTime64(ms)).toBe(text);
  });
});
