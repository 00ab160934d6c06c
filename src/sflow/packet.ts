// The sampled header of flow record 0:1 (SFLOW-STRUCTS5 sampled_header, header_protocol 1
// ETHERNET-ISO88023, 11 IPv4, 12 IPv6) parsed into a Packet: Ethernet (IEEE 802.3), 802.1Q/802.1ad
// tags (TPID 0x8100, 0x88a8 and the pre-standard 0x9100), ARP (RFC 826), IPv4 (RFC 791, options
// skipped by IHL, fragments), IPv6 (RFC 8200, hop-by-hop/routing/fragment/destination-options
// headers), TCP, UDP, ICMP, ICMPv6, GRE (RFC 2784/2890: checksum, key, sequence), VXLAN (RFC 7348,
// UDP 4789), Geneve (RFC 8926, UDP 6081, options skipped by length); the frame inside a tunnel is
// parsed the same way, MAX_TUNNEL_DEPTH deep.
//
// Why not the Reader: a sampled header is a snapshot cut at an arbitrary byte (128 by default), so
// a cut layer is the normal case, not an error. Each layer checks its own length and, when cut,
// sets `truncatedAt` to its name and keeps every field read so far; nothing here throws. `layers`
// lists the layers read in full. Hot path (one call per flow sample): one object literal of one
// shape per packet, no closures or regexes, addresses through the precomputed tables of address.ts.
//
//   Ethernet  dst[6] src[6] type:16 | 802.1Q tag  tci:16 (pcp:3 dei:1 vid:12) type:16
//   IPv4      ver:4 ihl:4 tos:8 total_length:16 id:16 flags:3 frag_offset:13 ttl:8 proto:8
//             checksum:16 src[4] dst[4] options[ihl*4-20]
//   IPv6      ver:4 traffic_class:8 flow:20 payload_length:16 next_header:8 hop_limit:8 src[16] dst[16]
//             ext header: next:8 hdr_ext_len:8 (length (hdr_ext_len+1)*8); fragment: next:8 res:8
//             frag_offset:13 res:2 m:1 id:32
//   TCP       src_port:16 dst_port:16 seq:32 ack:32 data_offset:4 res:4 flags:8 ...   (20 bytes)
//   UDP       src_port:16 dst_port:16 length:16 checksum:16
//   ICMP(v6)  type:8 code:8 checksum:16
//   GRE       C:1 R:1 K:1 S:1 ... ver:3 protocol:16 [checksum:16 reserved:16] [key:32] [seq:32]
//   VXLAN     flags:8 (I=0x08) reserved:24 vni:24 reserved:8
//   Geneve    ver:2 opt_len:6 (x4 bytes) O:1 C:1 res:6 protocol:16 vni:24 reserved:8 options
//   ARP       htype:16 ptype:16 hlen:8 plen:8 oper:16 sha[6] spa[4] tha[6] tpa[4]   (Ethernet/IPv4)
import type { Packet } from './types.js';
import { formatIpv6, ipv4Text, macText } from './address.js';
import { HEADER_PROTOCOL } from './wire.js';

export const ETHER_TYPE = {
  IPV4: 0x0800,
  ARP: 0x0806,
  VLAN: 0x8100,
  QINQ: 0x88a8,
  /** Pre-802.1ad QinQ TPID still sent by some switches. */
  QINQ_LEGACY: 0x9100,
  IPV6: 0x86dd,
  /** GRE/Geneve protocol type of an Ethernet frame (NVGRE, OVS GRE ports). */
  TRANSPARENT_ETHERNET: 0x6558,
} as const;

export const IP_PROTOCOL = {
  IPV6_HOP_BY_HOP: 0,
  ICMP: 1,
  TCP: 6,
  UDP: 17,
  IPV6_ROUTING: 43,
  IPV6_FRAGMENT: 44,
  GRE: 47,
  ICMPV6: 58,
  IPV6_DESTINATION_OPTIONS: 60,
} as const;

export const UDP_PORT = { VXLAN: 4789, GENEVE: 6081 } as const;

/** Tunnels nested deeper than this keep their last tunnel header and no `inner` (bounds work per sample). */
export const MAX_TUNNEL_DEPTH = 4;
/** IPv6 extension headers followed before giving up on finding the upper layer. */
const MAX_IPV6_EXTENSION_HEADERS = 8;

