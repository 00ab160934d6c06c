// Stage 2 (DESIGN.md "resolve"): what an sFlow (agent address, sub-agent, ifIndex) was at a time,
// from the host topologies (versioned: the snapshot in force at that time) and from what the
// capture itself says (counter samples).
//
//   agent address → host   the host whose sFlow agent setting names it (an interface: that
//                          interface's addresses; an address: itself), else any root-namespace
//                          address of the host.
//   sub-agent → bridge     learned from counter samples: a port's record 1004 carries the
//                          datapath id of the bridge whose sub-agent polled it; matched to the
//                          topology's datapath ids. Until a counter sample names it (counters
//                          come every polling interval, 10-30 s in production, and only for ports
//                          with a kernel ifIndex: a br-tun has just its LOCAL port), learned from
//                          the flow and discard samples themselves: the bridge of their input
//                          ifIndex port, or the one bridge of the host with a tunnel port from the
//                          tunnel ingress record's outer source (a br-tun's samples all come in
//                          by a tunnel port, ifIndex 0). Counters win; among samples, the latest.
//                          Without either: the bridge of the ifIndex.
//   ifIndex → port         live map from counter samples (1004: ifIndex → datapath id + OpenFlow
//                          port, 1005: name), else the topology's Interface.ifindex / device
//                          ifindex. ifIndex 0 (patch, tunnel, netns-moved ports) and LOCAL name
//                          the bridge only (port null): the path engine finds such ports by MAC.
import type { Datagram, DiscardSample, FlowSample } from '../sflow/types.js';
import { IFINDEX_LOCAL, INTERFACE_FORMAT } from '../sflow/wire.js';
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
  /** Sub-agents without a 1004 record whose bridge came from their flow/discard samples' ports or tunnel records. */
  subAgentsFromSamples: number;
  /** ifIndexes learned from counter samples. */
  learnedIfIndexes: number;
  /** Agent addresses no host claims. */
  unknownAgents: string[];
}

/** Interface types of tunnel ports (Interface.type). */
const TUNNEL_TYPES: ReadonlySet<string> = new Set(['gre', 'vxlan', 'geneve', 'gretap', 'ip6gre', 'erspan', 'ip6erspan', 'stt', 'lisp', 'gtpu', 'bareudp', 'srv6']);
/** Sample clues remembered (agent, ifIndex or tunnel endpoints): few per host; cleared when full. */
const CLUE_CACHE_MAX = 65_536;

const UNKNOWN_AGENTS_MAX = 1000;

