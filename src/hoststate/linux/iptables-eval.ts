// Walks a packet through an iptables-save filter table, from a built-in chain (FORWARD for the
// bridged frames of Neutron's hybrid firewall), the way netfilter's ipt_do_table does: rules in
// order; a matching rule's target decides (ACCEPT, DROP, REJECT), jumps (-j CHAIN: RETURN or the
// chain's end comes back after the jumping rule), goes (-g CHAIN: the return goes to the chain
// that jumped last), or is non-terminal (LOG, MARK..., or no target) and the walk goes on; the
// built-in chain's end applies its policy.
//
// A match that needs what the packet does not say (conntrack state 'unknown', ipset contents, a
// field left out, a module not modelled) makes the walk stop with 'undecided' at that rule,
// unless another match of the same rule already fails: then the rule does not match whatever the
// unknown is, and the walk goes on.
import { findChain, findTable, type IptablesMatch, type IptablesRule, type IptablesRuleset, type Negatable } from './iptables-save.js';

export type ConntrackState = 'NEW' | 'ESTABLISHED' | 'RELATED' | 'INVALID' | 'UNTRACKED' | 'SNAT' | 'DNAT';

export interface IptablesPacket {
  /** Bridge port the frame came in on (br_netfilter); null when not bridged; undefined when unknown. */
  physdevIn?: string | null;
  /** Bridge port it goes out of; null when not bridged (routed); undefined when unknown. */
  physdevOut?: string | null;
  /** `-i`/`-o`: for bridged frames the bridge itself (qbr...). */
  inInterface?: string;
  outInterface?: string;
  /** IPv4 addresses. */
  src?: string;
  dst?: string;
  /** tcp, udp, icmp, or a protocol number. */
  protocol?: string;
  srcPort?: number;
  dstPort?: number;
  /** ICMP type (8 echo request, 0 echo reply). */
  icmpType?: number;
  srcMac?: string;
  /** The conntrack state, or 'unknown' (a sampled frame carries none). */
  ctState: ConntrackState | 'unknown';
}

export type MatchResult = 'match' | 'no-match' | 'unknown';

export type IptablesTraceStep =
  | { kind: 'enter'; chain: string; via: 'start' | 'jump' | 'goto' }
  | { kind: 'rule'; chain: string; index: number; text: string; result: MatchResult }
  | { kind: 'return'; chain: string; how: 'RETURN' | 'end' }
  | { kind: 'policy'; chain: string; policy: string };

export type IptablesVerdict =
  | {
      kind: 'verdict';
      verdict: 'ACCEPT' | 'DROP' | 'REJECT';
      chain: string;
      /** The deciding rule's index in `chain`; null when the chain's policy decided. */
      ruleIndex: number | null;
      ruleText: string | null;
    }
  | { kind: 'undecided'; chain: string; ruleIndex: number | null; ruleText: string | null; reason: string }
  | {
      /** Only with `natTargets`: the rule that translates the packet. */
      kind: 'nat';
      target: NatTarget;
      /** `--to-source` / `--to-destination` / `--to-ports` address, without a port range; null for MASQUERADE. */
      to: string | null;
      chain: string;
      ruleIndex: number;
      ruleText: string;
    };

export type NatTarget = 'SNAT' | 'DNAT' | 'MASQUERADE' | 'REDIRECT';
const NAT_TARGETS = new Set<string>(['SNAT', 'DNAT', 'MASQUERADE', 'REDIRECT']);

export interface IptablesEvaluation {
  verdict: IptablesVerdict;
  trace: IptablesTraceStep[];
}

export interface EvaluateOptions {
  table?: string;
  /** Built-in chain to start from (default FORWARD). */
  chain?: string;
  /** Rule visits before giving up on a looping ruleset (default 100 000). */
  maxSteps?: number;
  /**
   * Members of ipsets by name (`ipset list`: addresses or CIDRs of hash:net/hash:ip sets, e.g.
   * Neutron's NIPv4<sg-id>). A `-m set` match on a set not given is undecided.
   */
  ipsets?: Readonly<Record<string, readonly string[]>>;
  /**
   * The nat table: SNAT, DNAT, MASQUERADE and REDIRECT end the walk with a `nat` verdict (ACCEPT,
   * or a policy, means no translation).
   */
  natTargets?: boolean;
}

