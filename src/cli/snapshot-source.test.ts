import { describe, expect, it } from 'vitest';
import type { RawSnapshot } from '../hoststate/snapshot.js';
import { inForceBetween } from './snapshot-source.js';

const snap = (host: string, takenAt: string): RawSnapshot => ({ format: 'hoptrace.snapshot.v1', host, takenAt, source: 'agent', trigger: 'interval', producer: 'test', outputs: [] });
const T = (s: number): string => new Date(Date.UTC(2026, 10, 25, 8, 0, s)).toISOString();
const ms = (s: number): number => Date.UTC(2026, 10, 25, 8, 0, s);

describe('inForceBetween', () => {
  const all = [snap('b', T(5)), snap('a', T(30)), snap('a', T(0)), snap('a', T(10)), snap('a', T(50)), snap('b', T(40)), snap('c', T(59))];

  it('keeps per host the version in force at the start and every one taken up to the end, by host and time', () => {
    const got = inForceBetween(all, { fromMs: ms(20), toMs: ms(45) }).map((s) => `${s.host}@${s.takenAt.slice(17, 19)}`);
    expect(got).toEqual(['a@10', 'a@30', 'b@05', 'b@40', 'c@59']);
  });

  it('a host with nothing before the start keeps its oldest (it judges what came before it), and nothing after the end', () => {
    const got = inForceBetween(all, { fromMs: ms(-10), toMs: ms(1) }).map((s) => `${s.host}@${s.takenAt.slice(17, 19)}`);
    expect(got).toEqual(['a@00', 'b@05', 'c@59']);
  });
});
