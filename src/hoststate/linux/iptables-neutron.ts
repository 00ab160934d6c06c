// Neutron's hybrid iptables firewall (neutron/agent/linux/iptables_firewall.py, the OVS agent's
// "iptables_hybrid" driver) in an `iptables-save` filter table. Chains are named
// `neutron-<binary>-<name>`, where <binary> is the agent's executable name cut to 16 characters
// minus "neutron-" ("openvswi" for neutron-openvswitch-agent, "linuxbri" for the linuxbridge agent):
//
//   neutron-openvswi-FORWARD      FORWARD jumps here; sends each tap's bridged frames to sg-chain
//   neutron-openvswi-sg-chain     per tap: --physdev-out TAP -> i<id> (to the VM), --physdev-in TAP -> o<id>
//   neutron-openvswi-i<id>        ingress rules of the port's security groups
//   neutron-openvswi-o<id>        egress rules; jumps to s<id> first
//   neutron-openvswi-s<id>        anti-spoofing: allowed source IP/MAC pairs
//   neutron-openvswi-sg-fallback  the default DROP
//
// <id> is the first 10 characters of the port's UUID; the tap is `tap` + its first 11 characters.
import { findTable, ruleOption, type IptablesRuleset } from './iptables-save.js';

export type NeutronChainRole =
  | 'forward' | 'input' | 'output' | 'local' | 'sg-chain' | 'sg-fallback' | 'filter-top'
  | 'ingress' | 'egress' | 'spoof' | 'other';

export interface NeutronChain {
  /** Agent binary part of the name (`openvswi`); null for neutron-filter-top. */
  binary: string | null;
  role: NeutronChainRole;
  /** ingress/egress/spoof: the port id's first 10 characters. */
  portIdPrefix: string | null;
}

export const NEUTRON_PORT_ID_PREFIX_LENGTH = 10;

const NAMED: Record<string, NeutronChainRole> = {
  FORWARD: 'forward', INPUT: 'input', OUTPUT: 'output', local: 'local', 'sg-chain': 'sg-chain', 'sg-fallback': 'sg-fallback',
};
const PER_PORT: Record<string, NeutronChainRole> = { i: 'ingress', o: 'egress', s: 'spoof' };

/** What a chain is in Neutron's scheme, or undefined when it is not a Neutron chain. */
export function classifyNeutronChain(name: string): NeutronChain | undefined {
  if (name === 'neutron-filter-top') return { binary: null, role: 'filter-top', portIdPrefix: null };
  if (!name.startsWith('neutron-')) return undefined;
  // The binary part may hold dashes (neutron-l3-agent-snat): match the known endings first.
  const named = /^neutron-(.+)-(FORWARD|INPUT|OUTPUT|local|sg-chain|sg-fallback)$/.exec(name);
  if (named !== null) return { binary: named[1] ?? null, role: NAMED[named[2] ?? ''] ?? 'other', portIdPrefix: null };
  const perPort = new RegExp(`^neutron-(.+)-([ios])([0-9a-f-]{${NEUTRON_PORT_ID_PREFIX_LENGTH}})$`).exec(name);
  const role = PER_PORT[perPort?.[2] ?? ''];
  if (perPort !== null && role !== undefined) return { binary: perPort[1] ?? null, role, portIdPrefix: perPort[3] ?? null };
  return { binary: null, role: 'other', portIdPrefix: null };
}

export interface NeutronPortChains {
  /** The port id's first 10 characters. */
  portIdPrefix: string;
  /** The tap device named by the sg-chain's physdev rules; null when no rule names it. */
  tap: string | null;
  /** `tap` + the 10 characters: every tap of the port starts with it (the tap has 11). */
  tapPrefix: string;
  ingress: string | null;
  egress: string | null;
  spoof: string | null;
}

/**
 * The per-port chains of the filter table, grouped by port, each mapped to its tap: the rule
 * jumping to `i<id>` matches `--physdev-out TAP`, the one jumping to `o<id>` `--physdev-in TAP`.
 * Sorted by port id prefix.
 */
export function neutronPortChains(ruleset: IptablesRuleset): NeutronPortChains[] {
  const filter = findTable(ruleset, 'filter');
  if (filter === undefined) return [];
  const ports = new Map<string, NeutronPortChains>();
  for (const chain of filter.chains) {
    const c = classifyNeutronChain(chain.name);
    if (c === undefined || c.portIdPrefix === null) continue;
    let port = ports.get(c.portIdPrefix);
    if (port === undefined) {
      port = { portIdPrefix: c.portIdPrefix, tap: null, tapPrefix: `tap${c.portIdPrefix}`, ingress: null, egress: null, spoof: null };
      ports.set(c.portIdPrefix, port);
    }
    if (c.role === 'ingress') port.ingress = chain.name;
    else if (c.role === 'egress') port.egress = chain.name;
    else if (c.role === 'spoof') port.spoof = chain.name;
  }
  for (const chain of filter.chains) {
    if (classifyNeutronChain(chain.name)?.role !== 'sg-chain') continue;
    for (const rule of chain.rules) {
      const target = rule.target?.name;
      if (target === undefined) continue;
      const c = classifyNeutronChain(target);
      if (c?.portIdPrefix == null) continue;
      const port = ports.get(c.portIdPrefix);
      const option = ruleOption(rule, 'physdev', c.role === 'ingress' ? 'physdev-out' : 'physdev-in');
      const tap = option !== undefined && !option.negated ? option.values[0] : undefined;
      if (port !== undefined && tap !== undefined) port.tap ??= tap;
    }
  }
  return [...ports.values()].sort((a, b) => a.portIdPrefix.localeCompare(b.portIdPrefix));
}

/** The Neutron chains of the tap: matches `tapXXXXXXXX-XX` to the port whose id starts with its 10 characters. */
export function neutronChainsOfTap(ports: readonly NeutronPortChains[], tap: string): NeutronPortChains | undefined {
  return ports.find((p) => p.tap === tap) ?? ports.find((p) => p.tap === null && tap.startsWith(p.tapPrefix));
}
