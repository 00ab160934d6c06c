// Stage 3 of the pipeline (DESIGN.md "fingerprint"): an identity for a sampled frame that is the
// same at every hop where the frame is seen, and a flow hash for joining frames of one flow when
// sampling is 1-in-N.
//
// Hash: FNV-1a 64 (Fowler/Noll/Vo, offset basis 0xcbf29ce484222325, prime 0x100000001b3),
// computed exactly in four 16-bit limbs. Deterministic across processes, machines and versions of
// Node; the same 64 bits any FNV-1a 64 implementation gives for the same byte string. Written as
// 16 lower-case hex digits (big-endian); ClickHouse reads that back as the UInt64 with
// `reinterpretAsUInt64(reverse(unhex(fingerprint)))` (checked on chDB).
//
// What the fingerprint covers (`fingerprintHeader`). Start from the innermost frame: outer
// Ethernet/IP and GRE (any key), VXLAN (UDP 4789) and Geneve (UDP 6081) headers are skipped, as
// the receiver's br-phy samples the outer frame and every other hop sees the inner one. VLAN tags
// are skipped everywhere (OVS pushes and pops the local VLAN; the access port sees none).
//   IPv4:  total length, identification, flags + fragment offset, protocol, source, destination;
//          NOT version/IHL, TOS (OVS QoS may rewrite DSCP, ECN may be marked on the way), TTL,
//          header checksum, options (record-route/timestamp change per router).
//   IPv6:  flow label, payload length, next header, source, destination; NOT traffic class or
//          hop limit.
//   then the IP payload (extension headers, L4 header, data) up to FINGERPRINT_IP_BYTES counted
//          from the start of the IP header, or the IP packet's own length when it is shorter,
//          leaving out the TCP/UDP/ICMP/ICMPv6 checksum (it covers the pseudo header and changes
//          with NAT). For TCP that is ports, seq, ack, offset/flags, window, urgent; for UDP
//          ports and length; for ICMP type, code, identifier, sequence.
//   MACs are left out for IP frames: a router hop (qrouter namespace, DVR flows) rewrites them and
//   decrements the TTL but keeps every covered byte, so the frame keeps its identity across it.
//   The MACs stay in the flow key, so nothing is lost for display.
//   non-IP (ARP, LLDP, ...): destination and source MAC, EtherType, and the first
//          FINGERPRINT_NON_IP_BYTES bytes after the EtherType (an Ethernet/IPv4 ARP body is 28).
//
// Why FINGERPRINT_IP_BYTES = 56: the covered bytes must be in the sample at *every* hop, and the
// tightest hop is the tunnel receiver's br-phy, whose 128-byte sampled header (OVS default
// `header=128`) starts with the outer headers: Ethernet 14 (+4 with an underlay VLAN tag) + IPv4
// 20 + GRE with key 8 = 42..46, or VXLAN 14+20+8+8 = 50..54. That leaves 128-46-14 = 68 and
// 128-54-14 = 60 bytes of inner IP packet; 56 fits both with room for a 4-byte Geneve option.
// 56 bytes hold IPv4 + TCP (40) + 16 bytes of TCP options/data, IPv4 + UDP (28) + 28 bytes of
// data, IPv6 (40) + the first 16 bytes of TCP (ports, seq, ack, offset/flags, window) or UDP + 8
// bytes of data. IP id + ports + seq/ack already tell frames apart; the data bytes tell apart UDP
// frames sent with id 0 (DF set) and IPv6 frames. A sample that does not hold all covered bytes
// (a smaller `header=`, deeper encapsulation) gets no fingerprint (status 'cut'), never a
// fingerprint of fewer bytes that would differ from the same frame's at another hop.

/** Bytes of the innermost IP packet covered, counted from its first byte (see the header comment). */
export const FINGERPRINT_IP_BYTES = 56;
/** Bytes after the EtherType covered for a non-IP frame: an Ethernet/IPv4 ARP body. */
export const FINGERPRINT_NON_IP_BYTES = 28;
/** Tunnels followed inward, as src/sflow/packet.ts MAX_TUNNEL_DEPTH. */
const MAX_TUNNEL_DEPTH = 4;

