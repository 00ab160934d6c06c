// A stored path (tables paths and path_hops, pathengine/migrations.ts) back in the shape
// `hoptrace analyze --json` prints (AnalyzedPath): the inverse of pathRows (path-rows.ts), so that a
// script written against `analyze --json` reads `hoptrace paths --json` too.
//
// What the store does not keep, so what this shape leaves out or cannot tell apart:
// - flow.arpOp (1 request, 2 reply, set on ARP paths): no column; left out. An ARP path is still
//   told by ipProtocol null with srcIp/dstIp set (the sender and target addresses).
// - Hop.notes absent or []: analyze leaves notes out on most hops with none; the column holds []
//   for both, so notes is always an array here.
// - conflict, snapshots and nat absent: a stored path always has them (null, [], null when none),
//   as every path analyze prints.
// Times come back to the millisecond (DateTime64(3)), as analyze has them.
import type { AnalyzedPath, NatSide, PathFlow, SnapshotVersion } from './analyze.js';
import type { Hop, HopKind } from './linux-hops.js';
import type { PathDrop, Verdict } from './verdict.js';

/** A row of `paths` as JSONEachRow gives it (the columns `hoptrace paths` selects). */
export interface StoredPathRow {
  first_seen: string;
  last_seen: string;
  path_id: string;
  kind: string;
  verdict: string;
  confidence: number;
  answered: boolean | null;
  conflict: boolean;
  conflict_reason: string;
  src_mac: string;
  dst_mac: string;
  src_ip: string;
  dst_ip: string;
  /** The addresses on the other side of a router's NAT ('' without one). */
  nat_host: string;
  nat_namespace: string;
  nat_src_ip: string;
  nat_dst_ip: string;
  ip_protocol: number | null;
  src_port: number | null;
  dst_port: number | null;
  icmp_type: number | null;
  fingerprint: string;
  observations: number;
  sampling_rate: number;
  hops: number;
  observed_hops: number;
  drop_host: string;
  drop_device: string;
  drop_bridge: string;
  drop_table: string;
  drop_rule: string;
  drop_reason: string;
  doubts: string[];
  checks: string[];
  coverage: string[];
  snapshots: string[];
}

/** A row of `path_hops` as JSONEachRow gives it. */
export interface StoredHopRow {
  seq: number;
  host: string;
  namespace: string;
  kind: string;
  device: string;
  bridge: string;
  in_port: string;
  out_port: string;
  vlan: number | null;
  /** UInt64: a decimal string from JSONEachRow (output_format_json_quote_64bit_integers), a number or bigint from elsewhere. */
  tunnel_id: string | number | bigint | null;
  remote_ip: string;
  observed: boolean;
  rules: string[];
  notes: string[];
}

/** An AnalyzedPath as the store gives it back (see the file's head for what differs). */
export interface StoredAnalyzedPath extends Omit<AnalyzedPath, 'flow' | 'hops' | 'conflict' | 'snapshots' | 'nat'> {
  flow: Omit<PathFlow, 'arpOp'>;
  hops: (Hop & { notes: string[] })[];
  conflict: string | null;
  snapshots: SnapshotVersion[];
  nat: NatSide | null;
}

/** A stored path without its hops (`hoptrace paths --json`): how many, and how many observed, instead. */
export type StoredPathSummary = Omit<StoredAnalyzedPath, 'hops'> & { hopCount: number; observedHops: number };

