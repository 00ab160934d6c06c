// Every flow and counter record format, built by hand from its spec grammar with the XDR writer
// and decoded inside a sample: SFLOW-STRUCTS5, sflow_tunnels.txt, sflow_drops.txt,
// sflow_openflow.txt, sflow_host.txt, sflow_jvm.txt, sflow_application.txt, OVS lib/sflow.h.
import { describe, expect, it } from 'vitest';
import { decodeDatagram } from './datagram.js';
import type { CounterRecord, FlowRecord } from './types.js';
import { counterSample, datagram, flowSample, tagged, xdr, type XdrWriter } from '../../test/support/xdr-writer.js';

const A = '02:00:00:00:00:0a';
const B = '02:00:00:00:00:0b';
/** Datagram header (IPv4 agent) 28 bytes + sample tag/length 8 + flow sample fixed part 32. */
const FLOW_RECORD_OFFSET = 68;
/** ... + counter sample fixed part 12. */
const COUNTER_RECORD_OFFSET = 48;

function flowRecord(format: number, body: XdrWriter): FlowRecord {
  const d = decodeDatagram(datagram({}, [flowSample({}, [tagged(format, body.bytes())])]));
  expect(d.issues).toEqual([]);
  const s = d.samples[0];
  if (s?.kind !== 'flow') throw new Error('no flow sample');
  return s.records[0] as FlowRecord;
}

function counterRecord(format: number, body: XdrWriter): CounterRecord {
  const d = decodeDatagram(datagram({}, [counterSample([tagged(format, body.bytes())])]));
  expect(d.issues).toEqual([]);
  const s = d.samples[0];
  if (s?.kind !== 'counter') throw new Error('no counter sample');
  return s.records[0] as CounterRecord;
}

const u32s = (w: XdrWriter, values: readonly number[]): XdrWriter => {
  for (const v of values) w.u32(v);
  return w;
};

