// storedPath on the values the lab capture's round trip (test/integration/paths-json.test.ts) does
// not reach: drops beyond OVS (iptables tables, routes), 64-bit tunnel ids, a command holding ": ".
import { describe, expect, it } from 'vitest';
import { isoOfStored, storedPath, type StoredHopRow, type StoredPathRow } from './path-json.js';

const ROW: StoredPathRow = {
  first_seen: '2026-11-25 10:52:56.344', last_seen: '2026-11-25 10:52:57.000', path_id: 'abc@1795603976344', kind: 'frame', verdict: 'dropped',
  confidence: 0.8, answered: false, conflict: false, conflict_reason: '', src_mac: 'fa:16:3e:00:00:01', dst_mac: '', src_ip: '203.0.113.11', dst_ip: '203.0.113.193',
  nat_host: '', nat_namespace: '', nat_src_ip: '', nat_dst_ip: '', ip_protocol: 6, src_port: 40000, dst_port: 22, icmp_type: null, fingerprint: '',
  observations: 2, sampling_rate: 1, hops: 1, observed_hops: 1, drop_host: 'compute1', drop_device: 'qbr1', drop_bridge: '', drop_table: 'filter',
  drop_rule: '', drop_reason: 'iptables DROP', doubts: [], checks: ['network1: ip netns exec qrouter-1 iptables-save -t nat: the SNAT rules'], coverage: [],
  snapshots: ['compute1@2026-11-25T10:52:53.073Z', 'odd@host@2026-11-25T10:52:55Z'],
};
const HOP: StoredHopRow = {
  seq: 1, host: 'compute1', namespace: '', kind: 'tunnel', device: 'gre-1', bridge: 'br-tun', in_port: '', out_port: 'gre-1', vlan: 0,
  tunnel_id: '18446744073709551615', remote_ip: '192.0.2.12', observed: true, rules: [], notes: [],
};

describe('storedPath', () => {
  it.each([
    { name: 'OpenFlow table: a number', drop_table: '3', table: 3 },
    { name: 'iptables table: the word', drop_table: 'filter', table: 'filter' },
    { name: 'a route lookup', drop_table: 'route', table: 'route' },
    { name: 'no table', drop_table: '', table: null },
  ])('drop table, $name', ({ drop_table, table }) => {
    expect(storedPath({ ...ROW, drop_table }).drop).toEqual({ host: 'compute1', device: 'qbr1', bridge: null, table, rule: null, reason: 'iptables DROP' });
  });

  it('no drop_host: drop null; empty text columns are null where AnalyzedPath has null', () => {
    const p = storedPath({ ...ROW, drop_host: '' });
    expect(p.drop).toBeNull();
    expect(p.fingerprint).toBeNull();
    expect(p.flow).toEqual({ srcMac: 'fa:16:3e:00:00:01', dstMac: null, srcIp: '203.0.113.11', dstIp: '203.0.113.193', ipProtocol: 6, srcPort: 40000, dstPort: 22, icmpType: null });
    expect(p.nat).toBeNull();
    expect(p.conflict).toBeNull();
    expect(p).toMatchObject({ firstSeen: '2026-11-25T10:52:56.344Z', lastSeen: '2026-11-25T10:52:57.000Z', hopCount: 1, observedHops: 1 });
    expect(p).not.toHaveProperty('hops');
  });

  it('checks split at the first ": ", snapshots at the last "@" with ISO times', () => {
    const p = storedPath(ROW);
    expect(p.checks).toEqual([{ host: 'network1', command: 'ip netns exec qrouter-1 iptables-save -t nat: the SNAT rules' }]);
    expect(p.snapshots).toEqual([{ host: 'compute1', takenAt: '2026-11-25T10:52:53.073Z' }, { host: 'odd@host', takenAt: '2026-11-25T10:52:55.000Z' }]);
  });

  it.each([
    { name: 'JSONEachRow quoted UInt64', tunnel_id: '73', want: 73 },
    { name: 'a number', tunnel_id: 73, want: 73 },
    { name: 'a bigint', tunnel_id: 0x49n, want: 73 },
    { name: 'tun_id 0 is a key', tunnel_id: '0', want: 0 },
    { name: 'none', tunnel_id: null, want: null },
    { name: 'all ones (as the number the analyzer held)', tunnel_id: '18446744073709551615', want: 2 ** 64 },
  ])('hop tunnel id, $name', ({ tunnel_id, want }) => {
    const [hop] = storedPath(ROW, [{ ...HOP, tunnel_id }]).hops;
    expect(hop?.tunnelId).toBe(want);
    expect(hop).toMatchObject({ bridge: 'br-tun', inPort: null, outPort: 'gre-1', vlan: 0, remoteIp: '192.0.2.12', notes: [] });
  });

  it.each([
    { text: '2026-11-25 10:52:56.344', iso: '2026-11-25T10:52:56.344Z' },
    { text: '2026-11-25 10:52:56', iso: '2026-11-25T10:52:56.000Z' },
    { text: '2026-11-25T10:52:56.344Z', iso: '2026-11-25T10:52:56.344Z' },
  ])('time $text', ({ text, iso }) => {
    expect(isoOfStored(text)).toBe(iso);
  });

  it('a time that is none', () => {
    expect(() => isoOfStored('yesterday')).toThrow(/not a stored time/);
  });
});
