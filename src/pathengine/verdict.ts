// Stage 6 (DESIGN.md "verdict"): a walk's trace cut into bridge visits, the branch that leads to
// the frame's destination (or to where it dies) turned into hops, those hops aligned with the
// observations of the frame, and the path's verdict and confidence.
//
// Which hops sFlow on OVS can observe (DESIGN.md "What Open vSwitch actually exports"): a bridge a
// frame enters OVS through (the start, or a br-tun receiving from a tunnel, plus the underlay
// bridge carrying the outer frame on the receiver). A patch crossing is the same datapath pass and
// is never sampled again; the hybrid-firewall leg and namespaces are invisible. With sampling 1
// every observable hop must have a sample; with 1-in-N a missing sample is expected.
import type { Disposition, RuleRef, TunnelEntry, WalkResult } from '../openflow/walk.js';
import type { HostTopology } from '../topology/model.js';
import { hop, type Hop, type LinuxDrop } from './linux-hops.js';

export type Verdict = 'delivered' | 'dropped' | 'lost' | 'incomplete';

export interface PathDrop {
  host: string;
  device: string;
  bridge: string | null;
  /** OpenFlow table number, or the iptables table / 'route'. */
  table: number | string | null;
  /** The rule as dumped: `priority=P,MATCH actions=A` (OpenFlow) or the iptables chain and rule. */
  rule: string | null;
  reason: string;
}

/** One bridge's part of a walk. */
export interface Visit {
  host: string;
  bridge: string;
  depth: number;
  via: 'start' | 'patch' | 'tunnel';
  inPort: number;
  inPortName: string | undefined;
  rules: RuleRef[];
  /** `vlan`/`tunId`: the frame as it leaves through that port. */
  outputs: { port: number; portName: string | undefined; vlan?: number | undefined; tunId?: bigint }[];
  tunnels: { port: number; portName: string; remoteIp: string; tunId: bigint; toHost: string | undefined; vlan?: number | undefined }[];
  /** Index of the visit this one was entered from (patch or tunnel); -1 for the start. */
  parent: number;
  /** Outer VID of the frame as it enters the bridge (before NORMAL's implicit tagging); undefined when untagged. */
  vlan?: number | undefined;
  /** tun_id as the frame enters (0n when none). */
  tunId?: bigint;
  /** tun_src/tun_dst as the frame enters, for a tunnel entry. */
  tunnel?: TunnelEntry | undefined;
}

/** The walk's bridge visits, each with the rules, outputs and tunnels of its own pipeline. */
export function visitsOf(result: WalkResult): Visit[] {
  const visits: Visit[] = [];
  // index in steps of a bridge step -> index in visits
  const visitAt = new Map<number, number>();
  result.steps.forEach((s, i) => {
    if (s.kind === 'bridge') {
      visitAt.set(i, visits.length);
      visits.push({
        host: s.host,
        bridge: s.bridge,
        depth: s.depth,
        via: s.via,
        inPort: s.inPort,
        inPortName: s.inPortName,
        rules: [],
        outputs: [],
        tunnels: [],
        parent: visitAt.get(s.parent) ?? -1,
        vlan: s.vlan,
        tunId: s.tunId,
        tunnel: s.tunnel,
      });
      return;
    }
    const v = visits[visitAt.get(s.visit) ?? -1];
    if (v === undefined) return;
    if (s.kind === 'rule') v.rules.push(s);
    else if (s.kind === 'output') v.outputs.push({ port: s.port, portName: s.portName, vlan: s.vlan, tunId: s.tunId });
    else if (s.kind === 'tunnel') v.tunnels.push({ port: s.port, portName: s.portName, remoteIp: s.remoteIp, tunId: s.tunId, toHost: s.toHost, vlan: s.vlan });
  });
  return visits;
}

export function ruleText(r: RuleRef): string {
  return `table=${r.table}, priority=${r.priority}${r.match === '' ? '' : `,${r.match}`} actions=${r.actions}`;
}

/** The visits from the start to visit `i`, in order. */
export function chainTo(visits: readonly Visit[], i: number): number[] {
  const out: number[] = [];
  for (let k = i; k >= 0; k = visits[k]?.parent ?? -1) {
    out.push(k);
    if (out.length > visits.length) break;
  }
  return out.reverse();
}

/** The last visit of (host, bridge) whose outputs include `port` (or any visit of it when port is undefined). */
export function visitOf(visits: readonly Visit[], d: Disposition): number {
  for (let i = visits.length - 1; i >= 0; i--) {
    const v = visits[i];
    if (v === undefined || v.host !== d.host || v.bridge !== d.bridge) continue;
    if (d.kind !== 'output' || v.outputs.some((o) => o.port === d.port)) return i;
  }
  return -1;
}

