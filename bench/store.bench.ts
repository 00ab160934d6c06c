// Case "store": flow rows per second into chDB (the embedded store), then the time of the
// troubleshooting queries of docs/schema.md on what was inserted.
//
// Rows: the Open vSwitch corpus decoded by hoptrace and turned into RowBinary batches of ~100 k
// flow rows (SflowRowBatch, as the decode stage builds them), looped to >= 10 M flow samples. Each
// loop rewrites the datagram header in place so no two rows are the same sample: agent address
// (16 agents in turn, TEST-NET 198.51.100.1-16), datagram sequence number, and receive times
// spread evenly over one hour. Counter and discard rows of the same datagrams go in too (the discard
// query needs them); raw datagrams do not (keepRawDatagrams off: this is the sample tables' rate).
//
// Reference line (the peer): ClickHouse writing the same rows into a table of the same structure
// with nothing of ours in the way, `INSERT INTO flow_samples_ref SELECT * FROM flow_samples` (it
// reads them back from the first table, which is part of its cost; the copy has no rollup view),
// and ClickHouse parsing one of our RowBinary batches into a Null table (the parse alone).
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { DecodeError } from '../src/errors.js';
import { SflowRowBatch } from '../src/pipeline/rows.js';
import { decodeDatagram } from '../src/sflow/datagram.js';
import type { Datagram } from '../src/sflow/types.js';
import { ChdbStore } from '../src/store/chdb-store.js';
import type { EncodedRows, QueryParams } from '../src/store/store.js';
import { formatDateTime64 } from '../src/store/tsv.js';
import { CORPUS, readPackets } from './lib/corpus.js';
import { fmt, median, ratio, si, table, type BenchOptions, type CaseReport } from './lib/report.js';

const BATCH_FLOW_ROWS = 100_000;
const AGENTS = 16;
/** 2025-01-15 10:00:00 UTC: the hour the rows are spread over. */
const HOUR_START = Date.UTC(2025, 0, 15, 10, 0, 0);
const HOUR_MS = 3_600_000;
// SFLOW-DATAGRAM5 header with an IPv4 agent: version(0) agent type(4) agent(8) sub-agent(12) sequence(16).
const AGENT_TYPE_OFFSET = 4;
const AGENT_OFFSET = 8;
const SEQUENCE_OFFSET = 16;
/** 198.51.100.0 (TEST-NET-2) as a u32: the fake agents' addresses. */
const TEST_NET_2 = 0xc6336400;
const QUERY_RUNS = 4;

interface QueryCase {
  name: string;
  sql: string;
  params: QueryParams;
}

