// Reads the text of `ovs-appctl ofproto/trace BRIDGE FLOW` (OVS 3.x) so that integration tests can
// compare the offline walk with the real translation:
//
//   Flow: arp,in_port=5,vlan_tci=0x0000,dl_src=...
//
//   bridge("br-int")
//   ----------------
//    0. priority 0                                  TABLE. [MATCH, ]priority P[, cookie C]
//       NORMAL
//        -> no learned MAC for destination, flooding
//    3. No match.
//   ...
//   Final flow: unchanged
//   Megaflow: ...
//   Datapath actions: push_vlan(vid=1,pcp=0),1,pop_vlan,4,tnl_push(tnl_port(5),header(...,
//                     ipv4(src=203.0.113.1,dst=203.0.113.2,...),gre((flags=0x2000,proto=0x6558),key=0x2)),out_port(7)),6
//
// Datapath actions name datapath port numbers; dpif/show maps them to bridge ports.
import { FIELD } from '../../src/openflow/fields.js';
import { formatIpv4, formatIpv6, formatMac } from '../../src/openflow/values.js';

export interface TraceRule {
  bridge: string;
  table: number;
  /** undefined for "No match." */
  priority: number | undefined;
  cookie: bigint;
  match: string;
}

/** One thing the datapath actions send: to a datapath port, or into a tunnel header. */
export type TraceOutput =
  | { kind: 'port'; odpPort: number; vlan: number | undefined }
  | { kind: 'tunnel'; src: string; dst: string; key: bigint; vlan: number | undefined };

export interface OfprotoTrace {
  rules: TraceRule[];
  datapathActions: string;
  outputs: TraceOutput[];
  /** Notes OVS printed (`-> ...`, `>> ...`). */
  notes: string[];
}

const RULE = /^\s*(\d+)\. (.*)$/;
const PRIORITY = /^(?:(.*), )?priority (\d+)(?:, cookie (0x[0-9a-f]+))?$/;

/** `initialVlan`: the traced frame's VID, when it came in tagged (datapath actions only show changes). */
export function parseOfprotoTrace(text: string, initialVlan?: number): OfprotoTrace {
  const rules: TraceRule[] = [];
  const notes: string[] = [];
  let bridge = '';
  let datapathActions = '';
  for (const line of text.split('\n')) {
    const b = /^\s*bridge\("(.+)"\)$/.exec(line);
    if (b !== null) {
      bridge = b[1] ?? '';
      continue;
    }
    const r = RULE.exec(line);
    if (r !== null) {
      const body = r[2] ?? '';
      if (body === 'No match.') {
        rules.push({ bridge, table: Number(r[1]), priority: undefined, cookie: 0n, match: '' });
        continue;
      }
      const p = PRIORITY.exec(body);
      if (p === null) throw new Error(`ofproto/trace rule line not understood: ${line}`);
      rules.push({ bridge, table: Number(r[1]), priority: Number(p[2]), cookie: BigInt(p[3] ?? '0'), match: p[1] ?? '' });
      continue;
    }
    const note = /^\s*(?:->|>>+) (.*?)(?: <<<<)?$/.exec(line);
    if (note !== null) notes.push(note[1] ?? '');
    if (line.startsWith('Datapath actions: ')) datapathActions = line.slice('Datapath actions: '.length).trim();
  }
  return { rules, datapathActions, outputs: parseDatapathActions(datapathActions, initialVlan), notes };
}

