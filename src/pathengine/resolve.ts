// Stage 2 (DESIGN.md "resolve"): what an sFlow (agent address, sub-agent, ifIndex) was at a time,
// from the host topologies (versioned: the snapshot in force at that time) and from what the
// capture itself says (counter samples).
//
//   agent address → host   the host whose sFlow agent setting names it (an interface: that
//                          interface's addresses; an address: itself), else any root-namespace
//                          address of the host.
//   sub-agent → bridge     learned from counter samples: a port's record 1004 carries the
//                          datapath id of the bridge whose sub-agent polled it; matched to the
//                          topology's datapath ids. Without counters: the bridge of the ifIndex.
//   ifIndex → port         live map from counter samples (1004: ifIndex → datapath id + OpenFlow
//                          port, 1005: name), else the topology's Interface.ifindex / device
//                          ifindex. ifIndex 0 (patch, tunnel, netns-moved ports) and LOCAL name
//                          the bridge only (port null): the path engine finds such ports by MAC.
import type { Datagram } from '../sflow/types.js';
import { IFINDEX_LOCAL } from '../sflow/wire.js';
import type { HostTopology, TopoPort } from '../topology/model.js';
import type { Resolver } from './correlate.js';
import type { ResolvedPort } from './observation.js';

interface HostVersions {
  host: string;
  /** Oldest first. */
  versions: { atMs: number; topology: HostTopology }[];
}

export interface ResolverStats {
  /** Sub-agents whose bridge came from 1004 datapath ids. */
  learnedSubAgents: number;
  /** ifIndexes learned from counter samples. */
  learnedIfIndexes: number;
  /** Agent addresses no host claims. */
  unknownAgents: string[];
}

export class TopologyResolver implements Resolver {
  readonly #hosts = new Map<string, HostVersions>();
  /** agent address → host */
  readonly #agents = new Map<string, string>();
  /** `${agent}/${subAgent}` → datapath id (16 hex digits) */
  readonly #subAgentDpid = new Map<string, string>();
  /** `${agent}/${ifIndex}` → { dpid, portNo, name } */
  readonly #liveIfIndex = new Map<string, { dpid: string | null; portNo: number | null; name: string | null }>();
  readonly #unknownAgents = new Set<string>();

  constructor(topologies: readonly HostTopology[] = []) {
    for (const t of topologies) this.#addVersion(t);
    this.#indexAgents();
  }

  /**
   * A new snapshot of a host (the service adds them as they arrive). A version with the same
   * host and time replaces the one held.
   */
  add(topology: HostTopology): void {
    this.#addVersion(topology);
    this.#indexAgents();
  }

  /** Forgets the versions superseded before `timeMs` (the one in force then is kept). */
  forgetBefore(timeMs: number): void {
    for (const h of this.#hosts.values()) {
      let keepFrom = 0;
      for (let i = 0; i < h.versions.length; i++) if ((h.versions[i]?.atMs ?? Infinity) <= timeMs) keepFrom = i;
      if (keepFrom > 0) h.versions.splice(0, keepFrom);
    }
  }

  /** Every host's versions, oldest first. */
  versions(): { host: string; topologies: HostTopology[] }[] {
    return [...this.#hosts.values()].map((h) => ({ host: h.host, topologies: h.versions.map((v) => v.topology) }));
  }

  #addVersion(t: HostTopology): void {
    let h = this.#hosts.get(t.host);
    if (h === undefined) {
      h = { host: t.host, versions: [] };
      this.#hosts.set(t.host, h);
    }
    const atMs = Date.parse(t.takenAt);
    const same = h.versions.findIndex((v) => v.atMs === atMs);
    if (same >= 0) h.versions[same] = { atMs, topology: t };
    else {
      h.versions.push({ atMs, topology: t });
      h.versions.sort((a, b) => a.atMs - b.atMs);
    }
  }

