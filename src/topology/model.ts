// The host topology: what devices exist on one host at one moment and how they connect, built from
// one RawSnapshot (src/hoststate/snapshot.ts) by build.ts. Plain data: stored row by row in
// ClickHouse (store.ts), drawn by dot.ts, checked by checks.ts, and turned into the OpenFlow walk's
// world by the path engine. Names follow OVS and iproute2; absent values are null, never guessed.
import type { ParseIssue } from '../hoststate/snapshot.js';
import type { OfFlow } from '../openflow/types.js';

/** Root namespace: ''. */
export type NamespaceName = string;

export interface TopoSflow {
  /** The agent setting: an interface name or an address (OVSDB sFlow.agent). */
  agent: string | null;
  targets: string[];
  sampling: number | null;
  polling: number | null;
  header: number | null;
}

export interface TopoBridge {
  name: string;
  /** 16 hex digits, as `ovs-ofctl show` prints it (dpid). */
  datapathId: string | null;
  datapathType: string | null;
  failMode: string | null;
  protocols: string[];
  /** The bridge's sFlow row, when the snapshot holds it (sos keeps no sFlow table: then null). */
  sflow: TopoSflow | null;
  /**
   * Does the bridge export sFlow? true: its Bridge row names an sFlow row; false: the Bridge table
   * was read and names none (its frames are never sampled there); null or absent: unknown.
   */
  sampled?: boolean | null;
  /** Port names, in OVSDB order. */
  ports: string[];
}

/** An OVS port with its (single) interface folded in; bonds keep their first interface's fields. */
export interface TopoPort {
  bridge: string;
  name: string;
  /** '' (system), internal, patch, gre, vxlan, geneve, ... (Interface.type). */
  type: string;
  ofport: number | null;
  ifindex: number | null;
  mac: string | null;
  tag: number | null;
  trunks: number[];
  vlanMode: string | null;
  /** Patch peer port name (options:peer). */
  peer: string | null;
  remoteIp: string | null;
  localIp: string | null;
  /** Tunnel key option as written ("flow", "0x2", "5"). */
  tunnelKey: string | null;
  /** external_ids:iface-id. */
  neutronPortId: string | null;
  attachedMac: string | null;
  vmUuid: string | null;
  ifaceStatus: string | null;
  /** other_config set by the Neutron agent on br-int ports. */
  netUuid: string | null;
  segmentationId: number | null;
  networkType: string | null;
  /** Interface.error (e.g. "could not open network device"). */
  error: string | null;
  linkState: string | null;
  adminState: string | null;
}

export interface TopoAddress {
  family: 'inet' | 'inet6';
  address: string;
  prefixLength: number;
}

export interface TopoDevice {
  namespace: NamespaceName;
  name: string;
  ifindex: number | null;
  /** veth, bridge, tun, openvswitch, gre, vxlan, dummy, '' (physical/unknown). */
  kind: string;
  /** Linux bridge or OVS master (`master` in ip link). */
  master: string | null;
  /** For veth: the peer's ifindex (`name@ifN`, ethtool peer_ifindex). */
  peerIfindex: number | null;
  /** For veth: the peer's namespace by name ('' = root), null when the same namespace or not nameable. */
  peerNamespace: string | null;
  /**
   * For veth: the peer's namespace id (link-netnsid, as seen from this namespace) when it could not
   * be named; null otherwise. Ids are local to a namespace and differ between reads, names do not.
   */
  linkNetnsId: number | null;
  mac: string | null;
  mtu: number | null;
  /** UP, DOWN, UNKNOWN, LOWERLAYERDOWN. */
  state: string | null;
  addresses: TopoAddress[];
  rxPackets: number | null;
  txPackets: number | null;
  rxDropped: number | null;
  txDropped: number | null;
}

export interface TopoRoute {
  namespace: NamespaceName;
  table: string;
  /** "default", "203.0.113.0/26", "203.0.113.1" ... */
  dst: string;
  gateway: string | null;
  dev: string | null;
  src: string | null;
  proto: string | null;
  scope: string | null;
  /** unicast, local, broadcast, unreachable, blackhole, prohibit. */
  type: string;
  metric: number | null;
}

