// Rows of the path tables (pathengine/migrations.ts) for one analysed path. Absent values are
// '' in String columns and NULL in the Nullable ones whose 0 means something (ICMP type 0 is an
// echo reply, VLAN 0 is untagged-with-priority, tunnel id 0 is a key).
import type { Row } from '../store/store.js';
import { chTime, snapshotId } from '../topology/store.js';
import { VERSION } from '../version.js';
import type { AnalyzedPath, SnapshotVersion } from './analyze.js';

export interface PathRows {
  path: Row;
  hops: Row[];
}

/** `snapshots`: the snapshot ids (host@time) the path was judged by, when the path does not say. */
export function pathRows(p: AnalyzedPath, snapshots: readonly string[], computedAtMs: number): PathRows {
  const f = p.flow;
  const firstSeen = chTime(p.firstSeen);
  const computedAt = chTime(new Date(computedAtMs).toISOString());
  // UInt64 as a decimal string (JSONEachRow reads it exactly; no bigint in the row keeps its JSON fast)
  const version = ((BigInt(p.observations) << 32n) | BigInt(Math.floor(computedAtMs / 1000) >>> 0)).toString();
  const drop = p.drop;
  const path: Row = {
    first_seen: firstSeen,
    last_seen: chTime(p.lastSeen),
    path_id: p.pathId,
    kind: p.kind,
    verdict: p.verdict,
    confidence: p.confidence,
    answered: p.answered,
    conflict: p.conflict !== null && p.conflict !== undefined,
    conflict_reason: p.conflict ?? '',
    src_mac: f.srcMac ?? '',
    dst_mac: f.dstMac ?? '',
    src_ip: f.srcIp ?? '',
    dst_ip: f.dstIp ?? '',
    nat_host: p.nat?.host ?? '',
    nat_namespace: p.nat?.namespace ?? '',
    nat_src_ip: p.nat?.srcIp ?? '',
    nat_dst_ip: p.nat?.dstIp ?? '',
    ip_protocol: f.ipProtocol,
    src_port: f.srcPort,
    dst_port: f.dstPort,
    icmp_type: f.icmpType,
    fingerprint: p.fingerprint ?? '',
    observations: p.observations,
    sampling_rate: p.samplingRate,
    hops: p.hops.length,
    observed_hops: observedHops(p),
    start_host: p.hops[0]?.host ?? '',
    end_host: p.hops[p.hops.length - 1]?.host ?? '',
    drop_host: drop?.host ?? '',
    drop_device: drop?.device ?? '',
    drop_bridge: drop?.bridge ?? '',
    drop_table: dropTable(p),
    drop_rule: drop?.rule ?? '',
    drop_reason: drop?.reason ?? '',
    // copies: markAnswers may still add to a settled path's doubts
    doubts: [...p.doubts],
    checks: checkTexts(p),
    coverage: [...p.coverage],
    snapshots: snapshotIds(p, snapshots),
    computed_at: computedAt,
    version,
    hoptrace_version: VERSION,
  };
  const hops: Row[] = p.hops.map((h) => ({
    first_seen: firstSeen,
    path_id: p.pathId,
    seq: h.seq,
    host: h.host,
    namespace: h.namespace,
    kind: h.kind,
    device: h.device,
    bridge: h.bridge ?? '',
    in_port: h.inPort ?? '',
    out_port: h.outPort ?? '',
    vlan: h.vlan,
    tunnel_id: h.tunnelId,
    remote_ip: h.remoteIp ?? '',
    observed: h.observed,
    rules: [...h.rules],
    notes: [...(h.notes ?? [])],
    computed_at: computedAt,
    version,
  }));
  return { path, hops };
}

// Derived columns, shared with the RowBinary encoder (path-row-binary.ts): both must store the same.

export function observedHops(p: AnalyzedPath): number {
  let n = 0;
  for (const h of p.hops) if (h.observed) n++;
  return n;
}

export function dropTable(p: AnalyzedPath): string {
  const table = p.drop?.table;
  return table === null || table === undefined ? '' : String(table);
}

export function checkTexts(p: AnalyzedPath): string[] {
  return p.checks.map((c) => `${c.host}: ${c.command}`);
}

/** The snapshot ids (host@time) the path was judged by; `snapshots` when the path does not say. */
export function snapshotIds(p: AnalyzedPath, snapshots: readonly string[]): string[] {
  return p.snapshots === undefined ? [...snapshots] : p.snapshots.map(versionId);
}

// The paths of one context share its version objects: each id is built once, not once per path.
const versionIds = new WeakMap<SnapshotVersion, string>();

function versionId(v: SnapshotVersion): string {
  let id = versionIds.get(v);
  if (id === undefined) {
    id = snapshotId(v.host, v.takenAt);
    versionIds.set(v, id);
  }
  return id;
}
