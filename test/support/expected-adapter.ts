// Our decoded datagrams in the shape of NAME.expected.json (test/support/sflow-captures.ts), so a
// golden test can compare with toEqual: framing (offsets, enterprise, format, length) of every
// sample and record, the datagram and sample headers, and the `fields` of records tshark decoded,
// with our camelCase mapped to the file's snake_case. Where tshark 4.0 spells or groups a field in
// its own way, the mapping says so next to it.
import type { CounterRecord, Datagram, FlowRecord, Packet, Sample } from '../../src/sflow/types.js';
import type { ExpectedDatagram, ExpectedSample, FieldValue, Fields } from './sflow-captures.js';
import { COUNTER_FORMAT, FLOW_FORMAT, SAMPLE_FORMAT } from '../../src/sflow/wire.js';

type AnyRecord = FlowRecord | CounterRecord;

/** The (enterprise 0) format number of each decoded record kind. */
const KIND_FORMAT: Record<Exclude<AnyRecord['kind'], 'unknown' | 'malformed'>, number> = {
  sampled_header: FLOW_FORMAT.SAMPLED_HEADER,
  sampled_ethernet: FLOW_FORMAT.SAMPLED_ETHERNET,
  sampled_ipv4: FLOW_FORMAT.SAMPLED_IPV4,
  sampled_ipv6: FLOW_FORMAT.SAMPLED_IPV6,
  extended_switch: FLOW_FORMAT.EXTENDED_SWITCH,
  extended_router: FLOW_FORMAT.EXTENDED_ROUTER,
  extended_gateway: FLOW_FORMAT.EXTENDED_GATEWAY,
  extended_user: FLOW_FORMAT.EXTENDED_USER,
  extended_url: FLOW_FORMAT.EXTENDED_URL,
  extended_mpls: FLOW_FORMAT.EXTENDED_MPLS,
  extended_nat: FLOW_FORMAT.EXTENDED_NAT,
  extended_l2_tunnel_egress: FLOW_FORMAT.EXTENDED_L2_TUNNEL_EGRESS,
  extended_l2_tunnel_ingress: FLOW_FORMAT.EXTENDED_L2_TUNNEL_INGRESS,
  extended_ipv4_tunnel_egress: FLOW_FORMAT.EXTENDED_IPV4_TUNNEL_EGRESS,
  extended_ipv4_tunnel_ingress: FLOW_FORMAT.EXTENDED_IPV4_TUNNEL_INGRESS,
  extended_ipv6_tunnel_egress: FLOW_FORMAT.EXTENDED_IPV6_TUNNEL_EGRESS,
  extended_ipv6_tunnel_ingress: FLOW_FORMAT.EXTENDED_IPV6_TUNNEL_INGRESS,
  extended_decapsulate_egress: FLOW_FORMAT.EXTENDED_DECAPSULATE_EGRESS,
  extended_decapsulate_ingress: FLOW_FORMAT.EXTENDED_DECAPSULATE_INGRESS,
  extended_vni_egress: FLOW_FORMAT.EXTENDED_VNI_EGRESS,
  extended_vni_ingress: FLOW_FORMAT.EXTENDED_VNI_INGRESS,
  extended_egress_queue: FLOW_FORMAT.EXTENDED_EGRESS_QUEUE,
  extended_acl: FLOW_FORMAT.EXTENDED_ACL,
  extended_function: FLOW_FORMAT.EXTENDED_FUNCTION,
  extended_transit: FLOW_FORMAT.EXTENDED_TRANSIT,
  extended_queue: FLOW_FORMAT.EXTENDED_QUEUE,
  extended_hw_trap: FLOW_FORMAT.EXTENDED_HW_TRAP,
  extended_linux_drop_reason: FLOW_FORMAT.EXTENDED_LINUX_DROP_REASON,
  generic_interface: COUNTER_FORMAT.GENERIC_INTERFACE,
  ethernet_interface: COUNTER_FORMAT.ETHERNET_INTERFACE,
  vlan: COUNTER_FORMAT.VLAN,
  lag_port: COUNTER_FORMAT.LAG_PORT,
  processor: COUNTER_FORMAT.PROCESSOR,
  openflow_port: COUNTER_FORMAT.OPENFLOW_PORT,
  openflow_port_name: COUNTER_FORMAT.OPENFLOW_PORT_NAME,
  host_descr: COUNTER_FORMAT.HOST_DESCR,
  host_adapters: COUNTER_FORMAT.HOST_ADAPTERS,
  host_parent: COUNTER_FORMAT.HOST_PARENT,
  host_cpu: COUNTER_FORMAT.HOST_CPU,
  host_memory: COUNTER_FORMAT.HOST_MEMORY,
  host_disk_io: COUNTER_FORMAT.HOST_DISK_IO,
  host_net_io: COUNTER_FORMAT.HOST_NET_IO,
  mib2_ip_group: COUNTER_FORMAT.MIB2_IP_GROUP,
  mib2_icmp_group: COUNTER_FORMAT.MIB2_ICMP_GROUP,
  mib2_tcp_group: COUNTER_FORMAT.MIB2_TCP_GROUP,
  mib2_udp_group: COUNTER_FORMAT.MIB2_UDP_GROUP,
  virt_node: COUNTER_FORMAT.VIRT_NODE,
  virt_cpu: COUNTER_FORMAT.VIRT_CPU,
  virt_memory: COUNTER_FORMAT.VIRT_MEMORY,
  virt_disk_io: COUNTER_FORMAT.VIRT_DISK_IO,
  virt_net_io: COUNTER_FORMAT.VIRT_NET_IO,
  virt_descr: -1, // never produced
  virt_adapters: -1, // never produced
  jvm_runtime: COUNTER_FORMAT.JVM_RUNTIME,
  jvm_statistics: COUNTER_FORMAT.JVM_STATISTICS,
  app_resources: COUNTER_FORMAT.APP_RESOURCES,
  ovs_dp_stats: COUNTER_FORMAT.OVS_DP_STATS,
};

