// The bridge forwarding database from `bridge fdb show`, `bridge -s -s -d [-t] fdb show` (text,
// sosreport) and `bridge -j fdb show` (JSON, the agent). iproute2 6.x bridge/fdb.c fdb_print:
//
//   MAC dev DEV [vlan N] [dst IP] [port P] [vni N] [via DEV] [used A/B] [master BR] [self] [router]
//       [extern_learn] [offload] [sticky] [permanent|static|stale|...]
//
// A learned (dynamic) entry prints no state word; JSON has state "". Both give state null.
import type { ParseIssue, Parsed } from '../snapshot.js';
import { issue, isJsonText, isObject, jsonArrayElements, jsonNumber, jsonString, jsonStrings, textInt, textLines, tokens } from './parse-util.js';

export interface FdbEntry {
  mac: string;
  dev: string;
  vlan: number | null;
  /** Remote VTEP of a vxlan entry. */
  dst: string | null;
  master: string | null;
  /** self, router, extern_learn, offload, sticky... sorted. */
  flags: string[];
  /** permanent, static, stale, noarp...; null for a learned entry. */
  state: string | null;
}

const FLAG_WORDS = new Set(['self', 'router', 'extern_learn', 'offload', 'sticky', 'master']);
const STATE_WORDS = new Set(['permanent', 'static', 'stale', 'noarp', 'reachable', 'nud_noarp', 'nud_permanent']);
const SKIP_ONE = new Set(['port', 'vni', 'via', 'src_vni', 'used', 'nhid']);
const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;

export function parseBridgeFdb(text: string, source: string): Parsed<FdbEntry[]> {
  const issues: ParseIssue[] = [];
  const value: FdbEntry[] = [];
  if (isJsonText(text)) {
    for (const el of jsonArrayElements(text, source, issues)) {
      const o = el.value;
      const mac = isObject(o) ? jsonString(o, 'mac') : null;
      const dev = isObject(o) ? jsonString(o, 'ifname') : null;
      if (!isObject(o) || mac === null || dev === null) {
        issues.push(issue(source, el.line, 'fdb entry without mac or ifname'));
        continue;
      }
      const state = jsonString(o, 'state');
      value.push({
        mac, dev, vlan: jsonNumber(o, 'vlan'), dst: jsonString(o, 'dst'), master: jsonString(o, 'master'),
        flags: jsonStrings(o, 'flags').sort(), state: state === '' ? null : state,
      });
    }
    return { value, issues };
  }
  textLines(text).forEach((raw, i) => {
    if (raw.trim() === '') return;
    const words = tokens(raw);
    const mac = words[0] ?? '';
    if (!MAC.test(mac) || words[1] !== 'dev' || words[2] === undefined) {
      issues.push(issue(source, i + 1, 'not an fdb line', raw));
      return;
    }
    const e: FdbEntry = { mac, dev: words[2], vlan: null, dst: null, master: null, flags: [], state: null };
    let bad: string | undefined;
    for (let k = 3; k < words.length; k++) {
      const w = words[k] ?? '';
      if (w === 'vlan') e.vlan = textInt(words[++k]);
      else if (w === 'dst') e.dst = words[++k] ?? null;
      else if (w === 'master' && words[k + 1] !== undefined && !FLAG_WORDS.has(words[k + 1] ?? '') && !STATE_WORDS.has(words[k + 1] ?? '')) e.master = words[++k] ?? null;
      else if (FLAG_WORDS.has(w)) e.flags.push(w);
      else if (STATE_WORDS.has(w)) e.state = w;
      else if (SKIP_ONE.has(w)) k++;
      else bad ??= w;
    }
    if (bad !== undefined) issues.push(issue(source, i + 1, `unknown fdb attribute ${bad}`, raw));
    e.flags.sort();
    value.push(e);
  });
  return { value, issues };
}
