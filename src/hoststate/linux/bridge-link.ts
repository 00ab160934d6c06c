// Linux bridge ports from `bridge -s -s -d link show` (text, sosreport) and `bridge -j -s -s -d
// link show` (JSON, the agent). iproute2 6.x bridge/link.c print_linkinfo / print_protinfo:
//
//   8: tap12345678-90@vx0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 master qbr12345678-90 state forwarding priority 32 cost 2
//       hairpin off guard off root_block off fastleave off learning on flood on mcast_flood on ...   <- -d
//
// `@LINK` is the port's link resolved by ifindex in the bridge's namespace (for a veth whose peer
// is elsewhere that can be an unrelated device: iproute2 prints it that way in both forms).
import type { ParseIssue, Parsed } from '../snapshot.js';
import { issue, isJsonText, isObject, jsonArrayElements, jsonBool, jsonNumber, jsonString, jsonStrings, textInt, textLines, tokens } from './parse-util.js';

export interface BridgePort {
  ifindex: number;
  name: string;
  link: string | null;
  flags: string[];
  mtu: number | null;
  master: string | null;
  /** STP state: forwarding, blocking, disabled, listening, learning. */
  state: string | null;
  priority: number | null;
  cost: number | null;
  hairpin: boolean | null;
  learning: boolean | null;
  flood: boolean | null;
  isolated: boolean | null;
}

const HEADER = /^(\d+):\s+([^\s@:]+)(?:@([^\s:]+))?:\s+<([^>]*)>(.*)$/;

export function parseBridgeLink(text: string, source: string): Parsed<BridgePort[]> {
  const issues: ParseIssue[] = [];
  const value: BridgePort[] = [];
  if (isJsonText(text)) {
    for (const el of jsonArrayElements(text, source, issues)) {
      const o = el.value;
      const ifindex = isObject(o) ? jsonNumber(o, 'ifindex') : null;
      const name = isObject(o) ? jsonString(o, 'ifname') : null;
      if (!isObject(o) || ifindex === null || name === null) {
        issues.push(issue(source, el.line, 'port without ifindex or ifname'));
        continue;
      }
      value.push({
        ifindex, name, link: jsonString(o, 'link'), flags: jsonStrings(o, 'flags'), mtu: jsonNumber(o, 'mtu'),
        master: jsonString(o, 'master'), state: jsonString(o, 'state'), priority: jsonNumber(o, 'priority'),
        cost: jsonNumber(o, 'cost'), hairpin: jsonBool(o, 'hairpin'), learning: jsonBool(o, 'learning'),
        flood: jsonBool(o, 'flood'), isolated: jsonBool(o, 'isolated'),
      });
    }
    return { value, issues };
  }
  let port: BridgePort | undefined;
  const apply = (p: BridgePort, words: readonly string[], line: number, raw: string): void => {
    for (let k = 0; k < words.length; k += 2) {
      const key = words[k] ?? '';
      const v = words[k + 1];
      if (v === undefined) {
        issues.push(issue(source, line, `attribute ${key} without a value`, raw));
        break;
      }
      const onOff = v === 'on' ? true : v === 'off' ? false : null;
      if (key === 'mtu') p.mtu = textInt(v);
      else if (key === 'master') p.master = v;
      else if (key === 'state') p.state = v;
      else if (key === 'priority') p.priority = textInt(v);
      else if (key === 'cost') p.cost = textInt(v);
      else if (key === 'hairpin') p.hairpin = onOff;
      else if (key === 'learning') p.learning = onOff;
      else if (key === 'flood') p.flood = onOff;
      else if (key === 'isolated') p.isolated = onOff;
    }
  };
  textLines(text).forEach((raw, i) => {
    if (raw.trim() === '') return;
    if (/^\s/.test(raw)) {
      if (port === undefined) issues.push(issue(source, i + 1, 'indented line outside a port', raw));
      else apply(port, tokens(raw), i + 1, raw);
      return;
    }
    const m = HEADER.exec(raw);
    if (m === null) {
      port = undefined;
      issues.push(issue(source, i + 1, 'not a bridge port header', raw));
      return;
    }
    port = {
      ifindex: Number(m[1]), name: m[2] ?? '', link: m[3] ?? null, flags: (m[4] ?? '').split(',').filter((f) => f !== ''),
      mtu: null, master: null, state: null, priority: null, cost: null, hairpin: null, learning: null, flood: null, isolated: null,
    };
    apply(port, tokens(m[5] ?? ''), i + 1, raw);
    value.push(port);
  });
  return { value, issues };
}