export function recordFormat(record: AnyRecord): { enterprise: number; format: number } {
  if (record.kind === 'unknown' || record.kind === 'malformed') return { enterprise: record.enterprise, format: record.format };
  return { enterprise: 0, format: KIND_FORMAT[record.kind] };
}

export function sampleFormat(sample: Sample): { enterprise: number; format: number } {
  switch (sample.kind) {
    case 'unknown': return { enterprise: sample.enterprise, format: sample.format };
    case 'flow': return { enterprise: 0, format: sample.expanded ? SAMPLE_FORMAT.EXPANDED_FLOW : SAMPLE_FORMAT.FLOW };
    case 'counter': return { enterprise: 0, format: sample.expanded ? SAMPLE_FORMAT.EXPANDED_COUNTER : SAMPLE_FORMAT.COUNTER };
    case 'discard': return { enterprise: 0, format: SAMPLE_FORMAT.DISCARD };
  }
}

export interface Framing {
  samples: { offset: number; enterprise: number; format: number; length: number; records: { offset: number; enterprise: number; format: number; length: number }[] }[];
}

/** Sample and record offsets, formats and declared lengths of our decode. */
export function framingOf(d: Datagram): Framing {
  return {
    samples: d.samples.map((s) => ({
      offset: s.offset, ...sampleFormat(s), length: s.length,
      records: s.kind === 'unknown' ? [] : s.records.map((r: AnyRecord) => ({ offset: r.offset, ...recordFormat(r), length: r.length })),
    })),
  };
}

/** The same from the expected file (the framing walker's part). */
export function expectedFraming(want: ExpectedDatagram): Framing {
  return {
    samples: want.samples.map((s) => ({
      offset: s.offset, enterprise: s.enterprise, format: s.format, length: s.length,
      records: s.records.map((r) => ({ offset: r.offset, enterprise: r.enterprise, format: r.format, length: r.length })),
    })),
  };
}

/** Datagram header fields under the file's names. */
export function datagramHeaderOf(d: Datagram): Fields {
  return {
    datagram_length: -1, // filled by the caller from the payload
    version: d.version, agent_address_type: d.agentAddressType, agent_address: d.agent, sub_agent_id: d.subAgentId,
    sequence_number: d.sequence, uptime_ms: d.uptimeMs, num_samples: d.numSamples,
  };
}

/** Header fields of a flow or counter sample under the file's names (compact interfaces as `raw`). */
export function sampleHeaderOf(s: Sample, want: ExpectedSample): Fields | undefined {
  if (s.kind === 'flow') {
    const out: Fields = {
      sequence_number: s.sequence, source_id_class: s.sourceIdType, source_id_index: s.sourceIdIndex,
      sampling_rate: s.samplingRate, sample_pool: s.samplePool, drops: s.drops, num_records: s.records.length,
      input: s.expanded ? { format: s.input.format, value: s.input.value } : { raw: compact(s.input) },
      output: s.expanded ? { format: s.output.format, value: s.output.value } : { raw: compact(s.output), format: s.output.format, value: s.output.value },
    };
    return pick(out, want);
  }
  if (s.kind === 'counter') {
    return pick({ sequence_number: s.sequence, source_id_class: s.sourceIdType, source_id_index: s.sourceIdIndex, num_records: s.records.length }, want);
  }
  return undefined;
}