describe('flow records', () => {
  it.each([
    {
      name: 'sampled_ethernet (2)', format: 2, body: xdr().u32(1514).mac(A).mac(B).u32(0x0800),
      want: { kind: 'sampled_ethernet', frameLength: 1514, srcMac: A, dstMac: B, etherType: 0x0800 },
    },
    {
      name: 'sampled_ipv4 (3)', format: 3, body: xdr().u32(1500).u32(6).ipv4('192.0.2.1').ipv4('198.51.100.2').u32(443).u32(40000).u32(0x18).u32(0xb8),
      want: { kind: 'sampled_ipv4', ipLength: 1500, protocol: 6, srcIp: '192.0.2.1', dstIp: '198.51.100.2', srcPort: 443, dstPort: 40000, tcpFlags: 0x18, tos: 0xb8 },
    },
    {
      name: 'sampled_ipv6 (4)', format: 4, body: xdr().u32(1280).u32(17).ipv6('2001:db8::1').ipv6('2001:db8::2').u32(53).u32(5353).u32(0).u32(3),
      want: { kind: 'sampled_ipv6', ipLength: 1280, protocol: 17, srcIp: '2001:db8::1', dstIp: '2001:db8::2', srcPort: 53, dstPort: 5353, tcpFlags: 0, priority: 3 },
    },
    {
      name: 'extended_switch (1001)', format: 1001, body: xdr().u32(100).u32(3).u32(200).u32(5),
      want: { kind: 'extended_switch', srcVlan: 100, srcPriority: 3, dstVlan: 200, dstPriority: 5 },
    },
    {
      name: 'extended_router (1002), IPv6 next hop', format: 1002, body: xdr().address('2001:db8::fe').u32(64).u32(48),
      want: { kind: 'extended_router', nextHop: '2001:db8::fe', srcMaskLen: 64, dstMaskLen: 48 },
    },
    {
      name: 'extended_gateway (1003)', format: 1003,
      body: xdr().address('203.0.113.1').u32(65001).u32(64500).u32(64501).u32(2).u32(2).u32(2).u32(64501).u32(64502).u32(1).u32(1).u32(64510)
        .u32(2).u32(0xfde80001).u32(0xfde80002).u32(100),
      want: {
        kind: 'extended_gateway', nextHop: '203.0.113.1', as: 65001, srcAs: 64500, srcPeerAs: 64501,
        dstAsPath: [{ type: 2, asns: [64501, 64502] }, { type: 1, asns: [64510] }], communities: [0xfde80001, 0xfde80002], localPref: 100,
      },
    },
    {
      name: 'extended_user (1004)', format: 1004, body: xdr().u32(106).string('alice').u32(106).string('bob'),
      want: { kind: 'extended_user', srcCharset: 106, srcUser: 'alice', dstCharset: 106, dstUser: 'bob' },
    },
    {
      name: 'extended_url (1005)', format: 1005, body: xdr().u32(1).string('http://example.test/a').string('example.test'),
      want: { kind: 'extended_url', direction: 1, url: 'http://example.test/a', host: 'example.test' },
    },
    {
      name: 'extended_mpls (1006)', format: 1006, body: xdr().address('192.0.2.254').u32(2).u32(16).u32(17).u32(1).u32(18),
      want: { kind: 'extended_mpls', nextHop: '192.0.2.254', inStack: [16, 17], outStack: [18] },
    },
    {
      name: 'extended_nat (1007)', format: 1007, body: xdr().address('192.0.2.10').address('2001:db8::10'),
      want: { kind: 'extended_nat', srcAddress: '192.0.2.10', dstAddress: '2001:db8::10' },
    },
    // sflow_tunnels.txt
    ...([[1021, 'extended_l2_tunnel_egress'], [1022, 'extended_l2_tunnel_ingress']] as const).map(([format, kind]) => ({
      name: `${kind} (${format})`, format, body: xdr().u32(1450).mac(A).mac(B).u32(0x0800),
      want: { kind, frameLength: 1450, srcMac: A, dstMac: B, etherType: 0x0800 },
    })),
    ...([[1023, 'extended_ipv4_tunnel_egress'], [1024, 'extended_ipv4_tunnel_ingress']] as const).map(([format, kind]) => ({
      name: `${kind} (${format}): outer GRE header`, format,
      body: xdr().u32(136).u32(47).ipv4('198.51.100.1').ipv4('198.51.100.2').u32(0).u32(0).u32(0).u32(0),
      want: { kind, ipLength: 136, protocol: 47, srcIp: '198.51.100.1', dstIp: '198.51.100.2', srcPort: 0, dstPort: 0, tcpFlags: 0, tos: 0 },
    })),
    ...([[1025, 'extended_ipv6_tunnel_egress'], [1026, 'extended_ipv6_tunnel_ingress']] as const).map(([format, kind]) => ({
      name: `${kind} (${format}): outer VXLAN header, priority in tos`, format,
      body: xdr().u32(1500).u32(17).ipv6('2001:db8::a').ipv6('2001:db8::b').u32(50000).u32(4789).u32(0).u32(7),
      want: { kind, ipLength: 1500, protocol: 17, srcIp: '2001:db8::a', dstIp: '2001:db8::b', srcPort: 50000, dstPort: 4789, tcpFlags: 0, tos: 7 },
    })),
    ...([[1027, 'extended_decapsulate_egress'], [1028, 'extended_decapsulate_ingress']] as const).map(([format, kind]) => ({
      name: `${kind} (${format})`, format, body: xdr().u32(50), want: { kind, innerHeaderOffset: 50 },
    })),
    ...([[1029, 'extended_vni_egress'], [1030, 'extended_vni_ingress']] as const).map(([format, kind]) => ({
      name: `${kind} (${format})`, format, body: xdr().u32(0xabcdef), want: { kind, vni: 0xabcdef },
    })),
    // sflow_drops.txt
    { name: 'extended_egress_queue (1036)', format: 1036, body: xdr().u32(7), want: { kind: 'extended_egress_queue', queue: 7 } },
    { name: 'extended_acl (1037)', format: 1037, body: xdr().u32(12).string('deny-all').u32(1), want: { kind: 'extended_acl', number: 12, name: 'deny-all', direction: 1 } },
    { name: 'extended_function (1038)', format: 1038, body: xdr().string('kfree_skb'), want: { kind: 'extended_function', symbol: 'kfree_skb' } },
    { name: 'extended_transit (1039)', format: 1039, body: xdr().u32(1500), want: { kind: 'extended_transit', delay: 1500 } },
    { name: 'extended_queue (1040)', format: 1040, body: xdr().u32(65536), want: { kind: 'extended_queue', depth: 65536 } },
    { name: 'extended_hw_trap (1041)', format: 1041, body: xdr().string('l2_drops').string('ingress_vlan_filter'), want: { kind: 'extended_hw_trap', group: 'l2_drops', trap: 'ingress_vlan_filter' } },
    { name: 'extended_linux_drop_reason (1042)', format: 1042, body: xdr().string('NETFILTER_DROP'), want: { kind: 'extended_linux_drop_reason', reason: 'NETFILTER_DROP' } },
  ])('$name', ({ format, body, want }) => {
    expect(flowRecord(format, body)).toEqual({ offset: FLOW_RECORD_OFFSET, length: body.length, ...want });
  });
});