export async function runStoreBench(options: BenchOptions): Promise<CaseReport> {
  const { log, quick } = options;
  const targetRows = quick ? 2_000_000 : 10_000_000;
  const packets = readPackets(CORPUS);
  const payloads = packets.map((p) => p.payload);
  for (const p of payloads) {
    if (new DataView(p.buffer, p.byteOffset).getUint32(AGENT_TYPE_OFFSET) !== 1) throw new Error('corpus datagram with a non-IPv4 agent: the rewrite assumes IPv4');
  }
  const flowPerLoop = countFlows(payloads);
  const loops = Math.ceil(targetRows / flowPerLoop);
  const spacingMs = HOUR_MS / (loops * payloads.length);
  const dataDir = join(options.tmp, 'store-data');
  const store = await ChdbStore.open({ path: dataDir });
  try {
    await store.migrate();
    const batch = new SflowRowBatch({ keepRawDatagrams: false });
    const agents = Array.from({ length: AGENTS }, (_, i) => `198.51.100.${i + 1}`);
    let flowRows = 0;
    let otherRows = 0;
    let insertS = 0;
    let insertCpuS = 0;
    let allInsertS = 0;
    let batches = 0;
    const t0 = performance.now();
    const flush = async (): Promise<void> => {
      const tables = batch.tables();
      for (const { table: name, rows } of tables) {
        const cpu0 = process.cpuUsage();
        const s0 = performance.now();
        await store.insert(name, rows, { dedupToken: `bench:${batches}:${name}` });
        const s = (performance.now() - s0) / 1000;
        const cpu = process.cpuUsage(cpu0);
        allInsertS += s;
        if (name === 'flow_samples') {
          insertS += s;
          insertCpuS += (cpu.user + cpu.system) / 1e6;
          flowRows += rows.rowCount;
        } else otherRows += rows.rowCount;
      }
      batches++;
      batch.reset();
    };
    for (let loop = 0; loop < loops && flowRows + batch.flowRows < targetRows; loop++) {
      for (let i = 0; i < payloads.length; i++) {
        const payload = payloads[i] as Uint8Array;
        const index = loop * payloads.length + i;
        const agent = agents[index % AGENTS] as string;
        const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
        view.setUint32(AGENT_OFFSET, TEST_NET_2 + (index % AGENTS) + 1);
        view.setUint32(SEQUENCE_OFFSET, index + 1);
        let decoded: Datagram | DecodeError;
        try {
          decoded = decodeDatagram(payload);
        } catch (error) {
          if (!(error instanceof DecodeError)) throw error;
          decoded = error;
        }
        const receivedAt = HOUR_START + index * spacingMs;
        batch.add(decoded, { receivedAt, exporter: agent, exporterPort: 6343, raw: payload });
        if (batch.flowRows >= BATCH_FLOW_ROWS) {
          await flush();
          if (flowRows % 1_000_000 < BATCH_FLOW_ROWS) log(`store: ${fmt(flowRows)} flow rows, ${si(flowRows / insertS)}/s in inserts`);
        }
      }
    }
    if (batch.flowRows > 0) await flush();
    const totalS = (performance.now() - t0) / 1000;
    const buildS = totalS - allInsertS;
    const insertRate = flowRows / insertS;
    log(`store: ${fmt(flowRows)} flow rows in ${insertS.toFixed(1)} s of inserts (${si(insertRate)}/s, ${insertCpuS.toFixed(1)} CPU-s), ${totalS.toFixed(1)} s with decoding and encoding`);

    const counted = await store.query<{ rows: string; ids: string }>('SELECT count() AS rows, uniqExact(row_id) AS ids FROM flow_samples');
    const storedRows = Number(counted[0]?.rows ?? 0);
    const distinctIds = Number(counted[0]?.ids ?? 0);
    if (storedRows !== flowRows) throw new Error(`flow_samples holds ${storedRows} rows, ${flowRows} were inserted`);

    const sizes = await store.query<{ table: string; rows: string; bytes: string; uncompressed: string }>(
      "SELECT table, sum(rows) AS rows, sum(bytes_on_disk) AS bytes, sum(data_uncompressed_bytes) AS uncompressed FROM system.parts WHERE database = currentDatabase() AND active GROUP BY table ORDER BY table",
    );
    const du = diskUsage(dataDir);

    // Queries.
    const params = await queryParams(store);
    const queries = troubleshootingQueries(params);
    const queryResults: { name: string; coldMs: number; warmMs: number; rows: number }[] = [];
    for (const q of queries) {
      const times: number[] = [];
      let rows = 0;
      for (let i = 0; i < QUERY_RUNS; i++) {
        const s0 = performance.now();
        const result = await store.query(q.sql, q.params);
        times.push(performance.now() - s0);
        rows = result.length;
      }
      const [cold, ...warm] = times;
      queryResults.push({ name: q.name, coldMs: cold ?? 0, warmMs: median(warm), rows });
      log(`store: query ${q.name}: ${(cold ?? 0).toFixed(0)} ms first, ${median(warm).toFixed(0)} ms median of ${warm.length} more, ${rows} rows`);
    }

    // References: ClickHouse on its own.
    await store.command('CREATE TABLE flow_samples_ref AS flow_samples');
    const r0 = performance.now();
    const cpuRef0 = process.cpuUsage();
    await store.command('INSERT INTO flow_samples_ref SELECT * FROM flow_samples SETTINGS optimize_on_insert = 0');
    const refS = (performance.now() - r0) / 1000;
    const refCpu = process.cpuUsage(cpuRef0);
    const refRate = storedRows / refS;
    log(`store: reference INSERT SELECT of ${fmt(storedRows)} rows: ${refS.toFixed(1)} s (${si(refRate)}/s)`);
    const parse = await parseOnly(store, payloads);
    log(`store: reference RowBinary parse into Null: ${si(parse.rate)} rows/s`);

    const lines = [
      `store: hoptrace ${fmt(insertRate)} flow rows/s into chDB (batches of ${si(BATCH_FLOW_ROWS)}, ${si(flowRows)} rows), ClickHouse INSERT SELECT of the same rows ${fmt(refRate)}, ratio ${ratio(insertRate, refRate)}; RowBinary parse into Null ${fmt(parse.rate)}, ratio ${ratio(insertRate, parse.rate)}`,
      `store queries on ${si(flowRows)} flow rows: ${queryResults.map((q) => `${q.name} ${q.warmMs.toFixed(0)} ms`).join(', ')}`,
    ];
    const sizeRows = sizes.map((s) => [s.table, fmt(Number(s.rows)), mib(Number(s.bytes)), mib(Number(s.uncompressed)), Number(s.rows) > 0 ? `${(Number(s.bytes) / Number(s.rows)).toFixed(1)}` : '']);
    const markdown = [
      '## store',
      '',
      `${fmt(flowRows)} flow rows (${fmt(otherRows)} counter and discard rows beside them) from the corpus looped ${loops} times, datagrams rewritten in turn to 16 agents (198.51.100.1-16) with distinct sequence numbers, receive times spread over one hour (${formatDateTime64(HOUR_START)} + 1 h). Batches of ${fmt(BATCH_FLOW_ROWS)} flow rows built by \`SflowRowBatch\` and written with \`ChdbStore.insert\` (RowBinary file + \`INSERT ... SELECT FROM file()\`, \`optimize_on_insert = 0\`, the \`flow_samples_1m\` rollup view fires on each insert). Stored and checked: \`count()\` = ${fmt(storedRows)}, \`uniqExact(row_id)\` = ${fmt(distinctIds)}.`,
      '',
      table(['what', 'flow rows/s', 'detail', 'hoptrace vs'], [
        ['hoptrace: `ChdbStore.insert` of RowBinary batches (insert calls only)', fmt(insertRate), `${insertS.toFixed(1)} s wall, ${insertCpuS.toFixed(1)} CPU-s in this process (chDB's threads included)`, ''],
        ['hoptrace: decode + rows + RowBinary + insert, end to end in one thread', fmt(flowRows / totalS), `${totalS.toFixed(1)} s (building batches: ${buildS.toFixed(1)} s)`, ''],
        ['ClickHouse alone: `INSERT INTO flow_samples_ref SELECT * FROM flow_samples` (same rows, same structure, no rollup view)', fmt(refRate), `${refS.toFixed(1)} s wall, ${((refCpu.user + refCpu.system) / 1e6).toFixed(1)} CPU-s`, ratio(insertRate, refRate)],
        [`ClickHouse parsing one of our RowBinary batches (${fmt(parse.rows)} rows) into a Null table`, fmt(parse.rate), `median of ${parse.runs} runs`, ratio(insertRate, parse.rate)],
      ]),
      '',
      `On disk: ${mib(du)} for the whole data directory (\`du\`), after the reference copy. Per table (active parts):`,
      '',
      table(['table', 'rows', 'on disk', 'uncompressed', 'bytes/row on disk'], sizeRows),
      '',
      `Queries (docs/schema.md "Troubleshooting queries", parameters bound server-side; agent \`${String(params.agent)}\`, sub-agent ${String(params.sub_agent)}, port ${String(params.if_index)}, flow ${String(params.src)} -> ${String(params.dst)}:${String(params.dst_port)}). Each ran ${QUERY_RUNS} times in a row right after the inserts (merges may still run): the first time, and the median of the others.`,
      '',
      table(['query', 'first (ms)', 'then (ms, median)', 'rows returned'], queryResults.map((q) => [q.name, q.coldMs.toFixed(0), q.warmMs.toFixed(0), fmt(q.rows)])),
      '',
      '**What this means / what limits it.** ' +
        `hoptrace's inserts reach ${((insertRate / refRate) * 100).toFixed(0)} % of what ClickHouse writes into the same table structure on its own, and the MergeTree write, not JS, sets the pace: the insert calls use ${(insertCpuS / insertS).toFixed(1)} cores of CPU for their wall time (chDB's threads), and parsing our RowBinary alone runs at ${si(parse.rate)} rows/s. ` +
        'What the reference does not pay and we do: the batch goes through a file (`file()` in chDB), IPv6 and LowCardinality columns arrive as text and are converted, the `flow_samples_1m` view aggregates every block, and blocks are 100 k rows instead of ClickHouse\'s 1 M. ' +
        `At ${si(insertRate)} flow rows/s the embedded store takes about ${fmt(insertRate / 6.33)} Open vSwitch datagrams/s before decoding and raw-datagram storage take their share (ingest case). ` +
        `Queries on ${si(flowRows)} rows answer in tens of milliseconds when they can use the sorting key (agent, sub-agent, time) or the rollup; the two that read every agent for an hour (the flow search with FINAL, the all-host top talkers) take hundreds of milliseconds to seconds: FINAL merges at read time, and the flow search finds the rows through the bloom-filter indexes but must still read every granule that may hold them.`,
      '',
    ].join('\n');
    return { name: 'store', lines, markdown };
  } finally {
    await store.close();
  }
}

