// Offline analysis (`hoptrace analyze`): a capture of sFlow datagrams and the hosts' snapshots run
// through the pipeline's stages — decode, resolve, fingerprint, correlate — then, per group of
// observations of one frame (or flow), the predicted path (the OpenFlow walk from its first
// observation, with the Linux hops around OVS), aligned with the observed hops, and a verdict.
import { DecodeError } from '../errors.js';
import type { RawSnapshot } from '../hoststate/snapshot.js';
import type { IptablesRuleset } from '../hoststate/linux/iptables-save.js';
import type { FrameSpec } from '../openflow/frame.js';
import { walk, type Disposition, type WalkResult } from '../openflow/walk.js';
import { readUdpPayloads } from '../pcap/pcap-reader.js';
import { decodeDatagram } from '../sflow/datagram.js';
import type { Datagram } from '../sflow/types.js';
import { rulesetsFromOutputs } from '../topology/build-linux.js';
import { iptablesCounterDeltas } from '../hoststate/linux/iptables-counters.js';
import type { OfFlow } from '../openflow/types.js';
import type { HostTopology } from '../topology/model.js';
import { Correlator, hopRank, type ClosedGroup, type JoinMode } from './correlate.js';
import { dnatAddresses, instanceEgress, instanceIngress, namespaceHop, namespaceOf, snatAddresses, type Hop, type LinuxFrame, type LinuxLeg, type RoutedExit } from './linux-hops.js';
import { toObservations, type Observation } from './observation.js';
import { TopologyResolver, type ResolverStats } from './resolve.js';
import { chainTo, confidence, ruleText, dropOfDisposition, dropOfLinux, hopsOfChain, visitOf, visitsOf, type PathDrop, type Verdict } from './verdict.js';
import { buildTopologyWorld, type TopologyWorld } from './world.js';

/** The path's flow, as --json prints it: the frame the Linux hops look at, without assumptions. */
/** The frame's addresses (for ARP, srcIp/dstIp are the sender and target addresses, and arpOp is set: 1 request, 2 reply). */
export type PathFlow = Omit<LinuxFrame, 'ctState'> & { arpOp?: number };

export interface AnalyzedPath {
  pathId: string;
  kind: 'frame' | 'flow';
  flow: PathFlow;
  fingerprint: string | null;
  firstSeen: string;
  lastSeen: string;
  verdict: Verdict;
  confidence: number;
  drop: PathDrop | null;
  hops: Hop[];
  observations: number;
  samplingRate: number;
  /** `ovs-appctl ofproto/trace` commands that would settle the doubtful hops (host: command). */
  checks: { host: string; command: string }[];
  doubts: string[];
  /** Hops of this path this sFlow configuration can never observe. */
  coverage: string[];
  /**
   * A frame of the reverse flow (ICMP echo reply to a request, UDP/TCP with the ports swapped; a
   * DHCP offer to a discover) seen within the answer window after this one; null when the frame
   * is not IP or not a request. A delivered request without an answer points past the network
   * (a stopped service, a firewall in the instance).
   */
  answered: boolean | null;
  /**
   * What contradicts the verdict, in words; null when nothing does. Set when the observations go
   * past the predicted drop point or sFlow reports a discard the snapshots do not predict, and by
   * markAnswers when a dropped request was answered. A conflict lowers the confidence.
   */
  conflict?: string | null;
  /** The host snapshots the path was judged by (per host, the one in force at its first observation). */
  snapshots?: SnapshotVersion[];
  /**
   * The frame's addresses on the other side of a router's NAT (SNAT, floating-IP DNAT, or the
   * un-NAT of a reply to the router's SNAT address), where `flow` has the ones before it (or, once
   * both sides are joined, the inside ones); null when no router on the path translates it.
   */
  nat?: NatSide | null;
}

/** A frame's addresses on the far side of a router's NAT. */
export interface NatSide {
  host: string;
  /** The router's namespace (qrouter-…). */
  namespace: string;
  srcIp: string;
  dstIp: string;
}

/** One host snapshot version: the host and when it was taken (ISO 8601). */
export interface SnapshotVersion {
  host: string;
  takenAt: string;
}

export interface AnalysisStats {
  pcapFrames: number;
  udpDatagrams: number;
  sflowDatagrams: number;
  decodeErrors: number;
  observations: number;
  groups: number;
  paths: number;
  byVerdict: Record<Verdict, number>;
  elapsedMs: number;
}

export interface Analysis {
  paths: AnalyzedPath[];
  stats: AnalysisStats;
  resolver: ResolverStats;
  /** Top drop points: "host device table rule" with the number of paths dying there. */
  topDrops: { where: string; paths: number }[];
  /** Every snapshot version analyzed, with the number of paths each judged (in time order per host). */
  snapshots: (SnapshotVersion & { paths: number })[];
  /** Paths whose verdict the observations or answers contradict. */
  conflicts: number;
}

export interface AnalyzeOptions {
  /** The raw snapshots the topologies came from: their iptables rulesets are evaluated on qbr hops. */
  rawSnapshots?: readonly RawSnapshot[];
  windowMs?: number;
  join?: JoinMode;
  onProgress?: (done: number, total: number) => void;
  /** How long after a request its answer may come (default 3000 ms). */
  answerWindowMs?: number;
}

export interface TimedDatagram {
  datagram: Datagram;
  receivedAtMs: number;
  exporter: string;
}

interface Context {
  world: TopologyWorld;
  resolver: TopologyResolver;
  rulesets: Map<string, Map<string, IptablesRuleset>>;
  /** The snapshot versions of this world (one per host), for the paths judged by it. */
  snapshots?: SnapshotVersion[];
}

/** Snapshot versions kept per host (the oldest go first). */
const MAX_VERSIONS_PER_HOST = 32;

/** Worlds kept built at once (a world indexes every bridge's flows; groups come in time order). */
const WORLD_CACHE = 8;

/**
 * The analysis of closed groups against the host snapshots in force at each group's time: the
 * resolver holds every host's versions; the walk's world and the iptables rulesets are those of
 * the snapshots in force at the group's first observation (built once per set of versions and
 * cached). A capture that spans a repair is judged before the repair by the snapshots taken
 * before it, and after it by the later ones. The service adds snapshots as they arrive.
 */
export class PathAnalyzer {
  readonly resolver: TopologyResolver;
  /** snapshot id → its iptables rulesets (per table). */
  readonly #rulesets = new Map<string, Map<string, IptablesRuleset>>();
  readonly #worlds = new Map<string, Context>();
  /** The last context and the time span over which the same versions are in force. */
  #last: { from: number; to: number; ctx: Context } | undefined;

  constructor(topologies: readonly HostTopology[] = [], rawSnapshots: readonly RawSnapshot[] = []) {
    this.resolver = new TopologyResolver(topologies);
    for (const raw of rawSnapshots) this.#rulesets.set(snapshotKey(raw.host, raw.takenAt), rulesetsFromOutputs(raw.outputs));
  }

  /** A host snapshot that arrived (and the raw outputs its iptables rulesets come from). */
  addSnapshot(topology: HostTopology, raw?: RawSnapshot): void {
    this.resolver.add(topology);
    // bounded: a host's oldest versions go past MAX_VERSIONS_PER_HOST (an agent sends one every 30 s)
    const versions = this.resolver.versions().find((h) => h.host === topology.host)?.topologies ?? [];
    if (versions.length > MAX_VERSIONS_PER_HOST) {
      const keepFrom = versions[versions.length - MAX_VERSIONS_PER_HOST];
      if (keepFrom !== undefined) {
        this.resolver.forgetHostBefore(topology.host, Date.parse(keepFrom.takenAt));
        for (const old of versions.slice(0, versions.length - MAX_VERSIONS_PER_HOST)) this.#rulesets.delete(snapshotKey(old.host, old.takenAt));
      }
    }
    if (raw !== undefined) this.#rulesets.set(snapshotKey(raw.host, raw.takenAt), rulesetsFromOutputs(raw.outputs));
    this.#worlds.clear();
    this.#last = undefined;
  }

  /** Forgets snapshots superseded before `timeMs` (the service calls this as the watermark moves). */
  forgetBefore(timeMs: number): void {
    const count = (): number => this.resolver.versions().reduce((n, h) => n + h.topologies.length, 0);
    const before = count();
    this.resolver.forgetBefore(timeMs);
    if (count() === before) return; // nothing forgotten: the cached worlds still hold
    const kept = new Set<string>();
    for (const h of this.resolver.versions()) for (const t of h.topologies) kept.add(snapshotKey(t.host, t.takenAt));
    for (const key of this.#rulesets.keys()) if (!kept.has(key)) this.#rulesets.delete(key);
    this.#worlds.clear();
    this.#last = undefined;
  }

  /** Hosts with at least one snapshot. */
  hosts(): string[] {
    return this.resolver.versions().map((h) => h.host);
  }

  analyze(group: ClosedGroup): AnalyzedPath {
    const path = analyzeGroup(group, this.contextAt(group.firstSeen));
    if (path.drop !== null) this.#counterEvidence(path, group.firstSeen);
    return path;
  }

  /**
   * Counters as evidence at the drop point: the packet counter of the dropping OpenFlow rule (or
   * iptables rule) in the snapshot in force and in the next one (the frames died between them),
   * else in the one before (the rule was dropping before this snapshot). A note on the drop hop;
   * a counter that did not move across the frame's time is a doubt.
   */
  #counterEvidence(path: AnalyzedPath, timeMs: number): void {
    const drop = path.drop;
    if (drop === null) return;
    const versions = this.resolver.versions().find((h) => h.host === drop.host)?.topologies ?? [];
    let i = -1;
    for (let k = 0; k < versions.length; k++) if (Date.parse(versions[k]?.takenAt ?? '') <= timeMs) i = k;
    const across = i >= 0 && i + 1 < versions.length;
    const pair = across ? [versions[i], versions[i + 1]] : i >= 1 ? [versions[i - 1], versions[i]] : undefined;
    const before = pair?.[0];
    const after = pair?.[1];
    if (before === undefined || after === undefined) return;
    let packets: bigint | undefined;
    let what = '';
    if (typeof drop.table === 'number' && drop.bridge !== null && drop.rule !== null) {
      const find = (t: HostTopology): bigint | undefined => t.flows.find((f) => f.bridge === drop.bridge)?.flows.find((f) => f.table === drop.table && ruleTextOf(f) === drop.rule)?.nPackets;
      const a = find(before);
      const b = find(after);
      if (a === undefined || b === undefined) return;
      packets = b >= a ? b - a : b;
      what = `${drop.bridge} table ${drop.table} rule n_packets ${a} → ${b}`;
    } else if (drop.table === 'filter' && drop.rule !== null) {
      const rb = this.#rulesets.get(snapshotKey(before.host, before.takenAt))?.get('');
      const ra = this.#rulesets.get(snapshotKey(after.host, after.takenAt))?.get('');
      if (rb === undefined || ra === undefined) return;
      const chain = drop.rule.split(' ')[0] ?? '';
      const text = /: (.*)$/.exec(drop.rule)?.[1] ?? null;
      const moved = iptablesCounterDeltas(rb, ra).find((d) => d.chain === chain && (text === null ? d.text === null : d.text === text));
      packets = moved?.packets ?? 0n;
      what = `iptables ${chain}${text === null ? ' policy' : ' rule'} packets`;
    } else return;
    const span = `between the snapshots of ${before.takenAt} and ${after.takenAt}`;
    const last = path.hops[path.hops.length - 1];
    const note = `counter evidence: ${what}: +${packets} ${span}${across ? ' (the frame passed in between)' : ' (before this frame: the rule was already dropping)'}`;
    if (last !== undefined) (last.notes ??= []).push(note);
    if (packets === 0n && across) path.doubts.push(`the dropping rule's counter did not move ${span}, though this frame was seen dying there in between: check the rule with the ofproto/trace command`);
  }