/** 'ok': fingerprint set; 'cut': the sample does not hold every covered byte; 'unsupported': no frame to read. */
export type FingerprintStatus = 'ok' | 'cut' | 'unsupported';

export interface FingerprintResult {
  /** 16 hex digits of FNV-1a 64 over the covered bytes; null unless status is 'ok'. */
  fingerprint: string | null;
  status: FingerprintStatus;
}

export interface FingerprintOptions {
  /** Must be the same for every process that fingerprints frames to be joined. Default FINGERPRINT_IP_BYTES. */
  ipBytes?: number;
}

/**
 * The flow key: the innermost frame's addresses and ports, as the decoded packet gives them, and
 * the tunnel id the sample shows (GRE key or VNI from the outer header or records 1029/1030).
 */
export interface FlowKey {
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
  tunnelId: number | null;
}

// ---------- FNV-1a 64 in four 16-bit limbs ----------

/** Offset basis 0xcbf29ce484222325, most significant limb first. */
const FNV64_OFFSET = [0xcbf2, 0x9ce4, 0x8422, 0x2325] as const;
/** The prime is 2^40 + 0x1b3: h * prime = h * 0x1b3 + (h << 40). */
const FNV64_PRIME_LOW = 0x1b3;
/** Character codes of '0'-'9', 'a'-'f'. */
const HEX_CHAR: readonly number[] = Array.from('0123456789abcdef', (c) => c.charCodeAt(0));

// One hash at a time (JavaScript runs one call at a time). The state is four 16-bit limbs, so every
// intermediate value stays a small integer: no heap numbers, no allocation per byte.
let h3: number = FNV64_OFFSET[0];
let h2: number = FNV64_OFFSET[1];
let h1: number = FNV64_OFFSET[2];
let h0: number = FNV64_OFFSET[3];

function hashReset(): void {
  h3 = FNV64_OFFSET[0];
  h2 = FNV64_OFFSET[1];
  h1 = FNV64_OFFSET[2];
  h0 = FNV64_OFFSET[3];
}

function hashByte(byte: number): void {
  const x0 = h0 ^ byte;
  const t0 = x0 * FNV64_PRIME_LOW;
  const t1 = h1 * FNV64_PRIME_LOW + (t0 >>> 16);
  const t2 = h2 * FNV64_PRIME_LOW + (x0 << 8) + (t1 >>> 16); // + h << 40: limb 0 lands in limbs 2-3
  h3 = (h3 * FNV64_PRIME_LOW + (h1 << 8) + (t2 >>> 16)) & 0xffff; // limb 1 in limb 3 (the rest is past 64 bits)
  h2 = t2 & 0xffff;
  h1 = t1 & 0xffff;
  h0 = t0 & 0xffff;
}

function hashBytes(b: Uint8Array, from: number, to: number): void {
  let a0 = h0;
  let a1 = h1;
  let a2 = h2;
  let a3 = h3;
  for (let i = from; i < to; i++) {
    const x0 = a0 ^ (b[i] as number);
    const t0 = x0 * FNV64_PRIME_LOW;
    const t1 = a1 * FNV64_PRIME_LOW + (t0 >>> 16);
    const t2 = a2 * FNV64_PRIME_LOW + (x0 << 8) + (t1 >>> 16);
    a3 = (a3 * FNV64_PRIME_LOW + (a1 << 8) + (t2 >>> 16)) & 0xffff;
    a2 = t2 & 0xffff;
    a1 = t1 & 0xffff;
    a0 = t0 & 0xffff;
  }
  h0 = a0;
  h1 = a1;
  h2 = a2;
  h3 = a3;
}

function hashU16(v: number): void {
  hashByte((v >>> 8) & 0xff);
  hashByte(v & 0xff);
}

function hashString(s: string): void {
  // Addresses and MACs are ASCII; any other code unit is hashed as its two bytes.
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0xff) hashByte(c >>> 8);
    hashByte(c & 0xff);
  }
  hashByte(0); // separator: "1.2.3.4"+"5" and "1.2.3.45"+"" differ
}

