// Stage 1 of the pipeline: raw datagrams from the bus -> decoded samples -> rows in the store.
//
// Nothing is lost: every datagram becomes samples, a quarantine row, or both (a datagram decoded
// with issues keeps its samples and gets a quarantine copy). A bug in the decoder is caught per
// datagram and quarantined as `internal`; the stage keeps running. The batch is released to the bus
// (offsets committed) only after the store took it: a store that is down makes the bus hand the
// same batch over again (at-least-once; row ids and dedup tokens make the store effectively-once).
import { createHash } from 'node:crypto';
import type { Bus, BusMessage, Consumer } from '../bus/bus.js';
import { TOPICS } from '../bus/bus.js';
import { decodeEnvelope, type RawDatagram } from '../collector/envelope.js';
import { DecodeError, StoreError } from '../errors.js';
import { Throttle, type Logger } from '../observability/log.js';
import type { Metrics } from '../observability/metrics.js';
import { decodeDatagram } from '../sflow/datagram.js';
import type { Datagram } from '../sflow/types.js';
import { encodeQuarantineRows, type QuarantineRow } from '../store/sflow-tables.js';
import { VERSION } from '../version.js';
import type { Store } from '../store/store.js';
import { SflowRowBatch } from './rows.js';

/** Datagrams decoded between two turns of the event loop (about 5-10 ms of decoding). */
const YIELD_EVERY = 256;

export interface DecodeStageOptions {
  bus: Bus;
  store: Store;
  metrics: Metrics;
  log: Logger;
  /** Datagrams per store batch (about six samples each from Open vSwitch). */
  maxBatch: number;
  /** Longest wait for a batch to fill. */
  lingerMs: number;
  /**
   * Datagrams per store insert (default: the whole batch). Smaller than maxBatch, the batch is
   * written in chunks and the next chunk is decoded while the previous one is written.
   */
  chunkDatagrams?: number;
  keepRawDatagrams: boolean;
  clock?: () => number;
}

export interface DecodeStageStatus {
  datagrams: number;
  samples: number;
  quarantined: number;
  batches: number;
  lastBatchAt: string | null;
  lastError: string | null;
}

export class DecodeStage {
  readonly #o: DecodeStageOptions;
  readonly #clock: () => number;
  readonly #throttle = new Throttle(5, 60_000);
  readonly #rows: readonly [SflowRowBatch, SflowRowBatch];
  #consumer: Consumer | undefined;
  readonly #status: DecodeStageStatus = { datagrams: 0, samples: 0, quarantined: 0, batches: 0, lastBatchAt: null, lastError: null };

  constructor(options: DecodeStageOptions) {
    this.#o = options;
    this.#clock = options.clock ?? Date.now;
    this.#rows = [new SflowRowBatch({ keepRawDatagrams: options.keepRawDatagrams }), new SflowRowBatch({ keepRawDatagrams: options.keepRawDatagrams })];
  }

