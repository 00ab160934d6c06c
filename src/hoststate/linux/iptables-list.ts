// `iptables -vnxL` (and `iptables -t TABLE -nvL`), what sosreport keeps of a host's firewall
// instead of iptables-save (sos firewall_tables plugin), read into the iptables-save model so the
// evaluation and the Neutron mapping work on it. iptables 1.8 iptables/iptables.c print_firewall
// and each extension's print():
//
//   Chain NAME (policy ACCEPT 0 packets, 0 bytes)        built-in chain
//   Chain NAME (2 references)                            user chain
//       pkts      bytes target     prot opt in     out     source               destination
//          1       84 RETURN     0    --  *      *       192.0.2.11           0.0.0.0/0     MAC fa:16:3e:11:22:33 /* c */
//          0        0 neutron-openvswi-sg-fallback  17 -- *  *  0.0.0.0/0  0.0.0.0/0  [goto]  udp dpt:5353
//
// The extension texts understood: PHYSDEV match --physdev-*, state X, ctstate X, MAC X,
// tcp/udp spt:/dpt:/spts:/dpts:, multiport dports/sports/ports, icmptype N, match-set NAME DIR,
// /* comment */, reject-with X, [goto]. Any other word makes the rule `error` (the evaluation
// stops there as undecided) and a ParseIssue. Without -x, counters carry K/M/G suffixes (×1000).
import type { ParseIssue, Parsed } from '../snapshot.js';
import type { IptablesChain, IptablesCounters, IptablesMatch, IptablesOption, IptablesRule, IptablesRuleset, IptablesTable, Negatable } from './iptables-save.js';
import { issue, textLines, tokens } from './parse-util.js';

const CHAIN = /^Chain (\S+) \((?:policy (\S+) (\S+) packets, (\S+) bytes|(\d+) references)\)\s*$/;
const OPT = /^(--|-f|!f)$/;
const PROTOCOL_NAMES: Record<string, string> = { '0': 'all', '1': 'icmp', '6': 'tcp', '17': 'udp', '47': 'gre', '50': 'esp', '51': 'ah', '132': 'sctp' };

function counter(token: string | undefined): bigint | null {
  const m = /^(\d+)([KMGT]?)$/.exec(token ?? '');
  if (m === null) return null;
  const scale = { '': 1n, K: 1000n, M: 1000_000n, G: 1000_000_000n, T: 1000_000_000_000n }[m[2] ?? ''] ?? 1n;
  return BigInt(m[1] ?? '0') * scale;
}

function negatable(token: string, any: string): Negatable | null {
  const negated = token.startsWith('!');
  const value = negated ? token.slice(1) : token;
  return value === any ? null : { value, negated };
}

/** `table`: the table the listing is of (-vnxL lists filter). */
export function parseIptablesList(text: string, source: string, table = 'filter'): Parsed<IptablesRuleset> {
  const issues: ParseIssue[] = [];
  const t: IptablesTable = { name: table, chains: [], committed: true };
  let chain: IptablesChain | undefined;
  textLines(text).forEach((raw, i) => {
    const line = i + 1;
    if (raw.trim() === '') return;
    if (raw.startsWith('Chain ')) {
      const m = CHAIN.exec(raw);
      if (m === null) {
        chain = undefined;
        issues.push(issue(source, line, 'bad chain header', raw));
        return;
      }
      const packets = counter(m[3]);
      const bytes = counter(m[4]);
      chain = { name: m[1] ?? '', policy: m[2] ?? null, counters: packets !== null && bytes !== null ? { packets, bytes } : null, rules: [] };
      t.chains.push(chain);
      return;
    }
    if (/^\s*pkts\s+bytes\s+target/.test(raw)) return;
    if (chain === undefined) {
      issues.push(issue(source, line, 'rule outside a chain', raw));
      return;
    }
    const rule = ruleFromLine(raw, table, chain, line);
    if (typeof rule === 'string') {
      issues.push(issue(source, line, rule, raw));
      return;
    }
    if (rule.error !== null) issues.push(issue(source, line, rule.error, raw));
    chain.rules.push(rule);
  });
  return { value: { tables: t.chains.length === 0 ? [] : [t] }, issues };
}