  /** The world, resolver and rulesets of the snapshots in force at a time. */
  contextAt(timeMs: number): Context {
    // groups come in time order: the last context holds until a host's next version
    const last = this.#last;
    if (last !== undefined && timeMs >= last.from && timeMs < last.to) return last.ctx;
    const ctx = this.#contextAt(timeMs);
    let from = Number.NEGATIVE_INFINITY;
    let to = Number.POSITIVE_INFINITY;
    for (const h of this.resolver.versions()) {
      for (let i = 0; i < h.topologies.length; i++) {
        const at = Date.parse(h.topologies[i]?.takenAt ?? '');
        if (at <= timeMs) from = i === 0 ? from : Math.max(from, at);
        else {
          to = Math.min(to, at);
          break;
        }
      }
    }
    this.#last = { from, to, ctx };
    return ctx;
  }

  #contextAt(timeMs: number): Context {
    const inForce = this.resolver.inForceAt(timeMs);
    const key = inForce.map((t) => snapshotKey(t.host, t.takenAt)).join('|');
    const cached = this.#worlds.get(key);
    if (cached !== undefined) return cached;
    const rulesets = new Map<string, Map<string, IptablesRuleset>>();
    for (const t of inForce) {
      const r = this.#rulesets.get(snapshotKey(t.host, t.takenAt));
      if (r !== undefined) rulesets.set(t.host, r);
    }
    const snapshots = inForce.map((t) => ({ host: t.host, takenAt: new Date(Date.parse(t.takenAt)).toISOString() })).sort((a, b) => a.host.localeCompare(b.host));
    const ctx: Context = { world: buildTopologyWorld(inForce), resolver: this.resolver, rulesets, snapshots };
    if (this.#worlds.size >= WORLD_CACHE) {
      const oldest = this.#worlds.keys().next().value;
      if (oldest !== undefined) this.#worlds.delete(oldest);
    }
    this.#worlds.set(key, ctx);
    return ctx;
  }
}

/** A dumped flow as the rules a path visited are printed. */
function ruleTextOf(f: OfFlow): string {
  return ruleText({ table: f.table, priority: f.priority, cookie: f.cookie, match: f.matchText, actions: f.actionsText, line: 0 });
}

function snapshotKey(host: string, takenAt: string): string {
  return `${host}@${Date.parse(takenAt)}`;
}

/** Decodes the sFlow datagrams of a pcap/pcapng capture (any UDP port); bad datagrams are counted. */
export function readCapture(bytes: Uint8Array, source: string): { datagrams: TimedDatagram[]; pcapFrames: number; udp: number; decodeErrors: number; errors: string[]; cutShort?: string } {
  // a capture cut short (copied while written, disk full) is read up to its last whole record
  const packets = readUdpPayloads(bytes, source, { cutShort: 'stop' });
  const datagrams: TimedDatagram[] = [];
  let decodeErrors = 0;
  const errors: string[] = [];
  for (const p of packets) {
    try {
      datagrams.push({ datagram: decodeDatagram(p.payload), receivedAtMs: p.timestampMs, exporter: p.srcIp });
    } catch (error) {
      if (!(error instanceof DecodeError)) throw error;
      decodeErrors++;
      if (errors.length < 10) errors.push(`${source} frame ${p.frame}: ${error.message}`);
    }
  }
  const cut = packets.cutShort;
  return { datagrams, pcapFrames: packets.counts.frames, udp: packets.counts.udp, decodeErrors, errors, ...(cut === undefined ? {} : { cutShort: cut.message }) };
}

export function analyzeCapture(bytes: Uint8Array, source: string, topologies: readonly HostTopology[], options: AnalyzeOptions = {}): Analysis {
  const t0 = performance.now();
  const capture = readCapture(bytes, source);
  const analysis = analyzeDatagrams(capture.datagrams, topologies, options);
  analysis.stats.pcapFrames = capture.pcapFrames;
  analysis.stats.udpDatagrams = capture.udp;
  analysis.stats.decodeErrors = capture.decodeErrors;
  analysis.stats.elapsedMs = Math.round(performance.now() - t0);
  return analysis;
}

export function analyzeDatagrams(datagrams: readonly TimedDatagram[], topologies: readonly HostTopology[], options: AnalyzeOptions = {}): Analysis {
  const t0 = performance.now();
  const analyzer = new PathAnalyzer(topologies, options.rawSnapshots ?? []);
  const resolver = analyzer.resolver;
  for (const d of datagrams) resolver.learn(d.datagram);
  const correlator = new Correlator({ resolver, ...(options.windowMs === undefined ? {} : { windowMs: options.windowMs }), ...(options.join === undefined ? {} : { join: options.join }) });
  const ordered = [...datagrams].sort((a, b) => a.receivedAtMs - b.receivedAtMs);
  let observations = 0;
  const groups: ClosedGroup[] = [];
  for (const d of ordered) {
    for (const o of toObservations(d.datagram, { receivedAtMs: d.receivedAtMs, exporter: d.exporter })) {
      observations++;
      correlator.add(o);
    }
    groups.push(...correlator.takeClosed());
  }
  groups.push(...correlator.flush());
  groups.sort((a, b) => a.firstSeen - b.firstSeen);
  const paths: AnalyzedPath[] = [];
  for (let i = 0; i < groups.length; i++) {
    const g = groups[i];
    if (g !== undefined) paths.push(analyzer.analyze(g));
    options.onProgress?.(i + 1, groups.length);
  }
  const joined = joinNatLegs(paths);
  paths.length = 0;
  paths.push(...joined);
  markAnswers(paths, options.answerWindowMs ?? 3000);
  const byVerdict: Record<Verdict, number> = { delivered: 0, dropped: 0, lost: 0, incomplete: 0 };
  for (const p of paths) byVerdict[p.verdict]++;
  const drops = new Map<string, number>();
  for (const p of paths) {
    if (p.drop === null) continue;
    // "network1 br-tun table 3: priority=0 actions=drop" (the rule's own table= is not repeated)
    const where = `${p.drop.host} ${p.drop.device}${p.drop.table === null ? '' : ` table ${p.drop.table}`}${p.drop.rule === null ? '' : `: ${p.drop.rule.replace(/^table=\d+, /, '')}`}`;
    drops.set(where, (drops.get(where) ?? 0) + 1);
  }
  const used = new Map<string, number>();
  for (const p of paths) for (const v of p.snapshots ?? []) used.set(snapshotKey(v.host, v.takenAt), (used.get(snapshotKey(v.host, v.takenAt)) ?? 0) + 1);
  const snapshots: Analysis['snapshots'] = [];
  for (const h of resolver.versions()) {
    for (const t of [...h.topologies].sort((a, b) => Date.parse(a.takenAt) - Date.parse(b.takenAt))) {
      snapshots.push({ host: h.host, takenAt: new Date(Date.parse(t.takenAt)).toISOString(), paths: used.get(snapshotKey(h.host, t.takenAt)) ?? 0 });
    }
  }
  snapshots.sort((a, b) => a.host.localeCompare(b.host) || Date.parse(a.takenAt) - Date.parse(b.takenAt));
  return {
    paths,
    snapshots,
    conflicts: paths.filter((p) => p.conflict !== null && p.conflict !== undefined).length,
    stats: { pcapFrames: 0, udpDatagrams: datagrams.length, sflowDatagrams: datagrams.length, decodeErrors: 0, observations, groups: groups.length, paths: paths.length, byVerdict, elapsedMs: Math.round(performance.now() - t0) },
    resolver: resolver.stats,
    topDrops: [...drops].map(([where, n]) => ({ where, paths: n })).sort((a, b) => b.paths - a.paths).slice(0, 10),
  };
}

// ---------- answers ----------

const unspecified = (ip: string | null): boolean => ip === null || ip === '0.0.0.0' || ip.endsWith('.255');

function isRequest(f: PathFlow): boolean {
  // an ARP request for another address (not a gratuitous announcement)
  if (f.arpOp !== undefined) return f.arpOp === 1 && f.srcIp !== null && f.dstIp !== null && f.srcIp !== f.dstIp && f.srcIp !== '0.0.0.0';
  if (f.srcIp === null || f.dstIp === null || f.ipProtocol === null) return false;
  if (f.ipProtocol === 1) return f.icmpType === 8;
  // the client's port is the higher one (ephemeral, or DHCP's 68 to 67)
  return (f.ipProtocol === 6 || f.ipProtocol === 17) && f.srcPort !== null && f.dstPort !== null && f.dstPort < f.srcPort;
}

function answers(reply: PathFlow, request: PathFlow): boolean {
  if (request.arpOp !== undefined) return reply.arpOp === 2 && reply.srcIp === request.dstIp && reply.dstIp === request.srcIp;
  if (reply.arpOp !== undefined || reply.ipProtocol !== request.ipProtocol) return false;
  if (request.ipProtocol === 1) {
    if (reply.icmpType !== 0) return false;
  } else if (reply.srcPort !== request.dstPort || reply.dstPort !== request.srcPort) return false;
  const fromServer = reply.srcIp === request.dstIp || unspecified(request.dstIp);
  const toClient = reply.dstIp === request.srcIp || unspecified(request.srcIp) || unspecified(reply.dstIp);
  return fromServer && toClient;
}

/** The conflict markAnswers sets on a dropped request that was answered. */
export const ANSWERED_CONFLICT = 'dropped, yet answered';

/**
 * A request judged dropped whose answer was seen got through after all: the snapshot its verdict
 * rests on is not the configuration the frame met (taken before a repair, or after a break, or a
 * change between snapshots). Marks the path (conflict, a doubt saying what to do, lower
 * confidence); a path already marked is left as it is, so calling this again changes nothing.
 */
