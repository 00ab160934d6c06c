import { describe, expect, it } from 'vitest';
import { MAX_TUNNEL_DEPTH, decodePacket } from './packet.js';
import type { Packet } from './types.js';
import { arp, ethernet, geneve, gre, icmp, ipv4, ipv6, ipv6Fragment, ipv6Options, tcp, udp, vxlan } from '../../test/support/frames.js';

const A = '02:00:00:00:00:0a';
const B = '02:00:00:00:00:0b';
const v4 = (protocol: number, payload: number[], extra: Partial<Parameters<typeof ipv4>[0]> = {}): number[] =>
  ipv4({ src: '192.0.2.1', dst: '198.51.100.2', protocol, ...extra }, payload);
const v6 = (next: number, payload: number[]): number[] => ipv6({ src: '2001:db8::1', dst: '2001:db8:0:1::2', next, hopLimit: 63, trafficClass: 0xb8 }, payload);
const innerTcp = ethernet(B, A, 0x0800, v4(6, tcp(1234, 80, 0x18)));

function innermost(p: Packet): Packet {
  let q = p;
  while (q.inner !== null) q = q.inner;
  return q;
}

describe('decodePacket', () => {
  it.each([
    {
      name: 'Ethernet / IPv4 / TCP', protocol: 1, bytes: ethernet(B, A, 0x0800, v4(6, tcp(40000, 443, 0x12), { ttl: 61, tos: 0x10, id: 77 })),
      want: {
        layers: ['eth', 'ipv4', 'tcp'], srcMac: A, dstMac: B, vlans: [], etherType: 0x0800, ipVersion: 4, srcIp: '192.0.2.1', dstIp: '198.51.100.2',
        ipProtocol: 6, ttl: 61, tos: 0x10, ipId: 77, ipLength: 40, fragment: false, srcPort: 40000, dstPort: 443, tcpFlags: 0x12,
        icmpType: null, icmpCode: null, arp: null, tunnel: null, inner: null, truncatedAt: null,
      },
    },
    {
      name: '802.1Q tag', protocol: 1, bytes: ethernet(B, A, 0x0800, v4(17, udp(5000, 53)), [{ tpid: 0x8100, priority: 5, id: 100 }]),
      want: { layers: ['eth', 'vlan', 'ipv4', 'udp'], vlans: [{ tpid: 0x8100, priority: 5, dei: 0, id: 100 }], etherType: 0x0800, srcPort: 5000, dstPort: 53 },
    },
    {
      name: 'QinQ 802.1ad over 802.1Q', protocol: 1,
      bytes: ethernet(B, A, 0x0800, v4(1, icmp(8, 0)), [{ tpid: 0x88a8, priority: 2, id: 1062 }, { tpid: 0x8100, priority: 2, dei: 1, id: 1493 }]),
      want: {
        layers: ['eth', 'vlan', 'vlan', 'ipv4', 'icmp'], etherType: 0x0800, icmpType: 8, icmpCode: 0,
        vlans: [{ tpid: 0x88a8, priority: 2, dei: 0, id: 1062 }, { tpid: 0x8100, priority: 2, dei: 1, id: 1493 }],
      },
    },
    {
      name: 'pre-standard QinQ TPID 0x9100', protocol: 1, bytes: ethernet(B, A, 0x86dd, v6(58, icmp(128, 0)), [{ tpid: 0x9100, id: 7 }, { tpid: 0x8100, id: 8 }]),
      want: { layers: ['eth', 'vlan', 'vlan', 'ipv6', 'icmpv6'], vlans: [{ tpid: 0x9100, priority: 0, dei: 0, id: 7 }, { tpid: 0x8100, priority: 0, dei: 0, id: 8 }], icmpType: 128 },
    },
    {
      name: 'ARP request', protocol: 1, bytes: ethernet('ff:ff:ff:ff:ff:ff', A, 0x0806, arp(1, A, '192.0.2.1', '00:00:00:00:00:00', '192.0.2.9')),
      want: {
        layers: ['eth', 'arp'], etherType: 0x0806, ipVersion: null,
        arp: { operation: 1, senderMac: A, senderIp: '192.0.2.1', targetMac: '00:00:00:00:00:00', targetIp: '192.0.2.9' },
      },
    },
    {
      name: 'IPv4 with options', protocol: 1, bytes: ethernet(B, A, 0x0800, v4(6, tcp(1, 2, 0x02), { options: [0x94, 0x04, 0, 0] })),
      want: { layers: ['eth', 'ipv4', 'tcp'], ipLength: 44, srcPort: 1, dstPort: 2, tcpFlags: 0x02 },
    },
    {
      name: 'IPv4 first fragment', protocol: 1, bytes: ethernet(B, A, 0x0800, v4(17, udp(7, 9, [1, 2, 3]), { moreFragments: true, id: 4242 })),
      want: { layers: ['eth', 'ipv4', 'udp'], fragment: false, ipId: 4242, srcPort: 7, dstPort: 9 },
    },
    {
      name: 'IPv4 later fragment: no transport header', protocol: 1, bytes: ethernet(B, A, 0x0800, v4(17, [1, 2, 3, 4, 5, 6, 7, 8], { fragmentOffset: 185, id: 4242 })),
      want: { layers: ['eth', 'ipv4'], fragment: true, ipProtocol: 17, srcPort: null, dstPort: null, truncatedAt: null },
    },
    {
      name: 'IPv6 hop-by-hop, routing, destination options, TCP', protocol: 1,
      bytes: ethernet(B, A, 0x86dd, v6(0, ipv6Options(43, ipv6Options(60, ipv6Options(6, tcp(22, 50000, 0x10), 1))))),
      want: {
        layers: ['eth', 'ipv6', 'ipv6-hopopts', 'ipv6-routing', 'ipv6-dstopts', 'tcp'], ipVersion: 6, ipProtocol: 6, srcIp: '2001:db8::1',
        dstIp: '2001:db8:0:1::2', ttl: 63, tos: 0xb8, ipId: 0, ipLength: 40 + 8 + 8 + 16 + 20, srcPort: 22, dstPort: 50000, tcpFlags: 0x10,
      },
    },
    {
      name: 'IPv6 first fragment', protocol: 1, bytes: ethernet(B, A, 0x86dd, v6(44, ipv6Fragment(17, 0, true, 0xdeadbeef, udp(1000, 2000)))),
      want: { layers: ['eth', 'ipv6', 'ipv6-fragment', 'udp'], fragment: false, ipId: 0xdeadbeef, ipProtocol: 17, srcPort: 1000 },
    },
    {
      name: 'IPv6 later fragment', protocol: 1, bytes: ethernet(B, A, 0x86dd, v6(44, ipv6Fragment(17, 100, false, 9, [0, 0, 0, 0, 0, 0, 0, 0]))),
      want: { layers: ['eth', 'ipv6', 'ipv6-fragment'], fragment: true, ipId: 9, ipProtocol: 17, srcPort: null, truncatedAt: null },
    },
    {
      name: 'GRE with checksum, key and sequence, Ethernet inside', protocol: 1,
      bytes: ethernet(B, A, 0x0800, v4(47, gre({ protocol: 0x6558, checksum: true, key: 0x1234, sequence: 5 }, innerTcp))),
      want: {
        layers: ['eth', 'ipv4', 'gre'], ipProtocol: 47, tunnel: { type: 'gre', id: 0x1234, protocol: 0x6558 },
        inner: { layers: ['eth', 'ipv4', 'tcp'], srcMac: A, dstMac: B, srcPort: 1234, dstPort: 80, tcpFlags: 0x18, truncatedAt: null },
      },
    },
    {
      name: 'keyless GRE, IPv4 inside', protocol: 1, bytes: ethernet(B, A, 0x0800, v4(47, gre({ protocol: 0x0800 }, ipv4({ src: '203.0.113.5', dst: '203.0.113.6', protocol: 1 }, icmp(0, 0))))),
      want: { tunnel: { type: 'gre', id: null, protocol: 0x0800 }, inner: { layers: ['ipv4', 'icmp'], srcMac: null, srcIp: '203.0.113.5', icmpType: 0 } },
    },
    {
      name: 'VXLAN (UDP 4789)', protocol: 1, bytes: ethernet(B, A, 0x0800, v4(17, udp(45833, 4789, vxlan(5001, innerTcp)))),
      want: { layers: ['eth', 'ipv4', 'udp', 'vxlan'], dstPort: 4789, tunnel: { type: 'vxlan', id: 5001, protocol: null }, inner: { layers: ['eth', 'ipv4', 'tcp'], dstPort: 80 } },
    },
    {
      name: 'Geneve (UDP 6081) with 8 bytes of options', protocol: 1,
      bytes: ethernet(B, A, 0x0800, v4(17, udp(1, 6081, geneve(77, 0x6558, [0, 1, 0x80, 1, 0, 0, 0, 9], innerTcp)))),
      want: { layers: ['eth', 'ipv4', 'udp', 'geneve'], tunnel: { type: 'geneve', id: 77, protocol: 0x6558 }, inner: { layers: ['eth', 'ipv4', 'tcp'] } },
    },
    {
      name: 'Geneve carrying IPv6', protocol: 1, bytes: ethernet(B, A, 0x0800, v4(17, udp(1, 6081, geneve(3, 0x86dd, [], v6(17, udp(1, 2)))))),
      want: { tunnel: { type: 'geneve', id: 3, protocol: 0x86dd }, inner: { layers: ['ipv6', 'udp'], ipVersion: 6 } },
    },
    {
      name: 'raw IPv4 header (protocol 11)', protocol: 11, bytes: v4(1, icmp(3, 1)),
      want: { layers: ['ipv4', 'icmp'], srcMac: null, etherType: null, icmpType: 3, icmpCode: 1 },
    },
    {
      name: 'raw IPv6 header (protocol 12)', protocol: 12, bytes: v6(17, udp(546, 547)),
      want: { layers: ['ipv6', 'udp'], srcMac: null, srcPort: 546, dstPort: 547 },
    },
    {
      name: 'IPv4 length shorter than the header: Ethernet padding is not read as VXLAN', protocol: 1,
      bytes: [...ethernet(B, A, 0x0800, v4(17, udp(1, 4789), { totalLength: 28 })), ...new Array<number>(18).fill(0)],
      want: { layers: ['eth', 'ipv4', 'udp'], tunnel: null, truncatedAt: 'vxlan' },
    },
  ])('$name', ({ bytes, protocol, want }) => {
    expect(decodePacket(Uint8Array.from(bytes), protocol)).toMatchObject(want);
  });

  it.each([2, 13, 0, 0xffffffff])('returns null for header protocol %i', (protocol) => {
    expect(decodePacket(Uint8Array.from(innerTcp), protocol)).toBeNull();
  });

  it('stops following tunnels at MAX_TUNNEL_DEPTH', () => {
    let frame = innerTcp;
    for (let i = 0; i < 8; i++) frame = ethernet(B, A, 0x0800, v4(47, gre({ protocol: 0x6558, key: i }, frame)));
    let p = decodePacket(Uint8Array.from(frame), 1);
    let depth = 0;
    while (p?.inner != null) {
      p = p.inner;
      depth++;
    }
    expect(depth).toBe(MAX_TUNNEL_DEPTH - 1);
    expect(p?.tunnel?.type).toBe('gre');
  });
});

