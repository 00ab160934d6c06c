import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ParseError } from '../errors.js';
import { LINK_TYPE, readUdpPayloads } from './pcap-reader.js';
import { captureBytes, OVS_CORPUS } from '../../test/support/sflow-captures.js';
import { arp, ethernet, ipv4, ipv6, ipv6Options, tcp, udp } from '../../test/support/frames.js';

const A = '02:00:00:00:00:0a';
const B = '02:00:00:00:00:0b';
const PAYLOAD = [0, 0, 0, 5, 1, 2, 3, 4];
const ip4udp = (payload = PAYLOAD, extra: Partial<Parameters<typeof ipv4>[0]> = {}): number[] =>
  ipv4({ src: '192.0.2.1', dst: '198.51.100.2', protocol: 17, ...extra }, udp(50000, 6343, payload));
const ip6udp = (payload = PAYLOAD): number[] => ipv6({ src: '2001:db8::1', dst: '2001:db8::2', next: 17 }, udp(50001, 6343, payload));

// ---------- capture files built in the test ----------

class Bytes {
  readonly out: number[] = [];
  readonly littleEndian: boolean;
  constructor(littleEndian: boolean) {
    this.littleEndian = littleEndian;
  }
  u16(v: number): this {
    if (this.littleEndian) this.out.push(v & 0xff, (v >>> 8) & 0xff);
    else this.out.push((v >>> 8) & 0xff, v & 0xff);
    return this;
  }
  u32(v: number): this {
    const b = [(v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff];
    this.out.push(...(this.littleEndian ? b.reverse() : b));
    return this;
  }
  raw(bytes: readonly number[]): this {
    this.out.push(...bytes);
    return this;
  }
  pad(): this {
    while (this.out.length % 4 !== 0) this.out.push(0);
    return this;
  }
}

interface Frame { seconds: number; fraction: number; data: number[] }

function pcapFile(options: { littleEndian: boolean; nanoseconds: boolean; linkType: number }, frames: readonly Frame[]): Uint8Array {
  const w = new Bytes(options.littleEndian).u32(options.nanoseconds ? 0xa1b23c4d : 0xa1b2c3d4).u16(2).u16(4).u32(0).u32(0).u32(65535).u32(options.linkType);
  for (const f of frames) w.u32(f.seconds).u32(f.fraction).u32(f.data.length).u32(f.data.length).raw(f.data);
  return Uint8Array.from(w.out);
}

type NgBlock = { type: 'idb'; linkType: number; tsresol?: number } | { type: 'epb'; interfaceId: number; timestamp: bigint; data: number[] }
  | { type: 'spb'; data: number[] } | { type: 'other' };

function pcapngSection(littleEndian: boolean, blocks: readonly NgBlock[]): number[] {
  const out: number[] = [];
  const block = (type: number, body: Bytes): void => {
    body.pad();
    const total = body.out.length + 12;
    out.push(...new Bytes(littleEndian).u32(type).u32(total).out, ...body.out, ...new Bytes(littleEndian).u32(total).out);
  };
  block(0x0a0d0d0a, new Bytes(littleEndian).u32(0x1a2b3c4d).u16(1).u16(0).u32(0xffffffff).u32(0xffffffff));
  for (const b of blocks) {
    const body = new Bytes(littleEndian);
    if (b.type === 'idb') {
      body.u16(b.linkType).u16(0).u32(0);
      if (b.tsresol !== undefined) body.u16(9).u16(1).raw([b.tsresol]).pad().u16(0).u16(0);
      block(1, body);
    } else if (b.type === 'epb') {
      body.u32(b.interfaceId).u32(Number(b.timestamp >> 32n)).u32(Number(b.timestamp & 0xffffffffn)).u32(b.data.length).u32(b.data.length).raw(b.data);
      block(6, body);
    } else if (b.type === 'spb') {
      block(3, body.u32(b.data.length).raw(b.data));
    } else {
      block(5, body.u32(0).u32(0).u32(0)); // interface statistics: not a packet
    }
  }
  return out;
}

const udpPackets = (bytes: Uint8Array): { frame: number; srcIp: string; dstIp: string; srcPort: number; dstPort: number; timestampMs: number; payload: number[] }[] =>
  [...readUdpPayloads(bytes, 'test')].map((p) => ({ ...p, payload: [...p.payload] }));

describe('readUdpPayloads on classic pcap', () => {
  it.each([
    { name: 'little-endian, microseconds', littleEndian: true, nanoseconds: false, fraction: 250_000 },
    { name: 'big-endian, microseconds', littleEndian: false, nanoseconds: false, fraction: 250_000 },
    { name: 'little-endian, nanoseconds', littleEndian: true, nanoseconds: true, fraction: 250_000_000 },
    { name: 'big-endian, nanoseconds', littleEndian: false, nanoseconds: true, fraction: 250_000_000 },
  ])('$name', ({ littleEndian, nanoseconds, fraction }) => {
    const bytes = pcapFile({ littleEndian, nanoseconds, linkType: LINK_TYPE.ETHERNET }, [{ seconds: 946_684_800, fraction, data: ethernet(B, A, 0x0800, ip4udp()) }]);
    expect(udpPackets(bytes)).toEqual([{ frame: 1, timestampMs: 946_684_800_250, srcIp: '192.0.2.1', srcPort: 50000, dstIp: '198.51.100.2', dstPort: 6343, payload: PAYLOAD }]);
  });

  it.each([
    { name: 'Ethernet with 802.1Q and 802.1ad tags', linkType: LINK_TYPE.ETHERNET, data: ethernet(B, A, 0x0800, ip4udp(), [{ tpid: 0x88a8, id: 5 }, { tpid: 0x8100, id: 6 }]) },
    { name: 'Ethernet / IPv6', linkType: LINK_TYPE.ETHERNET, data: ethernet(B, A, 0x86dd, ip6udp()), v6: true },
    { name: 'IPv6 hop-by-hop header before UDP', linkType: LINK_TYPE.ETHERNET, data: ethernet(B, A, 0x86dd, ipv6({ src: '2001:db8::1', dst: '2001:db8::2', next: 0 }, ipv6Options(17, udp(50001, 6343, PAYLOAD)))), v6: true },
    { name: 'raw IP (101), IPv4', linkType: LINK_TYPE.RAW, data: ip4udp() },
    { name: 'raw IP (101), IPv6', linkType: LINK_TYPE.RAW, data: ip6udp(), v6: true },
    { name: 'IPv4 (228)', linkType: LINK_TYPE.IPV4, data: ip4udp() },
    { name: 'IPv6 (229)', linkType: LINK_TYPE.IPV6, data: ip6udp(), v6: true },
    { name: 'null/loopback, little-endian family', linkType: LINK_TYPE.NULL, data: [2, 0, 0, 0, ...ip4udp()] },
    { name: 'null/loopback, big-endian family', linkType: LINK_TYPE.NULL, data: [0, 0, 0, 2, ...ip4udp()] },
    { name: 'null/loopback, IPv6 (FreeBSD 28)', linkType: LINK_TYPE.NULL, data: [28, 0, 0, 0, ...ip6udp()], v6: true },
    { name: 'Linux cooked SLL (113)', linkType: LINK_TYPE.LINUX_SLL, data: [0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 0, 0xa, 0, 0x08, 0x00, ...ip4udp()] },
    { name: 'Linux cooked SLL2 (276)', linkType: LINK_TYPE.LINUX_SLL2, data: [0x86, 0xdd, 0, 0, 0, 0, 0, 3, 0, 1, 0, 6, 2, 0, 0, 0, 0, 0, 0xa, 0, ...ip6udp()], v6: true },
  ])('link type: $name', ({ linkType, data, v6 }) => {
    const [packet] = udpPackets(pcapFile({ littleEndian: true, nanoseconds: false, linkType }, [{ seconds: 1, fraction: 0, data }]));
    expect(packet).toMatchObject(v6 === true
      ? { frame: 1, srcIp: '2001:db8::1', dstIp: '2001:db8::2', srcPort: 50001, dstPort: 6343, payload: PAYLOAD }
      : { frame: 1, srcIp: '192.0.2.1', dstIp: '198.51.100.2', srcPort: 50000, dstPort: 6343, payload: PAYLOAD });
  });

  it('numbers every frame, skips (and counts) what is not whole IPv4/IPv6 UDP', () => {
    const frames = [
      ethernet(B, A, 0x0806, arp(1, A, '192.0.2.1', B, '192.0.2.2')),
      ethernet(B, A, 0x0800, ipv4({ src: '192.0.2.1', dst: '192.0.2.2', protocol: 6 }, tcp(1, 2, 0x02))),
      ethernet(B, A, 0x0800, ip4udp(PAYLOAD, { moreFragments: true })), // first fragment
      ethernet(B, A, 0x0800, ip4udp(PAYLOAD, { fragmentOffset: 100 })), // later fragment
      ethernet(B, A, 0x0800, ip4udp([9, 9, 9, 9])),
      ethernet(B, A, 0x0800, ip4udp()).slice(0, 14 + 20 + 4), // cut inside the UDP header
    ].map((data) => ({ seconds: 1, fraction: 0, data }));
    const result = readUdpPayloads(pcapFile({ littleEndian: true, nanoseconds: false, linkType: LINK_TYPE.ETHERNET }, frames), 'test');
    expect([...result].map((p) => [p.frame, [...p.payload]])).toEqual([[5, [9, 9, 9, 9]]]);
    expect(result.counts).toEqual({ frames: 6, udp: 1, fragments: 2, notUdp: 2, truncated: 1 });
  });

  it('takes the payload length from the IP header, not the UDP length, and never past the captured bytes', () => {
    const lying = ethernet(B, A, 0x0800, ip4udp([1, 2, 3, 4, 5, 6, 7, 8]));
    lying[14 + 20 + 4] = 0; // UDP length field: 16 on the wire, made to say 9
    lying[14 + 20 + 5] = 9;
    const padded = [...ethernet(B, A, 0x0800, ip4udp([1, 2])), 0, 0, 0, 0, 0, 0, 0, 0]; // Ethernet padding after the IP packet
    const cut = ethernet(B, A, 0x0800, ip4udp([1, 2, 3, 4, 5, 6, 7, 8])).slice(0, -3); // snap length inside the payload
    const packets = udpPackets(pcapFile({ littleEndian: true, nanoseconds: false, linkType: LINK_TYPE.ETHERNET }, [lying, padded, cut].map((data) => ({ seconds: 1, fraction: 0, data }))));
    expect(packets.map((p) => p.payload)).toEqual([[1, 2, 3, 4, 5, 6, 7, 8], [1, 2], [1, 2, 3, 4, 5]]);
  });

  it.each([
    { name: 'not a capture', bytes: Uint8Array.from([0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0, 0]), code: 'bad-magic', offset: 0 },
    { name: 'shorter than a magic number', bytes: Uint8Array.from([0xd4, 0xc3]), code: 'truncated', offset: 0 },
    { name: 'a file header cut short', bytes: pcapFile({ littleEndian: true, nanoseconds: false, linkType: 1 }, []).subarray(0, 20), code: 'truncated', offset: 0 },
  ])('throws ParseError at once for $name', ({ bytes, code, offset }) => {
    expect(() => readUdpPayloads(bytes, 'bad.pcap')).toThrow(ParseError);
    expect(() => readUdpPayloads(bytes, 'bad.pcap')).toThrow(expect.objectContaining({ code, source: 'bad.pcap', offset }));
  });

  it('throws unsupported for a link type it does not read (802.11, 105)', () => {
    const bytes = pcapFile({ littleEndian: false, nanoseconds: false, linkType: 105 }, []);
    expect(() => readUdpPayloads(bytes, 'wifi.pcap')).toThrow(expect.objectContaining({ code: 'unsupported', source: 'wifi.pcap', offset: 20 }));
  });

  it.each([
    { name: 'a record header', cut: 24 + 16 + 50 + 10, offset: 24 + 16 + 50 },
    { name: 'a record body', cut: 24 + 16 + 50 + 16 + 20, offset: 24 + 16 + 50 },
  ])('throws truncated with the offset of the record when the file ends inside $name', ({ cut, offset }) => {
    const frame = ethernet(B, A, 0x0800, ip4udp(new Array<number>(50 - 14 - 28).fill(7)));
    expect(frame).toHaveLength(50);
    const bytes = pcapFile({ littleEndian: true, nanoseconds: false, linkType: 1 }, [{ seconds: 1, fraction: 0, data: frame }, { seconds: 2, fraction: 0, data: frame }]).subarray(0, cut);
    const it = readUdpPayloads(bytes, 'cut.pcap')[Symbol.iterator]();
    expect(it.next().value).toMatchObject({ frame: 1 });
    expect(() => it.next()).toThrow(expect.objectContaining({ code: 'truncated', source: 'cut.pcap', offset }));
  });
});

describe("readUdpPayloads with cutShort: 'stop' (a capture cut short, as tcpdump reads it)", () => {
  const frame = ethernet(B, A, 0x0800, ip4udp(new Array<number>(50 - 14 - 28).fill(7))); // 50 bytes
  const twoRecords = (): Uint8Array => pcapFile({ littleEndian: true, nanoseconds: false, linkType: 1 }, [{ seconds: 1, fraction: 0, data: frame }, { seconds: 2, fraction: 0, data: frame }]);

  it.each([
    { name: 'a record header', cut: 24 + 16 + 50 + 10, detail: 'a record header needs 16 bytes, 10 left' },
    { name: 'a record body', cut: 24 + 16 + 50 + 16 + 20, detail: 'a record of 50 bytes runs past the end' },
  ])('yields the complete records before $name the file ends in, then says where', ({ cut, detail }) => {
    const result = readUdpPayloads(twoRecords().subarray(0, cut), 'cut.pcap', { cutShort: 'stop' });
    expect([...result].map((p) => p.frame)).toEqual([1]);
    expect(result.counts).toMatchObject({ frames: 1, udp: 1 });
    expect(result.cutShort).toMatchObject({ offset: 24 + 16 + 50, detail, frames: 1, message: `cut.pcap: capture cut short at byte 90 (${detail}): read the 1 complete record before it` });
    expect(result.cutShort?.error).toMatchObject({ code: 'truncated', source: 'cut.pcap', offset: 90 });
  });

  it('leaves cutShort undefined for a whole file, and for one cut at a record boundary', () => {
    for (const bytes of [twoRecords(), twoRecords().subarray(0, 24 + 16 + 50)]) {
      const result = readUdpPayloads(bytes, 'whole.pcap', { cutShort: 'stop' });
      expect([...result].length).toBeGreaterThan(0);
      expect(result.cutShort).toBeUndefined();
    }
  });

  it('says "no complete record" when the first record is cut, and counts afresh on a second iteration', () => {
    const result = readUdpPayloads(twoRecords().subarray(0, 24 + 30), 'one.pcap', { cutShort: 'stop' });
    expect([...result]).toEqual([]);
    expect(result.cutShort?.message).toBe('one.pcap: capture cut short at byte 24 (a record of 50 bytes runs past the end): no complete record before it');
    expect([...result]).toEqual([]);
    expect(result.counts.frames).toBe(0);
    expect(result.cutShort?.offset).toBe(24);
  });

  it('still throws for a file header cut short or a file that is not a capture', () => {
    expect(() => readUdpPayloads(twoRecords().subarray(0, 20), 'h.pcap', { cutShort: 'stop' })).toThrow(expect.objectContaining({ code: 'truncated', offset: 0 }));
    expect(() => readUdpPayloads(Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8]), 'x.pcap', { cutShort: 'stop' })).toThrow(expect.objectContaining({ code: 'bad-magic' }));
  });