function splitTop(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (c === ',' && depth === 0) {
      parts.push(text.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(text.slice(start));
  return parts.map((p) => p.trim()).filter((p) => p !== '');
}

/**
 * Outputs of a datapath action list, with the VLAN each carried. After a tnl_push the frame is
 * the outer one: its outputs are underlay ports (kept, callers drop the underlay bridge's ports).
 */
export function parseDatapathActions(actions: string, initialVlan?: number): TraceOutput[] {
  const out: TraceOutput[] = [];
  if (actions === 'drop' || actions === '') return out;
  let vlans: number[] = initialVlan === undefined ? [] : [initialVlan];
  const visit = (list: string[], state: number[]): number[] => {
    let stack = [...state];
    for (const action of list) {
      if (/^\d+$/.test(action)) {
        out.push({ kind: 'port', odpPort: Number(action), vlan: stack[0] });
        continue;
      }
      const push = /^push_vlan\((?:tpid=0x[0-9a-f]+,)?vid=(\d+),pcp=\d+\)$/.exec(action);
      if (push !== null) {
        stack = [Number(push[1]), ...stack];
        continue;
      }
      if (action === 'pop_vlan') {
        stack = stack.slice(1);
        continue;
      }
      if (action.startsWith('tnl_push(')) {
        const ip = /ipv4\(src=([\d.]+),dst=([\d.]+)/.exec(action);
        const key = /key=(0x[0-9a-f]+)/.exec(action);
        out.push({ kind: 'tunnel', src: ip?.[1] ?? '?', dst: ip?.[2] ?? '?', key: BigInt(key?.[1] ?? '0'), vlan: stack[0] });
        stack = []; // the outer frame
        continue;
      }
      if (action.startsWith('clone(')) {
        visit(splitTop(action.slice('clone('.length, -1)), stack);
        continue;
      }
      // set(...), ct(...), recirc, userspace(...): no output of their own here.
    }
    return stack;
  };
  vlans = visit(splitTop(actions), vlans);
  return out;
}

/** A frame (field slots) as an ofproto/trace flow: the fields the walk's frame holds. */
export function flowFromFields(f: readonly bigint[], inPort: number | string): string {
  const g = (slot: number): bigint => f[slot] ?? 0n;
  const parts = [`in_port=${inPort}`];
  if (g(FIELD.tun_id) !== 0n || g(FIELD.tun_dst) !== 0n) {
    parts.push(`tun_id=0x${g(FIELD.tun_id).toString(16)}`);
    if (g(FIELD.tun_src) !== 0n) parts.push(`tun_src=${formatIpv4(g(FIELD.tun_src))}`);
    if (g(FIELD.tun_dst) !== 0n) parts.push(`tun_dst=${formatIpv4(g(FIELD.tun_dst))}`);
  }
  const tci = Number(g(FIELD.vlan_tci));
  if ((tci & 0x1000) !== 0) parts.push(`dl_vlan=${tci & 0xfff}`, `dl_vlan_pcp=${tci >> 13}`);
  parts.push(`dl_src=${formatMac(g(FIELD.dl_src))}`, `dl_dst=${formatMac(g(FIELD.dl_dst))}`);
  const dlType = Number(g(FIELD.dl_type));
  parts.push(`dl_type=0x${dlType.toString(16).padStart(4, '0')}`);
  if (dlType === 0x0806) {
    parts.push(`arp_spa=${formatIpv4(g(FIELD.nw_src))}`, `arp_tpa=${formatIpv4(g(FIELD.nw_dst))}`, `arp_op=${g(FIELD.nw_proto)}`);
    parts.push(`arp_sha=${formatMac(g(FIELD.arp_sha))}`, `arp_tha=${formatMac(g(FIELD.arp_tha))}`);
  } else if (dlType === 0x0800 || dlType === 0x86dd) {
    if (dlType === 0x0800) parts.push(`nw_src=${formatIpv4(g(FIELD.nw_src))}`, `nw_dst=${formatIpv4(g(FIELD.nw_dst))}`);
    else parts.push(`ipv6_src=${formatIpv6(g(FIELD.ipv6_src))}`, `ipv6_dst=${formatIpv6(g(FIELD.ipv6_dst))}`);
    const proto = g(FIELD.nw_proto);
    parts.push(`nw_proto=${proto}`, `nw_ttl=${g(FIELD.nw_ttl)}`, `nw_tos=${g(FIELD.nw_tos)}`);
    // tp_src/tp_dst are tcp_src/tcp_dst to OVS's flow parser: name the protocol's own fields.
    const l4 = proto === 6n ? 'tcp' : proto === 17n ? 'udp' : proto === 132n ? 'sctp' : undefined;
    if (l4 !== undefined) parts.push(`${l4}_src=${g(FIELD.tp_src)}`, `${l4}_dst=${g(FIELD.tp_dst)}`);
    if (proto === 1n || proto === 58n) parts.push(`icmp_type=${g(FIELD.tp_src)}`, `icmp_code=${g(FIELD.tp_dst)}`);
  }
  return parts.join(',');
}