/** The hash as 16 hex digits, one flat string (a template of 8 parts would be a tree of cons strings, 5x the memory). */
function hashHex(): string {
  return String.fromCharCode(
    HEX_CHAR[h3 >>> 12] as number, HEX_CHAR[(h3 >>> 8) & 15] as number, HEX_CHAR[(h3 >>> 4) & 15] as number, HEX_CHAR[h3 & 15] as number,
    HEX_CHAR[h2 >>> 12] as number, HEX_CHAR[(h2 >>> 8) & 15] as number, HEX_CHAR[(h2 >>> 4) & 15] as number, HEX_CHAR[h2 & 15] as number,
    HEX_CHAR[h1 >>> 12] as number, HEX_CHAR[(h1 >>> 8) & 15] as number, HEX_CHAR[(h1 >>> 4) & 15] as number, HEX_CHAR[h1 & 15] as number,
    HEX_CHAR[h0 >>> 12] as number, HEX_CHAR[(h0 >>> 8) & 15] as number, HEX_CHAR[(h0 >>> 4) & 15] as number, HEX_CHAR[h0 & 15] as number,
  );
}

/** FNV-1a 64 of `bytes`, as 16 hex digits. */
export function fnv1a64(bytes: Uint8Array): string {
  hashReset();
  hashBytes(bytes, 0, bytes.byteLength);
  return hashHex();
}

// ---------- locating the innermost frame ----------

const ETHER_TYPE_IPV4 = 0x0800;
const ETHER_TYPE_IPV6 = 0x86dd;
const ETHER_TYPE_VLAN = 0x8100;
const ETHER_TYPE_QINQ = 0x88a8;
const ETHER_TYPE_QINQ_LEGACY = 0x9100;
const ETHER_TYPE_TRANSPARENT_ETHERNET = 0x6558;
const PROTO_ICMP = 1;
const PROTO_TCP = 6;
const PROTO_UDP = 17;
const PROTO_GRE = 47;
const PROTO_ICMPV6 = 58;
const PROTO_IPV6_HOP_BY_HOP = 0;
const PROTO_IPV6_ROUTING = 43;
const PROTO_IPV6_FRAGMENT = 44;
const PROTO_IPV6_DESTINATION_OPTIONS = 60;
const UDP_VXLAN = 4789;
const UDP_GENEVE = 6081;
const HEADER_PROTOCOL_ETHERNET = 1;
const HEADER_PROTOCOL_IPV4 = 11;
const HEADER_PROTOCOL_IPV6 = 12;
const MAX_IPV6_EXTENSION_HEADERS = 8;
/** Kind bytes mixed first, so that an IPv4, IPv6 and non-IP frame never share a byte string. */
const KIND_IPV4 = 4;
const KIND_IPV6 = 6;
const KIND_NON_IP = 0xea;
/** Where the checksum sits in each L4 header (it is left out). */
const TCP_CHECKSUM_AT = 16;
const UDP_CHECKSUM_AT = 6;
const ICMP_CHECKSUM_AT = 2;

const LAYER_ETHERNET = 0;
const LAYER_IPV4 = 1;
const LAYER_IPV6 = 2;

function u16(b: Uint8Array, at: number): number {
  return ((b[at] as number) << 8) | (b[at + 1] as number);
}

const CUT: FingerprintResult = { fingerprint: null, status: 'cut' };
const UNSUPPORTED: FingerprintResult = { fingerprint: null, status: 'unsupported' };

/**
 * Fingerprint of the innermost frame of a sampled header (flow record 1). `wholeFrame` says the
 * sample holds the entire frame (header_length >= frame_length - stripped): then a non-IP frame
 * shorter than FINGERPRINT_NON_IP_BYTES is covered as it is.
 */
