// The decoded shape of sFlow v5 datagrams: plain objects, unions on `kind`, field names taken
// mechanically from the spec (src_vlan -> srcVlan). counter64 values are bigint. Documented for
// users in docs/sflow-decoded.md; stored in ClickHouse under the spec's snake_case names.
import type { DecodeError } from '../errors.js';

/** A decoded sampled header (flow record 1, or sampled ethernet/IPv4/IPv6 records 2/3/4). */
export interface Packet {
  /** Protocol layers recognised, outermost first: ["eth","vlan","ipv4","gre","eth","ipv4","icmp"]. */
  layers: string[];
  srcMac: string | null;
  dstMac: string | null;
  /** 802.1Q/802.1ad tags, outermost first. */
  vlans: VlanTag[];
  /** EtherType after the VLAN tags (0x0800, 0x86dd, 0x0806, ...); null when there is no Ethernet. */
  etherType: number | null;
  ipVersion: 4 | 6 | null;
  srcIp: string | null;
  dstIp: string | null;
  /** IPv4 protocol / IPv6 next header after extension headers. */
  ipProtocol: number | null;
  ttl: number | null;
  tos: number | null;
  /** IPv4 identification (0 for IPv6 unless a fragment header carries one). */
  ipId: number | null;
  /** IPv4 total length or IPv6 payload length + 40. */
  ipLength: number | null;
  /** True for a non-first fragment (no L4 header). */
  fragment: boolean;
  srcPort: number | null;
  dstPort: number | null;
  tcpFlags: number | null;
  icmpType: number | null;
  icmpCode: number | null;
  /** ARP operation and addresses when etherType is 0x0806. */
  arp: ArpFields | null;
  /** When the frame is a tunnel (GRE, VXLAN, Geneve): its type and id, and the frame inside. */
  tunnel: TunnelFields | null;
  inner: Packet | null;
  /** Set when the header was cut before a layer could be read in full (the rest is null). */
  truncatedAt: string | null;
}

export interface VlanTag { tpid: number; priority: number; dei: number; id: number }
export interface ArpFields { operation: number; senderMac: string; senderIp: string; targetMac: string; targetIp: string }
export interface TunnelFields {
  type: 'gre' | 'vxlan' | 'geneve';
  /** GRE key when present, VXLAN/Geneve VNI; null for keyless GRE. */
  id: number | null;
  /** GRE protocol type (0x6558 for Ethernet, 0x0800 for IPv4). */
  protocol: number | null;
}

/** An sFlow interface reference: compact (flow sample) or expanded (expanded flow sample). */
export interface PortRef {
  /** 0 = single ifIndex, 1 = discarded (value is the reason), 2 = multiple (value is the count, 0 unknown). */
  format: number;
  value: number;
}

// ---------- flow records ----------

interface RecordBase {
  /** Absolute byte offset of the record's data_format field in the datagram. */
  offset: number;
  /** Declared length of the record body. */
  length: number;
}

export interface SampledHeader extends RecordBase {
  kind: 'sampled_header';
  headerProtocol: number;
  frameLength: number;
  stripped: number;
  headerLength: number;
  /** The sampled bytes (shared with the datagram buffer; copy before keeping it past the datagram). */
  header: Uint8Array;
  /** Parsed when headerProtocol is Ethernet (1), IPv4 (11) or IPv6 (12); null otherwise. */
  packet: Packet | null;
}

export interface SampledEthernet extends RecordBase {
  kind: 'sampled_ethernet';
  frameLength: number; srcMac: string; dstMac: string; etherType: number;
}

export interface SampledIpv4 extends RecordBase {
  kind: 'sampled_ipv4';
  ipLength: number; protocol: number; srcIp: string; dstIp: string;
  srcPort: number; dstPort: number; tcpFlags: number; tos: number;
}

export interface SampledIpv6 extends RecordBase {
  kind: 'sampled_ipv6';
  ipLength: number; protocol: number; srcIp: string; dstIp: string;
  srcPort: number; dstPort: number; tcpFlags: number; priority: number;
}

export interface ExtendedSwitch extends RecordBase {
  kind: 'extended_switch';
  srcVlan: number; srcPriority: number; dstVlan: number; dstPriority: number;
}

export interface ExtendedRouter extends RecordBase {
  kind: 'extended_router';
  nextHop: string; srcMaskLen: number; dstMaskLen: number;
}

export interface AsPathSegment { type: number; asns: number[] }
export interface ExtendedGateway extends RecordBase {
  kind: 'extended_gateway';
  nextHop: string; as: number; srcAs: number; srcPeerAs: number;
  dstAsPath: AsPathSegment[]; communities: number[]; localPref: number;
}

export interface ExtendedUser extends RecordBase {
  kind: 'extended_user';
  srcCharset: number; srcUser: string; dstCharset: number; dstUser: string;
}

