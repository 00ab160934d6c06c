// Stage 4 of the pipeline (DESIGN.md "correlate"): observations of one frame (sampling 1) or one
// flow (sampling 1-in-N) from different bridges and hosts, grouped in event-time windows, with
// bounded memory. Pure: event time comes from the observations (receivedAtMs) and from
// advanceTo(); no clock is read. Closed groups are collected and handed out by takeClosed().
//
// Grouping key (option `join`, default 'auto'):
//   frame  the fingerprint. A frame group holds observations less than `windowMs` apart from
//          first to last; an observation that would stretch it to windowMs or more closes it
//          ('superseded') and opens a new one (the same bytes sent again: a new frame). So does
//          an observation by a sampler that already saw the frame in the group (sameSampler: the
//          same agent, sub-agent, source, sample kind, input port and source MAC; not the same
//          sample, that is a duplicate): a bridge samples a frame once, so that is the same bytes
//          sent again within the window — an ARP request retransmitted every second, a TCP
//          retransmission. Without this, retransmissions 1 s apart shared one group until the
//          window cut it, at a time that fell inside a copy's hops: a group of the last copy's
//          latest samples only (its receiver's underlay bridge alone: a path that cannot start).
//   flow   the flow hash, in tumbling windows aligned on multiples of `windowMs` since the epoch,
//          so that every worker cuts the same windows.
//   'auto' takes the frame key when the sample's rate is 1 (or a discard sample) and the frame has
//   a fingerprint, else the flow key; observations with neither are counted ('unkeyed').
//
// Event time and lateness: watermark = highest event time seen - allowedLatenessMs. An
// observation older than the watermark is dropped and counted ('late'). A group closes when the
// watermark reaches its end (frame: firstSeen + windowMs; flow: the window's end), so any
// observation that is not late and belongs to a group finds it open: within the lateness, the
// groups do not depend on arrival order — except between copies of the same bytes sent again
// within the window: a copy's samples are told from the previous copy's by arrival (a sampler's
// second sample opens the next copy's group), which is right as long as each sampler's delay to
// the collector is shorter than the time between the copies (OVS sends each bridge's samples at
// least once a second; retransmission timers are a second or more).
//
// Bounds: at most maxOpenGroups open groups (one more closes the group that ends first: 'size')
// and maxObservationsPerGroup observations per group (more are dropped and counted: 'size'; the
// group records how many). The heap of group deadlines is rebuilt when stale entries pile up.
// Every observation is accounted for: accepted + late + overflow + duplicate + unkeyed = added.
//
// Hop order inside a closed group: event time, then the hop rank (a plain frame, then the outer
// frame of a tunnel as the receiver's br-phy samples it, then the decapsulated frame with tunnel
// ingress records as br-tun samples it), then agent, sub-agent, sample sequence. Event time is
// the collector's receive time of the datagram: OVS sends each bridge's datagrams on its own, so
// hops of one frame may come out of order; the topology walk orders them for real.
import { ConfigError } from '../errors.js';
import type { FlowKey } from './fingerprint.js';
import { flowKeyOf, type Observation, type ResolvedPort } from './observation.js';

/** Implemented from the host topology (versioned per host): what an (agent, sub-agent, ifIndex) was at a time. */
export interface Resolver {
  resolve(agent: string, subAgentId: number, ifIndex: number, timeMs: number): ResolvedPort | undefined;
}

export type JoinMode = 'auto' | 'frame' | 'flow';
export type GroupKind = 'frame' | 'flow';
/** Why a group was closed: the watermark passed its end, a later frame with the same fingerprint, the open-group bound, or flush(). */
export type CloseReason = 'watermark' | 'superseded' | 'size' | 'flush';

export interface CorrelatorOptions {
  /** Frame groups: the longest span first-to-last (exclusive); flow groups: the tumbling window. Default 2000. */
  windowMs?: number;
  /** How far behind the highest event time an observation may arrive and still be grouped. Default 3000. */
  allowedLatenessMs?: number;
  /** Default 200,000. */
  maxOpenGroups?: number;
  /** Default 64 (a flooded ARP reaches every bridge of a network once). */
  maxObservationsPerGroup?: number;
  join?: JoinMode;
  /** Annotates each accepted observation's ports; without it every observation's resolution is 'unknown'. */
  resolver?: Resolver;
}