export function fingerprintHeader(bytes: Uint8Array, headerProtocol: number, wholeFrame: boolean, options: FingerprintOptions = {}): FingerprintResult {
  const ipBytes = options.ipBytes ?? FINGERPRINT_IP_BYTES;
  let layer: number;
  if (headerProtocol === HEADER_PROTOCOL_ETHERNET) layer = LAYER_ETHERNET;
  else if (headerProtocol === HEADER_PROTOCOL_IPV4) layer = LAYER_IPV4;
  else if (headerProtocol === HEADER_PROTOCOL_IPV6) layer = LAYER_IPV6;
  else return UNSUPPORTED;
  const end = bytes.byteLength;
  let off = 0;
  for (let depth = 0; ; depth++) {
    let ethStart = -1;
    if (layer === LAYER_ETHERNET) {
      ethStart = off;
      if (end - off < 14) return CUT;
      let type = u16(bytes, off + 12);
      off += 14;
      while (type === ETHER_TYPE_VLAN || type === ETHER_TYPE_QINQ || type === ETHER_TYPE_QINQ_LEGACY) {
        if (end - off < 4) return CUT;
        type = u16(bytes, off + 2);
        off += 4;
      }
      if (type === ETHER_TYPE_IPV4) layer = LAYER_IPV4;
      else if (type === ETHER_TYPE_IPV6) layer = LAYER_IPV6;
      else return fingerprintNonIp(bytes, ethStart, off, type, wholeFrame);
    }
    // An IP packet at `off`: a tunnel to go through, or the frame to fingerprint.
    const tunnel = depth + 1 < MAX_TUNNEL_DEPTH ? innerOf(bytes, off, end, layer) : NOT_A_TUNNEL;
    if (tunnel === CUT_IN_TUNNEL) return CUT;
    if (tunnel === NOT_A_TUNNEL || tunnel === UNKNOWN_PAYLOAD) {
      return layer === LAYER_IPV4 ? fingerprintIpv4(bytes, off, ipBytes) : fingerprintIpv6(bytes, off, ipBytes);
    }
    off = innerOffset;
    layer = innerLayer;
  }
}

// innerOf's outcomes; on INNER the inner frame is at innerOffset, of kind innerLayer.
const NOT_A_TUNNEL = 0;
const INNER = 1;
const CUT_IN_TUNNEL = 2;
/** A tunnel header whose payload we do not read (GRE version 1, another protocol type). */
const UNKNOWN_PAYLOAD = 3;
let innerOffset = 0;
let innerLayer = LAYER_ETHERNET;

/** Is the IP packet at `off` a GRE, VXLAN or Geneve tunnel? Mirrors src/sflow/packet.ts. */
function innerOf(b: Uint8Array, off: number, end: number, layer: number): number {
  let protocol: number;
  let l4: number;
  if (layer === LAYER_IPV4) {
    if (end - off < 20) return CUT_IN_TUNNEL;
    const ihl = ((b[off] as number) & 0x0f) * 4;
    if ((b[off] as number) >>> 4 !== 4 || ihl < 20) return NOT_A_TUNNEL;
    if ((u16(b, off + 6) & 0x1fff) !== 0) return NOT_A_TUNNEL; // a later fragment
    protocol = b[off + 9] as number;
    l4 = off + ihl;
  } else {
    if (end - off < 40) return CUT_IN_TUNNEL;
    if ((b[off] as number) >>> 4 !== 6) return NOT_A_TUNNEL;
    protocol = b[off + 6] as number;
    l4 = off + 40;
    for (let n = 0; n < MAX_IPV6_EXTENSION_HEADERS; n++) {
      if (protocol === PROTO_IPV6_HOP_BY_HOP || protocol === PROTO_IPV6_ROUTING || protocol === PROTO_IPV6_DESTINATION_OPTIONS) {
        if (end - l4 < 8) return CUT_IN_TUNNEL;
        protocol = b[l4] as number;
        l4 += ((b[l4 + 1] as number) + 1) * 8;
      } else if (protocol === PROTO_IPV6_FRAGMENT) {
        if (end - l4 < 8) return CUT_IN_TUNNEL;
        if (u16(b, l4 + 2) >>> 3 !== 0) return NOT_A_TUNNEL;
        protocol = b[l4] as number;
        l4 += 8;
      } else {
        break;
      }
    }
  }
  if (protocol === PROTO_GRE) {
    if (end - l4 < 4) return CUT_IN_TUNNEL;
    const flags = u16(b, l4);
    let length = 4;
    if ((flags & 0x8000) !== 0) length += 4; // checksum
    if ((flags & 0x2000) !== 0) length += 4; // key
    if ((flags & 0x1000) !== 0) length += 4; // sequence
    if (end - l4 < length) return CUT_IN_TUNNEL;
    if ((flags & 0x0007) !== 0) return UNKNOWN_PAYLOAD; // PPTP's enhanced GRE
    return innerByEtherType(u16(b, l4 + 2), l4 + length);
  }
  if (protocol === PROTO_UDP) {
    if (end - l4 < 8) return CUT_IN_TUNNEL;
    const dstPort = u16(b, l4 + 2);
    if (dstPort === UDP_VXLAN) {
      if (end - l4 < 16) return CUT_IN_TUNNEL;
      return innerByEtherType(ETHER_TYPE_TRANSPARENT_ETHERNET, l4 + 16);
    }
    if (dstPort === UDP_GENEVE) {
      if (end - l4 < 16) return CUT_IN_TUNNEL;
      const options = ((b[l4 + 8] as number) & 0x3f) * 4;
      if (end - l4 < 16 + options) return CUT_IN_TUNNEL;
      return innerByEtherType(u16(b, l4 + 10), l4 + 16 + options);
    }
  }
  return NOT_A_TUNNEL;
}

