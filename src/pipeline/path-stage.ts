// The service's path stage (DESIGN.md stages resolve → fingerprint → correlate → trace → verdict, run
// continuously): raw sFlow datagrams from the bus (its own consumer group on the raw topic: the
// decode stage stores samples, this one reads the same datagrams again), observations grouped by
// frame or flow in event-time windows, each closed group judged against the host snapshots in
// force at its time (fed by the snapshot stage as they arrive, loaded from the store at start),
// and the paths and their hops written to the store.
//
// Timing. A group closes when the watermark (highest receive time of any datagram, counters
// included, minus the lateness) passes its end.
// A path waits a little longer before it is written: until every group that could hold its answer
// (a reply within answerWindowMs) has closed too, so `answered` is final when stored. Once the input
// stops for lateness + window, the stage closes and writes everything it holds (an idle collector
// still gets its paths) and starts a fresh correlator: a capture replayed later, with older receive
// times, is not "late" against the one before.
//
// Delivery. The bus batch is released once its observations are in the correlator: paths are
// derived data (the samples are stored by the decode stage and can be analysed again), so a store
// outage keeps them in a bounded outbox, retried each tick; past the bound the oldest are given up
// on and counted. A path analysed twice (a bus batch handed over again) has the same path_id, and
// the paths tables keep one row per id (ReplacingMergeTree). Paths are encoded in RowBinary as they
// settle (pathengine/path-row-binary.ts) and written WRITE_PATHS at a time, or what there is each tick.
//
// Scale: the correlation needs every host's datagrams in one place, so run one path stage per
// deployment (the embedded service has one; with Kafka, one process with paths.enabled).
import type { Bus, BusMessage, Consumer } from '../bus/bus.js';
import { TOPICS } from '../bus/bus.js';
import { decodeEnvelope } from '../collector/envelope.js';
import { DecodeError } from '../errors.js';
import type { RawSnapshot } from '../hoststate/snapshot.js';
import { Throttle, type Logger } from '../observability/log.js';
import type { Metrics } from '../observability/metrics.js';
import { ANSWER_SKEW_MS, hasNatLegs, joinNatLegs, markAnswers, PathAnalyzer, type AnalyzedPath } from '../pathengine/analyze.js';
import { Correlator, type ClosedGroup, type CorrelatorStats } from '../pathengine/correlate.js';
import { toObservations } from '../pathengine/observation.js';
import { encodePath, pathBatches, type EncodedPath } from '../pathengine/path-row-binary.js';
import { decodeDatagram } from '../sflow/datagram.js';
import { RowBinaryWriter } from '../store/row-binary.js';
import type { Store } from '../store/store.js';
import { buildTopology } from '../topology/build.js';
import type { HostTopology } from '../topology/model.js';
import { loadSnapshots } from '../topology/store.js';

export interface PathStageOptions {
  bus: Bus;
  store: Store;
  metrics: Metrics;
  log: Logger;
  /** Frame groups: longest first-to-last span; flow groups: the tumbling window (default 2000). */
  windowMs?: number;
  /** How late an observation may arrive and still join its group (default 3000). */
  latenessMs?: number;
  /** How long after a request its answer may come (default 3000). */
  answerWindowMs?: number;
  maxOpenGroups?: number;
  /** Snapshot versions older than this behind the watermark are forgotten (the one in force is kept). Default 1 h. */
  historyMs?: number;
  /** Paths held while the store is down (default 50,000); past it the oldest are given up on. */
  maxOutbox?: number;
  /** How often pending paths are written and idleness checked (default 1000 ms). */
  tickMs?: number;
  maxBatch?: number;
  lingerMs?: number;
  clock?: () => number;
}

export interface PathStageStatus {
  datagrams: number;
  undecodable: number;
  observations: number;
  paths: number;
  byVerdict: Record<AnalyzedPath['verdict'], number>;
  stored: number;
  notStored: number;
  pending: number;
  outbox: number;
  openGroups: number;
  hosts: number;
  watermark: string | null;
  lastPathAt: string | null;
  lastError: string | null;
  /** Groups whose analysis threw (a bug: logged, skipped). */
  analysisErrors: number;
}

const GROUP_OUTCOMES = ['late', 'overflow', 'duplicate', 'unkeyed'] as const;