/** Targets that let the walk go on. */
const NON_TERMINAL = new Set(['LOG', 'NFLOG', 'ULOG', 'MARK', 'CONNMARK', 'CT', 'CHECKSUM', 'TRACE', 'AUDIT', 'TCPMSS', 'CLASSIFY', 'DSCP', 'TOS', 'TTL', 'SET', 'NOTRACK', 'IDLETIMER', 'LED', 'CONNSECMARK', 'SECMARK']);
const MAX_DEPTH = 64;
const PROTOCOLS: Record<string, number> = { icmp: 1, igmp: 2, tcp: 6, udp: 17, gre: 47, esp: 50, ah: 51, sctp: 132, udplite: 136, all: 0 };
const ICMP_TYPES: Record<string, number> = { 'echo-reply': 0, 'destination-unreachable': 3, 'source-quench': 4, redirect: 5, 'echo-request': 8, 'time-exceeded': 11, 'parameter-problem': 12, 'timestamp-request': 13, 'timestamp-reply': 14 };

export function evaluateIptables(ruleset: IptablesRuleset, packet: IptablesPacket, options: EvaluateOptions = {}): IptablesEvaluation {
  const trace: IptablesTraceStep[] = [];
  const tableName = options.table ?? 'filter';
  const start = options.chain ?? 'FORWARD';
  const table = findTable(ruleset, tableName);
  const undecided = (chain: string, rule: IptablesRule | null, reason: string): IptablesEvaluation => ({
    verdict: { kind: 'undecided', chain, ruleIndex: rule?.index ?? null, ruleText: rule?.text ?? null, reason },
    trace,
  });
  if (table === undefined) return undecided(start, null, `no ${tableName} table`);
  const builtin = findChain(table, start);
  if (builtin === undefined) return undecided(start, null, `no chain ${start} in ${tableName}`);
  // Return stack: where to resume (chain and next rule position, 0-based).
  const stack: { chain: string; next: number }[] = [];
  let chain = builtin;
  let pos = 0;
  let steps = 0;
  const maxSteps = options.maxSteps ?? 100_000;
  trace.push({ kind: 'enter', chain: chain.name, via: 'start' });
  for (;;) {
    const rule = chain.rules[pos];
    if (rule === undefined) {
      // End of chain: a user chain returns, a built-in one applies its policy.
      if (chain === builtin || stack.length === 0) {
        const policy = builtin.policy ?? 'ACCEPT';
        trace.push({ kind: 'policy', chain: builtin.name, policy });
        if (policy === 'ACCEPT' || policy === 'DROP') return { verdict: { kind: 'verdict', verdict: policy, chain: builtin.name, ruleIndex: null, ruleText: null }, trace };
        return undecided(builtin.name, null, `policy ${policy}`);
      }
      trace.push({ kind: 'return', chain: chain.name, how: 'end' });
      const back = stack.pop();
      if (back === undefined) return undecided(chain.name, null, 'return stack empty');
      const to = findChain(table, back.chain);
      if (to === undefined) return undecided(back.chain, null, 'chain vanished');
      chain = to;
      pos = back.next;
      continue;
    }
    if (++steps > maxSteps) return undecided(chain.name, rule, `more than ${maxSteps} rule visits (a loop?)`);
    if (rule.error !== null) {
      trace.push({ kind: 'rule', chain: chain.name, index: rule.index, text: rule.text, result: 'unknown' });
      return undecided(chain.name, rule, `rule not understood: ${rule.error}`);
    }
    const { result, reason } = matchRule(rule, packet, options.ipsets);
    trace.push({ kind: 'rule', chain: chain.name, index: rule.index, text: rule.text, result });
    if (result === 'unknown') return undecided(chain.name, rule, reason ?? 'unknown match');
    if (result === 'no-match' || rule.target === null) {
      pos++;
      continue;
    }
    const target = rule.target;
    if (options.natTargets === true && NAT_TARGETS.has(target.name)) {
      const to = target.options.find((o) => o.name === 'to-source' || o.name === 'to-destination' || o.name === 'to')?.values[0] ?? null;
      // 192.0.2.1:1024-65535 or 192.0.2.1-192.0.2.9: the first address
      const address = to === null ? null : (to.split(/[:-]/)[0] ?? null);
      return { verdict: { kind: 'nat', target: target.name as NatTarget, to: address === '' ? null : address, chain: chain.name, ruleIndex: rule.index, ruleText: rule.text }, trace };
    }
    if (target.name === 'ACCEPT' || target.name === 'DROP' || target.name === 'REJECT') {
      return { verdict: { kind: 'verdict', verdict: target.name, chain: chain.name, ruleIndex: rule.index, ruleText: rule.text }, trace };
    }
    if (target.name === 'RETURN') {
      trace.push({ kind: 'return', chain: chain.name, how: 'RETURN' });
      const back = stack.pop();
      if (back === undefined) {
        // RETURN in a built-in chain: its policy.
        const policy = builtin.policy ?? 'ACCEPT';
        trace.push({ kind: 'policy', chain: builtin.name, policy });
        if (policy === 'ACCEPT' || policy === 'DROP') return { verdict: { kind: 'verdict', verdict: policy, chain: builtin.name, ruleIndex: null, ruleText: null }, trace };
        return undecided(builtin.name, null, `policy ${policy}`);
      }
      const to = findChain(table, back.chain);
      if (to === undefined) return undecided(back.chain, null, 'chain vanished');
      chain = to;
      pos = back.next;
      continue;
    }
    const next = findChain(table, target.name);
    if (next !== undefined) {
      if (target.kind === 'jump') {
        if (stack.length >= MAX_DEPTH) return undecided(chain.name, rule, `jumps nested deeper than ${MAX_DEPTH}`);
        stack.push({ chain: chain.name, next: pos + 1 });
      } // a goto pushes nothing: its chain returns to the last jump, or to the policy

      trace.push({ kind: 'enter', chain: next.name, via: target.kind });
      chain = next;
      pos = 0;
      continue;
    }
    if (NON_TERMINAL.has(target.name)) {
      pos++;
      continue;
    }
    return undecided(chain.name, rule, `target ${target.name} is not modelled`);
  }
}