export interface ExtendedUrl extends RecordBase {
  kind: 'extended_url';
  direction: number; url: string; host: string;
}

export interface ExtendedMpls extends RecordBase {
  kind: 'extended_mpls';
  nextHop: string; inStack: number[]; outStack: number[];
}

export interface ExtendedNat extends RecordBase {
  kind: 'extended_nat';
  srcAddress: string; dstAddress: string;
}

/** Tunnel structures 1021-1026 carry a sampled_ipv4/6-like description of the outer/inner header. */
export interface ExtendedTunnelEthernet extends RecordBase {
  kind: 'extended_l2_tunnel_egress' | 'extended_l2_tunnel_ingress';
  frameLength: number; srcMac: string; dstMac: string; etherType: number;
}
export interface ExtendedTunnelIp extends RecordBase {
  kind: 'extended_ipv4_tunnel_egress' | 'extended_ipv4_tunnel_ingress' | 'extended_ipv6_tunnel_egress' | 'extended_ipv6_tunnel_ingress';
  ipLength: number; protocol: number; srcIp: string; dstIp: string;
  srcPort: number; dstPort: number; tcpFlags: number; tos: number;
}
export interface ExtendedDecapsulate extends RecordBase {
  kind: 'extended_decapsulate_egress' | 'extended_decapsulate_ingress';
  innerHeaderOffset: number;
}
export interface ExtendedVni extends RecordBase {
  kind: 'extended_vni_egress' | 'extended_vni_ingress';
  vni: number;
}

/** sflow_drops.txt: egress queue (1036), ACL (1037), function (1038), transit delay (1039), queue depth (1040), hw trap (1041), Linux drop reason (1042). */
export interface ExtendedEgressQueue extends RecordBase { kind: 'extended_egress_queue'; queue: number }
export interface ExtendedAcl extends RecordBase { kind: 'extended_acl'; number: number; name: string; direction: number }
export interface ExtendedFunction extends RecordBase { kind: 'extended_function'; symbol: string }
export interface ExtendedTransit extends RecordBase { kind: 'extended_transit'; delay: number }
export interface ExtendedQueue extends RecordBase { kind: 'extended_queue'; depth: number }
export interface ExtendedHwTrap extends RecordBase { kind: 'extended_hw_trap'; group: string; trap: string }
export interface ExtendedLinuxReason extends RecordBase { kind: 'extended_linux_drop_reason'; reason: string }

// ---------- counter records ----------

export interface GenericInterfaceCounters extends RecordBase {
  kind: 'generic_interface';
  ifIndex: number; ifType: number; ifSpeed: bigint; ifDirection: number;
  /** ifStatus bit 0 = admin up, bit 1 = oper up. */
  ifAdminStatus: number; ifOperStatus: number;
  inOctets: bigint; inUcastPkts: number; inMulticastPkts: number; inBroadcastPkts: number;
  inDiscards: number; inErrors: number; inUnknownProtos: number;
  outOctets: bigint; outUcastPkts: number; outMulticastPkts: number; outBroadcastPkts: number;
  outDiscards: number; outErrors: number; ifPromiscuousMode: number;
}

export interface EthernetCounters extends RecordBase {
  kind: 'ethernet_interface';
  dot3StatsAlignmentErrors: number; dot3StatsFCSErrors: number; dot3StatsSingleCollisionFrames: number;
  dot3StatsMultipleCollisionFrames: number; dot3StatsSQETestErrors: number; dot3StatsDeferredTransmissions: number;
  dot3StatsLateCollisions: number; dot3StatsExcessiveCollisions: number; dot3StatsInternalMacTransmitErrors: number;
  dot3StatsCarrierSenseErrors: number; dot3StatsFrameTooLongs: number; dot3StatsInternalMacReceiveErrors: number;
  dot3StatsSymbolErrors: number;
}

export interface VlanCounters extends RecordBase {
  kind: 'vlan';
  vlanId: number; octets: bigint; ucastPkts: number; multicastPkts: number; broadcastPkts: number; discards: number;
}

export interface LagPortStats extends RecordBase {
  kind: 'lag_port';
  actorSystemId: string; partnerSystemId: string; attachedAggId: number;
  actorAdminPortState: number; actorOperPortState: number; partnerAdminPortState: number; partnerOperPortState: number;
  lacpdusRx: number; markerPdusRx: number; markerResponsePdusRx: number; unknownRx: number; illegalRx: number;
  lacpdusTx: number; markerPdusTx: number; markerResponsePdusTx: number;
}

export interface ProcessorCounters extends RecordBase {
  kind: 'processor';
  cpu5s: number; cpu1m: number; cpu5m: number; totalMemory: bigint; freeMemory: bigint;
}

/** OpenFlow port (1004): datapath id and OpenFlow port number of the ifIndex. */
export interface OpenflowPort extends RecordBase {
  kind: 'openflow_port';
  datapathId: bigint; portNo: number;
}