/** With hops: the path as `analyze --json` prints it. Without: the summary `paths --json` lists. */
export function storedPath(row: StoredPathRow, hops: readonly StoredHopRow[]): StoredAnalyzedPath;
export function storedPath(row: StoredPathRow): StoredPathSummary;
export function storedPath(row: StoredPathRow, hops?: readonly StoredHopRow[]): StoredAnalyzedPath | StoredPathSummary {
  // AnalyzedPath's key order, hops (or their counts) where analyze has them
  const head = {
    pathId: row.path_id,
    kind: row.kind as AnalyzedPath['kind'],
    flow: {
      srcMac: orNull(row.src_mac),
      dstMac: orNull(row.dst_mac),
      srcIp: orNull(row.src_ip),
      dstIp: orNull(row.dst_ip),
      ipProtocol: row.ip_protocol,
      srcPort: row.src_port,
      dstPort: row.dst_port,
      icmpType: row.icmp_type,
    },
    fingerprint: orNull(row.fingerprint),
    firstSeen: isoOfStored(row.first_seen),
    lastSeen: isoOfStored(row.last_seen),
    verdict: row.verdict as Verdict,
    confidence: row.confidence,
    drop: dropOf(row),
  };
  const tail = {
    observations: row.observations,
    samplingRate: row.sampling_rate,
    checks: row.checks.map(checkOf),
    doubts: [...row.doubts],
    coverage: [...row.coverage],
    answered: row.answered,
    conflict: row.conflict ? row.conflict_reason : null,
    snapshots: row.snapshots.map(snapshotOf),
    nat: row.nat_host === '' ? null : { host: row.nat_host, namespace: row.nat_namespace, srcIp: row.nat_src_ip, dstIp: row.nat_dst_ip },
  };
  if (hops === undefined) return { ...head, hopCount: row.hops, observedHops: row.observed_hops, ...tail };
  return { ...head, hops: hops.map(hopOf), ...tail };
}

function orNull(text: string): string | null {
  return text === '' ? null : text;
}

/** ClickHouse's DateTime64(3, 'UTC') text ("2026-11-25 10:52:56.344") as ISO 8601 with Z. */
export function isoOfStored(text: string): string {
  const ms = Date.parse(/[zZ]|[+-]\d\d:?\d\d$/.test(text) ? text : `${text.replace(' ', 'T')}Z`);
  if (Number.isNaN(ms)) throw new RangeError(`not a stored time: ${JSON.stringify(text)}`);
  return new Date(ms).toISOString();
}

function dropOf(row: StoredPathRow): PathDrop | null {
  if (row.drop_host === '') return null;
  // an OpenFlow table is a number; iptables tables and 'route' are words (verdict.ts PathDrop.table)
  const table = row.drop_table === '' ? null : /^\d+$/.test(row.drop_table) ? Number(row.drop_table) : row.drop_table;
  return { host: row.drop_host, device: row.drop_device, bridge: orNull(row.drop_bridge), table, rule: orNull(row.drop_rule), reason: row.drop_reason };
}

/** "host: command" (path-rows.ts): the host never holds ": ", the command may. */
function checkOf(text: string): { host: string; command: string } {
  const at = text.indexOf(': ');
  return at < 0 ? { host: '', command: text } : { host: text.slice(0, at), command: text.slice(at + 2) };
}

/** "host@ISO time" (topology/store.ts snapshotId): split at the last '@'. */
function snapshotOf(id: string): SnapshotVersion {
  const at = id.lastIndexOf('@');
  return at < 0 ? { host: id, takenAt: '' } : { host: id.slice(0, at), takenAt: isoOfStored(id.slice(at + 1)) };
}

function hopOf(h: StoredHopRow): Hop & { notes: string[] } {
  return {
    seq: h.seq,
    host: h.host,
    namespace: h.namespace,
    kind: h.kind as HopKind,
    device: h.device,
    bridge: orNull(h.bridge),
    inPort: orNull(h.in_port),
    outPort: orNull(h.out_port),
    vlan: h.vlan,
    // Hop.tunnelId is a number: the stored UInt64 came from one, so Number() gives it back exactly
    tunnelId: h.tunnel_id === null ? null : Number(h.tunnel_id),
    remoteIp: orNull(h.remote_ip),
    observed: h.observed,
    rules: [...h.rules],
    notes: [...h.notes],
  };
}