function innerByEtherType(etherType: number, at: number): number {
  innerOffset = at;
  if (etherType === ETHER_TYPE_TRANSPARENT_ETHERNET) innerLayer = LAYER_ETHERNET;
  else if (etherType === ETHER_TYPE_IPV4) innerLayer = LAYER_IPV4;
  else if (etherType === ETHER_TYPE_IPV6) innerLayer = LAYER_IPV6;
  else return UNKNOWN_PAYLOAD;
  return INNER;
}

// ---------- the covered bytes ----------

function fingerprintIpv4(b: Uint8Array, off: number, ipBytes: number): FingerprintResult {
  const available = b.byteLength - off;
  if (available < 20) return CUT;
  const ihl = ((b[off] as number) & 0x0f) * 4;
  if ((b[off] as number) >>> 4 !== 4 || ihl < 20) return UNSUPPORTED;
  const totalLength = u16(b, off + 2);
  // Total length 0 (segmentation offload) or below the header: the fixed span.
  const cover = totalLength >= ihl && totalLength < ipBytes ? totalLength : ipBytes;
  if (available < cover) return CUT;
  hashReset();
  hashByte(KIND_IPV4);
  hashBytes(b, off + 2, off + 8); // total length, identification, flags + fragment offset
  hashByte(b[off + 9] as number); // protocol
  hashBytes(b, off + 12, off + 20); // source, destination
  const laterFragment = (u16(b, off + 6) & 0x1fff) !== 0;
  hashPayload(b, off + ihl, off + cover, laterFragment ? -1 : (b[off + 9] as number));
  return { fingerprint: hashHex(), status: 'ok' };
}

function fingerprintIpv6(b: Uint8Array, off: number, ipBytes: number): FingerprintResult {
  const available = b.byteLength - off;
  if (available < 40) return CUT;
  if ((b[off] as number) >>> 4 !== 6) return UNSUPPORTED;
  const payloadLength = u16(b, off + 4);
  const cover = payloadLength > 0 && 40 + payloadLength < ipBytes ? 40 + payloadLength : ipBytes;
  if (available < cover) return CUT;
  const coverEnd = off + cover;
  hashReset();
  hashByte(KIND_IPV6);
  hashByte((b[off + 1] as number) & 0x0f); // flow label (20 bits; the traffic class is left out)
  hashBytes(b, off + 2, off + 7); // flow label, payload length, next header
  hashBytes(b, off + 8, off + 40); // source, destination
  // Extension headers are covered as they are; the upper layer's checksum is left out.
  let protocol = b[off + 6] as number;
  let l4 = off + 40;
  for (let n = 0; n < MAX_IPV6_EXTENSION_HEADERS && l4 + 8 <= coverEnd; n++) {
    if (protocol === PROTO_IPV6_HOP_BY_HOP || protocol === PROTO_IPV6_ROUTING || protocol === PROTO_IPV6_DESTINATION_OPTIONS) {
      protocol = b[l4] as number;
      l4 += ((b[l4 + 1] as number) + 1) * 8;
    } else if (protocol === PROTO_IPV6_FRAGMENT) {
      const later = u16(b, l4 + 2) >>> 3 !== 0;
      protocol = later ? -1 : (b[l4] as number);
      l4 += 8;
      if (later) break;
    } else {
      break;
    }
  }
  const checksumAt = l4 + checksumOffset(protocol);
  hashSkipping(b, off + 40, coverEnd, checksumAt);
  return { fingerprint: hashHex(), status: 'ok' };
}