export function markAnsweredConflict(p: AnalyzedPath): void {
  if (p.verdict !== 'dropped' || p.answered !== true || (p.conflict ?? '').startsWith(ANSWERED_CONFLICT)) return;
  const d = p.drop;
  const at = d === null ? 'the drop point' : `${d.host} ${d.device}${d.table === null ? '' : ` table ${d.table}`}`;
  const used = p.snapshots?.find((v) => v.host === d?.host);
  const snapshot = used === undefined ? (d === null ? 'the snapshots' : `the snapshot of ${d.host}`) : `the snapshot of ${used.host} taken ${used.takenAt}`;
  p.conflict = `${ANSWERED_CONFLICT}: the answer came back, so the request got past ${at}`;
  p.doubts.push(`${ANSWERED_CONFLICT}: ${snapshot} predicts the drop, but the answer was seen; that snapshot is probably not what was in force (a repair or change between snapshots): analyze with a snapshot taken at the traffic's time (--snapshots with every version, or --at), or check the rule with the ofproto/trace below`);
  p.confidence = Math.max(0.05, Math.round((p.confidence - 0.3) * 100) / 100);
}

/**
 * How much earlier than its request an answer may be first seen. firstSeen is when the collector
 * received the sample, and OVS's sFlow agent sends its samples about once a second per host: the
 * reply's datagram (from the answering host) can reach the collector before the request's.
 */
export const ANSWER_SKEW_MS = 1500;

/**
 * Sets `answered` on request-like paths (paths are in firstSeen order): a frame of the reverse flow
 * first seen from `skewMs` before the request to `windowMs` after it. Between frame paths
 * (sampling 1) each answer answers one request (the earliest not yet answered that it fits), so a
 * lost request between answered ones stays unanswered; flow paths (1-in-N) share answers. Marks
 * the dropped requests that were answered all the same (markAnsweredConflict).
 */
export function markAnswers(paths: AnalyzedPath[], windowMs: number, skewMs: number = ANSWER_SKEW_MS): void {
  const times = paths.map((p) => Date.parse(p.firstSeen));
  // the possible answers by what they answer (a request looks up its key and checks each candidate
  // with answers()): linear in the paths, where a scan of every path in the window was quadratic
  // on a busy capture (one iperf flow: tens of thousands of frames within the window)
  // (a path through a router's NAT is looked up, and looks, by the addresses of both sides: the
  // translated request's answer may be a path shown with the inside addresses, and the other way)
  const byKey = new Map<string, { at: number[]; head: number }>();
  paths.forEach((p, j) => {
    for (const f of identities(p)) {
      for (const key of answerKeys(f)) {
        const bucket = byKey.get(key);
        if (bucket === undefined) byKey.set(key, { at: [j], head: 0 });
        else if (bucket.at[bucket.at.length - 1] !== j) bucket.at.push(j);
      }
    }
  });
  const claimed = new Set<number>();
  for (let i = 0; i < paths.length; i++) {
    const p = paths[i];
    if (p === undefined || !isRequest(p.flow)) continue;
    const t = times[i] ?? 0;
    let found = false;
    const mine = identities(p);
    for (let ri = 0; ri < mine.length && !found; ri++) {
      const request = mine[ri] as PathFlow;
      const bucket = byKey.get(requestKey(request));
      if (bucket === undefined) continue;
      const at = bucket.at;
      // requests come in time order: what is too early at the head stays so (and what is claimed,
      // for the paths' own addresses)
      while (bucket.head < at.length && ((times[at[bucket.head] ?? 0] ?? 0) < t - skewMs || (ri === 0 && claimed.has(at[bucket.head] ?? -1)))) bucket.head++;
      for (let k = bucket.head; k < at.length; k++) {
        const j = at[k] ?? -1;
        if ((times[j] ?? 0) > t + windowMs) break;
        const q = paths[j];
        if (j === i || q === undefined || (times[j] ?? 0) < t - skewMs) continue;
        const theirs = identities(q);
        const qi = theirs.findIndex((reply) => answers(reply, request));
        if (qi < 0) continue;
        // an answer answers one frame by the paths' own addresses; by a NAT side it answers the
        // same frame seen on the other side of the router (not joined), so it is not used up
        if (p.kind === 'frame' && q.kind === 'frame' && ri === 0 && qi === 0) {
          if (claimed.has(j)) continue;
          claimed.add(j);
        }
        found = true;
        break;
      }
    }
    // answers only grow: a path once answered stays answered when called again on a shorter list
    p.answered = found || p.answered === true;
    if (found && p.kind === 'flow') {
      const stale = p.doubts.findIndex((d) => d.startsWith(NO_ANSWER_SAMPLED));
      if (stale >= 0) p.doubts.splice(stale, 1);
    }
    if (!p.answered && !answerExpected(p)) {
      // too thinly sampled to tell: the answer's frames may just not have been sampled
      p.answered = null;
      const need = lostMinSamples([p.samplingRate], p.samplingRate);
      const doubt = `${NO_ANSWER_SAMPLED}, but ${p.observations} sample${p.observations === 1 ? '' : 's'} of the request at 1-in-${p.samplingRate} cannot tell (the answer's would be missed by chance; ${need} needed)`;
      if (!p.doubts.includes(doubt)) p.doubts.push(doubt);
    }
    markAnsweredConflict(p);
  }
}

const NO_ANSWER_SAMPLED = 'no answer sampled';

/**
 * Would this request's answer have been sampled? Always for frames (sampling 1); for a flow
 * sampled 1 in N, when it has as many samples as it takes for an answer of the same size, crossing
 * as many sampling hops at the same rate, to go unsampled by chance at most LOST_MAX_CHANCE of the
 * time (2^-samples: 10).
 */
function answerExpected(p: AnalyzedPath): boolean {
  return p.kind !== 'flow' || p.samplingRate <= 1 || p.observations >= lostMinSamples([p.samplingRate], p.samplingRate);
}

/** The flow of a path, and through a router's NAT also the same flow with the other side's addresses. */
function identities(p: AnalyzedPath): PathFlow[] {
  const n = p.nat;
  if (n === null || n === undefined) return [p.flow];
  return [p.flow, { ...p.flow, srcIp: n.srcIp, dstIp: n.dstIp }];
}

/** The keys a path can be found under as an answer (see requestKey). */
function answerKeys(f: PathFlow): string[] {
  if (f.arpOp !== undefined) return f.arpOp === 2 ? [`a|${f.srcIp ?? ''}|${f.dstIp ?? ''}`] : [];
  if (f.ipProtocol === 1) return f.icmpType === 0 ? [`1|${f.srcIp ?? ''}|${f.dstIp ?? ''}`, `1|*|${f.dstIp ?? ''}`] : [];
  if ((f.ipProtocol === 6 || f.ipProtocol === 17) && f.srcPort !== null && f.dstPort !== null) return [`${f.ipProtocol}|${f.srcPort}|${f.dstPort}`];
  return [];
}

/** Where a request's answers are: its reverse addresses (ICMP, ARP), its reverse ports (TCP, UDP; answers() checks the addresses). */
function requestKey(f: PathFlow): string {
  if (f.arpOp !== undefined) return `a|${f.dstIp ?? ''}|${f.srcIp ?? ''}`;
  if (f.ipProtocol === 1) return unspecified(f.dstIp) ? `1|*|${f.srcIp ?? ''}` : `1|${f.dstIp ?? ''}|${f.srcIp ?? ''}`;
  return `${f.ipProtocol ?? ''}|${f.dstPort ?? ''}|${f.srcPort ?? ''}`;
}

// ---------- one group ----------

const EMPTY = { devices: [] } as unknown as HostTopology;

function isGroupAddress(mac: string | null): boolean {
  if (mac === null) return false;
  return (parseInt(mac.slice(0, 2), 16) & 1) === 1;
}

function frameSpecOf(o: Observation): FrameSpec {
  const s: FrameSpec = {};
  if (o.srcMac !== null) s.dl_src = o.srcMac;
  if (o.dstMac !== null) s.dl_dst = o.dstMac;
  if (o.etherType !== null) s.dl_type = o.etherType;
  if (o.vlanId !== null && o.vlanId !== 0) s.vlan = o.vlanId;
  if (o.etherType === 0x0806) {
    if (o.arpOperation !== null) s.arp_op = o.arpOperation;
    if (o.arpSenderIp !== null) s.arp_spa = o.arpSenderIp;
    if (o.arpTargetIp !== null) s.arp_tpa = o.arpTargetIp;
    if (o.arpSenderMac !== null) s.arp_sha = o.arpSenderMac;
    if (o.arpTargetMac !== null) s.arp_tha = o.arpTargetMac;
    return s;
  }
  if (o.srcIp !== null) s.nw_src = o.srcIp;
  if (o.dstIp !== null) s.nw_dst = o.dstIp;
  if (o.ipProtocol !== null) s.nw_proto = o.ipProtocol;
  if (o.tos !== null) s.nw_tos = o.tos;
  if (o.ttl !== null) s.nw_ttl = o.ttl;
  if (o.icmpType !== null) s.icmp_type = o.icmpType;
  if (o.icmpCode !== null) s.icmp_code = o.icmpCode;
  if (o.srcPort !== null) s.tp_src = o.srcPort;
  if (o.dstPort !== null) s.tp_dst = o.dstPort;
  return s;
}

/** The frame written the way ovs-appctl ofproto/trace takes it. */
export function flowTextOf(spec: FrameSpec, extra: string[] = [], vlan: number | undefined = spec.vlan): string {
  const parts: string[] = [...extra];
  const proto = spec.dl_type === 0x0806 ? 'arp' : spec.nw_proto === 1 ? 'icmp' : spec.nw_proto === 6 ? 'tcp' : spec.nw_proto === 17 ? 'udp' : spec.dl_type === 0x0800 ? 'ip' : undefined;
  if (proto !== undefined) parts.push(proto);
  else if (spec.dl_type !== undefined && spec.dl_type !== 0) parts.push(`dl_type=0x${spec.dl_type.toString(16).padStart(4, '0')}`);
  if (vlan !== undefined) parts.push(`dl_vlan=${vlan}`);
  if (spec.dl_src !== undefined) parts.push(`dl_src=${spec.dl_src}`);
  if (spec.dl_dst !== undefined) parts.push(`dl_dst=${spec.dl_dst}`);
  if (spec.nw_src !== undefined) parts.push(`nw_src=${spec.nw_src}`);
  if (spec.nw_dst !== undefined) parts.push(`nw_dst=${spec.nw_dst}`);
  if (spec.arp_spa !== undefined) parts.push(`arp_spa=${spec.arp_spa}`);
  if (spec.arp_tpa !== undefined) parts.push(`arp_tpa=${spec.arp_tpa}`);
  if (spec.arp_op !== undefined) parts.push(`arp_op=${spec.arp_op}`);
  if (spec.nw_proto === 1) {
    if (spec.icmp_type !== undefined) parts.push(`icmp_type=${spec.icmp_type}`);
    if (spec.icmp_code !== undefined) parts.push(`icmp_code=${spec.icmp_code}`);
  } else {
    if (spec.tp_src !== undefined) parts.push(`tp_src=${spec.tp_src}`);
    if (spec.tp_dst !== undefined) parts.push(`tp_dst=${spec.tp_dst}`);
  }
  return parts.join(',');
}

