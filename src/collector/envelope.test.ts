import { describe, expect, it } from 'vitest';
import { DecodeError } from '../errors.js';
import { decodeEnvelope, encodeEnvelope } from './envelope.js';

describe('envelope', () => {
  it.each([
    { name: 'IPv4', exporter: '192.0.2.7', port: 6343 },
    { name: 'IPv6', exporter: '2001:db8::7', port: 50000 },
    { name: 'IPv4-mapped', exporter: '::ffff:198.51.100.1', port: 1 },
    { name: 'full IPv6', exporter: '2001:db8:1:2:3:4:5:6', port: 65535 },
  ])('round-trips $name', ({ exporter, port }) => {
    const payload = new Uint8Array([0, 0, 0, 5, 1, 2, 3]);
    const got = decodeEnvelope(encodeEnvelope(1_700_000_000_123.25, exporter, port, payload));
    expect({ ...got, payload: new Uint8Array(got.payload) }).toEqual({ receivedAt: 1_700_000_000_123.25, exporter, exporterPort: port, payload });
  });

  it.each([
    { name: 'short', bytes: new Uint8Array(3), code: 'truncated' },
    { name: 'other version', bytes: new Uint8Array(40).fill(9), code: 'bad-version' },
  ])('rejects $name', ({ bytes, code }) => {
    expect(() => decodeEnvelope(bytes)).toThrow(DecodeError);
    try { decodeEnvelope(bytes); } catch (error) { expect((error as DecodeError).code).toBe(code); }
  });
});
