import { describe, expect, it } from 'vitest';
import { fixture, sosFixture } from '../../../test/fixtures/linux/load.js';
import { addressFromTokens, parseIpAddrOneline } from './ip-address.js';

describe('parseIpAddrOneline', () => {
  it('reads the captured `ip -o addr`', () => {
    const { value, issues } = parseIpAddrOneline(fixture('ip_-o_addr'), 'ip_-o_addr');
    expect(issues).toEqual([]);
    expect(value.map((e) => `${e.ifindex} ${e.device} ${e.address.address}/${e.address.prefixLength}`)).toEqual(['1 lo 127.0.0.1/8', '1 lo ::1/128', expect.stringMatching(/^\d+ ext0 198\.51\.100\.1\/24$/)]);
  });

  it('reads the sos form', () => {
    expect(parseIpAddrOneline(sosFixture('ip_-o_addr'), 'sos').issues).toEqual([]);
  });

  it('reports a line that is not one', () => {
    expect(parseIpAddrOneline('1: lo    inet\nnope\n', 's').issues.map((i) => i.line)).toEqual([1, 2]);
  });
});

describe('addressFromTokens', () => {
  it.each([
    { name: 'broadcast, flags, label', input: 'inet 192.0.2.5/24 brd 192.0.2.255 scope global secondary dynamic noprefixroute eth0:1', want: { address: '192.0.2.5', prefixLength: 24, broadcast: '192.0.2.255', scope: 'global', label: 'eth0:1', flags: ['dynamic', 'noprefixroute', 'secondary'], peer: null } },
    { name: 'point-to-point peer', input: 'inet 192.0.2.1 peer 192.0.2.2/32 scope global tun0', want: { address: '192.0.2.1', peer: '192.0.2.2', prefixLength: 32, label: 'tun0' } },
    { name: 'inet6 tentative', input: 'inet6 fe80::1/64 scope link tentative', want: { family: 'inet6', label: null, flags: ['tentative'], scope: 'link' } },
  ])('$name', ({ input, want }) => {
    expect(addressFromTokens(input.split(' '))).toMatchObject(want);
  });

  it('refuses what is not an address', () => {
    expect(addressFromTokens(['link/ether'])).toEqual(expect.any(String));
    expect(addressFromTokens(['inet6', '::1/128', 'scope', 'host', 'stray'])).toEqual(expect.any(String));
  });
});
