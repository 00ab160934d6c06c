import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { readUdpPayloads } from '../pcap/pcap-reader.js';
import { decodeDatagram } from '../sflow/datagram.js';
import type { Datagram, SampledHeader } from '../sflow/types.js';
import { DecodeError } from '../errors.js';
import { FINGERPRINT_IP_BYTES, fingerprintHeader, flowHashOf, fnv1a64, type FlowKey } from './fingerprint.js';
import { arp, ethernet, geneve, gre, icmp, ipv4, ipv6, ipv6Fragment, tcp, udp, vxlan, type Ipv4Spec } from '../../test/support/frames.js';
import { OVS_CORPUS, capturePackets, sflowCaptures } from '../../test/support/sflow-captures.js';

const VM_A = 'fa:16:3e:00:00:0a';
const VM_B = 'fa:16:3e:00:00:0b';
const ROUTER = 'fa:16:3e:00:00:01';
const HOST_A = '02:00:00:00:01:01';
const HOST_B = '02:00:00:00:01:02';
const ETHERNET = 1;
const HP_IPV4 = 11;
const payload = (n: number, seed = 1): number[] => Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);

function v4(extra: Partial<Ipv4Spec>, body: number[], protocol = 6): number[] {
  return ipv4({ src: '192.0.2.10', dst: '198.51.100.20', protocol, id: 0x1234, ttl: 64, ...extra }, body);
}
const tcpFrame = (extra: Partial<Ipv4Spec> = {}, data = payload(100), dst = VM_B, src = VM_A): number[] =>
  ethernet(dst, src, 0x0800, v4(extra, tcp(40000, 22, 0x18, data)));

/** The frame as the receiver's br-phy samples it: outer Ethernet/IPv4 (underlay hosts) + GRE with key. */
function inGre(inner: number[], key = 0x51, protocol = 0x6558): number[] {
  return ethernet(HOST_B, HOST_A, 0x0800, ipv4({ src: '203.0.113.1', dst: '203.0.113.2', protocol: 47, ttl: 255, id: 999 }, gre({ protocol, key }, inner)));
}
function inVxlan(inner: number[], vni = 100): number[] {
  return ethernet(HOST_B, HOST_A, 0x0800, ipv4({ src: '203.0.113.1', dst: '203.0.113.2', protocol: 17, id: 7 }, udp(51234, 4789, vxlan(vni, inner))));
}
function inGeneve(inner: number[], vni = 100): number[] {
  return ethernet(HOST_B, HOST_A, 0x0800, ipv4({ src: '203.0.113.1', dst: '203.0.113.2', protocol: 17 }, udp(51234, 6081, geneve(vni, 0x6558, [0, 0, 0, 0], inner))));
}

/** What an agent with `header=128` puts in the sampled header. */
function fp(frame: number[], headerBytes = 128, protocol = ETHERNET): string | null {
  const header = Uint8Array.from(frame.slice(0, headerBytes));
  return fingerprintHeader(header, protocol, header.byteLength >= frame.length).fingerprint;
}

describe('fnv1a64', () => {
  it.each([
    { name: 'empty', input: '', want: 'cbf29ce484222325' },
    { name: 'a', input: 'a', want: 'af63dc4c8601ec8c' },
    { name: 'foobar', input: 'foobar', want: '85944171f73967e8' },
  ])('FNV-1a 64 test vector $name', ({ input, want }) => {
    expect(fnv1a64(new TextEncoder().encode(input))).toBe(want);
  });

  it('equals a BigInt FNV-1a 64 on random bytes', () => {
    const reference = (bytes: Uint8Array): string => {
      let h = 0xcbf29ce484222325n;
      for (const b of bytes) h = ((h ^ BigInt(b)) * 0x100000001b3n) & 0xffffffffffffffffn;
      return h.toString(16).padStart(16, '0');
    };
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => fnv1a64(bytes) === reference(bytes)));
  });
});

