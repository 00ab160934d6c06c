// The packet fields a match or an action names, as ovs-fields(7) describes them: one slot per
// field in a frame (`bigint[]` indexed by FIELD), with the field's width, how its value is written
// in ovs-ofctl text, and the names it goes by (OpenFlow 1.0 `dl_src`, OXM `eth_src`, NXM
// `NXM_OF_ETH_SRC`). Several names are views of one slot: dl_vlan, vlan_vid and dl_vlan_pcp are
// bits of vlan_tci; icmp_type/icmp_code are tp_src/tp_dst; arp_spa/arp_tpa/arp_op are
// nw_src/nw_dst/nw_proto (OVS stores them the same way, so a dump's masks line up).

/** Slots of a frame's field vector. */
export const FIELD = {
  in_port: 0,
  dl_src: 1,
  dl_dst: 2,
  dl_type: 3,
  /** 802.1Q TCI of the outer tag: PCP(3) CFI(1, "present") VID(12); 0 = untagged. */
  vlan_tci: 4,
  nw_src: 5,
  nw_dst: 6,
  nw_proto: 7,
  /** The IPv4 TOS / IPv6 traffic class byte with the ECN bits cleared (OVS nw_tos). */
  nw_tos: 8,
  nw_ecn: 9,
  nw_ttl: 10,
  /** 0 no fragment, 1 first fragment, 3 later fragment (OVS FLOW_NW_FRAG_ANY|LATER bits). */
  nw_frag: 11,
  tp_src: 12,
  tp_dst: 13,
  arp_sha: 14,
  arp_tha: 15,
  ipv6_src: 16,
  ipv6_dst: 17,
  ipv6_label: 18,
  nd_target: 19,
  nd_sll: 20,
  nd_tll: 21,
  tun_id: 22,
  tun_src: 23,
  tun_dst: 24,
  tun_ipv6_src: 25,
  tun_ipv6_dst: 26,
  tun_flags: 27,
  metadata: 28,
  reg0: 29, // reg0..reg15 are 29..44
  ct_state: 45,
  ct_zone: 46,
  ct_mark: 47,
  ct_label: 48,
  pkt_mark: 49,
  recirc_id: 50,
  conj_id: 51,
  dp_hash: 52,
  skb_priority: 53,
  tcp_flags: 54,
  actset_output: 55,
  mpls_label: 56,
  tun_gbp_id: 57,
} as const;

export type FieldId = number;
export const FIELD_COUNT = 58;
export const REGISTER_COUNT = 16;

/** How a value is written in ovs-ofctl text. */
export type FieldFormat = 'int' | 'mac' | 'ipv4' | 'ipv6' | 'port' | 'ct_state' | 'tcp_flags' | 'frag' | 'ethertype';

export interface FieldDef {
  /** The name ovs-ofctl prints in a match (OpenFlow 1.0 / NXM spelling). */
  name: string;
  id: FieldId;
  bits: number;
  format: FieldFormat;
}

/**
 * A name that denotes bits of a slot: `(value << shift) & (ones(bits) << shift)` within field.
 * `present` is OR-ed into value and mask (dl_vlan=N means "tagged, VID N": 0x1000|N / 0x1fff).
 */
export interface FieldView {
  field: FieldDef;
  shift: number;
  bits: number;
  present: bigint;
  format: FieldFormat;
}

const defs: FieldDef[] = [];
function def(name: string, id: number, bits: number, format: FieldFormat): FieldDef {
  const d = { name, id, bits, format };
  defs[id] = d;
  return d;
}

