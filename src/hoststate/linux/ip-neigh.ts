// The neighbour (ARP/ND) cache from `ip neigh`, `ip -s -s neigh show` (text, sosreport) and
// `ip -j neigh show` (JSON, the agent). iproute2 6.x ip/ipneigh.c print_neigh:
//
//   DST [dev DEV] [lladdr MAC] [router] [proxy] [extern_learn] [used A/B/C] [probes N] STATE...
//
// `-s` adds `used`/`probes` (iproute2 6.1 prints `used 48/108/48probes 0`, no space): statistics
// move every second, so they are not modelled and both forms agree.
import type { ParseIssue, Parsed } from '../snapshot.js';
import { issue, isJsonText, isObject, jsonArrayElements, jsonString, jsonStrings, textLines, tokens } from './parse-util.js';

export interface IpNeighbour {
  dst: string;
  dev: string | null;
  lladdr: string | null;
  router: boolean;
  /** NUD states (REACHABLE, STALE, PERMANENT, FAILED, NOARP...), as printed. */
  state: string[];
}

const STATES = new Set(['INCOMPLETE', 'REACHABLE', 'STALE', 'DELAY', 'PROBE', 'FAILED', 'NOARP', 'PERMANENT', 'NONE']);
const IGNORED_WORDS = new Set(['proxy', 'extern_learn', 'offload', 'trap', 'managed']);

export function parseIpNeigh(text: string, source: string): Parsed<IpNeighbour[]> {
  const issues: ParseIssue[] = [];
  const value: IpNeighbour[] = [];
  if (isJsonText(text)) {
    for (const el of jsonArrayElements(text, source, issues)) {
      const o = el.value;
      const dst = isObject(o) ? jsonString(o, 'dst') : null;
      if (!isObject(o) || dst === null) {
        issues.push(issue(source, el.line, 'neighbour without dst'));
        continue;
      }
      value.push({ dst, dev: jsonString(o, 'dev'), lladdr: jsonString(o, 'lladdr'), router: o['router'] === true || o['router'] === null, state: jsonStrings(o, 'state') });
    }
    return { value, issues };
  }
  textLines(text).forEach((raw, i) => {
    if (raw.trim() === '') return;
    // `used 48/108/48probes 0`: split the glued `probes`.
    const words = tokens(raw.replace(/(\d)probes\b/g, '$1 probes'));
    const dst = words[0];
    if (dst === undefined || !/[.:]/.test(dst)) {
      issues.push(issue(source, i + 1, 'not a neighbour line', raw));
      return;
    }
    const n: IpNeighbour = { dst, dev: null, lladdr: null, router: false, state: [] };
    let bad: string | undefined;
    for (let k = 1; k < words.length; k++) {
      const w = words[k] ?? '';
      if (w === 'dev') n.dev = words[++k] ?? null;
      else if (w === 'lladdr') n.lladdr = words[++k] ?? null;
      else if (w === 'router') n.router = true;
      else if (w === 'used' || w === 'probes' || w === 'vlan' || w === 'protocol' || w === 'ref') k++;
      else if (STATES.has(w)) n.state.push(w);
      else if (!IGNORED_WORDS.has(w)) bad ??= w;
    }
    if (bad !== undefined) issues.push(issue(source, i + 1, `unknown neighbour attribute ${bad}`, raw));
    value.push(n);
  });
  return { value, issues };
}
