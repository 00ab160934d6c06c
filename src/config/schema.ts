// The one configuration schema. Defaults run embedded: in-process bus, chDB under ./data,
// sFlow on UDP 0.0.0.0:6343, HTTP (health, metrics) on 127.0.0.1:8080.
// Precedence: defaults < file (--config hoptrace.yaml) < env HOPTRACE_<PATH> (`__` between levels)
// < command-line flags. Unknown keys are errors that name where they came from.
import { z } from 'zod';

const HostPort = z
  .string()
  .regex(/^(\[[0-9a-fA-F:.]+\]|[^\s:[\]]+):\d{1,5}$/, 'expected host:port, e.g. 0.0.0.0:6343 or [::]:6343')
  .describe('host:port');

const Duration = z
  .string()
  .regex(/^\d+(ms|s|m|h|d)$/, 'expected a duration such as 500ms, 10s, 5m, 7d')
  .describe('duration: <n>ms|s|m|h|d');

export const StoreConfig = z.discriminatedUnion('kind', [
  z.strictObject({
    kind: z.literal('chdb').describe('embedded ClickHouse engine (npm chdb), in this process'),
    path: z.string().min(1).default('./data').describe('directory holding the embedded database'),
  }),
  z.strictObject({
    kind: z.literal('server').describe('a ClickHouse server through @clickhouse/client'),
    url: z.url().describe('HTTP(S) endpoint, e.g. http://clickhouse:8123'),
    database: z.string().min(1).default('hoptrace'),
    username: z.string().default('default'),
    password: z.string().default('').describe('secret: redacted by `hoptrace config --dump`'),
  }),
]);

export const BusConfig = z.discriminatedUnion('kind', [
  z.strictObject({
    kind: z.literal('memory').describe('in-process bounded queue (embedded deployment)'),
    capacity: z.number().int().min(16).default(65_536).describe('datagrams held before publish blocks or drops'),
  }),
  z.strictObject({
    kind: z.literal('kafka').describe('Apache Kafka through kafkajs (distributed deployment)'),
    brokers: z.array(z.string().min(1)).min(1).describe('bootstrap brokers, host:port'),
    clientId: z.string().default('hoptrace'),
    topicPrefix: z.string().default('hoptrace.'),
  }),
]);

export const Config = z.strictObject({
  collector: z
    .strictObject({
      listen: HostPort.default('0.0.0.0:6343').describe('UDP address sFlow agents send to'),
      receiveBuffer: z
        .number()
        .int()
        .min(65_536)
        .default(4 * 1024 * 1024)
        .describe('socket receive buffer in bytes (SO_RCVBUF); the kernel caps it at net.core.rmem_max'),
      receiver: z
        .enum(['dgram', 'native'])
        .default('native')
        .describe('native: a recvmmsg thread (250 k/s+, Linux, built by npm ci; falls back to dgram with a warning when not built); dgram: Node sockets (~50-150 k datagrams/s)'),
      queueDatagrams: z
        .number()
        .int()
        .min(16)
        .default(65_536)
        .describe('datagrams waiting for the decoder before new ones are dropped (and counted)'),
    })
    .prefault({}),
  pipeline: z
    .strictObject({
      batchRows: z.number().int().min(1).default(50_000).describe('flush a store batch at this many sample rows'),
      batchInterval: Duration.default('1s').describe('flush a store batch at least this often'),
      keepRawDatagrams: z.boolean().default(true).describe('store every datagram raw (for replay) beside its samples'),
    })
    .prefault({}),
  paths: z
    .strictObject({
      enabled: z.boolean().default(true).describe('judge frame paths from the stream and store them (paths, path_hops); run it in one process per deployment'),
      window: Duration.default('2s').describe('frame groups: the longest first-to-last span of one frame; flow groups (sampling > 1): the tumbling window'),
      lateness: Duration.default('3s').describe('how late a datagram may arrive (exporters send each bridge on its own) and still join its frame'),
      answerWindow: Duration.default('3s').describe('how long after a request (echo, DHCP, TCP/UDP to a lower port) its answer may come'),
      maxOpenGroups: z.number().int().min(1000).default(200_000).describe('frames/flows held open at once; more close the oldest early (counted)'),
      snapshotHistory: Duration.default('1h').describe('how long superseded host snapshots are kept in memory for late or replayed data'),
    })
    .prefault({}),
  store: StoreConfig.default({ kind: 'chdb', path: './data' }),
  bus: BusConfig.default({ kind: 'memory', capacity: 65_536 }),
  retention: z
    .strictObject({
      rawDays: z.number().int().min(1).default(7).describe('TTL of raw datagrams and quarantine rows'),
      sampleDays: z.number().int().min(1).default(30).describe('TTL of decoded samples and counters'),
      rollupDays: z.number().int().min(1).default(90).describe('TTL of the per-minute rollups'),
    })
    .prefault({}),
  http: z
    .strictObject({
      listen: HostPort.default('127.0.0.1:8080').describe('HTTP address for /health and /metrics; "off" is not allowed, use --no-http'),
      enabled: z.boolean().default(true),
      snapshotTokens: z
        .array(z.string().min(16, 'a snapshot token must be at least 16 characters'))
        .default([])
        .describe('bearer tokens agents present to POST /v1/snapshots; with none, only agents on this machine are accepted when http.listen is a loopback address'),
      snapshotTokenFile: z.string().optional().describe('file with one bearer token per line (added to snapshotTokens); keeps tokens out of the YAML'),
    })
    .prefault({}),
  log: z
    .strictObject({
      level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
      format: z.enum(['auto', 'json', 'pretty']).default('auto').describe('auto: pretty on a TTY, JSON otherwise'),
    })
    .prefault({}),
});

export type Config = z.infer<typeof Config>;
export type StoreConfig = z.infer<typeof StoreConfig>;
export type BusConfig = z.infer<typeof BusConfig>;

/** Durations in config are strings ("10s"); this turns them into milliseconds. */
export function durationMs(text: string): number {
  const match = /^(\d+)(ms|s|m|h|d)$/.exec(text);
  if (match === null) throw new RangeError(`not a duration: ${text}`);
  const n = Number(match[1]);
  const unit = match[2];
  const scale = unit === 'ms' ? 1 : unit === 's' ? 1000 : unit === 'm' ? 60_000 : unit === 'h' ? 3_600_000 : 86_400_000;
  return n * scale;
}