export interface ClosedGroup {
  kind: GroupKind;
  /** The frame group's fingerprint; null for a flow group. */
  fingerprint: string | null;
  /** The flow hash of the first observation (of the group's key for flow groups). */
  flowHash: string | null;
  flowKey: FlowKey;
  /** Start of the tumbling window of a flow group; firstSeen for a frame group. */
  windowStart: number;
  firstSeen: number;
  lastSeen: number;
  /** Ordered by event time, then hop order (see the file comment). */
  observations: Observation[];
  closedBy: CloseReason;
  /** Observations dropped because the group was full. */
  overflow: number;
}

export interface CorrelatorStats {
  /** Observations passed to add(). */
  added: number;
  accepted: number;
  /** Dropped: event time behind the watermark (eviction reason 'late'). */
  late: number;
  /** Dropped: their group was full (eviction reason 'size'). */
  overflow: number;
  /** Dropped: the same sample (agent, sub-agent, source, sequence) already in the group, e.g. redelivered by the bus. */
  duplicate: number;
  /** Dropped: neither a fingerprint nor a flow hash. */
  unkeyed: number;
  groupsOpened: number;
  /** Closed groups by reason (eviction reason 'closed' = watermark + superseded + flush; 'size' = size). */
  closed: Record<CloseReason, number>;
  openGroups: number;
  openObservations: number;
  peakOpenGroups: number;
  peakOpenObservations: number;
  /** Port look-ups that the resolver answered / could not answer. */
  resolved: number;
  unresolved: number;
  /** Highest event time seen minus the allowed lateness; -Infinity before the first observation. */
  watermark: number;
  /** Entries in the deadline heap (open groups plus stale entries; bounded by 2 x open groups + 1024). */
  heapEntries: number;
}

interface OpenGroup {
  key: string;
  kind: GroupKind;
  windowStart: number;
  firstSeen: number;
  lastSeen: number;
  /** When the watermark reaches this, the group closes. */
  closeAt: number;
  observations: Observation[];
  overflow: number;
  open: boolean;
}

const DEFAULTS = { windowMs: 2000, allowedLatenessMs: 3000, maxOpenGroups: 200_000, maxObservationsPerGroup: 64 } as const;
/** The deadline heap is rebuilt when it holds this many more entries than twice the open groups. */
const HEAP_SLACK = 1024;

