import { readFileSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DecodeError } from '../errors.js';
import { readUdpPayloads } from '../pcap/pcap-reader.js';
import { decodeDatagram } from '../sflow/datagram.js';
import type {
  CounterRecord,
  CounterSample,
  Datagram,
  DiscardSample,
  FlowRecord,
  FlowSample,
  Packet,
  Sample,
  SampledHeader,
} from '../sflow/types.js';
import { RowBinaryReader } from '../store/row-binary-reader.test-support.js';
import {
  COUNTER_WIRE,
  DATAGRAM_WIRE,
  DISCARD_WIRE,
  FLOW_WIRE,
  QUARANTINE_WIRE,
  encodeCounterRows,
  encodeFlowRows,
  type WireColumn,
} from '../store/sflow-tables.js';
import { SflowRowBatch, newSflowRows, appendRows, toRows, type RowMeta, type SflowRows } from './rows.js';

// Hand-built decoded datagrams, shaped like what Open vSwitch sends (DESIGN.md "What Open vSwitch
// actually exports"), with TEST-NET addresses.

const META: RowMeta = { receivedAt: 1_764_000_000_123.7, exporter: '192.0.2.1', exporterPort: 50_123, raw: Uint8Array.of(0, 0, 0, 5) };
const HEADER = Uint8Array.of(0xfa, 0x16, 0x3e, 1, 2, 3, 9, 10, 92);

function packet(fields: Partial<Packet> = {}): Packet {
  return {
    layers: ['eth', 'ipv4', 'tcp'], srcMac: 'fa:16:3e:00:00:01', dstMac: 'fa:16:3e:00:00:02', vlans: [], etherType: 0x0800,
    ipVersion: 4, srcIp: '198.51.100.10', dstIp: '198.51.100.20', ipProtocol: 6, ttl: 64, tos: 0, ipId: 4321, ipLength: 60,
    fragment: false, srcPort: 40_000, dstPort: 22, tcpFlags: 0x02, icmpType: null, icmpCode: null, arp: null, tunnel: null,
    inner: null, truncatedAt: null, ...fields,
  };
}

function sampledHeader(p: Packet | null, header = HEADER): SampledHeader {
  return { kind: 'sampled_header', offset: 40, length: 16 + header.length, headerProtocol: 1, frameLength: 74, stripped: 4, headerLength: header.length, header, packet: p };
}

const EXTENDED_SWITCH: FlowRecord = { kind: 'extended_switch', offset: 80, length: 16, srcVlan: 0, srcPriority: 0, dstVlan: 100, dstPriority: 3 };

function flowSample(records: FlowRecord[], fields: Partial<FlowSample> = {}): FlowSample {
  return {
    kind: 'flow', offset: 28, length: 200, expanded: false, sequence: 77, sourceIdType: 0, sourceIdIndex: 1001,
    samplingRate: 1, samplePool: 500, drops: 0, input: { format: 0, value: 5 }, output: { format: 0, value: 7 }, records, ...fields,
  };
}

function datagram(samples: Sample[], fields: Partial<Datagram> = {}): Datagram {
  return {
    version: 5, agentAddressType: 1, agent: '192.0.2.10', subAgentId: 1, sequence: 4821, uptimeMs: 123_456,
    numSamples: samples.length, samples, issues: [], unknownRecords: 0, malformedRecords: 0, ...fields,
  };
}