function countFlows(payloads: readonly Uint8Array[]): number {
  let n = 0;
  for (const p of payloads) for (const s of decodeDatagram(p).samples) if (s.kind === 'flow') n++;
  return n;
}

function mib(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(1)} MiB`;
}

function diskUsage(dir: string): number {
  try {
    return Number(execFileSync('du', ['-sb', dir], { encoding: 'utf8' }).split('\t')[0]);
  } catch {
    return Number.NaN;
  }
}

interface Params {
  agent: string;
  sub_agent: number;
  if_index: number;
  from: string;
  to: string;
  hourFrom: string;
  hourTo: string;
  src: string;
  dst: string;
  dst_port: number;
}

/** Parameters that select something: the busiest sub-agent and input port of agent 1, the busiest flow. */
async function queryParams(store: ChdbStore): Promise<QueryParams & Params> {
  const agent = '198.51.100.1';
  const port = await store.query<{ sub_agent_id: number; input_value: number }>(
    'SELECT sub_agent_id, input_value FROM flow_samples WHERE agent = {agent:String} AND input_format = 0 AND input_value != 0 GROUP BY sub_agent_id, input_value ORDER BY count() DESC LIMIT 1',
    { agent },
  );
  const flow = await store.query<{ src: string; dst: string; dst_port: number }>(
    "SELECT replaceOne(toString(src_ip), '::ffff:', '') AS src, replaceOne(toString(dst_ip), '::ffff:', '') AS dst, dst_port FROM flow_samples WHERE agent = {agent:String} AND dst_port != 0 GROUP BY src, dst, dst_port ORDER BY count() DESC LIMIT 1",
    { agent },
  );
  const p = port[0];
  const f = flow[0];
  if (p === undefined || f === undefined) throw new Error('no rows to take query parameters from');
  const from = HOUR_START + 20 * 60_000;
  return {
    agent,
    sub_agent: p.sub_agent_id,
    if_index: p.input_value,
    from: formatDateTime64(from),
    to: formatDateTime64(from + 5 * 60_000),
    hourFrom: formatDateTime64(HOUR_START),
    hourTo: formatDateTime64(HOUR_START + HOUR_MS),
    src: f.src,
    dst: f.dst,
    dst_port: f.dst_port,
  };
}

function troubleshootingQueries(p: Params): QueryCase[] {
  const hour = { from: p.hourFrom, to: p.hourTo };
  return [
    {
      name: '1. samples of agent/bridge/port, 5 min',
      sql: `SELECT received_at, sub_agent_id, input_value AS in_port, output_format, output_value AS out_port,
       src_mac, dst_mac, src_ip, dst_ip, ip_protocol, src_port, dst_port, tcp_flags