export class Correlator {
  readonly #windowMs: number;
  readonly #latenessMs: number;
  readonly #maxGroups: number;
  readonly #maxPerGroup: number;
  readonly #join: JoinMode;
  readonly #resolver: Resolver | undefined;
  readonly #groups = new Map<string, OpenGroup>();
  // Min-heap of (closeAt, group) in two arrays; entries of closed groups are stale and skipped.
  #heapAt: number[] = [];
  #heapGroup: OpenGroup[] = [];
  #maxEventTime = Number.NEGATIVE_INFINITY;
  #outbox: ClosedGroup[] = [];
  readonly #stats: CorrelatorStats = {
    added: 0, accepted: 0, late: 0, overflow: 0, duplicate: 0, unkeyed: 0, groupsOpened: 0,
    closed: { watermark: 0, superseded: 0, size: 0, flush: 0 },
    openGroups: 0, openObservations: 0, peakOpenGroups: 0, peakOpenObservations: 0, resolved: 0, unresolved: 0,
    watermark: Number.NEGATIVE_INFINITY, heapEntries: 0,
  };

  constructor(options: CorrelatorOptions = {}) {
    this.#windowMs = positive('windowMs', options.windowMs ?? DEFAULTS.windowMs);
    this.#latenessMs = nonNegative('allowedLatenessMs', options.allowedLatenessMs ?? DEFAULTS.allowedLatenessMs);
    this.#maxGroups = positive('maxOpenGroups', options.maxOpenGroups ?? DEFAULTS.maxOpenGroups);
    this.#maxPerGroup = positive('maxObservationsPerGroup', options.maxObservationsPerGroup ?? DEFAULTS.maxObservationsPerGroup);
    this.#join = options.join ?? 'auto';
    this.#resolver = options.resolver;
  }

  /** Counters and gauges; a live object (read it, do not keep it across calls if you need a snapshot). */
  get stats(): Readonly<CorrelatorStats> {
    return this.#stats;
  }

  add(o: Observation): void {
    const stats = this.#stats;
    stats.added++;
    const t = o.receivedAtMs;
    if (t > this.#maxEventTime) {
      this.#maxEventTime = t;
      stats.watermark = t - this.#latenessMs;
    }
    if (t < stats.watermark) {
      stats.late++;
      this.#closeDue();
      return;
    }
    let kind: GroupKind;
    if (this.#join === 'frame') kind = 'frame';
    else if (this.#join === 'flow') kind = 'flow';
    else kind = o.fingerprint !== null && o.samplingRate <= 1 ? 'frame' : 'flow';
    let key: string;
    let windowStart: number;
    if (kind === 'frame') {
      if (o.fingerprint === null) {
        stats.unkeyed++;
        this.#closeDue();
        return;
      }
      key = o.fingerprint; // 16 hex digits: never equal to a flow key, which holds '@'
      windowStart = t;
    } else {
      if (o.flowHash === null) {
        stats.unkeyed++;
        this.#closeDue();
        return;
      }
      const index = Math.floor(t / this.#windowMs);
      key = `w${o.flowHash}@${index}`;
      windowStart = index * this.#windowMs;
    }
    let g = this.#groups.get(key);
    if (g !== undefined && kind === 'frame' && (Math.max(g.lastSeen, t) - Math.min(g.firstSeen, t) >= this.#windowMs || seenAgain(g.observations, o))) {
      this.#close(g, 'superseded');
      g = undefined;
    }
    if (g === undefined) {
      if (this.#groups.size >= this.#maxGroups) this.#evictOne();
      this.#resolve(o);
      g = {
        key, kind, windowStart, firstSeen: t, lastSeen: t,
        closeAt: kind === 'frame' ? t + this.#windowMs : windowStart + this.#windowMs,
        observations: [o], overflow: 0, open: true,
      };
      this.#groups.set(key, g);
      this.#push(g.closeAt, g);
      stats.groupsOpened++;
      stats.openGroups = this.#groups.size;
      if (stats.openGroups > stats.peakOpenGroups) stats.peakOpenGroups = stats.openGroups;
      this.#accepted();
      return;
    }
    if (isDuplicate(g.observations, o)) {
      stats.duplicate++;
      this.#closeDue();
      return;
    }
    if (g.observations.length >= this.#maxPerGroup) {
      g.overflow++;
      stats.overflow++;
      this.#closeDue();
      return;
    }
    if (t < g.firstSeen) {
      g.firstSeen = t;
      if (kind === 'frame') {
        g.windowStart = t;
        g.closeAt = t + this.#windowMs;
        this.#push(g.closeAt, g);
      }
    }
    if (t > g.lastSeen) g.lastSeen = t;
    this.#resolve(o);
    g.observations.push(o);
    this.#accepted();
  }

  #accepted(): void {
    const stats = this.#stats;
    stats.accepted++;
    stats.openObservations++;
    if (stats.openObservations > stats.peakOpenObservations) stats.peakOpenObservations = stats.openObservations;
    this.#closeDue();
  }

  /** Moves event time forward without an observation (an idle input): groups whose end the watermark passes close. */
  advanceTo(eventTimeMs: number): void {
    if (eventTimeMs > this.#maxEventTime) {
      this.#maxEventTime = eventTimeMs;
      this.#stats.watermark = eventTimeMs - this.#latenessMs;
    }
    this.#closeDue();
  }

  /** The groups closed since the last call, in closing order. */
  takeClosed(): ClosedGroup[] {
    const out = this.#outbox;
    this.#outbox = [];
    return out;
  }

  /** Closes every open group ('flush', in deadline order) and returns everything closed not yet taken. */
  flush(): ClosedGroup[] {
    while (this.#heapAt.length > 0) {
      const g = this.#pop();
      if (g.open) this.#close(g, 'flush');
    }
    return this.takeClosed();
  }

  #resolve(o: Observation): void {
    const resolver = this.#resolver;
    if (resolver === undefined) {
      o.resolution = 'unknown';
      return;
    }
    let asked = 0;
    let found = 0;
    if (o.inKind === 'ifindex' || o.inKind === 'none' || o.inKind === 'local') {
      asked++;
      o.inputPort = resolver.resolve(o.agent, o.subAgentId, o.inIfIndex, o.receivedAtMs) ?? null;
      if (o.inputPort !== null) found++;
    }
    if (o.outKind === 'ifindex' || o.outKind === 'none' || o.outKind === 'local') {
      asked++;
      o.outputPort = resolver.resolve(o.agent, o.subAgentId, o.outIfIndex, o.receivedAtMs) ?? null;
      if (o.outputPort !== null) found++;
    }
    this.#stats.resolved += found;
    this.#stats.unresolved += asked - found;
    o.resolution = found === 0 ? 'unknown' : found === asked ? 'resolved' : 'partial';
  }

  #closeDue(): void {
    const watermark = this.#stats.watermark;
    while (this.#heapAt.length > 0 && (this.#heapAt[0] as number) <= watermark) {
      const g = this.#pop();
      if (g.open && g.closeAt <= watermark) this.#close(g, 'watermark');
    }
    if (this.#heapAt.length > 2 * this.#groups.size + HEAP_SLACK) this.#rebuildHeap();
    this.#stats.heapEntries = this.#heapAt.length;
  }

  /** Closes the open group that ends first, to make room. */
  #evictOne(): void {
    while (this.#heapAt.length > 0) {
      const at = this.#heapAt[0] as number;
      const g = this.#pop();
      if (g.open && g.closeAt === at) {
        this.#close(g, 'size');
        return;
      }
    }
  }

  #close(g: OpenGroup, reason: CloseReason): void {
    g.open = false;
    if (this.#groups.get(g.key) === g) this.#groups.delete(g.key);
    const stats = this.#stats;
    stats.closed[reason]++;
    stats.openGroups = this.#groups.size;
    stats.openObservations -= g.observations.length;
    const observations = g.observations.length > 1 ? g.observations.sort(hopOrder) : g.observations;
    const first = observations[0];
    if (first === undefined) return; // never: a group is opened for an observation
    this.#outbox.push({
      kind: g.kind,
      fingerprint: g.kind === 'frame' ? first.fingerprint : null,
      flowHash: first.flowHash,
      flowKey: flowKeyOf(first),
      windowStart: g.windowStart,
      firstSeen: g.firstSeen,
      lastSeen: g.lastSeen,
      observations,
      closedBy: reason,
      overflow: g.overflow,
    });
  }

  #rebuildHeap(): void {
    const groups = [...this.#groups.values()].sort(byDeadline);
    this.#heapGroup = groups; // sorted ascending: a valid min-heap
    this.#heapAt = groups.map((g) => g.closeAt);
  }

  #push(at: number, g: OpenGroup): void {
    const times = this.#heapAt;
    const groups = this.#heapGroup;
    let i = times.length;
    times.push(at);
    groups.push(g);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(at, g, times[parent] as number, groups[parent] as OpenGroup)) break;
      times[i] = times[parent] as number;
      groups[i] = groups[parent] as OpenGroup;
      i = parent;
    }
    times[i] = at;
    groups[i] = g;
  }

  #pop(): OpenGroup {
    const times = this.#heapAt;
    const groups = this.#heapGroup;
    const top = groups[0] as OpenGroup;
    const lastAt = times.pop() as number;
    const lastGroup = groups.pop() as OpenGroup;
    const n = times.length;
    if (n > 0) {
      let i = 0;
      for (;;) {
        const left = 2 * i + 1;
        if (left >= n) break;
        const right = left + 1;
        let child = left;
        if (right < n && before(times[right] as number, groups[right] as OpenGroup, times[left] as number, groups[left] as OpenGroup)) child = right;
        if (!before(times[child] as number, groups[child] as OpenGroup, lastAt, lastGroup)) break;
        times[i] = times[child] as number;
        groups[i] = groups[child] as OpenGroup;
        i = child;
      }
      times[i] = lastAt;
      groups[i] = lastGroup;
    }
    return top;
  }
}