describe('toRows: flow samples', () => {
  it('maps an OVS sample (sampled header + extended switch) to one flow row', () => {
    const rows = toRows(datagram([flowSample([sampledHeader(packet()), EXTENDED_SWITCH])]), META);
    expect(rows.flows).toHaveLength(1);
    expect(rows.discards).toEqual([]);
    expect(rows.quarantine).toEqual([]);
    expect(rows.flows[0]).toMatchObject({
      received_at: META.receivedAt, exporter: '192.0.2.1', agent: '192.0.2.10', sub_agent_id: 1, datagram_sequence: 4821,
      sample_index: 0, sequence: 77, source_id_type: 0, source_id_index: 1001, sampling_rate: 1, sample_pool: 500,
      input_format: 0, input_value: 5, output_format: 0, output_value: 7, record_kinds: ['sampled_header', 'extended_switch'],
      header_protocol: 1, frame_length: 74, stripped: 4, header_length: HEADER.length, header: HEADER,
      layers: ['eth', 'ipv4', 'tcp'], src_mac: 'fa:16:3e:00:00:01', dst_mac: 'fa:16:3e:00:00:02', ether_type: 0x0800,
      ip_version: 4, src_ip: '198.51.100.10', dst_ip: '198.51.100.20', ip_protocol: 6, ttl: 64, ip_id: 4321, ip_length: 60,
      src_port: 40_000, dst_port: 22, tcp_flags: 2, src_vlan: 0, dst_vlan: 100, dst_priority: 3,
      tunnel_type: '', inner_src_ip: '::', vni_ingress: 0, extended: {},
    });
  });

  it.each([
    {
      name: 'QinQ tags, outermost first',
      sample: flowSample([sampledHeader(packet({ vlans: [{ tpid: 0x88a8, priority: 0, dei: 0, id: 300 }, { tpid: 0x8100, priority: 5, dei: 0, id: 100 }] }))]),
      want: { vlan_ids: [300, 100] },
    },
    {
      name: 'GRE tunnel with the inner frame (receiver br-phy)',
      sample: flowSample([sampledHeader(packet({
        layers: ['eth', 'ipv4', 'gre', 'eth', 'ipv4', 'icmp'], srcIp: '203.0.113.1', dstIp: '203.0.113.2', ipProtocol: 47, srcPort: null, dstPort: null, tcpFlags: null,
        tunnel: { type: 'gre', id: 0x1234, protocol: 0x6558 },
        inner: packet({ srcMac: 'fa:16:3e:aa:00:01', vlans: [{ tpid: 0x8100, priority: 0, dei: 0, id: 1 }], srcIp: '198.51.100.1', dstIp: '198.51.100.2', ipProtocol: 1, srcPort: null, dstPort: null, tcpFlags: null, icmpType: 8, icmpCode: 0, ttl: 63 }),
      }))]),
      want: {
        ip_protocol: 47, src_port: 0, tcp_flags: 0, tunnel_type: 'gre', tunnel_id: 0x1234, tunnel_protocol: 0x6558,
        inner_src_mac: 'fa:16:3e:aa:00:01', inner_vlan_ids: [1], inner_src_ip: '198.51.100.1', inner_dst_ip: '198.51.100.2',
        inner_ip_protocol: 1, inner_icmp_type: 8, inner_icmp_code: 0, inner_ttl: 63,
      },
    },
    {
      name: 'keyless GRE keeps tunnel id 0',
      sample: flowSample([sampledHeader(packet({ tunnel: { type: 'gre', id: null, protocol: 0x0800 } }))]),
      want: { tunnel_type: 'gre', tunnel_id: 0, tunnel_protocol: 0x0800 },
    },
    {
      name: 'ARP',
      sample: flowSample([sampledHeader(packet({ layers: ['eth', 'arp'], etherType: 0x0806, ipVersion: null, srcIp: null, dstIp: null, ipProtocol: null, srcPort: null, dstPort: null, tcpFlags: null, ttl: null, tos: null, ipId: null, ipLength: null, arp: { operation: 1, senderMac: 'fa:16:3e:00:00:01', senderIp: '198.51.100.10', targetMac: '00:00:00:00:00:00', targetIp: '198.51.100.1' } }))]),
      want: { ether_type: 0x0806, ip_version: 0, src_ip: '::', arp_operation: 1, arp_sender_ip: '198.51.100.10', arp_target_ip: '198.51.100.1' },
    },
    {
      name: 'a header cut short names the layer',
      sample: flowSample([sampledHeader(packet({ layers: ['eth', 'ipv4'], srcPort: null, dstPort: null, tcpFlags: null, truncatedAt: 'tcp' }))]),
      want: { truncated_at: 'tcp', src_port: 0 },
    },
    {
      name: 'a header that is not parsed still keeps its bytes',
      sample: flowSample([{ ...(sampledHeader(null) as SampledHeader), headerProtocol: 7 }]),
      want: { header_protocol: 7, header: HEADER, layers: [], src_mac: '', src_ip: '::' },
    },
    {
      name: 'tunnel egress (1023) and VNI egress (1029) from a br-int sample',
      sample: flowSample([
        sampledHeader(packet()),
        { kind: 'extended_ipv4_tunnel_egress', offset: 0, length: 32, ipLength: 0, protocol: 47, srcIp: '203.0.113.1', dstIp: '203.0.113.2', srcPort: 0, dstPort: 0, tcpFlags: 0, tos: 0 },
        { kind: 'extended_vni_egress', offset: 0, length: 4, vni: 0x1234 },
      ]),
      want: { record_kinds: ['sampled_header', 'extended_ipv4_tunnel_egress', 'extended_vni_egress'], tunnel_egress_src_ip: '203.0.113.1', tunnel_egress_dst_ip: '203.0.113.2', tunnel_egress_protocol: 47, vni_egress: 0x1234 },
    },
    {
      name: 'tunnel ingress (1024) and VNI ingress (1030) from a br-tun sample',
      sample: flowSample([
        sampledHeader(packet()),
        { kind: 'extended_ipv4_tunnel_ingress', offset: 0, length: 32, ipLength: 0, protocol: 47, srcIp: '203.0.113.2', dstIp: '203.0.113.1', srcPort: 0, dstPort: 0, tcpFlags: 0, tos: 0 },
        { kind: 'extended_vni_ingress', offset: 0, length: 4, vni: 77 },
      ]),
      want: { tunnel_ingress_src_ip: '203.0.113.2', tunnel_ingress_dst_ip: '203.0.113.1', tunnel_ingress_protocol: 47, vni_ingress: 77 },
    },
    {
      name: 'sampled IPv4 (3) fills the IP columns when there is no header',
      sample: flowSample([{ kind: 'sampled_ipv4', offset: 0, length: 32, ipLength: 1500, protocol: 17, srcIp: '198.51.100.1', dstIp: '198.51.100.2', srcPort: 53, dstPort: 33000, tcpFlags: 0, tos: 0x10 }]),
      want: { ip_version: 4, ip_length: 1500, ip_protocol: 17, src_ip: '198.51.100.1', src_port: 53, dst_port: 33000, tos: 0x10 },
    },
    {
      name: 'a sampled header wins over sampled IPv6 (4) whatever the order',
      sample: flowSample([
        { kind: 'sampled_ipv6', offset: 0, length: 56, ipLength: 80, protocol: 58, srcIp: '2001:db8::1', dstIp: '2001:db8::2', srcPort: 0, dstPort: 0, tcpFlags: 0, priority: 0 },
        sampledHeader(packet()),
        { kind: 'sampled_ethernet', offset: 0, length: 24, frameLength: 1, srcMac: '02:00:00:00:00:01', dstMac: '02:00:00:00:00:02', etherType: 0x86dd },
      ]),
      want: { ip_version: 4, src_ip: '198.51.100.10', src_mac: 'fa:16:3e:00:00:01', frame_length: 74 },
    },
    {
      name: 'output multiple (format 2) and expanded flow sample',
      sample: flowSample([sampledHeader(packet())], { expanded: true, sourceIdType: 2, sourceIdIndex: 1001, input: { format: 0, value: 0 }, output: { format: 2, value: 3 } }),
      want: { expanded: true, source_id_type: 2, input_value: 0, output_format: 2, output_value: 3 },
    },
    {
      name: 'records without columns go to extended, unknown and malformed to record_kinds',
      sample: flowSample([
        { kind: 'extended_router', offset: 0, length: 16, nextHop: '192.0.2.254', srcMaskLen: 24, dstMaskLen: 16 },
        { kind: 'unknown', offset: 0, length: 4, enterprise: 4413, format: 7, body: Uint8Array.of(1, 2, 3, 4) },
        { kind: 'malformed', offset: 0, length: 2, enterprise: 0, format: 1001, error: new DecodeError('truncated', 'need 4 bytes, 2 left', { offset: 120, path: 'datagram/sample[0]/record[2]' }), body: Uint8Array.of(0, 1) },
      ]),
      want: {
        record_kinds: ['extended_router', 'unknown:4413:7', 'malformed:0:1001'],
        extended: {
          'extended_router.next_hop': '192.0.2.254', 'extended_router.src_mask_len': '24', 'extended_router.dst_mask_len': '16',
          'malformed:0:1001': 'truncated at byte 120 (datagram/sample[0]/record[2]): need 4 bytes, 2 left',
        },
      },
    },
  ])('$name', ({ sample, want }) => {
    const rows = toRows(datagram([sample]), META);
    expect(rows.flows).toHaveLength(1);
    expect(rows.flows[0]).toMatchObject(want);
  });

  it('numbers samples by their position in the datagram and skips unknown sample formats', () => {
    const unknown: Sample = { kind: 'unknown', offset: 300, length: 8, enterprise: 9, format: 9, body: new Uint8Array(8) };
    const rows = toRows(datagram([flowSample([]), unknown, flowSample([], { sequence: 78 })]), META);
    expect(rows.flows.map((f) => [f.sample_index, f.sequence])).toEqual([[0, 77], [2, 78]]);
    expect(rows.datagrams[0]).toMatchObject({ samples: 3, samples_decoded: 3, decode_status: 'ok' });
  });
});