function ctStateGuess(o: Observation): NonNullable<LinuxFrame['ctState']> {
  if (o.ipProtocol === 1) return o.icmpType === 0 || o.icmpType === 3 || o.icmpType === 11 ? 'ESTABLISHED' : 'NEW';
  if (o.ipProtocol === 6) return o.tcpFlags !== null && (o.tcpFlags & 0x12) === 0x02 ? 'NEW' : 'ESTABLISHED';
  if (o.ipProtocol === 17) return o.srcPort === 67 || o.srcPort === 53 ? 'ESTABLISHED' : 'NEW';
  return 'unknown';
}

function linuxFrameOf(o: Observation): LinuxFrame {
  return { srcMac: o.srcMac, dstMac: o.dstMac, srcIp: o.srcIp, dstIp: o.dstIp, ipProtocol: o.ipProtocol, srcPort: o.srcPort, dstPort: o.dstPort, icmpType: o.icmpType, ctState: ctStateGuess(o) };
}

interface Where {
  host: string;
  bridge: string;
}

function whereOf(o: Observation, ctx: Context): Where | undefined {
  const p = o.inputPort ?? o.outputPort;
  if (p !== null) return { host: p.host, bridge: p.bridge };
  const host = ctx.resolver.hostOf(o.agent);
  if (host === undefined) return undefined;
  const bridge = ctx.resolver.bridgeOf(o.agent, o.subAgentId, o.receivedAtMs);
  return bridge === undefined ? undefined : { host, bridge };
}

interface Start {
  obs: Observation;
  where: Where;
  inPort: string | number;
  spec: FrameSpec;
  extra: string[];
}

function startOf(group: ClosedGroup, ctx: Context, doubts: string[]): Start | undefined {
  const candidates = [...group.observations.filter((o) => hopRank(o) === 0), ...group.observations.filter((o) => hopRank(o) === 2)];
  for (const obs of candidates) {
    const where = whereOf(obs, ctx);
    if (where === undefined) continue;
    const spec = frameSpecOf(obs);
    const extra: string[] = [];
    let inPort: string | number | undefined;
    if (obs.inKind === 'local') inPort = 65534;
    else if (obs.inputPort?.port !== null && obs.inputPort?.port !== undefined) inPort = obs.inputPort.port;
    else if (hopRank(obs) === 2) {
      const t = ctx.resolver.topologyAt(where.host, obs.receivedAtMs);
      const tunnel = t?.ports.find((p) => p.bridge === where.bridge && p.remoteIp === obs.tunnelIngressSrc);
      if (tunnel !== undefined) inPort = tunnel.name;
      const vni = obs.tunnelId ?? obs.tunnelIngressVni;
      if (vni !== null) {
        spec.tun_id = vni;
        extra.push(`tun_id=0x${vni.toString(16)}`);
      }
      if (obs.tunnelIngressSrc !== null) spec.tun_src = obs.tunnelIngressSrc;
      if (obs.tunnelIngressDst !== null) spec.tun_dst = obs.tunnelIngressDst;
    } else if (obs.srcMac !== null) {
      inPort = ctx.resolver.portByMac(where.host, where.bridge, obs.srcMac, obs.receivedAtMs)?.name;
    }
    if (inPort === undefined) {
      doubts.push(`input port of the sample on ${where.host}/${where.bridge} (ifIndex ${obs.inIfIndex}) not found in the topology`);
      continue;
    }
    return { obs, where, inPort, spec, extra };
  }
  // only the receiver's underlay bridge saw it (the outer tunnel frame): no bridge port to start from
  const outer = candidates.length === 0 ? group.observations.find((o) => hopRank(o) === 1) : undefined;
  const at = outer === undefined ? undefined : whereOf(outer, ctx);
  if (outer !== undefined && at !== undefined) {
    doubts.push(`only the outer tunnel frame was sampled, on ${at.host}/${at.bridge} (${outer.encapsulation} ${outer.outerSrcIp ?? '?'} → ${outer.outerDstIp ?? '?'}${outer.tunnelId === null ? '' : ` key 0x${outer.tunnelId.toString(16)}`}): a path starts where the frame enters a bridge, and the samples of the bridges it crossed are missing (capture cut short, or their datagrams lost)`);
  }
  return undefined;
}

/** Is this output disposition the frame's destination? */
function reaches(d: Extract<Disposition, { kind: 'output' }>, o: Observation, ctx: Context): boolean {
  return reachesTarget(d, o.dstMac, o.dstIp ?? o.arpTargetIp, ctx);
}

function reachesTarget(d: Extract<Disposition, { kind: 'output' }>, dstMac: string | null, target: string | null, ctx: Context): boolean {
  const t = ctx.world.topology(d.host);
  if (t === undefined || d.portName === undefined) return false;
  const mac = dstMac?.toLowerCase();
  const port = t.ports.find((p) => p.bridge === d.bridge && p.name === d.portName);
  if (mac !== undefined && (port?.attachedMac?.toLowerCase() === mac || port?.mac?.toLowerCase() === mac)) return true;
  const dev = t.devices.find((x) => x.name === d.portName);
  if (dev !== undefined && mac !== undefined && dev.mac?.toLowerCase() === mac) return true;
  if (target !== null && dev !== undefined && dev.addresses.some((a) => a.address === target)) return true;
  return false;
}

/** A walk's dispositions sorted out: where it delivered, died, or could not go on, and the deepest of a kind. */
interface WalkOutcome {
  visits: ReturnType<typeof visitsOf>;
  outputs: Extract<Disposition, { kind: 'output' }>[];
  /** Real drops (not the skipped output to the input port). */
  drops: Extract<Disposition, { kind: 'drop' }>[];
  /** Out of a tunnel to an address no host of the snapshots owns. */
  missingHost: Extract<Disposition, { kind: 'undecidable' }>[];
  otherUndecidable: Extract<Disposition, { kind: 'undecidable' }>[];
  /** The one of `list` with the longest chain of bridges behind it. */
  longest<T extends Disposition>(list: T[]): T | undefined;
}

function outcomeOf(result: WalkResult): WalkOutcome {
  const visits = visitsOf(result);
  const chainLength = (d: Disposition): number => chainTo(visits, visitOf(visits, d)).length;
  return {
    visits,
    outputs: result.dispositions.filter((d): d is Extract<Disposition, { kind: 'output' }> => d.kind === 'output'),
    drops: result.dispositions.filter((d): d is Extract<Disposition, { kind: 'drop' }> => d.kind === 'drop' && d.reason !== 'in-port' && d.reason !== 'normal-in-port'),
    missingHost: result.dispositions.filter((d): d is Extract<Disposition, { kind: 'undecidable' }> => d.kind === 'undecidable' && d.reason === 'missing-host'),
    otherUndecidable: result.dispositions.filter((d): d is Extract<Disposition, { kind: 'undecidable' }> => d.kind === 'undecidable' && d.reason !== 'missing-host'),
    longest: (list) => [...list].sort((a, b) => chainLength(b) - chainLength(a))[0],
  };
}

/** Namespaces a path is followed through, one after the other (router → router ...). */
const MAX_ROUTED_LEGS = 3;

interface RoutedLeg {
  hops: Hop[];
  /** The frame each hop saw, for its ofproto/trace check (undefined: not an OVS bridge hop). */
  specs: (FrameSpec | undefined)[];
  drop: PathDrop | null;
  doubts: string[];
}

/**
 * The walk on from a routing namespace: the routed frame (the out device's MAC, the next hop's MAC
 * from the namespace's neighbour table, TTL − 1, addresses after NAT) enters the bridge its out
 * device is a port of (qg- → br-ex, qr- → br-int), and on from there, into the next namespace or
 * instance when it gets to one.
 */
function routedLeg(ctx: Context, exit: RoutedExit, base: FrameSpec, frame: LinuxFrame, depth: number): RoutedLeg {
  const leg: RoutedLeg = { hops: [], specs: [], drop: null, doubts: [] };
  const t = ctx.world.topology(exit.host);
  const port = t?.ports.find((p) => p.name === exit.device);
  if (t === undefined || port === undefined) return leg;
  if (exit.dstMac === null) {
    leg.doubts.push(`no neighbour entry for ${exit.nextHop} on ${exit.device} in ${exit.namespace} on ${exit.host}: the router resolves it by ARP before the frame leaves, so the walk stops at the router (ip netns exec ${exit.namespace} ip neigh show ${exit.nextHop})`);
    return leg;
  }
  const { tun_id: _tunId, tun_src: _tunSrc, tun_dst: _tunDst, vlan: _vlan, ...rest } = base;
  const spec: FrameSpec = rest;
  spec.dl_dst = exit.dstMac;
  if (exit.srcMac !== null) spec.dl_src = exit.srcMac;
  spec.nw_src = exit.srcIp;
  spec.nw_dst = exit.dstIp;
  if (spec.nw_ttl !== undefined) spec.nw_ttl = Math.max(0, spec.nw_ttl - 1);
  const result = walk(ctx.world, { host: exit.host, bridge: port.bridge, inPort: exit.device, frame: spec });
  const { visits, outputs, drops, missingHost, otherUndecidable, longest } = outcomeOf(result);
  let end: Disposition | undefined = longest(outputs.filter((d) => reachesTarget(d, exit.dstMac, exit.dstIp, ctx)));
  if (end === undefined) {
    const dead = longest([...drops, ...missingHost]);
    if (dead !== undefined) {
      end = dead;
      leg.drop = dropOfDisposition(dead);
    }
  }
  end ??= longest(outputs);
  if (end === undefined) {
    const u = otherUndecidable[0];
    if (u !== undefined) leg.doubts.push(`walk undecidable on ${u.host}/${u.bridge}${u.table === undefined ? '' : ` table ${u.table}`}: ${u.reason} (${u.detail})`);
    return leg;
  }
  const topo = (h: string): HostTopology | undefined => ctx.world.topology(h);
  const ovs = hopsOfChain(visits, chainTo(visits, visitOf(visits, end)).filter((i) => i >= 0), end, topo);
  leg.hops.push(...ovs);
  for (const h of ovs) leg.specs.push(h.kind === 'ovs-bridge' ? spec : undefined);
  if (leg.drop !== null || end.kind !== 'output' || end.portName === undefined) return leg;
  const next = ctx.world.topology(end.host);
  if (next === undefined) return leg;
  const routedFrame: LinuxFrame = { ...frame, srcMac: spec.dl_src ?? null, dstMac: exit.dstMac, srcIp: exit.srcIp, dstIp: exit.dstIp };
  const rs = ctx.rulesets.get(end.host);
  let after = instanceIngress(next, rs, end.portName, routedFrame);
  if (after.hops.length === 0) after = namespaceHop(next, rs, end.portName, routedFrame);
  if (after.hops.length === 0) {
    // a port of no instance or namespace: the frame leaves the host there (br-ex's NIC)
    const last = leg.hops[leg.hops.length - 1];
    if (last !== undefined) (last.notes ??= []).push(`leaves ${end.host} on ${end.portName} toward ${exit.nextHop} (${exit.dstMac})`);
    return leg;
  }
  leg.hops.push(...after.hops);
  for (const _ of after.hops) leg.specs.push(undefined);
  if (after.doubt !== null) leg.doubts.push(after.doubt);
  if (after.drop !== null) {
    leg.drop = dropOfLinux(after.drop);
    return leg;
  }
  if (after.routed !== undefined && depth + 1 < MAX_ROUTED_LEGS) {
    const more = routedLeg(ctx, after.routed, spec, routedFrame, depth + 1);
    leg.hops.push(...more.hops);
    leg.specs.push(...more.specs);
    leg.drop = more.drop;
    leg.doubts.push(...more.doubts);
  }
  return leg;
}