/** Port name (1005). */
export interface PortName extends RecordBase { kind: 'openflow_port_name'; name: string }

/**
 * Host and virtual-host structures (2000-2010, 2100-2104), JVM (2105-2106), app resources (2203) and the OVS
 * datapath structure (2207, non-standard): decoded into a flat field map under the spec's names.
 */
export interface HostCounters extends RecordBase {
  kind: HostCounterKind;
  fields: Record<string, number | bigint | string>;
}
export type HostCounterKind =
  | 'host_descr' | 'host_adapters' | 'host_parent' | 'host_cpu' | 'host_memory' | 'host_disk_io' | 'host_net_io'
  | 'mib2_ip_group' | 'mib2_icmp_group' | 'mib2_tcp_group' | 'mib2_udp_group'
  | 'virt_node' | 'virt_cpu' | 'virt_memory' | 'virt_disk_io' | 'virt_net_io'
  /** Never produced: sflow_host.txt has no such structures (2105/2106 are the JVM ones of sflow_jvm.txt). */
  | 'virt_descr' | 'virt_adapters'
  | 'jvm_runtime' | 'jvm_statistics'
  | 'app_resources' | 'ovs_dp_stats';

// ---------- records that could not be decoded ----------

/** A record whose (enterprise, format) this decoder does not know: skipped by its length, kept raw. */
export interface UnknownRecord extends RecordBase {
  kind: 'unknown';
  enterprise: number; format: number; body: Uint8Array;
}
/** A known record too short (or otherwise wrong) for its format: kept raw with the error; the sample survives. */
export interface MalformedRecord extends RecordBase {
  kind: 'malformed';
  enterprise: number; format: number; error: DecodeError; body: Uint8Array;
}

export type FlowRecord =
  | SampledHeader | SampledEthernet | SampledIpv4 | SampledIpv6
  | ExtendedSwitch | ExtendedRouter | ExtendedGateway | ExtendedUser | ExtendedUrl | ExtendedMpls | ExtendedNat
  | ExtendedTunnelEthernet | ExtendedTunnelIp | ExtendedDecapsulate | ExtendedVni
  | ExtendedEgressQueue | ExtendedAcl | ExtendedFunction | ExtendedTransit | ExtendedQueue | ExtendedHwTrap | ExtendedLinuxReason
  | UnknownRecord | MalformedRecord;

export type CounterRecord =
  | GenericInterfaceCounters | EthernetCounters | VlanCounters | LagPortStats | ProcessorCounters
  | OpenflowPort | PortName | HostCounters
  | UnknownRecord | MalformedRecord;

// ---------- samples ----------

interface SampleBase {
  /** Absolute byte offset of the sample's data_format field. */
  offset: number;
  length: number;
  /** True for the expanded forms (formats 3 and 4). */
  expanded: boolean;
  sequence: number;
  /** source_id type: 0 ifIndex, 1 smonVlanDataSource, 2 entPhysicalEntry (OVS: the bridge). */
  sourceIdType: number;
  sourceIdIndex: number;
}

export interface FlowSample extends SampleBase {
  kind: 'flow';
  samplingRate: number;
  samplePool: number;
  drops: number;
  input: PortRef;
  output: PortRef;
  records: FlowRecord[];
}

export interface CounterSample extends SampleBase {
  kind: 'counter';
  records: CounterRecord[];
}

/** sflow_drops.txt discarded packet (format 5). */
export interface DiscardSample extends SampleBase {
  kind: 'discard';
  drops: number;
  inputIfIndex: number;
  outputIfIndex: number;
  /** Drop reason code (sflow_drops.txt: 0-15 ICMP unreachable codes, 256 unknown, 258 ACL, ...; wire.ts DROP_REASON). */
  reason: number;
  records: FlowRecord[];
}

/** A sample whose (enterprise, format) is unknown: skipped by length, kept raw. */
export interface UnknownSample {
  kind: 'unknown';
  offset: number;
  length: number;
  enterprise: number;
  format: number;
  body: Uint8Array;
}

export type Sample = FlowSample | CounterSample | DiscardSample | UnknownSample;

/** Something wrong below the datagram header; decoding went on where the framing allowed. */
export interface DecodeIssue {
  code: DecodeError['code'];
  offset: number;
  path: string;
  message: string;
}

export interface Datagram {
  version: 5;
  /** 1 = IPv4, 2 = IPv6. */
  agentAddressType: 1 | 2;
  agent: string;
  subAgentId: number;
  sequence: number;
  uptimeMs: number;
  /** num_samples as declared; samples.length may be lower when the datagram is cut. */
  numSamples: number;
  samples: Sample[];
  issues: DecodeIssue[];
  /** Records skipped because their format is unknown, summed over samples (for metrics). */
  unknownRecords: number;
  malformedRecords: number;
}