export class TopologyResolver implements Resolver {
  readonly #hosts = new Map<string, HostVersions>();
  /** agent address → host */
  readonly #agents = new Map<string, string>();
  /** `${agent}/${subAgent}` → datapath id (16 hex digits) */
  readonly #subAgentDpid = new ByAgent<string>();
  /** `${agent}/${subAgent}` → datapath id, from flow/discard samples (until a 1004 record says). */
  readonly #subAgentFromSamples = new ByAgent<string>();
  /** `${agent}|${clue}` → the datapath id a sample clue names (null: none or several), per topology set. */
  readonly #clues = new Map<string, string | null>();
  /** `${agent}/${ifIndex}` → { dpid, portNo, name } */
  readonly #liveIfIndex = new ByAgent<{ dpid: string | null; portNo: number | null; name: string | null }>();
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
    this.#clues.clear();
  }

  /** Forgets the versions superseded before `timeMs` (the one in force then is kept). */
  forgetBefore(timeMs: number): void {
    for (const h of this.#hosts.values()) {
      let keepFrom = 0;
      for (let i = 0; i < h.versions.length; i++) if ((h.versions[i]?.atMs ?? Infinity) <= timeMs) keepFrom = i;
      if (keepFrom > 0) h.versions.splice(0, keepFrom);
    }
  }

  /** Forgets one host's versions taken before `timeMs` (keeps at least its newest). */
  forgetHostBefore(host: string, timeMs: number): void {
    const h = this.#hosts.get(host);
    if (h === undefined) return;
    let drop = 0;
    while (drop < h.versions.length - 1 && (h.versions[drop]?.atMs ?? Infinity) < timeMs) drop++;
    if (drop > 0) h.versions.splice(0, drop);
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
    let fromSamples = 0;
    this.#subAgentFromSamples.forEach((agent, id) => {
      if (!this.#subAgentDpid.has(agent, id)) fromSamples++;
    });
    return { learnedSubAgents: this.#subAgentDpid.size, subAgentsFromSamples: fromSamples, learnedIfIndexes: this.#liveIfIndex.size, unknownAgents: [...this.#unknownAgents] };
  }

  /**
   * Learns sub-agent → datapath and ifIndex → OpenFlow port from a datagram's counter samples, and
   * sub-agent → datapath from its flow and discard samples while no counter sample named it.
   */
  learn(datagram: Datagram): void {
    // only for agents the snapshots know: the agent address is whatever a datagram says, and a
    // sender spraying addresses must not grow these maps
    if (!this.#agents.has(datagram.agent)) {
      this.#noteUnknown(datagram.agent);
      return;
    }
    const agent = datagram.agent;
    const sub = datagram.subAgentId;
    // a sub-agent's bridge, once known (from a counter sample, or a flow sample's clue), is not
    // looked for again in every flow sample (the clue keys cost a string each)
    let known = this.#subAgentDpid.has(agent, sub) || this.#subAgentFromSamples.has(agent, sub);
    for (const sample of datagram.samples) {
      if (sample.kind === 'flow' || sample.kind === 'discard') {
        if (known) continue;
        const dpid = this.#dpidOfSample(datagram.agent, sample);
        if (dpid !== undefined) {
          this.#subAgentFromSamples.set(agent, sub, dpid);
          known = true;
        }
        continue;
      }
      if (sample.kind !== 'counter') continue;
      let dpid: string | null = null;
      let portNo: number | null = null;
      let name: string | null = null;
      for (const r of sample.records) {
        if (r.kind === 'openflow_port') {
          dpid = dpidText(r.datapathId);
          portNo = r.portNo;
        } else if (r.kind === 'openflow_port_name') name = r.name;
      }
      if (dpid !== null && this.#subAgentDpid.get(agent, sub) !== dpid) this.#subAgentDpid.set(agent, sub, dpid);
      if (sample.sourceIdType === 0 && (dpid !== null || name !== null)) {
        // counters come every polling interval for every port: keep the entry unless it changed
        const was = this.#liveIfIndex.get(agent, sample.sourceIdIndex);
        if (was === undefined || was.dpid !== dpid || was.portNo !== portNo || was.name !== name) this.#liveIfIndex.set(agent, sample.sourceIdIndex, { dpid, portNo, name });
      }
    }
  }

  /**
   * The datapath id of the bridge a flow/discard sample was taken on, from what it says itself: its
   * input ifIndex port (the 1004 record of that port, else the topology's port with that ifIndex), else
   * its tunnel ingress record (the host's tunnel port whose remote_ip is the outer source, or a
   * remote_ip=flow port for the outer destination). Only a clue that names exactly one bridge.
   */
  #dpidOfSample(agent: string, sample: FlowSample | DiscardSample): string | undefined {
    const clues: string[] = [];
    // the input only: the output may be a port of a bridge patched to this one (br-ex → br-int → qvo)
    const input = sample.kind === 'flow' ? (sample.input.format === INTERFACE_FORMAT.SINGLE ? sample.input.value : 0) : sample.inputIfIndex;
    if (input !== 0 && input !== IFINDEX_LOCAL) clues.push(`i${input}`);
    for (const r of sample.records) {
      if (r.kind === 'extended_ipv4_tunnel_ingress' || r.kind === 'extended_ipv6_tunnel_ingress') clues.push(`t${r.srcIp}>${r.dstIp}`);
    }
    for (const clue of clues) {
      const cacheKey = `${agent}|${clue}`;
      let dpid = this.#clues.get(cacheKey);
      if (dpid === undefined) {
        dpid = this.#dpidOfClue(agent, clue) ?? null;
        if (this.#clues.size >= CLUE_CACHE_MAX) this.#clues.clear();
        this.#clues.set(cacheKey, dpid);
      }
      if (dpid !== null) return dpid;
    }
    return undefined;
  }

  #dpidOfClue(agent: string, clue: string): string | undefined {
    const live = clue.startsWith('i') ? this.#liveIfIndex.get(agent, Number(clue.slice(1)))?.dpid : undefined;
    if (live !== undefined && live !== null) return live;
    const host = this.#agents.get(agent);
    const versions = host === undefined ? undefined : this.#hosts.get(host)?.versions;
    if (versions === undefined) return undefined;
    for (let v = versions.length - 1; v >= 0; v--) {
      const t = versions[v]?.topology;
      if (t === undefined) continue;
      const bridges = new Set<string>();
      if (clue.startsWith('i')) {
        const ifIndex = Number(clue.slice(1));
        const device = t.devices.find((d) => d.namespace === '' && d.ifindex === ifIndex);
        for (const p of t.ports) if (p.ifindex === ifIndex || (device !== undefined && p.name === device.name)) bridges.add(p.bridge);
      } else {
        const [src, dst] = clue.slice(1).split('>');
        for (const p of t.ports) {
          if (p.remoteIp === null || !TUNNEL_TYPES.has(p.type)) continue;
          if (p.remoteIp === src || (p.remoteIp === 'flow' && (p.localIp === null || p.localIp === dst))) bridges.add(p.bridge);
        }
      }
      if (bridges.size > 1) return undefined;
      const [name] = bridges;
      const dpid = name === undefined ? null : t.bridges.find((b) => b.name === name)?.datapathId ?? null;
      if (dpid !== null) return dpid;
    }
    return undefined;
  }

  /** Agents with no snapshot, for the summary: at most UNKNOWN_AGENTS_MAX kept. */
  /** Agents whose samples came in while no snapshot names them (at most UNKNOWN_AGENTS_MAX). */
  unknownAgents(): string[] {
    return [...this.#unknownAgents];
  }

  #noteUnknown(agent: string): void {
    if (this.#unknownAgents.size < UNKNOWN_AGENTS_MAX) this.#unknownAgents.add(agent);
  }

  /** The host an agent address belongs to. */
  hostOf(agent: string): string | undefined {
    const host = this.#agents.get(agent);
    if (host === undefined) this.#noteUnknown(agent);
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

  /** The bridge of a sub-agent, when counter samples (else its flow/discard samples) named its datapath. */
  bridgeOf(agent: string, subAgentId: number, timeMs: number): string | undefined {
    const host = this.hostOf(agent);
    if (host === undefined) return undefined;
    const dpid = this.#subAgentDpid.get(agent, subAgentId) ?? this.#subAgentFromSamples.get(agent, subAgentId);
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
      const live = this.#liveIfIndex.get(agent, ifIndex);
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

/** Datapath ids as `ovs-ofctl show` prints them (16 hex digits), one string per id. */
const DPID_TEXT = new Map<bigint, string>();

function dpidText(id: bigint): string {
  let text = DPID_TEXT.get(id);
  if (text === undefined) {
    text = id.toString(16).padStart(16, '0');
    if (DPID_TEXT.size >= 4096) DPID_TEXT.clear();
    DPID_TEXT.set(id, text);
  }
  return text;
}

/**
 * Values by agent address and a number (sub-agent id, ifIndex): two map levels instead of an
 * "agent/n" string key built (and hashed) for every datagram and counter sample.
 */
class ByAgent<V> {
  readonly #agents = new Map<string, Map<number, V>>();
  #size = 0;

  get size(): number {
    return this.#size;
  }

  get(agent: string, n: number): V | undefined {
    return this.#agents.get(agent)?.get(n);
  }

  has(agent: string, n: number): boolean {
    return this.#agents.get(agent)?.has(n) === true;
  }

  set(agent: string, n: number, value: V): void {
    let inner = this.#agents.get(agent);
    if (inner === undefined) {
      inner = new Map();
      this.#agents.set(agent, inner);
    }
    if (!inner.has(n)) this.#size++;
    inner.set(n, value);
  }

  forEach(f: (agent: string, n: number, value: V) => void): void {
    for (const [agent, inner] of this.#agents) for (const [n, value] of inner) f(agent, n, value);
  }
}
