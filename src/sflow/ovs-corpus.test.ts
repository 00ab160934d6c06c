// The real Open vSwitch corpus (../shared/testdata/corpus/ovs-sflow-10k.pcap, OVS 3.1.0, userspace
// datapath, header=128 sampling=1 polling=2) decodes to exactly the counts its README lists.
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { readUdpPayloads, type UdpPacket } from '../pcap/pcap-reader.js';
import { decodeDatagram } from './datagram.js';
import type { Datagram } from './types.js';
import { OVS_CORPUS } from '../../test/support/sflow-captures.js';

function histogram(values: Iterable<string | number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const v of values) out[String(v)] = (out[String(v)] ?? 0) + 1;
  return out;
}

describe('ovs-sflow-10k.pcap (corpus README counts)', () => {
  let packets: UdpPacket[] = [];
  let datagrams: Datagram[] = [];
  beforeAll(() => {
    packets = [...readUdpPayloads(readFileSync(OVS_CORPUS), 'ovs-sflow-10k.pcap')];
    datagrams = packets.map((p) => decodeDatagram(p.payload));
  });

  it('has 10,000 datagrams from agent 127.0.0.1 sub-agent 0, none with issues or unknown records', () => {
    expect(datagrams).toHaveLength(10_000);
    expect(new Set(datagrams.map((d) => `${d.agent}/${d.subAgentId}`))).toEqual(new Set(['127.0.0.1/0']));
    expect(datagrams.filter((d) => d.issues.length > 0 || d.unknownRecords > 0 || d.malformedRecords > 0)).toEqual([]);
    expect(datagrams.every((d) => d.samples.length === d.numSamples)).toBe(true);
  });

  it('has the listed sFlow payload sizes', () => {
    const sizes = packets.map((p) => p.payload.byteLength).sort((a, b) => a - b);
    const total = sizes.reduce((a, b) => a + b, 0);
    expect({ min: sizes[0], median: sizes[sizes.length / 2], mean: Math.round(total / sizes.length), max: sizes[sizes.length - 1], total })
      .toEqual({ min: 248, median: 1324, mean: 1317, max: 1396, total: 13_174_384 });
  });

  it('has 63,352 samples: 63,328 flow (format 1) and 24 counter (format 2)', () => {
    const samples = datagrams.flatMap((d) => d.samples);
    expect(samples).toHaveLength(63_352);
    expect(histogram(samples.map((s) => `${s.kind}${'expanded' in s && s.expanded ? '-expanded' : ''}`))).toEqual({ flow: 63_328, counter: 24 });
  });

  it('has 6, 7 or 8 samples per datagram but for 8 datagrams of 1-4', () => {
    const perDatagram = histogram(datagrams.map((d) => (d.samples.length <= 4 ? '1-4' : d.samples.length)));
    expect(perDatagram).toEqual({ 6: 7_688, 7: 1_230, 8: 1_074, '1-4': 8 });
  });

  it('gives every flow sample a sampled header and an extended switch record, and the listed header lengths and ethertypes', () => {
    const lengths: number[] = [];
    const etherTypes: string[] = [];
    const shapes: string[] = [];
    for (const d of datagrams) {
      for (const s of d.samples) {
        if (s.kind !== 'flow') continue;
        shapes.push(s.records.map((r) => r.kind).join('+'));
        for (const r of s.records) {
          if (r.kind !== 'sampled_header') continue;
          lengths.push(r.headerLength);
          const type = r.packet?.etherType;
          etherTypes.push(type === 0x0800 ? 'IPv4' : type === 0x86dd ? 'IPv6' : type === 0x0806 ? 'ARP' : String(type));
        }
      }
    }
    expect(histogram(shapes)).toEqual({ 'extended_switch+sampled_header': 63_328 }); // OVS writes 1001 first
    const byLength = histogram(lengths.map((l) => ([128, 78, 66, 98, 86].includes(l) ? l : 'other')));
    expect(byLength).toEqual({ 128: 48_271, 78: 7_100, 66: 6_837, 98: 562, 86: 480, other: 63_328 - 48_271 - 7_100 - 6_837 - 562 - 480 });
    expect(histogram(etherTypes)).toEqual({ IPv4: 63_315, IPv6: 9, ARP: 4 });
  });

  it('has the listed counter records', () => {
    const kinds = datagrams.flatMap((d) => d.samples).flatMap((s) => (s.kind === 'counter' ? s.records.map((r) => r.kind) : []));
    expect(histogram(kinds)).toEqual({
      generic_interface: 20, ethernet_interface: 20, openflow_port: 20, openflow_port_name: 20, app_resources: 4, ovs_dp_stats: 4,
    });
  });

  it('maps bridge counter samples to source 2:(1000 + sub-agent) as DESIGN.md says', () => {
    const bridge = datagrams.flatMap((d) => d.samples).filter((s) => s.kind === 'counter' && s.records.some((r) => r.kind === 'ovs_dp_stats'));
    expect(bridge.map((s) => (s.kind === 'counter' ? `${s.sourceIdType}:${s.sourceIdIndex}` : ''))).toEqual(['2:1000', '2:1000', '2:1000', '2:1000']);
  });
});
