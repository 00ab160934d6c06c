// Match text as ovs-ofctl prints it (ovs-fields(7), ovs-ofctl(8) "Flow Syntax"): comma-separated
// `field=value[/mask]` and protocol shorthands (`ip`, `tcp6`...). Each becomes a MatchField with
// the bits to compare in its frame slot.
import { FIELD, fieldView, ones, RESERVED_PORTS, VLAN_PRESENT } from './fields.js';
import type { MatchField } from './types.js';
import { parseInteger, parseMasked } from './values.js';

const ETH = { IP: 0x0800n, ARP: 0x0806n, RARP: 0x8035n, IPV6: 0x86ddn, MPLS: 0x8847n, MPLSM: 0x8848n } as const;

/** Protocol shorthands (ovs-fields(7) "Shorthands"): dl_type and, for some, nw_proto. */
const SHORTHANDS: Readonly<Record<string, readonly [bigint, bigint | undefined]>> = {
  eth: [-1n, undefined], // matches any Ethernet frame: no constraint (-1 is a marker)
  ip: [ETH.IP, undefined],
  ipv4: [ETH.IP, undefined],
  icmp: [ETH.IP, 1n],
  igmp: [ETH.IP, 2n],
  tcp: [ETH.IP, 6n],
  udp: [ETH.IP, 17n],
  sctp: [ETH.IP, 132n],
  ipv6: [ETH.IPV6, undefined],
  icmp6: [ETH.IPV6, 58n],
  tcp6: [ETH.IPV6, 6n],
  udp6: [ETH.IPV6, 17n],
  sctp6: [ETH.IPV6, 132n],
  arp: [ETH.ARP, undefined],
  rarp: [ETH.RARP, undefined],
  mpls: [ETH.MPLS, undefined],
  mplsm: [ETH.MPLSM, undefined],
};

export function isShorthand(word: string): boolean {
  return Object.hasOwn(SHORTHANDS, word);
}

export type MatchTermResult = { ok: true; fields: MatchField[] } | { ok: false; message: string };

/** The fields of one match term: a shorthand (`tcp`) or `name=value`. */
export function parseMatchTerm(term: string): MatchTermResult {
  const eq = term.indexOf('=');
  if (eq < 0) {
    const shorthand = SHORTHANDS[term];
    if (shorthand === undefined) return { ok: false, message: `unknown match keyword '${term}'` };
    const [dlType, nwProto] = shorthand;
    const fields: MatchField[] = [];
    if (dlType >= 0n) fields.push({ name: term, text: term, field: FIELD.dl_type, value: dlType, mask: 0xffffn });
    if (nwProto !== undefined) fields.push({ name: term, text: term, field: FIELD.nw_proto, value: nwProto, mask: 0xffn });
    return { ok: true, fields };
  }
  const name = term.slice(0, eq);
  const text = term.slice(eq + 1);
  if (name === 'in_port' || name === 'in_port_oxm' || name === 'actset_output') {
    const field = name === 'actset_output' ? FIELD.actset_output : FIELD.in_port;
    const port = parsePortText(text);
    if (port === undefined) return { ok: false, message: `bad port '${text}' in ${term}` };
    if (typeof port === 'string') return { ok: true, fields: [{ name, text: term, field, value: 0n, mask: ones(32), portName: port }] };
    return { ok: true, fields: [{ name, text: term, field, value: BigInt(port), mask: ones(32) }] };
  }
  if (name === 'dl_vlan' && /^(?:0xffff|65535)$/i.test(text)) {
    // OFP_VLAN_NONE: no 802.1Q header at all.
    return { ok: true, fields: [{ name, text: term, field: FIELD.vlan_tci, value: 0n, mask: 0xffffn }] };
  }
  const view = fieldView(name);
  if (view === undefined) return { ok: true, fields: [{ name, text: term, field: undefined, value: 0n, mask: 0n }] };
  const masked = parseMasked(text, view.format, view.bits);
  if (masked === undefined) return { ok: false, message: `bad value '${text}' for ${name}` };
  const shift = BigInt(view.shift);
  const present = view.present;
  return {
    ok: true,
    fields: [{ name, text: term, field: view.field.id, value: (masked.value << shift) | present, mask: (masked.mask << shift) | present }],
  };
}

/** A port as written in a match or action: a number, a reserved name (LOCAL), or a port name (maybe quoted). */
export function parsePortText(text: string): number | string | undefined {
  if (text === '') return undefined;
  if (text.startsWith('"')) {
    if (!text.endsWith('"') || text.length < 2) return undefined;
    return text.slice(1, -1).replace(/\\(.)/g, '$1');
  }
  const n = parseInteger(text);
  if (n !== undefined) return n > 0xffffffffn ? undefined : Number(n);
  const reserved = RESERVED_PORTS[text.toUpperCase()];
  if (reserved !== undefined && text === text.toUpperCase()) return reserved;
  return text;
}

/** The vlan_tci bits a frame has when tagged with `vid` (and priority `pcp`). */
export function vlanTci(vid: number, pcp = 0): number {
  return ((pcp & 7) << 13) | VLAN_PRESENT | (vid & 0xfff);
}