function compact(port: { format: number; value: number }): number {
  return ((port.format << 30) | port.value) >>> 0;
}

/** The keys of `want` that are sample header fields. */
function pick(out: Fields, want: ExpectedSample): Fields {
  const picked: Fields = {};
  for (const key of Object.keys(out)) if (key in want) picked[key] = out[key] as FieldValue;
  return picked;
}

const TCP_FLAG_BITS = [['cwr', 0x80], ['ece', 0x40], ['urg', 0x20], ['ack', 0x10], ['psh', 0x08], ['rst', 0x04], ['syn', 0x02], ['fin', 0x01]] as const;

/**
 * A record's fields as tshark-expected.py writes them, or undefined when this adapter has no
 * mapping for the kind (the test then fails, so every kind tshark decodes is covered).
 */
export function recordFieldsOf(record: AnyRecord): Fields | undefined {
  switch (record.kind) {
    case 'sampled_header': {
      const out: Fields = {
        header_protocol: record.headerProtocol, frame_length: record.frameLength, stripped: record.stripped, header_length: record.headerLength,
      };
      if (record.packet !== null) out['packet'] = packetOf(record.packet);
      return out;
    }
    case 'sampled_ethernet':
      return { length: record.frameLength, src_mac: record.srcMac, dst_mac: record.dstMac, eth_type: record.etherType };
    case 'sampled_ipv4': {
      const out: Fields = {
        length: record.ipLength, protocol: record.protocol, src_ip: record.srcIp, dst_ip: record.dstIp,
        src_port: record.srcPort, dst_port: record.dstPort,
      };
      // tshark splits tcp_flags into one field per bit and tos into its RFC 791 parts.
      for (const [name, bit] of TCP_FLAG_BITS) out[`ip_tcp_flag_${name}`] = (record.tcpFlags & bit) !== 0 ? 1 : 0;
      out['ipv4_precedence_type'] = record.tos >>> 5;
      out['ipv4_delay'] = (record.tos >>> 4) & 1;
      out['ipv4_throughput'] = (record.tos >>> 3) & 1;
      out['ipv4_reliability'] = (record.tos >>> 2) & 1;
      out['ipv4_cost'] = (record.tos >>> 1) & 1;
      return out;
    }
    case 'extended_switch':
      return { src_vlan: record.srcVlan, src_priority: record.srcPriority, dst_vlan: record.dstVlan, dst_priority: record.dstPriority };
    case 'extended_router':
      return { next_hop: record.nextHop, src_mask_len: record.srcMaskLen, dst_mask_len: record.dstMaskLen };
    case 'extended_gateway': {
      const out: Fields = {
        next_hop: record.nextHop, as: record.as, src_as: record.srcAs, src_peer_as: record.srcPeerAs,
        dst_as_path_segments: record.dstAsPath.length, communities_count: record.communities.length, local_pref: record.localPref,
      };
      // tshark-expected.py keeps one value per repeated field name: a list of segment types when
      // there are several, the bare type when one; and tshark 4.0 labels each community
      // "AS Destination" (sflow_245.dstAS), so "dst_as_path" holds the last community.
      const types = record.dstAsPath.map((segment) => segment.type);
      if (types.length === 1) out['as_type'] = types[0] as number;
      else if (types.length > 1) out['as_type'] = types;
      const last = record.communities[record.communities.length - 1];
      if (last !== undefined) out['dst_as_path'] = last;
      return out;
    }
    case 'extended_user':
      return {
        extended_user_source_character_set: record.srcCharset,
        extended_user_source_user_string_length: Buffer.byteLength(record.srcUser),
        extended_user_source_user: record.srcUser,
        extended_user_destination_character_set: record.dstCharset,
        extended_user_destination_user_string_length: Buffer.byteLength(record.dstUser),
        extended_user_destination_user: record.dstUser,
      };
    case 'extended_url':
      return {
        extended_url_direction: record.direction,
        extended_url_url_length: Buffer.byteLength(record.url), extended_url_url: record.url,
        extended_url_host_length: Buffer.byteLength(record.host), extended_url_host: record.host,
      };
    case 'generic_interface':
      return {
        if_index: record.ifIndex, if_type: record.ifType, if_speed: Number(record.ifSpeed), if_direction: record.ifDirection,
        if_admin_status: record.ifAdminStatus, if_oper_status: record.ifOperStatus,
        in_octets: Number(record.inOctets), in_ucast_pkts: record.inUcastPkts, in_multicast_pkts: record.inMulticastPkts,
        in_broadcast_pkts: record.inBroadcastPkts, in_discards: record.inDiscards, in_errors: record.inErrors,
        in_unknown_protos: record.inUnknownProtos, out_octets: Number(record.outOctets), out_ucast_pkts: record.outUcastPkts,
        out_multicast_pkts: record.outMulticastPkts, out_broadcast_pkts: record.outBroadcastPkts,
        out_discards: record.outDiscards, out_errors: record.outErrors, if_promiscuous_mode: record.ifPromiscuousMode,
      };
    case 'ethernet_interface': {
      const { kind: _kind, offset: _offset, length: _length, ...counters } = record;
      return counters; // tshark keeps the MIB names (dot3Stats...)
    }
    case 'vlan':
      return {
        vlan_id: record.vlanId, octets: Number(record.octets), ucast_pkts: record.ucastPkts,
        multicast_pkts: record.multicastPkts, broadcast_pkts: record.broadcastPkts, discards: record.discards,
      };
    case 'processor':
      return { cpu_5s: record.cpu5s, cpu_1m: record.cpu1m, cpu_5m: record.cpu5m, total_memory: Number(record.totalMemory), free_memory: Number(record.freeMemory) };
    default:
      return undefined;
  }
}

