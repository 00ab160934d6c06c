// The same service code on the distributed transport: `hoptrace serve` with the Kafka bus (a real
// Kafka-protocol broker: testcontainers, KAFKA_BROKERS, or librdkafka's mock cluster), the decode
// stage and the path stage as two consumer groups of the raw topic, snapshots through the
// snapshots topic. The shipped lab capture replayed over UDP must give the same stored paths as on
// the in-process bus (serve-paths.test.ts): vm1's echo requests dropped on network1 br-tun, table 3.
import { createSocket } from 'node:dgram';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpSink } from '../../src/agent/sinks.js';
import { TOPICS } from '../../src/bus/bus.js';
import { kafkaTopicName } from '../../src/bus/kafka-bus.js';
import { replay } from '../../src/cli/commands/replay.js';
import { loadConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/observability/log.js';
import { startService, type RunningService } from '../../src/service/service.js';
import { importSnapshots } from '../../src/snapshot/import.js';
import { kafkaUnavailable, startKafka, type KafkaService } from '../support/kafka.js';
import { needService } from '../support/services.js';
import { waitFor } from '../support/wait.js';

const FIXTURE = join(import.meta.dirname, '..', 'fixtures', 'lab-capture');
const TOKEN = 'kafka-paths-token-0123456789';
const scenario = JSON.parse(readFileSync(join(FIXTURE, 'scenario.json'), 'utf8')) as { datagrams: number; pings: { fromIp: string; phase: string; transmitted: number }[] };

const SLOW = 90_000; // consumer groups join the mock broker in seconds

describe('hoptrace serve on the Kafka bus: decode and path stages as two consumer groups', () => {
  let kafka: KafkaService | undefined;
  let unavailable: string | undefined;
  let dir = '';
  let service: RunningService | undefined;

  beforeAll(async () => {
    unavailable = kafkaUnavailable();
    if (unavailable !== undefined) return;
    kafka = await startKafka();
    const prefix = `paths${process.pid}.`;
    await kafka.createTopic(kafkaTopicName(TOPICS.SFLOW_RAW, prefix), 4);
    await kafka.createTopic(kafkaTopicName(TOPICS.SNAPSHOTS, prefix), 1);
    dir = mkdtempSync(join(tmpdir(), 'hoptrace-serve-kafka-paths-'));
    const config = loadConfig({
      flags: {
        collector: { listen: '127.0.0.1:0', receiver: 'dgram' },
        http: { listen: '127.0.0.1:0', snapshotTokens: [TOKEN] },
        bus: { kind: 'kafka', brokers: kafka.brokers, topicPrefix: prefix },
        store: { kind: 'chdb', path: join(dir, 'data') },
        paths: { window: '1s', lateness: '1s', answerWindow: '1s' },
      },
    });
    service = await startService(config, { role: 'all', log: createLogger({ level: 'silent', format: 'json' }) });
  }, 180_000);
  afterAll(async () => {
    await service?.stop();
    await kafka?.stop();
    if (dir !== '') rmSync(dir, { recursive: true, force: true });
  });

  it('stores the replayed capture\'s paths: vm1\'s echo requests dropped on network1 br-tun table 3', async (ctx) => {
    await needService(ctx, 'kafka', () => unavailable);
    if (service?.store === undefined || service.httpPort === undefined) throw new Error('service not started');
    const store = service.store;
    const broken = join(FIXTURE, 'snapshots', 'broken');
    const imported = await importSnapshots(readdirSync(broken).map((d) => join(broken, d)));
    const sink = new HttpSink({ url: `http://127.0.0.1:${service.httpPort}`, token: TOKEN });
    for (const s of imported.snapshots) expect((await sink.ship(s)).delivered).toBe(true);
    await sink.close();
    const health = async (): Promise<{ paths: { hosts: number; datagrams: number; paths: number; stored: number } | null }> =>
      (await (await fetch(`http://127.0.0.1:${service?.httpPort ?? 0}/health`)).json()) as { paths: { hosts: number; datagrams: number; paths: number; stored: number } | null };
    // the snapshots went through Kafka to the snapshot stage, which handed them to the path stage
    await waitFor('both hosts\' snapshots at the path stage', async () => ((await health()).paths?.hosts === 2 ? true : undefined), SLOW);

    // the paths group starts at the newest offset (no replay of the retention): probe with datagrams
    // that are not sFlow until it counts one, so the capture is not sent before it joined
    const probe = createSocket('udp4');
    await waitFor('the path stage\'s consumer group consuming', async () => {
      await new Promise<void>((resolve, reject) => probe.send(Buffer.from('probe, not sflow'), service?.udpPort ?? 0, '127.0.0.1', (e) => (e ? reject(e) : resolve())));
      const h = (await (await fetch(`http://127.0.0.1:${service?.httpPort ?? 0}/health`)).json()) as { paths: { undecodable: number } | null };
      return (h.paths?.undecodable ?? 0) > 0 ? true : undefined;
    }, SLOW, 500);
    probe.close();
    const sent = await replay([join(FIXTURE, 'sflow.pcap')], { target: `127.0.0.1:${service.udpPort}`, rate: 400, loop: 1 });
    expect(sent.sent).toBe(scenario.datagrams);
    const rows = await waitFor('paths stored', async () => {
      const h = await health();
      if (h.paths === null || h.paths.datagrams < scenario.datagrams || h.paths.stored === 0 || h.paths.stored < h.paths.paths) return undefined;
      return store.query<{ path_id: string; verdict: string; drop_host: string; drop_bridge: string; drop_table: string; src_ip: string; icmp_type: number | null }>(
        'SELECT path_id, verdict, drop_host, drop_bridge, drop_table, src_ip, icmp_type FROM paths FINAL',
      );
    }, SLOW);
    const requests = rows.filter((r) => r.src_ip === '203.0.113.11' && r.icmp_type === 8);
    expect(requests).toHaveLength(scenario.pings.filter((p) => p.fromIp === '203.0.113.11').reduce((n, p) => n + p.transmitted, 0));
    for (const r of requests) expect(r, r.path_id).toMatchObject({ verdict: 'dropped', drop_host: 'network1', drop_bridge: 'br-tun', drop_table: '3' });
    // the decode stage, the other consumer group, stored the same datagrams' samples
    await waitFor('the decode stage\'s rows', async () => {
      const stored = await store.query<{ n: string }>("SELECT count() AS n FROM sflow_datagrams WHERE decode_status != 'failed'");
      return Number(stored[0]?.n) >= scenario.datagrams ? true : undefined;
    }, SLOW);
    const stored = await store.query<{ n: string }>("SELECT count() AS n FROM sflow_datagrams FINAL WHERE decode_status != 'failed'");
    expect(Number(stored[0]?.n)).toBe(scenario.datagrams);
  }, 240_000);
});
