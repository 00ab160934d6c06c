// The Linux side of a host topology: devices (root namespace and every namespace), veth pairs,
// Linux bridges and their members, routes, neighbours and iptables, from whichever outputs the
// snapshot holds (the agent's JSON forms or sos' text forms: the parsers read both the same way).
import type { CommandOutput, ParseIssue, Parsed } from '../hoststate/snapshot.js';
import { outputSource } from '../hoststate/ovsdb/index.js';
import {
  neutronPortChains,
  parseBrctlShow,
  parseBridgeLink,
  parseEthtoolStats,
  parseIpAddrOneline,
  parseIpLink,
  parseIpNeigh,
  parseIpNetns,
  parseIpRoute,
  parseIptablesList,
  parseIptablesSave,
  type IpDevice,
  type IptablesRuleset,
  type NetnsEntry,
} from '../hoststate/linux/index.js';
import type { HostTopology, TopoChain, TopoDevice, TopoEdge, TopoIptablesRule, TopoLinuxBridge, TopoNeighbor, TopoRoute } from './model.js';

export interface LinuxPart extends Pick<HostTopology, 'devices' | 'namespaces' | 'routes' | 'neighbors' | 'linuxBridges' | 'chains' | 'iptables'> {
  /** Parsed iptables rulesets by namespace ('' = root): the path engine evaluates them. */
  rulesets: Map<string, IptablesRuleset>;
  issues: ParseIssue[];
  edges(host: string): TopoEdge[];
}

const usable = (o: CommandOutput): boolean => o.exitCode === 0 && o.error === undefined;

function pick(outputs: readonly CommandOutput[], id: string, namespace?: string): CommandOutput | undefined {
  return outputs.find((o) => o.id === id && usable(o) && (namespace === undefined || o.namespace === namespace));
}

const big = (v: bigint | undefined | null): number | null => (v === undefined || v === null ? null : Number(v));

