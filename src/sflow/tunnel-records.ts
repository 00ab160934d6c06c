// Tunnel flow records of sflow.org sflow_tunnels.txt ("sFlow Tunnel Structures"), enterprise 0,
// formats 1021-1030. Open vSwitch emits 1023/1024 (IPv4 tunnel egress/ingress: the outer header of
// a GRE/VXLAN/Geneve tunnel) and 1029/1030 (VNI: the GRE key or VXLAN/Geneve VNI); see DESIGN.md
// "What Open vSwitch actually exports". The L2/IPv4/IPv6 forms reuse the SFLOW-STRUCTS5 sampled_*
// layouts, so they decode like flow records 2/3/4.
//
//   struct extended_L2_tunnel_egress   (1021) { sampled_ethernet header; }
//   struct extended_L2_tunnel_ingress  (1022) { sampled_ethernet header; }
//   struct extended_ipv4_tunnel_egress (1023) { sampled_ipv4 header; }
//   struct extended_ipv4_tunnel_ingress(1024) { sampled_ipv4 header; }
//   struct extended_ipv6_tunnel_egress (1025) { sampled_ipv6 header; }
//   struct extended_ipv6_tunnel_ingress(1026) { sampled_ipv6 header; }
//   struct extended_decapsulate_egress (1027) { unsigned int inner_header_offset; }
//   struct extended_decapsulate_ingress(1028) { unsigned int inner_header_offset; }
//   struct extended_vni_egress         (1029) { unsigned int vni; }
//   struct extended_vni_ingress        (1030) { unsigned int vni; }
//
//   sampled_ethernet = { unsigned int length; mac src_mac; mac dst_mac; unsigned int type; }
//   sampled_ipv4     = { unsigned int length; unsigned int protocol; ip_v4 src_ip; ip_v4 dst_ip;
//                        unsigned int src_port; unsigned int dst_port; unsigned int tcp_flags; unsigned int tos; }
//   sampled_ipv6     = { ... ip_v6 src_ip; ip_v6 dst_ip; ... unsigned int priority; }
import type { Reader } from './reader.js';
import type { ExtendedDecapsulate, ExtendedTunnelEthernet, ExtendedTunnelIp, ExtendedVni } from './types.js';
import { formatIpv4, formatIpv6, formatMac } from './address.js';

const RECORD_HEADER_BYTES = 8;
const MAC_XDR_BYTES = 8;

type L2Kind = ExtendedTunnelEthernet['kind'];
type IpKind = ExtendedTunnelIp['kind'];

function decodeL2Tunnel(r: Reader, kind: L2Kind): ExtendedTunnelEthernet {
  const frameLength = r.u32('length');
  const src = r.advance(MAC_XDR_BYTES, 'src_mac');
  const dst = r.advance(MAC_XDR_BYTES, 'dst_mac');
  return {
    kind, offset: r.start - RECORD_HEADER_BYTES, length: r.length,
    frameLength, srcMac: formatMac(r.bytes, src), dstMac: formatMac(r.bytes, dst), etherType: r.u32('type'),
  };
}

/** IPv4 and IPv6 forms share one shape; for IPv6 `tos` holds sampled_ipv6.priority. */
function decodeIpTunnel(r: Reader, kind: IpKind, ipv6: boolean): ExtendedTunnelIp {
  const ipLength = r.u32('length');
  const protocol = r.u32('protocol');
  const size = ipv6 ? 16 : 4;
  const src = r.advance(size, 'src_ip');
  const dst = r.advance(size, 'dst_ip');
  return {
    kind, offset: r.start - RECORD_HEADER_BYTES, length: r.length,
    ipLength, protocol,
    srcIp: ipv6 ? formatIpv6(r.bytes, src) : formatIpv4(r.bytes, src),
    dstIp: ipv6 ? formatIpv6(r.bytes, dst) : formatIpv4(r.bytes, dst),
    srcPort: r.u32('src_port'), dstPort: r.u32('dst_port'), tcpFlags: r.u32('tcp_flags'),
    tos: r.u32(ipv6 ? 'priority' : 'tos'),
  };
}

export const decodeL2TunnelEgress = (r: Reader): ExtendedTunnelEthernet => decodeL2Tunnel(r, 'extended_l2_tunnel_egress');
export const decodeL2TunnelIngress = (r: Reader): ExtendedTunnelEthernet => decodeL2Tunnel(r, 'extended_l2_tunnel_ingress');
export const decodeIpv4TunnelEgress = (r: Reader): ExtendedTunnelIp => decodeIpTunnel(r, 'extended_ipv4_tunnel_egress', false);
export const decodeIpv4TunnelIngress = (r: Reader): ExtendedTunnelIp => decodeIpTunnel(r, 'extended_ipv4_tunnel_ingress', false);
export const decodeIpv6TunnelEgress = (r: Reader): ExtendedTunnelIp => decodeIpTunnel(r, 'extended_ipv6_tunnel_egress', true);
export const decodeIpv6TunnelIngress = (r: Reader): ExtendedTunnelIp => decodeIpTunnel(r, 'extended_ipv6_tunnel_ingress', true);

export function decodeDecapsulateEgress(r: Reader): ExtendedDecapsulate {
  return { kind: 'extended_decapsulate_egress', offset: r.start - RECORD_HEADER_BYTES, length: r.length, innerHeaderOffset: r.u32('inner_header_offset') };
}
export function decodeDecapsulateIngress(r: Reader): ExtendedDecapsulate {
  return { kind: 'extended_decapsulate_ingress', offset: r.start - RECORD_HEADER_BYTES, length: r.length, innerHeaderOffset: r.u32('inner_header_offset') };
}
export function decodeVniEgress(r: Reader): ExtendedVni {
  return { kind: 'extended_vni_egress', offset: r.start - RECORD_HEADER_BYTES, length: r.length, vni: r.u32('vni') };
}
export function decodeVniIngress(r: Reader): ExtendedVni {
  return { kind: 'extended_vni_ingress', offset: r.start - RECORD_HEADER_BYTES, length: r.length, vni: r.u32('vni') };
}