export function analyzeGroup(group: ClosedGroup, ctx: Context): AnalyzedPath {
  const first = group.observations[0];
  const doubts: string[] = [];
  const coverage: string[] = [];
  const samplingRate = Math.max(1, ...group.observations.map((o) => o.samplingRate));
  const flow: PathFlow = {
    srcMac: group.flowKey.srcMac ?? first?.srcMac ?? null,
    dstMac: first?.dstMac ?? null,
    srcIp: first?.srcIp ?? first?.arpSenderIp ?? null,
    dstIp: first?.dstIp ?? first?.arpTargetIp ?? null,
    ipProtocol: first?.ipProtocol ?? null,
    srcPort: first?.srcPort ?? null,
    dstPort: first?.dstPort ?? null,
    icmpType: first?.icmpType ?? null,
  };
  if (first !== undefined && first.etherType === 0x0806 && first.arpOperation !== null) flow.arpOp = first.arpOperation;
  const pathId = `${group.kind === 'frame' ? (group.fingerprint ?? 'nofp') : (group.flowHash ?? 'noflow')}@${Math.floor(group.firstSeen)}`;
  const firstSeen = isoOf(group.firstSeen);
  const lastSeen = isoOf(group.lastSeen);
  let conflictReason: string | null = null;
  let nat: NatSide | null = null;
  // Paths are built field by field, never by spreading a shared base: one hidden class for every
  // path (measured by bench/analyze.ts: the spread alone cost a third of the analysis).
  const path = (verdict: Verdict, confidence: number, drop: PathDrop | null, hops: Hop[], checks: { host: string; command: string }[]): AnalyzedPath => ({
    pathId,
    kind: group.kind,
    flow,
    fingerprint: group.fingerprint,
    firstSeen,
    lastSeen,
    verdict,
    confidence,
    drop,
    hops,
    observations: group.observations.length,
    samplingRate,
    checks,
    doubts,
    coverage,
    answered: null,
    conflict: conflictReason,
    // the versions of the hosts this path crosses (not every host's: a path row stays small)
    snapshots: (ctx.snapshots ?? []).filter((v) => hops.some((h) => h.host === v.host) || drop?.host === v.host),
    nat,
  });
  // a sampled header too short to see the inner frame (the fingerprint then covers less)
  const cut = group.observations.find((o) => o.truncatedAt !== null || o.fingerprintStatus === 'cut');
  if (cut !== undefined) {
    const where = whereOf(cut, ctx);
    coverage.push(`the sampled header (${cut.headerLength} of ${cut.frameLength} bytes${where === undefined ? '' : ` on ${where.host}/${where.bridge}`}) ends inside ${cut.truncatedAt ?? 'the frame'}: raise the sFlow header size to see the inner frame (ovs-vsctl set sflow <uuid> header=128)`);
  }
  const start = startOf(group, ctx, doubts);
  if (start === undefined || first === undefined) {
    if (doubts.length === 0) doubts.push('no observation of this frame could be placed on a bridge port of the snapshots (agent or sub-agent unknown)');
    return path('incomplete', 0.1, null, [], []);
  }
  const obs = start.obs;
  const result: WalkResult = walk(ctx.world, { host: start.where.host, bridge: start.where.bridge, inPort: start.inPort, frame: start.spec });
  const { visits, outputs, drops, missingHost, otherUndecidable, longest } = outcomeOf(result);

  // the destination's port; a flooded frame without a known target counts as delivered where it went
  let end: Disposition | undefined = longest(outputs.filter((d) => reaches(d, obs, ctx)));
  const target = obs.dstIp ?? obs.arpTargetIp;
  if (end === undefined && isGroupAddress(obs.dstMac) && (target === null || target.endsWith('.255'))) {
    // a broadcast DHCP request is for the DHCP namespace's port: when it reaches none, it is judged
    // by where it died (a flood that also reached the bridge's LOCAL port is not a delivery)
    const isDhcp = obs.ipProtocol === 17 && obs.dstPort === 67;
    const dhcp = isDhcp ? outputs.filter((d) => d.portName !== undefined && (namespaceOf(ctx.world.topology(d.host) ?? EMPTY, d.portName) ?? '').startsWith('qdhcp-')) : [];
    // ...when the snapshots hold a Neutron DHCP server at all (not with a provider network's own DHCP
    // server or relay, or a subnet without DHCP: then a flood copy dying somewhere says nothing)
    const neutronDhcp = isDhcp && ctx.world.hosts().some((h) => (ctx.world.topology(h)?.devices ?? []).some((d) => d.namespace.startsWith('qdhcp-')));
    if (dhcp.length > 0) end = longest(dhcp);
    else if (!neutronDhcp || drops.length + missingHost.length === 0) end = longest(outputs);
  }
  let drop: PathDrop | null = null;
  let missingPeer: string | undefined;
  if (end === undefined) {
    const dead = longest([...drops, ...missingHost]);
    if (dead !== undefined) {
      end = dead;
      drop = dropOfDisposition(dead);
      if (dead.kind === 'undecidable') {
        const tunnelPort = visits[visitOf(visits, dead)]?.tunnels[0];
        drop = { ...drop, device: tunnelPort?.portName ?? dead.bridge, reason: `tunnel remote_ip owned by no known host: ${dead.detail}` };
        const unknown = ctx.resolver.unknownAgents();
        if (unknown.length > 0) {
          // hosts sent samples without a snapshot: the tunnel's far end is most likely one of them
          missingPeer = `the tunnel's far end (${tunnelPort?.remoteIp ?? dead.detail}) is no host of the snapshots, and sFlow agents with no snapshot sent samples (${unknown.slice(0, 5).join(', ')}${unknown.length > 5 ? ', ...' : ''}): add the snapshots of those hosts (--snapshots, or hoptrace import) to follow the frame there`;
        } else doubts.push(`unless the host owning that address is missing from the snapshots`);
      }
    }
  }
  end ??= longest(outputs);
  if (end === undefined && otherUndecidable[0] !== undefined) {
    const u = otherUndecidable[0];
    doubts.push(`walk undecidable on ${u.host}/${u.bridge}${u.table === undefined ? '' : ` table ${u.table}`}: ${u.reason} (${u.detail})`);
  }

  const topo = (h: string): HostTopology | undefined => ctx.world.topology(h);
  const chain = end === undefined ? [0] : chainTo(visits, visitOf(visits, end));
  const ovsHops = hopsOfChain(visits, chain.filter((i) => i >= 0), end, topo);

  // the Linux legs around OVS
  const frame = linuxFrameOf(obs);
  const before: Hop[] = [];
  const after: Hop[] = [];
  const startTopo = topo(start.where.host);
  if (startTopo !== undefined && hopRank(obs) === 0 && typeof start.inPort === 'string') {
    const leg = instanceEgress(startTopo, ctx.rulesets.get(start.where.host), start.inPort, frame);
    before.push(...leg.hops);
    if (leg.drop !== null) doubts.push(`iptables predicts ${leg.drop.reason} on ${leg.drop.device} (${leg.drop.rule ?? ''}), yet the frame was seen on ${start.where.bridge}: the snapshot's ruleset is not the one in force, or conntrack state differs`);
    if (leg.doubt !== null) doubts.push(leg.doubt);
    if (leg.hops.length > 0) coverage.push(`the hybrid-firewall leg on ${start.where.host} (tap → qbr → qvb) is invisible to OVS sFlow: inferred from the topology and iptables; to see it, sample the tap/qbr devices with host sFlow (hsflowd) on ${start.where.host}, and compare iptables counters between two snapshots`);
    const ns = namespaceOf(startTopo, start.inPort);
    if (ns !== undefined) {
      coverage.push(`${start.inPort} lives in namespace ${ns}: ifIndex 0 in samples, found by MAC`);
      if (obs.srcIp !== null && snatAddresses(ctx.rulesets.get(start.where.host)?.get(ns)).has(obs.srcIp)) {
        coverage.push(`${obs.srcIp} is the SNAT address of ${ns}: this is an internal sender's frame after the router translated it; its path up to the router is the one to ${obs.dstIp ?? '?'} from that sender`);
      }
    }
  }
  let linuxDrop: LinuxLeg['drop'] = null;
  let routed: { exit: RoutedExit; at: number } | undefined;
  if (end !== undefined && end.kind === 'output' && end.portName !== undefined) {
    const t = topo(end.host);
    if (t !== undefined) {
      const rs = ctx.rulesets.get(end.host);
      let leg = instanceIngress(t, rs, end.portName, frame);
      if (leg.hops.length === 0) leg = namespaceHop(t, rs, end.portName, frame);
      else coverage.push(`the hybrid-firewall leg on ${end.host} (qvb → qbr → tap) is invisible to OVS sFlow: inferred from the topology and iptables; to see it, sample the tap/qbr devices with host sFlow (hsflowd) on ${end.host}, and compare iptables counters between two snapshots`);
      after.push(...leg.hops);
      linuxDrop = leg.drop;
      if (leg.doubt !== null) doubts.push(leg.doubt);
      if (leg.drop === null && leg.routed !== undefined) routed = { exit: leg.routed, at: after.length };
    }
  }
  if (linuxDrop !== null) drop = dropOfLinux(linuxDrop);
  // routed on out of a namespace (qrouter): the walk goes on with the routed frame
  let routedSpecs: (FrameSpec | undefined)[] = [];
  if (routed !== undefined && drop === null) {
    const cont = routedLeg(ctx, routed.exit, start.spec, frame, 0);
    after.push(...cont.hops);
    routedSpecs = cont.specs;
    doubts.push(...cont.doubts);
    if (cont.drop !== null) drop = cont.drop;
    if (routed.exit.translated) nat = { host: routed.exit.host, namespace: routed.exit.namespace, srcIp: routed.exit.srcIp, dstIp: routed.exit.dstIp };
    if (routed.exit.translated && cont.hops.length > 0) {
      coverage.push(`beyond ${routed.exit.namespace} on ${routed.exit.host} the frame is ${routed.exit.srcIp} → ${routed.exit.dstIp} (NAT): its samples there carry the translated addresses and form a path of their own; the hops after the router are predicted, not matched with samples`);
    }
  }

  const hops = [...before, ...ovsHops, ...after].map((h, i) => ({ ...h, seq: i + 1 }));
  // hops past a routing namespace: from here on the frame has other MACs (and addresses, with NAT)
  const routedFrom = routed === undefined ? hops.length : before.length + ovsHops.length + routed.at;
  const translated = routed?.exit.translated === true;
  if (hops.some((h) => h.kind === 'patch')) coverage.push('patch crossings (br-int ⇄ br-tun) are the same datapath pass: never sampled again (no setting changes that; the ofproto/trace checks confirm those bridges)');
  if (hops.some((h) => h.kind === 'tunnel')) coverage.push('the sender\'s underlay bridge does not sample outgoing tunnel frames (OVS samples a frame where it enters a bridge): the receiver\'s underlay bridge is the first to see the outer frame');
  if (samplingRate > 1) coverage.push(`sampled 1-in-${samplingRate}: frames are joined by flow, not one by one; for a per-frame path set sampling=1 on the bridges of this path while reproducing (ovs-vsctl set sflow <uuid> sampling=1)`);

  // align observations with hops
  let conflict = false;
  const contradict = (reason: string): void => {
    conflict = true;
    conflictReason ??= reason;
  };
  const observable = new Set<number>();
  /** The bridge's sFlow as the snapshot in force has it: its sampling rate, or false when it exports none. */
  const sflowOf = (h: Hop | undefined): { rate: number | null } | false => {
    const b = h === undefined || h.bridge === null ? undefined : topo(h.host)?.bridges.find((x) => x.name === h.bridge);
    if (b?.sampled === false) return false;
    return { rate: b?.sflow?.sampling ?? null };
  };
  /** The sampling rate (1 in N) of hop i's bridge from the snapshot, else the path's. */
  const sflowRate = (i: number): number => {
    const sf = sflowOf(hops[i]);
    return sf === false || sf.rate === null ? samplingRate : Math.max(1, sf.rate);
  };
  const unsampled: string[] = [];
  hops.forEach((h, i) => {
    // past a NAT the frame's samples are another group's
    if (translated && i >= routedFrom) return;
    let entry = h.kind === 'physical' && h.bridge !== null;
    if (h.kind === 'ovs-bridge') {
      const prev = hops[i - 1];
      entry = i === before.length || prev?.kind === 'physical' || prev?.kind === 'namespace';
    }
    if (!entry) return;
    // a bridge without sFlow never samples the frame: its hop is not evidence either way
    if (sflowOf(h) === false) unsampled.push(`${h.host}/${h.bridge ?? h.device}`);
    else observable.add(i);
  });
  if (unsampled.length > 0) coverage.push(`no sFlow on ${[...new Set(unsampled)].join(', ')} (the snapshot's Bridge row names no sFlow): frames entering there are never sampled; to see them: ovs-vsctl set bridge BRIDGE sflow=<uuid of the host's sFlow row>`);
  const discards: string[] = [];
  /** Observations per hop index, and their sampling rate (1 in N). */
  const seenAt = new Map<number, number>();
  const rateAt = new Map<number, number>();
  let lastObserved = -1;
  for (const o of group.observations) {
    const w = whereOf(o, ctx);
    if (w === undefined) {
      doubts.push(`a sample from agent ${o.agent} sub-agent ${o.subAgentId} could not be placed`);
      continue;
    }
    const rank = hopRank(o);
    const at = (h: Hop): boolean => h.host === w.host && (rank === 1 ? h.kind === 'physical' && (h.bridge === w.bridge || h.bridge === null) : h.kind === 'ovs-bridge' && h.bridge === w.bridge);
    // a bridge crossed twice (routed back into br-int): the crossing entered from the sample's input port
    const inName = o.inputPort?.port ?? null;
    let index = inName === null ? -1 : hops.findIndex((h) => at(h) && h.inPort === inName);
    if (index < 0) index = hops.findIndex(at);
    if (index < 0) {
      contradict(`observed on ${w.host}/${w.bridge}, which the predicted path does not cross`);
      doubts.push(`observed on ${w.host}/${w.bridge}, which the predicted path does not cross`);
      continue;
    }
    const h = hops[index];
    if (h !== undefined) {
      h.observed = true;
      if (rank === 1 && h.bridge === null) h.bridge = w.bridge;
      lastObserved = Math.max(lastObserved, index);
      seenAt.set(index, (seenAt.get(index) ?? 0) + 1);
      rateAt.set(index, Math.max(rateAt.get(index) ?? 1, o.samplingRate));
      if (o.outKind === 'discard') discards.push(`${w.host}/${w.bridge} (sFlow discard reason ${o.discardReason ?? '?'})`);
    }
  }

  // the verdict
  let verdict: Verdict;
  let lostConfidence: number | undefined;
  const dropIndex = drop === null ? -1 : hops.length - 1;
  if (end === undefined) verdict = 'incomplete';
  else if (drop !== null) {
    verdict = 'dropped';
    if (lastObserved > dropIndex) contradict(`seen at ${hops[lastObserved]?.host}/${hops[lastObserved]?.device}, past the predicted drop point`);
  } else if (discards.length > 0) {
    verdict = 'dropped';
    const d = discards[0] ?? '';
    contradict(`sFlow reports a discard at ${d}, the snapshots predict delivery`);
    const [host, bridge] = d.split(' ')[0]?.split('/') ?? [];
    drop = { host: host ?? '?', device: bridge ?? '?', bridge: bridge ?? null, table: null, rule: null, reason: `sFlow reports a discard at ${d}; the snapshots predict delivery (configuration changed since?)` };
  } else {
    const missing = [...observable].filter((i) => hops[i]?.observed !== true).sort((a, b) => a - b);
    const at = (i: number): string => `hop ${i + 1} (${hops[i]?.host}/${hops[i]?.device})`;
    // the first observable hop after the last observed one; hops skipped before it saw the frame go on
    const next = missing.find((i) => i > lastObserved);
    // the evidence: every sample at the observable hops up to the last observed one, each hop at
    // its rate: its samples', else its bridge's sFlow setting in the snapshot, else the path's. When
    // the samples show the snapshot's settings out of date (a hop sampled at another rate than its
    // bridge's setting), the samples' rate stands for the hops without samples too.
    let stale = false;
    for (const [i, r] of rateAt) {
      const sf = sflowOf(hops[i]);
      if (sf !== false && sf.rate !== null && sf.rate !== r) stale = true;
    }
    const rateOf = (i: number): number => rateAt.get(i) ?? (stale ? samplingRate : sflowRate(i));
    const skipped = missing.filter((i) => i < lastObserved && rateOf(i) === 1);
    if (skipped.length > 0) doubts.push(`no sample at ${skipped.map(at).join(', ')} although ${skipped.length === 1 ? 'it samples' : 'they sample'} every frame, yet the frame was seen further on: an sFlow datagram lost on its way to the collector?`);
    let upstream = 0;
    const upstreamRates: number[] = [];
    for (const i of observable) {
      if (i > lastObserved) continue;
      upstream += seenAt.get(i) ?? 0;
      upstreamRates.push(rateOf(i));
    }
    const nextRate = next === undefined ? samplingRate : rateOf(next);
    if (stale && next !== undefined && sflowRate(next) !== nextRate) doubts.push(`the samples' sampling rate is not the snapshot's sFlow setting (changed since the snapshot?): ${at(next)} is taken to sample 1-in-${nextRate} as they do`);
    const loss = next === undefined || lastObserved < 0 || upstream === 0 ? undefined : lossEvidence(upstream, upstreamRates, nextRate);
    if (loss !== undefined && next !== undefined && loss.lost) {
      verdict = 'lost';
      drop = null;
      if (nextRate === 1) {
        // every frame there would have been sampled: certain (the confidence is the path's own)
        doubts.push(`seen up to ${at(lastObserved)}, never at ${at(next)} although sampling is 1`);
      } else {
        lostConfidence = loss.confidence;
        doubts.push(`${seenText(upstream, upstreamRates.length, at(lastObserved))}, never at ${at(next)}: with ${ratesText(upstreamRates, nextRate, at(next))} sampling that happens by chance with probability ${loss.chance.toExponential(1)}`);
      }
    } else {
      verdict = 'delivered';
      if (loss !== undefined && next !== undefined) doubts.push(`${seenText(upstream, upstreamRates.length, at(lastObserved))} and never at ${at(next)}: too few samples to tell loss from sampling (${lostMinSamples(upstreamRates, nextRate)} needed; the chance of missing it is ${loss.chance.toFixed(2)})`);
    }
  }
  // the snapshots cannot carry a verdict: a drop in a flow table the snapshot did not hold whole
  // (the walk through it is a guess), or a tunnel to a host that has no snapshot
  let noVerdict = false;
  const troubled = new Set<string>();
  for (const h of hops) {
    if (h.kind !== 'ovs-bridge' || h.bridge === null || troubled.has(`${h.host}/${h.bridge}`)) continue;
    const trouble = flowTrouble(topo(h.host), h.bridge);
    if (trouble === undefined) continue;
    troubled.add(`${h.host}/${h.bridge}`);
    doubts.push(`the flow table of ${h.host}/${h.bridge} in the snapshot is damaged: ${trouble}; the walk through it may be wrong (re-take it: ovs-ofctl dump-flows ${h.bridge})`);
    if (drop !== null && drop.host === h.host && drop.bridge === h.bridge) noVerdict = true;
  }
  if (noVerdict && drop !== null) doubts.push(`the walk ends in a drop at ${drop.host} ${drop.device}${drop.table === null ? '' : ` table ${drop.table}`} (${drop.reason}), in that damaged table: not a verdict`);
  if (missingPeer !== undefined && drop !== null && verdict === 'dropped') {
    doubts.push(missingPeer);
    noVerdict = true;
  }
  if (noVerdict && drop !== null) {
    verdict = 'incomplete';
    drop = null;
  }
  if (discards.length > 0 && drop !== null) {
    // a discard where the walk says the frame dies confirms it (evidence on the drop hop); elsewhere it is a doubt
    const here = `${drop.host}/${drop.bridge ?? drop.device} `;
    const agreeing = discards.filter((d) => d.startsWith(here));
    const other = discards.filter((d) => !d.startsWith(here));
    const last = hops[hops.length - 1];
    if (agreeing.length > 0 && last !== undefined) (last.notes ??= []).push(`Open vSwitch reported dropping this frame here: ${agreeing.join(', ')}`);
    if (other.length > 0) doubts.push(`sFlow discard samples elsewhere than the predicted drop point: ${other.join(', ')}`);
  }

  // ofproto/trace commands for the hops we only inferred, and for the drop point
  const checks: { host: string; command: string }[] = [];
  let checksBefore = 0;
  for (const h of hops) {
    if (h.kind !== 'ovs-bridge' || h.bridge === null || h.inPort === null) continue;
    const isDrop = drop !== null && drop.host === h.host && drop.bridge === h.bridge;
    if (h.observed && !isDrop) continue;
    const extra = h.tunnelId !== null ? [`tun_id=0x${h.tunnelId.toString(16)}`] : [];
    const index = h.seq - 1;
    // past a router, the routed frame (its own MACs and, with NAT, addresses)
    const base = index >= routedFrom ? routedSpecs[index - routedFrom] : start.spec;
    if (base === undefined) continue;
    // the spec's tunnel fields are not printed (flowTextOf); the VLAN a patch entry carries is
    const vlan = h.vlan !== null && (h.host !== start.where.host || h.bridge !== start.where.bridge) && h.inPort.startsWith('patch') ? h.vlan : base.vlan;
    checks.push({ host: h.host, command: `ovs-appctl ofproto/trace ${h.bridge} 'in_port=${h.inPort},${flowTextOf(base, extra, vlan)}'` });
    if (index < routedFrom) checksBefore++;
  }

  const observableCount = observable.size;
  const observedObservable = [...observable].filter((i) => hops[i]?.observed === true).length;
  const conf = end === undefined || noVerdict ? 0.1 : lostConfidence ?? confidence({ samplingRate, observable: observableCount, observedObservable, doubts: doubts.length, conflict });
  const analyzed = path(verdict, conf, drop, hops, checks);
  const legs = natLegsOf(ctx, obs, start, hops, routed, routedFrom, checksBefore, drop);
  if (legs.length > 0) NAT_LEGS.set(analyzed, legs);
  return analyzed;
}

