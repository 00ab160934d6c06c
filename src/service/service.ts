// Composition of the long-running service. The same stages run in every deployment; only the Bus
// and the Store differ (memory + chDB embedded, Kafka + ClickHouse server distributed):
//   role 'all'       : UDP receiver -> bus -> decode stage -> store, plus HTTP  (hoptrace serve)
//                      bus -> path stage -> store (its own consumer group; snapshots from the snapshot stage)
//   role 'collector' : UDP receiver -> bus (Kafka), plus HTTP                  (hoptrace collector)
import type { Bus } from '../bus/bus.js';
import { MemoryBus } from '../bus/memory-bus.js';
import type { Config } from '../config/schema.js';
import { durationMs } from '../config/schema.js';
import { UdpReceiver } from '../collector/udp-receiver.js';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { resolve } from 'node:path';
import { startHttpServer, type HealthReport } from '../api/http-server.js';
import { queryRoute } from '../api/query-route.js';
import { snapshotRoute } from '../api/snapshot-route.js';
import { TOPICS } from '../bus/bus.js';
import { encodeSnapshot } from '../snapshot/codec.js';
import { SnapshotStage } from '../topology/snapshot-stage.js';
import { readFile } from 'node:fs/promises';
import { ConfigError } from '../errors.js';
import type { Logger } from '../observability/log.js';
import { createMetrics, type Metrics } from '../observability/metrics.js';
import { DecodeStage } from '../pipeline/decode-stage.js';
import { PathStage } from '../pipeline/path-stage.js';
import type { Store } from '../store/store.js';
import { VERSION } from '../version.js';
import { openStore, removeServeMarker, writeServeMarker } from './open-store.js';

export type Role = 'all' | 'collector';

/** Store inserts per bus batch of the decode stage (see DecodeStageOptions.chunkDatagrams). */
export const PIPELINE_CHUNKS = 2;

/** Datagrams per store insert: pipeline.batchRows sample rows at about six samples a datagram (Open vSwitch). */
export function insertDatagrams(batchRows: number): number {
  return Math.max(256, Math.ceil(batchRows / 6));
}

export interface Receiver {
  start(): Promise<{ address: string; port: number; receiveBuffer: number }>;
  stop(): Promise<void>;
  kernelDrops(): Promise<number | undefined>;
  /** The native receiver's handoff watch: 'stalled' when datagrams arrive but none reach JS for a while. */
  health?(): { status: 'ok' } | { status: 'stalled'; reason: string };
  readonly stats: { received: number; bytes: number; droppedQueueFull: number; exporters: Map<string, number> };
}

export interface RunningService {
  udpPort: number;
  httpPort: number | undefined;
  metrics: Metrics;
  store: Store | undefined;
  /** Stops receiving, delivers what is queued to the store, closes everything. */
  stop(): Promise<void>;
}

