// The RowBinary path rows (what the service's path stage writes) against the JSON rows of pathRows
// (what it wrote before, and what every column must still hold): the paths of the shipped lab
// capture, judged by its three snapshot sets, written both ways into two copies of the real tables
// of an embedded chDB, then read back and compared column by column. Some paths get odd values on
// top (non-ASCII text, a tunnel id past 2^32, a path without snapshot versions) so that the edges
// of the encoding are covered by stored rows, not only by the capture's luck.
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importSnapshots } from '../snapshot/import.js';
import { ChdbStore } from '../store/chdb-store.js';
import { RowBinaryWriter } from '../store/row-binary.js';
import type { Row } from '../store/store.js';
import { buildTopologies } from '../topology/build.js';
import { analyzeDatagrams, readCapture, type AnalyzedPath } from './analyze.js';
import { encodePath, pathBatches } from './path-row-binary.js';
import { pathRows } from './path-rows.js';

const FIXTURE = fileURLToPath(new URL('../../test/fixtures/lab-capture/', import.meta.url));
const COMPUTED_AT = Date.UTC(2026, 11, 7, 17, 30, 12, 345);
const OTHER_SNAPSHOTS = ['compute1@2026-11-25T10:00:00.000Z', 'network1@2026-11-25T10:00:01.000Z'];

/** The capture's paths, with a few made odd (copies: the analysis is left as it was). */
async function labPaths(): Promise<AnalyzedPath[]> {
  const sets = join(FIXTURE, 'snapshots');
  const imported = await importSnapshots(readdirSync(sets).flatMap((set) => readdirSync(join(sets, set)).map((h) => join(sets, set, h))));
  const raws = imported.snapshots;
  const capture = readCapture(new Uint8Array(readFileSync(join(FIXTURE, 'sflow.pcap'))), 'sflow.pcap');
  const paths = analyzeDatagrams(capture.datagrams, buildTopologies(raws).topologies, { rawSnapshots: raws }).paths;
  const odd = (i: number, change: (p: AnalyzedPath) => AnalyzedPath): void => {
    const p = paths[i];
    if (p !== undefined) paths[i] = change(p);
  };
  odd(0, (p) => ({
    ...p,
    doubts: [...p.doubts, 'hôte réseau: «règle» → 路径 🚦', ''],
    conflict: 'réponse vue — «answered»',
    hops: p.hops.map((h, i) => (i === 0 ? { ...h, host: 'rechner-ü', device: 'tap-ñ', rules: [...h.rules, 'règle 🚦'], notes: ['note ä', ''], tunnelId: 2 ** 40 + 7, vlan: 4095 } : h)),
  }));
  odd(1, (p) => {
    const { snapshots: _gone, ...rest } = p;
    return { ...rest, answered: null, conflict: null, confidence: 0.1 + 0.2 };
  });
  // the capture has ICMP and ARP only: a UDP path with the edge ports
  odd(2, (p) => ({ ...p, flow: { ...p.flow, ipProtocol: 17, srcPort: 0, dstPort: 65535, icmpType: null }, drop: { host: 'network1', device: 'qrouter-x', bridge: null, table: 'filter', rule: null, reason: 'iptables DROP' }, answered: false }));
  return paths;
}

