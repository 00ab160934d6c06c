import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { MemoryBus } from '../bus/memory-bus.js';
import type { BusMessage } from '../bus/bus.js';
import { encodeEnvelope } from '../collector/envelope.js';
import { StoreError } from '../errors.js';
import { createLogger } from '../observability/log.js';
import { createMetrics } from '../observability/metrics.js';
import { readUdpPayloads } from '../pcap/pcap-reader.js';
import type { EncodedRows, InsertOptions, MigrationReport, Row, Store } from '../store/store.js';
import { DecodeStage } from './decode-stage.js';

const TESTDATA = process.env['HOPTRACE_TESTDATA'] ?? '/work/shared/testdata';
const CORPUS = join(TESTDATA, 'corpus', 'ovs-sflow-10k.pcap');

/** The first `n` datagrams of the Open vSwitch corpus as bus messages. */
function messages(n: number): BusMessage[] {
  const out: BusMessage[] = [];
  for (const packet of readUdpPayloads(readFileSync(CORPUS), CORPUS)) {
    if (out.length === n) break;
    out.push({ key: '192.0.2.1', value: encodeEnvelope(1_764_000_000_000 + out.length, '192.0.2.1', 6343, packet.payload) });
  }
  return out;
}

interface Insert {
  table: string;
  rows: number;
  token: string | undefined;
  /** A copy: the stage reuses its buffers once an insert resolved. */
  data: Uint8Array;
}

/**
 * A Store that records what it is given and lets the test decide when each insert completes, so
 * the order of events (decoding while an insert is pending) can be observed.
 */
class RecordingStore implements Store {
  readonly kind = 'chdb' as const;
  readonly database = 'test';
  readonly inserts: Insert[] = [];
  readonly pending: { table: string; token: string | undefined; resolve: () => void; reject: (error: Error) => void }[] = [];
  /** When set, inserts complete at once (or fail with this error for the named table). */
  auto = false;
  failTable: string | undefined;
  /** The failure is one the store will never get over (a schema mismatch). */
  failForGood = false;

  migrate(): Promise<MigrationReport> {
    return Promise.resolve({ database: 'test', applied: [], alreadyApplied: [], retentionChanged: [] });
  }

  insert(table: string, rows: readonly Row[] | EncodedRows, options?: InsertOptions): Promise<void> {
    const encoded = rows as EncodedRows;
    this.inserts.push({ table, rows: encoded.rowCount, token: options?.dedupToken, data: Uint8Array.from(encoded.data) });
    if (this.failTable === table) {
      return Promise.reject(
        this.failForGood ? new StoreError('insert-failed', 'no such column', {}, { retriable: false }) : new StoreError('insert-failed', 'connection lost', {}, { retriable: true }),
      );
    }
    if (this.auto) return Promise.resolve();
    return new Promise((resolve, reject) => this.pending.push({ table, token: options?.dedupToken, resolve, reject }));
  }

  query<T>(): Promise<T[]> {
    return Promise.resolve([]);
  }

  queryText(): Promise<string> {
    return Promise.resolve('');
  }