export async function startService(config: Config, deps: { role: Role; log: Logger; metrics?: Metrics }): Promise<RunningService> {
  const { role, log } = deps;
  const metrics = deps.metrics ?? createMetrics();
  const started = Date.now();

  const bus = await openBus(config, log);
  let store: Store | undefined;
  let stage: DecodeStage | undefined;
  let snapshots: SnapshotStage | undefined;
  let paths: PathStage | undefined;
  if (role === 'all') {
    store = await openStore(config);
    const report = await store.migrate();
    log.info({ store: store.kind, database: store.database, applied: report.applied }, report.applied.length > 0 ? 'schema migrated' : 'schema up to date');
    stage = new DecodeStage({
      bus,
      store,
      metrics,
      log: log.child({ module: 'decode' }),
      // The bus hands over up to two inserts' worth; the stage writes them one after the other,
      // decoding the second while the first is written (pipelined).
      maxBatch: PIPELINE_CHUNKS * insertDatagrams(config.pipeline.batchRows),
      chunkDatagrams: insertDatagrams(config.pipeline.batchRows),
      lingerMs: durationMs(config.pipeline.batchInterval),
      keepRawDatagrams: config.pipeline.keepRawDatagrams,
    });
    stage.start();
    snapshots = new SnapshotStage(store, log.child({ module: 'snapshots' }));
    if (config.paths.enabled) {
      const stagePaths = new PathStage({
        bus,
        store,
        metrics,
        log: log.child({ module: 'paths' }),
        windowMs: durationMs(config.paths.window),
        latenessMs: durationMs(config.paths.lateness),
        answerWindowMs: durationMs(config.paths.answerWindow),
        maxOpenGroups: config.paths.maxOpenGroups,
        historyMs: durationMs(config.paths.snapshotHistory),
      });
      snapshots.onSnapshot((topology, raw) => stagePaths.addSnapshot(topology, raw));
      if (bus.kind === 'kafka') {
        log.warn({ group: 'hoptrace-paths' }, 'path stage on Kafka: run it in ONE process (paths.enabled: false on the others); a consumer group split over processes sees only some exporters and judges incomplete paths');
      }
      await stagePaths.start();
      paths = stagePaths;
    }
    snapshots.start(bus);
  }

  const receiver = await createReceiver(config, bus, log);
  const bound = await receiver.start();
  log.info({ listen: `${bound.address}:${bound.port}`, receiveBuffer: bound.receiveBuffer, receiver: receiver instanceof UdpReceiver ? 'dgram' : 'native' }, 'receiving sFlow');
  registerReceiverMetrics(metrics, receiver, bus);

  let httpPort: number | undefined;
  let closeHttp: (() => Promise<void>) | undefined;
  if (config.http.enabled) {
    const routes = new Map<string, (req: IncomingMessage, res: ServerResponse) => Promise<void>>();
    if (store !== undefined) routes.set('/v1/query', queryRoute(store));
    const tokens = await snapshotTokens(config);
    const loopback = /^(127\.|\[::1\]|localhost:)/.test(config.http.listen);
    routes.set(
      '/v1/snapshots',
      snapshotRoute({
        tokens,
        allowUnauthenticated: tokens.length === 0 && loopback,
        onSnapshot: async (snapshot) => {
          await bus.publish(TOPICS.SNAPSHOTS, [{ key: snapshot.host, value: encodeSnapshot(snapshot) }]);
        },
      }),
    );
    if (tokens.length === 0 && !loopback) log.warn({ listen: config.http.listen }, 'no http.snapshotTokens: POST /v1/snapshots refuses every agent (set tokens, or listen on loopback)');
    const http = await startHttpServer({
      listen: config.http.listen,
      registry: metrics.registry,
      routes,
      health: async (): Promise<HealthReport> => {
        const storeOk = store === undefined ? undefined : await store.query('SELECT 1 AS ok').then(() => true, () => false);
        const rx = receiver.health?.();
        return {
          status: storeOk === false || rx?.status === 'stalled' ? 'degraded' : 'ok',
          version: VERSION,
          role,
          uptimeSeconds: Math.round((Date.now() - started) / 1000),
          collector: {
            listen: `${bound.address}:${bound.port}`,
            received: receiver.stats.received,
            droppedQueueFull: receiver.stats.droppedQueueFull,
            kernelDrops: (await receiver.kernelDrops()) ?? null,
            exporters: Object.fromEntries(receiver.stats.exporters),
            ...(rx === undefined ? {} : { receiver: rx }),
          },
          bus: { kind: bus.kind, queued: bus.depth('hoptrace.sflow.raw.v1') },
          pipeline: stage?.status() ?? null,
          snapshots: snapshots === undefined ? null : { ...snapshots.stats, queued: bus.depth(TOPICS.SNAPSHOTS) },
          paths: paths?.status() ?? null,
          store: store === undefined ? null : { kind: store.kind, database: store.database, ...(config.store.kind === 'chdb' ? { path: resolve(config.store.path) } : {}), reachable: storeOk },
        };
      },
    });
    httpPort = http.port;
    closeHttp = http.close;
  }

  // Read commands on the same data directory find this service (and its HTTP API) by this marker;
  // written before the 'serving' line, so that whoever waits for that line finds it.
  const markerDir = role === 'all' && config.store.kind === 'chdb' ? config.store.path : undefined;
  if (markerDir !== undefined) {
    const host = config.http.listen.replace(/:\d+$/, '').replace(/^0\.0\.0\.0$/, '127.0.0.1').replace(/^\[::\]$/, '[::1]');
    writeServeMarker(markerDir, { pid: process.pid, http: httpPort === undefined ? null : `${host}:${httpPort}`, startedAt: new Date(started).toISOString() });
  }
  if (httpPort !== undefined) log.info({ listen: `${config.http.listen.replace(/:\d+$/, '')}:${httpPort}` }, 'serving /health and /metrics');

  return {
    udpPort: bound.port,
    httpPort,
    metrics,
    store,
    async stop(): Promise<void> {
      await receiver.stop();
      await bus.close(); // delivers what is queued to the decode stage
      await stage?.stop();
      await snapshots?.stop();
      await paths?.stop(); // closes the open groups and writes their paths
      await closeHttp?.();
      await store?.close();
      if (markerDir !== undefined) removeServeMarker(markerDir);
    },
  };
}