  it('pcapng: yields the packets before a block the file ends inside; a cut first section header still throws', () => {
    const packet = { type: 'epb', interfaceId: 0, timestamp: 0n, data: ethernet(B, A, 0x0800, ip4udp()) } as const;
    const whole = pcapngSection(true, [{ type: 'idb', linkType: 1 }, packet, packet]);
    const epb = (whole.length - 28 - 20) / 2;
    const result = readUdpPayloads(Uint8Array.from(whole.slice(0, whole.length - 6)), 'x.pcapng', { cutShort: 'stop' });
    expect([...result].map((p) => p.frame)).toEqual([1]);
    expect(result.cutShort).toMatchObject({ offset: 28 + 20 + epb, detail: `a block of ${epb} bytes runs past the end`, frames: 1 });
    expect(result.cutShort?.message).toMatch(/: read the 1 complete packet block before it$/);
    const headerOnly = readUdpPayloads(Uint8Array.from(whole.slice(0, 28 + 20 + epb + 5)), 'y.pcapng', { cutShort: 'stop' });
    expect([...headerOnly]).toHaveLength(1);
    expect(headerOnly.cutShort?.detail).toBe('a block header needs 12 bytes, 5 left');
    expect(() => [...readUdpPayloads(Uint8Array.from(whole.slice(0, 20)), 'z.pcapng', { cutShort: 'stop' })]).toThrow(expect.objectContaining({ code: 'truncated', offset: 0 }));
  });