const inPort = def('in_port', FIELD.in_port, 32, 'port');
const dlSrc = def('dl_src', FIELD.dl_src, 48, 'mac');
const dlDst = def('dl_dst', FIELD.dl_dst, 48, 'mac');
const dlType = def('dl_type', FIELD.dl_type, 16, 'ethertype');
const vlanTci = def('vlan_tci', FIELD.vlan_tci, 16, 'int');
const nwSrc = def('nw_src', FIELD.nw_src, 32, 'ipv4');
const nwDst = def('nw_dst', FIELD.nw_dst, 32, 'ipv4');
const nwProto = def('nw_proto', FIELD.nw_proto, 8, 'int');
const nwTos = def('nw_tos', FIELD.nw_tos, 8, 'int');
const nwEcn = def('nw_ecn', FIELD.nw_ecn, 2, 'int');
const nwTtl = def('nw_ttl', FIELD.nw_ttl, 8, 'int');
const nwFrag = def('nw_frag', FIELD.nw_frag, 2, 'frag');
const tpSrc = def('tp_src', FIELD.tp_src, 16, 'int');
const tpDst = def('tp_dst', FIELD.tp_dst, 16, 'int');
const arpSha = def('arp_sha', FIELD.arp_sha, 48, 'mac');
const arpTha = def('arp_tha', FIELD.arp_tha, 48, 'mac');
const ipv6Src = def('ipv6_src', FIELD.ipv6_src, 128, 'ipv6');
const ipv6Dst = def('ipv6_dst', FIELD.ipv6_dst, 128, 'ipv6');
const ipv6Label = def('ipv6_label', FIELD.ipv6_label, 20, 'int');
const ndTarget = def('nd_target', FIELD.nd_target, 128, 'ipv6');
const ndSll = def('nd_sll', FIELD.nd_sll, 48, 'mac');
const ndTll = def('nd_tll', FIELD.nd_tll, 48, 'mac');
const tunId = def('tun_id', FIELD.tun_id, 64, 'int');
const tunSrc = def('tun_src', FIELD.tun_src, 32, 'ipv4');
const tunDst = def('tun_dst', FIELD.tun_dst, 32, 'ipv4');
const tunIpv6Src = def('tun_ipv6_src', FIELD.tun_ipv6_src, 128, 'ipv6');
const tunIpv6Dst = def('tun_ipv6_dst', FIELD.tun_ipv6_dst, 128, 'ipv6');
const tunFlags = def('tun_flags', FIELD.tun_flags, 16, 'int');
const metadata = def('metadata', FIELD.metadata, 64, 'int');
const regs: FieldDef[] = [];
for (let i = 0; i < REGISTER_COUNT; i++) regs.push(def(`reg${i}`, FIELD.reg0 + i, 32, 'int'));
const ctState = def('ct_state', FIELD.ct_state, 32, 'ct_state');
const ctZone = def('ct_zone', FIELD.ct_zone, 16, 'int');
const ctMark = def('ct_mark', FIELD.ct_mark, 32, 'int');
const ctLabel = def('ct_label', FIELD.ct_label, 128, 'int');
const pktMark = def('pkt_mark', FIELD.pkt_mark, 32, 'int');
const recircId = def('recirc_id', FIELD.recirc_id, 32, 'int');
const conjId = def('conj_id', FIELD.conj_id, 32, 'int');
const dpHash = def('dp_hash', FIELD.dp_hash, 32, 'int');
const skbPriority = def('skb_priority', FIELD.skb_priority, 32, 'int');
const tcpFlags = def('tcp_flags', FIELD.tcp_flags, 12, 'tcp_flags');
const actsetOutput = def('actset_output', FIELD.actset_output, 32, 'port');
const mplsLabel = def('mpls_label', FIELD.mpls_label, 20, 'int');
const tunGbpId = def('tun_gbp_id', FIELD.tun_gbp_id, 16, 'int');

export const FIELD_DEFS: readonly FieldDef[] = defs;

function whole(field: FieldDef, format: FieldFormat = field.format): FieldView {
  return { field, shift: 0, bits: field.bits, present: 0n, format };
}
function part(field: FieldDef, shift: number, bits: number, present = 0n): FieldView {
  return { field, shift, bits, present, format: 'int' };
}

/** VLAN_CFI: in OVS's vlan_tci, the "a tag is present" bit (OpenFlow's OFPVID_PRESENT). */
export const VLAN_PRESENT = 0x1000;