/** -1 for a protocol without a checksum we know of (nothing is left out). */
function checksumOffset(protocol: number): number {
  if (protocol === PROTO_TCP) return TCP_CHECKSUM_AT;
  if (protocol === PROTO_UDP) return UDP_CHECKSUM_AT;
  if (protocol === PROTO_ICMP || protocol === PROTO_ICMPV6) return ICMP_CHECKSUM_AT;
  return Number.NEGATIVE_INFINITY;
}

/** Bytes [from, to) of an upper layer, without its checksum. */
function hashPayload(b: Uint8Array, from: number, to: number, protocol: number): void {
  hashSkipping(b, from, to, from + checksumOffset(protocol));
}

/** Bytes [from, to) but the two at `skipAt` (a checksum); skipAt outside the range (or -Infinity) skips nothing. */
function hashSkipping(b: Uint8Array, from: number, to: number, skipAt: number): void {
  if (skipAt < from || skipAt >= to) {
    hashBytes(b, from, to);
    return;
  }
  hashBytes(b, from, skipAt);
  hashBytes(b, skipAt + 2, to);
}

function fingerprintNonIp(b: Uint8Array, ethStart: number, payloadStart: number, etherType: number, wholeFrame: boolean): FingerprintResult {
  const available = b.byteLength - payloadStart;
  if (available < FINGERPRINT_NON_IP_BYTES && !wholeFrame) return CUT;
  hashReset();
  hashByte(KIND_NON_IP);
  hashBytes(b, ethStart, ethStart + 12);
  hashU16(etherType);
  hashBytes(b, payloadStart, payloadStart + Math.min(available, FINGERPRINT_NON_IP_BYTES));
  return { fingerprint: hashHex(), status: 'ok' };
}

// ---------- flow hash ----------

/**
 * Hash of the flow a frame belongs to, for joining observations of different frames of one flow
 * (sampling 1-in-N): IP version, source and destination address, protocol, ports (TCP/UDP/SCTP),
 * ICMP type and code. Not the MACs (a router hop rewrites them) and not the tunnel id: the tunnel
 * id is visible only on the hops inside the tunnel (the receiver's br-phy and br-tun), never on
 * br-int, so it would split every flow into per-segment groups. Tenants with overlapping
 * addresses are told apart by the topology walk, which knows each port's network. Non-IP frames:
 * MACs and EtherType. null when the key holds neither.
 */
export function flowHashOf(key: FlowKey): string | null {
  hashReset();
  if (key.ipVersion !== null && key.srcIp !== null && key.dstIp !== null) {
    hashByte(key.ipVersion);
    hashString(key.srcIp);
    hashString(key.dstIp);
    hashByte(key.ipProtocol ?? 0xff);
    hashU16(key.srcPort ?? 0);
    hashU16(key.dstPort ?? 0);
    hashByte(key.icmpType ?? 0);
    hashByte(key.icmpCode ?? 0);
    return hashHex();
  }
  if (key.srcMac !== null && key.dstMac !== null) {
    hashByte(KIND_NON_IP);
    hashString(key.srcMac);
    hashString(key.dstMac);
    hashU16(key.etherType ?? 0);
    return hashHex();
  }
  return null;
}