describe('fingerprintHeader: the same frame at every hop', () => {
  const base = tcpFrame();
  const want = fp(base);
  it('fingerprints a plain frame', () => {
    expect(want).toMatch(/^[0-9a-f]{16}$/);
    expect(fingerprintHeader(Uint8Array.from(base), ETHERNET, true).status).toBe('ok');
  });
  it.each([
    { name: '802.1Q tag (local VLAN on a trunk)', frame: ethernet(VM_B, VM_A, 0x0800, v4({}, tcp(40000, 22, 0x18, payload(100))), [{ tpid: 0x8100, id: 1 }]) },
    { name: 'QinQ', frame: ethernet(VM_B, VM_A, 0x0800, v4({}, tcp(40000, 22, 0x18, payload(100))), [{ tpid: 0x88a8, id: 100 }, { tpid: 0x8100, priority: 3, id: 5 }]) },
    { name: 'GRE with key, outer frame at the receiver br-phy, cut at 128 bytes', frame: inGre(base) },
    { name: 'GRE with key, inner TTL decremented', frame: inGre(tcpFrame({ ttl: 63 })) },
    { name: 'GRE with key, checksum and sequence', frame: ethernet(HOST_B, HOST_A, 0x0800, ipv4({ src: '203.0.113.9', dst: '203.0.113.2', protocol: 47 }, gre({ protocol: 0x6558, key: 7, checksum: true, sequence: 9 }, base))) },
    { name: 'GRE with an underlay VLAN tag', frame: ethernet(HOST_B, HOST_A, 0x0800, ipv4({ src: '203.0.113.1', dst: '203.0.113.2', protocol: 47 }, gre({ protocol: 0x6558, key: 1 }, base)), [{ tpid: 0x8100, id: 300 }]) },
    { name: 'VXLAN', frame: inVxlan(base) },
    { name: 'Geneve with a 4-byte option', frame: inGeneve(base) },
    { name: 'routed: MACs rewritten and TTL decremented (qrouter)', frame: tcpFrame({ ttl: 63 }, payload(100), 'fa:16:3e:00:00:0c', ROUTER) },
    { name: 'TOS/ECN changed', frame: tcpFrame({ tos: 0x03 }) },
    { name: 'IPv4 in L3 GRE (no inner Ethernet)', frame: inGre(v4({}, tcp(40000, 22, 0x18, payload(100))), 3, 0x0800) },
    { name: 'a shorter header that still holds the covered bytes', frame: base.slice(0, 14 + FINGERPRINT_IP_BYTES), header: 14 + FINGERPRINT_IP_BYTES },
    { name: 'different data after the covered bytes', frame: tcpFrame({}, [...payload(16), ...payload(84, 9)]) },
  ])('$name', ({ frame, header }) => {
    expect(fp(frame, header ?? 128)).toBe(want);
  });

  it('a frame sampled as an IPv4 header (header_protocol 11) matches the Ethernet sample', () => {
    expect(fp(v4({}, tcp(40000, 22, 0x18, payload(100))), 128, HP_IPV4)).toBe(want);
  });

  it('checksums are left out (IPv4 header, TCP)', () => {
    const frame = tcpFrame();
    const ipAt = 14;
    const changed = [...frame];
    changed[ipAt + 10] = 0xab; // IPv4 header checksum
    changed[ipAt + 20 + 16] = 0xcd; // TCP checksum
    expect(fp(changed)).toBe(want);
  });

  it.each([
    { name: 'IP id', frame: tcpFrame({ id: 0x1235 }) },
    { name: 'source address', frame: ethernet(VM_B, VM_A, 0x0800, ipv4({ src: '192.0.2.11', dst: '198.51.100.20', protocol: 6, id: 0x1234 }, tcp(40000, 22, 0x18, payload(100)))) },
    { name: 'source port', frame: ethernet(VM_B, VM_A, 0x0800, v4({}, tcp(40001, 22, 0x18, payload(100)))) },
    { name: 'TCP flags', frame: ethernet(VM_B, VM_A, 0x0800, v4({}, tcp(40000, 22, 0x10, payload(100)))) },
    { name: 'a data byte inside the covered bytes', frame: tcpFrame({}, [...payload(15), 0xee, ...payload(84)]) },
    { name: 'total length', frame: tcpFrame({}, payload(101)) },
    { name: 'fragment offset', frame: tcpFrame({ fragmentOffset: 8 }) },
  ])('a different $name gives a different fingerprint', ({ frame }) => {
    expect(fp(frame)).not.toBe(want);
  });

  it('ICMP echo: identifier and sequence are covered, the checksum is not', () => {
    const ping = (seq: number, checksum = 0): number[] => {
      const body = icmp(8, 0, [0x12, 0x34, 0, seq, ...payload(56)]);
      body[2] = checksum;
      return ethernet(VM_B, VM_A, 0x0800, v4({}, body, 1));
    };
    expect(fp(ping(1))).toBe(fp(inGre(ping(1, 0x55))));
    expect(fp(ping(1))).not.toBe(fp(ping(2)));
  });

  it('UDP with IP id 0: the data tells frames apart; the UDP checksum is left out', () => {
    const dgram = (data: number[], checksum = 0): number[] => {
      const body = udp(5353, 53, data);
      body[7] = checksum;
      return ethernet(VM_B, VM_A, 0x0800, v4({ id: 0 }, body, 17));
    };
    expect(fp(dgram(payload(40, 1)))).toBe(fp(inVxlan(dgram(payload(40, 1), 0x77))));
    expect(fp(dgram(payload(40, 1)))).not.toBe(fp(dgram(payload(40, 2))));
  });

  it('Ethernet padding of a short frame is not covered (the IP length bounds it)', () => {
    const short = ethernet(VM_B, VM_A, 0x0800, v4({}, tcp(40000, 22, 0x10)));
    expect(fp([...short, 0, 0, 0, 0, 0, 0])).toBe(fp(short));
    expect(fp([...short, 1, 2, 3, 4, 5, 6])).toBe(fp(inGre(short)));
  });

  it('IPv6: hop limit and traffic class are left out, flow label and data are covered', () => {
    const frame = (hopLimit: number, trafficClass: number, data: number[]): number[] =>
      ethernet(VM_B, VM_A, 0x86dd, ipv6({ src: '2001:db8::a', dst: '2001:db8::b', next: 17, hopLimit, trafficClass }, udp(5000, 5001, data)));
    const a = fp(frame(64, 0, payload(40)));
    expect(a).not.toBeNull();
    expect(fp(inGre(frame(63, 0xb8, payload(40))))).toBe(a);
    expect(fp(frame(64, 0, payload(40, 5)))).not.toBe(a);
    const labelled = frame(64, 0, payload(40));
    labelled[14 + 3] = 0x42; // flow label low byte
    expect(fp(labelled)).not.toBe(a);
  });

  it('IPv6 fragments: the fragment id is covered', () => {
    const frag = (id: number): number[] => ethernet(VM_B, VM_A, 0x86dd, ipv6({ src: '2001:db8::a', dst: '2001:db8::b', next: 44 }, ipv6Fragment(17, 0, true, id, udp(1, 2, payload(60)))));
    expect(fp(frag(1))).toBe(fp(inVxlan(frag(1))));
    expect(fp(frag(1))).not.toBe(fp(frag(2)));
  });

  it('ARP: MACs and body are covered; the same request matches inside a tunnel', () => {
    const request = (target: string): number[] => ethernet('ff:ff:ff:ff:ff:ff', VM_A, 0x0806, arp(1, VM_A, '192.0.2.10', '00:00:00:00:00:00', target));
    expect(fp(request('192.0.2.20'))).toBe(fp(inVxlan(request('192.0.2.20'))));
    expect(fp(request('192.0.2.20'))).not.toBe(fp(request('192.0.2.21')));
    expect(fp(request('192.0.2.20'))).toBe(fp([...request('192.0.2.20'), ...new Array<number>(18).fill(0)]));
  });

  it.each([
    { name: 'the receiver br-phy header cut inside the inner TCP header', frame: inGre(base), header: 42 + 14 + 30, status: 'cut' },
    { name: 'a plain frame cut before the covered bytes end', frame: base, header: 14 + FINGERPRINT_IP_BYTES - 1, status: 'cut' },
    { name: 'cut inside the outer GRE header', frame: inGre(base), header: 14 + 20 + 6, status: 'cut' },
    { name: 'a non-IP frame cut before 28 bytes of body', frame: ethernet(VM_B, VM_A, 0x88cc, payload(100)), header: 14 + 20, status: 'cut' },
    { name: 'a whole non-IP frame shorter than 28 bytes of body', frame: ethernet(VM_B, VM_A, 0x88cc, payload(20)), header: 128, status: 'ok' },
  ])('$name: status $status', ({ frame, header, status }) => {
    const bytes = Uint8Array.from(frame.slice(0, header));
    const result = fingerprintHeader(bytes, ETHERNET, bytes.byteLength >= frame.length);
    expect(result.status).toBe(status);
    expect(result.fingerprint === null).toBe(status !== 'ok');
  });

  it('header protocols other than Ethernet, IPv4, IPv6 are unsupported', () => {
    expect(fingerprintHeader(Uint8Array.from(base), 2, true)).toEqual({ fingerprint: null, status: 'unsupported' });
  });

  it('is the same whatever encapsulation or tag, and differs with the IP id (random frames)', () => {
    const frameArb = fc.record({
      src: fc.ipV4(), dst: fc.ipV4(), id: fc.integer({ min: 0, max: 0xffff }), ttl: fc.integer({ min: 2, max: 255 }),
      protocol: fc.constantFrom(1, 6, 17), sport: fc.integer({ min: 1, max: 0xffff }), dport: fc.integer({ min: 1, max: 0xffff }),
      data: fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 300 }), vlan: fc.integer({ min: 1, max: 4094 }), key: fc.integer({ min: 0, max: 0xffffff }),
    });
    fc.assert(fc.property(frameArb, (f) => {
      const l4 = f.protocol === 6 ? tcp(f.sport, f.dport, 0x18, f.data) : f.protocol === 17 ? udp(f.sport, f.dport, f.data) : icmp(8, 0, [1, 2, 3, 4, ...f.data]);
      const frame = (id: number, ttl: number, tags: { tpid: number; id: number }[] = []): number[] =>
        ethernet(VM_B, VM_A, 0x0800, ipv4({ src: f.src, dst: f.dst, protocol: f.protocol, id, ttl }, l4), tags);
      const plain = fp(frame(f.id, f.ttl));
      expect(plain).not.toBeNull();
      expect(fp(frame(f.id, f.ttl - 1, [{ tpid: 0x8100, id: f.vlan }]))).toBe(plain);
      expect(fp(inGre(frame(f.id, f.ttl - 1), f.key))).toBe(plain);
      expect(fp(inVxlan(frame(f.id, f.ttl), f.key))).toBe(plain);
      expect(fp(frame((f.id + 1) & 0xffff, f.ttl))).not.toBe(plain);
    }), { numRuns: 300 });
  });
});