  start(): void {
    this.#consumer = this.#o.bus.consume(TOPICS.SFLOW_RAW, (batch) => this.handle(batch), {
      group: 'hoptrace-decode',
      maxBatch: this.#o.maxBatch,
      lingerMs: this.#o.lingerMs,
    });
  }

  async stop(): Promise<void> {
    await this.#consumer?.stop();
  }

  status(): DecodeStageStatus {
    return { ...this.#status };
  }

  /**
   * Decodes a batch and writes it; resolves only when the store has all of it. A batch larger than
   * `chunkDatagrams` is written in chunks, pipelined: the next chunk is decoded (on this thread)
   * while the store writes the previous one (chDB and a ClickHouse server both work off the JS
   * thread), so decoding and storing overlap instead of taking turns.
   */
  async handle(batch: readonly BusMessage[]): Promise<void> {
    const chunk = Math.max(1, this.#o.chunkDatagrams ?? batch.length);
    const counts = { flow: 0, counter: 0, discard: 0, unknown: 0, unknownRecords: 0, malformedRecords: 0 };
    const quarantined: { source: string; code: string }[] = [];
    let writing: Promise<void> | undefined;
    for (let start = 0, turn = 0; start < batch.length; start += chunk, turn++) {
      const part = start === 0 && chunk >= batch.length ? batch : batch.slice(start, start + chunk);
      // Two row buffers in turn: this chunk's is filled while the other one's insert runs.
      const rows = this.#rows[turn % 2] as SflowRowBatch;
      rows.reset();
      await this.#decodeInto(rows, part, counts);
      for (const q of rows.quarantine) quarantined.push({ source: q.source, code: q.error_code });
      if (writing !== undefined) await writing;
      writing = this.#write(rows, part);
      writing.catch(() => undefined); // awaited below or at the next chunk; no unhandled rejection meanwhile
    }
    if (writing !== undefined) await writing;

    const m = this.#o.metrics;
    m.datagramsDecoded.inc(batch.length);
    for (const kind of ['flow', 'counter', 'discard', 'unknown'] as const) if (counts[kind] > 0) m.samplesDecoded.inc({ kind }, counts[kind]);
    if (counts.unknownRecords > 0) m.recordsSkipped.inc({ reason: 'unknown' }, counts.unknownRecords);
    if (counts.malformedRecords > 0) m.recordsSkipped.inc({ reason: 'malformed' }, counts.malformedRecords);
    for (const q of quarantined) m.quarantined.inc(q);
    const s = this.#status;
    s.datagrams += batch.length;
    s.samples += counts.flow + counts.counter + counts.discard + counts.unknown;
    s.quarantined += quarantined.length;
    s.batches++;
    s.lastBatchAt = new Date(this.#clock()).toISOString();
  }

  /**
   * Decodes `batch` into `rows`. Yields to the event loop every YIELD_EVERY datagrams: the Node
   * dgram receiver runs on this thread, and a chunk decoded in one go (a few hundred ms) would
   * leave the socket unread long enough for its buffer to overflow.
   */
  async #decodeInto(rows: SflowRowBatch, batch: readonly BusMessage[], counts: Record<'flow' | 'counter' | 'discard' | 'unknown' | 'unknownRecords' | 'malformedRecords', number>): Promise<void> {
    for (let i = 0; i < batch.length; i++) {
      if (i > 0 && i % YIELD_EVERY === 0) await new Promise<void>((resolve) => setImmediate(resolve));
      const message = batch[i] as BusMessage;
      let raw: RawDatagram;
      try {
        raw = decodeEnvelope(message.value);
      } catch (error) {
        if (!(error instanceof DecodeError)) throw error;
        rows.add(error, { receivedAt: this.#clock(), exporter: message.key, exporterPort: 0, raw: message.value });
        this.#warn(error, message.key, undefined);
        continue;
      }
      const decoded = this.#decode(raw);
      rows.add(decoded, { receivedAt: raw.receivedAt, exporter: raw.exporter, exporterPort: raw.exporterPort, raw: raw.payload });
      if (decoded instanceof DecodeError) {
        this.#warn(decoded, raw.exporter, undefined);
        continue;
      }
      for (const sample of decoded.samples) counts[sample.kind]++;
      counts.unknownRecords += decoded.unknownRecords;
      counts.malformedRecords += decoded.malformedRecords;
      if (decoded.issues.length > 0) {
        const first = decoded.issues[0];
        if (first !== undefined) this.#warn(first, raw.exporter, decoded);
      }
    }
  }

  #decode(raw: RawDatagram): Datagram | DecodeError {
    try {
      return decodeDatagram(raw.payload);
    } catch (error) {
      if (error instanceof DecodeError) return error;
      // A bug in the decoder: keep the datagram (quarantined as internal) and keep running.
      const internal = new DecodeError('internal', `decoder failed: ${error instanceof Error ? error.message : String(error)}`, { offset: 0, path: 'datagram' }, { cause: error });
      const { log } = this.#admit('internal');
      if (log) this.#o.log.error({ err: error, exporter: raw.exporter }, 'decoder bug: datagram quarantined as internal');
      return internal;
    }
  }

  /**
   * Writes a chunk's tables, all at once: each insert is one engine query working off the JS
   * thread, so the raw datagrams and the samples are written side by side. Resolves when every
   * table has its rows; a retriable failure rejects (after the others settled) and the batch is
   * handed over again, the tables that were written dropping the repeat by their token.
   */
  async #write(rows: SflowRowBatch, batch: readonly BusMessage[]): Promise<void> {
    const token = batchToken(batch);
    const tables = rows.tables();
    const m = this.#o.metrics;
    const outcomes = await Promise.allSettled(
      tables.map(async ({ table, rows: encoded }) => {
        const stopTimer = m.insertSeconds.startTimer();
        try {
          await this.#o.store.insert(table, encoded, { dedupToken: `${token}:${table}` });
        } finally {
          stopTimer();
        }
        m.rowsInserted.inc({ table }, encoded.rowCount);
      }),
    );
    let rejected: { table: string; rowCount: number; error: unknown } | undefined;
    for (let i = 0; i < outcomes.length; i++) {
      const outcome = outcomes[i];
      const written = tables[i];
      if (outcome?.status !== 'rejected' || written === undefined) continue;
      const error: unknown = outcome.reason;
      m.insertFailures.inc({ retriable: String(error instanceof StoreError && error.retriable) });
      this.#status.lastError = error instanceof Error ? error.message : String(error);
      const failure = { table: written.table, rowCount: written.rows.rowCount, error };
      // A retriable failure wins: the whole batch comes again, nothing goes to quarantine.
      if (rejected === undefined || isRetriable(error)) rejected = failure;
    }
    if (rejected === undefined) return;
    const { table, rowCount, error } = rejected;
    const { log } = this.#admit(`insert:${table}`);
    if (isRetriable(error)) {
      if (log) this.#o.log.error({ err: error, table, rows: rowCount }, 'store insert failed; the batch will be handed over again');
      throw error;
    }
    // The store will never take these rows (a bug in a row encoder, a schema mismatch): keep the
    // datagrams in quarantine so they can be replayed once fixed, and move on.
    if (log) this.#o.log.error({ err: error, table, rows: rowCount }, 'store rejected the batch; its datagrams go to quarantine');
    await this.#quarantineBatch(batch, table, error as StoreError);
  }

  async #quarantineBatch(batch: readonly BusMessage[], table: string, error: StoreError): Promise<void> {
    const rows: QuarantineRow[] = [];
    for (const message of batch) {
      let raw: RawDatagram;
      try {
        raw = decodeEnvelope(message.value);
      } catch (envelopeError) {
        if (!(envelopeError instanceof DecodeError)) throw envelopeError;
        continue; // already quarantined as a bad envelope when the batch was decoded
      }
      rows.push({
        received_at: raw.receivedAt,
        source: 'store',
        exporter: raw.exporter,
        exporter_port: raw.exporterPort,
        agent: '',
        sequence: 0,
        error_code: error.code,
        error_offset: 0,
        error_path: table,
        message: error.message.slice(0, 1000),
        issues: 1,
        raw: raw.payload,
        hoptrace_version: VERSION,
      });
    }
    if (rows.length > 0) await this.#o.store.insert('quarantine', encodeQuarantineRows(rows), { dedupToken: `${batchToken(batch)}:quarantine:${table}` });
    this.#o.metrics.quarantined.inc({ source: 'store', code: error.code }, rows.length);
  }

  #warn(problem: { code: string; message: string; offset: number; path: string }, exporter: string, datagram: Datagram | undefined): void {
    const { log, suppressed } = this.#admit(problem.code);
    if (!log) return;
    const agent = datagram === undefined ? '' : ` (agent ${datagram.agent}, seq ${datagram.sequence})`;
    this.#o.log.warn(
      { exporter, code: problem.code, offset: problem.offset, path: problem.path, ...(suppressed > 0 ? { suppressed } : {}) },
      `sflow datagram from ${exporter}${agent} quarantined: ${problem.message}`,
    );
  }

  #admit(key: string): { log: boolean; suppressed: number } {
    return this.#throttle.admit(key, this.#clock());
  }
}

function isRetriable(error: unknown): boolean {
  return !(error instanceof StoreError) || error.retriable;
}

/** A deterministic id for a batch: the same messages handed over again give the same token. */
function batchToken(batch: readonly BusMessage[]): string {
  const hash = createHash('sha256');
  for (const message of batch) hash.update(message.value.subarray(0, 64));
  return `${batch.length}:${hash.digest('hex').slice(0, 32)}`;
}
