// The OpenFlow walk's world (src/openflow/bridge-index.ts WalkWorld) built from host topologies:
// every OVS bridge of every host with its ports (tag, trunks, vlan_mode, patch peer, tunnel
// options), its dumped flows and its FDB; underlay addresses (root-namespace device addresses and
// tunnel local_ip) name the host a tunnel's remote_ip leads to. Bridges are built once, so the
// walk's per-bridge index is built once per world.
import type { WalkBridge, WalkFdbEntry, WalkPort, WalkWorld } from '../openflow/bridge-index.js';
import type { FrameSpec } from '../openflow/frame.js';
import type { HostTopology, TopoPort } from '../topology/model.js';

const VLAN_MODES = new Set(['access', 'trunk', 'native-tagged', 'native-untagged', 'dot1q-tunnel']);

export interface TopologyWorld extends WalkWorld {
  /** The topology of a host by name. */
  topology(host: string): HostTopology | undefined;
  hosts(): readonly string[];
  /** Where an underlay address lives; undefined when no host has it. */
  hostOwningIp(ip: string): string | undefined;
}

function walkPort(p: TopoPort): WalkPort | undefined {
  if (p.ofport === null || p.ofport < 0) return undefined;
  const port: WalkPort = { ofport: p.ofport, name: p.name, type: p.type };
  if (p.tag !== null) port.tag = p.tag;
  if (p.trunks.length > 0) port.trunks = p.trunks;
  if (p.vlanMode !== null && VLAN_MODES.has(p.vlanMode)) port.vlanMode = p.vlanMode as NonNullable<WalkPort['vlanMode']>;
  if (p.peer !== null) port.peer = p.peer;
  if (p.remoteIp !== null) port.remoteIp = p.remoteIp;
  if (p.localIp !== null) port.localIp = p.localIp;
  if (p.tunnelKey !== null) port.key = p.tunnelKey;
  return port;
}

/**
 * A topology's walk bridges, built once: a world for a new set of snapshot versions reuses the
 * bridges (and so the walk's per-bridge indexes, cached per WalkBridge) of the hosts that did not change.
 */
const bridgesOf = new WeakMap<HostTopology, WalkBridge[]>();

/** The bridges of one host as the walk sees them. */
export function walkBridges(t: HostTopology): WalkBridge[] {
  const known = bridgesOf.get(t);
  if (known !== undefined) return known;
  const built = buildWalkBridges(t);
  bridgesOf.set(t, built);
  return built;
}

function buildWalkBridges(t: HostTopology): WalkBridge[] {
  return t.bridges.map((b): WalkBridge => {
    const ports: WalkPort[] = [];
    for (const p of t.ports) {
      if (p.bridge !== b.name) continue;
      const wp = walkPort(p);
      if (wp !== undefined) ports.push(wp);
    }
    const fdb: WalkFdbEntry[] = [];
    for (const e of t.fdb) {
      if (e.bridge !== b.name) continue;
      const ofport = e.ofport ?? ports.find((p) => p.name === e.port)?.ofport;
      if (ofport !== undefined) fdb.push({ ofport, vlan: e.vlan, mac: e.mac });
    }
    return { name: b.name, flows: t.flows.find((f) => f.bridge === b.name)?.flows ?? [], ports, fdb };
  });
}

/** Root-namespace IPv4/IPv6 addresses of a host and its tunnels' local_ip. */
export function hostAddresses(t: HostTopology): string[] {
  const out = new Set<string>();
  for (const d of t.devices) {
    if (d.namespace !== '') continue;
    for (const a of d.addresses) if (!a.address.startsWith('127.') && a.address !== '::1' && !a.address.startsWith('fe80')) out.add(a.address);
  }
  for (const p of t.ports) if (p.localIp !== null && p.localIp !== 'flow') out.add(p.localIp);
  return [...out];
}

