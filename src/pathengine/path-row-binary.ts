// The path tables' rows (pathengine/migrations.ts) in RowBinary, the format the sample tables use
// (store/sflow-tables.ts): what the service's path stage writes. Every column holds what pathRows
// (path-rows.ts, JSONEachRow) puts there; path-row-binary.test.ts stores both ways and compares.
//
// A path is encoded once, when it settles (its answer window closed): the path row then its hop
// rows, in one small buffer. The stage's outbox holds these, and a write concatenates them into
// one batch per table. Encoding at settle time also freezes the values: markAnswers may still
// change a settled path (answered, doubts), as pathRows' copies did.
//
// Wire types are the columns' types without LowCardinality (sent as String, converted on insert;
// see EncodedRows.types). Nullable(T) is a byte (1 = NULL) and, when 0, a T. Kinds and verdicts
// are our own ASCII words (w.ascii); every other string may be any text (w.utf8).
import { RowBinaryWriter } from '../store/row-binary.js';
import type { WireColumn } from '../store/sflow-tables.js';
import type { EncodedRows } from '../store/store.js';
import { VERSION } from '../version.js';
import type { AnalyzedPath } from './analyze.js';
import { checkTexts, dropTable, observedHops, snapshotIds } from './path-rows.js';

const TIME = "DateTime64(3, 'UTC')";

export const PATH_WIRE: readonly WireColumn[] = [
  ['first_seen', TIME], ['last_seen', TIME], ['path_id', 'String'], ['kind', 'String'], ['verdict', 'String'],
  ['confidence', 'Float32'], ['answered', 'Nullable(Bool)'], ['conflict', 'Bool'], ['conflict_reason', 'String'],
  ['src_mac', 'String'], ['dst_mac', 'String'], ['src_ip', 'String'], ['dst_ip', 'String'],
  ['nat_host', 'String'], ['nat_namespace', 'String'], ['nat_src_ip', 'String'], ['nat_dst_ip', 'String'],
  ['ip_protocol', 'Nullable(UInt8)'], ['src_port', 'Nullable(UInt16)'], ['dst_port', 'Nullable(UInt16)'],
  ['icmp_type', 'Nullable(UInt8)'], ['fingerprint', 'String'], ['observations', 'UInt32'], ['sampling_rate', 'UInt32'],
  ['hops', 'UInt16'], ['observed_hops', 'UInt16'], ['start_host', 'String'], ['end_host', 'String'],
  ['drop_host', 'String'], ['drop_device', 'String'], ['drop_bridge', 'String'], ['drop_table', 'String'],
  ['drop_rule', 'String'], ['drop_reason', 'String'], ['doubts', 'Array(String)'], ['checks', 'Array(String)'],
  ['coverage', 'Array(String)'], ['snapshots', 'Array(String)'], ['computed_at', TIME], ['version', 'UInt64'],
  ['hoptrace_version', 'String'],
];

export const HOP_WIRE: readonly WireColumn[] = [
  ['first_seen', TIME], ['path_id', 'String'], ['seq', 'UInt16'], ['host', 'String'], ['namespace', 'String'],
  ['kind', 'String'], ['device', 'String'], ['bridge', 'String'], ['in_port', 'String'], ['out_port', 'String'],
  ['vlan', 'Nullable(UInt16)'], ['tunnel_id', 'Nullable(UInt64)'], ['remote_ip', 'String'], ['observed', 'Bool'],
  ['rules', 'Array(String)'], ['notes', 'Array(String)'], ['computed_at', TIME], ['version', 'UInt64'],
];

const PATH_COLUMNS = PATH_WIRE.map((c) => c[0]);
const PATH_TYPES = PATH_WIRE.map((c) => c[1]);
const HOP_COLUMNS = HOP_WIRE.map((c) => c[0]);
const HOP_TYPES = HOP_WIRE.map((c) => c[1]);

/** One settled path as RowBinary: its paths row, then its path_hops rows. */
export interface EncodedPath {
  readonly pathId: string;
  /** The paths row in bytes [0, hopsAt), the hop rows in [hopsAt, end). */
  readonly bytes: Uint8Array;
  readonly hopsAt: number;
  readonly hopCount: number;
}

/** Milliseconds of an ISO time, refused when it is not one (as chTime does for the JSON rows). */
function msOf(iso: string): number {
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) throw new RangeError(`bad time ${JSON.stringify(iso)}`);
  return ms;
}

function nullableU8(w: RowBinaryWriter, value: number | null | undefined): void {
  if (value === null || value === undefined) {
    w.u8(1);
    return;
  }
  w.u8(0);
  w.u8(value);
}

function nullableU16(w: RowBinaryWriter, value: number | null | undefined): void {
  if (value === null || value === undefined) {
    w.u8(1);
    return;
  }
  w.u8(0);
  w.u16(value);
}

/**
 * Encodes one path (see pathRows for `snapshots`). `w` is scratch space, reset here: the result is
 * a copy (Buffer.from: from Node's pool below 4 KiB, most paths), so one writer serves every path.
 */