const ETHERNET_HEADER = 14;
const VLAN_TAG = 4;
const IPV4_MIN_HEADER = 20;
const IPV6_HEADER = 40;
const TCP_MIN_HEADER = 20;
const UDP_HEADER = 8;
const ICMP_MIN_HEADER = 4;
const GRE_MIN_HEADER = 4;
const VXLAN_HEADER = 8;
const GENEVE_MIN_HEADER = 8;
const ARP_FIXED = 8;
const ARP_ETHERNET_IPV4 = 28;
/** GRE flag bits (RFC 2784/2890). */
const GRE_CHECKSUM = 0x8000;
const GRE_KEY = 0x2000;
const GRE_SEQUENCE = 0x1000;
const GRE_VERSION_MASK = 0x0007;

/** Parses a sampled header; null when its header_protocol is not Ethernet, IPv4 or IPv6. */
export function decodePacket(bytes: Uint8Array, headerProtocol: number): Packet | null {
  if (headerProtocol === HEADER_PROTOCOL.ETHERNET_ISO8023) {
    const p = emptyPacket();
    parseEthernet(p, bytes, 0, bytes.byteLength, 0);
    return p;
  }
  if (headerProtocol === HEADER_PROTOCOL.IPV4) {
    const p = emptyPacket();
    parseIpv4(p, bytes, 0, bytes.byteLength, 0);
    return p;
  }
  if (headerProtocol === HEADER_PROTOCOL.IPV6) {
    const p = emptyPacket();
    parseIpv6(p, bytes, 0, bytes.byteLength, 0);
    return p;
  }
  return null;
}

function emptyPacket(): Packet {
  return {
    layers: [], srcMac: null, dstMac: null, vlans: [], etherType: null, ipVersion: null, srcIp: null, dstIp: null,
    ipProtocol: null, ttl: null, tos: null, ipId: null, ipLength: null, fragment: false, srcPort: null, dstPort: null,
    tcpFlags: null, icmpType: null, icmpCode: null, arp: null, tunnel: null, inner: null, truncatedAt: null,
  };
}

function u16(b: Uint8Array, at: number): number {
  return ((b[at] as number) << 8) | (b[at + 1] as number);
}

function u32(b: Uint8Array, at: number): number {
  return (((b[at] as number) << 24) | ((b[at + 1] as number) << 16) | ((b[at + 2] as number) << 8) | (b[at + 3] as number)) >>> 0;
}

function parseEthernet(p: Packet, b: Uint8Array, off: number, end: number, depth: number): void {
  if (end - off < ETHERNET_HEADER) {
    if (end - off >= 12) {
      p.dstMac = macText(b, off);
      p.srcMac = macText(b, off + 6);
    }
    p.truncatedAt = 'eth';
    return;
  }
  p.dstMac = macText(b, off);
  p.srcMac = macText(b, off + 6);
  let type = u16(b, off + 12);
  off += ETHERNET_HEADER;
  p.layers.push('eth');
  // Each tag consumes 4 bytes, so the loop ends with the header.
  while (type === ETHER_TYPE.VLAN || type === ETHER_TYPE.QINQ || type === ETHER_TYPE.QINQ_LEGACY) {
    if (end - off < VLAN_TAG) {
      p.truncatedAt = 'vlan';
      return;
    }
    const tci = u16(b, off);
    p.vlans.push({ tpid: type, priority: tci >>> 13, dei: (tci >>> 12) & 1, id: tci & 0x0fff });
    p.layers.push('vlan');
    type = u16(b, off + 2);
    off += VLAN_TAG;
  }
  p.etherType = type;
  if (type === ETHER_TYPE.IPV4) parseIpv4(p, b, off, end, depth);
  else if (type === ETHER_TYPE.IPV6) parseIpv6(p, b, off, end, depth);
  else if (type === ETHER_TYPE.ARP) parseArp(p, b, off, end);
}

function parseArp(p: Packet, b: Uint8Array, off: number, end: number): void {
  const n = end - off;
  if (n < ARP_FIXED) {
    p.truncatedAt = 'arp';
    return;
  }
  if (u16(b, off) === 1 && u16(b, off + 2) === ETHER_TYPE.IPV4 && b[off + 4] === 6 && b[off + 5] === 4) {
    if (n < ARP_ETHERNET_IPV4) {
      p.truncatedAt = 'arp';
      return;
    }
    p.arp = {
      operation: u16(b, off + 6),
      senderMac: macText(b, off + 8), senderIp: ipv4Text(b, off + 14),
      targetMac: macText(b, off + 18), targetIp: ipv4Text(b, off + 24),
    };
  }
  p.layers.push('arp');
}

