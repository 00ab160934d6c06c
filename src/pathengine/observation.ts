// One observation: a frame seen by one sFlow sampler (an OVS bridge) at one time, taken from one
// flow sample (formats 1/3) or discarded-packet sample (format 5, sflow_drops.txt) of a decoded
// datagram. Flat, one shape for every observation (V8 keeps one hidden class), primitive fields
// and shared (interned) strings only. The correlator holds observations for window + lateness
// (5 s by default), so what one holds is what the garbage collector copies and marks: the
// decoder's Packet objects (about 600 bytes, more than the observation itself) are kept only with
// `keepPackets`; the fields the later stages match on (OpenFlow's dl_*, nw_*, tp_*, arp_*,
// tun_id, the outer tunnel header) are copied out. The sampled bytes are never kept (a view into
// the datagram buffer).
//
// Interfaces, as Open vSwitch fills them (DESIGN.md "What Open vSwitch actually exports"):
//   'ifindex'   a port with a kernel ifIndex in the host namespace
//   'none'      ifIndex 0: a port without one (patch, tunnel, internal port moved to a netns:
//               qr-/qg-); resolve it by bridge and MAC instead
//   'local'     0x3fffffff, the agent itself
//   'multiple'  output format 2: several outputs (flood, mirror), outCount of them (0 = unknown)
//   'discard'   output format 1: dropped, discardReason says why (OVS: 256, a flow rule's drop)
import type { Datagram, DiscardSample, FlowSample, Packet } from '../sflow/types.js';
import { IFINDEX_LOCAL, INTERFACE_FORMAT } from '../sflow/wire.js';
import { fingerprintHeader, flowHashOf, type FingerprintOptions, type FingerprintStatus, type FlowKey } from './fingerprint.js';

export type PortKind = 'ifindex' | 'none' | 'local' | 'multiple' | 'discard';
export type Encapsulation = 'none' | 'gre' | 'vxlan' | 'geneve';
/** 'pending' until a correlator looked the ports up; 'unknown' when it had no resolver or found nothing. */
export type Resolution = 'pending' | 'resolved' | 'partial' | 'unknown';

/** What the host topology says an (agent, sub-agent, ifIndex) was at a time. */
export interface ResolvedPort {
  host: string;
  bridge: string;
  /** null when the ifIndex does not name a port (0: patch, tunnel, netns-moved port). */
  port: string | null;
  ofport: number | null;
  neutronPortId?: string;
}

