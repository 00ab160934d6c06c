// The frame the walk carries: one bigint per field slot (FIELD), built once from a FrameSpec, so
// that matching is `(fields[slot] & mask) === value` with no parsing or string work per rule.
import { HoptraceError } from '../errors.js';
import { FIELD, FIELD_COUNT, REGISTER_COUNT, VLAN_PRESENT, CT_STATE_BITS } from './fields.js';
import { formatCtState, formatHex, formatIpv4, formatIpv6, formatMac, parseInteger, parseIpv4, parseIpv6, parseMac, parseMasked } from './values.js';

/** A frame as a caller describes it: OVS field names, text addresses. Absent fields are 0. */
export interface FrameSpec {
  dl_src?: string;
  dl_dst?: string;
  /** EtherType (0x0800 IPv4, 0x0806 ARP, 0x86dd IPv6); default 0x0800 when nw_* fields are given. */
  dl_type?: number;
  /** 802.1Q VID of the outer tag; absent = untagged. */
  vlan?: number;
  vlan_pcp?: number;
  /** IPv4 or IPv6 (IPv6 goes to ipv6_src/ipv6_dst). */
  nw_src?: string;
  nw_dst?: string;
  nw_proto?: number;
  nw_tos?: number;
  /** Default 64 for IP frames. */
  nw_ttl?: number;
  tp_src?: number;
  tp_dst?: number;
  icmp_type?: number;
  icmp_code?: number;
  arp_op?: number;
  arp_spa?: string;
  arp_tpa?: string;
  arp_sha?: string;
  arp_tha?: string;
  tun_id?: bigint | number;
  tun_src?: string;
  tun_dst?: string;
  metadata?: bigint;
  /** reg0..reg15 by index. */
  regs?: Readonly<Record<number, number>>;
  /** ct_state as flags (`trk|est`) or a number. */
  ct_state?: string | number;
  ct_zone?: number;
  ct_mark?: number;
  pkt_mark?: number;
}

/** A FrameSpec value that cannot be read (code 'bad-value'; `field` names it). */
export class FrameSpecError extends HoptraceError {
  override readonly name = 'FrameSpecError';
  readonly field: string;
  constructor(field: string, detail: string) {
    super('bad-value', `frame field ${field}: ${detail}`);
    this.field = field;
  }
}

const ETH_IP = 0x0800;
const ETH_IPV6 = 0x86dd;
const ETH_ARP = 0x0806;

// The same few addresses come back frame after frame (a cloud has few ports): parsed once each.
// Bounded: a cache is cleared when it holds this many.
const ADDRESS_CACHE_MAX = 65_536;
const addressCaches = new Map<(t: string) => bigint | undefined, Map<string, bigint>>();

function address(field: string, text: string, parse: (t: string) => bigint | undefined): bigint {
  let cache = addressCaches.get(parse);
  if (cache === undefined) {
    cache = new Map();
    addressCaches.set(parse, cache);
  }
  const known = cache.get(text);
  if (known !== undefined) return known;
  const v = parse(text);
  if (v === undefined) throw new FrameSpecError(field, `cannot read '${text}'`);
  if (cache.size >= ADDRESS_CACHE_MAX) cache.clear();
  cache.set(text, v);
  return v;
}