/** Match and set_field names (ovs-fields(7) names and their OpenFlow 1.0 / OXM aliases). */
const views = new Map<string, FieldView>();
function alias(names: readonly string[], view: FieldView): void {
  for (const name of names) views.set(name, view);
}
alias(['in_port', 'in_port_oxm'], whole(inPort));
alias(['dl_src', 'eth_src'], whole(dlSrc));
alias(['dl_dst', 'eth_dst'], whole(dlDst));
alias(['dl_type', 'eth_type'], whole(dlType));
alias(['vlan_tci'], whole(vlanTci));
// dl_vlan=N: tagged with VID N. vlan_vid (OXM) carries the present bit in its value (4097 = VID 1).
alias(['dl_vlan'], part(vlanTci, 0, 12, BigInt(VLAN_PRESENT)));
alias(['vlan_vid'], part(vlanTci, 0, 13));
alias(['dl_vlan_pcp', 'vlan_pcp'], part(vlanTci, 13, 3, BigInt(VLAN_PRESENT)));
alias(['nw_src', 'ip_src', 'arp_spa'], whole(nwSrc));
alias(['nw_dst', 'ip_dst', 'arp_tpa'], whole(nwDst));
alias(['nw_proto', 'ip_proto', 'arp_op'], whole(nwProto, 'int'));
alias(['nw_tos'], whole(nwTos));
alias(['ip_dscp'], part(nwTos, 2, 6));
alias(['nw_ecn', 'ip_ecn'], whole(nwEcn));
alias(['nw_ttl', 'ip_ttl'], whole(nwTtl));
alias(['nw_frag', 'ip_frag'], whole(nwFrag));
alias(['tp_src', 'tcp_src', 'udp_src', 'sctp_src', 'icmp_type', 'icmpv4_type', 'icmpv6_type'], whole(tpSrc));
alias(['tp_dst', 'tcp_dst', 'udp_dst', 'sctp_dst', 'icmp_code', 'icmpv4_code', 'icmpv6_code'], whole(tpDst));
alias(['arp_sha'], whole(arpSha));
alias(['arp_tha'], whole(arpTha));
alias(['ipv6_src'], whole(ipv6Src));
alias(['ipv6_dst'], whole(ipv6Dst));
alias(['ipv6_label'], whole(ipv6Label));
alias(['nd_target'], whole(ndTarget));
alias(['nd_sll'], whole(ndSll));
alias(['nd_tll'], whole(ndTll));
alias(['tun_id', 'tunnel_id'], whole(tunId));
alias(['tun_src'], whole(tunSrc));
alias(['tun_dst'], whole(tunDst));
alias(['tun_ipv6_src'], whole(tunIpv6Src));
alias(['tun_ipv6_dst'], whole(tunIpv6Dst));
alias(['tun_flags'], whole(tunFlags));
alias(['tun_gbp_id'], whole(tunGbpId));
alias(['metadata'], whole(metadata));
for (let i = 0; i < REGISTER_COUNT; i++) alias([`reg${i}`], whole(regs[i] as FieldDef));
alias(['ct_state'], whole(ctState));
alias(['ct_zone'], whole(ctZone));
alias(['ct_mark'], whole(ctMark));
alias(['ct_label'], whole(ctLabel));
alias(['pkt_mark'], whole(pktMark));
alias(['recirc_id'], whole(recircId));
alias(['conj_id'], whole(conjId));
alias(['dp_hash'], whole(dpHash));
alias(['skb_priority'], whole(skbPriority));
alias(['tcp_flags'], whole(tcpFlags));
alias(['actset_output'], whole(actsetOutput));
alias(['mpls_label'], whole(mplsLabel));

/** The view a match or set_field name denotes, or undefined for a field this model lacks. */
export function fieldView(name: string): FieldView | undefined {
  return views.get(name);
}