interface RuleMatch {
  result: MatchResult;
  reason?: string;
}

/** Whether one rule's matches all hold for the packet. */
export function matchRule(rule: IptablesRule, packet: IptablesPacket, ipsets: EvaluateOptions['ipsets'] = {}): RuleMatch {
  const results: RuleMatch[] = [
    negatable(rule.source, packet.src, 'source address', inCidr),
    negatable(rule.destination, packet.dst, 'destination address', inCidr),
    negatable(rule.inInterface, packet.inInterface, 'in interface', interfaceMatches),
    negatable(rule.outInterface, packet.outInterface, 'out interface', interfaceMatches),
    negatable(rule.protocol, packet.protocol, 'protocol', protocolMatches),
    rule.fragment === null ? { result: 'match' } : { result: rule.fragment.negated ? 'match' : 'no-match' }, // frames are first fragments
    ...rule.matches.map((m) => matchModule(m, packet, ipsets)),
  ];
  if (results.some((r) => r.result === 'no-match')) return { result: 'no-match' };
  const unknown = results.find((r) => r.result === 'unknown');
  return unknown ?? { result: 'match' };
}

function negatable<T>(spec: Negatable | null, value: T | undefined, what: string, test: (spec: string, value: T) => boolean): RuleMatch {
  if (spec === null) return { result: 'match' };
  if (value === undefined) return { result: 'unknown', reason: `${what} not given` };
  return { result: test(spec.value, value) !== spec.negated ? 'match' : 'no-match' };
}

const yes = (b: boolean, negated: boolean): RuleMatch => ({ result: b !== negated ? 'match' : 'no-match' });