describe('counter records', () => {
  const dot3 = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13];
  it.each([
    {
      name: 'generic_interface (1)', format: 1,
      body: xdr().u32(3).u32(6).u64(10_000_000_000n).u32(1).u32(3).u64(1n << 40n).u32(1).u32(2).u32(3).u32(4).u32(5).u32(6)
        .u64(2n).u32(7).u32(8).u32(9).u32(10).u32(11).u32(0),
      want: {
        kind: 'generic_interface', ifIndex: 3, ifType: 6, ifSpeed: 10_000_000_000n, ifDirection: 1, ifAdminStatus: 1, ifOperStatus: 1,
        inOctets: 1n << 40n, inUcastPkts: 1, inMulticastPkts: 2, inBroadcastPkts: 3, inDiscards: 4, inErrors: 5, inUnknownProtos: 6,
        outOctets: 2n, outUcastPkts: 7, outMulticastPkts: 8, outBroadcastPkts: 9, outDiscards: 10, outErrors: 11, ifPromiscuousMode: 0,
      },
    },
    {
      name: 'ethernet_interface (2)', format: 2, body: u32s(xdr(), dot3),
      want: {
        kind: 'ethernet_interface', dot3StatsAlignmentErrors: 1, dot3StatsFCSErrors: 2, dot3StatsSingleCollisionFrames: 3,
        dot3StatsMultipleCollisionFrames: 4, dot3StatsSQETestErrors: 5, dot3StatsDeferredTransmissions: 6, dot3StatsLateCollisions: 7,
        dot3StatsExcessiveCollisions: 8, dot3StatsInternalMacTransmitErrors: 9, dot3StatsCarrierSenseErrors: 10, dot3StatsFrameTooLongs: 11,
        dot3StatsInternalMacReceiveErrors: 12, dot3StatsSymbolErrors: 13,
      },
    },
    {
      name: 'vlan (5)', format: 5, body: xdr().u32(100).u64(123456789n).u32(1).u32(2).u32(3).u32(4),
      want: { kind: 'vlan', vlanId: 100, octets: 123456789n, ucastPkts: 1, multicastPkts: 2, broadcastPkts: 3, discards: 4 },
    },
    {
      name: 'lag_port (7)', format: 7, body: u32s(xdr().mac(A).mac(B).u32(5).raw([0x3d, 0x3f, 0x3d, 0x3c]), [1, 2, 3, 4, 5, 6, 7, 8]),
      want: {
        kind: 'lag_port', actorSystemId: A, partnerSystemId: B, attachedAggId: 5, actorAdminPortState: 0x3d, actorOperPortState: 0x3f,
        partnerAdminPortState: 0x3d, partnerOperPortState: 0x3c, lacpdusRx: 1, markerPdusRx: 2, markerResponsePdusRx: 3, unknownRx: 4,
        illegalRx: 5, lacpdusTx: 6, markerPdusTx: 7, markerResponsePdusTx: 8,
      },
    },
    {
      name: 'processor (1001)', format: 1001, body: xdr().u32(1450).u32(1370).u32(1330).u64(8n << 30n).u64(1n << 30n),
      want: { kind: 'processor', cpu5s: 1450, cpu1m: 1370, cpu5m: 1330, totalMemory: 8n << 30n, freeMemory: 1n << 30n },
    },
    {
      name: 'openflow_port (1004)', format: 1004, body: xdr().u64(0x0000_5254_0012_3456n).u32(3),
      want: { kind: 'openflow_port', datapathId: 0x0000_5254_0012_3456n, portNo: 3 },
    },
    { name: 'openflow_port_name (1005)', format: 1005, body: xdr().string('qvo1234abcd-ef'), want: { kind: 'openflow_port_name', name: 'qvo1234abcd-ef' } },
    // sflow_host.txt
    {
      name: 'host_descr (2000)', format: 2000,
      body: xdr().string('compute-1').raw([...Array.from({ length: 16 }, (_, i) => i)]).u32(3).u32(2).string('6.1.0-13-amd64'),
      want: { kind: 'host_descr', fields: { hostname: 'compute-1', uuid: '00010203-0405-0607-0809-0a0b0c0d0e0f', machine_type: 3, os_name: 2, os_release: '6.1.0-13-amd64' } },
    },
    {
      name: 'host_adapters (2001)', format: 2001, body: xdr().u32(2).u32(4).u32(1).mac(A).u32(5).u32(2).mac(A).mac(B),
      want: { kind: 'host_adapters', fields: { adapters: 2, adapter_0_ifIndex: 4, adapter_0_mac_address: A, adapter_1_ifIndex: 5, adapter_1_mac_address: `${A},${B}` } },
    },
    { name: 'host_parent (2002)', format: 2002, body: xdr().u32(2).u32(1000), want: { kind: 'host_parent', fields: { container_type: 2, container_index: 1000 } } },
    {
      name: 'host_cpu (2003), with the 2014 fields', format: 2003, body: u32s(xdr().f32(0.5).f32(0.25).f32(1.5), Array.from({ length: 17 }, (_, i) => i + 1)),
      want: { kind: 'host_cpu', fields: {
        load_one: 0.5, load_five: 0.25, load_fifteen: 1.5, proc_run: 1, proc_total: 2, cpu_num: 3, cpu_speed: 4, uptime: 5, cpu_user: 6, cpu_nice: 7,
        cpu_system: 8, cpu_idle: 9, cpu_wio: 10, cpu_intr: 11, cpu_sintr: 12, interrupts: 13, contexts: 14, cpu_steal: 15, cpu_guest: 16, cpu_guest_nice: 17 } },
    },
    {
      name: 'host_memory (2004)', format: 2004, body: u32s(xdr().u64(1n).u64(2n).u64(3n).u64(4n).u64(5n).u64(6n).u64(7n), [8, 9, 10, 11]),
      want: { kind: 'host_memory', fields: { mem_total: 1n, mem_free: 2n, mem_shared: 3n, mem_buffers: 4n, mem_cached: 5n, swap_total: 6n, swap_free: 7n, page_in: 8, page_out: 9, swap_in: 10, swap_out: 11 } },
    },
    {
      name: 'host_disk_io (2005)', format: 2005, body: xdr().u64(100n).u64(50n).u32(5000).u32(1).u64(2n).u32(3).u32(4).u64(5n).u32(6),
      want: { kind: 'host_disk_io', fields: { disk_total: 100n, disk_free: 50n, part_max_used: 5000, reads: 1, bytes_read: 2n, read_time: 3, writes: 4, bytes_written: 5n, write_time: 6 } },
    },
    {
      name: 'host_net_io (2006)', format: 2006, body: xdr().u64(1n).u32(2).u32(3).u32(4).u64(5n).u32(6).u32(7).u32(8),
      want: { kind: 'host_net_io', fields: { bytes_in: 1n, pkts_in: 2, errs_in: 3, drops_in: 4, bytes_out: 5n, pkts_out: 6, errs_out: 7, drops_out: 8 } },
    },
    {
      name: 'mib2_ip_group (2007)', format: 2007, body: u32s(xdr(), Array.from({ length: 19 }, (_, i) => i)),
      want: { kind: 'mib2_ip_group', fields: expect.objectContaining({ ipForwarding: 0, ipDefaultTTL: 1, ipFragCreates: 18 }) },
    },
    {
      name: 'mib2_icmp_group (2008)', format: 2008, body: u32s(xdr(), Array.from({ length: 25 }, (_, i) => i)),
      want: { kind: 'mib2_icmp_group', fields: expect.objectContaining({ icmpInMsgs: 0, icmpOutEchoReps: 20, icmpOutAddrMaskReps: 24 }) },
    },
    {
      name: 'mib2_tcp_group (2009)', format: 2009, body: u32s(xdr(), Array.from({ length: 15 }, (_, i) => i)),
      want: { kind: 'mib2_tcp_group', fields: expect.objectContaining({ tcpRtoAlgorithm: 0, tcpCurrEstab: 8, tcpInCsumErrors: 14 }) },
    },
    {
      name: 'mib2_udp_group (2010)', format: 2010, body: u32s(xdr(), [1, 2, 3, 4, 5, 6, 7]),
      want: { kind: 'mib2_udp_group', fields: { udpInDatagrams: 1, udpNoPorts: 2, udpInErrors: 3, udpOutDatagrams: 4, udpRcvbufErrors: 5, udpSndbufErrors: 6, udpInCsumErrors: 7 } },
    },
    {
      name: 'virt_node (2100)', format: 2100, body: xdr().u32(2400).u32(16).u64(64n << 30n).u64(8n << 30n).u32(12),
      want: { kind: 'virt_node', fields: { mhz: 2400, cpus: 16, memory: 64n << 30n, memory_free: 8n << 30n, num_domains: 12 } },
    },
    { name: 'virt_cpu (2101)', format: 2101, body: xdr().u32(1).u32(123456).u32(4), want: { kind: 'virt_cpu', fields: { state: 1, cpuTime: 123456, nrVirtCpu: 4 } } },
    { name: 'virt_memory (2102)', format: 2102, body: xdr().u64(1n << 30n).u64(2n << 30n), want: { kind: 'virt_memory', fields: { memory: 1n << 30n, maxMemory: 2n << 30n } } },
    {
      name: 'virt_disk_io (2103)', format: 2103, body: xdr().u64(1n).u64(2n).u64(3n).u32(4).u64(5n).u32(6).u64(7n).u32(8),
      want: { kind: 'virt_disk_io', fields: { capacity: 1n, allocation: 2n, available: 3n, rd_req: 4, rd_bytes: 5n, wr_req: 6, wr_bytes: 7n, errs: 8 } },
    },
    {
      name: 'virt_net_io (2104)', format: 2104, body: xdr().u64(1n).u32(2).u32(3).u32(4).u64(5n).u32(6).u32(7).u32(8),
      want: { kind: 'virt_net_io', fields: { rx_bytes: 1n, rx_packets: 2, rx_errs: 3, rx_drop: 4, tx_bytes: 5n, tx_packets: 6, tx_errs: 7, tx_drop: 8 } },
    },
    {
      name: 'jvm_runtime (2105)', format: 2105, body: xdr().string('OpenJDK 64-Bit Server VM').string('Debian').string('17.0.9'),
      want: { kind: 'jvm_runtime', fields: { vm_name: 'OpenJDK 64-Bit Server VM', vm_vendor: 'Debian', vm_version: '17.0.9' } },
    },
    {
      name: 'jvm_statistics (2106), without the optional fd counts', format: 2106,
      body: u32s(xdr().u64(1n).u64(2n).u64(3n).u64(4n).u64(5n).u64(6n).u64(7n).u64(8n), [9, 10, 11, 12, 13, 14, 15, 16, 17]),
      want: { kind: 'jvm_statistics', fields: {
        heap_initial: 1n, heap_used: 2n, heap_committed: 3n, heap_max: 4n, non_heap_initial: 5n, non_heap_used: 6n, non_heap_committed: 7n, non_heap_max: 8n,
        gc_count: 9, gc_time: 10, classes_loaded: 11, classes_total: 12, classes_unloaded: 13, compilation_time: 14, thread_num_live: 15,
        thread_num_daemon: 16, thread_num_started: 17 } },
    },
    {
      name: 'app_resources (2203)', format: 2203, body: xdr().u32(1).u32(2).u64(3n).u64(4n).u32(5).u32(6).u32(7).u32(8),
      want: { kind: 'app_resources', fields: { user_time: 1, system_time: 2, mem_used: 3n, mem_max: 4n, fd_open: 5, fd_max: 6, conn_open: 7, conn_max: 8 } },
    },
    {
      name: 'ovs_dp_stats (2207)', format: 2207, body: u32s(xdr(), [1, 2, 3, 4, 5, 6]),
      want: { kind: 'ovs_dp_stats', fields: { n_hit: 1, n_missed: 2, n_lost: 3, n_mask_hit: 4, n_flows: 5, n_masks: 6 } },
    },
  ])('$name', ({ format, body, want }) => {
    expect(counterRecord(format, body)).toEqual({ offset: COUNTER_RECORD_OFFSET, length: body.length, ...want });
  });
});