/** Network layers tshark names, in our spelling: the rest of its protocol list (ssh, tls...) is not ours to parse. */
const TSHARK_LAYER: Readonly<Record<string, string>> = {
  eth: 'eth', vlan: 'vlan', arp: 'arp', ip: 'ipv4', ipv6: 'ipv6', 'ipv6.hopopts': 'ipv6-hopopts', 'ipv6.routing': 'ipv6-routing',
  'ipv6.fraghdr': 'ipv6-fragment', 'ipv6.dstopts': 'ipv6-dstopts', tcp: 'tcp', udp: 'udp', icmp: 'icmp', icmpv6: 'icmpv6',
  gre: 'gre', vxlan: 'vxlan', geneve: 'geneve',
};

/** tshark's protocol list in our layer names, without the application protocols. */
export function tsharkLayers(protocols: readonly string[]): string[] {
  const out: string[] = [];
  for (const p of protocols) {
    const layer = TSHARK_LAYER[p];
    if (layer !== undefined) out.push(layer);
  }
  return out;
}

const IPV6_EXTENSION_NEXT_HEADER: Readonly<Record<string, number>> = {
  'ipv6-hopopts': 0, 'ipv6-routing': 43, 'ipv6-fragment': 44, 'ipv6-dstopts': 60,
};

/** A Packet in the shape of the file's `packet` (outermost headers; tshark reports the first of each). */
export function packetOf(p: Packet): Fields {
  const out: Fields = { protocols: p.layers };
  if (p.srcMac !== null && p.dstMac !== null) {
    out['eth_src'] = p.srcMac;
    out['eth_dst'] = p.dstMac;
    // tshark's eth.type is the type field of the Ethernet header itself: the first TPID when tagged.
    const first = p.vlans[0];
    if (p.etherType !== null) out['eth_type'] = first !== undefined ? first.tpid : p.etherType;
  }
  if (p.vlans.length > 0) {
    out['vlans'] = p.vlans.map((v, i) => ({ priority: v.priority, id: v.id, etype: p.vlans[i + 1]?.tpid ?? p.etherType ?? 0 }));
  }
  if (p.ipVersion === 4) {
    out['ip'] = { src: p.srcIp ?? '', dst: p.dstIp ?? '', protocol: p.ipProtocol ?? -1, ttl: p.ttl ?? -1, tos: p.tos ?? -1, total_length: p.ipLength ?? -1 };
  } else if (p.ipVersion === 6) {
    // tshark's ipv6.nxt is the IPv6 header's own next-header field: the first extension header if any.
    const afterIpv6 = p.layers[p.layers.indexOf('ipv6') + 1];
    const nextHeader = afterIpv6 !== undefined ? IPV6_EXTENSION_NEXT_HEADER[afterIpv6] : undefined;
    out['ipv6'] = {
      src: p.srcIp ?? '', dst: p.dstIp ?? '', next_header: nextHeader ?? p.ipProtocol ?? -1, hop_limit: p.ttl ?? -1,
      traffic_class: p.tos ?? -1, payload_length: (p.ipLength ?? 40) - 40,
    };
  }
  if (p.srcPort !== null && p.dstPort !== null) {
    if (p.ipProtocol === 6) out['tcp'] = { src_port: p.srcPort, dst_port: p.dstPort, flags: p.tcpFlags ?? -1 };
    if (p.ipProtocol === 17) out['udp'] = { src_port: p.srcPort, dst_port: p.dstPort };
  }
  if (p.icmpType !== null) out[p.ipProtocol === 58 ? 'icmpv6' : 'icmp'] = { type: p.icmpType, code: p.icmpCode ?? -1 };
  return out;
}
