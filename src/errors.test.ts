import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DecodeError, ERROR_CODES, ParseError } from './errors.js';

describe('error codes', () => {
  const doc = readFileSync(new URL('../docs/errors.md', import.meta.url), 'utf8');
  it.each(ERROR_CODES.map((code) => ({ code })))('$code is documented in docs/errors.md', ({ code }) => {
    expect(doc).toContain(`\`${code}\``);
  });

  it('DecodeError says where, on one line', () => {
    const error = new DecodeError('truncated', 'need 4 bytes, 2 left', { offset: 200, path: 'datagram/sample[1]/record[0]/src_vlan' });
    expect(error.message).toBe('truncated at byte 200 (datagram/sample[1]/record[0]/src_vlan): need 4 bytes, 2 left');
    expect(error.message).not.toContain('\n');
  });

  it('ParseError names the file and line or offset', () => {
    expect(new ParseError('bad-format', 'no table', { source: 'dump-flows.txt', line: 3 }).message).toBe('dump-flows.txt:3: no table');
    expect(new ParseError('bad-magic', 'not pcap', { source: 'x.pcap', offset: 0 }).message).toBe('x.pcap at byte 0: not pcap');
  });
});