describe('fingerprintHeader on real captures', () => {
  function sampledHeaders(datagrams: Iterable<Datagram>): SampledHeader[] {
    const out: SampledHeader[] = [];
    for (const d of datagrams) {
      for (const s of d.samples) {
        if (s.kind !== 'flow' && s.kind !== 'discard') continue;
        for (const r of s.records) if (r.kind === 'sampled_header') out.push(r);
      }
    }
    return out;
  }
  function decodeAll(name: string): Datagram[] {
    const out: Datagram[] = [];
    for (const p of capturePackets(name)) {
      try {
        out.push(decodeDatagram(p.payload));
      } catch (error) {
        if (!(error instanceof DecodeError)) throw error; // not sFlow v5: the decoder tests cover it
      }
    }
    return out;
  }

  it.each(sflowCaptures())('%s: a sampled header holding its whole IP frame gets a fingerprint; none without a packet', (name) => {
    for (const r of sampledHeaders(decodeAll(name))) {
      const whole = r.headerLength >= r.frameLength - r.stripped;
      const result = fingerprintHeader(r.header, r.headerProtocol, whole);
      expect(result.fingerprint === null).toBe(result.status !== 'ok');
      if (r.packet === null) {
        expect(result.status).toBe('unsupported');
        continue;
      }
      let inner = r.packet;
      while (inner.inner !== null) inner = inner.inner;
      if (whole && inner.truncatedAt === null && inner.ipVersion !== null) expect(result.status).toBe('ok');
      if (result.status === 'ok') expect(result.fingerprint).toMatch(/^[0-9a-f]{16}$/);
      else expect(result.status).toBe('cut'); // an Ethernet/IP header is never 'unsupported'
    }
  });

  it('akvorado-encap-vxlan: the VXLAN outer frame fingerprints as its inner frame alone', () => {
    const [r] = sampledHeaders(decodeAll('akvorado-encap-vxlan'));
    expect(r?.packet?.tunnel?.type).toBe('vxlan');
    if (r === undefined) return;
    const innerAt = 14 + 20 + 8 + 8; // outer Ethernet (untagged), IPv4 without options, UDP, VXLAN
    expect(r.packet?.vlans).toEqual([]);
    const outer = fingerprintHeader(r.header, 1, false);
    expect(outer.status).toBe('ok');
    expect(fingerprintHeader(r.header.subarray(innerAt), 1, false)).toEqual(outer);
  });

  it('ovs-sflow-10k: every one of the 63,328 frames (one bridge: one sample per frame) has its own fingerprint', () => {
    const datagrams = [...readUdpPayloads(readFileSync(OVS_CORPUS), 'ovs-sflow-10k.pcap')].map((p) => decodeDatagram(p.payload));
    const seen = new Set<string>();
    let ok = 0;
    for (const r of sampledHeaders(datagrams)) {
      const result = fingerprintHeader(r.header, r.headerProtocol, r.headerLength >= r.frameLength - r.stripped);
      if (result.fingerprint === null) continue;
      ok++;
      seen.add(result.fingerprint);
    }
    expect(ok).toBe(63_328);
    expect(seen.size).toBe(63_328);
  });
});

