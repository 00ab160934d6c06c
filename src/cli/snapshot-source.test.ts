import { describe, expect, it } from 'vitest';
import type { RawSnapshot } from '../hoststate/snapshot.js';
import { inForceAt, inForceBetween } from './snapshot-source.js';

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

describe('inForceAt (--at)', () => {
  const all = [snap('b', T(5)), snap('a', T(30)), snap('a', T(0)), snap('a', T(10)), snap('b', T(40)), snap('c', T(59)), snap('c', T(50))];

  it('per host the latest at or before the time; a host with none that early gets its first, with a warning naming it', () => {
    const warnings: string[] = [];
    const got = inForceAt(all, ms(20), T(20), (w) => warnings.push(w)).map((s) => `${s.host}@${s.takenAt.slice(17, 19)}`);
    expect(got).toEqual(['a@10', 'b@05', 'c@50']);
    expect(warnings).toEqual([`hoptrace: c has no snapshot taken at or before ${T(20)}: using its first, taken ${T(50)} (30.0 s later)`]);
  });

  it('no warning when every host has one in force', () => {
    const warnings: string[] = [];
    expect(inForceAt(all, ms(59), T(59), (w) => warnings.push(w)).map((s) => `${s.host}@${s.takenAt.slice(17, 19)}`)).toEqual(['a@30', 'b@40', 'c@59']);
    expect(warnings).toEqual([]);
  });
});