function parseIpv4(p: Packet, b: Uint8Array, off: number, end: number, depth: number): void {
  if (end - off < IPV4_MIN_HEADER) {
    p.truncatedAt = 'ipv4';
    return;
  }
  const versionIhl = b[off] as number;
  if (versionIhl >>> 4 !== 4) return; // not IPv4 after all: nothing more to read
  const ihl = (versionIhl & 0x0f) * 4;
  const totalLength = u16(b, off + 2);
  p.ipVersion = 4;
  p.tos = b[off + 1] as number;
  p.ipLength = totalLength;
  p.ipId = u16(b, off + 4);
  p.fragment = (u16(b, off + 6) & 0x1fff) !== 0;
  p.ttl = b[off + 8] as number;
  const protocol = b[off + 9] as number;
  p.ipProtocol = protocol;
  p.srcIp = ipv4Text(b, off + 12);
  p.dstIp = ipv4Text(b, off + 16);
  if (end - off < ihl) {
    p.truncatedAt = 'ipv4'; // options cut
    return;
  }
  p.layers.push('ipv4');
  if (ihl < IPV4_MIN_HEADER || p.fragment) return; // a bad IHL, or a later fragment: no upper layer here
  // The IP length bounds the upper layers (the header may hold Ethernet padding); 0 (segmentation offload) does not.
  const upperEnd = totalLength >= ihl && off + totalLength < end ? off + totalLength : end;
  parseUpperLayer(p, b, off + ihl, upperEnd, depth, protocol);
}

function parseIpv6(p: Packet, b: Uint8Array, off: number, end: number, depth: number): void {
  if (end - off < IPV6_HEADER) {
    p.truncatedAt = 'ipv6';
    return;
  }
  const first = b[off] as number;
  if (first >>> 4 !== 6) return;
  const payloadLength = u16(b, off + 4);
  let next = b[off + 6] as number;
  p.ipVersion = 6;
  p.tos = ((first & 0x0f) << 4) | ((b[off + 1] as number) >>> 4);
  p.ipLength = payloadLength + IPV6_HEADER;
  p.ipId = 0;
  p.ttl = b[off + 7] as number;
  p.srcIp = formatIpv6(b, off + 8);
  p.dstIp = formatIpv6(b, off + 24);
  p.ipProtocol = next;
  p.layers.push('ipv6');
  const upperEnd = payloadLength > 0 && off + IPV6_HEADER + payloadLength < end ? off + IPV6_HEADER + payloadLength : end;
  off += IPV6_HEADER;
  for (let n = 0; n < MAX_IPV6_EXTENSION_HEADERS; n++) {
    if (next === IP_PROTOCOL.IPV6_HOP_BY_HOP || next === IP_PROTOCOL.IPV6_ROUTING || next === IP_PROTOCOL.IPV6_DESTINATION_OPTIONS) {
      const name = next === IP_PROTOCOL.IPV6_HOP_BY_HOP ? 'ipv6-hopopts' : next === IP_PROTOCOL.IPV6_ROUTING ? 'ipv6-routing' : 'ipv6-dstopts';
      if (upperEnd - off < 8) {
        p.truncatedAt = name;
        return;
      }
      const length = ((b[off + 1] as number) + 1) * 8;
      if (upperEnd - off < length) {
        p.truncatedAt = name;
        return;
      }
      next = b[off] as number;
      off += length;
      p.layers.push(name);
    } else if (next === IP_PROTOCOL.IPV6_FRAGMENT) {
      if (upperEnd - off < 8) {
        p.truncatedAt = 'ipv6-fragment';
        return;
      }
      next = b[off] as number;
      p.fragment = u16(b, off + 2) >>> 3 !== 0;
      p.ipId = u32(b, off + 4);
      off += 8;
      p.layers.push('ipv6-fragment');
      if (p.fragment) {
        p.ipProtocol = next;
        return;
      }
    } else {
      break;
    }
    p.ipProtocol = next;
  }
  parseUpperLayer(p, b, off, upperEnd, depth, next);
}

function parseUpperLayer(p: Packet, b: Uint8Array, off: number, end: number, depth: number, protocol: number): void {
  switch (protocol) {
    case IP_PROTOCOL.TCP:
      parseTcp(p, b, off, end);
      return;
    case IP_PROTOCOL.UDP:
      parseUdp(p, b, off, end, depth);
      return;
    case IP_PROTOCOL.ICMP:
      parseIcmp(p, b, off, end, 'icmp');
      return;
    case IP_PROTOCOL.ICMPV6:
      parseIcmp(p, b, off, end, 'icmpv6');
      return;
    case IP_PROTOCOL.GRE:
      parseGre(p, b, off, end, depth);
      return;
    default:
  }
}

