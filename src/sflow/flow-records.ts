// Flow records of sflow.org SFLOW-STRUCTS5 ("sFlow Version 5", section 5 flow data): sampled
// header (0:1), sampled Ethernet/IPv4/IPv6 (0:2-4) and the extended switch, router, gateway, user,
// URL, MPLS and NAT records (0:1001-1007). Each decoder reads one record window (`r` is bounded by
// the record's declared length, STYLE.md "Binary decoding" 2); a short window throws DecodeError
// and the caller keeps the record as `malformed`.
//
//   struct sampled_header   { header_protocol protocol; unsigned int frame_length;
//                             unsigned int stripped; opaque header<>; }
//   struct sampled_ethernet { unsigned int length; mac src_mac; mac dst_mac; unsigned int type; }
//                             /* mac = opaque[6]: 6 bytes + 2 of XDR padding */
//   struct sampled_ipv4     { unsigned int length; unsigned int protocol; ip_v4 src_ip; ip_v4 dst_ip;
//                             unsigned int src_port; unsigned int dst_port; unsigned int tcp_flags;
//                             unsigned int tos; }
//   struct sampled_ipv6     { ... ip_v6 src_ip; ip_v6 dst_ip; ... unsigned int priority; }
//   struct extended_switch  { unsigned int src_vlan; unsigned int src_priority;
//                             unsigned int dst_vlan; unsigned int dst_priority; }
//   struct extended_router  { next_hop nexthop; unsigned int src_mask_len; unsigned int dst_mask_len; }
//   struct extended_gateway { next_hop nexthop; unsigned int as; unsigned int src_as;
//                             unsigned int src_peer_as; as_path_type dst_as_path<>;
//                             unsigned int communities<>; unsigned int localpref; }
//   struct as_path_type     { as_path_segment_type type; /* 1 set, 2 sequence */ unsigned int as_number<>; }
//   struct extended_user    { charset src_charset; opaque src_user<>; charset dst_charset; opaque dst_user<>; }
//   struct extended_url     { url_direction direction; string url<>; string host<>; }
//   struct extended_mpls    { next_hop nexthop; label_stack in_stack; label_stack out_stack; }
//                             /* label_stack = int<> */
//   struct extended_nat     { address src_address; address dst_address; }
//   union address (address_type type) { UNKNOWN: void; IP_V4: ip_v4; IP_V6: ip_v6; }
import type { Reader } from './reader.js';
import type {
  AsPathSegment,
  ExtendedGateway,
  ExtendedMpls,
  ExtendedNat,
  ExtendedRouter,
  ExtendedSwitch,
  ExtendedUrl,
  ExtendedUser,
  SampledEthernet,
  SampledHeader,
  SampledIpv4,
  SampledIpv6,
} from './types.js';
import { formatIpv4, formatIpv6, formatMac } from './address.js';
import { decodePacket } from './packet.js';
import { ADDRESS_TYPE } from './wire.js';

/** A record window starts after its data_format and length words. */
const RECORD_HEADER_BYTES = 8;
/** XDR `mac`: opaque[6] padded to a multiple of 4. */
const MAC_XDR_BYTES = 8;

export function decodeSampledHeader(r: Reader): SampledHeader {
  const headerProtocol = r.u32('header_protocol');
  const frameLength = r.u32('frame_length');
  const stripped = r.u32('stripped');
  const header = r.opaque('header');
  return {
    kind: 'sampled_header',
    offset: r.start - RECORD_HEADER_BYTES,
    length: r.length,
    headerProtocol,
    frameLength,
    stripped,
    headerLength: header.byteLength,
    header,
    packet: decodePacket(header, headerProtocol),
  };
}

export function decodeSampledEthernet(r: Reader): SampledEthernet {
  const frameLength = r.u32('length');
  const src = r.advance(MAC_XDR_BYTES, 'src_mac');
  const dst = r.advance(MAC_XDR_BYTES, 'dst_mac');
  const etherType = r.u32('type');
  return {
    kind: 'sampled_ethernet', offset: r.start - RECORD_HEADER_BYTES, length: r.length,
    frameLength, srcMac: formatMac(r.bytes, src), dstMac: formatMac(r.bytes, dst), etherType,
  };
}

export function decodeSampledIpv4(r: Reader): SampledIpv4 {
  const ipLength = r.u32('length');
  const protocol = r.u32('protocol');
  const src = r.advance(4, 'src_ip');
  const dst = r.advance(4, 'dst_ip');
  return {
    kind: 'sampled_ipv4', offset: r.start - RECORD_HEADER_BYTES, length: r.length,
    ipLength, protocol, srcIp: formatIpv4(r.bytes, src), dstIp: formatIpv4(r.bytes, dst),
    srcPort: r.u32('src_port'), dstPort: r.u32('dst_port'), tcpFlags: r.u32('tcp_flags'), tos: r.u32('tos'),
  };
}