export interface Observation {
  // ---- where and when ----
  /** Collector receive time, milliseconds since the epoch: the event time. */
  receivedAtMs: number;
  /** UDP source address of the datagram (the agent address when unknown). */
  exporter: string;
  agent: string;
  subAgentId: number;
  datagramSequence: number;
  sampleKind: 'flow' | 'discard';
  sampleSequence: number;
  sourceIdType: number;
  sourceIdIndex: number;
  /** 1-in-N; 0 for a discard sample (discards are not sampled). */
  samplingRate: number;
  samplePool: number;
  drops: number;
  inKind: PortKind;
  /** ifIndex for 'ifindex', 0 for 'none', IFINDEX_LOCAL for 'local'. */
  inIfIndex: number;
  outKind: PortKind;
  /** ifIndex for 'ifindex'/'none'/'local', else 0. */
  outIfIndex: number;
  /** Number of outputs for 'multiple' (0 = unknown), 1 for a single output, 0 for a discard. */
  outCount: number;
  /** Drop reason (output format 1, or a discard sample's reason); null for a forwarded frame. */
  discardReason: number | null;
  /** Extended switch (1001); null without the record. */
  srcVlan: number | null;
  dstVlan: number | null;
  // ---- the frame ----
  headerProtocol: number | null;
  frameLength: number;
  headerLength: number;
  stripped: number;
  /** The sampled header as decoded, outermost first; null without a sampled header record or without `keepPackets`. */
  outer: Packet | null;
  /** The innermost frame (`outer` when not tunnelled); null as `outer`. */
  frame: Packet | null;
  /** The tunnel the sampled header itself is in (the receiver's br-phy sees the outer frame). */
  encapsulation: Encapsulation;
  /** The outer header of that tunnel (null when encapsulation is 'none'). */
  outerSrcMac: string | null;
  outerDstMac: string | null;
  outerSrcIp: string | null;
  outerDstIp: string | null;
  /** 47 GRE, 17 VXLAN/Geneve. */
  outerIpProtocol: number | null;
  /** Where the sampled header was cut short of a whole layer (the innermost frame's truncatedAt, else the outer one's). */
  truncatedAt: string | null;
  // ---- tunnel records (sflow_tunnels.txt), null when absent ----
  /** 1024/1026: the frame came out of a tunnel (outer source, destination, IP protocol). */
  tunnelIngressSrc: string | null;
  tunnelIngressDst: string | null;
  tunnelIngressProtocol: number | null;
  /** 1030. */
  tunnelIngressVni: number | null;
  /** 1023/1025: the frame goes into a tunnel (OVS sends them only sometimes). */
  tunnelEgressSrc: string | null;
  tunnelEgressDst: string | null;
  tunnelEgressProtocol: number | null;
  /** 1029. */
  tunnelEgressVni: number | null;
  // ---- flow key of the innermost frame (FlowKey, flattened) ----
  srcMac: string | null;
  dstMac: string | null;
  etherType: number | null;
  ipVersion: 4 | 6 | null;
  srcIp: string | null;
  dstIp: string | null;
  ipProtocol: number | null;
  srcPort: number | null;
  dstPort: number | null;
  icmpType: number | null;
  icmpCode: number | null;
  /** The innermost frame's outermost 802.1Q/802.1ad VLAN id (a trunk port: OVS's local VLAN); null untagged. */
  vlanId: number | null;
  ipId: number | null;
  ttl: number | null;
  tos: number | null;
  fragment: boolean;
  tcpFlags: number | null;
  /** ARP (Ethernet/IPv4) operation and addresses, OpenFlow's arp_op/arp_spa/arp_tpa/arp_sha/arp_tha. */
  arpOperation: number | null;
  arpSenderIp: string | null;
  arpTargetIp: string | null;
  arpSenderMac: string | null;
  arpTargetMac: string | null;
  /** GRE key / VNI: the outer header's, else record 1030's, else 1029's. */
  tunnelId: number | null;
  // ---- identity ----
  fingerprint: string | null;
  fingerprintStatus: FingerprintStatus;
  flowHash: string | null;
  // ---- filled by the correlator ----
  inputPort: ResolvedPort | null;
  outputPort: ResolvedPort | null;
  resolution: Resolution;
}

/** The collector's stamp on a datagram. */
export interface DatagramMeta {
  receivedAtMs: number;
  exporter?: string;
}

export interface ObservationOptions extends FingerprintOptions {
  /** Keep the decoded Packet objects in `outer`/`frame` (about 600 bytes more per held observation). Default false. */
  keepPackets?: boolean;
}

/** Observations of every flow and discard sample of a datagram, in sample order. */
export function toObservations(datagram: Datagram, meta: DatagramMeta, options: ObservationOptions = {}): Observation[] {
  const out: Observation[] = [];
  for (const sample of datagram.samples) {
    if (sample.kind === 'flow' || sample.kind === 'discard') out.push(toObservation(datagram, sample, meta, options));
  }
  return out;
}