/** What is wrong with a bridge's flow table in the snapshot: not dumped, or lines not read. */
function flowTrouble(t: HostTopology | undefined, bridge: string): string | undefined {
  if (t === undefined) return undefined;
  const table = t.flows.find((f) => f.bridge === bridge);
  if (table === undefined) return t.bridges.some((b) => b.name === bridge) ? 'no flow dump of this bridge (missing, empty or unreadable)' : undefined;
  return table.trouble;
}

// Paths come in time order, many within one second: the ISO text of that second is kept, only the
// milliseconds are written per path (Date#toISOString was a tenth of analyzeGroup's own time).
let isoSecond = Number.NaN;
let isoPrefix = '';

/** `new Date(ms).toISOString()`, for whole or fractional ms since the epoch (floored to the ms). */
export function isoOf(ms: number): string {
  const whole = Math.floor(ms);
  const second = Math.floor(whole / 1000);
  if (second !== isoSecond) {
    const text = new Date(second * 1000).toISOString();
    // only the usual 4-digit years: "2026-11-25T10:52:51." (others go the long way)
    if (text.length !== 24) return new Date(whole).toISOString();
    isoSecond = second;
    isoPrefix = text.slice(0, 20);
  }
  const m = whole - second * 1000;
  return `${isoPrefix}${m < 10 ? '00' : m < 100 ? '0' : ''}${m}Z`;
}