export interface TopoNeighbor {
  namespace: NamespaceName;
  address: string;
  dev: string;
  mac: string | null;
  state: string[];
}

export interface TopoLinuxBridge {
  namespace: NamespaceName;
  name: string;
  members: string[];
}

export interface TopoIptablesRule {
  namespace: NamespaceName;
  table: string;
  chain: string;
  /** 1-based position in the chain, as `iptables -L --line-numbers` counts. */
  index: number;
  /** The rule as iptables-save prints it, without the counters. */
  rule: string;
  target: string;
  packets: number;
  bytes: number;
  /** The tap device a neutron-openvswi per-port chain belongs to, when known. */
  portDevice: string | null;
}

export interface TopoChain {
  namespace: NamespaceName;
  table: string;
  name: string;
  /** ACCEPT/DROP for built-in chains, null for user chains. */
  policy: string | null;
  packets: number;
  bytes: number;
}

export type EdgeKind = 'veth' | 'linux-bridge-member' | 'ovs-member' | 'patch' | 'tunnel' | 'neutron-port';

/** A device address: host + namespace + device name. */
export interface DeviceRef {
  host: string;
  namespace: NamespaceName;
  device: string;
}

export interface TopoEdge {
  kind: EdgeKind;
  a: DeviceRef;
  b: DeviceRef;
  /** For tunnel edges: the tunnel key and the remote address. */
  detail: string | null;
}

/** Local VLAN on br-int ↔ tenant network, from Port.other_config and the br-tun flows. */
export interface TopoVlanMapping {
  bridge: string;
  localVlan: number;
  segmentationId: number | null;
  networkType: string | null;
  netUuid: string | null;
  /** Where it was seen: 'port' (br-int Port.other_config) or 'flow' (br-tun mod_vlan_vid / set_tunnel). */
  source: 'port' | 'flow';
  /** For 'flow': which way the rule translates (local VLAN → tunnel id, or back); null for 'port'. */
  direction: 'to-tunnel' | 'from-tunnel' | null;
  /** The port or flow that says so. */
  evidence: string;
}

export interface TopoFdbEntry {
  bridge: string;
  port: string | null;
  ofport: number | null;
  vlan: number;
  mac: string;
  age: number | null;
}

export interface TopoFlows {
  bridge: string;
  flows: OfFlow[];
  /** What was wrong with the dump (unreadable lines): a walk through this table may be wrong. */
  trouble?: string;
}

/** Which snapshot commands gave nothing usable: the topology is partial there. */
export interface TopoGap {
  commandId: string;
  bridge?: string;
  namespace?: string;
  why: string;
}

export interface HostTopology {
  host: string;
  takenAt: string;
  /** Deterministic id of the snapshot it was built from (host + takenAt). */
  snapshotId: string;
  systemId: string | null;
  ovsVersion: string | null;
  bridges: TopoBridge[];
  ports: TopoPort[];
  flows: TopoFlows[];
  fdb: TopoFdbEntry[];
  devices: TopoDevice[];
  namespaces: string[];
  routes: TopoRoute[];
  neighbors: TopoNeighbor[];
  linuxBridges: TopoLinuxBridge[];
  chains: TopoChain[];
  iptables: TopoIptablesRule[];
  edges: TopoEdge[];
  vlanMap: TopoVlanMapping[];
  /** What the parsers could not read (file/line). */
  issues: ParseIssue[];
  gaps: TopoGap[];
}

/** The Neutron port id prefix carried by device names: tap/qbr/qvb/qvo/qr-/qg-/ns- + 11 chars. */
export const NEUTRON_DEVICE = /^(tap|qbr|qvb|qvo|qr-|qg-|ns-|ha-|sg-|fg-|rfp-|fpr-)([0-9a-f]{8}-[0-9a-f]{2})$/;

/** The 11-character id prefix a Neutron device name carries, or null. */
export function neutronPrefix(device: string): string | null {
  return NEUTRON_DEVICE.exec(device)?.[2] ?? null;
}

/** The kind prefix of a Neutron device name (tap, qbr, qvb, qvo, qr-, ...), or null. */
export function neutronRole(device: string): string | null {
  return NEUTRON_DEVICE.exec(device)?.[1] ?? null;
}