describe('toRows: discards', () => {
  it('copies a flow sample whose output is "discarded" (OVS 0x40000100) to discard_samples', () => {
    const rows = toRows(datagram([flowSample([sampledHeader(packet()), EXTENDED_SWITCH], { output: { format: 1, value: 256 } })]), META);
    expect(rows.flows).toHaveLength(1);
    expect(rows.discards).toHaveLength(1);
    expect(rows.discards[0]).toMatchObject({
      kind: 'flow', sample_index: 0, sequence: 77, input_if_index: 5, output_if_index: 0, reason: 256, sampling_rate: 1,
      src_ip: '198.51.100.10', dst_port: 22, dst_vlan: 100, record_kinds: ['sampled_header', 'extended_switch'],
    });
  });

  it('maps a discarded-packet sample (format 5) with its drop records', () => {
    const sample: DiscardSample = {
      kind: 'discard', offset: 28, length: 100, expanded: false, sequence: 9, sourceIdType: 0, sourceIdIndex: 3, drops: 2,
      inputIfIndex: 3, outputIfIndex: 0x3fffffff, reason: 258,
      records: [
        sampledHeader(packet()),
        { kind: 'extended_egress_queue', offset: 0, length: 4, queue: 4 },
        { kind: 'extended_acl', offset: 0, length: 16, number: 12, name: 'deny-ssh\t"x"', direction: 1 },
        { kind: 'extended_function', offset: 0, length: 12, symbol: 'kfree_skb' },
        { kind: 'extended_hw_trap', offset: 0, length: 16, group: 'l3_drops', trap: 'blackhole_route' },
        { kind: 'extended_linux_drop_reason', offset: 0, length: 16, reason: 'NETFILTER_DROP' },
      ],
    };
    const rows = toRows(datagram([sample]), META);
    expect(rows.flows).toEqual([]);
    expect(rows.discards[0]).toMatchObject({
      kind: 'discard', drops: 2, input_if_index: 3, output_if_index: 0x3fffffff, reason: 258, src_ip: '198.51.100.10',
      egress_queue: 4, acl_number: 12, acl_name: 'deny-ssh\t"x"', acl_direction: 1, function_symbol: 'kfree_skb',
      hw_trap_group: 'l3_drops', hw_trap: 'blackhole_route', linux_drop_reason: 'NETFILTER_DROP',
    });
  });
});