/** The field vector of a frame (in_port is set by the walk). Throws FrameSpecError on unreadable values. */
export function buildFrameFields(spec: FrameSpec): bigint[] {
  const f = new Array<bigint>(FIELD_COUNT).fill(0n);
  if (spec.dl_src !== undefined) f[FIELD.dl_src] = address('dl_src', spec.dl_src, parseMac);
  if (spec.dl_dst !== undefined) f[FIELD.dl_dst] = address('dl_dst', spec.dl_dst, parseMac);
  const ipv6 = (spec.nw_src ?? spec.nw_dst ?? '').includes(':');
  const arp = spec.arp_op !== undefined || spec.arp_spa !== undefined || spec.arp_tpa !== undefined;
  const ip = spec.nw_src !== undefined || spec.nw_dst !== undefined || spec.nw_proto !== undefined;
  const dlType = spec.dl_type ?? (arp ? ETH_ARP : ip ? (ipv6 ? ETH_IPV6 : ETH_IP) : 0);
  f[FIELD.dl_type] = BigInt(dlType);
  if (spec.vlan !== undefined) {
    if (!Number.isInteger(spec.vlan) || spec.vlan < 0 || spec.vlan > 4095) throw new FrameSpecError('vlan', `${spec.vlan} is not a VID`);
    f[FIELD.vlan_tci] = BigInt((((spec.vlan_pcp ?? 0) & 7) << 13) | VLAN_PRESENT | spec.vlan);
  }
  if (dlType === ETH_IPV6) {
    if (spec.nw_src !== undefined) f[FIELD.ipv6_src] = address('nw_src', spec.nw_src, parseIpv6);
    if (spec.nw_dst !== undefined) f[FIELD.ipv6_dst] = address('nw_dst', spec.nw_dst, parseIpv6);
  } else {
    if (spec.nw_src !== undefined) f[FIELD.nw_src] = address('nw_src', spec.nw_src, parseIpv4);
    if (spec.nw_dst !== undefined) f[FIELD.nw_dst] = address('nw_dst', spec.nw_dst, parseIpv4);
  }
  if (dlType === ETH_IP || dlType === ETH_IPV6) {
    f[FIELD.nw_proto] = BigInt(spec.nw_proto ?? 0);
    f[FIELD.nw_tos] = BigInt((spec.nw_tos ?? 0) & 0xfc);
    f[FIELD.nw_ecn] = BigInt((spec.nw_tos ?? 0) & 3);
    f[FIELD.nw_ttl] = BigInt(spec.nw_ttl ?? 64);
  }
  if (dlType === ETH_ARP) {
    f[FIELD.nw_proto] = BigInt(spec.arp_op ?? 1);
    if (spec.arp_spa !== undefined) f[FIELD.nw_src] = address('arp_spa', spec.arp_spa, parseIpv4);
    if (spec.arp_tpa !== undefined) f[FIELD.nw_dst] = address('arp_tpa', spec.arp_tpa, parseIpv4);
    if (spec.arp_sha !== undefined) f[FIELD.arp_sha] = address('arp_sha', spec.arp_sha, parseMac);
    if (spec.arp_tha !== undefined) f[FIELD.arp_tha] = address('arp_tha', spec.arp_tha, parseMac);
  }
  f[FIELD.tp_src] = BigInt(spec.tp_src ?? spec.icmp_type ?? 0);
  f[FIELD.tp_dst] = BigInt(spec.tp_dst ?? spec.icmp_code ?? 0);
  if (spec.tun_id !== undefined) f[FIELD.tun_id] = BigInt(spec.tun_id);
  if (spec.tun_src !== undefined) f[FIELD.tun_src] = address('tun_src', spec.tun_src, parseIpv4);
  if (spec.tun_dst !== undefined) f[FIELD.tun_dst] = address('tun_dst', spec.tun_dst, parseIpv4);
  if (spec.metadata !== undefined) f[FIELD.metadata] = spec.metadata;
  for (const [index, value] of Object.entries(spec.regs ?? {})) {
    const i = Number(index);
    if (!Number.isInteger(i) || i < 0 || i >= REGISTER_COUNT) throw new FrameSpecError(`reg${index}`, 'no such register');
    f[FIELD.reg0 + i] = BigInt(value >>> 0);
  }
  if (spec.ct_state !== undefined) {
    const ct = typeof spec.ct_state === 'number' ? { value: BigInt(spec.ct_state), mask: 0n } : parseMasked(spec.ct_state, 'ct_state', 32);
    if (ct === undefined) throw new FrameSpecError('ct_state', `cannot read '${String(spec.ct_state)}' (flags: ${Object.keys(CT_STATE_BITS).join('|')})`);
    f[FIELD.ct_state] = ct.value;
  }
  if (spec.ct_zone !== undefined) f[FIELD.ct_zone] = BigInt(spec.ct_zone);
  if (spec.ct_mark !== undefined) f[FIELD.ct_mark] = BigInt(spec.ct_mark);
  if (spec.pkt_mark !== undefined) f[FIELD.pkt_mark] = BigInt(spec.pkt_mark);
  return f;
}

