// Consistency checks over host topologies: each finding names the host, the device and the
// evidence an operator can verify by hand. They look for the Neutron ML2/OVS wiring mistakes that
// silently eat frames: an untagged or dead-VLAN port on br-int, a broken tap → qbr → qvb ═ qvo
// chain, a patch port without its peer, a tunnel port in error or pointing at no known host, a local
// VLAN br-tun does not map to a tunnel id, a network with ports but no DHCP namespace.
import type { HostTopology, TopoPort } from './model.js';
import { neutronPrefix, neutronRole } from './model.js';

export type FindingSeverity = 'error' | 'warning';

export type CheckName =
  | 'port-untagged'
  | 'port-dead-vlan'
  | 'tap-without-qbr'
  | 'qbr-without-qvb'
  | 'qvo-without-qvb'
  | 'veth-without-peer'
  | 'patch-peer-missing'
  | 'tunnel-port-error'
  | 'tunnel-remote-unknown'
  | 'vlan-without-tunnel-mapping'
  | 'network-without-dhcp';

export interface Finding {
  host: string;
  takenAt: string;
  check: CheckName;
  severity: FindingSeverity;
  device: string;
  message: string;
  /** What was seen, in the words of the command output (port row, flow, device). */
  evidence: string;
}

export interface CheckOptions {
  /** The integration bridge (Neutron's integration_bridge). */
  integrationBridge?: string;
  /** The tunnel bridge (Neutron's tunnel_bridge). */
  tunnelBridge?: string;
}

const DEAD_VLAN = 4095;
const TUNNEL_TYPES = new Set(['gre', 'vxlan', 'geneve', 'stt', 'erspan', 'ip6gre']);

/** Ports Neutron plugs into br-int for VMs, DHCP and routers: they must carry a local VLAN tag. */
function isNeutronAccessPort(port: TopoPort): boolean {
  if (port.neutronPortId !== null) return true;
  const role = neutronRole(port.name);
  return role === 'qvo' || role === 'tap' || role === 'qr-' || role === 'ns-' || role === 'qg-' || role === 'ha-';
}