function ruleFromLine(raw: string, table: string, chain: IptablesChain, line: number): IptablesRule | string {
  // The comment may hold anything: take it out before splitting into words.
  const comments: string[] = [];
  const body = raw.replace(/\/\* (.*?) \*\//g, (_m, c: string) => {
    comments.push(c);
    return ' ';
  });
  const words = tokens(body);
  const packets = counter(words[0]);
  const bytes = counter(words[1]);
  if (packets === null || bytes === null) return 'not a rule line (no counters)';
  // A rule without a target leaves its column blank: then `opt` is the fourth word, not the fifth.
  const hasTarget = !OPT.test(words[3] ?? '');
  const target = hasTarget ? (words[2] ?? null) : null;
  const k = hasTarget ? 3 : 2;
  const [prot, opt, inIf, outIf, src, dst, ...extra] = words.slice(k);
  if (prot === undefined || opt === undefined || inIf === undefined || outIf === undefined || src === undefined || dst === undefined) return 'rule line with missing columns';
  const counters: IptablesCounters = { packets, bytes };
  const protocolName = PROTOCOL_NAMES[prot.replace(/^!/, '')] ?? prot.replace(/^!/, '');
  const rule: IptablesRule = {
    table, chain: chain.name, index: chain.rules.length + 1, line,
    text: raw.trim().replace(/^\S+\s+\S+\s+/, '').replace(/\s+/g, ' '),
    counters,
    source: negatable(src, '0.0.0.0/0'),
    destination: negatable(dst, '0.0.0.0/0'),
    inInterface: negatable(inIf, '*'),
    outInterface: negatable(outIf, '*'),
    protocol: protocolName === 'all' ? null : { value: protocolName, negated: prot.startsWith('!') },
    fragment: opt === '-f' ? { value: 'fragment', negated: false } : opt === '!f' ? { value: 'fragment', negated: true } : null,
    matches: [],
    target: target === null ? null : { kind: 'jump', name: target, options: [] },
    comment: comments.length > 0 ? comments.join(' ') : null,
    error: null,
  };
  if (comments.length > 0) rule.matches.push({ module: 'comment', options: comments.map((c) => ({ name: 'comment', values: [c], negated: false })) });
  const error = readExtras(extra, rule);
  if (error !== undefined) rule.error = error;
  return rule;
}

/** Turns the extension texts after the columns into matches and target options. */
function readExtras(words: readonly string[], rule: IptablesRule): string | undefined {
  const push = (module: string, option: IptablesOption): void => {
    const last = rule.matches[rule.matches.length - 1];
    const match: IptablesMatch = last !== undefined && last.module === module ? last : { module, options: [] };
    if (match !== last) rule.matches.push(match);
    match.options.push(option);
  };
  let negate = false;
  for (let k = 0; k < words.length; k++) {
    const w = words[k] ?? '';
    const next = words[k + 1];
    if (w === '!') {
      negate = true;
      continue;
    }
    if (w === '[goto]') {
      if (rule.target === null) return '[goto] without a target';
      rule.target.kind = 'goto';
    } else if (w === 'PHYSDEV' && next === 'match') {
      k++;
      let neg = false;
      while (k + 1 < words.length) {
        const o = words[k + 1] ?? '';
        if (o === '!') {
          neg = true;
          k++;
          continue;
        }
        if (!o.startsWith('--physdev-')) break;
        k++;
        const takesValue = o === '--physdev-in' || o === '--physdev-out';
        const value = takesValue ? words[++k] : undefined;
        if (takesValue && value === undefined) return `${o} without a value`;
        push('physdev', { name: o.slice(2), values: value === undefined ? [] : [value], negated: neg });
        neg = false;
      }
    } else if ((w === 'state' || w === 'ctstate') && next !== undefined) {
      push(w === 'state' ? 'state' : 'conntrack', { name: w, values: [next], negated: negate });
      k++;
    } else if (w === 'MAC' && next !== undefined) {
      const neg = next === '!';
      const value = neg ? words[k + 2] : next;
      if (value === undefined) return 'MAC without an address';
      push('mac', { name: 'mac-source', values: [value], negated: negate || neg });
      k += neg ? 2 : 1;
    } else if (w === 'tcp' || w === 'udp') {
      while (k + 1 < words.length && /^[sd]pts?:/.test(words[k + 1] ?? '')) {
        const [key, value] = (words[++k] ?? '').split(/:(.*)/);
        const neg = (value ?? '').startsWith('!');
        const v = neg ? (value ?? '').slice(1) : (value ?? '');
        push(w, { name: key?.startsWith('s') ? 'sport' : 'dport', values: [v], negated: neg });
      }
    } else if (w === 'multiport' && next !== undefined && words[k + 2] !== undefined) {
      const kind = next;
      const neg = words[k + 2] === '!';
      const value = neg ? words[k + 3] : words[k + 2];
      if (!['dports', 'sports', 'ports'].includes(kind) || value === undefined) return `multiport ${kind} not understood`;
      push('multiport', { name: kind, values: [value], negated: neg });
      k += neg ? 3 : 2;
    } else if (w === 'icmptype' && next !== undefined) {
      push('icmp', { name: 'icmp-type', values: [next], negated: negate });
      k++;
    } else if (w === 'match-set' && next !== undefined && words[k + 2] !== undefined) {
      push('set', { name: 'match-set', values: [next, words[k + 2] ?? ''], negated: negate });
      k += 2;
    } else if (w === 'reject-with' && next !== undefined && rule.target !== null) {
      rule.target.options.push({ name: 'reject-with', values: [next], negated: false });
      k++;
    } else {
      return `extension text not understood: ${words.slice(k).join(' ')}`;
    }
    negate = false;
  }
  return negate ? 'dangling `!`' : undefined;
}
