// Public surface of the Linux host-state parsers (for other modules; inside src/hoststate/linux
// import the file itself).
export { parseIpLink, DEVICE_KINDS } from './ip-link.js';
export type { BridgeSlave, DeviceKind, IpDevice, IpLinkOptions, LinkCounters, LinkNetns, TunnelInfo } from './ip-link.js';
export { parseIpAddrOneline, ADDRESS_FLAGS } from './ip-address.js';
export type { AddressFamily, IpAddress, IpAddressEntry } from './ip-address.js';
export { parseIpNetns } from './ip-netns.js';
export type { NetnsEntry } from './ip-netns.js';
export { parseIpRoute, ROUTE_TYPES } from './ip-route.js';
export type { IpRoute, RouteNexthop, RouteType } from './ip-route.js';
export { parseIpNeigh } from './ip-neigh.js';
export type { IpNeighbour } from './ip-neigh.js';
export { parseBridgeLink } from './bridge-link.js';
export type { BridgePort } from './bridge-link.js';
export { parseBridgeFdb } from './bridge-fdb.js';
export type { FdbEntry } from './bridge-fdb.js';
export { parseBrctlShow } from './brctl-show.js';
export type { BrctlBridge } from './brctl-show.js';
export { parseEthtoolStats } from './ethtool-stats.js';
export type { EthtoolStats } from './ethtool-stats.js';
export { findChain, findTable, parseIptablesSave, ruleOption } from './iptables-save.js';
export type {
  IptablesChain, IptablesCounters, IptablesMatch, IptablesOption, IptablesRule, IptablesRuleset, IptablesTable, IptablesTarget, Negatable,
} from './iptables-save.js';
export { parseIptablesList } from './iptables-list.js';
export { classifyNeutronChain, neutronChainsOfTap, neutronPortChains, NEUTRON_PORT_ID_PREFIX_LENGTH } from './iptables-neutron.js';
export type { NeutronChain, NeutronChainRole, NeutronPortChains } from './iptables-neutron.js';
export { evaluateIptables, matchRule } from './iptables-eval.js';
export type { ConntrackState, EvaluateOptions, IptablesEvaluation, IptablesPacket, IptablesTraceStep, IptablesVerdict, MatchResult, NatTarget } from './iptables-eval.js';
export { iptablesCounterDeltas } from './iptables-counters.js';
export type { IptablesCounterDelta } from './iptables-counters.js';
export { LINUX_COMMAND_KINDS, linuxOutputSource, parseLinuxOutput } from './from-outputs.js';
export type { LinuxParsed, LinuxParsedKind } from './from-outputs.js';