export function decodeSampledIpv6(r: Reader): SampledIpv6 {
  const ipLength = r.u32('length');
  const protocol = r.u32('protocol');
  const src = r.advance(16, 'src_ip');
  const dst = r.advance(16, 'dst_ip');
  return {
    kind: 'sampled_ipv6', offset: r.start - RECORD_HEADER_BYTES, length: r.length,
    ipLength, protocol, srcIp: formatIpv6(r.bytes, src), dstIp: formatIpv6(r.bytes, dst),
    srcPort: r.u32('src_port'), dstPort: r.u32('dst_port'), tcpFlags: r.u32('tcp_flags'), priority: r.u32('priority'),
  };
}

export function decodeExtendedSwitch(r: Reader): ExtendedSwitch {
  return {
    kind: 'extended_switch', offset: r.start - RECORD_HEADER_BYTES, length: r.length,
    srcVlan: r.u32('src_vlan'), srcPriority: r.u32('src_priority'), dstVlan: r.u32('dst_vlan'), dstPriority: r.u32('dst_priority'),
  };
}

export function decodeExtendedRouter(r: Reader): ExtendedRouter {
  return {
    kind: 'extended_router', offset: r.start - RECORD_HEADER_BYTES, length: r.length,
    nextHop: readAddress(r, 'nexthop.type', 'nexthop'), srcMaskLen: r.u32('src_mask_len'), dstMaskLen: r.u32('dst_mask_len'),
  };
}

export function decodeExtendedGateway(r: Reader): ExtendedGateway {
  const nextHop = readAddress(r, 'nexthop.type', 'nexthop');
  const as = r.u32('as');
  const srcAs = r.u32('src_as');
  const srcPeerAs = r.u32('src_peer_as');
  const segments = checkedCount(r, 'dst_as_path', 8);
  const dstAsPath: AsPathSegment[] = [];
  for (let i = 0; i < segments; i++) {
    const type = r.u32('dst_as_path.type');
    dstAsPath.push({ type, asns: readU32Array(r, 'dst_as_path.as_number') });
  }
  const communities = readU32Array(r, 'communities');
  return {
    kind: 'extended_gateway', offset: r.start - RECORD_HEADER_BYTES, length: r.length,
    nextHop, as, srcAs, srcPeerAs, dstAsPath, communities, localPref: r.u32('localpref'),
  };
}

export function decodeExtendedUser(r: Reader): ExtendedUser {
  const srcCharset = r.u32('src_charset');
  const srcUser = r.string('src_user');
  const dstCharset = r.u32('dst_charset');
  return {
    kind: 'extended_user', offset: r.start - RECORD_HEADER_BYTES, length: r.length,
    srcCharset, srcUser, dstCharset, dstUser: r.string('dst_user'),
  };
}

export function decodeExtendedUrl(r: Reader): ExtendedUrl {
  const direction = r.u32('direction');
  const url = r.string('url');
  return { kind: 'extended_url', offset: r.start - RECORD_HEADER_BYTES, length: r.length, direction, url, host: r.string('host') };
}

export function decodeExtendedMpls(r: Reader): ExtendedMpls {
  const nextHop = readAddress(r, 'nexthop.type', 'nexthop');
  const inStack = readU32Array(r, 'in_stack');
  return { kind: 'extended_mpls', offset: r.start - RECORD_HEADER_BYTES, length: r.length, nextHop, inStack, outStack: readU32Array(r, 'out_stack') };
}

export function decodeExtendedNat(r: Reader): ExtendedNat {
  const srcAddress = readAddress(r, 'src_address.type', 'src_address');
  return { kind: 'extended_nat', offset: r.start - RECORD_HEADER_BYTES, length: r.length, srcAddress, dstAddress: readAddress(r, 'dst_address.type', 'dst_address') };
}

/** XDR `address`: "" for UNKNOWN (a void arm), dotted IPv4 or RFC 5952 IPv6. */
export function readAddress(r: Reader, typeField: string, field: string): string {
  const type = r.u32(typeField);
  if (type === ADDRESS_TYPE.IPV4) return formatIpv4(r.bytes, r.advance(4, field));
  if (type === ADDRESS_TYPE.IPV6) return formatIpv6(r.bytes, r.advance(16, field));
  if (type === ADDRESS_TYPE.UNKNOWN) return '';
  throw r.error('bad-value', `address type ${type} is neither 1 (IPv4) nor 2 (IPv6)`, typeField, r.offset - 4);
}

/** A wire count, checked against the bytes left before it sizes anything (`minBytes` per element). */
export function checkedCount(r: Reader, field: string, minBytes: number): number {
  const count = r.u32(field);
  if (count * minBytes > r.remaining) throw r.error('too-many', `${count} entries of ${minBytes}+ bytes in ${r.remaining} bytes`, field);
  return count;
}

function readU32Array(r: Reader, field: string): number[] {
  const count = checkedCount(r, field, 4);
  const out: number[] = [];
  for (let i = 0; i < count; i++) out.push(r.u32(field));
  return out;
}