/** Heap order: deadline, then key, so that groups closing together close in an order arrival does not change. */
function before(atA: number, a: OpenGroup, atB: number, b: OpenGroup): boolean {
  if (atA !== atB) return atA < atB;
  return a.key < b.key;
}

function byDeadline(a: OpenGroup, b: OpenGroup): number {
  if (a.closeAt !== b.closeAt) return a.closeAt - b.closeAt;
  return a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
}

/** 0 a plain frame; 1 the outer frame of a tunnel (receiver's br-phy); 2 decapsulated (tunnel ingress records, br-tun). */
export function hopRank(o: Observation): number {
  if (o.tunnelIngressSrc !== null || o.tunnelIngressVni !== null) return 2;
  if (o.encapsulation !== 'none') return 1;
  return 0;
}

/** Event time, hop rank, agent, sub-agent, sample sequence, sample kind: a total order on distinct samples. */
export function hopOrder(a: Observation, b: Observation): number {
  if (a.receivedAtMs !== b.receivedAtMs) return a.receivedAtMs - b.receivedAtMs;
  const rank = hopRank(a) - hopRank(b);
  if (rank !== 0) return rank;
  if (a.agent !== b.agent) return a.agent < b.agent ? -1 : 1;
  if (a.subAgentId !== b.subAgentId) return a.subAgentId - b.subAgentId;
  if (a.sourceIdIndex !== b.sourceIdIndex) return a.sourceIdIndex - b.sourceIdIndex;
  if (a.sampleSequence !== b.sampleSequence) return a.sampleSequence - b.sampleSequence;
  if (a.sampleKind !== b.sampleKind) return a.sampleKind < b.sampleKind ? -1 : 1;
  return 0;
}

