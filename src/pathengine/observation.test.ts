import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { readUdpPayloads } from '../pcap/pcap-reader.js';
import { decodeDatagram } from '../sflow/datagram.js';
import { flowKeyOf, toObservations, type Observation } from './observation.js';
import { arp, ethernet, gre, ipv4, tcp } from '../../test/support/frames.js';
import { datagram, discardSample, expandedFlowSample, flowSample, tagged, xdr } from '../../test/support/xdr-writer.js';
import { OVS_CORPUS } from '../../test/support/sflow-captures.js';

const VM_A = 'fa:16:3e:00:00:0a';
const VM_B = 'fa:16:3e:00:00:0b';
const inner = ethernet(VM_B, VM_A, 0x0800, ipv4({ src: '192.0.2.10', dst: '192.0.2.20', protocol: 6, id: 77, ttl: 64 }, tcp(40000, 22, 0x18, new Array<number>(60).fill(7))));
const outer = ethernet('02:00:00:00:01:02', '02:00:00:00:01:01', 0x0800,
  ipv4({ src: '203.0.113.1', dst: '203.0.113.2', protocol: 47, id: 5, ttl: 255 }, gre({ protocol: 0x6558, key: 0x51 }, inner)));

const sampledHeader = (frame: number[], headerBytes = 128): Uint8Array =>
  tagged(1, xdr().u32(1).u32(frame.length + 4).u32(4).opaque(frame.slice(0, headerBytes)).bytes());
const extendedSwitch = (srcVlan: number, dstVlan: number): Uint8Array => tagged(1001, xdr().u32(srcVlan).u32(0).u32(dstVlan).u32(0).bytes());
const tunnelIpv4 = (format: 1023 | 1024, src: string, dst: string): Uint8Array =>
  tagged(format, xdr().u32(100).u32(47).ipv4(src).ipv4(dst).u32(0).u32(0).u32(0).u32(0).bytes());
const vni = (format: 1029 | 1030, value: number): Uint8Array => tagged(format, xdr().u32(value).bytes());
const sampledIpv4 = tagged(3, xdr().u32(60).u32(17).ipv4('192.0.2.1').ipv4('192.0.2.2').u32(5353).u32(53).u32(0).u32(0).bytes());

const AGENT = '198.51.100.7';
const BRIDGE = 2 << 24 | 1001; // OVS: source 2:(1000 + sub-agent)
const IFINDEX_LOCAL = 0x3fffffff;

function observe(samples: Uint8Array[], keepPackets = false): Observation[] {
  const bytes = datagram({ agent: AGENT, subAgentId: 1, sequence: 42 }, samples);
  return toObservations(decodeDatagram(bytes), { receivedAtMs: 1_700_000_000_123.5, exporter: '198.51.100.8' }, { keepPackets });
}