describe('flowHashOf', () => {
  const key: FlowKey = {
    srcMac: VM_A, dstMac: VM_B, etherType: 0x0800, ipVersion: 4, srcIp: '192.0.2.10', dstIp: '198.51.100.20', ipProtocol: 6,
    srcPort: 40000, dstPort: 22, icmpType: null, icmpCode: null, tunnelId: null,
  };
  const want = flowHashOf(key);
  it.each([
    { name: 'other MACs (a router hop)', change: { srcMac: ROUTER, dstMac: HOST_B } },
    { name: 'a tunnel id (seen only inside the tunnel)', change: { tunnelId: 0x51 } },
  ])('ignores $name', ({ change }) => {
    expect(flowHashOf({ ...key, ...change })).toBe(want);
  });
  it.each([
    { name: 'source port', change: { srcPort: 40001 } },
    { name: 'protocol', change: { ipProtocol: 17 } },
    { name: 'direction', change: { srcIp: '198.51.100.20', dstIp: '192.0.2.10' } },
    { name: 'address split', change: { srcIp: '192.0.2.1', dstIp: '0198.51.100.20' } },
  ])('depends on $name', ({ change }) => {
    expect(flowHashOf({ ...key, ...change })).not.toBe(want);
  });
  it('non-IP: MACs and EtherType; nothing to hash: null', () => {
    const arpKey: FlowKey = { ...key, etherType: 0x0806, ipVersion: null, srcIp: null, dstIp: null, ipProtocol: null, srcPort: null, dstPort: null };
    expect(flowHashOf(arpKey)).toMatch(/^[0-9a-f]{16}$/);
    expect(flowHashOf({ ...arpKey, srcMac: ROUTER })).not.toBe(flowHashOf(arpKey));
    expect(flowHashOf({ ...arpKey, srcMac: null, dstMac: null })).toBeNull();
  });
});
