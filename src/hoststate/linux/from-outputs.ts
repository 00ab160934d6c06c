// The Linux parser for a snapshot's command output, chosen by its catalog id (commands.ts). The
// parsers tell text from JSON themselves, so an agent's output and a sosreport's file of the same
// command go through the same call.
import type { CommandOutput, Parsed } from '../snapshot.js';
import { parseBrctlShow, type BrctlBridge } from './brctl-show.js';
import { parseBridgeFdb, type FdbEntry } from './bridge-fdb.js';
import { parseBridgeLink, type BridgePort } from './bridge-link.js';
import { parseEthtoolStats, type EthtoolStats } from './ethtool-stats.js';
import { parseIpAddrOneline, type IpAddressEntry } from './ip-address.js';
import { parseIpLink, type IpDevice, type IpLinkOptions } from './ip-link.js';
import { parseIpNeigh, type IpNeighbour } from './ip-neigh.js';
import { parseIpNetns, type NetnsEntry } from './ip-netns.js';
import { parseIpRoute, type IpRoute } from './ip-route.js';
import { parseIptablesList } from './iptables-list.js';
import { parseIptablesSave, type IptablesRuleset } from './iptables-save.js';

export type LinuxParsed =
  | { kind: 'devices'; parsed: Parsed<IpDevice[]> }
  | { kind: 'addresses'; parsed: Parsed<IpAddressEntry[]> }
  | { kind: 'routes'; parsed: Parsed<IpRoute[]> }
  | { kind: 'neighbours'; parsed: Parsed<IpNeighbour[]> }
  | { kind: 'namespaces'; parsed: Parsed<NetnsEntry[]> }
  | { kind: 'bridge-ports'; parsed: Parsed<BridgePort[]> }
  | { kind: 'fdb'; parsed: Parsed<FdbEntry[]> }
  | { kind: 'brctl'; parsed: Parsed<BrctlBridge[]> }
  | { kind: 'ethtool'; parsed: Parsed<EthtoolStats> }
  | { kind: 'iptables'; parsed: Parsed<IptablesRuleset> };

export type LinuxParsedKind = LinuxParsed['kind'];

/** Catalog ids this module parses, with what each gives. */
export const LINUX_COMMAND_KINDS = {
  'ip.address': 'devices',
  'ip.link': 'devices',
  'netns.ip.address': 'devices',
  'ip.o.addr': 'addresses',
  'ip.route': 'routes',
  'netns.ip.route': 'routes',
  'ip.neigh': 'neighbours',
  'netns.ip.neigh': 'neighbours',
  'ip.netns': 'namespaces',
  'bridge.link': 'bridge-ports',
  'bridge.fdb': 'fdb',
  'brctl.show': 'brctl',
  'ethtool.S': 'ethtool',
  'iptables-save': 'iptables',
  'netns.iptables-save': 'iptables',
  'iptables.list': 'iptables',
} as const satisfies Record<string, LinuxParsedKind>;

/** Where issues say the text came from: the sos path, or the command id and argv. */
export function linuxOutputSource(output: CommandOutput): string {
  return output.origin === 'agent' ? `${output.id} (${output.argv.join(' ')})` : output.origin;
}

/**
 * Parses one output by its id; undefined for an id this module does not parse. `options.netns`
 * (the `ip netns` of the same namespace) resolves link-netns ids and names of `ip link`/`ip address`.
 */
export function parseLinuxOutput(output: CommandOutput, options: IpLinkOptions = {}): LinuxParsed | undefined {
  const kind = (LINUX_COMMAND_KINDS as Record<string, LinuxParsedKind>)[output.id];
  if (kind === undefined) return undefined;
  const text = output.stdout;
  const source = linuxOutputSource(output);
  switch (kind) {
    case 'devices': return { kind, parsed: parseIpLink(text, source, options) };
    case 'addresses': return { kind, parsed: parseIpAddrOneline(text, source) };
    case 'routes': return { kind, parsed: parseIpRoute(text, source) };
    case 'neighbours': return { kind, parsed: parseIpNeigh(text, source) };
    case 'namespaces': return { kind, parsed: parseIpNetns(text, source) };
    case 'bridge-ports': return { kind, parsed: parseBridgeLink(text, source) };
    case 'fdb': return { kind, parsed: parseBridgeFdb(text, source) };
    case 'brctl': return { kind, parsed: parseBrctlShow(text, source) };
    case 'ethtool': return { kind, parsed: parseEthtoolStats(text, source) };
    case 'iptables':
      // sos keeps `iptables -vnxL` of the host (filter table) where the agent runs iptables-save.
      return { kind, parsed: output.id === 'iptables.list' ? parseIptablesList(text, source) : parseIptablesSave(text, source) };
    default: {
      const never: never = kind;
      return never;
    }
  }
}