export function toObservation(datagram: Datagram, sample: FlowSample | DiscardSample, meta: DatagramMeta, options: ObservationOptions = {}): Observation {
  const o: Observation = {
    receivedAtMs: meta.receivedAtMs, exporter: intern(meta.exporter ?? datagram.agent), agent: intern(datagram.agent), subAgentId: datagram.subAgentId,
    datagramSequence: datagram.sequence, sampleKind: sample.kind, sampleSequence: sample.sequence,
    sourceIdType: sample.sourceIdType, sourceIdIndex: sample.sourceIdIndex,
    samplingRate: 0, samplePool: 0, drops: sample.drops,
    inKind: 'none', inIfIndex: 0, outKind: 'none', outIfIndex: 0, outCount: 1, discardReason: null, srcVlan: null, dstVlan: null,
    headerProtocol: null, frameLength: 0, headerLength: 0, stripped: 0, outer: null, frame: null, encapsulation: 'none',
    outerSrcMac: null, outerDstMac: null, outerSrcIp: null, outerDstIp: null, outerIpProtocol: null, truncatedAt: null,
    tunnelIngressSrc: null, tunnelIngressDst: null, tunnelIngressProtocol: null, tunnelIngressVni: null,
    tunnelEgressSrc: null, tunnelEgressDst: null, tunnelEgressProtocol: null, tunnelEgressVni: null,
    srcMac: null, dstMac: null, etherType: null, ipVersion: null, srcIp: null, dstIp: null, ipProtocol: null,
    srcPort: null, dstPort: null, icmpType: null, icmpCode: null, vlanId: null, ipId: null, ttl: null, tos: null, fragment: false, tcpFlags: null,
    arpOperation: null, arpSenderIp: null, arpTargetIp: null, arpSenderMac: null, arpTargetMac: null, tunnelId: null,
    fingerprint: null, fingerprintStatus: 'unsupported', flowHash: null,
    inputPort: null, outputPort: null, resolution: 'pending',
  };
  if (sample.kind === 'flow') {
    o.samplingRate = sample.samplingRate;
    o.samplePool = sample.samplePool;
    setInput(o, sample.input.format, sample.input.value);
    setOutput(o, sample.output.format, sample.output.value);
  } else {
    setInput(o, INTERFACE_FORMAT.SINGLE, sample.inputIfIndex);
    setOutput(o, INTERFACE_FORMAT.SINGLE, sample.outputIfIndex);
    o.discardReason = sample.reason;
  }
  let headerSeen = false;
  let flowFromRecord = false;
  for (const r of sample.records) {
    switch (r.kind) {
      case 'sampled_header': {
        if (headerSeen) break; // one sampled header per sample; a second one (off-spec) is ignored
        headerSeen = true;
        o.headerProtocol = r.headerProtocol;
        o.frameLength = r.frameLength;
        o.headerLength = r.headerLength;
        o.stripped = r.stripped;
        const id = fingerprintHeader(r.header, r.headerProtocol, r.headerLength >= r.frameLength - r.stripped, options);
        o.fingerprint = id.fingerprint;
        o.fingerprintStatus = id.status;
        const outer = r.packet;
        if (outer !== null) {
          let frame = outer;
          while (frame.inner !== null) frame = frame.inner;
          if (outer.tunnel !== null) {
            o.encapsulation = outer.tunnel.type;
            o.tunnelId = outer.tunnel.id;
            o.outerSrcMac = internOrNull(outer.srcMac);
            o.outerDstMac = internOrNull(outer.dstMac);
            o.outerSrcIp = internOrNull(outer.srcIp);
            o.outerDstIp = internOrNull(outer.dstIp);
            o.outerIpProtocol = outer.ipProtocol;
          }
          o.truncatedAt = frame.truncatedAt ?? outer.truncatedAt;
          setKeyFromPacket(o, frame);
          if (options.keepPackets === true) {
            o.outer = outer;
            o.frame = frame;
          }
        }
        break;
      }
      case 'sampled_ipv4':
      case 'sampled_ipv6':
        if (o.frame !== null || flowFromRecord) break;
        flowFromRecord = true;
        o.ipVersion = r.kind === 'sampled_ipv4' ? 4 : 6;
        o.srcIp = intern(r.srcIp);
        o.dstIp = intern(r.dstIp);
        o.ipProtocol = r.protocol;
        if (hasPorts(r.protocol)) {
          o.srcPort = r.srcPort;
          o.dstPort = r.dstPort;
        }
        break;
      case 'extended_switch':
        o.srcVlan = r.srcVlan;
        o.dstVlan = r.dstVlan;
        break;
      case 'extended_ipv4_tunnel_ingress':
      case 'extended_ipv6_tunnel_ingress':
        o.tunnelIngressSrc = r.srcIp;
        o.tunnelIngressDst = r.dstIp;
        o.tunnelIngressProtocol = r.protocol;
        break;
      case 'extended_ipv4_tunnel_egress':
      case 'extended_ipv6_tunnel_egress':
        o.tunnelEgressSrc = r.srcIp;
        o.tunnelEgressDst = r.dstIp;
        o.tunnelEgressProtocol = r.protocol;
        break;
      case 'extended_vni_ingress':
        o.tunnelIngressVni = r.vni;
        break;
      case 'extended_vni_egress':
        o.tunnelEgressVni = r.vni;
        break;
      default:
        break;
    }
  }
  if (o.tunnelId === null) o.tunnelId = o.tunnelIngressVni ?? o.tunnelEgressVni;
  o.flowHash = flowHashOf(o);
  return o;
}

