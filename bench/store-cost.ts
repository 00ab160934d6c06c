// The embedded store's CPU per datagram, as the decode stage writes it: the corpus decoded into
// batches of the stage's size (SflowRowBatch, raw datagrams kept), inserted with ChdbStore.insert
// and their dedup tokens, then waited on until chDB's background merges are idle, so the cost of
// merging what was written counts too. Prints one JSON line: CPU-seconds by thread group, wall
// time of the insert calls, parts left. A tool for comparing schema and batching choices, run by
// hand (not part of `npm run bench`):
//
//   node dist/bench/store-cost.js [--datagrams 200000] [--batch 8334] [--no-raw] [--sql 'ALTER ...;...']
//                                 [--stage [--chunks 2]]
//
// --sql runs statements after the migrations (e.g. drop the rollup view) to price a variant.
// --stage runs the real DecodeStage instead of the loop below: every datagram is published to a
// MemoryBus first (as envelopes), then the stage drains it with bus batches of --chunks x --batch
// datagrams written --batch at a time (pipelined when --chunks > 1); wall time is the drain.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Writable } from 'node:stream';
import { TOPICS } from '../src/bus/bus.js';
import { MemoryBus } from '../src/bus/memory-bus.js';
import { encodeEnvelope } from '../src/collector/envelope.js';
import { DecodeError } from '../src/errors.js';
import { createLogger } from '../src/observability/log.js';
import { createMetrics } from '../src/observability/metrics.js';
import { DecodeStage } from '../src/pipeline/decode-stage.js';
import { SflowRowBatch } from '../src/pipeline/rows.js';
import { decodeDatagram } from '../src/sflow/datagram.js';
import type { Datagram } from '../src/sflow/types.js';
import { ChdbStore } from '../src/store/chdb-store.js';
import { CORPUS, readPackets } from './lib/corpus.js';
import { processCpuSeconds, sleep, threadCpuDelta, threadCpuSeconds } from './lib/proc.js';

const AGENT_OFFSET = 8;
const SEQUENCE_OFFSET = 16;
const TEST_NET_2 = 0xc6336400;
const AGENTS = 16;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      datagrams: { type: 'string', default: '200000' },
      batch: { type: 'string', default: '8334' },
      'no-raw': { type: 'boolean', default: false },
      sql: { type: 'string', default: '' },
      data: { type: 'string' },
      stage: { type: 'boolean', default: false },
      chunks: { type: 'string', default: '2' },
    },
    strict: true,
  });
  const total = Number(values.datagrams);
  const batchSize = Number(values.batch);
  const payloads = readPackets(CORPUS).map((p) => p.payload);
  const dir = values.data ?? mkdtempSync(join(tmpdir(), 'hoptrace-store-cost-'));
  const store = await ChdbStore.open({ path: dir });
  try {
    await store.migrate();
    for (const sql of values.sql.split(';').map((s) => s.trim()).filter((s) => s !== '')) await store.command(sql);
    if (values.stage) {
      await runStage(store, payloads, total, batchSize, Number(values.chunks), !values['no-raw']);
      return;
    }
    const batch = new SflowRowBatch({ keepRawDatagrams: !values['no-raw'] });
    const start = Date.now();
    let insertS = 0;
    let buildS = 0;
    let batches = 0;
    const pid = process.pid;
    const threads0 = threadCpuSeconds(pid);
    const cpu0 = processCpuSeconds(pid) ?? 0;
    const wall0 = performance.now();
    let b0 = performance.now();
    for (let index = 0; index < total; index++) {
      const payload = payloads[index % payloads.length] as Uint8Array;
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
      batch.add(decoded, { receivedAt: start + index / 20, exporter: '127.0.0.1', exporterPort: 6343, raw: payload });
      if (batch.datagrams >= batchSize || index === total - 1) {
        buildS += (performance.now() - b0) / 1000;
        const s0 = performance.now();
        for (const { table, rows } of batch.tables()) await store.insert(table, rows, { dedupToken: `cost:${batches}:${table}` });
        insertS += (performance.now() - s0) / 1000;
        batches++;
        batch.reset();
        b0 = performance.now();
      }
    }
    const insertedWall = (performance.now() - wall0) / 1000;
    const cpuInserted = (processCpuSeconds(pid) ?? 0) - cpu0;
    // Wait for background merges to go idle (bounded).
    const deadline = performance.now() + 120_000;
    let quiet = 0;
    while (performance.now() < deadline && quiet < 3) {
      await sleep(500);
      const merges = await store.query<{ n: string }>('SELECT count() AS n FROM system.merges');
      quiet = Number(merges[0]?.n ?? 0) === 0 ? quiet + 1 : 0;
    }
    const cpuTotal = (processCpuSeconds(pid) ?? 0) - cpu0;
    const threads = threadCpuDelta(threads0, threadCpuSeconds(pid));
    const parts = await store.query<{ table: string; parts: string; rows: string; bytes: string }>(
      'SELECT table, count() AS parts, sum(rows) AS rows, sum(bytes_on_disk) AS bytes FROM system.parts WHERE database = currentDatabase() AND active GROUP BY table ORDER BY table',
    );
    const flows = await store.query<{ n: string }>('SELECT count() AS n FROM flow_samples');
    process.stdout.write(
      `${JSON.stringify({
        datagrams: total,
        batch: batchSize,
        raw: !values['no-raw'],
        sql: values.sql,
        flowRows: Number(flows[0]?.n ?? 0),
        buildS: round(buildS),
        insertS: round(insertS),
        wallS: round(insertedWall),
        cpuInsertedS: round(cpuInserted),
        cpuTotalS: round(cpuTotal),
        usPerDatagram: round((cpuTotal * 1e6) / total),
        storeUsPerDatagram: round(((cpuTotal - buildS) * 1e6) / total),
        insertDatagramsPerS: Math.round(total / insertS),
        threads: Object.fromEntries(threads.map(([n, s]) => [n, round(s)])),
        parts: Object.fromEntries(parts.map((p) => [p.table, `${p.parts} parts ${p.rows} rows ${(Number(p.bytes) / 1048576).toFixed(1)} MiB`])),
      })}\n`,
    );
  } finally {
    await store.close();
    if (values.data === undefined) rmSync(dir, { recursive: true, force: true });
  }
}