/** A VID as a hop's VLAN: none for untagged and for VID 0 (priority tag only). */
function hopVlan(vid: number | undefined): number | null {
  return vid === undefined || vid === 0 ? null : vid;
}

/**
 * The hops of a chain of visits ending at `end`: an ovs-bridge hop per visit, a patch hop between
 * patched bridges, a tunnel hop (and the receiver's underlay hop) between hosts.
 *
 * An ovs-bridge hop's VLAN is the one the frame belongs to inside the bridge: the input port's tag
 * (NORMAL's implicit tagging on an access port), else the VID it entered with, else (a frame that
 * entered untagged and was tagged by the flow tables, as br-tun does from a tunnel) the VID it
 * leaves with towards the next hop. Its tunnel id is the tun_id it entered with (a tunnel entry).
 */
export function hopsOfChain(visits: readonly Visit[], chain: readonly number[], end: Disposition | undefined, topo: (host: string) => HostTopology | undefined): Hop[] {
  const hops: Hop[] = [];
  for (let k = 0; k < chain.length; k++) {
    const v = visits[chain[k] ?? -1];
    if (v === undefined) continue;
    const next = visits[chain[k + 1] ?? -1];
    const t = topo(v.host);
    const inTag = t?.ports.find((p) => p.bridge === v.bridge && p.name === v.inPortName)?.tag ?? null;
    let outPort: string | null = null;
    if (next !== undefined && next.via === 'patch') outPort = t?.ports.find((p) => p.bridge === v.bridge && p.peer === next.inPortName)?.name ?? null;
    else if (next !== undefined && next.via === 'tunnel') outPort = v.tunnels.find((x) => x.toHost === next.host)?.portName ?? null;
    else if (end !== undefined && end.kind === 'output' && end.host === v.host && end.bridge === v.bridge) outPort = end.portName ?? String(end.port);
    else if (end !== undefined && end.kind === 'undecidable' && end.host === v.host && end.bridge === v.bridge) outPort = v.tunnels[0]?.portName ?? null;
    const leaving = next !== undefined ? next.vlan : end !== undefined && end.kind === 'output' && end.host === v.host && end.bridge === v.bridge ? end.vlan : undefined;
    const tunId = v.tunId ?? 0n;
    hops.push(hop({
      host: v.host,
      namespace: '',
      kind: 'ovs-bridge',
      device: v.bridge,
      bridge: v.bridge,
      inPort: v.inPortName ?? String(v.inPort),
      outPort,
      vlan: inTag ?? hopVlan(v.vlan) ?? hopVlan(leaving),
      tunnelId: v.via === 'tunnel' || tunId !== 0n ? Number(tunId) : null,
      remoteIp: v.tunnel?.dst ?? null,
      rules: v.rules.map(ruleText),
    }));
    if (next === undefined) {
      const dead = end !== undefined && end.kind === 'undecidable' && end.host === v.host ? v.tunnels[0] : undefined;
      if (dead !== undefined) hops.push(hop({ host: v.host, namespace: '', kind: 'tunnel', device: dead.portName, bridge: v.bridge, outPort: dead.portName, tunnelId: Number(dead.tunId), remoteIp: dead.remoteIp }));
      continue;
    }
    if (next.via === 'patch') {
      hops.push(hop({ host: v.host, namespace: '', kind: 'patch', device: `${outPort ?? '?'}=${next.inPortName ?? '?'}`, bridge: null, inPort: outPort, outPort: next.inPortName ?? null }));
    } else {
      const tun = v.tunnels.find((x) => x.toHost === next.host);
      hops.push(hop({ host: v.host, namespace: '', kind: 'tunnel', device: tun?.portName ?? '?', bridge: v.bridge, outPort: tun?.portName ?? null, tunnelId: tun === undefined ? null : Number(tun.tunId), remoteIp: tun?.remoteIp ?? null }));
      const nt = topo(next.host);
      const underlay = tun === undefined ? undefined : nt?.devices.find((d) => d.namespace === '' && d.addresses.some((a) => a.address === tun.remoteIp));
      const underlayBridge = underlay === undefined ? undefined : nt?.ports.find((p) => p.name === underlay.name)?.bridge;
      hops.push(hop({ host: next.host, namespace: '', kind: 'physical', device: underlay?.name ?? 'underlay', bridge: underlayBridge ?? null, inPort: null, outPort: next.inPortName ?? null, tunnelId: tun === undefined ? null : Number(tun.tunId), remoteIp: tun?.remoteIp ?? null, notes: [`outer ${tunnelWord(t?.ports.find((p) => p.bridge === v.bridge && p.name === tun?.portName)?.type)} frame to ${tun?.remoteIp ?? '?'}`] }));
    }
  }
  return hops;
}