describe('RowBinary path rows', () => {
  let dir: string;
  let store: ChdbStore;
  let paths: AnalyzedPath[];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hoptrace-path-rows-'));
    store = await ChdbStore.open({ path: join(dir, 'data') });
    await store.migrate();
    await store.command('CREATE TABLE paths_json AS paths');
    await store.command('CREATE TABLE path_hops_json AS path_hops');
    paths = await labPaths();
  }, 60_000);

  afterAll(async () => {
    await store?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('store the same values as the JSON rows, column by column, for every path and hop of the lab capture', async () => {
    const w = new RowBinaryWriter(256); // small: the writer's growth is exercised too
    const encoded = paths.map((p) => encodePath(p, OTHER_SNAPSHOTS, COMPUTED_AT, w));
    const { paths: pathBatch, hops: hopBatch } = pathBatches(encoded);
    const json = paths.map((p) => pathRows(p, OTHER_SNAPSHOTS, COMPUTED_AT));
    const jsonHops: Row[] = json.flatMap((r) => r.hops);
    expect(pathBatch.rowCount).toBe(paths.length);
    expect(hopBatch.rowCount).toBe(jsonHops.length);

    await store.insert('path_hops', hopBatch, { dedupToken: 'test:hops' });
    await store.insert('paths', pathBatch, { dedupToken: 'test:paths' });
    await store.insert('path_hops_json', jsonHops);
    await store.insert('paths_json', json.map((r) => r.path));

    const read = (table: string, order: string): Promise<Record<string, unknown>[]> => store.query(`SELECT * FROM ${table} ORDER BY ${order}`);
    const binaryPaths = await read('paths', 'first_seen, path_id');
    const jsonPaths = await read('paths_json', 'first_seen, path_id');
    expect(binaryPaths).toHaveLength(paths.length);
    expect(binaryPaths).toEqual(jsonPaths);
    const binaryHops = await read('path_hops', 'first_seen, path_id, seq');
    expect(binaryHops).toHaveLength(jsonHops.length);
    expect(binaryHops).toEqual(await read('path_hops_json', 'first_seen, path_id, seq'));
    // and in ClickHouse's own terms (Float32, Nullable, DateTime64 compared as stored)
    for (const [a, b] of [['paths', 'paths_json'], ['path_hops', 'path_hops_json']] as const) {
      const diff = await store.query<{ n: string }>(`SELECT count() AS n FROM ((SELECT * FROM ${a} EXCEPT SELECT * FROM ${b}) UNION ALL (SELECT * FROM ${b} EXCEPT SELECT * FROM ${a}))`);
      expect(diff[0]?.n, `${a} vs ${b}`).toBe('0');
    }

    // the rows compared hold the cases that matter, stored (not only in the input)
    const has = async (sql: string): Promise<number> => Number((await store.query<{ n: string }>(`SELECT count() AS n FROM ${sql}`))[0]?.n);
    expect(await has("paths WHERE nat_host != '' AND nat_src_ip != '' AND nat_dst_ip != '' AND nat_namespace LIKE 'qrouter-%'")).toBeGreaterThan(0);
    expect(await has("paths WHERE nat_host = ''")).toBeGreaterThan(0);
    expect(await has('paths WHERE answered IS NULL')).toBeGreaterThan(0);
    expect(await has('paths WHERE answered = true')).toBeGreaterThan(0);
    expect(await has('paths WHERE answered = false')).toBeGreaterThan(0);
    expect(await has('paths WHERE conflict')).toBeGreaterThan(0);
    expect(await has('paths WHERE ip_protocol IS NULL AND icmp_type IS NULL AND src_port IS NULL')).toBeGreaterThan(0);
    expect(await has('paths WHERE icmp_type = 0 AND ip_protocol = 1')).toBeGreaterThan(0); // 0 is an echo reply, not NULL
    expect(await has('paths WHERE ip_protocol = 17 AND src_port = 0 AND dst_port = 65535 AND icmp_type IS NULL')).toBe(1);
    expect(await has("paths WHERE verdict = 'dropped' AND drop_table = '3'")).toBeGreaterThan(0);
    expect(await has("paths WHERE drop_table = 'filter' AND drop_bridge = '' AND drop_rule = ''")).toBe(1);
    expect(await has('paths WHERE length(checks) > 0')).toBeGreaterThan(0);
    expect(await has(`paths WHERE snapshots = ['${OTHER_SNAPSHOTS.join("', '")}']`)).toBe(1); // the path without versions
    expect(await has("paths WHERE arrayExists(d -> d LIKE '%路径 🚦%', doubts) AND conflict_reason = 'réponse vue — «answered»'")).toBe(1);
    expect(await has('path_hops WHERE vlan IS NULL')).toBeGreaterThan(0);
    expect(await has('path_hops WHERE vlan IS NOT NULL')).toBeGreaterThan(0);
    expect(await has('path_hops WHERE tunnel_id IS NULL')).toBeGreaterThan(0);
    expect(await has('path_hops WHERE tunnel_id IS NOT NULL AND tunnel_id < 4294967296')).toBeGreaterThan(0);
    expect(await has("path_hops WHERE tunnel_id = 1099511627783 AND vlan = 4095 AND host = 'rechner-ü' AND has(rules, 'règle 🚦') AND notes = ['note ä', '']")).toBe(1);
    expect(await has('path_hops WHERE length(notes) > 0')).toBeGreaterThan(1);
    expect(await has('path_hops WHERE NOT observed')).toBeGreaterThan(0);
    const [version] = await store.query<{ v: string; want: string }>(
      `SELECT toString(version) AS v, toString(bitOr(bitShiftLeft(toUInt64(observations), 32), toUInt64(toUnixTimestamp(computed_at)))) AS want FROM paths ORDER BY observations DESC LIMIT 1`,
    );
    expect(version?.v).toBe(version?.want);
  });

  it('refuses a path whose time is not one (as pathRows does), rather than writing a wrong row', () => {
    const p = paths[0] as AnalyzedPath;
    const w = new RowBinaryWriter();
    expect(() => encodePath({ ...p, firstSeen: 'yesterday' }, [], COMPUTED_AT, w)).toThrow(RangeError);
    expect(() => pathRows({ ...p, firstSeen: 'yesterday' }, [], COMPUTED_AT)).toThrow(RangeError);
  });
});