  it.each([
    { cut: 1000, frames: [1], read: 'read the 1 complete record before it' },
    { cut: 2000, frames: [1, 2, 3, 4], read: 'read the 4 complete records before it' },
  ])('reads the complete records of the lab capture cut at $cut bytes (those tshark reads)', ({ cut, frames, read }) => {
    const bytes = readFileSync(new URL('../../test/fixtures/lab-capture/sflow.pcap', import.meta.url)).subarray(0, cut);
    expect(() => [...readUdpPayloads(bytes, 't.pcap')]).toThrow(expect.objectContaining({ code: 'truncated' }));
    const result = readUdpPayloads(bytes, 't.pcap', { cutShort: 'stop' });
    expect([...result].map((p) => p.frame)).toEqual(frames);
    expect(result.cutShort?.message).toMatch(new RegExp(`^t\\.pcap: capture cut short at byte \\d+ \\(a record of \\d+ bytes runs past the end\\): ${read}$`));
    if (cut === 1000) expect(result.cutShort).toMatchObject({ offset: 538, detail: 'a record of 498 bytes runs past the end' });
  });
});

describe('readUdpPayloads on pcapng', () => {
  it.each([true, false])('reads EPB and SPB, per-interface link type and tsresol (little-endian %s)', (littleEndian) => {
    const bytes = Uint8Array.from(pcapngSection(littleEndian, [
      { type: 'idb', linkType: LINK_TYPE.ETHERNET },
      { type: 'idb', linkType: LINK_TYPE.RAW, tsresol: 9 },
      { type: 'epb', interfaceId: 0, timestamp: 946_684_800_250_000n, data: ethernet(B, A, 0x0800, ip4udp()) },
      { type: 'other' },
      { type: 'epb', interfaceId: 1, timestamp: 946_684_800_500_000_000n, data: ip6udp([7]) },
      { type: 'epb', interfaceId: 0, timestamp: 0n, data: ethernet(B, A, 0x0806, arp(2, A, '192.0.2.1', B, '192.0.2.2')) },
      { type: 'spb', data: ethernet(B, A, 0x0800, ip4udp([1, 2, 3])) },
    ]));
    const result = readUdpPayloads(bytes, 'test.pcapng');
    expect([...result].map((p) => ({ frame: p.frame, timestampMs: p.timestampMs, srcIp: p.srcIp, payload: [...p.payload] }))).toEqual([
      { frame: 1, timestampMs: 946_684_800_250, srcIp: '192.0.2.1', payload: PAYLOAD },
      { frame: 2, timestampMs: 946_684_800_500, srcIp: '2001:db8::1', payload: [7] },
      { frame: 4, timestampMs: 0, srcIp: '192.0.2.1', payload: [1, 2, 3] },
    ]);
    expect(result.counts).toMatchObject({ frames: 4, udp: 3, notUdp: 1 });
  });

  it('starts over with each section: its own byte order and interfaces', () => {
    const bytes = Uint8Array.from([
      ...pcapngSection(true, [{ type: 'idb', linkType: LINK_TYPE.ETHERNET }, { type: 'epb', interfaceId: 0, timestamp: 1_000_000n, data: ethernet(B, A, 0x0800, ip4udp([1])) }]),
      ...pcapngSection(false, [{ type: 'idb', linkType: LINK_TYPE.IPV4 }, { type: 'epb', interfaceId: 0, timestamp: 2_000_000n, data: ip4udp([2]) }]),
    ]);
    expect(udpPackets(bytes).map((p) => [p.frame, p.timestampMs, p.payload])).toEqual([[1, 1000, [1]], [2, 2000, [2]]]);
  });

  it('throws unsupported at an interface block with a link type it does not read', () => {
    const bytes = Uint8Array.from(pcapngSection(true, [{ type: 'idb', linkType: 127 }]));
    expect(() => [...readUdpPayloads(bytes, 'x.pcapng')]).toThrow(expect.objectContaining({ code: 'unsupported', offset: 28 + 8 }));
  });

  it('throws bad-format for a packet on an interface the section did not describe', () => {
    const bytes = Uint8Array.from(pcapngSection(true, [{ type: 'epb', interfaceId: 0, timestamp: 0n, data: ip4udp() }]));
    expect(() => [...readUdpPayloads(bytes, 'x.pcapng')]).toThrow(expect.objectContaining({ code: 'bad-format', source: 'x.pcapng', offset: 28 }));
  });

  it('throws truncated when a block runs past the end of the file', () => {
    const whole = pcapngSection(true, [{ type: 'idb', linkType: 1 }, { type: 'epb', interfaceId: 0, timestamp: 0n, data: ethernet(B, A, 0x0800, ip4udp()) }]);
    const bytes = Uint8Array.from(whole.slice(0, whole.length - 6));
    expect(() => [...readUdpPayloads(bytes, 'x.pcapng')]).toThrow(expect.objectContaining({ code: 'truncated', offset: 28 + 20 }));
  });
});