  command(): Promise<void> {
    return Promise.resolve();
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

function stage(store: Store, chunkDatagrams?: number): DecodeStage {
  const sink = new Writable({ write: (_chunk, _encoding, done) => done() });
  return new DecodeStage({
    bus: new MemoryBus({ capacity: 1024 }),
    store,
    metrics: createMetrics(),
    log: createLogger({ level: 'error', format: 'json', destination: sink }),
    maxBatch: 1024,
    lingerMs: 10,
    keepRawDatagrams: true,
    ...(chunkDatagrams === undefined ? {} : { chunkDatagrams }),
  });
}

/** Lets pending promise callbacks run. */
async function flush(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
}

describe('DecodeStage pipelined chunks', () => {
  it('writes a batch in chunks, one chunk at a time, and resolves only when the last one is stored', async () => {
    const store = new RecordingStore();
    const batch = messages(300);
    let done = false;
    const handled = stage(store, 100).handle(batch).then(() => {
      done = true;
    });
    const rounds: string[][] = [];
    while (!done) {
      await flush();
      if (store.pending.length === 0) continue;
      // What is pending belongs to one chunk (one token): the next chunk waits for all of it.
      const chunkTokens = new Set(store.pending.map((p) => p.token?.slice(0, p.token.lastIndexOf(':'))));
      expect(chunkTokens.size).toBe(1);
      expect(done).toBe(false);
      rounds.push(store.pending.map((p) => p.table).sort());
      for (const p of store.pending.splice(0)) p.resolve();
    }
    await handled;
    // Three chunks of 100 datagrams, each with its flow rows and its raw datagrams, written together.
    expect(rounds).toHaveLength(3);
    for (const tables of rounds) expect(tables).toContain('flow_samples');
    for (const tables of rounds) expect(tables).toContain('sflow_datagrams');
    const datagramInserts = store.inserts.filter((i) => i.table === 'sflow_datagrams');
    expect(datagramInserts.map((i) => i.rows)).toEqual([100, 100, 100]);
    const tokens = store.inserts.map((i) => i.token);
    expect(new Set(tokens).size).toBe(tokens.length);
  });

  it('stores the same rows chunked as in one insert', async () => {
    const whole = new RecordingStore();
    whole.auto = true;
    const chunked = new RecordingStore();
    chunked.auto = true;
    const batch = messages(250);
    await stage(whole).handle(batch);
    await stage(chunked, 64).handle(batch);
    for (const table of ['flow_samples', 'sflow_datagrams']) {
      const one = whole.inserts.filter((i) => i.table === table);
      const many = chunked.inserts.filter((i) => i.table === table);
      expect(one).toHaveLength(1);
      expect(many).toHaveLength(4);
      expect(many.reduce((n, i) => n + i.rows, 0)).toBe(one[0]?.rows);
      expect(Buffer.concat(many.map((i) => i.data)).equals(Buffer.from(one[0]?.data ?? new Uint8Array()))).toBe(true);
    }
  });

  it('holds the next chunk back until the previous chunk is stored', async () => {
    const store = new RecordingStore();
    const s = stage(store, 100);
    let done = false;
    const handled = s.handle(messages(200)).then(() => {
      done = true;
    });
    await flush();
    // The first chunk's inserts are pending; the second chunk (decoded meanwhile into the other
    // row buffers) is not written until they are done.
    const firstChunk = store.inserts.length;
    expect(store.pending).toHaveLength(firstChunk);
    expect(store.pending.map((p) => p.table)).toContain('flow_samples');
    await flush();
    expect(store.inserts).toHaveLength(firstChunk); // the second chunk waits
    while (!done) {
      for (const p of store.pending.splice(0)) p.resolve();
      await flush();
    }
    expect(store.inserts.length).toBeGreaterThan(firstChunk);
    await handled;
    expect(s.status().datagrams).toBe(200);
  });

  it('rejects the whole batch when a chunk fails, and a replay gives the same dedup tokens', async () => {
    const store = new RecordingStore();
    store.auto = true;
    const batch = messages(300);
    const s = stage(store, 100);
    store.failTable = 'sflow_datagrams';
    await expect(s.handle(batch)).rejects.toThrow(/connection lost/);
    expect(s.status().datagrams).toBe(0); // nothing counted as done
    const firstTry = store.inserts.map((i) => i.token);
    store.failTable = undefined;
    store.inserts.length = 0;
    await s.handle(batch);
    const replay = store.inserts.map((i) => i.token);
    // What the failed try wrote comes again with the same tokens (the store drops it as a repeat).
    expect(replay.slice(0, firstTry.length)).toEqual(firstTry);
    expect(s.status().datagrams).toBe(300);
  });

  it('quarantines a chunk the store will never take, and goes on', async () => {
    const store = new RecordingStore();
    store.auto = true;
    store.failTable = 'flow_samples';
    store.failForGood = true;
    const s = stage(store, 100);
    await s.handle(messages(200));
    const quarantine = store.inserts.filter((i) => i.table === 'quarantine');
    expect(quarantine.map((i) => i.rows)).toEqual([100, 100]);
    expect(new Set(quarantine.map((i) => i.token)).size).toBe(2);
    expect(s.status().datagrams).toBe(200);
    expect(s.status().lastError).toContain('no such column');
  });
});