/** The outer VID of a field vector, or undefined when untagged. */
export function vlanOf(fields: readonly bigint[]): number | undefined {
  const tci = Number(fields[FIELD.vlan_tci] ?? 0n);
  return (tci & VLAN_PRESENT) === 0 ? undefined : tci & 0xfff;
}

/** A field vector written the way ofproto/trace's "Final flow" does (only the fields that matter). */
export function describeFrame(fields: readonly bigint[]): string {
  const g = (slot: number): bigint => fields[slot] ?? 0n;
  const parts: string[] = [];
  if (g(FIELD.tun_id) !== 0n || g(FIELD.tun_dst) !== 0n) parts.push(`tun_id=${formatHex(g(FIELD.tun_id))}`);
  if (g(FIELD.tun_src) !== 0n) parts.push(`tun_src=${formatIpv4(g(FIELD.tun_src))}`);
  if (g(FIELD.tun_dst) !== 0n) parts.push(`tun_dst=${formatIpv4(g(FIELD.tun_dst))}`);
  for (let i = 0; i < REGISTER_COUNT; i++) if (g(FIELD.reg0 + i) !== 0n) parts.push(`reg${i}=${formatHex(g(FIELD.reg0 + i))}`);
  if (g(FIELD.metadata) !== 0n) parts.push(`metadata=${formatHex(g(FIELD.metadata))}`);
  if (g(FIELD.ct_state) !== 0n) parts.push(`ct_state=${formatCtState(g(FIELD.ct_state))}`);
  parts.push(`in_port=${g(FIELD.in_port)}`);
  const tci = Number(g(FIELD.vlan_tci));
  if ((tci & VLAN_PRESENT) !== 0) parts.push(`dl_vlan=${tci & 0xfff},dl_vlan_pcp=${tci >> 13}`);
  else parts.push('vlan_tci=0x0000');
  parts.push(`dl_src=${formatMac(g(FIELD.dl_src))}`, `dl_dst=${formatMac(g(FIELD.dl_dst))}`);
  const dlType = Number(g(FIELD.dl_type));
  parts.push(`dl_type=0x${dlType.toString(16).padStart(4, '0')}`);
  if (dlType === ETH_IP || dlType === ETH_ARP) {
    parts.push(`${dlType === ETH_ARP ? 'arp_spa' : 'nw_src'}=${formatIpv4(g(FIELD.nw_src))}`, `${dlType === ETH_ARP ? 'arp_tpa' : 'nw_dst'}=${formatIpv4(g(FIELD.nw_dst))}`);
    parts.push(`${dlType === ETH_ARP ? 'arp_op' : 'nw_proto'}=${g(FIELD.nw_proto)}`);
  } else if (dlType === ETH_IPV6) {
    parts.push(`ipv6_src=${formatIpv6(g(FIELD.ipv6_src))}`, `ipv6_dst=${formatIpv6(g(FIELD.ipv6_dst))}`, `nw_proto=${g(FIELD.nw_proto)}`);
  }
  if (dlType === ETH_IP || dlType === ETH_IPV6) {
    parts.push(`nw_ttl=${g(FIELD.nw_ttl)}`, `tp_src=${g(FIELD.tp_src)}`, `tp_dst=${g(FIELD.tp_dst)}`);
  }
  return parts.join(',');
}

/** For callers holding a number-or-text VID/tun_id from elsewhere. */
export function toBigint(value: string | number | bigint): bigint | undefined {
  if (typeof value === 'bigint') return value;
  if (typeof value === 'number') return Number.isInteger(value) && value >= 0 ? BigInt(value) : undefined;
  return parseInteger(value);
}