/** The flow key of an observation, as its own object (the observation holds it flattened). */
export function flowKeyOf(o: Observation): FlowKey {
  return {
    srcMac: o.srcMac, dstMac: o.dstMac, etherType: o.etherType, ipVersion: o.ipVersion, srcIp: o.srcIp, dstIp: o.dstIp,
    ipProtocol: o.ipProtocol, srcPort: o.srcPort, dstPort: o.dstPort, icmpType: o.icmpType, icmpCode: o.icmpCode, tunnelId: o.tunnelId,
  };
}

function setKeyFromPacket(o: Observation, p: Packet): void {
  o.srcMac = internOrNull(p.srcMac);
  o.dstMac = internOrNull(p.dstMac);
  o.etherType = p.etherType;
  o.ipVersion = p.ipVersion;
  o.srcIp = internOrNull(p.srcIp);
  o.dstIp = internOrNull(p.dstIp);
  o.ipProtocol = p.ipProtocol;
  o.srcPort = p.srcPort;
  o.dstPort = p.dstPort;
  o.icmpType = p.icmpType;
  o.icmpCode = p.icmpCode;
  o.vlanId = p.vlans[0]?.id ?? null;
  o.ipId = p.ipId;
  o.ttl = p.ttl;
  o.tos = p.tos;
  o.fragment = p.fragment;
  o.tcpFlags = p.tcpFlags;
  if (p.arp !== null) {
    o.arpOperation = p.arp.operation;
    o.arpSenderIp = intern(p.arp.senderIp);
    o.arpTargetIp = intern(p.arp.targetIp);
    o.arpSenderMac = intern(p.arp.senderMac);
    o.arpTargetMac = intern(p.arp.targetMac);
  }
}

// Addresses and MACs repeat across observations (a cloud has few ports), and the decoder builds
// them as concatenations (a MAC is a tree of a dozen cons strings, about 250 bytes). Observations
// live for the correlation window, so they share one flat copy of each: a third of the memory a
// held observation costs, and less work for the garbage collector. Bounded: cleared when full.
const INTERN_MAX = 65_536;
const interned = new Map<string, string>();

function intern(s: string): string {
  const known = interned.get(s); // the lookup flattens `s`
  if (known !== undefined) return known;
  if (interned.size >= INTERN_MAX) interned.clear();
  const flat = flatten(s);
  interned.set(flat, flat);
  return flat;
}

function internOrNull(s: string | null): string | null {
  return s === null ? null : intern(s);
}

/** A flat copy of a string that may be a rope (addresses are at most 45 characters; longer ones stay as they are). */
function flatten(s: string): string {
  if (s.length > 64) return s;
  const codes: number[] = [];
  for (let i = 0; i < s.length; i++) codes.push(s.charCodeAt(i));
  return String.fromCharCode(...codes);
}

/** TCP, UDP, SCTP: the sampled_ipv4/6 records' port fields mean something only for these. */
function hasPorts(protocol: number): boolean {
  return protocol === 6 || protocol === 17 || protocol === 132;
}

function portKind(value: number): PortKind {
  if (value === 0) return 'none';
  if (value === IFINDEX_LOCAL) return 'local';
  return 'ifindex';
}

function setInput(o: Observation, format: number, value: number): void {
  // An input is a single ifIndex by the spec; a multiple/discard input (off-spec) is kept as such.
  if (format === INTERFACE_FORMAT.SINGLE) {
    o.inKind = portKind(value);
    o.inIfIndex = value;
  } else {
    o.inKind = format === INTERFACE_FORMAT.MULTIPLE ? 'multiple' : 'discard';
    o.inIfIndex = 0;
  }
}

function setOutput(o: Observation, format: number, value: number): void {
  if (format === INTERFACE_FORMAT.SINGLE) {
    o.outKind = portKind(value);
    o.outIfIndex = value;
    o.outCount = 1;
  } else if (format === INTERFACE_FORMAT.MULTIPLE) {
    o.outKind = 'multiple';
    o.outCount = value;
  } else {
    o.outKind = 'discard';
    o.outCount = 0;
    o.discardReason = value;
  }
}