// ---------- one frame on both sides of a NAT ----------

/**
 * How a path meets a NAT: `exit`, it reaches a routing namespace that translates it (or, a reply
 * to the router's SNAT address, that conntrack un-NATs); `entry`, it starts at a port of such a
 * namespace with addresses a translation gives. An exit and an entry with the same key, close in
 * time, are one frame: joinNatLegs makes them one path. The key holds the IP id (kept by NAT) and
 * what the translation keeps of the 5-tuple (SNAT may move the source port, DNAT the destination
 * port; an un-NATed reply's destination is in conntrack only).
 */
interface NatLeg {
  role: 'exit' | 'entry';
  key: string;
  /** exit: the index of the namespace hop; the hops after it (predicted) give way to the entry's. */
  at: number;
  /** exit: checks of the hops up to the namespace hop (the first ones). */
  checks: number;
  /** exit: the path came from outside (entered the router on qg-): the entry's flow is the inside one. */
  fromOutside: boolean;
  /** exit: 'S'/'D' a translation the snapshots predict, 'U' conntrack un-NAT of a reply. */
  kind: 'S' | 'D' | 'U';
  ipId: number;
}

const NAT_LEGS = new WeakMap<AnalyzedPath, NatLeg[]>();

/** This path may be one leg of a frame seen on both sides of a NAT (joinNatLegs may join it). */
export function hasNatLegs(p: AnalyzedPath): boolean {
  return NAT_LEGS.has(p);
}
/** How far apart the two legs of one frame may be first seen (samples come about once a second per agent). */
export const NAT_JOIN_MS = 2000;

function natKey(kind: 'S' | 'D' | 'U', host: string, ns: string, o: { src: string; dst: string; proto: number; ipId: number; icmpType: number | null; srcPort: number | null; dstPort: number | null }): string {
  if (kind === 'S') return `S|${host}|${ns}|${o.src}|${o.dst}|${o.proto}|${o.ipId}|${o.icmpType ?? ''}|${o.dstPort ?? ''}`;
  if (kind === 'D') return `D|${host}|${ns}|${o.src}|${o.dst}|${o.proto}|${o.ipId}|${o.icmpType ?? ''}|${o.srcPort ?? ''}`;
  return `U|${host}|${ns}|${o.src}|${o.proto}|${o.ipId}|${o.icmpType ?? ''}|${o.srcPort ?? ''}`;
}

function natLegsOf(ctx: Context, obs: Observation, start: Start, hops: readonly Hop[], routed: { exit: RoutedExit } | undefined, routedFrom: number, checksBefore: number, drop: PathDrop | null): NatLeg[] {
  // a frame without an IP id to tell it apart (IPv6, or 0: DF-set UDP) is never joined
  if (obs.ipId === null || obs.ipId === 0 || obs.srcIp === null || obs.dstIp === null || obs.ipProtocol === null) return [];
  const legs: NatLeg[] = [];
  const tuple = { src: obs.srcIp, dst: obs.dstIp, proto: obs.ipProtocol, ipId: obs.ipId, icmpType: obs.icmpType, srcPort: obs.srcPort, dstPort: obs.dstPort };
  const nsHop = hops[routedFrom - 1];
  if (routed !== undefined && routed.exit.translated && nsHop !== undefined && nsHop.kind === 'namespace' && (drop === null || hops.length > routedFrom)) {
    const e = routed.exit;
    const kind = e.srcIp !== obs.srcIp ? 'S' : 'D';
    legs.push({
      role: 'exit', key: natKey(kind, e.host, e.namespace, { ...tuple, src: e.srcIp, dst: e.dstIp }), at: routedFrom - 1, checks: checksBefore,
      fromOutside: (nsHop.inPort ?? '').startsWith('qg-'), kind, ipId: obs.ipId,
    });
  }
  const last = hops[hops.length - 1];
  if (drop === null && last !== undefined && last.kind === 'namespace' && last.outPort === null && snatAddresses(ctx.rulesets.get(last.host)?.get(last.namespace)).has(obs.dstIp)) {
    legs.push({ role: 'exit', key: natKey('U', last.host, last.namespace, tuple), at: hops.length - 1, checks: Number.MAX_SAFE_INTEGER, fromOutside: true, kind: 'U', ipId: obs.ipId });
  }
  // entries: the path starts at a port of a routing namespace
  if (typeof start.inPort === 'string') {
    const t = ctx.world.topology(start.where.host);
    const ns = t === undefined ? undefined : namespaceOf(t, start.inPort);
    if (ns !== undefined) {
      const rs = ctx.rulesets.get(start.where.host)?.get(ns);
      if (snatAddresses(rs).has(obs.srcIp)) legs.push({ role: 'entry', key: natKey('S', start.where.host, ns, tuple), at: 0, checks: 0, fromOutside: false, kind: 'S', ipId: obs.ipId });
      if (dnatAddresses(rs).has(obs.dstIp)) legs.push({ role: 'entry', key: natKey('D', start.where.host, ns, tuple), at: 0, checks: 0, fromOutside: false, kind: 'S', ipId: obs.ipId });
      if (!start.inPort.startsWith('qg-')) legs.push({ role: 'entry', key: natKey('U', start.where.host, ns, tuple), at: 0, checks: 0, fromOutside: false, kind: 'S', ipId: obs.ipId });
    }
  }
  return legs;
}

/**
 * One frame seen on both sides of a router's NAT is one path: each path that reaches the router
 * (`exit`) takes in the path of the same frame leaving it translated (`entry`: same key, first seen
 * within NAT_JOIN_MS): the hops up to the router, then the entry's (observed) hops, its verdict
 * and drop; the flow is the inside one (the tenant addresses). Returns the paths left, in order;
 * the entries taken in are gone. Paths are in firstSeen order.
 */
export function joinNatLegs(paths: readonly AnalyzedPath[]): AnalyzedPath[] {
  const entries = new Map<string, number[]>();
  let any = false;
  paths.forEach((p, i) => {
    for (const leg of NAT_LEGS.get(p) ?? []) {
      any = true;
      if (leg.role !== 'entry') continue;
      const list = entries.get(leg.key);
      if (list === undefined) entries.set(leg.key, [i]);
      else list.push(i);
    }
  });
  if (!any || entries.size === 0) return [...paths];
  const taken = new Set<number>();
  const out: (AnalyzedPath | undefined)[] = [...paths];
  paths.forEach((a, i) => {
    if (taken.has(i)) return;
    for (const leg of NAT_LEGS.get(a) ?? []) {
      if (leg.role !== 'exit') continue;
      const t = Date.parse(a.firstSeen);
      const j = entries.get(leg.key)?.find((k) => k !== i && !taken.has(k) && Math.abs(Date.parse(paths[k]?.firstSeen ?? '') - t) <= NAT_JOIN_MS);
      const b = j === undefined ? undefined : paths[j];
      if (j === undefined || b === undefined) continue;
      taken.add(j);
      out[j] = undefined;
      out[i] = mergeNat(out[i] ?? a, b, leg);
      break;
    }
  });
  return out.filter((p): p is AnalyzedPath => p !== undefined);
}

