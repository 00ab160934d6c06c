// The address syntax only: the client itself talks to a real ovsdb-server (and to a misbehaving
// server) in test/integration/ovsdb-lab.test.ts and ovsdb-client.test.ts.
import { describe, expect, it } from 'vitest';
import { formatOvsdbAddress, OvsdbError, parseOvsdbAddress } from './client.js';

describe('parseOvsdbAddress', () => {
  it.each([
    { name: 'unix socket', text: 'unix:/run/openvswitch/db.sock', want: { kind: 'unix', path: '/run/openvswitch/db.sock' } },
    { name: 'tcp IPv4', text: 'tcp:198.51.100.2:6640', want: { kind: 'tcp', host: '198.51.100.2', port: 6640 } },
    { name: 'tcp IPv6', text: 'tcp:[2001:db8::1]:6640', want: { kind: 'tcp', host: '2001:db8::1', port: 6640 } },
    { name: 'tcp name', text: 'tcp:localhost:1', want: { kind: 'tcp', host: 'localhost', port: 1 } },
  ])('$name', ({ text, want }) => {
    expect(parseOvsdbAddress(text)).toEqual(want);
    expect(formatOvsdbAddress(parseOvsdbAddress(text))).toBe(text);
  });

  it.each(['unix:', 'tcp:198.51.100.2', 'tcp:198.51.100.2:0', 'tcp:198.51.100.2:70000', 'ssl:198.51.100.2:6640', '/run/db.sock', 'tcp:2001:db8::1:6640'])(
    'rejects %s with bad-argument',
    (text) => {
      expect(() => parseOvsdbAddress(text)).toThrow(OvsdbError);
      try {
        parseOvsdbAddress(text);
      } catch (error) {
        expect(error).toMatchObject({ code: 'bad-argument', address: text });
      }
    },
  );
});