  #indexAgents(): void {
    this.#agents.clear();
    // the agent setting first, then any root address; a newer version wins
    for (const h of this.#hosts.values()) {
      for (const { topology: t } of h.versions) {
        for (const b of t.bridges) {
          const agent = b.sflow?.agent;
          if (agent === null || agent === undefined) continue;
          const device = t.devices.find((d) => d.namespace === '' && d.name === agent);
          if (device !== undefined) for (const a of device.addresses) this.#agents.set(a.address, t.host);
          else this.#agents.set(agent, t.host);
        }
      }
    }
    for (const h of this.#hosts.values()) {
      for (const { topology: t } of h.versions) {
        for (const d of t.devices) {
          if (d.namespace !== '') continue;
          for (const a of d.addresses) if (!this.#agents.has(a.address) && !a.address.startsWith('127.')) this.#agents.set(a.address, t.host);
        }
      }
    }
    for (const a of this.#unknownAgents) if (this.#agents.has(a)) this.#unknownAgents.delete(a);
  }

  get stats(): ResolverStats {
    return { learnedSubAgents: this.#subAgentDpid.size, learnedIfIndexes: this.#liveIfIndex.size, unknownAgents: [...this.#unknownAgents] };
  }

  /** Learns sub-agent → datapath and ifIndex → OpenFlow port from a datagram's counter samples. */
  learn(datagram: Datagram): void {
    for (const sample of datagram.samples) {
      if (sample.kind !== 'counter') continue;
      let dpid: string | null = null;
      let portNo: number | null = null;
      let name: string | null = null;
      for (const r of sample.records) {
        if (r.kind === 'openflow_port') {
          dpid = r.datapathId.toString(16).padStart(16, '0');
          portNo = r.portNo;
        } else if (r.kind === 'openflow_port_name') name = r.name;
      }
      if (dpid !== null) this.#subAgentDpid.set(`${datagram.agent}/${datagram.subAgentId}`, dpid);
      if (sample.sourceIdType === 0 && (dpid !== null || name !== null)) this.#liveIfIndex.set(`${datagram.agent}/${sample.sourceIdIndex}`, { dpid, portNo, name });
    }
  }

  /** The host an agent address belongs to. */
  hostOf(agent: string): string | undefined {
    const host = this.#agents.get(agent);
    if (host === undefined) this.#unknownAgents.add(agent);
    return host;
  }

  /** The topology of a host in force at a time (the latest taken at or before it, else the oldest). */
  topologyAt(host: string, timeMs: number): HostTopology | undefined {
    const h = this.#hosts.get(host);
    if (h === undefined) return undefined;
    let chosen = h.versions[0]?.topology;
    for (const v of h.versions) if (v.atMs <= timeMs) chosen = v.topology;
    return chosen;
  }

  /** Every host's topology in force at a time. */
  inForceAt(timeMs: number): HostTopology[] {
    const out: HostTopology[] = [];
    for (const h of this.#hosts.keys()) {
      const t = this.topologyAt(h, timeMs);
      if (t !== undefined) out.push(t);
    }
    return out;
  }

  /** The bridge of a sub-agent, when counter samples named its datapath. */
  bridgeOf(agent: string, subAgentId: number, timeMs: number): string | undefined {
    const host = this.hostOf(agent);
    if (host === undefined) return undefined;
    const dpid = this.#subAgentDpid.get(`${agent}/${subAgentId}`);
    if (dpid === undefined) return undefined;
    return this.topologyAt(host, timeMs)?.bridges.find((b) => b.datapathId === dpid)?.name;
  }

  resolve(agent: string, subAgentId: number, ifIndex: number, timeMs: number): ResolvedPort | undefined {
    const host = this.hostOf(agent);
    if (host === undefined) return undefined;
    const t = this.topologyAt(host, timeMs);
    if (t === undefined) return undefined;
    let bridge = this.bridgeOf(agent, subAgentId, timeMs);
    let port: TopoPort | undefined;
    if (ifIndex !== 0 && ifIndex !== IFINDEX_LOCAL) {
      const live = this.#liveIfIndex.get(`${agent}/${ifIndex}`);
      if (live !== undefined) {
        const liveBridge = live.dpid === null ? undefined : t.bridges.find((b) => b.datapathId === live.dpid)?.name;
        port = t.ports.find((p) => (liveBridge === undefined || p.bridge === liveBridge) && ((live.portNo !== null && p.ofport === live.portNo && liveBridge !== undefined) || (live.name !== null && p.name === live.name)));
      }
      port ??= t.ports.find((p) => p.ifindex === ifIndex && (bridge === undefined || p.bridge === bridge));
      if (port === undefined) {
        const device = t.devices.find((d) => d.namespace === '' && d.ifindex === ifIndex);
        if (device !== undefined) port = t.ports.find((p) => p.name === device.name);
      }
      if (port !== undefined) bridge ??= port.bridge;
    }
    if (bridge === undefined) return undefined;
    if (ifIndex === IFINDEX_LOCAL) {
      const local = t.ports.find((p) => p.bridge === bridge && p.name === bridge);
      return { host, bridge, port: local?.name ?? null, ofport: local?.ofport ?? 65534 };
    }
    if (port === undefined) return { host, bridge, port: null, ofport: null };
    const out: ResolvedPort = { host, bridge, port: port.name, ofport: port.ofport };
    if (port.neutronPortId !== null) out.neutronPortId = port.neutronPortId;
    return out;
  }

  /** An ifIndex-0 port found by MAC (Interface external_ids:attached-mac or its MAC) on a bridge. */
  portByMac(host: string, bridge: string, mac: string, timeMs: number): TopoPort | undefined {
    const t = this.topologyAt(host, timeMs);
    const m = mac.toLowerCase();
    return t?.ports.find((p) => p.bridge === bridge && (p.attachedMac?.toLowerCase() === m || p.mac?.toLowerCase() === m));
  }
}