/** GRE, VXLAN, Geneve... as the tunnel port's Interface.type says. */
function tunnelWord(type: string | undefined): string {
  if (type === 'gre' || type === 'ip6gre' || type === 'erspan') return 'GRE';
  if (type === 'vxlan') return 'VXLAN';
  if (type === 'geneve') return 'Geneve';
  if (type === 'stt') return 'STT';
  return 'tunnel';
}

/** The walk's drop reasons in an operator's words. */
const DROP_WORDS: Readonly<Record<string, string>> = {
  'rule': 'dropped by an OpenFlow rule',
  'no-match': 'no OpenFlow rule matched (the table has no default rule)',
  'normal-vlan': 'NORMAL switching: the frame\'s VLAN is not allowed on its input port',
  'normal-in-port': 'NORMAL switching: the destination MAC is learned on the input port',
  'normal-reserved-multicast': 'NORMAL switching: reserved multicast is not forwarded',
  'normal-no-input-port': 'NORMAL switching: the input port is not on the bridge',
  'in-port': 'output to the input port (skipped)',
  'no-such-port': 'output to a port the bridge does not have',
  'ttl-expired': 'TTL expired',
  'recursion-too-deep': 'resubmit recursion too deep',
  'too-many-resubmits': 'too many resubmits',
  'tunnel-key-mismatch': 'the receiving tunnel port does not accept this key',
  'no-output': 'the actions send the frame nowhere',
};

/**
 * What a default drop of Neutron's br-tun tables means (neutron's ovs agent: 3/4/6 tunnel → local
 * VLAN, 20/22 local VLAN → tunnel, 0 by input port, 10 learning).
 */
function neutronTunnelHint(d: Extract<Disposition, { kind: 'drop' | 'undecidable' }>): string | undefined {
  const r = d.rule;
  if (d.kind !== 'drop' || d.reason !== 'rule' || r === undefined || r.priority !== 0 || !d.bridge.startsWith('br-tun')) return undefined;
  if (r.table === 3 || r.table === 4 || r.table === 6) return 'no tunnel id → local VLAN mapping on this host (the network\'s br-tun flow is missing: not provisioned here, or removed)';
  if (r.table === 20 || r.table === 22) return 'no local VLAN → tunnel id mapping on this host (the network\'s flood/unicast-to-tunnel flow is missing)';
  if (r.table === 0) return 'the frame came from a port br-tun does not expect (neither the patch to br-int nor a tunnel)';
  return undefined;
}

export function dropOfDisposition(d: Extract<Disposition, { kind: 'drop' | 'undecidable' }>): PathDrop {
  const words = d.kind === 'drop' ? (DROP_WORDS[d.reason] ?? d.reason) : `walk undecidable (${d.reason})`;
  const hint = neutronTunnelHint(d);
  return {
    host: d.host,
    device: d.bridge,
    bridge: d.bridge,
    table: d.rule?.table ?? d.table ?? null,
    rule: d.rule === undefined ? null : ruleText(d.rule),
    reason: reasonText(hint ?? words, d.detail, d.bridge),
  };
}

/** The reason and the walk's detail, without saying the same twice ("no rule matched (no rule in table 0 matches)"). */
function reasonText(words: string, detail: string, bridge: string): string {
  const line = /^dropped by rule at line (\d+)$/.exec(detail);
  if (line !== null) return `${words} (line ${line[1]} of ${bridge}'s flow dump)`;
  const table = /^no rule in table (\d+) matches$/.exec(detail);
  if (table !== null) return `${words.replace(/ \(the table has no default rule\)$/, '')} in table ${table[1]} (the table has no default rule)`;
  return detail === '' ? words : `${words} (${detail})`;
}

export function dropOfLinux(d: LinuxDrop): PathDrop {
  return { host: d.host, device: d.device, bridge: d.bridge, table: d.table, rule: d.rule, reason: d.reason };
}

export interface ConfidenceInput {
  samplingRate: number;
  observable: number;
  observedObservable: number;
  doubts: number;
  conflict: boolean;
}

/**
 * 0..1. Sampling 1: the share of observable hops that were observed (half the weight), the rest
 * from the prediction; 1-in-N sampling: a missing sample weighs 1/N. Each doubt (undecidable
 * iptables, assumed state) takes 0.1, an observation beyond a predicted drop 0.3.
 */
export function confidence(c: ConfidenceInput): number {
  const rate = Math.max(1, c.samplingRate);
  const missing = c.observable - c.observedObservable;
  const seen = c.observable === 0 ? 0.5 : 1 - (missing / c.observable) / rate;
  let value = 0.5 + 0.5 * seen - 0.1 * c.doubts - (c.conflict ? 0.3 : 0);
  if (c.observedObservable === 0) value = Math.min(value, 0.5);
  return Math.round(Math.max(0.05, Math.min(1, value)) * 100) / 100;
}