export function linuxFromOutputs(outputs: readonly CommandOutput[]): LinuxPart {
  const issues: ParseIssue[] = [];
  const netnsOut = pick(outputs, 'ip.netns');
  let netns: NetnsEntry[] = [];
  if (netnsOut !== undefined) {
    const parsed = parseIpNetns(netnsOut.stdout, outputSource(netnsOut));
    issues.push(...parsed.issues);
    netns = parsed.value;
  }
  // The namespaces this snapshot looked into (per-namespace outputs). `ip netns` alone is not enough:
  // an agent may be told to skip some, and in a lab every host sees every namespace of the machine.
  const namespaces = new Set<string>();
  for (const o of outputs) if (o.namespace !== undefined && o.namespace !== '') namespaces.add(o.namespace);

  const devices: TopoDevice[] = [];
  const ipDevices = new Map<string, IpDevice[]>(); // namespace -> devices
  const readDevices = (namespace: string, addressId: string, linkId: string | undefined): void => {
    const addr = pick(outputs, addressId, namespace === '' ? undefined : namespace);
    const link = linkId === undefined ? undefined : pick(outputs, linkId);
    const main = addr ?? link;
    if (main === undefined) return;
    const parsed = parseIpLink(main.stdout, outputSource(main), namespace === '' ? { netns } : {});
    issues.push(...parsed.issues);
    let list = parsed.value;
    if (addr !== undefined && link !== undefined) {
      // counters come with `ip -s link`; devices and addresses with `ip address`
      const withCounters = parseIpLink(link.stdout, outputSource(link), { netns });
      issues.push(...withCounters.issues);
      const byName = new Map(withCounters.value.map((d) => [d.name, d]));
      list = list.map((d) => ({ ...d, counters: d.counters ?? byName.get(d.name)?.counters ?? null }));
    }
    if (addr === undefined && namespace === '') {
      const oneline = pick(outputs, 'ip.o.addr');
      if (oneline !== undefined) {
        const parsedAddr = parseIpAddrOneline(oneline.stdout, outputSource(oneline));
        issues.push(...parsedAddr.issues);
        list = list.map((d) => ({ ...d, addresses: parsedAddr.value.filter((e) => e.device === d.name).map((e) => e.address) }));
      }
    }
    ipDevices.set(namespace, list);
  };
  readDevices('', 'ip.address', 'ip.link');
  for (const ns of [...namespaces].sort()) readDevices(ns, 'netns.ip.address', undefined);

  // ethtool -S peer_ifindex for veths ip printed without a peer
  const ethtoolPeer = new Map<string, number>();
  for (const o of outputs) {
    if (o.id !== 'ethtool.S' || !usable(o) || o.device === undefined) continue;
    const parsed = parseEthtoolStats(o.stdout, outputSource(o));
    issues.push(...parsed.issues);
    if (parsed.value.peerIfindex !== null) ethtoolPeer.set(`${o.namespace ?? ''}/${o.device}`, parsed.value.peerIfindex);
  }

  for (const [namespace, list] of ipDevices) {
    for (const d of list) {
      const isVeth = d.kind === 'veth';
      devices.push({
        namespace,
        name: d.name,
        ifindex: d.ifindex,
        kind: d.kind ?? '',
        master: d.master,
        peerIfindex: isVeth ? (d.linkIfindex ?? ethtoolPeer.get(`${namespace}/${d.name}`) ?? null) : null,
        peerNamespace: isVeth && d.linkNetns !== null ? (d.linkNetns.name ?? null) : null,
        linkNetnsId: isVeth && d.linkNetns !== null && d.linkNetns.name === null ? d.linkNetns.id : null,
        mac: d.mac,
        mtu: d.mtu,
        state: d.state,
        addresses: d.addresses.map((a) => ({ family: a.family, address: a.address, prefixLength: a.prefixLength })),
        rxPackets: big(d.counters?.rxPackets),
        txPackets: big(d.counters?.txPackets),
        rxDropped: big(d.counters?.rxDropped),
        txDropped: big(d.counters?.txDropped),
      });
    }
  }

  // Linux bridges: from the devices' masters; `bridge link` / `brctl show` when ip printed no master
  const linuxBridges: TopoLinuxBridge[] = [];
  for (const [namespace, list] of ipDevices) {
    for (const b of list.filter((d) => d.kind === 'bridge')) {
      linuxBridges.push({ namespace, name: b.name, members: list.filter((d) => d.master === b.name).map((d) => d.name).sort() });
    }
  }
  const fillMembers = (bridge: string, members: string[]): void => {
    const lb = linuxBridges.find((x) => x.namespace === '' && x.name === bridge);
    if (lb === undefined) linuxBridges.push({ namespace: '', name: bridge, members: [...members].sort() });
    else if (lb.members.length === 0) lb.members = [...members].sort();
  };
  const bridgeLink = pick(outputs, 'bridge.link');
  if (bridgeLink !== undefined) {
    const parsed = parseBridgeLink(bridgeLink.stdout, outputSource(bridgeLink));
    issues.push(...parsed.issues);
    const by = new Map<string, string[]>();
    for (const p of parsed.value) if (p.master !== null) by.set(p.master, [...(by.get(p.master) ?? []), p.name]);
    for (const [bridge, members] of by) fillMembers(bridge, members);
  }
  const brctl = pick(outputs, 'brctl.show');
  if (brctl !== undefined) {
    const parsed = parseBrctlShow(brctl.stdout, outputSource(brctl));
    issues.push(...parsed.issues);
    for (const b of parsed.value) fillMembers(b.name, b.interfaces);
  }
  linuxBridges.sort((a, b) => (a.namespace === b.namespace ? a.name.localeCompare(b.name) : a.namespace.localeCompare(b.namespace)));

  const routes: TopoRoute[] = [];
  const neighbors: TopoNeighbor[] = [];
  const chains: TopoChain[] = [];
  const iptables: TopoIptablesRule[] = [];
  const rulesets = new Map<string, IptablesRuleset>();
  for (const namespace of ['', ...[...namespaces].sort()]) {
    const inNs = namespace === '' ? undefined : namespace;
    const route = pick(outputs, inNs === undefined ? 'ip.route' : 'netns.ip.route', inNs);
    if (route !== undefined) {
      const parsed = parseIpRoute(route.stdout, outputSource(route));
      issues.push(...parsed.issues);
      for (const r of parsed.value) {
        routes.push({ namespace, table: r.table, dst: r.dst, gateway: r.gateway, dev: r.dev, src: r.src, proto: r.protocol, scope: r.scope, type: r.type, metric: r.metric });
      }
    }
    const neigh = pick(outputs, inNs === undefined ? 'ip.neigh' : 'netns.ip.neigh', inNs);
    if (neigh !== undefined) {
      const parsed = parseIpNeigh(neigh.stdout, outputSource(neigh));
      issues.push(...parsed.issues);
      for (const n of parsed.value) if (n.dev !== null) neighbors.push({ namespace, address: n.dst, dev: n.dev, mac: n.lladdr, state: n.state });
    }
    const ipt = iptablesOutput(outputs, inNs);
    if (ipt !== undefined) {
      const parsed = parseIptablesOutput(ipt);
      issues.push(...parsed.issues);
      rulesets.set(namespace, parsed.value);
      const tapOfChain = new Map<string, string>();
      for (const pc of neutronPortChains(parsed.value)) {
        if (pc.tap === null) continue;
        for (const c of [pc.ingress, pc.egress, pc.spoof]) if (c !== null) tapOfChain.set(c, pc.tap);
      }
      for (const table of parsed.value.tables) {
        for (const chain of table.chains) {
          chains.push({ namespace, table: table.name, name: chain.name, policy: chain.policy, packets: big(chain.counters?.packets) ?? 0, bytes: big(chain.counters?.bytes) ?? 0 });
          for (const rule of chain.rules) {
            iptables.push({
              namespace,
              table: table.name,
              chain: chain.name,
              index: rule.index,
              rule: rule.text,
              target: rule.target?.name ?? '',
              packets: big(rule.counters?.packets) ?? 0,
              bytes: big(rule.counters?.bytes) ?? 0,
              portDevice: tapOfChain.get(chain.name) ?? null,
            });
          }
        }
      }
    }
  }

  return {
    devices,
    namespaces: [...namespaces].sort(),
    routes,
    neighbors,
    linuxBridges,
    chains,
    iptables,
    rulesets,
    issues,
    edges: (host) => linuxEdges(host, devices, linuxBridges),
  };
}