FROM flow_samples
WHERE agent = {agent:String}
  AND sub_agent_id = {sub_agent:UInt32}
  AND received_at BETWEEN {from:DateTime64(3, 'UTC')} AND {to:DateTime64(3, 'UTC')}
  AND (input_value = {if_index:UInt32} OR (output_format = 0 AND output_value = {if_index:UInt32}))
ORDER BY received_at
LIMIT 100`,
      params: { agent: p.agent, sub_agent: p.sub_agent, if_index: p.if_index, from: p.from, to: p.to },
    },
    {
      name: '2. where was this flow seen (FINAL), 1 h',
      sql: `SELECT agent, sub_agent_id, tunnel_type, count() AS samples,
       min(received_at) AS first_seen, max(received_at) AS last_seen,
       groupUniqArray(input_value) AS in_ports, groupUniqArray(output_value) AS out_values
FROM flow_samples FINAL
WHERE received_at BETWEEN {from:DateTime64(3, 'UTC')} AND {to:DateTime64(3, 'UTC')}
  AND ((src_ip = toIPv6({src:String}) AND dst_ip = toIPv6({dst:String}) AND dst_port = {dst_port:UInt16})
    OR (inner_src_ip = toIPv6({src:String}) AND inner_dst_ip = toIPv6({dst:String}) AND inner_dst_port = {dst_port:UInt16}))
