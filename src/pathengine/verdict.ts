// Stage 6 (DESIGN.md "verdict"): a walk's trace cut into bridge visits, the branch that leads to
// the frame's destination (or to where it dies) turned into hops, those hops aligned with the
// observations of the frame, and the path's verdict and confidence.
//
// Which hops sFlow on OVS can observe (DESIGN.md "What Open vSwitch actually exports"): a bridge a
// frame enters OVS through (the start, or a br-tun receiving from a tunnel, plus the underlay
// bridge carrying the outer frame on the receiver). A patch crossing is the same datapath pass and
// is never sampled again; the hybrid-firewall leg and namespaces are invisible. With sampling 1
// every observable hop must have a sample; with 1-in-N a missing sample is expected.
import type { Disposition, RuleRef, WalkResult } from '../openflow/walk.js';
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
  outputs: { port: number; portName: string | undefined }[];
  tunnels: { port: number; portName: string; remoteIp: string; tunId: bigint; toHost: string | undefined }[];
  /** Index of the visit this one was entered from (patch or tunnel); -1 for the start. */
  parent: number;
}

export function visitsOf(result: WalkResult): Visit[] {
  const visits: Visit[] = [];
  const stack: number[] = [];
  for (const s of result.steps) {
    if (s.kind === 'bridge') {
      while (stack.length > 0 && (visits[stack[stack.length - 1] ?? 0]?.depth ?? 0) >= s.depth) stack.pop();
      const parent = stack.length === 0 ? -1 : (stack[stack.length - 1] ?? -1);
      visits.push({ host: s.host, bridge: s.bridge, depth: s.depth, via: s.via, inPort: s.inPort, inPortName: s.inPortName, rules: [], outputs: [], tunnels: [], parent });
      stack.push(visits.length - 1);
      continue;
    }
    while (stack.length > 0) {
      const top = visits[stack[stack.length - 1] ?? 0];
      if (top !== undefined && top.host === s.host && top.bridge === s.bridge) break;
      stack.pop();
    }
    const v = visits[stack[stack.length - 1] ?? -1];
    if (v === undefined) continue;
    if (s.kind === 'rule') v.rules.push(s);
    else if (s.kind === 'output') v.outputs.push({ port: s.port, portName: s.portName });
    else if (s.kind === 'tunnel') v.tunnels.push({ port: s.port, portName: s.portName, remoteIp: s.remoteIp, tunId: s.tunId, toHost: s.toHost });
  }
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

function vlanFromRules(rules: readonly RuleRef[]): number | null {
  for (const r of rules) {
    const m = /mod_vlan_vid:(\d+)/.exec(r.actions) ?? /dl_vlan=(\d+)/.exec(r.match);
    if (m?.[1] !== undefined) return Number(m[1]);
    const tci = /vlan_tci=0x([0-9a-f]+)\/0x[01]fff/.exec(r.match);
    if (tci?.[1] !== undefined && (parseInt(tci[1], 16) & 0xfff) !== 0) return parseInt(tci[1], 16) & 0xfff;
  }
  return null;
}

/**
 * The hops of a chain of visits ending at `end`: an ovs-bridge hop per visit, a patch hop between
 * patched bridges, a tunnel hop (and the receiver's underlay hop) between hosts.
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
    const tunnelIn = v.via === 'tunnel' ? visits[v.parent]?.tunnels.find((x) => x.toHost === v.host) : undefined;
    hops.push(hop({
      host: v.host,
      namespace: '',
      kind: 'ovs-bridge',
      device: v.bridge,
      bridge: v.bridge,
      inPort: v.inPortName ?? String(v.inPort),
      outPort,
      vlan: inTag ?? vlanFromRules(v.rules),
      tunnelId: tunnelIn === undefined ? null : Number(tunnelIn.tunId),
      remoteIp: tunnelIn?.remoteIp ?? null,
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
      hops.push(hop({ host: next.host, namespace: '', kind: 'physical', device: underlay?.name ?? 'underlay', bridge: underlayBridge ?? null, inPort: null, outPort: next.inPortName ?? null, tunnelId: tun === undefined ? null : Number(tun.tunId), remoteIp: tun?.remoteIp ?? null, notes: [`outer GRE/VXLAN frame to ${tun?.remoteIp ?? '?'}`] }));
    }
  }
  return hops;
}

export function dropOfDisposition(d: Extract<Disposition, { kind: 'drop' | 'undecidable' }>): PathDrop {
  return {
    host: d.host,
    device: d.bridge,
    bridge: d.bridge,
    table: d.rule?.table ?? d.table ?? null,
    rule: d.rule === undefined ? null : ruleText(d.rule),
    reason: `${d.reason}: ${d.detail}`,
  };
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
