import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ParseError } from '../errors.js';
import type { RawSnapshot } from '../hoststate/snapshot.js';
import { decodeSnapshot, encodeSnapshot, issuePath, validateSnapshot } from './codec.js';

function sampleSnapshot(): RawSnapshot {
  return {
    format: 'hoptrace.snapshot.v1',
    host: 'compute-1',
    takenAt: '2026-11-25T08:30:00.123Z',
    source: 'agent',
    trigger: 'interval',
    producer: 'hoptrace 0.1.0',
    outputs: [
      { id: 'hostname', argv: ['hostname'], origin: 'agent', stdout: 'compute-1\n', stderr: '', exitCode: 0, durationMs: 1.5 },
      { id: 'ovs-ofctl.dump-flows', argv: ['ovs-ofctl', 'dump-flows', 'br-gone'], bridge: 'br-gone', origin: 'agent', stdout: '', stderr: 'ovs-ofctl: br-gone is not a bridge or a socket\n', exitCode: 1 },
      { id: 'netns.ip.route', argv: ['ip', 'netns', 'exec', 'qrouter-1', 'ip', '-j', 'route'], namespace: 'qrouter-1', origin: 'agent', stdout: '[]', stderr: '', exitCode: null, error: 'timed out after 15000 ms' },
    ],
  };
}

describe('snapshot codec', () => {
  it('round-trips a snapshot', () => {
    const snapshot = sampleSnapshot();
    expect(decodeSnapshot(encodeSnapshot(snapshot))).toEqual(snapshot);
  });

  const bad: { name: string; mutate: (s: Record<string, unknown>) => void; path: string }[] = [
    { name: 'wrong format', mutate: (s) => { s['format'] = 'hoptrace.snapshot.v2'; }, path: 'format' },
    { name: 'host with a slash', mutate: (s) => { s['host'] = '../etc'; }, path: 'host' },
    { name: 'host dot-dot', mutate: (s) => { s['host'] = '..'; }, path: 'host' },
    { name: 'takenAt not a time', mutate: (s) => { s['takenAt'] = 'yesterday'; }, path: 'takenAt' },
    { name: 'unknown source', mutate: (s) => { s['source'] = 'carrier-pigeon'; }, path: 'source' },
    { name: 'exit code a string', mutate: (s) => { (s['outputs'] as Record<string, unknown>[])[1]!['exitCode'] = '1'; }, path: 'outputs[1].exitCode' },
    { name: 'bridge with a slash', mutate: (s) => { (s['outputs'] as Record<string, unknown>[])[1]!['bridge'] = 'br/../x'; }, path: 'outputs[1].bridge' },
    { name: 'argv not strings', mutate: (s) => { (s['outputs'] as Record<string, unknown>[])[0]!['argv'] = [1]; }, path: 'outputs[0].argv[0]' },
    { name: 'unknown key', mutate: (s) => { s['extra'] = true; }, path: '(document)' },
    { name: 'stdout missing', mutate: (s) => { delete (s['outputs'] as Record<string, unknown>[])[2]!['stdout']; }, path: 'outputs[2].stdout' },
  ];
  it.each(bad)('rejects $name with the field path', ({ mutate, path }) => {
    const doc = structuredClone(sampleSnapshot()) as unknown as Record<string, unknown>;
    mutate(doc);
    let caught: unknown;
    try {
      decodeSnapshot(JSON.stringify(doc), { source: 'test' });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ParseError);
    const message = (caught as ParseError).message;
    expect(message.startsWith(`test: ${path}`)).toBe(true);
    expect(message).not.toContain('\n');
  });

  it('rejects a body over the limit before parsing it', () => {
    expect(() => decodeSnapshot('{"x":"' + 'a'.repeat(200) + '"}', { maxBytes: 100 })).toThrow(/over the limit of 100/);
  });

  it('rejects text that is not JSON, and an empty body as truncated', () => {
    expect(() => decodeSnapshot('{"format":')).toThrow(ParseError);
    try {
      decodeSnapshot('  ');
    } catch (error) {
      expect((error as ParseError).code).toBe('truncated');
    }
  });

  it('random JSON values give a snapshot or a ParseError, never another exception', () => {
    fc.assert(fc.property(fc.jsonValue({ maxDepth: 4 }), (value) => {
      try {
        validateSnapshot(value);
      } catch (error) {
        if (!(error instanceof ParseError)) throw error;
      }
    }), { numRuns: 300 });
  });

  it('formats zod paths as JSON paths', () => {
    expect(issuePath(['outputs', 3, 'exitCode'])).toBe('outputs[3].exitCode');
    expect(issuePath([])).toBe('(document)');
  });
});