GROUP BY agent, sub_agent_id, tunnel_type
ORDER BY first_seen`,
      params: { ...hour, src: p.src, dst: p.dst, dst_port: p.dst_port },
    },
    {
      name: '3. drops by host, port and reason, 1 h',
      sql: `SELECT agent, sub_agent_id, kind, reason, input_if_index, count() AS samples,
       sum(sampling_rate) AS frames_estimate,
       groupUniqArray(10)(concat(toString(src_ip), ' > ', toString(dst_ip), ':', toString(dst_port))) AS examples
FROM discard_samples
WHERE received_at BETWEEN {from:DateTime64(3, 'UTC')} AND {to:DateTime64(3, 'UTC')}
GROUP BY agent, sub_agent_id, kind, reason, input_if_index
ORDER BY samples DESC`,
      params: hour,
    },
    {
      name: '4. port map of a host',
      sql: `SELECT if_index,
       argMax(port_name, received_at) AS port_name,
       argMax(of_port_no, received_at) AS ofport,
       hex(argMax(of_datapath_id, received_at)) AS datapath_id,
       argMax(if_oper_status, received_at) AS oper_up,
       max(received_at) AS last_seen
FROM counter_samples
WHERE agent = {agent:String} AND has(record_kinds, 'openflow_port_name')
GROUP BY if_index
ORDER BY if_index`,
      params: { agent: p.agent },
    },
    {
      name: '5. traffic per minute per port (rollup), 1 h',
      sql: `SELECT minute, input_value AS in_port, output_format, output_value AS out_value,
       sum(samples) AS samples, sum(frames) AS frames, sum(bytes) AS bytes
FROM flow_samples_1m
WHERE agent = {agent:String} AND sub_agent_id = {sub_agent:UInt32}
  AND minute BETWEEN toStartOfMinute({from:DateTime64(3, 'UTC')}) AND {to:DateTime64(3, 'UTC')}
GROUP BY minute, in_port, output_format, out_value
ORDER BY minute, bytes DESC`,
      params: { agent: p.agent, sub_agent: p.sub_agent, ...hour },
    },
    {
      name: 'top talkers per input port of a host, 1 h',
      sql: `SELECT input_value AS in_port, src_ip, dst_ip, ip_protocol, count() AS samples,
       sum(sampling_rate) AS frames, sum(frame_length * sampling_rate) AS bytes
FROM flow_samples
WHERE agent = {agent:String}
  AND received_at BETWEEN {from:DateTime64(3, 'UTC')} AND {to:DateTime64(3, 'UTC')}
GROUP BY in_port, src_ip, dst_ip, ip_protocol
ORDER BY in_port, bytes DESC
LIMIT 5 BY in_port`,
      params: { agent: p.agent, ...hour },
    },
    {
      name: 'top talkers, all hosts, 1 h',
      sql: `SELECT src_ip, dst_ip, ip_protocol, dst_port, count() AS samples, sum(frame_length * sampling_rate) AS bytes
FROM flow_samples
WHERE received_at BETWEEN {from:DateTime64(3, 'UTC')} AND {to:DateTime64(3, 'UTC')}
GROUP BY src_ip, dst_ip, ip_protocol, dst_port
ORDER BY bytes DESC
LIMIT 10`,
      params: hour,
    },
  ];
}

/** ClickHouse parsing the same RowBinary bytes into a Null table: the cost of the format alone. */
async function parseOnly(store: ChdbStore, payloads: readonly Uint8Array[]): Promise<{ rate: number; rows: number; runs: number }> {
  await store.command('CREATE TABLE flow_samples_null AS flow_samples ENGINE = Null');
  const batch = new SflowRowBatch({ keepRawDatagrams: false });
  for (const payload of payloads) batch.add(decodeDatagram(payload), { receivedAt: HOUR_START, exporter: '198.51.100.1', exporterPort: 6343, raw: payload });
  const flows = batch.tables().find((t) => t.table === 'flow_samples');
  if (flows === undefined) throw new Error('no flow rows');
  const rows: EncodedRows = flows.rows;
  const times: number[] = [];
  const runs = 5;
  for (let i = 0; i < runs; i++) {
    const s0 = performance.now();
    await store.insert('flow_samples_null', rows);
    times.push((performance.now() - s0) / 1000);
  }
  return { rate: rows.rowCount / median(times), rows: rows.rowCount, runs };
}
