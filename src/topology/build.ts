// RawSnapshot → HostTopology. The agent's snapshot and a sosreport of the same host give the same
// topology: the parsers read the JSON and the text forms into the same values, and everything here
// works on those values only. Whatever a snapshot lacks is a gap, and what a parser could not read
// an issue; neither stops the rest.
import { commandById } from '../hoststate/commands.js';
import { buildOvsdbStateFromOutputs, outputSource } from '../hoststate/ovsdb/index.js';
import type { OvsdbInterface, OvsdbState } from '../hoststate/ovsdb/index.js';
import type { CommandOutput, ParseIssue, RawSnapshot } from '../hoststate/snapshot.js';
import { linuxFromOutputs } from './build-linux.js';
import { openflowFromOutputs, vlanMapFromFlows } from './build-openflow.js';
import type { DeviceRef, HostTopology, TopoBridge, TopoEdge, TopoGap, TopoPort, TopoVlanMapping } from './model.js';
import { neutronPrefix } from './model.js';
import { snapshotId } from './store.js';

/** Builds every host's topology, then the edges that cross hosts (tunnels to the host owning remote_ip). */
export function buildTopologies(raws: readonly RawSnapshot[]): { topologies: HostTopology[] } {
  const topologies = raws.map((raw) => buildTopology(raw));
  linkTunnels(topologies);
  return { topologies };
}

export function buildTopology(raw: RawSnapshot): HostTopology {
  const issues: ParseIssue[] = [];
  const gaps: TopoGap[] = [];
  for (const o of raw.outputs) {
    if (o.exitCode === 0 && o.error === undefined) continue;
    const spec = commandById(o.id);
    if (spec === undefined) continue;
    gaps.push({
      commandId: o.id,
      ...(o.bridge === undefined ? {} : { bridge: o.bridge }),
      ...(o.namespace === undefined ? {} : { namespace: o.namespace }),
      why: o.error ?? `exit ${String(o.exitCode)}${o.stderr.trim() === '' ? '' : `: ${firstLine(o.stderr)}`}`,
    });
  }
  const ovsdb = buildOvsdbStateFromOutputs(raw.outputs);
  issues.push(...ovsdb.issues);
  const { bridges, ports } = ovsTopology(ovsdb.value);
  const of = openflowFromOutputs(raw.outputs, ports);
  issues.push(...of.issues);
  // ofctl show knows every OpenFlow port number, OVSDB may not (sos keeps no Port list)
  for (const p of ports) {
    if (p.ofport !== null) continue;
    const ofport = of.ofports.get(p.bridge)?.get(p.name);
    if (ofport !== undefined) p.ofport = ofport;
  }
  for (const b of bridges) {
    if (b.datapathId === null) b.datapathId = of.datapathIds.get(b.name) ?? null;
  }
  const linux = linuxFromOutputs(raw.outputs);
  issues.push(...linux.issues);

  const host = raw.host;
  const edges: TopoEdge[] = [...linux.edges(host)];
  const portByName = new Map(ports.map((p) => [p.name, p]));
  for (const p of ports) {
    const dev = linux.devices.find((d) => d.namespace === '' && d.name === p.name);
    if (dev !== undefined && p.type !== 'internal') edges.push({ kind: 'ovs-member', a: ref(host, '', p.name), b: ref(host, '', p.bridge), detail: `ofport ${p.ofport ?? '?'}` });
    if (p.type === 'patch' && p.peer !== null && portByName.has(p.peer) && p.name < p.peer) {
      edges.push({ kind: 'patch', a: ref(host, '', p.name), b: ref(host, '', p.peer), detail: `${p.bridge} ↔ ${portByName.get(p.peer)?.bridge ?? '?'}` });
    }
  }
  // Neutron port ↔ its devices (tap/qbr/qvb/qvo/qr-/qg-/ns-), by the 11-character id prefix.
  for (const p of ports) {
    if (p.neutronPortId === null) continue;
    const prefix = p.neutronPortId.slice(0, 11);
    for (const d of linux.devices) {
      if (neutronPrefix(d.name) === prefix && d.name !== p.name) edges.push({ kind: 'neutron-port', a: ref(host, '', p.name), b: ref(host, d.namespace, d.name), detail: p.neutronPortId });
    }
  }
  const vlanMap: TopoVlanMapping[] = [];
  for (const p of ports) {
    if (p.tag === null || (p.segmentationId === null && p.netUuid === null)) continue;
    vlanMap.push({ bridge: p.bridge, localVlan: p.tag, segmentationId: p.segmentationId, networkType: p.networkType, netUuid: p.netUuid, source: 'port', direction: null, evidence: `Port ${p.name} tag=${p.tag} other_config:segmentation_id=${p.segmentationId ?? ''}` });
  }
  vlanMap.push(...vlanMapFromFlows(of.flows, ports));

  return {
    host,
    takenAt: raw.takenAt,
    snapshotId: snapshotId(host, raw.takenAt),
    systemId: ovsdb.value.systemId,
    ovsVersion: ovsdb.value.ovsVersion,
    bridges,
    ports,
    flows: of.flows,
    fdb: of.fdb,
    devices: linux.devices,
    namespaces: linux.namespaces,
    routes: linux.routes,
    neighbors: linux.neighbors,
    linuxBridges: linux.linuxBridges,
    chains: linux.chains,
    iptables: linux.iptables,
    edges,
    vlanMap,
    issues,
    gaps,
  };
}