function mergeNat(a: AnalyzedPath, b: AnalyzedPath, leg: NatLeg): AnalyzedPath {
  const routerHop = a.hops[leg.at];
  const seen = `the same frame (IP id ${leg.ipId}) was sampled past the router as ${b.flow.srcIp ?? '?'} → ${b.flow.dstIp ?? '?'}`;
  const notes = leg.kind === 'U'
    ? [`${a.flow.dstIp ?? '?'} is this router's SNAT address: conntrack un-NATs the reply to ${b.flow.dstIp ?? '?'} and routes it on (${seen})`]
    : [...(routerHop?.notes ?? []), `${seen}: the hops from here are those samples'`];
  const router: Hop | undefined = routerHop === undefined ? undefined : { ...routerHop, outPort: routerHop.outPort ?? b.hops[0]?.inPort ?? null, notes };
  const hops = [...a.hops.slice(0, leg.at), ...(router === undefined ? [] : [router]), ...b.hops].map((h, k) => ({ ...h, seq: k + 1 }));
  const inside = leg.fromOutside ? b : a;
  const outside = leg.fromOutside ? a : b;
  const hosts = new Set(hops.map((h) => h.host));
  const snapshots = [...(a.snapshots ?? []), ...(b.snapshots ?? [])].filter((v, k, all) => hosts.has(v.host) && all.findIndex((w) => w.host === v.host) === k);
  // the id ends in the first-seen time (ms), as every path's: the earlier leg's (stores key on it)
  const firstSeen = a.firstSeen <= b.firstSeen ? a.firstSeen : b.firstSeen;
  return {
    pathId: `${a.pathId.slice(0, a.pathId.lastIndexOf('@'))}@${Date.parse(firstSeen)}`,
    kind: a.kind,
    flow: inside.flow,
    fingerprint: a.fingerprint,
    firstSeen,
    lastSeen: a.lastSeen > b.lastSeen ? a.lastSeen : b.lastSeen,
    verdict: b.verdict,
    confidence: Math.min(a.confidence, b.confidence),
    drop: b.drop,
    hops,
    observations: a.observations + b.observations,
    samplingRate: Math.max(a.samplingRate, b.samplingRate),
    checks: [...a.checks.slice(0, leg.checks), ...b.checks],
    doubts: [...a.doubts, ...b.doubts],
    coverage: [...a.coverage.filter((c) => !c.includes('predicted, not matched')), ...b.coverage.filter((c) => !c.includes('is the SNAT address of') && !c.includes(': ifIndex 0 in samples, found by MAC'))],
    answered: null,
    conflict: a.conflict ?? b.conflict ?? null,
    snapshots,
    nat: { host: routerHop?.host ?? outside.nat?.host ?? '?', namespace: routerHop?.namespace ?? outside.nat?.namespace ?? '?', srcIp: outside.flow.srcIp ?? '?', dstIp: outside.flow.dstIp ?? '?' },
  };
}

// ---------- loss under sampling ----------

/** The largest chance of "no sample at the next hop although every frame went on" that still says `lost`. */
export const LOST_MAX_CHANCE = 1e-3;

/**
 * A flow (or frame) seen `samples` times in all at the observable hops up to its last observed one
 * (sampled there 1 in `upstreamRates[i]`), and never at the next observable hop (1 in `nextRate`).
 * Were every frame delivered, each sample would fall on a hop in proportion to its sampling
 * probability, so given the samples seen, none at the next hop by chance has probability
 * (up / (up + next))^samples with up = Σ 1/upstreamRates[i], next = 1/nextRate (the exact
 * conditional test of Poisson counts: no guess of how many frames there were is needed).
 * With one rate N everywhere that is (k/(k+1))^samples for k upstream hops: 2^-samples from one
 * hop. A next hop sampling every frame (nextRate 1) would have seen any frame that went on: the
 * chance is 0. `lost` when the chance is at most LOST_MAX_CHANCE (10 samples at one hop, 18 over
 * two, at one rate), with confidence 1 − chance.
 */
export function lossEvidence(samples: number, upstreamRates: readonly number[], nextRate: number): { samples: number; chance: number; lost: boolean; confidence: number } {
  const q = upstreamShare(upstreamRates, nextRate);
  const chance = samples <= 0 ? 1 : nextRate <= 1 ? 0 : Math.pow(q, samples);
  return { samples, chance, lost: chance <= LOST_MAX_CHANCE, confidence: Math.round(Math.max(0.05, Math.min(1, 1 - chance)) * 1000) / 1000 };
}

/** The fewest samples that can say `lost` with these rates (see lossEvidence). */
export function lostMinSamples(upstreamRates: readonly number[], nextRate: number): number {
  if (nextRate <= 1) return 1;
  return Math.ceil(Math.log(LOST_MAX_CHANCE) / Math.log(upstreamShare(upstreamRates, nextRate)) - 1e-9);
}

/** The share of the samples the upstream hops get when every frame passes them and the next hop. */
function upstreamShare(upstreamRates: readonly number[], nextRate: number): number {
  let up = 0;
  for (const r of upstreamRates) up += 1 / Math.max(1, r);
  if (up === 0) up = 1 / Math.max(1, nextRate);
  return up / (up + 1 / Math.max(1, nextRate));
}

function seenText(samples: number, hops: number, upTo: string): string {
  return `seen ${samples} time${samples === 1 ? '' : 's'} ${hops > 1 ? `at ${hops} hops ` : ''}up to ${upTo}`;
}

/** "1-in-10", or "1-in-10 (1-in-100 at hop 8 (network1/br-phy))" when the rates differ. */
function ratesText(upstreamRates: readonly number[], nextRate: number, next: string): string {
  const up = [...new Set(upstreamRates)];
  if (up.length === 1 && up[0] === nextRate) return `1-in-${nextRate}`;
  return `1-in-${up.join('/')} (1-in-${nextRate} at ${next})`;
}

// ---------- text ----------

function pad(s: string, n: number): string {
  return s.length >= n ? s : s + ' '.repeat(n - s.length);
}

export function formatPath(p: AnalyzedPath): string {
  const f = p.flow;
  const proto = f.ipProtocol === 1 ? `icmp type ${f.icmpType ?? '?'}` : f.ipProtocol === 6 ? `tcp ${f.srcPort}→${f.dstPort}` : f.ipProtocol === 17 ? `udp ${f.srcPort}→${f.dstPort}` : f.ipProtocol === null ? (f.srcIp !== null || f.dstIp !== null ? 'arp' : 'non-IP') : `proto ${f.ipProtocol}`;
  const out: string[] = [];
  out.push(`path ${p.pathId}  ${f.srcIp ?? f.srcMac ?? '?'} → ${f.dstIp ?? f.dstMac ?? '?'} ${proto}  ${p.verdict.toUpperCase()} (confidence ${p.confidence.toFixed(2)}, ${p.observations} sample${p.observations === 1 ? "" : "s"}, ${p.firstSeen})`);
  if (p.nat !== null && p.nat !== undefined) out.push(`  nat: ${p.nat.srcIp} → ${p.nat.dstIp} on the other side of ${p.nat.namespace} on ${p.nat.host}`);
  if (p.drop !== null) out.push(`  dropped on ${p.drop.host} ${p.drop.device}${p.drop.table === null ? '' : ` table ${p.drop.table}`}: ${p.drop.reason}${p.drop.rule === null ? '' : `\n    rule: ${p.drop.rule}`}`);
  out.push(`  ${pad('#', 3)} ${pad('seen', 5)} ${pad('host', 10)} ${pad('kind', 13)} ${pad('device', 22)} ${pad('in', 18)} ${pad('out', 18)} ${pad('vlan', 5)} ${pad('tun', 5)}`);
  for (const h of p.hops) {
    out.push(`  ${pad(String(h.seq), 3)} ${pad(h.observed ? 'yes' : '-', 5)} ${pad(h.host, 10)} ${pad(h.kind, 13)} ${pad(h.namespace === '' ? h.device : `${h.namespace}:${h.device}`, 22)} ${pad(h.inPort ?? '', 18)} ${pad(h.outPort ?? '', 18)} ${pad(h.vlan === null ? '' : String(h.vlan), 5)} ${pad(h.tunnelId === null ? '' : `0x${h.tunnelId.toString(16)}`, 5)}`);
    for (const r of h.rules) out.push(`        ${r}`);
    for (const n of h.notes ?? []) out.push(`        note: ${n}`);
  }
  if (p.conflict !== null && p.conflict !== undefined) out.push(`  CONFLICT: ${p.conflict}`);
  if (p.snapshots !== undefined && p.snapshots.length > 0) out.push(`  snapshots: ${p.snapshots.map((v) => `${v.host} ${v.takenAt}`).join(', ')}`);
  if (p.answered === false) out.push(`  no answer seen: ${p.verdict === 'delivered' ? 'delivered, yet nothing came back (the service or the instance\'s own firewall?)' : p.verdict === 'incomplete' ? 'whether the request arrived is unknown (the snapshots do not cover its path)' : 'the request itself did not arrive'}`);
  for (const d of p.doubts) out.push(`  doubt: ${d}`);
  for (const c of p.checks) out.push(`  check on ${c.host}: ${c.command}`);
  for (const c of p.coverage) out.push(`  coverage: ${c}`);
  return out.join('\n');
}

export function formatSummary(a: Analysis): string {
  const s = a.stats;
  const out = [
    `${s.pcapFrames} capture frames, ${s.sflowDatagrams} sFlow datagrams (${s.decodeErrors} undecodable), ${s.observations} observations, ${s.paths} paths in ${s.elapsedMs} ms`,
    `paths: ${Object.entries(s.byVerdict).map(([k, v]) => `${k} ${v}`).join(', ')}`,
  ];
  if (a.topDrops.length > 0) {
    out.push('top drop points:');
    for (const d of a.topDrops) out.push(`  ${String(d.paths).padStart(5)}  ${d.where}`);
  }
  if (a.conflicts > 0) out.push(`conflicts: ${a.conflicts} paths whose observations or answers contradict their verdict (see CONFLICT lines)`);
  if (a.snapshots.length > 0) {
    out.push('snapshots (per host, in time order; paths judged by each):');
    for (const v of a.snapshots) out.push(`  ${pad(v.host, 12)} ${v.takenAt}  ${String(v.paths).padStart(5)} paths`);
  }
  if (a.resolver.unknownAgents.length > 0) out.push(`agents with no snapshot: ${a.resolver.unknownAgents.join(', ')}`);
  return `${out.join('\n')}\n`;
}