/**
 * Paths in one write (at most), and enough settled paths for a bus batch to start a write at once;
 * fewer wait for the tick (tickMs after the last write). Each write is a part in both tables, which
 * chDB then merges: writing after every bus batch, as before, cost ~1.7x the CPU at 5,000 datagrams/s
 * of the lab capture (merges of the small parts), ~1.2x at 15,000 (bench/RESULTS.md, session 5).
 */
const WRITE_PATHS = 10_000;

export class PathStage {
  readonly #o: Required<Omit<PathStageOptions, 'bus' | 'store' | 'metrics' | 'log' | 'clock'>> & Pick<PathStageOptions, 'bus' | 'store' | 'metrics' | 'log'>;
  readonly #clock: () => number;
  readonly #analyzer = new PathAnalyzer();
  readonly #throttle = new Throttle(5, 60_000);
  #correlator: Correlator;
  /** Counts of the correlators retired after an idle flush, so the metrics stay monotonic. */
  readonly #retired = { accepted: 0, late: 0, overflow: 0, duplicate: 0, unkeyed: 0 };
  readonly #reported = { accepted: 0, late: 0, overflow: 0, duplicate: 0, unkeyed: 0 };
  /** Analysed paths waiting for their answer window to close, in no particular order. */
  #pending: AnalyzedPath[] = [];
  /** Pending paths that may be one leg of a NAT'ed frame (joinNatLegs runs only while there are some). */
  #natPending = 0;
  /** Paths settled within the last ANSWER_SKEW_MS: an answer seen before its request is among them. */
  #recent: AnalyzedPath[] = [];
  /** Settled paths in RowBinary, oldest first, until the store has them. */
  #outbox: EncodedPath[] = [];
  /** Scratch space of encodePath. */
  readonly #encoder = new RowBinaryWriter(64 * 1024);
  #consumer: Consumer | undefined;
  #timer: NodeJS.Timeout | undefined;
  /** Wall-clock time the last datagram arrived; 0 before the first. */
  #lastDataAt = 0;
  /** Event time of the last forgetBefore. */
  #forgotAt = Number.NEGATIVE_INFINITY;
  #flushing: Promise<void> = Promise.resolve();
  #ticking = false;
  /** The write in flight (one at a time: each removes exactly what it wrote from the outbox). */
  #writing: Promise<void> | undefined;
  #inFlight = new Set<EncodedPath>();
  /** Clock time the last write started; 0 before the first. */
  #lastWriteAt = 0;
  readonly #status: PathStageStatus = {
    datagrams: 0, undecodable: 0, observations: 0, paths: 0, byVerdict: { delivered: 0, dropped: 0, lost: 0, incomplete: 0 }, stored: 0, notStored: 0,
    pending: 0, outbox: 0, openGroups: 0, hosts: 0, watermark: null, lastPathAt: null, lastError: null, analysisErrors: 0,
  };

  constructor(options: PathStageOptions) {
    this.#o = {
      bus: options.bus, store: options.store, metrics: options.metrics, log: options.log,
      windowMs: options.windowMs ?? 2000,
      latenessMs: options.latenessMs ?? 3000,
      answerWindowMs: options.answerWindowMs ?? 3000,
      maxOpenGroups: options.maxOpenGroups ?? 200_000,
      historyMs: options.historyMs ?? 3_600_000,
      maxOutbox: options.maxOutbox ?? 50_000,
      tickMs: options.tickMs ?? 1000,
      maxBatch: options.maxBatch ?? 1024,
      lingerMs: options.lingerMs ?? 200,
    };
    this.#clock = options.clock ?? Date.now;
    this.#correlator = this.#newCorrelator();
    options.metrics.beforeScrape.push(() => {
      options.metrics.pathOpenGroups.set(this.#correlator.stats.openGroups);
    });
  }

  /** Loads the snapshots in force over the last historyMs from the store, then consumes the raw topic. */
  async start(): Promise<void> {
    await this.#loadFromStore();
    this.#consumer = this.#o.bus.consume(TOPICS.SFLOW_RAW, (batch) => this.handle(batch), {
      group: 'hoptrace-paths',
      fromBeginning: false,
      maxBatch: this.#o.maxBatch,
      lingerMs: this.#o.lingerMs,
    });
    this.#timer = setInterval(() => {
      if (this.#ticking) return; // the previous tick still waits for the store
      this.#ticking = true;
      this.#flushing = this.tick().catch((error: unknown) => this.#fail(error)).finally(() => {
        this.#ticking = false;
      });
    }, this.#o.tickMs);
    this.#timer.unref();
  }

  /** Stops consuming, closes every open group and writes what it can. */
  async stop(): Promise<void> {
    await this.#consumer?.stop();
    this.#consumer = undefined;
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#flushing;
    await this.#writing;
    this.#closeAll();
    for (let left = this.#outbox.length; left > 0; left = this.#outbox.length) {
      await this.#write();
      if (this.#outbox.length >= left) break; // the store refuses: what is left is counted as not stored
    }
    if (this.#outbox.length > 0) {
      this.#status.notStored += this.#outbox.length;
      this.#o.metrics.pathsLost.inc(this.#outbox.length);
      this.#o.log.error({ paths: this.#outbox.length, err: this.#status.lastError }, 'stopping with paths the store did not take');
      this.#outbox = [];
    }
  }

  /** A host snapshot (from the snapshot stage). */
  addSnapshot(topology: HostTopology, raw?: RawSnapshot): void {
    this.#analyzer.addSnapshot(topology, raw);
    this.#status.hosts = this.#analyzer.hosts().length;
  }

  status(): PathStageStatus {
    const w = this.#correlator.stats.watermark;
    return { ...this.#status, byVerdict: { ...this.#status.byVerdict }, pending: this.#pending.length, outbox: this.#outbox.length, openGroups: this.#correlator.stats.openGroups, watermark: Number.isFinite(w) ? new Date(w).toISOString() : null };
  }

  /** Takes a batch of raw datagrams: decodes, correlates, analyses what closed, writes what is due. */
  async handle(batch: readonly BusMessage[]): Promise<void> {
    this.#lastDataAt = this.#clock();
    const resolver = this.#analyzer.resolver;
    for (const message of batch) {
      let raw;
      let datagram;
      try {
        raw = decodeEnvelope(message.value);
        datagram = decodeDatagram(raw.payload);
      } catch (error) {
        // The decode stage stores it in quarantine with the error (a decoder bug included); here it
        // only counts: throwing would hand the batch over again and add its observations twice.
        if (!(error instanceof DecodeError)) {
          const { log } = this.#throttle.admit('decode', this.#clock());
          if (log) this.#o.log.error({ err: error, exporter: message.key }, 'decoder failed on a datagram; skipped by the path stage');
        }
        this.#status.undecodable++;
        continue;
      }
      this.#status.datagrams++;
      resolver.learn(datagram);
      let observed = 0;
      for (const o of toObservations(datagram, { receivedAtMs: raw.receivedAt, exporter: raw.exporter })) {
        observed++;
        this.#correlator.add(o);
      }
      this.#status.observations += observed;
      // counter-only datagrams move event time too: with counters polled every few seconds the
      // input is never idle, and the groups must still close
      if (observed === 0) this.#correlator.advanceTo(raw.receivedAt);
    }
    this.#analyzeClosed(this.#correlator.takeClosed());
    this.#countObservations();
    // the bus batch is released now: a slow store must not hold the raw topic (the decode stage
    // shares it); the outbox is written in the background, one write at a time, once enough paths
    // have settled or a tick has gone by since the last write
    if (this.#outbox.length >= WRITE_PATHS || this.#clock() - this.#lastWriteAt >= this.#o.tickMs) void this.#write();
    // ... but that write moves on only through the event loop (the batch file, chDB's answer), and a
    // bus with the next batch ready calls again at once: without a turn of the loop here it never
    // gets one, the outbox fills while the input lasts and its oldest paths are given up on
    if (this.#writing !== undefined) await new Promise<void>((resolve) => setImmediate(resolve));
  }

  /** Writes due paths; after an idle spell closes everything and starts a fresh correlator. */
  async tick(): Promise<void> {
    const idleMs = this.#clock() - this.#lastDataAt;
    if (this.#lastDataAt > 0 && idleMs >= this.#o.latenessMs + this.#o.windowMs && this.#correlator.stats.accepted > 0) this.#closeAll();
    await this.#write();
  }

  #newCorrelator(): Correlator {
    return new Correlator({ resolver: this.#analyzer.resolver, windowMs: this.#o.windowMs, allowedLatenessMs: this.#o.latenessMs, maxOpenGroups: this.#o.maxOpenGroups });
  }

  /** Closes every group, settles every pending path, and retires the correlator. */
  #closeAll(): void {
    this.#analyzeClosed(this.#correlator.flush());
    this.#countObservations();
    const s = this.#correlator.stats;
    this.#retired.accepted += s.accepted;
    for (const k of GROUP_OUTCOMES) this.#retired[k] += s[k];
    this.#correlator = this.#newCorrelator();
    this.#settle(Number.POSITIVE_INFINITY);
  }

  #analyzeClosed(groups: readonly ClosedGroup[]): void {
    for (const g of groups) {
      let path: AnalyzedPath;
      try {
        path = this.#analyzer.analyze(g);
      } catch (error) {
        // A bug in the analysis of one group must not stop the stage.
        this.#status.analysisErrors++;
        const { log } = this.#throttle.admit('analyze', this.#clock());
        if (log) this.#o.log.error({ err: error, firstSeen: new Date(g.firstSeen).toISOString(), observations: g.observations.length }, 'path analysis failed for one group; skipped');
        continue;
      }
      this.#pending.push(path);
      if (hasNatLegs(path)) this.#natPending++;
    }
    this.#settle(this.#correlator.stats.watermark);
  }

  /** Moves the paths whose answer window has closed (watermark past it) to the outbox. */
  #settle(watermark: number): void {
    if (this.#pending.length === 0) return;
    const o = this.#o;
    const due = (p: AnalyzedPath): boolean => Date.parse(p.firstSeen) + o.answerWindowMs + o.windowMs <= watermark;
    this.#pending.sort((a, b) => (a.firstSeen < b.firstSeen ? -1 : a.firstSeen > b.firstSeen ? 1 : 0));
    let n = 0;
    while (n < this.#pending.length && due(this.#pending[n] as AnalyzedPath)) n++;
    if (n === 0) return;
    // answers to the due paths are among the paths up to answerWindowMs after the last due one
    let last = Date.parse((this.#pending[n - 1] as AnalyzedPath).firstSeen);
    let m = n;
    while (m < this.#pending.length && Date.parse((this.#pending[m] as AnalyzedPath).firstSeen) <= last + o.answerWindowMs) m++;
    if (this.#natPending > 0) {
      // one frame on both sides of a router's NAT is one path: its legs (first seen within
      // NAT_JOIN_MS, less than the answer window) are both among the first m
      const joined = joinNatLegs(this.#pending.slice(0, m));
      if (joined.length !== m) {
        this.#pending.splice(0, m, ...joined);
        this.#natPending = this.#pending.filter(hasNatLegs).length;
        n = 0;
        while (n < this.#pending.length && due(this.#pending[n] as AnalyzedPath)) n++;
        if (n === 0) return;
        last = Date.parse((this.#pending[n - 1] as AnalyzedPath).firstSeen);
        m = n;
        while (m < this.#pending.length && Date.parse((this.#pending[m] as AnalyzedPath).firstSeen) <= last + o.answerWindowMs) m++;
      }
    }
    // and an answer may be first seen up to ANSWER_SKEW_MS before its request: the recently settled ones
    markAnswers([...this.#recent, ...this.#pending.slice(0, m)], o.answerWindowMs);
    const settled = this.#pending.splice(0, n);
    if (this.#natPending > 0) for (const p of settled) if (hasNatLegs(p)) this.#natPending = Math.max(0, this.#natPending - 1);
    const keepFrom = last - ANSWER_SKEW_MS;
    this.#recent = [...this.#recent, ...settled].filter((p) => Date.parse(p.firstSeen) >= keepFrom);
    const now = this.#clock();
    for (const p of settled) {
      this.#outbox.push(encodePath(p, [], now, this.#encoder));
      this.#status.paths++;
      this.#status.byVerdict[p.verdict]++;
      this.#o.metrics.pathsAnalyzed.inc({ verdict: p.verdict });
    }
    this.#status.lastPathAt = new Date(now).toISOString();
    if (this.#outbox.length > o.maxOutbox) {
      // give up on the oldest, except those a write in flight is storing
      let over = this.#outbox.length - o.maxOutbox;
      const given = over;
      this.#outbox = this.#outbox.filter((r) => over <= 0 || this.#inFlight.has(r) || (over--, false));
      this.#status.notStored += given - over;
      this.#o.metrics.pathsLost.inc(given - over);
    }
    // forgetting rebuilds the analyzer's cached worlds: once a minute of event time is enough
    if (Number.isFinite(watermark) && watermark - this.#forgotAt >= 60_000) {
      this.#forgotAt = watermark;
      this.#analyzer.forgetBefore(watermark - o.historyMs);
    }
  }

  /** Writes the outbox; waits for a write already in flight instead of starting a second one. */
  async #write(): Promise<void> {
    while (this.#writing !== undefined) await this.#writing;
    if (this.#outbox.length === 0) return;
    this.#writing = this.#writeOnce().finally(() => {
      this.#writing = undefined;
    });
    await this.#writing;
  }

  async #writeOnce(): Promise<void> {
    this.#lastWriteAt = this.#clock();
    const batch = this.#outbox.slice(0, WRITE_PATHS);
    this.#inFlight = new Set(batch);
    const { paths, hops } = pathBatches(batch);
    const token = `${batch.length}:${String(batch[0]?.pathId)}:${String(batch[batch.length - 1]?.pathId)}`;
    try {
      // hops first: a path row is the sign its hops are there
      if (hops.rowCount > 0) await this.#o.store.insert('path_hops', hops, { dedupToken: `path_hops:${token}` });
      await this.#o.store.insert('paths', paths, { dedupToken: `paths:${token}` });
    } catch (error) {
      // Kept in the outbox and retried at the next tick (a StoreError, or a bug in a row: logged
      // either way; throwing would hand the bus batch over again and add its observations twice).
      this.#inFlight = new Set();
      this.#fail(error);
      return;
    }
    const written = this.#inFlight;
    this.#inFlight = new Set();
    this.#outbox = this.#outbox.filter((r) => !written.has(r));
    this.#status.stored += batch.length;
    this.#o.metrics.rowsInserted.inc({ table: 'paths' }, paths.rowCount);
    this.#o.metrics.rowsInserted.inc({ table: 'path_hops' }, hops.rowCount);
  }

  #countObservations(): void {
    const s: Readonly<CorrelatorStats> = this.#correlator.stats;
    const m = this.#o.metrics.pathObservations;
    const total = { accepted: this.#retired.accepted + s.accepted, late: 0, overflow: 0, duplicate: 0, unkeyed: 0 };
    for (const k of GROUP_OUTCOMES) total[k] = this.#retired[k] + s[k];
    for (const k of ['accepted', ...GROUP_OUTCOMES] as const) {
      const delta = total[k] - this.#reported[k];
      if (delta > 0) m.inc({ outcome: k }, delta);
      this.#reported[k] = total[k];
    }
  }

  #fail(error: unknown): void {
    const message = error instanceof Error ? error.message : String(error);
    this.#status.lastError = message;
    const { log } = this.#throttle.admit('write', this.#clock());
    if (log) this.#o.log.error({ err: error, outbox: this.#outbox.length }, 'storing paths failed; kept and retried');
  }

  async #loadFromStore(): Promise<void> {
    const since = new Date(this.#clock() - this.#o.historyMs).toISOString();
    let raws: RawSnapshot[] = [];
    try {
      raws = await loadSnapshots(this.#o.store, { at: since });
      const recent = await this.#o.store.query<{ body: string }>(
        "SELECT argMax(body, stored_at) AS body FROM host_snapshots WHERE taken_at > parseDateTime64BestEffort({since:String}, 3, 'UTC') GROUP BY host, taken_at ORDER BY taken_at",
        { since },
      );
      for (const r of recent) raws.push(JSON.parse(r.body) as RawSnapshot);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      this.#o.log.warn({ err: message }, 'could not load host snapshots from the store; paths wait for agents to send new ones');
      return;
    }
    for (const raw of raws) this.addSnapshot(buildTopology(raw), raw);
    this.#o.log.info({ snapshots: raws.length, hosts: this.#status.hosts }, 'path stage: host snapshots loaded');
  }
}