describe('a sampled header cut at every byte', () => {
  // 802.1Q / IPv4 / UDP / VXLAN / Ethernet / IPv4 / TCP, and where each layer starts and ends.
  const frame = ethernet(B, A, 0x0800, v4(17, udp(45833, 4789, vxlan(5001, innerTcp))), [{ tpid: 0x8100, id: 10 }]);
  const outer = [['eth', 0, 14], ['vlan', 14, 18], ['ipv4', 18, 38], ['udp', 38, 46], ['vxlan', 46, 54]] as const;
  const inner = [['eth', 54, 68], ['ipv4', 68, 88], ['tcp', 88, 108]] as const;
  const cuts = Array.from({ length: frame.length }, (_, n) => n);

  it('has the layout the table says', () => {
    expect(frame).toHaveLength(108);
    expect(decodePacket(Uint8Array.from(frame), 1)).toMatchObject({ truncatedAt: null, inner: { truncatedAt: null, layers: ['eth', 'ipv4', 'tcp'] } });
  });

  it.each(cuts)('at %i bytes: truncatedAt names the layer that was cut, the layers before it are kept', (n) => {
    const p = decodePacket(Uint8Array.from(frame.slice(0, n)), 1);
    if (p === null) throw new Error('null packet');
    const outerCut = outer.find(([, start, end]) => n >= start && n < end);
    if (outerCut !== undefined) {
      expect(p.truncatedAt).toBe(outerCut[0]);
      expect(p.layers).toEqual(outer.filter(([, , end]) => end <= n).map(([name]) => name));
      expect(p.inner).toBeNull();
      return;
    }
    const innerCut = inner.find(([, start, end]) => n >= start && n < end);
    expect(p.truncatedAt).toBeNull();
    expect(p.layers).toEqual(['eth', 'vlan', 'ipv4', 'udp', 'vxlan']);
    expect(p.inner?.truncatedAt).toBe(innerCut?.[0]);
    expect(p.inner?.layers).toEqual(inner.filter(([, , end]) => end <= n).map(([name]) => name));
    expect(innermost(p)).toBe(p.inner);
  });
});