/**
 * Is `o` a second sight of the frame by a sampler that already saw it in the group (the same bytes
 * sent again), rather than the same sample again (a duplicate) or another hop? The same agent,
 * sub-agent (a bridge), source, sample kind, input port, source MAC, tunnel sender and hop rank: a
 * frame a router sends back into the same bridge comes in by another port with another source MAC,
 * a bridge that terminates a tunnel itself sees the outer frame and then the decapsulated one, and
 * a bridge may report one frame both as a flow sample and as a discard sample.
 */
export function sameSampler(a: Observation, b: Observation): boolean {
  return a.agent === b.agent && a.subAgentId === b.subAgentId && a.sourceIdType === b.sourceIdType && a.sourceIdIndex === b.sourceIdIndex
    && a.sampleKind === b.sampleKind && a.inKind === b.inKind && a.inIfIndex === b.inIfIndex && a.srcMac === b.srcMac && a.outerSrcIp === b.outerSrcIp
    && hopRank(a) === hopRank(b);
}

function seenAgain(observations: readonly Observation[], o: Observation): boolean {
  let again = false;
  for (const p of observations) {
    if (!sameSampler(p, o)) continue;
    if (p.sampleSequence === o.sampleSequence) return false; // the same sample: a duplicate
    again = true;
  }
  return again;
}

function isDuplicate(observations: readonly Observation[], o: Observation): boolean {
  for (const p of observations) {
    if (p.sampleSequence === o.sampleSequence && p.sourceIdIndex === o.sourceIdIndex && p.subAgentId === o.subAgentId
      && p.agent === o.agent && p.sourceIdType === o.sourceIdType && p.sampleKind === o.sampleKind) return true;
  }
  return false;
}

function positive(name: string, value: number): number {
  if (!(Number.isFinite(value) && value > 0)) throw new ConfigError('bad-value', `correlator option ${name} must be a positive number, got ${value}`, { key: name, origin: 'CorrelatorOptions' });
  return value;
}

function nonNegative(name: string, value: number): number {
  if (!(Number.isFinite(value) && value >= 0)) throw new ConfigError('bad-value', `correlator option ${name} must be a number >= 0, got ${value}`, { key: name, origin: 'CorrelatorOptions' });
  return value;
}