/** The iptables output of a namespace: iptables-save -c; a sosreport keeps only `iptables -vnxL` of the host (same rules and counters). */
function iptablesOutput(outputs: readonly CommandOutput[], namespace: string | undefined): CommandOutput | undefined {
  return pick(outputs, namespace === undefined ? 'iptables-save' : 'netns.iptables-save', namespace) ?? (namespace === undefined ? pick(outputs, 'iptables.list') : undefined);
}

function parseIptablesOutput(o: CommandOutput): Parsed<IptablesRuleset> {
  return o.id === 'iptables.list' ? parseIptablesList(o.stdout, outputSource(o)) : parseIptablesSave(o.stdout, outputSource(o));
}

/** Only the iptables rulesets of a snapshot, by namespace ('' = root): what the path engine evaluates. */
export function rulesetsFromOutputs(outputs: readonly CommandOutput[]): Map<string, IptablesRuleset> {
  const rulesets = new Map<string, IptablesRuleset>();
  const namespaces = new Set<string>();
  for (const o of outputs) if (o.namespace !== undefined && o.namespace !== '') namespaces.add(o.namespace);
  for (const namespace of ['', ...namespaces]) {
    const ipt = iptablesOutput(outputs, namespace === '' ? undefined : namespace);
    if (ipt !== undefined) rulesets.set(namespace, parseIptablesOutput(ipt).value);
  }
  return rulesets;
}

function linuxEdges(host: string, devices: readonly TopoDevice[], linuxBridges: readonly TopoLinuxBridge[]): TopoEdge[] {
  const edges: TopoEdge[] = [];
  const byNsIndex = new Map<string, TopoDevice>();
  for (const d of devices) if (d.ifindex !== null) byNsIndex.set(`${d.namespace}/${d.ifindex}`, d);
  const seen = new Set<string>();
  for (const d of devices) {
    if (d.kind !== 'veth' || d.peerIfindex === null) continue;
    const peerNs = d.peerNamespace ?? (d.linkNetnsId === null ? d.namespace : null);
    if (d.peerNamespace !== null && d.peerNamespace !== '' && !byNsIndex.has(`${d.peerNamespace}/${d.peerIfindex}`)) continue; // a namespace not looked into
    if (peerNs === null) continue; // the other side names this pair (it knows the namespace)
    const peer = byNsIndex.get(`${peerNs}/${d.peerIfindex}`);
    if (peer === undefined) continue;
    const key = [`${d.namespace}/${d.name}`, `${peer.namespace}/${peer.name}`].sort().join('|');
    if (seen.has(key)) continue;
    seen.add(key);
    edges.push({ kind: 'veth', a: { host, namespace: d.namespace, device: d.name }, b: { host, namespace: peer.namespace, device: peer.name }, detail: null });
  }
  for (const lb of linuxBridges) {
    for (const m of lb.members) edges.push({ kind: 'linux-bridge-member', a: { host, namespace: lb.namespace, device: m }, b: { host, namespace: lb.namespace, device: lb.name }, detail: null });
  }
  return edges;
}