export function encodePath(p: AnalyzedPath, snapshots: readonly string[], computedAtMs: number, w: RowBinaryWriter): EncodedPath {
  const f = p.flow;
  const firstSeen = msOf(p.firstSeen);
  // Date's own truncation, as new Date(computedAtMs) in pathRows
  const computedAt = Math.trunc(computedAtMs);
  // version = observations << 32 | computed_at seconds: the UInt64 as its two little-endian halves
  const versionLow = Math.floor(computedAtMs / 1000) >>> 0;
  const versionHigh = p.observations >>> 0;
  const drop = p.drop;
  const nat = p.nat;
  const hops = p.hops;
  w.reset();
  w.i64(firstSeen);
  w.i64(msOf(p.lastSeen));
  w.utf8(p.pathId);
  w.ascii(p.kind);
  w.ascii(p.verdict);
  w.f32(p.confidence);
  if (p.answered === null || p.answered === undefined) w.u8(1);
  else {
    w.u8(0);
    w.bool(p.answered);
  }
  w.bool(p.conflict !== null && p.conflict !== undefined);
  w.utf8(p.conflict ?? '');
  w.utf8(f.srcMac ?? '');
  w.utf8(f.dstMac ?? '');
  w.utf8(f.srcIp ?? '');
  w.utf8(f.dstIp ?? '');
  w.utf8(nat?.host ?? '');
  w.utf8(nat?.namespace ?? '');
  w.utf8(nat?.srcIp ?? '');
  w.utf8(nat?.dstIp ?? '');
  nullableU8(w, f.ipProtocol);
  nullableU16(w, f.srcPort);
  nullableU16(w, f.dstPort);
  nullableU8(w, f.icmpType);
  w.utf8(p.fingerprint ?? '');
  w.u32(p.observations);
  w.u32(p.samplingRate);
  w.u16(hops.length);
  w.u16(observedHops(p));
  w.utf8(hops[0]?.host ?? '');
  w.utf8(hops[hops.length - 1]?.host ?? '');
  w.utf8(drop?.host ?? '');
  w.utf8(drop?.device ?? '');
  w.utf8(drop?.bridge ?? '');
  w.utf8(dropTable(p));
  w.utf8(drop?.rule ?? '');
  w.utf8(drop?.reason ?? '');
  w.utf8Array(p.doubts);
  w.utf8Array(checkTexts(p));
  w.utf8Array(p.coverage);
  w.utf8Array(snapshotIds(p, snapshots));
  w.i64(computedAt);
  w.u32(versionLow);
  w.u32(versionHigh);
  w.utf8(VERSION);
  const hopsAt = w.length;
  for (const h of hops) {
    w.i64(firstSeen);
    w.utf8(p.pathId);
    w.u16(h.seq);
    w.utf8(h.host);
    w.utf8(h.namespace);
    w.ascii(h.kind);
    w.utf8(h.device);
    w.utf8(h.bridge ?? '');
    w.utf8(h.inPort ?? '');
    w.utf8(h.outPort ?? '');
    nullableU16(w, h.vlan);
    if (h.tunnelId === null || h.tunnelId === undefined) w.u8(1);
    else {
      w.u8(0);
      w.i64(h.tunnelId); // UInt64 and Int64 have the same bytes below 2^53
    }
    w.utf8(h.remoteIp ?? '');
    w.bool(h.observed);
    w.utf8Array(h.rules);
    w.utf8Array(h.notes ?? []);
    w.i64(computedAt);
    w.u32(versionLow);
    w.u32(versionHigh);
  }
  return { pathId: p.pathId, bytes: Buffer.from(w.bytes()), hopsAt, hopCount: hops.length };
}

/** The paths and path_hops batches of some encoded paths, in their order. */
export function pathBatches(paths: readonly EncodedPath[]): { paths: EncodedRows; hops: EncodedRows } {
  let pathBytes = 0;
  let hopBytes = 0;
  let hopCount = 0;
  for (const e of paths) {
    pathBytes += e.hopsAt;
    hopBytes += e.bytes.byteLength - e.hopsAt;
    hopCount += e.hopCount;
  }
  const pathData = new Uint8Array(pathBytes);
  const hopData = new Uint8Array(hopBytes);
  let p = 0;
  let h = 0;
  for (const e of paths) {
    pathData.set(e.bytes.subarray(0, e.hopsAt), p);
    p += e.hopsAt;
    hopData.set(e.bytes.subarray(e.hopsAt), h);
    h += e.bytes.byteLength - e.hopsAt;
  }
  return {
    paths: { format: 'RowBinary', columns: PATH_COLUMNS, types: PATH_TYPES, data: pathData, rowCount: paths.length },
    hops: { format: 'RowBinary', columns: HOP_COLUMNS, types: HOP_TYPES, data: hopData, rowCount: hopCount },
  };
}
