// ChdbStore on a real data directory: migrations (twice), the sFlow rows round trip, troubleshooting
// queries (those of docs/schema.md), deduplication, persistence across close/reopen, errors.
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DecodeError, StoreError } from '../../src/errors.js';
import { readUdpPayloads } from '../../src/pcap/pcap-reader.js';
import { SflowRowBatch, toRows } from '../../src/pipeline/rows.js';
import { decodeDatagram } from '../../src/sflow/datagram.js';
import type { Datagram } from '../../src/sflow/types.js';
import { ChdbStore } from '../../src/store/chdb-store.js';
import { ALL_MIGRATIONS as MIGRATIONS, ALL_RETENTION } from '../../src/store/schema.js';
import { COUNTER_WIRE, DATAGRAM_WIRE, DISCARD_WIRE, FLOW_WIRE, QUARANTINE_WIRE, type WireColumn } from '../../src/store/sflow-tables.js';
import { COMPUTE, FIXTURE_COUNTS, NETWORK, T0, VM_A, VM_B, fixtureDatagrams } from './store-fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'hoptrace-store-chdb-'));
const dataPath = join(dir, 'data');
let store: ChdbStore;

const iso = (ms: number): string => new Date(ms).toISOString().replace('T', ' ').replace('Z', '');
const count = async (sql: string, params?: Record<string, string | number>): Promise<number> => {
  const rows = await store.query<{ n: string }>(sql, params);
  return Number(rows[0]?.n);
};

function buildBatch(): SflowRowBatch {
  const batch = new SflowRowBatch();
  for (const { input, meta } of fixtureDatagrams()) batch.add(input, meta);
  return batch;
}

async function insertBatch(batch: SflowRowBatch, token: string | undefined): Promise<void> {
  for (const { table, rows } of batch.tables()) await store.insert(table, rows, token === undefined ? {} : { dedupToken: `${token}:${table}` });
}

beforeAll(async () => {
  store = await ChdbStore.open({ path: dataPath });
});