function parseTcp(p: Packet, b: Uint8Array, off: number, end: number): void {
  const n = end - off;
  if (n >= 4) {
    p.srcPort = u16(b, off);
    p.dstPort = u16(b, off + 2);
  }
  if (n >= 14) p.tcpFlags = b[off + 13] as number;
  if (n < TCP_MIN_HEADER) {
    p.truncatedAt = 'tcp';
    return;
  }
  p.layers.push('tcp');
}

function parseUdp(p: Packet, b: Uint8Array, off: number, end: number, depth: number): void {
  const n = end - off;
  if (n >= 4) {
    p.srcPort = u16(b, off);
    p.dstPort = u16(b, off + 2);
  }
  if (n < UDP_HEADER) {
    p.truncatedAt = 'udp';
    return;
  }
  p.layers.push('udp');
  if (p.dstPort === UDP_PORT.VXLAN) parseVxlan(p, b, off + UDP_HEADER, end, depth);
  else if (p.dstPort === UDP_PORT.GENEVE) parseGeneve(p, b, off + UDP_HEADER, end, depth);
}

function parseIcmp(p: Packet, b: Uint8Array, off: number, end: number, name: 'icmp' | 'icmpv6'): void {
  const n = end - off;
  if (n >= 1) p.icmpType = b[off] as number;
  if (n >= 2) p.icmpCode = b[off + 1] as number;
  if (n < ICMP_MIN_HEADER) {
    p.truncatedAt = name;
    return;
  }
  p.layers.push(name);
}

function parseGre(p: Packet, b: Uint8Array, off: number, end: number, depth: number): void {
  const n = end - off;
  if (n < GRE_MIN_HEADER) {
    p.truncatedAt = 'gre';
    return;
  }
  const flags = u16(b, off);
  const protocol = u16(b, off + 2);
  let length = GRE_MIN_HEADER;
  if ((flags & GRE_CHECKSUM) !== 0) length += 4;
  const keyAt = (flags & GRE_KEY) !== 0 ? off + length : -1;
  if (keyAt >= 0) length += 4;
  if ((flags & GRE_SEQUENCE) !== 0) length += 4;
  if (n < length) {
    p.tunnel = { type: 'gre', id: null, protocol };
    p.truncatedAt = 'gre';
    return;
  }
  p.tunnel = { type: 'gre', id: keyAt >= 0 ? u32(b, keyAt) : null, protocol };
  p.layers.push('gre');
  // Version 1 is PPTP's enhanced GRE (PPP inside): nothing we parse.
  if ((flags & GRE_VERSION_MASK) === 0) parseInnerByEtherType(p, b, off + length, end, depth, protocol);
}

function parseVxlan(p: Packet, b: Uint8Array, off: number, end: number, depth: number): void {
  if (end - off < VXLAN_HEADER) {
    p.truncatedAt = 'vxlan';
    return;
  }
  p.tunnel = { type: 'vxlan', id: u32(b, off + 4) >>> 8, protocol: null };
  p.layers.push('vxlan');
  parseInnerByEtherType(p, b, off + VXLAN_HEADER, end, depth, ETHER_TYPE.TRANSPARENT_ETHERNET);
}

function parseGeneve(p: Packet, b: Uint8Array, off: number, end: number, depth: number): void {
  if (end - off < GENEVE_MIN_HEADER) {
    p.truncatedAt = 'geneve';
    return;
  }
  const optionsLength = ((b[off] as number) & 0x3f) * 4;
  const protocol = u16(b, off + 2);
  p.tunnel = { type: 'geneve', id: u32(b, off + 4) >>> 8, protocol };
  if (end - off < GENEVE_MIN_HEADER + optionsLength) {
    p.truncatedAt = 'geneve';
    return;
  }
  p.layers.push('geneve');
  parseInnerByEtherType(p, b, off + GENEVE_MIN_HEADER + optionsLength, end, depth, protocol);
}

/** The frame inside a tunnel, in `p.inner`; `truncatedAt` of the inner packet says where it was cut. */
function parseInnerByEtherType(p: Packet, b: Uint8Array, off: number, end: number, depth: number, etherType: number): void {
  if (depth + 1 >= MAX_TUNNEL_DEPTH) return;
  if (etherType === ETHER_TYPE.TRANSPARENT_ETHERNET) {
    const inner = emptyPacket();
    p.inner = inner;
    parseEthernet(inner, b, off, end, depth + 1);
  } else if (etherType === ETHER_TYPE.IPV4) {
    const inner = emptyPacket();
    p.inner = inner;
    parseIpv4(inner, b, off, end, depth + 1);
  } else if (etherType === ETHER_TYPE.IPV6) {
    const inner = emptyPacket();
    p.inner = inner;
    parseIpv6(inner, b, off, end, depth + 1);
  }
}