describe('records too short or wrong for their format are malformed; the sample survives', () => {
  it.each([
    { name: 'extended_switch of 12 bytes', format: 1001, body: xdr().u32(1).u32(2).u32(3), code: 'truncated', path: 'datagram/sample[0]/record[0]/dst_priority' },
    { name: 'sampled_header whose header_length runs past the record', format: 1, body: xdr().u32(1).u32(64).u32(4).u32(64).u32(0), code: 'truncated', path: 'datagram/sample[0]/record[0]/header' },
    { name: 'router next hop of address type 9', format: 1002, body: xdr().u32(9).u32(0).u32(0).u32(0), code: 'bad-value', path: 'datagram/sample[0]/record[0]/nexthop.type' },
    { name: 'gateway with 1000 AS path segments in 20 bytes', format: 1003, body: xdr().address('192.0.2.1').u32(1).u32(2).u32(3).u32(1000), code: 'too-many', path: 'datagram/sample[0]/record[0]/dst_as_path' },
    { name: 'vni of 2 bytes', format: 1030, body: xdr().raw([0, 1]), code: 'truncated', path: 'datagram/sample[0]/record[0]/vni' },
  ])('$name', ({ format, body, code, path }) => {
    const d = decodeDatagram(datagram({}, [flowSample({}, [tagged(format, body.bytes()), tagged(1001, xdr().u32(5).u32(0).u32(6).u32(0).bytes())])]));
    expect(d.issues).toEqual([]);
    expect(d.malformedRecords).toBe(1);
    const s = d.samples[0];
    if (s?.kind !== 'flow') throw new Error('no flow sample');
    expect(s.records[0]).toMatchObject({ kind: 'malformed', enterprise: 0, format, offset: FLOW_RECORD_OFFSET, length: body.length, error: { code, path } });
    expect(s.records[0]?.kind === 'malformed' ? [...s.records[0].body] : []).toEqual([...body.bytes()]);
    expect(s.records[1]).toMatchObject({ kind: 'extended_switch', srcVlan: 5, dstVlan: 6 });
  });

  it('rejects a port name longer than the 255 bytes of string name<255>', () => {
    const d = decodeDatagram(datagram({}, [counterSample([tagged(1005, xdr().string('x'.repeat(300)).bytes())])]));
    const s = d.samples[0];
    expect(s?.kind === 'counter' ? s.records[0] : undefined).toMatchObject({ kind: 'malformed', error: { code: 'bad-length' } });
  });

  it('ignores extra trailing bytes in a record', () => {
    const record = flowRecord(1029, xdr().u32(42).u32(0xffffffff).u32(0xffffffff));
    expect(record).toEqual({ kind: 'extended_vni_egress', offset: FLOW_RECORD_OFFSET, length: 12, vni: 42 });
  });
});