afterAll(async () => {
  await store?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('ChdbStore', () => {
  it('migrates an empty directory, then finds nothing to do', async () => {
    const first = await store.migrate();
    expect(first.applied).toEqual(MIGRATIONS.map((m) => m.id));
    expect(first.alreadyApplied).toEqual([]);
    const second = await store.migrate();
    expect(second.applied).toEqual([]);
    expect(second.alreadyApplied).toEqual(MIGRATIONS.map((m) => m.id));
    expect(second.retentionChanged).toEqual([]);
    expect(await count('SELECT count() AS n FROM schema_migrations FINAL')).toBe(MIGRATIONS.length);
  });

  it.each([
    { table: 'flow_samples', wire: FLOW_WIRE },
    { table: 'counter_samples', wire: COUNTER_WIRE },
    { table: 'discard_samples', wire: DISCARD_WIRE },
    { table: 'sflow_datagrams', wire: DATAGRAM_WIRE },
    { table: 'quarantine', wire: QUARANTINE_WIRE },
  ])('$table has exactly the columns its encoder writes, plus stored_at and row_id', async ({ table, wire }: { table: string; wire: readonly WireColumn[] }) => {
    const columns = await store.query<{ name: string; default_kind: string }>(
      'SELECT name, default_kind FROM system.columns WHERE database = {db:String} AND table = {table:String} ORDER BY position',
      { db: store.database, table },
    );
    expect(columns.filter((c) => c.default_kind === '').map((c) => c.name)).toEqual(wire.map((c) => c[0]));
    expect(columns.filter((c) => c.default_kind !== '')).toEqual([
      { name: 'stored_at', default_kind: 'DEFAULT' },
      { name: 'row_id', default_kind: 'MATERIALIZED' },
    ]);
  });

  it('stores a batch of decoded datagrams and reads every table back', async () => {
    await insertBatch(buildBatch(), 'batch-1');
    expect(await count('SELECT count() AS n FROM sflow_datagrams')).toBe(FIXTURE_COUNTS.datagrams);
    expect(await count('SELECT count() AS n FROM flow_samples')).toBe(FIXTURE_COUNTS.flows);
    expect(await count('SELECT count() AS n FROM counter_samples')).toBe(FIXTURE_COUNTS.counters);
    expect(await count('SELECT count() AS n FROM discard_samples')).toBe(FIXTURE_COUNTS.discards);
    expect(await count('SELECT count() AS n FROM quarantine')).toBe(FIXTURE_COUNTS.quarantine);
    expect(await count('SELECT sum(samples) AS n FROM flow_samples_1m')).toBe(FIXTURE_COUNTS.flows);
  });

  it('gives back what the rows held, column by column', async () => {
    const source = fixtureDatagrams().find((d) => !(d.input instanceof Error) && d.input.agent === NETWORK);
    if (source === undefined) throw new Error('fixture has no network datagram');
    const want = toRows(source.input, source.meta).flows[0];
    if (want === undefined) throw new Error('fixture datagram has no flow');
    const [got] = await store.query<Record<string, unknown>>(
      `SELECT *, hex(header) AS header_hex FROM flow_samples
       WHERE agent = {agent:String} AND datagram_sequence = {seq:UInt32} AND sample_index = 0`,
      { agent: NETWORK, seq: want.datagram_sequence },
    );
    expect(got).toMatchObject({
      received_at: iso(Math.floor(want.received_at)), exporter: NETWORK, agent: NETWORK, sub_agent_id: 2, input_value: 0,
      output_format: 2, output_value: 1, record_kinds: ['sampled_header', 'extended_switch'], header_length: 110,
      header_hex: Buffer.from(want.header).toString('hex').toUpperCase(),
      layers: ['eth', 'ipv4', 'gre', 'eth', 'ipv4', 'tcp'], src_ip: '::ffff:203.0.113.1', dst_ip: '::ffff:203.0.113.2',
      ip_protocol: 47, tunnel_type: 'gre', tunnel_id: 100, tunnel_protocol: 0x6558,
      inner_src_ip: `::ffff:${VM_A}`, inner_dst_ip: `::ffff:${VM_B}`, inner_dst_port: 22, inner_src_mac: 'fa:16:3e:00:00:0a',
      vlan_ids: [], extended: {}, expanded: false, fragment: false,
    });
    const [counter] = await store.query<Record<string, unknown>>(
      "SELECT in_octets, if_speed, of_datapath_id, port_name FROM counter_samples WHERE has(record_kinds, 'openflow_port')",
    );
    expect(counter).toEqual({ in_octets: '123456789012', if_speed: '10000000000', of_datapath_id: String(0x5e6f7a8b9c0d), port_name: 'tap1234abcd-ef' });
    const [bridge] = await store.query<{ metrics: Record<string, number> }>('SELECT metrics FROM counter_samples WHERE source_id_type = 2');
    expect(bridge?.metrics).toEqual({ 'app_resources.user_time': 1200, 'app_resources.sys_time': 300, 'ovs_dp_stats.hits': 5000, 'ovs_dp_stats.misses': 42, 'ovs_dp_stats.lost': 0 });
    const raw = await store.query<{ h: string }>("SELECT hex(raw) AS h FROM sflow_datagrams WHERE decode_status = 'failed'");
    expect(raw).toEqual([{ h: '000000052C090A5CFF' }]);
  });

  it('answers "samples from agent X, port Y, in a time range" with bound parameters', async () => {
    const params = { agent: COMPUTE, port: 5, from: iso(T0), to: iso(T0 + 59_999) };
    const sql = `SELECT count() AS n FROM flow_samples
      WHERE agent = {agent:String} AND input_value = {port:UInt32}
        AND received_at BETWEEN {from:DateTime64(3, 'UTC')} AND {to:DateTime64(3, 'UTC')}`;
    expect(await count(sql, params)).toBe(FIXTURE_COUNTS.firstMinuteComputeFlows);
    expect(await count(sql, { ...params, to: iso(T0 + 120_000) })).toBe(FIXTURE_COUNTS.computeFlows);
    expect(await count(sql, { ...params, agent: "192.0.2.10' OR 1=1 --" })).toBe(0);
  });

  it('runs every troubleshooting query of docs/schema.md, and each finds the fixture', async () => {
    const doc = readFileSync(new URL('../../docs/schema.md', import.meta.url), 'utf8');
    const queries = [...doc.matchAll(/^### (\d+\. .*)\n\n```sql\n([\s\S]*?)```/gm)].map((m) => ({ title: m[1] as string, sql: m[2] as string }));
    expect(queries.length).toBeGreaterThanOrEqual(5);
    const params = { agent: COMPUTE, sub_agent: 1, if_index: 5, from: iso(T0), to: iso(T0 + 3_600_000), src: VM_A, dst: VM_B, dst_port: 22 };
    for (const { title, sql } of queries) {
      const used = Object.fromEntries(Object.entries(params).filter(([name]) => sql.includes(`{${name}:`)));
      const rows = await store.query(sql, used);
      expect({ title, found: rows.length > 0 }).toEqual({ title, found: true });
    }
    const [seen] = await store.query<{ hosts: string[] }>(
      `SELECT groupArray(agent) AS hosts FROM (${queries.find((q) => q.title.startsWith('2.'))?.sql ?? ''})`,
      { from: params.from, to: params.to, src: VM_A, dst: VM_B, dst_port: 22 },
    );
    expect(seen?.hosts.sort()).toEqual([COMPUTE, NETWORK]);
  });

  it('drops a batch inserted again with the same token, rollup included', async () => {
    await insertBatch(buildBatch(), 'batch-1');
    expect(await count('SELECT count() AS n FROM flow_samples')).toBe(FIXTURE_COUNTS.flows);
    expect(await count('SELECT count() AS n FROM counter_samples')).toBe(FIXTURE_COUNTS.counters);
    expect(await count('SELECT count() AS n FROM sflow_datagrams')).toBe(FIXTURE_COUNTS.datagrams);
    expect(await count('SELECT sum(samples) AS n FROM flow_samples_1m')).toBe(FIXTURE_COUNTS.flows);
  });

  it('collapses a replay under another token by row id (FINAL, or after a merge)', async () => {
    // No background merge between the insert and the first count: it would collapse the copies early.
    await store.command('SYSTEM STOP MERGES flow_samples');
    await insertBatch(buildBatch(), 'batch-1-replayed-differently');
    expect(await count('SELECT count() AS n FROM flow_samples')).toBe(2 * FIXTURE_COUNTS.flows);
    await store.command('SYSTEM START MERGES flow_samples');
    expect(await count('SELECT count() AS n FROM flow_samples FINAL')).toBe(FIXTURE_COUNTS.flows);
    expect(await count('SELECT uniqExact(row_id) AS n FROM flow_samples')).toBe(FIXTURE_COUNTS.flows);
    await store.command('OPTIMIZE TABLE flow_samples FINAL');
    expect(await count('SELECT count() AS n FROM flow_samples')).toBe(FIXTURE_COUNTS.flows);
    expect(await count('SELECT count() AS n FROM sflow_datagrams FINAL')).toBe(FIXTURE_COUNTS.datagrams);
    expect(await count('SELECT count() AS n FROM quarantine FINAL')).toBe(FIXTURE_COUNTS.quarantine);
  });

  it('takes plain rows as JSONEachRow, 64-bit values exact', async () => {
    await store.command('CREATE TABLE IF NOT EXISTS json_probe (id UInt64, name String, tags Array(String), at DateTime64(3, \'UTC\')) ENGINE = MergeTree ORDER BY id');
    await store.insert('json_probe', [
      { id: 18446744073709551615n, name: 'tab\there "quoted" é', tags: ['a', 'b'], at: '2026-01-15 10:00:00.123' },
      { id: 1, name: '', tags: [], at: '2026-01-15 10:00:01.000' },
    ]);
    expect(await store.query('SELECT * FROM json_probe ORDER BY id')).toEqual([
      { id: '1', name: '', tags: [], at: '2026-01-15 10:00:01.000' },
      { id: '18446744073709551615', name: 'tab\there "quoted" é', tags: ['a', 'b'], at: '2026-01-15 10:00:00.123' },
    ]);
    expect(await store.queryText('SELECT id FROM json_probe ORDER BY id', 'TSV')).toBe('1\n18446744073709551615\n');
    expect(await store.queryText('SELECT count() AS n FROM json_probe', 'PrettyCompactMonoBlock')).toContain('│ 2 │');
    await store.command('DROP TABLE json_probe');
  });

  it('reports ClickHouse errors as StoreError with the code and a query id', async () => {
    const syntax = await store.query('SELEC 1').catch((e: unknown) => e);
    expect(syntax).toBeInstanceOf(StoreError);
    expect(syntax).toMatchObject({ code: 'query-failed', clickhouseCode: 62, retriable: false, queryId: expect.stringMatching(/^[0-9a-f-]{36}$/) });
    const missing = await store.insert('no_such_table', [{ a: 1 }]).catch((e: unknown) => e);
    expect(missing).toMatchObject({ code: 'insert-failed', clickhouseCode: 60, retriable: false });
    const badName = await store.insert('x; DROP TABLE flow_samples', [{ a: 1 }]).catch((e: unknown) => e);
    expect(badName).toMatchObject({ code: 'insert-failed' });
    expect(await count('SELECT count() AS n FROM flow_samples')).toBe(FIXTURE_COUNTS.flows);
  });

  it('refuses a second data directory while one is open, naming both', async () => {
    const other = join(dir, 'other');
    const error = await ChdbStore.open({ path: other }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreError);
    expect(error).toMatchObject({ code: 'unavailable', retriable: false });
    expect((error as Error).message).toContain(dataPath);
    expect((error as Error).message).toContain(other);
  });

  it('keeps everything across close and reopen, and dedup tokens too', async () => {
    await store.close();
    await expect(store.query('SELECT 1')).rejects.toMatchObject({ code: 'unavailable' });
    store = await ChdbStore.open({ path: dataPath });
    const report = await store.migrate();
    expect(report.applied).toEqual([]);
    expect(await count('SELECT count() AS n FROM flow_samples FINAL')).toBe(FIXTURE_COUNTS.flows);
    expect(await count('SELECT count() AS n FROM quarantine FINAL')).toBe(FIXTURE_COUNTS.quarantine);
    await insertBatch(buildBatch(), 'batch-1');
    expect(await count('SELECT sum(samples) AS n FROM flow_samples_1m')).toBe(2 * FIXTURE_COUNTS.flows); // batch-1 once, the replay once
  });

  it('changes TTLs to a new retention without a migration', async () => {
    await store.close();
    store = await ChdbStore.open({ path: dataPath, retention: { rawDays: 2, sampleDays: 10, rollupDays: 30 } });
    const report = await store.migrate();
    expect(report.applied).toEqual([]);
    // every table with a retention rule: the sFlow tables and the host-state tables (rollupDays)
    expect(report.retentionChanged.sort()).toEqual(Object.keys(ALL_RETENTION).sort());
    expect(report.retentionChanged).toContain('topo_ports');
    const ttl = await store.query<{ name: string; days: string }>(
      "SELECT name, extract(engine_full, 'toIntervalDay\\\\((\\\\d+)\\\\)') AS days FROM system.tables WHERE database = {db:String} AND name IN ('flow_samples', 'quarantine', 'flow_samples_1m') ORDER BY name",
      { db: store.database },
    );
    expect(ttl).toEqual([{ name: 'flow_samples', days: '10' }, { name: 'flow_samples_1m', days: '30' }, { name: 'quarantine', days: '2' }]);
    expect((await store.migrate()).retentionChanged).toEqual([]);
    expect(await count('SELECT count() AS n FROM flow_samples FINAL')).toBe(FIXTURE_COUNTS.flows);
  });
});

// ---------- real captures through the real decoder ----------

const TESTDATA = new URL('../../../shared/testdata/', import.meta.url);
const OVS_AGENT = '127.0.0.1';

/** Decodes a capture into store batches of at most `maxFlowRows` flow rows, inserting each. */
async function loadCapture(file: URL, tokenPrefix: string, maxFlowRows = 50_000): Promise<{ datagrams: number; batches: number }> {
  const batch = new SflowRowBatch();
  let datagrams = 0;
  let batches = 0;
  const flush = async (): Promise<void> => {
    for (const { table, rows } of batch.tables()) await store.insert(table, rows, { dedupToken: `${tokenPrefix}:${batches}:${table}` });
    batch.reset();
    batches++;
  };
  for (const packet of readUdpPayloads(readFileSync(file), file.pathname)) {
    let decoded: Datagram | DecodeError;
    try {
      decoded = decodeDatagram(packet.payload);
    } catch (error) {
      if (!(error instanceof DecodeError)) throw error;
      decoded = error;
    }
    batch.add(decoded, { receivedAt: packet.timestampMs, exporter: packet.srcIp, exporterPort: packet.srcPort, raw: packet.payload });
    datagrams++;
    if (batch.flowRows >= maxFlowRows) await flush();
  }
  if (batch.datagrams > 0) await flush();
  return { datagrams, batches };
}

describe('ChdbStore with the Open vSwitch corpus, decoded by the real decoder', () => {
  const corpus = new URL('corpus/ovs-sflow-10k.pcap', TESTDATA);
  const byAgent = async (sql: string): Promise<number> => count(sql, { agent: OVS_AGENT });

  it('stores 10,000 datagrams, 63,328 flow rows and 24 counter rows, and the same again is dropped', async () => {
    for (let round = 0; round < 2; round++) {
      const loaded = await loadCapture(corpus, 'corpus');
      expect(loaded).toEqual({ datagrams: 10_000, batches: 2 });
      expect(await byAgent('SELECT count() AS n FROM sflow_datagrams WHERE agent = {agent:String}')).toBe(10_000);
      expect(await byAgent('SELECT count() AS n FROM flow_samples WHERE agent = {agent:String}')).toBe(63_328);
      expect(await byAgent('SELECT count() AS n FROM counter_samples WHERE agent = {agent:String}')).toBe(24);
      expect(await byAgent('SELECT count() AS n FROM discard_samples WHERE agent = {agent:String}')).toBe(2);
      expect(await byAgent('SELECT sum(samples) AS n FROM flow_samples_1m WHERE agent = {agent:String}')).toBe(63_328);
    }
    expect(await byAgent('SELECT uniqExact(row_id) AS n FROM flow_samples WHERE agent = {agent:String}')).toBe(63_328);
  });

  it('keeps the raw datagrams byte for byte', async () => {
    const expected = [...readUdpPayloads(readFileSync(corpus), 'corpus')].slice(0, 3).map((p) => Buffer.from(p.payload).toString('hex').toUpperCase());
    const stored = await store.query<{ h: string }>(
      'SELECT hex(raw) AS h FROM sflow_datagrams WHERE agent = {agent:String} ORDER BY received_at, sequence LIMIT 3',
      { agent: OVS_AGENT },
    );
    expect(stored.map((r) => r.h)).toEqual(expected);
  });

  it('maps every sampled input port to a named port of the counter samples', async () => {
    const ports = await store.query<{ if_index: number; port_name: string }>(
      `SELECT if_index, argMax(port_name, received_at) AS port_name FROM counter_samples
       WHERE agent = {agent:String} AND has(record_kinds, 'openflow_port_name') GROUP BY if_index ORDER BY if_index`,
      { agent: OVS_AGENT },
    );
    expect(ports.length).toBeGreaterThan(1);
    expect(ports.every((p) => p.if_index > 0 && p.port_name !== '')).toBe(true);
    const unnamed = await store.query<{ input_value: number; n: string }>(
      `SELECT input_value, count() AS n FROM flow_samples
       WHERE agent = {agent:String} AND input_format = 0 AND input_value NOT IN (
         SELECT if_index FROM counter_samples WHERE agent = {agent:String} AND port_name != '')
       GROUP BY input_value`,
      { agent: OVS_AGENT },
    );
    expect(unnamed).toEqual([]);
  });

  it('finds one flow by its addresses and port within the capture\'s time range', async () => {
    const [top] = await store.query<{ src: string; dst: string; dst_port: number; n: string; first: string; last: string }>(
      `SELECT IPv4NumToString(toIPv4(src_ip)) AS src, IPv4NumToString(toIPv4(dst_ip)) AS dst, dst_port, count() AS n,
              toString(min(received_at)) AS first, toString(max(received_at)) AS last
       FROM flow_samples WHERE agent = {agent:String} AND ip_version = 4 AND ip_protocol = 6
       GROUP BY src, dst, dst_port ORDER BY n DESC LIMIT 1`,
      { agent: OVS_AGENT },
    );
    if (top === undefined) throw new Error('no TCP flow in the corpus');
    const doc = readFileSync(new URL('../../docs/schema.md', import.meta.url), 'utf8');
    const whereSeen = /### 2\. .*\n\n```sql\n([\s\S]*?)```/.exec(doc)?.[1] ?? '';
    const rows = await store.query<{ agent: string; samples: string }>(whereSeen, {
      from: top.first, to: top.last, src: top.src, dst: top.dst, dst_port: top.dst_port,
    });
    expect(rows.map((r) => [r.agent, r.samples])).toEqual([[OVS_AGENT, top.n]]);
    const half = await count(
      `SELECT count() AS n FROM flow_samples WHERE agent = {agent:String}
         AND received_at BETWEEN {from:DateTime64(3, 'UTC')} AND {to:DateTime64(3, 'UTC')}`,
      { agent: OVS_AGENT, from: top.first, to: top.first },
    );
    expect(half).toBeGreaterThan(0);
    expect(half).toBeLessThan(63_328);
  });
});

describe('ChdbStore with every third-party capture', () => {
  it('stores what each capture decodes to, quarantine included, one row per distinct datagram and sample', async () => {
    // Wrapped captures share made-up exporters and timestamps (testdata/sflow/SOURCES.md), so the same
    // payload in two files is the same datagram to the store: rows are counted by their dedup key.
    const finalCount = (table: string): Promise<number> => count(`SELECT count() AS n FROM ${table} FINAL`);
    const before = { datagrams: await finalCount('sflow_datagrams'), quarantine: await finalCount('quarantine'), flows: await finalCount('flow_samples') };
    const keys = { datagrams: new Set<string>(), quarantine: new Set<string>(), flows: new Set<string>() };
    for (const name of readdirSync(new URL('sflow/', TESTDATA)).filter((n) => n.endsWith('.pcap')).sort()) {
      const file = new URL(`sflow/${name}`, TESTDATA);
      addRowKeys(file, keys);
      await loadCapture(file, `third-party:${name}`);
    }
    expect(keys.quarantine.size).toBeGreaterThan(0); // the malformed captures (tcpdump-sflow_print-segv...) are kept
    expect(await finalCount('sflow_datagrams')).toBe(before.datagrams + keys.datagrams.size);
    expect(await finalCount('quarantine')).toBe(before.quarantine + keys.quarantine.size);
    expect(await finalCount('flow_samples')).toBe(before.flows + keys.flows.size);
  });
});

/** The dedup keys (sorting keys) of a capture's rows, as docs/schema.md defines them. */
function addRowKeys(file: URL, keys: { datagrams: Set<string>; quarantine: Set<string>; flows: Set<string> }): void {
  for (const packet of readUdpPayloads(readFileSync(file), file.pathname)) {
    let decoded: Datagram | DecodeError;
    try {
      decoded = decodeDatagram(packet.payload);
    } catch (error) {
      if (!(error instanceof DecodeError)) throw error;
      decoded = error;
    }
    const rows = toRows(decoded, { receivedAt: packet.timestampMs, exporter: packet.srcIp, exporterPort: packet.srcPort, raw: packet.payload });
    const raw = Buffer.from(packet.payload).toString('hex');
    const ms = Math.floor(packet.timestampMs);
    for (const d of rows.datagrams) keys.datagrams.add(`${d.exporter}|${d.exporter_port}|${ms}|${raw}`);
    for (const q of rows.quarantine) keys.quarantine.add(`${q.source}|${q.exporter}|${q.exporter_port}|${ms}|${raw}`);
    for (const f of rows.flows) keys.flows.add(`${f.agent}|${f.sub_agent_id}|${ms}|${f.exporter}|${f.datagram_sequence}|${f.sample_index}`);
  }
}