describe('toObservations', () => {
  it('takes the datagram, sample and interface fields', () => {
    const [o] = observe([flowSample({ sequence: 9, sourceId: BRIDGE, samplingRate: 1, samplePool: 310, drops: 2, input: 5, output: 7 }, [extendedSwitch(0, 0), sampledHeader(inner)])]);
    expect(o).toMatchObject({
      receivedAtMs: 1_700_000_000_123.5, exporter: '198.51.100.8', agent: AGENT, subAgentId: 1, datagramSequence: 42,
      sampleKind: 'flow', sampleSequence: 9, sourceIdType: 2, sourceIdIndex: 1001, samplingRate: 1, samplePool: 310, drops: 2,
      inKind: 'ifindex', inIfIndex: 5, outKind: 'ifindex', outIfIndex: 7, outCount: 1, discardReason: null, srcVlan: 0, dstVlan: 0,
      headerProtocol: 1, frameLength: inner.length + 4, headerLength: inner.length, stripped: 4, encapsulation: 'none',
      srcMac: VM_A, dstMac: VM_B, etherType: 0x0800, ipVersion: 4, srcIp: '192.0.2.10', dstIp: '192.0.2.20', ipProtocol: 6,
      srcPort: 40000, dstPort: 22, icmpType: null, icmpCode: null, vlanId: null, ipId: 77, ttl: 64, tos: 0, fragment: false, tcpFlags: 0x18,
      arpOperation: null, tunnelId: null, outer: null, frame: null, outerSrcIp: null, outerIpProtocol: null, truncatedAt: null,
      fingerprintStatus: 'ok', inputPort: null, outputPort: null, resolution: 'pending',
    });
    expect(o?.fingerprint).toMatch(/^[0-9a-f]{16}$/);
    expect(o?.flowHash).toMatch(/^[0-9a-f]{16}$/);
  });

  it('keeps the decoded packets only with keepPackets', () => {
    const [o] = observe([flowSample({}, [sampledHeader(outer)])], true);
    expect(o?.outer?.srcIp).toBe('203.0.113.1');
    expect(o?.frame).toBe(o?.outer?.inner);
    expect(o?.frame?.srcIp).toBe('192.0.2.10');
  });

  it('ARP fields and the frame\'s own VLAN tag', () => {
    const request = ethernet('ff:ff:ff:ff:ff:ff', VM_A, 0x0806, arp(1, VM_A, '192.0.2.10', '00:00:00:00:00:00', '192.0.2.20'), [{ tpid: 0x8100, id: 3 }]);
    const [o] = observe([flowSample({}, [sampledHeader(request)])]);
    expect(o).toMatchObject({
      etherType: 0x0806, vlanId: 3, ipVersion: null, arpOperation: 1, arpSenderIp: '192.0.2.10', arpTargetIp: '192.0.2.20',
      arpSenderMac: VM_A, arpTargetMac: '00:00:00:00:00:00', fingerprintStatus: 'ok',
    });
  });

  it.each([
    { name: 'ifIndex 0 (patch/tunnel/netns port) in, multiple:3 out', input: 0, output: (2 << 30) | 3, want: { inKind: 'none', inIfIndex: 0, outKind: 'multiple', outCount: 3, outIfIndex: 0, discardReason: null } },
    { name: 'multiple:0 (count unknown)', input: 4, output: 2 << 30, want: { outKind: 'multiple', outCount: 0 } },
    { name: 'OVS drop: output 0x40000100', input: 4, output: 0x40000100, want: { outKind: 'discard', outCount: 0, discardReason: 256 } },
    { name: 'local in, ifIndex 0 out', input: IFINDEX_LOCAL, output: 0, want: { inKind: 'local', inIfIndex: IFINDEX_LOCAL, outKind: 'none', outIfIndex: 0, outCount: 1 } },
  ])('interfaces: $name', ({ input, output, want }) => {
    const [o] = observe([flowSample({ input, output }, [sampledHeader(inner)])]);
    expect(o).toMatchObject(want);
  });

  it('expanded flow sample with a discard output', () => {
    const [o] = observe([expandedFlowSample({ sourceIdType: 2, sourceIdIndex: 1003, samplingRate: 1000, input: [0, 12], output: [1, 258] }, [sampledHeader(inner)])]);
    expect(o).toMatchObject({ sourceIdType: 2, sourceIdIndex: 1003, samplingRate: 1000, inKind: 'ifindex', inIfIndex: 12, outKind: 'discard', discardReason: 258 });
  });

  it('discard sample (format 5): reason, both ifIndexes, no sampling rate', () => {
    const [o] = observe([discardSample({ sequence: 3, input: 8, output: 0, reason: 258 }, [sampledHeader(inner)])]);
    expect(o).toMatchObject({ sampleKind: 'discard', sampleSequence: 3, samplingRate: 0, inKind: 'ifindex', inIfIndex: 8, outKind: 'none', outIfIndex: 0, discardReason: 258, fingerprintStatus: 'ok' });
  });

  it('the receiver br-phy sample: outer GRE frame, flow key and fingerprint of the inner frame', () => {
    const [plain] = observe([flowSample({}, [sampledHeader(inner)])]);
    const [o] = observe([flowSample({ input: 3, output: 0 }, [sampledHeader(outer)])]);
    expect(o).toMatchObject({
      encapsulation: 'gre', tunnelId: 0x51, srcIp: '192.0.2.10', dstIp: '192.0.2.20', srcMac: VM_A, ttl: 64, ipId: 77,
      outerSrcIp: '203.0.113.1', outerDstIp: '203.0.113.2', outerSrcMac: '02:00:00:00:01:01', outerDstMac: '02:00:00:00:01:02', outerIpProtocol: 47,
    });
    expect(o?.fingerprint).toBe(plain?.fingerprint);
    expect(o?.flowHash).toBe(plain?.flowHash);
  });

  it('the receiver br-tun sample: decapsulated frame with tunnel ingress (1024) and VNI (1030)', () => {
    const [o] = observe([flowSample({ input: 0, output: 0 }, [sampledHeader(inner), tunnelIpv4(1024, '203.0.113.1', '203.0.113.2'), vni(1030, 0x51)])]);
    expect(o).toMatchObject({
      encapsulation: 'none', tunnelIngressSrc: '203.0.113.1', tunnelIngressDst: '203.0.113.2', tunnelIngressProtocol: 47, tunnelIngressVni: 0x51,
      tunnelEgressSrc: null, tunnelEgressVni: null, tunnelId: 0x51,
    });
  });

  it('a br-int sample towards a tunnel: egress records 1023/1029', () => {
    const [o] = observe([flowSample({ input: 5, output: 0 }, [sampledHeader(inner), tunnelIpv4(1023, '203.0.113.1', '203.0.113.2'), vni(1029, 0x52)])]);
    expect(o).toMatchObject({ tunnelEgressSrc: '203.0.113.1', tunnelEgressDst: '203.0.113.2', tunnelEgressProtocol: 47, tunnelEgressVni: 0x52, tunnelId: 0x52 });
  });

  it('without a sampled header: the flow key from sampled_ipv4 (3), no fingerprint', () => {
    const [o] = observe([flowSample({}, [sampledIpv4])]);
    expect(o).toMatchObject({ ipVersion: 4, srcIp: '192.0.2.1', dstIp: '192.0.2.2', ipProtocol: 17, srcPort: 5353, dstPort: 53, fingerprint: null, fingerprintStatus: 'unsupported', outer: null, frame: null });
    expect(o?.flowHash).toMatch(/^[0-9a-f]{16}$/);
  });

  it('a header cut before the covered bytes: no fingerprint, a flow hash', () => {
    const [o] = observe([flowSample({}, [sampledHeader(outer, 64)])]);
    expect(o).toMatchObject({ fingerprint: null, fingerprintStatus: 'cut', encapsulation: 'gre', truncatedAt: 'ipv4' }); // 64 bytes: 42 outer + 14 Ethernet + 8 of the inner IPv4 header
    expect(o?.flowHash).not.toBeNull();
  });

  it('skips counter samples and keeps sample order', () => {
    const counters = tagged(2, xdr().u32(1).u32(BRIDGE).u32(0).bytes());
    const os = observe([flowSample({ sequence: 1 }, [sampledHeader(inner)]), counters, discardSample({ sequence: 2 }, [sampledHeader(inner)])]);
    expect(os.map((o) => `${o.sampleKind}:${o.sampleSequence}`)).toEqual(['flow:1', 'discard:2']);
  });

  it('flowKeyOf returns the flattened key', () => {
    const [o] = observe([flowSample({}, [sampledHeader(outer)])]);
    if (o === undefined) throw new Error('no observation');
    expect(flowKeyOf(o)).toEqual({
      srcMac: VM_A, dstMac: VM_B, etherType: 0x0800, ipVersion: 4, srcIp: '192.0.2.10', dstIp: '192.0.2.20', ipProtocol: 6,
      srcPort: 40000, dstPort: 22, icmpType: null, icmpCode: null, tunnelId: 0x51,
    });
  });

  it('every object has the same keys in the same order (one hidden class)', () => {
    const os = [
      ...observe([flowSample({}, [sampledHeader(inner)])]), ...observe([flowSample({}, [sampledIpv4])]), ...observe([flowSample({}, [sampledHeader(outer)])], true),
      ...observe([discardSample({}, [sampledHeader(outer), vni(1030, 1)])]),
    ];
    const shapes = new Set(os.map((o) => Object.keys(o).join(',')));
    expect(shapes.size).toBe(1);
  });

  it('ovs-sflow-10k: one observation per flow sample, all fingerprinted, OVS interface shapes', () => {
    const packets = [...readUdpPayloads(readFileSync(OVS_CORPUS), 'ovs-sflow-10k.pcap')];
    const os = packets.flatMap((p) => toObservations(decodeDatagram(p.payload), { receivedAtMs: p.timestampMs, exporter: p.srcIp }));
    expect(os).toHaveLength(63_328);
    expect(os.every((o) => o.fingerprintStatus === 'ok' && o.flowHash !== null && o.agent === '127.0.0.1' && o.sourceIdIndex === 1000)).toBe(true);
    const interfaces: Record<string, number> = {};
    for (const o of os) {
      const key = `${o.inKind}:${o.inIfIndex}>${o.outKind}:${o.outKind === 'multiple' ? o.outCount : o.outKind === 'discard' ? o.discardReason : o.outIfIndex}`;
      interfaces[key] = (interfaces[key] ?? 0) + 1;
    }
    // Namespaces on access ports of one bridge (27 <-> 31, 29 <-> 33): port to port, a few floods
    // (output multiple:2), and two frames dropped by a flow rule (output 0x40000100).
    expect(interfaces).toEqual({
      'ifindex:27>ifindex:31': 31_537, 'ifindex:31>ifindex:27': 14_915, 'ifindex:29>ifindex:33': 16_775, 'ifindex:33>ifindex:29': 90,
      'ifindex:27>multiple:2': 2, 'ifindex:31>multiple:2': 2, 'ifindex:29>multiple:2': 3, 'ifindex:33>multiple:2': 2, 'ifindex:3>discard:256': 2,
    });
  });
});