function matchModule(m: IptablesMatch, p: IptablesPacket, ipsets: Readonly<Record<string, readonly string[]>>): RuleMatch {
  const results: RuleMatch[] = m.options.map((o): RuleMatch => {
    const v = o.values[0];
    switch (`${m.module}/${o.name}`) {
      case 'physdev/physdev-in':
        return p.physdevIn === undefined ? { result: 'unknown', reason: 'physdev-in not given' } : yes(p.physdevIn !== null && interfaceMatches(v ?? '', p.physdevIn), o.negated);
      case 'physdev/physdev-out':
        return p.physdevOut === undefined ? { result: 'unknown', reason: 'physdev-out not given' } : yes(p.physdevOut !== null && interfaceMatches(v ?? '', p.physdevOut), o.negated);
      case 'physdev/physdev-is-bridged':
        return p.physdevOut === undefined ? { result: 'unknown', reason: 'bridging not given' } : yes(p.physdevOut !== null, o.negated);
      case 'physdev/physdev-is-in':
        return p.physdevIn === undefined ? { result: 'unknown', reason: 'physdev-in not given' } : yes(p.physdevIn !== null, o.negated);
      case 'physdev/physdev-is-out':
        return p.physdevOut === undefined ? { result: 'unknown', reason: 'physdev-out not given' } : yes(p.physdevOut !== null, o.negated);
      case 'state/state':
      case 'conntrack/ctstate':
        if (p.ctState === 'unknown') return { result: 'unknown', reason: `conntrack state needed (${o.name} ${v ?? ''})` };
        return yes((v ?? '').split(',').includes(p.ctState), o.negated);
      case 'mac/mac-source':
        return p.srcMac === undefined ? { result: 'unknown', reason: 'source MAC not given' } : yes(p.srcMac.toLowerCase() === (v ?? '').toLowerCase(), o.negated);
      case 'tcp/dport': case 'udp/dport': case 'tcp/destination-port': case 'udp/destination-port':
        return p.dstPort === undefined ? { result: 'unknown', reason: 'destination port not given' } : yes(portIn(v ?? '', p.dstPort), o.negated);
      case 'tcp/sport': case 'udp/sport': case 'tcp/source-port': case 'udp/source-port':
        return p.srcPort === undefined ? { result: 'unknown', reason: 'source port not given' } : yes(portIn(v ?? '', p.srcPort), o.negated);
      case 'multiport/dports': case 'multiport/destination-ports':
        return p.dstPort === undefined ? { result: 'unknown', reason: 'destination port not given' } : yes(portList(v ?? '', p.dstPort), o.negated);
      case 'multiport/sports': case 'multiport/source-ports':
        return p.srcPort === undefined ? { result: 'unknown', reason: 'source port not given' } : yes(portList(v ?? '', p.srcPort), o.negated);
      case 'multiport/ports':
        return p.srcPort === undefined || p.dstPort === undefined ? { result: 'unknown', reason: 'ports not given' } : yes(portList(v ?? '', p.srcPort) || portList(v ?? '', p.dstPort), o.negated);
      case 'icmp/icmp-type': {
        if (p.icmpType === undefined) return { result: 'unknown', reason: 'ICMP type not given' };
        const type = v === undefined ? undefined : (ICMP_TYPES[v] ?? Number((v.split('/')[0] ?? '')));
        return type === undefined || Number.isNaN(type) ? { result: 'unknown', reason: `ICMP type ${v ?? ''} not modelled` } : yes(type === p.icmpType, o.negated);
      }
      case 'comment/comment':
        return { result: 'match' };
      case 'set/match-set': {
        const members = ipsets[v ?? ''];
        if (members === undefined) return { result: 'unknown', reason: `ipset ${v ?? ''} contents needed` };
        // Flags name the packet fields the set's dimensions match: `src`, `dst` (hash:net has one).
        const address = o.values[1] === 'dst' ? p.dst : p.src;
        if (address === undefined) return { result: 'unknown', reason: `${o.values[1] ?? 'src'} address not given` };
        return yes(members.some((cidr) => inCidr(cidr, address)), o.negated);
      }
      default:
        return { result: 'unknown', reason: `match -m ${m.module} --${o.name} not modelled` };
    }
  });
  if (results.some((r) => r.result === 'no-match')) return { result: 'no-match' };
  return results.find((r) => r.result === 'unknown') ?? { result: 'match' };
}

/** `eth+` matches every name starting with `eth`. */
function interfaceMatches(spec: string, name: string): boolean {
  return spec.endsWith('+') ? name.startsWith(spec.slice(0, -1)) : spec === name;
}

function protocolMatches(spec: string, value: string): boolean {
  const a = PROTOCOLS[spec.toLowerCase()] ?? Number(spec);
  const b = PROTOCOLS[value.toLowerCase()] ?? Number(value);
  return a === 0 || a === b;
}

function portIn(spec: string, port: number): boolean {
  const [lo, hi] = spec.split(':');
  const low = lo === undefined || lo === '' ? 0 : Number(lo);
  const high = hi === undefined ? low : hi === '' ? 65535 : Number(hi);
  return port >= low && port <= high;
}

function portList(spec: string, port: number): boolean {
  return spec.split(',').some((s) => portIn(s, port));
}

function ipv4ToNumber(address: string): number | undefined {
  const parts = address.split('.');
  if (parts.length !== 4) return undefined;
  let n = 0;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p) || Number(p) > 255) return undefined;
    n = n * 256 + Number(p);
  }
  return n;
}

/** `192.0.2.0/24`, `192.0.2.7`, `192.0.2.0/255.255.255.0` against an IPv4 address. */
export function inCidr(spec: string, address: string): boolean {
  const [net, len] = spec.split('/');
  const a = ipv4ToNumber(address);
  const n = ipv4ToNumber(net ?? '');
  if (a === undefined || n === undefined) return false;
  let mask: number;
  if (len === undefined) mask = 0xffffffff;
  else if (len.includes('.')) mask = ipv4ToNumber(len) ?? 0xffffffff;
  else {
    const bits = Number(len);
    mask = bits <= 0 ? 0 : bits >= 32 ? 0xffffffff : (0xffffffff << (32 - bits)) >>> 0;
  }
  return ((a & mask) >>> 0) === ((n & mask) >>> 0);
}