/** NXM/OXM field names used by load, move, learn and output:FIELD[..] (ovs-fields(7) "NXM and OXM"). */
const nxm = new Map<string, FieldView>([
  ['NXM_OF_IN_PORT', part(inPort, 0, 16)],
  ['OXM_OF_IN_PORT', whole(inPort)],
  ['NXM_OF_ETH_DST', whole(dlDst)],
  ['OXM_OF_ETH_DST', whole(dlDst)],
  ['NXM_OF_ETH_SRC', whole(dlSrc)],
  ['OXM_OF_ETH_SRC', whole(dlSrc)],
  ['NXM_OF_ETH_TYPE', whole(dlType)],
  ['OXM_OF_ETH_TYPE', whole(dlType)],
  ['NXM_OF_VLAN_TCI', whole(vlanTci)],
  ['OXM_OF_VLAN_VID', part(vlanTci, 0, 13)],
  ['OXM_OF_VLAN_PCP', part(vlanTci, 13, 3)],
  ['NXM_OF_IP_TOS', whole(nwTos)],
  ['NXM_NX_IP_ECN', whole(nwEcn)],
  ['NXM_NX_IP_TTL', whole(nwTtl)],
  ['NXM_OF_IP_PROTO', whole(nwProto)],
  ['NXM_OF_IP_SRC', whole(nwSrc)],
  ['OXM_OF_IPV4_SRC', whole(nwSrc)],
  ['NXM_OF_IP_DST', whole(nwDst)],
  ['OXM_OF_IPV4_DST', whole(nwDst)],
  ['NXM_OF_TCP_SRC', whole(tpSrc)],
  ['NXM_OF_TCP_DST', whole(tpDst)],
  ['NXM_OF_UDP_SRC', whole(tpSrc)],
  ['NXM_OF_UDP_DST', whole(tpDst)],
  ['OXM_OF_TCP_SRC', whole(tpSrc)],
  ['OXM_OF_TCP_DST', whole(tpDst)],
  ['OXM_OF_UDP_SRC', whole(tpSrc)],
  ['OXM_OF_UDP_DST', whole(tpDst)],
  ['NXM_OF_ICMP_TYPE', whole(tpSrc)],
  ['NXM_OF_ICMP_CODE', whole(tpDst)],
  ['NXM_OF_ARP_OP', whole(nwProto)],
  ['NXM_OF_ARP_SPA', whole(nwSrc)],
  ['NXM_OF_ARP_TPA', whole(nwDst)],
  ['NXM_NX_ARP_SHA', whole(arpSha)],
  ['NXM_NX_ARP_THA', whole(arpTha)],
  ['NXM_NX_IPV6_SRC', whole(ipv6Src)],
  ['NXM_NX_IPV6_DST', whole(ipv6Dst)],
  ['NXM_NX_IPV6_LABEL', whole(ipv6Label)],
  ['NXM_NX_ND_TARGET', whole(ndTarget)],
  ['NXM_NX_ND_SLL', whole(ndSll)],
  ['NXM_NX_ND_TLL', whole(ndTll)],
  ['NXM_NX_TUN_ID', whole(tunId)],
  ['OXM_OF_TUNNEL_ID', whole(tunId)],
  ['NXM_NX_TUN_IPV4_SRC', whole(tunSrc)],
  ['NXM_NX_TUN_IPV4_DST', whole(tunDst)],
  ['OXM_OF_METADATA', whole(metadata)],
  ['NXM_NX_CT_STATE', whole(ctState)],
  ['NXM_NX_CT_ZONE', whole(ctZone)],
  ['NXM_NX_CT_MARK', whole(ctMark)],
  ['NXM_NX_CT_LABEL', whole(ctLabel)],
  ['NXM_NX_PKT_MARK', whole(pktMark)],
  ['NXM_NX_DP_HASH', whole(dpHash)],
  ['NXM_NX_TCP_FLAGS', whole(tcpFlags)],
]);
for (let i = 0; i < REGISTER_COUNT; i++) nxm.set(`NXM_NX_REG${i}`, whole(regs[i] as FieldDef));

/** The view an NXM/OXM name (or, as OVS also accepts, an ovs-fields name) denotes in a subfield. */
export function nxmView(name: string): FieldView | undefined {
  return nxm.get(name) ?? views.get(name);
}

/** All ones over `bits`. */
export function ones(bits: number): bigint {
  return (1n << BigInt(bits)) - 1n;
}

/** ct_state bits (ovs-fields(7) "Connection Tracking Fields"). */
export const CT_STATE_BITS: Readonly<Record<string, number>> = {
  new: 0x01,
  est: 0x02,
  rel: 0x04,
  rpl: 0x08,
  inv: 0x10,
  trk: 0x20,
  snat: 0x40,
  dnat: 0x80,
};

/** TCP flag bits, as tcp_flags=+syn-ack names them. */
export const TCP_FLAG_BITS: Readonly<Record<string, number>> = {
  fin: 0x001,
  syn: 0x002,
  rst: 0x004,
  psh: 0x008,
  ack: 0x010,
  urg: 0x020,
  ece: 0x040,
  cwr: 0x080,
  ns: 0x100,
};

/** OpenFlow 1.0 reserved port numbers, as OVS numbers them internally (OFPP_*). */
export const OFPP = {
  IN_PORT: 0xfff8,
  TABLE: 0xfff9,
  NORMAL: 0xfffa,
  FLOOD: 0xfffb,
  ALL: 0xfffc,
  CONTROLLER: 0xfffd,
  LOCAL: 0xfffe,
  NONE: 0xffff,
} as const;

/** Port names ovs-ofctl prints for the reserved numbers (also accepted in lower case). */
export const RESERVED_PORTS: Readonly<Record<string, number>> = {
  IN_PORT: OFPP.IN_PORT,
  TABLE: OFPP.TABLE,
  NORMAL: OFPP.NORMAL,
  FLOOD: OFPP.FLOOD,
  ALL: OFPP.ALL,
  CONTROLLER: OFPP.CONTROLLER,
  LOCAL: OFPP.LOCAL,
  NONE: OFPP.NONE,
  ANY: OFPP.NONE,
};