describe('toRows: counter samples', () => {
  const generic: CounterRecord = {
    kind: 'generic_interface', offset: 0, length: 88, ifIndex: 5, ifType: 6, ifSpeed: 10_000_000_000n, ifDirection: 1,
    ifAdminStatus: 1, ifOperStatus: 1, inOctets: 2n ** 40n, inUcastPkts: 10, inMulticastPkts: 1, inBroadcastPkts: 2,
    inDiscards: 3, inErrors: 4, inUnknownProtos: 5, outOctets: 123n, outUcastPkts: 6, outMulticastPkts: 7,
    outBroadcastPkts: 8, outDiscards: 9, outErrors: 11, ifPromiscuousMode: 0,
  };
  const sample = (records: CounterRecord[]): CounterSample => ({ kind: 'counter', offset: 28, length: 200, expanded: false, sequence: 3, sourceIdType: 0, sourceIdIndex: 5, records });

  it('maps port counters (1, 2, 1004, 1005) to columns', () => {
    const rows = toRows(datagram([sample([
      generic,
      { kind: 'ethernet_interface', offset: 0, length: 52, dot3StatsAlignmentErrors: 1, dot3StatsFCSErrors: 2, dot3StatsSingleCollisionFrames: 3, dot3StatsMultipleCollisionFrames: 4, dot3StatsSQETestErrors: 5, dot3StatsDeferredTransmissions: 6, dot3StatsLateCollisions: 7, dot3StatsExcessiveCollisions: 8, dot3StatsInternalMacTransmitErrors: 9, dot3StatsCarrierSenseErrors: 10, dot3StatsFrameTooLongs: 11, dot3StatsInternalMacReceiveErrors: 12, dot3StatsSymbolErrors: 13 },
      { kind: 'openflow_port', offset: 0, length: 12, datapathId: 0x0000_8a2b_11aa_22bbn, portNo: 3 },
      { kind: 'openflow_port_name', offset: 0, length: 12, name: 'tap1234-ab' },
    ])]), META);
    expect(rows.counters).toHaveLength(1);
    expect(rows.counters[0]).toMatchObject({
      sample_index: 0, sequence: 3, source_id_index: 5, record_kinds: ['generic_interface', 'ethernet_interface', 'openflow_port', 'openflow_port_name'],
      if_index: 5, if_speed: 10_000_000_000n, in_octets: 2n ** 40n, out_errors: 11, dot3_stats_fcs_errors: 2, dot3_stats_symbol_errors: 13,
      of_datapath_id: 0x0000_8a2b_11aa_22bbn, of_port_no: 3, port_name: 'tap1234-ab', metrics: {}, labels: {},
    });
  });

  it('maps bridge counters (2203 app resources, 2207 OVS datapath) and VLAN/processor records to metrics and labels', () => {
    const rows = toRows(datagram([sample([
      { kind: 'app_resources', offset: 0, length: 40, fields: { user_time: 120, sys_time: 30, mem_used: 2n ** 33n, conn_max: 1024 } },
      { kind: 'ovs_dp_stats', offset: 0, length: 24, fields: { hits: 1000, misses: 12, lost: 0, mask_hits: 900, n_flows: 7, n_masks: 3 } },
      { kind: 'host_descr', offset: 0, length: 60, fields: { hostname: 'compute-1', os_release: '6.1.0' } },
      { kind: 'vlan', offset: 0, length: 28, vlanId: 100, octets: 5000n, ucastPkts: 1, multicastPkts: 2, broadcastPkts: 3, discards: 4 },
      { kind: 'processor', offset: 0, length: 28, cpu5s: 10, cpu1m: 20, cpu5m: 30, totalMemory: 8n, freeMemory: 4n },
    ])]), META);
    const row = rows.counters[0];
    expect(row?.metrics).toEqual({
      'app_resources.user_time': 120, 'app_resources.sys_time': 30, 'app_resources.mem_used': 2 ** 33, 'app_resources.conn_max': 1024,
      'ovs_dp_stats.hits': 1000, 'ovs_dp_stats.misses': 12, 'ovs_dp_stats.lost': 0, 'ovs_dp_stats.mask_hits': 900, 'ovs_dp_stats.n_flows': 7, 'ovs_dp_stats.n_masks': 3,
      'vlan.vlan_id': 100, 'vlan.octets': 5000, 'vlan.ucast_pkts': 1, 'vlan.multicast_pkts': 2, 'vlan.broadcast_pkts': 3, 'vlan.discards': 4,
      'processor.cpu5s': 10, 'processor.cpu1m': 20, 'processor.cpu5m': 30, 'processor.total_memory': 8, 'processor.free_memory': 4,
    });
    expect(row?.labels).toEqual({ 'host_descr.hostname': 'compute-1', 'host_descr.os_release': '6.1.0' });
    expect(row?.if_index).toBe(0);
  });

  it('keeps the first interface of a sample that carries two', () => {
    const rows = toRows(datagram([sample([generic, { ...generic, ifIndex: 99 }])]), META);
    expect(rows.counters[0]?.if_index).toBe(5);
    expect(rows.counters[0]?.record_kinds).toEqual(['generic_interface', 'generic_interface']);
  });
});