describe('readUdpPayloads on the shared captures', () => {
  it('numbers the frames of tcpdump-sflow_multiple_counter_30_pdus as tshark does, non-sFlow ones included', () => {
    const packets = [...readUdpPayloads(captureBytes('tcpdump-sflow_multiple_counter_30_pdus'), 'x')];
    expect(packets.map((p) => p.frame)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
    expect(packets[12]).toMatchObject({ frame: 13, srcIp: '168.87.240.2', srcPort: 40000, dstIp: '15.184.3.9', dstPort: 6343 });
    expect(packets[12]?.payload.byteLength).toBe(72);
  });

  it('ignores the false UDP length of tcpdump-sflow_print-segv (16) and uses the IP total length (896)', () => {
    const [packet] = [...readUdpPayloads(captureBytes('tcpdump-sflow_print-segv'), 'x')];
    expect(packet?.payload.byteLength).toBe(896 - 20 - 8);
  });

  it('reads the IPv6 transport of tcpdump-sflow-print-v6', () => {
    const [packet] = [...readUdpPayloads(captureBytes('tcpdump-sflow-print-v6'), 'x')];
    expect(packet).toMatchObject({ frame: 1, srcIp: '30::1:1:1', dstIp: '20::1:1:2', dstPort: 6343 });
  });

  it('stamps wrapped captures from 2000-01-01', () => {
    const [packet] = [...readUdpPayloads(captureBytes('gopacket-packet13-appresources-ovsdb-counter'), 'x')];
    expect(packet?.timestampMs).toBe(Date.UTC(2000, 0, 1));
  });

  it('reads the 10,000 datagrams of the OVS corpus (127.0.0.1 -> 127.0.0.1:6343)', () => {
    const result = readUdpPayloads(readFileSync(OVS_CORPUS), 'ovs-sflow-10k.pcap');
    const packets = [...result];
    expect(packets).toHaveLength(10_000);
    expect(result.counts).toEqual({ frames: 10_000, udp: 10_000, fragments: 0, notUdp: 0, truncated: 0 });
    expect(new Set(packets.map((p) => `${p.srcIp}>${p.dstIp}:${p.dstPort}`))).toEqual(new Set(['127.0.0.1>127.0.0.1:6343']));
    const last = packets[packets.length - 1];
    expect(((last?.timestampMs ?? 0) - (packets[0]?.timestampMs ?? 0)) / 1000).toBeCloseTo(7.1, 1);
  });
});