/** Runs every check over the hosts' topologies (all of them: tunnels look across hosts). */
export function checkTopology(hosts: readonly HostTopology[], options: CheckOptions = {}): Finding[] {
  const intBridge = options.integrationBridge ?? 'br-int';
  const tunBridge = options.tunnelBridge ?? 'br-tun';
  const findings: Finding[] = [];
  const ownerOfIp = new Map<string, string>();
  for (const h of hosts) {
    for (const d of h.devices) for (const a of d.addresses) ownerOfIp.set(a.address, h.host);
  }
  const dhcpNetworks = new Set<string>();
  for (const h of hosts) for (const ns of h.namespaces) if (ns.startsWith('qdhcp-')) dhcpNetworks.add(ns.slice('qdhcp-'.length));

  for (const h of hosts) {
    const add = (check: CheckName, severity: FindingSeverity, device: string, message: string, evidence: string): void => {
      findings.push({ host: h.host, takenAt: h.takenAt, check, severity, device, message, evidence });
    };
    const portsByName = new Map(h.ports.map((p) => [p.name, p]));
    const rootDevices = new Map(h.devices.filter((d) => d.namespace === '').map((d) => [d.name, d]));

    // br-int access ports
    const localVlans = new Map<number, TopoPort[]>();
    for (const p of h.ports) {
      if (p.bridge !== intBridge || !isNeutronAccessPort(p)) continue;
      if (p.tag === null) {
        add('port-untagged', 'error', p.name, `${p.name} on ${intBridge} has no VLAN tag: its frames reach no tenant network (NORMAL treats it as a trunk)`, portEvidence(p));
      } else if (p.tag === DEAD_VLAN) {
        add('port-dead-vlan', 'error', p.name, `${p.name} on ${intBridge} is in dead VLAN ${DEAD_VLAN}: the Neutron agent isolated it (port not bound, or its network is gone)`, portEvidence(p));
      } else {
        const list = localVlans.get(p.tag) ?? [];
        list.push(p);
        localVlans.set(p.tag, list);
      }
    }

    // hybrid plug: tap -> qbr <- qvb ═ qvo
    for (const p of h.ports) {
      if (p.bridge !== intBridge || neutronRole(p.name) !== 'qvo') continue;
      const id = neutronPrefix(p.name) as string;
      const qbr = rootDevices.get(`qbr${id}`);
      const qvb = rootDevices.get(`qvb${id}`);
      const tap = rootDevices.get(`tap${id}`);
      if (qvb === undefined) {
        add('qvo-without-qvb', 'error', `qvo${id}`, `qvo${id} is on ${intBridge} but its veth peer qvb${id} does not exist`, portEvidence(p));
      }
      if (qbr === undefined) {
        if (tap !== undefined) add('tap-without-qbr', 'error', `tap${id}`, `tap${id} exists but its Linux bridge qbr${id} does not: the security-group bridge is missing`, deviceEvidence(tap));
      } else if (qvb !== undefined && qvb.master !== qbr.name) {
        add('qbr-without-qvb', 'error', qbr.name, `qvb${id} is not a member of ${qbr.name} (master: ${qvb.master ?? 'none'})`, deviceEvidence(qvb));
      }
      if (tap !== undefined && qbr !== undefined && tap.master !== qbr.name) {
        add('tap-without-qbr', 'error', `tap${id}`, `tap${id} is not a member of ${qbr.name} (master: ${tap.master ?? 'none'})`, deviceEvidence(tap));
      }
    }
    for (const lb of h.linuxBridges) {
      const id = neutronPrefix(lb.name);
      if (id === null || neutronRole(lb.name) !== 'qbr') continue;
      if (!lb.members.includes(`qvb${id}`)) {
        add('qbr-without-qvb', 'error', lb.name, `${lb.name} has no qvb${id} member: frames from the instance cannot reach br-int`, `members: ${lb.members.join(', ') || 'none'}`);
      }
    }

    // veth pairs
    const ifindexes = new Map<string, Set<number>>();
    for (const d of h.devices) {
      if (d.ifindex === null) continue;
      const set = ifindexes.get(d.namespace) ?? new Set<number>();
      set.add(d.ifindex);
      ifindexes.set(d.namespace, set);
    }
    for (const d of h.devices) {
      if (d.kind !== 'veth') continue;
      if (d.peerIfindex === null || d.peerIfindex === 0) {
        add('veth-without-peer', 'warning', d.name, `veth ${d.name}${d.namespace === '' ? '' : ` (netns ${d.namespace})`} has no peer`, deviceEvidence(d));
      } else if (d.linkNetnsId === null && d.peerNamespace === null && ifindexes.get(d.namespace)?.has(d.peerIfindex) !== true) {
        add('veth-without-peer', 'warning', d.name, `veth ${d.name}: peer ifindex ${d.peerIfindex} is not a device of the same namespace`, deviceEvidence(d));
      }
    }

    // patch ports
    for (const p of h.ports) {
      if (p.type !== 'patch') continue;
      const peer = p.peer === null ? undefined : portsByName.get(p.peer);
      if (peer === undefined || peer.type !== 'patch') {
        add('patch-peer-missing', 'error', p.name, `patch port ${p.name} on ${p.bridge}: peer ${p.peer ?? '(not set)'} is not a patch port on this host`, portEvidence(p));
      } else if (peer.peer !== p.name) {
        add('patch-peer-missing', 'error', p.name, `patch port ${p.name} points at ${peer.name}, which points at ${peer.peer ?? '(nothing)'}`, portEvidence(p));
      }
    }

    // tunnels
    for (const p of h.ports) {
      if (!TUNNEL_TYPES.has(p.type)) continue;
      if (p.error !== null || p.ofport === -1) {
        add('tunnel-port-error', 'error', p.name, `tunnel port ${p.name} on ${p.bridge} is not working: ${p.error ?? 'ofport -1'}`, portEvidence(p));
      }
      if (p.remoteIp !== null && p.remoteIp !== 'flow' && !ownerOfIp.has(p.remoteIp)) {
        add('tunnel-remote-unknown', 'error', p.name, `tunnel port ${p.name} on ${p.bridge} points at ${p.remoteIp}, which no known host owns`, portEvidence(p));
      }
    }

    // local VLAN -> tunnel id on br-tun
    const hasTunBridge = h.bridges.some((b) => b.name === tunBridge);
    if (hasTunBridge) {
      const flows = h.vlanMap.filter((m) => m.source === 'flow' && m.bridge === tunBridge);
      const toTunnel = new Set(flows.filter((m) => m.direction === 'to-tunnel').map((m) => m.localVlan));
      const fromTunnel = new Set(flows.filter((m) => m.direction === 'from-tunnel').map((m) => m.localVlan));
      for (const [vlan, ports] of localVlans) {
        const names = ports.map((p) => p.name).join(', ');
        const expected = [...new Set(ports.map((p) => p.segmentationId).filter((x) => x !== null))];
        const segment = expected.length === 1 ? ` (segmentation id ${expected[0]})` : '';
        if (!toTunnel.has(vlan) && !fromTunnel.has(vlan)) {
          add('vlan-without-tunnel-mapping', 'error', names, `local VLAN ${vlan} on ${intBridge} (${names}) has no ${tunBridge} flow mapping it to a tunnel id${segment}: its frames neither leave nor enter this host over the tunnels`, `ports: ${names}; ${tunBridge} flows: none with dl_vlan=${vlan}+set_tunnel nor mod_vlan_vid:${vlan}`);
        } else if (!toTunnel.has(vlan)) {
          const back = flows.find((m) => m.localVlan === vlan);
          add('vlan-without-tunnel-mapping', 'error', names, `local VLAN ${vlan} on ${intBridge} (${names}) has no ${tunBridge} flow sending it into a tunnel${segment}: frames from these ports never leave this host`, `only the way back: ${back?.evidence ?? ''}`);
        } else if (!fromTunnel.has(vlan)) {
          const out = flows.find((m) => m.localVlan === vlan);
          add('vlan-without-tunnel-mapping', 'error', names, `no ${tunBridge} flow maps a tunnel id back to local VLAN ${vlan}${segment}: frames for ${names} arriving over the tunnels are dropped`, `only the way out: ${out?.evidence ?? ''}`);
        }
      }
    }

    // networks with ports but no DHCP namespace anywhere
    const networks = new Map<string, TopoPort[]>();
    for (const p of h.ports) {
      // instance ports only: qvo (hybrid plug) or a port Nova attached (vm-uuid)
      if (p.netUuid === null || p.bridge !== intBridge || (neutronRole(p.name) !== 'qvo' && p.vmUuid === null)) continue;
      const list = networks.get(p.netUuid) ?? [];
      list.push(p);
      networks.set(p.netUuid, list);
    }
    for (const [net, ports] of networks) {
      if (dhcpNetworks.has(net)) continue;
      add('network-without-dhcp', 'warning', ports.map((p) => p.name).join(', '), `network ${net} has ports on ${h.host} but no qdhcp-${net} namespace on any known host: instances get no DHCP answer`, `ports: ${ports.map((p) => p.name).join(', ')}`);
    }
  }
  return findings;
}

function portEvidence(p: TopoPort): string {
  const parts = [`port ${p.name}`, `bridge ${p.bridge}`, `type ${p.type === '' ? 'system' : p.type}`, `ofport ${p.ofport ?? '?'}`, `tag ${p.tag ?? '[]'}`];
  if (p.peer !== null) parts.push(`peer ${p.peer}`);
  if (p.remoteIp !== null) parts.push(`remote_ip ${p.remoteIp}`);
  if (p.error !== null) parts.push(`error "${p.error}"`);
  if (p.neutronPortId !== null) parts.push(`iface-id ${p.neutronPortId}`);
  return parts.join(', ');
}

function deviceEvidence(d: { name: string; namespace: string; kind: string; master: string | null; peerIfindex: number | null; ifindex: number | null }): string {
  return `${d.namespace === '' ? '' : `netns ${d.namespace}: `}${d.ifindex ?? '?'}: ${d.name} ${d.kind || 'device'}${d.master === null ? '' : ` master ${d.master}`}${d.peerIfindex === null ? '' : ` peer if${d.peerIfindex}`}`;
}