describe('toRows: nothing is lost', () => {
  it('a datagram whose header cannot be decoded gives a failed datagram row and a quarantine row', () => {
    const error = new DecodeError('bad-version', 'version 4, expected 5', { offset: 0, path: 'datagram/version' });
    const rows = toRows(error, META);
    expect(rows.flows).toEqual([]);
    expect(rows.datagrams).toEqual([expect.objectContaining({ decode_status: 'failed', error_code: 'bad-version', agent: '', raw: META.raw })]);
    expect(rows.quarantine).toEqual([expect.objectContaining({
      received_at: META.receivedAt, source: 'sflow', exporter: '192.0.2.1', exporter_port: 50_123, error_code: 'bad-version',
      error_offset: 0, error_path: 'datagram/version', message: error.message, issues: 1, raw: META.raw,
    })]);
    expect(rows.quarantine[0]?.hoptrace_version).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('a datagram with issues keeps its samples and gets a quarantine copy naming the first issue', () => {
    const d = datagram([flowSample([sampledHeader(packet())])], {
      numSamples: 2,
      issues: [
        { code: 'truncated', offset: 200, path: 'datagram/sample[1]', message: 'truncated at byte 200 (datagram/sample[1]): need 229633 bytes, 668 left' },
        { code: 'too-many', offset: 300, path: 'datagram/sample[1]/num_records', message: 'too-many ...' },
      ],
    });
    const rows = toRows(d, META);
    expect(rows.flows).toHaveLength(1);
    expect(rows.datagrams[0]).toMatchObject({ decode_status: 'issues', error_code: 'truncated', samples: 2, samples_decoded: 1 });
    expect(rows.quarantine).toEqual([expect.objectContaining({
      agent: '192.0.2.10', sequence: 4821, error_code: 'truncated', error_offset: 200, error_path: 'datagram/sample[1]', issues: 2,
      message: 'truncated at byte 200 (datagram/sample[1]): need 229633 bytes, 668 left (and 1 more)',
    })]);
  });

  it('a malformed record (no issue) also sends the datagram to quarantine', () => {
    const error = new DecodeError('truncated', 'need 16 bytes, 8 left', { offset: 96, path: 'datagram/sample[0]/record[1]' });
    const d = datagram([flowSample([sampledHeader(packet()), { kind: 'malformed', offset: 90, length: 8, enterprise: 0, format: 1001, error, body: new Uint8Array(8) }])], { malformedRecords: 1 });
    const rows = toRows(d, META);
    expect(rows.flows).toHaveLength(1);
    expect(rows.quarantine).toEqual([expect.objectContaining({ error_code: 'truncated', error_offset: 96, error_path: 'datagram/sample[0]/record[1]', issues: 1 })]);
  });

  it('a clean datagram gives no quarantine row', () => {
    const rows = toRows(datagram([flowSample([sampledHeader(packet())])]), META);
    expect(rows.quarantine).toEqual([]);
    expect(rows.datagrams[0]).toMatchObject({ decode_status: 'ok', error_code: '', raw: META.raw });
  });
});

describe('SflowRowBatch', () => {
  const datagrams = [
    datagram([flowSample([sampledHeader(packet()), EXTENDED_SWITCH]), flowSample([sampledHeader(packet({ srcPort: 1 }))], { output: { format: 1, value: 256 } })]),
    datagram([{ kind: 'counter', offset: 28, length: 100, expanded: false, sequence: 1, sourceIdType: 0, sourceIdIndex: 2, records: [{ kind: 'openflow_port_name', offset: 0, length: 8, name: 'br-int' }] }], { sequence: 4822 }),
  ];

  it('encodes the same bytes as toRows followed by the table encoders', () => {
    const batch = new SflowRowBatch();
    const flows = [];
    const counters = [];
    for (const d of datagrams) {
      batch.add(d, META);
      const rows = toRows(d, META);
      flows.push(...rows.flows);
      counters.push(...rows.counters);
    }
    batch.add(new DecodeError('truncated', 'need 28 bytes, 3 left', { offset: 0, path: 'datagram' }), META);
    const tables = Object.fromEntries(batch.tables().map((t) => [t.table, t.rows]));
    expect(Object.keys(tables).sort()).toEqual(['counter_samples', 'discard_samples', 'flow_samples', 'quarantine', 'sflow_datagrams']);
    expect(Buffer.from(tables['flow_samples']?.data ?? []).equals(encodeFlowRows(flows).data as Buffer)).toBe(true);
    expect(Buffer.from(tables['counter_samples']?.data ?? []).equals(encodeCounterRows(counters).data as Buffer)).toBe(true);
    expect({ datagrams: batch.datagrams, flows: batch.flowRows, counters: batch.counterRows, discards: batch.discardRows, raw: batch.datagramRows, quarantine: batch.quarantine.length })
      .toEqual({ datagrams: 3, flows: 2, counters: 1, discards: 1, raw: 3, quarantine: 1 });
    const reader = new RowBinaryReader(tables['quarantine']?.data ?? new Uint8Array(0));
    expect(reader.row(QUARANTINE_WIRE)['received_at']).toBe(Math.floor(META.receivedAt));
  });

  it('starts over after reset() and can leave raw datagrams out', () => {
    const batch = new SflowRowBatch({ keepRawDatagrams: false });
    batch.add(datagrams[0] as Datagram, META);
    batch.reset();
    batch.add(datagrams[0] as Datagram, { ...META, receivedAt: META.receivedAt + 1000 });
    const tables = batch.tables();
    expect(tables.map((t) => t.table)).toEqual(['flow_samples', 'discard_samples']);
    const reader = new RowBinaryReader(tables[0]?.rows.data ?? new Uint8Array(0));
    expect(reader.row(FLOW_WIRE)['received_at']).toBe(Math.floor(META.receivedAt) + 1000);
    reader.row(FLOW_WIRE);
    expect(reader.done).toBe(true);
  });
});

// ---------- real captures, through the real decoder ----------

const TESTDATA = new URL('../../../shared/testdata/', import.meta.url);

/** Every UDP payload of a capture, decoded (or the DecodeError), with its pcap metadata. */
function decodeCapture(file: URL): { rows: SflowRows; datagrams: number; failed: number } {
  const rows = newSflowRows();
  let datagrams = 0;
  let failed = 0;
  for (const packet of readUdpPayloads(readFileSync(file), file.pathname)) {
    let decoded: Datagram | DecodeError;
    try {
      decoded = decodeDatagram(packet.payload);
    } catch (error) {
      if (!(error instanceof DecodeError)) throw error;
      decoded = error;
      failed++;
    }
    datagrams++;
    appendRows(rows, decoded, { receivedAt: packet.timestampMs, exporter: packet.srcIp, exporterPort: packet.srcPort, raw: packet.payload });
  }
  return { rows, datagrams, failed };
}

function countBy<T>(items: readonly T[], key: (item: T) => string | number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const item of items) out[String(key(item))] = (out[String(key(item))] ?? 0) + 1;
  return out;
}

describe('toRows on the Open vSwitch corpus (ovs-sflow-10k.pcap)', () => {
  const { rows, datagrams, failed } = decodeCapture(new URL('corpus/ovs-sflow-10k.pcap', TESTDATA));

  it('gives one row per datagram and per sample, as the corpus README counts them', () => {
    expect({ datagrams, failed }).toEqual({ datagrams: 10_000, failed: 0 });
    expect(rows.datagrams).toHaveLength(10_000);
    expect(rows.flows).toHaveLength(63_328);
    expect(rows.counters).toHaveLength(24);
    expect(rows.quarantine).toHaveLength(0);
    // Not in the README: two flow samples whose output is "discarded" (0x40000100), IPv6 neighbour
    // discovery (ICMPv6 133 router solicitation, 143 MLDv2 report) that no flow forwarded. They are
    // flow rows and discard rows both.
    expect(rows.discards.map((d) => [d.kind, d.reason, d.input_if_index, d.ip_protocol, d.icmp_type]).sort()).toEqual([
      ['flow', 256, 3, 58, 133],
      ['flow', 256, 3, 58, 143],
    ]);
    expect(rows.discards).toHaveLength(rows.flows.filter((f) => f.output_format === 1).length);
    expect(rows.discards).toHaveLength(2);
    expect(countBy(rows.datagrams, (d) => d.decode_status)).toEqual({ ok: 10_000 });
  });

  it('maps the sampled headers and the extended switch record of every flow sample', () => {
    // Open vSwitch writes the extended switch record first.
    expect(countBy(rows.flows, (f) => f.record_kinds.join('+'))).toEqual({ 'extended_switch+sampled_header': 63_328 });
    const lengths = countBy(rows.flows, (f) => f.header_length);
    expect([lengths['128'], lengths['78'], lengths['66'], lengths['98'], lengths['86']]).toEqual([48_271, 7_100, 6_837, 562, 480]);
    expect(countBy(rows.flows, (f) => f.ether_type)).toEqual({ [0x0800]: 63_315, [0x86dd]: 9, [0x0806]: 4 });
    expect(rows.flows.every((f) => f.agent === '127.0.0.1' && f.sub_agent_id === 0 && f.exporter === '127.0.0.1')).toBe(true);
    expect(rows.flows.filter((f) => f.ether_type === 0x0800).every((f) => f.ip_version === 4 && f.src_ip !== '::')).toBe(true);
    expect(rows.flows.filter((f) => f.ether_type === 0x0806).every((f) => f.arp_operation > 0 && f.arp_sender_ip !== '::')).toBe(true);
    // Access ports (tags 100 and 200): the sampled frames are untagged and extended switch shows
    // VLAN 0 on both sides, as DESIGN.md says of Open vSwitch ("The local VLAN rarely appears").
    expect(new Set(rows.flows.flatMap((f) => [f.src_vlan, f.dst_vlan, f.vlan_ids.length]))).toEqual(new Set([0]));
  });

  it('maps the counter records: port counters (1, 2, 1004, 1005) and bridge counters (2203, 2207)', () => {
    const kinds = countBy(rows.counters.flatMap((c) => c.record_kinds), (k) => k);
    expect(kinds).toEqual({ generic_interface: 20, ethernet_interface: 20, openflow_port: 20, openflow_port_name: 20, app_resources: 4, ovs_dp_stats: 4 });
    const ports = rows.counters.filter((c) => c.port_name !== '');
    expect(ports).toHaveLength(20);
    expect(ports.every((c) => c.if_index > 0 && c.of_datapath_id > 0n && c.source_id_index === c.if_index)).toBe(true);
    const bridges = rows.counters.filter((c) => c.record_kinds.includes('ovs_dp_stats'));
    expect(bridges).toHaveLength(4);
    expect(bridges.every((c) => Object.keys(c.metrics).some((k) => k.startsWith('ovs_dp_stats.')) && Object.keys(c.metrics).some((k) => k.startsWith('app_resources.')))).toBe(true);
  });

  it('encodes the whole corpus as RowBinary that reads back row for row', () => {
    const batch = new SflowRowBatch();
    for (const packet of readUdpPayloads(readFileSync(new URL('corpus/ovs-sflow-10k.pcap', TESTDATA)), 'corpus')) {
      batch.add(decodeDatagram(packet.payload), { receivedAt: packet.timestampMs, exporter: packet.srcIp, exporterPort: packet.srcPort, raw: packet.payload });
    }
    const tables = Object.fromEntries(batch.tables().map((t) => [t.table, t.rows]));
    expect(readBack(tables['flow_samples']?.data, FLOW_WIRE)).toBe(63_328);
    expect(readBack(tables['counter_samples']?.data, COUNTER_WIRE)).toBe(24);
    expect(readBack(tables['sflow_datagrams']?.data, DATAGRAM_WIRE)).toBe(10_000);
  });
});

function readBack(data: Uint8Array | undefined, wire: readonly WireColumn[]): number {
  if (data === undefined) return 0;
  const reader = new RowBinaryReader(data);
  let rows = 0;
  while (!reader.done) {
    reader.row(wire);
    rows++;
  }
  return rows;
}

const CAPTURES = readdirSync(new URL('sflow/', TESTDATA)).filter((name) => name.endsWith('.pcap')).sort();

describe('toRows on third-party captures (testdata/sflow)', () => {
  it('finds the captures', () => {
    expect(CAPTURES.length).toBeGreaterThan(20);
  });

  it.each(CAPTURES)('%s: every datagram gives a datagram row, its samples, and quarantine when it must', (name) => {
    const file = new URL(`sflow/${name}`, TESTDATA);
    const { rows, datagrams, failed } = decodeCapture(file);
    // received = decoded + quarantined: one sflow_datagrams row each, failures all in quarantine.
    expect(rows.datagrams).toHaveLength(datagrams);
    expect(rows.datagrams.filter((d) => d.decode_status === 'failed')).toHaveLength(failed);
    const withProblems = rows.datagrams.filter((d) => d.decode_status !== 'ok').length;
    expect(rows.quarantine).toHaveLength(withProblems);
    expect(rows.quarantine.every((q) => q.error_code !== '' && q.raw.byteLength > 0)).toBe(true);
    // One flow row per flow sample, one counter row per counter sample; discards per spec.
    let flows = 0;
    let counters = 0;
    let discards = 0;
    for (const packet of readUdpPayloads(readFileSync(file), name)) {
      let d: Datagram;
      try {
        d = decodeDatagram(packet.payload);
      } catch (error) {
        if (error instanceof DecodeError) continue;
        throw error;
      }
      for (const sample of d.samples) {
        if (sample.kind === 'flow') {
          flows++;
          if (sample.output.format === 1) discards++;
        } else if (sample.kind === 'counter') counters++;
        else if (sample.kind === 'discard') discards++;
      }
    }
    expect({ flows: rows.flows.length, counters: rows.counters.length, discards: rows.discards.length }).toEqual({ flows, counters, discards });
    // And all of it encodes and reads back.
    const batch = new SflowRowBatch();
    for (const packet of readUdpPayloads(readFileSync(file), name)) {
      let decoded: Datagram | DecodeError;
      try {
        decoded = decodeDatagram(packet.payload);
      } catch (error) {
        if (!(error instanceof DecodeError)) throw error;
        decoded = error;
      }
      batch.add(decoded, { receivedAt: packet.timestampMs, exporter: packet.srcIp, exporterPort: packet.srcPort, raw: packet.payload });
    }
    const tables = Object.fromEntries(batch.tables().map((t) => [t.table, t.rows]));
    expect(readBack(tables['flow_samples']?.data, FLOW_WIRE)).toBe(flows);
    expect(readBack(tables['counter_samples']?.data, COUNTER_WIRE)).toBe(counters);
    expect(readBack(tables['discard_samples']?.data, DISCARD_WIRE)).toBe(discards);
    expect(readBack(tables['sflow_datagrams']?.data, DATAGRAM_WIRE)).toBe(datagrams);
  });
});