export function buildTopologyWorld(topologies: readonly HostTopology[]): TopologyWorld {
  const byHost = new Map<string, HostTopology>();
  const bridges = new Map<string, Map<string, WalkBridge>>();
  const lists = new Map<string, WalkBridge[]>();
  const owners = new Map<string, string>();
  for (const t of topologies) {
    byHost.set(t.host, t);
    const list = walkBridges(t);
    lists.set(t.host, list);
    bridges.set(t.host, new Map(list.map((b) => [b.name, b])));
  }
  // tunnel local_ip first (what the underlay really is), then every other root address
  for (const t of topologies) for (const p of t.ports) if (p.localIp !== null && p.localIp !== 'flow' && !owners.has(p.localIp)) owners.set(p.localIp, t.host);
  for (const t of topologies) for (const a of hostAddresses(t)) if (!owners.has(a)) owners.set(a, t.host);
  return {
    bridge: (host, name) => bridges.get(host)?.get(name),
    bridges: (host) => lists.get(host) ?? [],
    hostOwningIp: (ip) => owners.get(ip),
    topology: (host) => byHost.get(host),
    hosts: () => [...byHost.keys()],
  };
}

// ---------- a frame written the way ovs-appctl ofproto/trace takes it ----------

const PROTOCOL_WORDS: Record<string, { dl_type: number; nw_proto?: number }> = {
  ip: { dl_type: 0x0800 }, icmp: { dl_type: 0x0800, nw_proto: 1 }, tcp: { dl_type: 0x0800, nw_proto: 6 }, udp: { dl_type: 0x0800, nw_proto: 17 },
  arp: { dl_type: 0x0806 }, ipv6: { dl_type: 0x86dd }, tcp6: { dl_type: 0x86dd, nw_proto: 6 }, udp6: { dl_type: 0x86dd, nw_proto: 17 }, icmp6: { dl_type: 0x86dd, nw_proto: 58 },
};

const TEXT_FIELDS = new Set(['dl_src', 'dl_dst', 'nw_src', 'nw_dst', 'arp_spa', 'arp_tpa', 'arp_sha', 'arp_tha', 'tun_src', 'tun_dst', 'ipv6_src', 'ipv6_dst']);
const NUMBER_FIELDS = new Set(['nw_proto', 'nw_tos', 'nw_ttl', 'tp_src', 'tp_dst', 'icmp_type', 'icmp_code', 'arp_op', 'vlan_pcp', 'ct_zone', 'ct_mark', 'pkt_mark', 'dl_type']);

export class FlowTextError extends Error {
  override readonly name = 'FlowTextError';
}

/** `icmp,dl_src=..,nw_dst=..,dl_vlan=5,tun_id=0x49[,in_port=3]` → a FrameSpec (and in_port when given). */
export function parseFlowText(text: string): { spec: FrameSpec; inPort: string | undefined } {
  const spec: Record<string, unknown> = {};
  let inPort: string | undefined;
  for (const raw of text.split(',')) {
    const part = raw.trim();
    if (part === '') continue;
    const eq = part.indexOf('=');
    if (eq < 0) {
      const proto = PROTOCOL_WORDS[part];
      if (proto === undefined) throw new FlowTextError(`unknown keyword '${part}' (use ${Object.keys(PROTOCOL_WORDS).join(', ')} or field=value)`);
      spec['dl_type'] = proto.dl_type;
      if (proto.nw_proto !== undefined) spec['nw_proto'] = proto.nw_proto;
      continue;
    }
    const key = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    const n = (): number => {
      const v = Number(value);
      if (!Number.isInteger(v) || v < 0) throw new FlowTextError(`${key}=${value}: not a number`);
      return v;
    };
    if (key === 'in_port') inPort = value;
    else if (key === 'dl_vlan' || key === 'vlan' || key === 'vlan_vid') spec['vlan'] = n() & 0xfff;
    else if (key === 'tun_id' || key === 'tunnel_id') spec['tun_id'] = BigInt(value);
    else if (key === 'ipv6_src' || key === 'ipv6_dst') spec[key === 'ipv6_src' ? 'nw_src' : 'nw_dst'] = value;
    else if (TEXT_FIELDS.has(key)) spec[key] = value;
    else if (NUMBER_FIELDS.has(key)) spec[key] = n();
    else if (key === 'ct_state') spec[key] = value;
    else throw new FlowTextError(`unknown field '${key}'`);
  }
  return { spec: spec as FrameSpec, inPort };
}