/** The decode stage draining a bus that holds every datagram already. */
async function runStage(store: ChdbStore, payloads: readonly Uint8Array[], total: number, batch: number, chunks: number, keepRaw: boolean): Promise<void> {
  const bus = new MemoryBus({ capacity: total });
  const start = Date.now();
  for (let index = 0; index < total; index++) {
    const payload = Uint8Array.from(payloads[index % payloads.length] as Uint8Array);
    const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
    view.setUint32(AGENT_OFFSET, TEST_NET_2 + (index % AGENTS) + 1);
    view.setUint32(SEQUENCE_OFFSET, index + 1);
    if (!bus.tryPublish(TOPICS.SFLOW_RAW, { key: '127.0.0.1', value: encodeEnvelope(start + index / 20, '127.0.0.1', 6343, payload) })) throw new Error('bus full');
  }
  const sink = new Writable({ write: (_chunk, _encoding, done) => done() });
  const stage = new DecodeStage({
    bus,
    store,
    metrics: createMetrics(),
    log: createLogger({ level: 'error', format: 'json', destination: sink }),
    maxBatch: batch * chunks,
    chunkDatagrams: batch,
    lingerMs: 1000,
    keepRawDatagrams: keepRaw,
  });
  const pid = process.pid;
  const threads0 = threadCpuSeconds(pid);
  const cpu0 = processCpuSeconds(pid) ?? 0;
  const wall0 = performance.now();
  stage.start();
  while (stage.status().datagrams < total) await sleep(20);
  const wallS = (performance.now() - wall0) / 1000;
  const cpuS = (processCpuSeconds(pid) ?? 0) - cpu0;
  await stage.stop();
  const threads = threadCpuDelta(threads0, threadCpuSeconds(pid));
  process.stdout.write(
    `${JSON.stringify({
      mode: 'stage',
      datagrams: total,
      batch,
      chunks,
      wallS: round(wallS),
      datagramsPerS: Math.round(total / wallS),
      cpuS: round(cpuS),
      usPerDatagram: round((cpuS * 1e6) / total),
      cores: round(cpuS / wallS),
      threads: Object.fromEntries(threads.map(([n, s]) => [n, round(s)])),
    })}\n`,
  );
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}

main().catch((error: unknown) => {
  process.stderr.write(`store-cost: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
});