async function openBus(config: Config, log: Logger): Promise<Bus> {
  if (config.bus.kind === 'memory') return new MemoryBus({ capacity: config.collector.queueDatagrams });
  const { KafkaBus } = await import('../bus/kafka-bus.js');
  const bus = new KafkaBus({
    brokers: config.bus.brokers,
    clientId: config.bus.clientId,
    topicPrefix: config.bus.topicPrefix,
    capacity: config.collector.queueDatagrams,
    logger: log.child({ module: 'kafka' }),
  });
  await bus.connect();
  return bus;
}

async function createReceiver(config: Config, bus: Bus, log: Logger): Promise<Receiver> {
  const onBufferShort = (requested: number, granted: number): void => {
    log.warn({ requested, granted }, `UDP receive buffer is ${granted} bytes, not the ${requested} configured: raise net.core.rmem_max (sysctl -w net.core.rmem_max=${requested}) or bursts will be dropped by the kernel`);
  };
  if (config.collector.receiver === 'native') {
    const { NativeUdpReceiver } = await import('../collector/native-receiver.js');
    const native = NativeUdpReceiver.available();
    if (native.ok) {
      return new NativeUdpReceiver({ listen: config.collector.listen, receiveBuffer: config.collector.receiveBuffer, bus, onBufferShort });
    }
    log.warn({ reason: native.reason }, 'native UDP receiver unavailable: using Node dgram (about 50-150 k datagrams/s)');
  }
  return new UdpReceiver({ listen: config.collector.listen, receiveBuffer: config.collector.receiveBuffer, bus, onBufferShort });
}

function registerReceiverMetrics(metrics: Metrics, receiver: Receiver, bus: Bus): void {
  // The receive loop keeps plain counters (no metric calls per datagram); they are copied at scrape time.
  let reported = { received: 0, bytes: 0, dropped: 0 };
  const exporterSeen = new Map<string, number>();
  const sync = (): void => {
    const s = receiver.stats;
    metrics.bytesReceived.inc(s.bytes - reported.bytes);
    metrics.datagramsDropped.inc({ reason: 'queue-full' }, s.droppedQueueFull - reported.dropped);
    for (const [exporter, n] of s.exporters) {
      const before = exporterSeen.get(exporter) ?? 0;
      if (n > before) metrics.datagramsReceived.inc({ exporter }, n - before);
      exporterSeen.set(exporter, n);
    }
    reported = { received: s.received, bytes: s.bytes, dropped: s.droppedQueueFull };
    metrics.queueDepth.set({ topic: 'hoptrace.sflow.raw.v1' }, bus.depth('hoptrace.sflow.raw.v1'));
  };
  metrics.beforeScrape.push(sync);
  metrics.kernelDropsSource.read = () => receiver.kernelDrops();
}

/** http.snapshotTokens plus the lines of http.snapshotTokenFile. */
async function snapshotTokens(config: Config): Promise<string[]> {
  const tokens = [...config.http.snapshotTokens];
  const file = config.http.snapshotTokenFile;
  if (file !== undefined) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (error) {
      throw new ConfigError('unreadable', `http.snapshotTokenFile ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, { key: 'http.snapshotTokenFile', origin: file });
    }
    for (const line of text.split('\n')) {
      const token = line.trim();
      if (token === '' || token.startsWith('#')) continue;
      if (token.length < 16) throw new ConfigError('bad-value', `http.snapshotTokenFile ${file}: a token is shorter than 16 characters`, { key: 'http.snapshotTokenFile', origin: file });
      tokens.push(token);
    }
  }
  return tokens;
}
