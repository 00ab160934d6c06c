import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fixture } from '../../../test/fixtures/ovsdb/load.js';
import { JsonStreamError, JsonStreamSplitter } from './json-stream.js';

// The real transcript, as ovsdb-server sends it: objects back to back with no separator.
const transcript = fixture('agent/monitor.jsonl').trim().split('\n');
const stream = transcript.join('');

describe('JsonStreamSplitter', () => {
  it('cuts the real stream into its messages wherever the chunks end', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: stream.length }), { maxLength: 20 }), (cuts) => {
        const points = [...new Set([0, ...cuts, stream.length])].sort((a, b) => a - b);
        const splitter = new JsonStreamSplitter(1 << 20);
        const got: string[] = [];
        for (let i = 1; i < points.length; i++) got.push(...splitter.push(stream.slice(points[i - 1], points[i])));
        expect(got).toEqual(transcript);
        expect(splitter.pending).toBe(0);
      }),
      { numRuns: 200 },
    );
  });

  it.each([
    { name: 'braces and quotes inside strings', input: '{"a":"}{\\"]"}{"b":[1,{"c":"\\\\"}]}', want: ['{"a":"}{\\"]"}', '{"b":[1,{"c":"\\\\"}]}'] },
    { name: 'whitespace and newlines between messages', input: ' {"a":1}\n\r\t[2] ', want: ['{"a":1}', '[2]'] },
    { name: 'an unfinished message waits', input: '{"a":[1,', want: [] },
  ])('$name', ({ input, want }) => {
    expect(new JsonStreamSplitter(1000).push(input)).toEqual(want);
  });

  it('rejects bytes outside a message and messages over the limit', () => {
    expect(() => new JsonStreamSplitter(1000).push('{"a":1} x')).toThrow(JsonStreamError);
    expect(() => new JsonStreamSplitter(10).push('{"a":"0123456789"')).toThrow(/over 10 bytes/);
    expect(() => new JsonStreamSplitter(10).push('{"a":"01234567890"}')).toThrow(/over 10 bytes/);
    expect(new JsonStreamSplitter(10).push('{"a":"01"}')).toHaveLength(1);
  });
});