function ref(host: string, namespace: string, device: string): DeviceRef {
  return { host, namespace, device };
}

function firstLine(text: string): string {
  const line = text.trim().split('\n')[0] ?? '';
  return line.length > 160 ? `${line.slice(0, 157)}...` : line;
}

function num(text: string | undefined): number | null {
  if (text === undefined || !/^\d+$/.test(text)) return null;
  return Number(text);
}

function ovsTopology(state: OvsdbState): { bridges: TopoBridge[]; ports: TopoPort[] } {
  const sflowByUuid = new Map(state.sflows.map((s) => [s.uuid, s]));
  const ifaceByName = new Map(state.interfaces.map((i) => [i.name, i]));
  const bridges: TopoBridge[] = state.bridges.map((b) => {
    const sflow = b.sflow === null ? undefined : sflowByUuid.get(b.sflow);
    return {
      name: b.name,
      datapathId: b.datapathId,
      datapathType: b.datapathType === '' ? null : b.datapathType,
      failMode: b.failMode,
      protocols: b.protocols,
      sflow: sflow === undefined ? null : { agent: sflow.agent, targets: sflow.targets, sampling: sflow.sampling, polling: sflow.polling, header: sflow.header },
      sampled: state.tables.includes('Bridge') ? b.sflow !== null : null,
      ports: b.ports,
    };
  });
  const ports: TopoPort[] = [];
  for (const p of state.ports) {
    if (p.bridge === null) continue;
    const iface: OvsdbInterface | undefined = ifaceByName.get(p.interfaces[0] ?? p.name);
    const options = iface?.options ?? {};
    const neutron = p.neutron;
    ports.push({
      bridge: p.bridge,
      name: p.name,
      type: iface?.type ?? '',
      ofport: iface?.ofport ?? null,
      ifindex: iface?.ifindex ?? null,
      mac: iface?.mac ?? null,
      tag: p.tag,
      trunks: p.trunks,
      vlanMode: p.vlanMode,
      peer: options['peer'] ?? null,
      remoteIp: options['remote_ip'] ?? null,
      localIp: options['local_ip'] ?? null,
      tunnelKey: options['key'] ?? options['out_key'] ?? null,
      neutronPortId: iface?.neutron?.portId ?? null,
      attachedMac: iface?.neutron?.attachedMac ?? null,
      vmUuid: iface?.neutron?.vmUuid ?? null,
      ifaceStatus: iface?.neutron?.status ?? null,
      netUuid: neutron?.netUuid ?? null,
      segmentationId: neutron?.segmentationId ?? num(p.otherConfig['segmentation_id']),
      networkType: neutron?.networkType ?? null,
      error: iface?.error ?? null,
      linkState: iface?.linkState ?? null,
      adminState: iface?.adminState ?? null,
    });
  }
  ports.sort((a, b) => (a.bridge === b.bridge ? a.name.localeCompare(b.name) : a.bridge.localeCompare(b.bridge)));
  return { bridges, ports };
}

/** Tunnel edges: a tunnel port's remote_ip → the host that has that address, its tunnel port back. */
function linkTunnels(topologies: HostTopology[]): void {
  const owner = new Map<string, HostTopology>();
  for (const t of topologies) for (const d of t.devices) for (const a of d.addresses) owner.set(a.address, t);
  for (const t of topologies) {
    for (const p of t.ports) {
      if (p.remoteIp === null || p.remoteIp === 'flow') continue;
      const peerHost = owner.get(p.remoteIp);
      if (peerHost === undefined) continue;
      const localIp = p.localIp ?? [...owner.entries()].find(([, h]) => h === t)?.[0] ?? null;
      const back = peerHost.ports.find((q) => q.remoteIp !== null && q.type === p.type && (localIp === null || q.remoteIp === localIp || owner.get(q.remoteIp) === t));
      t.edges.push({
        kind: 'tunnel',
        a: ref(t.host, '', p.name),
        b: ref(peerHost.host, '', back?.name ?? peerHost.host),
        detail: `${p.type} ${p.localIp ?? ''}→${p.remoteIp} key ${p.tunnelKey ?? '-'}`,
      });
    }
  }
}

export { outputSource };
export type { CommandOutput };
