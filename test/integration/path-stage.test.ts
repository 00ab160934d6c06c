// The path stage over a real store (chDB) and the in-process bus, fed the shipped lab capture with
// its original receive times and the three snapshot sets (healthy, broken, repaired) the way the
// snapshot stage hands them over: every echo request is judged by the snapshots in force when it
// was seen, so the healthy and repaired phases are delivered and the broken phase dies on
// network1 br-tun table 3. Then a store that refuses inserts for a while: the paths wait in the
// outbox and are written once it is back.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TOPICS } from '../../src/bus/bus.js';
import { MemoryBus } from '../../src/bus/memory-bus.js';
import { encodeEnvelope } from '../../src/collector/envelope.js';
import { StoreError } from '../../src/errors.js';
import { createLogger } from '../../src/observability/log.js';
import { createMetrics } from '../../src/observability/metrics.js';
import { readUdpPayloads } from '../../src/pcap/pcap-reader.js';
import { PathStage } from '../../src/pipeline/path-stage.js';
import { importSnapshots } from '../../src/snapshot/import.js';
import { ChdbStore } from '../../src/store/chdb-store.js';
import { DEFAULT_RETENTION, type Store } from '../../src/store/store.js';
import { buildTopology } from '../../src/topology/build.js';

const FIXTURE = join(import.meta.dirname, '..', 'fixtures', 'lab-capture');
const scenario = JSON.parse(readFileSync(join(FIXTURE, 'scenario.json'), 'utf8')) as {
  datagrams: number;
  captureStartMs: number;
  captureEndMs: number;
  pings: { phase: string; fromIp: string; toIp: string; transmitted: number; startMs: number; endMs: number }[];
};

interface Row {
  path_id: string;
  first_seen: string;
  verdict: string;
  dst_ip: string;
  drop_host: string;
  drop_bridge: string;
  drop_table: string;
  snapshots: string[];
  conflict: boolean;
  answered: boolean | null;
}

/** Inserts refused (retriable, as a server that went away) while `down` is set, and slowed by `delayMs`; every other call goes to the real store. */
function flaky(store: Store): Store & { down: boolean; refused: number; delayMs: number } {
  const wrapper = {
    down: false,
    refused: 0,
    delayMs: 0,
    kind: store.kind,
    database: store.database,
    migrate: () => store.migrate(),
    insert: async (...args: Parameters<Store['insert']>) => {
      if (wrapper.delayMs > 0) await new Promise((r) => setTimeout(r, wrapper.delayMs));
      if (wrapper.down) {
        wrapper.refused++;
        throw new StoreError('insert-failed', 'connection refused (the test took the store away)', {}, { retriable: true });
      }
      return store.insert(...args);
    },
    query: <T>(sql: string, params?: Parameters<Store['query']>[1]) => store.query<T>(sql, params),
    queryText: (...args: Parameters<Store['queryText']>) => store.queryText(...args),
    command: (...args: Parameters<Store['command']>) => store.command(...args),
    close: () => store.close(),
  };
  return wrapper;
}

describe('path stage: the capture streamed with its receive times, judged by the snapshots in force', () => {
  let dir = '';
  let store: (Store & { down: boolean; refused: number; delayMs: number }) | undefined;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hoptrace-path-stage-'));
    // the capture's rows are from 2026-11-25: a retention they outlive for years (not past 2106, where
    // DateTime ends and every row would count as expired)
    store = flaky(await ChdbStore.open({ path: join(dir, 'data'), retention: { ...DEFAULT_RETENTION, sampleDays: 3650 } }));
    await store.migrate();
  }, 120_000);
  afterAll(async () => {
    await store?.close();
    if (dir !== '') rmSync(dir, { recursive: true, force: true });
  });

  it('healthy and repaired phases delivered, the broken phase dropped on network1 br-tun table 3; written after a store outage', async () => {
    if (store === undefined) throw new Error('no store');
    const bus = new MemoryBus({ capacity: 4096 });
    const metrics = createMetrics({ defaultMetrics: false });
    const stage = new PathStage({ bus, store, metrics, log: createLogger({ level: 'silent', format: 'json' }), tickMs: 60_000 });
    await stage.start();
    // the snapshot stage's part: every set, in any order
    const sets = join(FIXTURE, 'snapshots');
    const dirs = readdirSync(sets).flatMap((set) => readdirSync(join(sets, set)).map((h) => join(sets, set, h)));
    const imported = await importSnapshots(dirs);
    expect(imported.snapshots).toHaveLength(6);
    for (const raw of imported.snapshots.reverse()) stage.addSnapshot(buildTopology(raw), raw);

    // the store goes away before the first path is written
    store.down = true;
    const payloads = [...readUdpPayloads(new Uint8Array(readFileSync(join(FIXTURE, 'sflow.pcap'))), 'sflow.pcap')];
    expect(payloads).toHaveLength(scenario.datagrams);
    await bus.publish(TOPICS.SFLOW_RAW, payloads.map((p) => ({ key: p.srcIp, value: encodeEnvelope(p.timestampMs, p.srcIp, p.srcPort, p.payload) })));
    await bus.close(); // delivers everything queued to the stage
    const held = stage.status();
    expect(held.datagrams).toBe(scenario.datagrams);
    expect(held.paths).toBeGreaterThan(0); // the capture spans 28 s: the early paths settled while it streamed
    expect(held.stored).toBe(0);
    expect(held.outbox).toBe(held.paths);
    expect(store.refused).toBeGreaterThan(0);
    expect(held.lastError).toMatch(/connection refused/);

    // back: stop() closes the open groups and writes the outbox
    store.down = false;
    await stage.stop();
    const done = stage.status();
    expect(done.outbox).toBe(0);
    expect(done.stored).toBe(done.paths);

    const rows = await store.query<Row>("SELECT path_id, toString(first_seen) AS first_seen, verdict, dst_ip, drop_host, drop_bridge, drop_table, snapshots, conflict, answered FROM paths FINAL WHERE src_ip = '203.0.113.11' AND icmp_type = 8 ORDER BY first_seen");
    for (const ping of scenario.pings.filter((p) => p.fromIp === '203.0.113.11')) {
      const mine = rows.filter((r) => {
        const t = Date.parse(`${r.first_seen.replace(' ', 'T')}Z`);
        return r.dst_ip === ping.toIp && t >= ping.startMs - 100 && t <= ping.endMs + 1500;
      });
      expect(mine, `${ping.phase} ping to ${ping.toIp}`).toHaveLength(ping.transmitted);
      for (const r of mine) {
        const set = r.snapshots.join(' ');
        if (ping.phase === 'broken') {
          expect(r, `${ping.phase} ${ping.toIp}`).toMatchObject({ verdict: 'dropped', drop_host: 'network1', drop_bridge: 'br-tun', drop_table: '3', conflict: false, answered: false });
        } else {
          expect(r, `${ping.phase} ${ping.toIp} judged by ${set}`).toMatchObject({ verdict: 'delivered', drop_host: '', conflict: false, answered: true });
        }
        expect(r.snapshots).toHaveLength(2);
      }
    }
    // one frame on both sides of qrouter's SNAT is one path (joined in the stage as in analyze):
    // vm1's requests to the external host end on br-ex, observed; no path of the gateway address is left
    const gateway = await store.query<{ n: string }>("SELECT count() AS n FROM paths FINAL WHERE (src_ip = '203.0.113.200' OR dst_ip = '203.0.113.200') AND ip_protocol = 1");
    expect(gateway[0]?.n).toBe('0');
    const external = await store.query<{ path_id: string; br_ex_observed: string }>(
      `SELECT p.path_id AS path_id, countIf(h.host = 'network1' AND h.device = 'br-ex' AND h.observed) AS br_ex_observed
       FROM (SELECT path_id, hops FROM paths FINAL WHERE src_ip = '203.0.113.11' AND dst_ip = '203.0.113.193' AND icmp_type = 8 AND verdict = 'delivered') AS p
       INNER JOIN (SELECT path_id, seq, host, device, observed FROM path_hops FINAL) AS h ON h.path_id = p.path_id
       WHERE h.seq <= p.hops GROUP BY p.path_id`,
    );
    expect(external.length).toBeGreaterThan(0);
    for (const r of external) expect(r, JSON.stringify(r)).toMatchObject({ br_ex_observed: '1' });
    // ... and carry the gateway address as their other side: found by it
    const viaGateway = await store.query<{ path_id: string; nat_host: string; nat_namespace: string; nat_src_ip: string; nat_dst_ip: string }>(
      "SELECT path_id, nat_host, nat_namespace, nat_src_ip, nat_dst_ip FROM paths FINAL WHERE (nat_src_ip = '203.0.113.200' OR nat_dst_ip = '203.0.113.200') AND src_ip = '203.0.113.11' AND icmp_type = 8",
    );
    expect(viaGateway.map((r) => r.path_id).sort()).toEqual(external.map((r) => r.path_id).sort());
    for (const r of viaGateway) expect(r, JSON.stringify(r)).toMatchObject({ nat_host: 'network1', nat_namespace: expect.stringMatching(/^qrouter-/), nat_src_ip: '203.0.113.200', nat_dst_ip: '203.0.113.193' });

    // the named queries of dashboards/queries on these paths
    const sql = (name: string): string => readFileSync(join(import.meta.dirname, '../../dashboards/queries', name), 'utf8');
    const range = { t1: new Date(scenario.captureStartMs - 1000).toISOString(), t2: new Date(scenario.captureEndMs + 10_000).toISOString() };
    const drops = await store.query<{ host: string; device: string; table: string; paths: string; example: string }>(sql('drop-points.sql'), range);
    const brokenRequests = scenario.pings.filter((p) => p.phase === 'broken' && p.fromIp === '203.0.113.11').reduce((n, p) => n + p.transmitted, 0);
    expect(drops[0]).toMatchObject({ host: 'network1', device: 'br-tun', table: '3' });
    expect(Number(drops[0]?.paths)).toBeGreaterThanOrEqual(brokenRequests);
    const perMinute = await store.query<{ delivered: string; dropped: string }>(sql('path-verdicts.sql'), range);
    expect(perMinute.reduce((n, r) => n + Number(r.dropped), 0)).toBe(done.byVerdict.dropped);
    expect(perMinute.reduce((n, r) => n + Number(r.delivered), 0)).toBe(done.byVerdict.delivered);
    const ofVm1 = await store.query<{ verdict: string; route: string; dropped_at: string; what: string }>(sql('paths-of-ip.sql'), { ...range, ip: '203.0.113.11' });
    const brokenRow = ofVm1.find((r) => r.dropped_at === 'network1 br-tun table 3' && r.what === 'icmp 8');
    expect(brokenRow?.route).toMatch(/^compute1:.*network1:br-tun\*$/);
    expect(ofVm1.some((r) => r.verdict === 'delivered' && r.what === 'icmp 8' && /network1:/.test(r.route))).toBe(true);
    // by the router's SNAT address: vm1's requests to the external host and their replies, each with
    // the other side (the router's own ARP is its own)
    const ofGateway = await store.query<{ src_ip: string; dst_ip: string; nat: string; what: string }>(sql('paths-of-ip.sql'), { ...range, ip: '203.0.113.200' });
    expect(ofGateway.filter((r) => r.what === 'icmp 8').length).toBe(external.length);
    for (const r of ofGateway.filter((g) => g.what.startsWith('icmp'))) expect(r.nat, JSON.stringify(r)).toMatch(/^203\.0\.113\.(200 -> 203\.0\.113\.193|193 -> 203\.0\.113\.200) past qrouter-/);

    const metricsText = await metrics.registry.metrics();
    expect(metricsText).toMatch(/hoptrace_paths_analyzed_total\{verdict="dropped"\} [1-9]/);
    expect(metricsText).toMatch(/hoptrace_paths_observations_total\{outcome="accepted"\} [1-9]/);
  }, 120_000);

  it('a slow store: batches, ticks and stop() write concurrently-triggered outboxes once each, nothing lost or counted twice', async () => {
    if (store === undefined) throw new Error('no store');
    await store.command('TRUNCATE TABLE paths');
    await store.command('TRUNCATE TABLE path_hops');
    store.down = false;
    store.delayMs = 150; // every insert takes a while: ticks (every 20 ms) and batches overlap with it
    const bus = new MemoryBus({ capacity: 4096 });
    const stage = new PathStage({ bus, store, metrics: createMetrics({ defaultMetrics: false }), log: createLogger({ level: 'silent', format: 'json' }), tickMs: 20, maxBatch: 8, lingerMs: 1 });
    await stage.start();
    const sets = join(FIXTURE, 'snapshots');
    const imported = await importSnapshots(readdirSync(sets).flatMap((set) => readdirSync(join(sets, set)).map((h) => join(sets, set, h))));
    for (const raw of imported.snapshots) stage.addSnapshot(buildTopology(raw), raw);
    const payloads = [...readUdpPayloads(new Uint8Array(readFileSync(join(FIXTURE, 'sflow.pcap'))), 'sflow.pcap')];
    for (let i = 0; i < payloads.length; i += 8) {
      await bus.publish(TOPICS.SFLOW_RAW, payloads.slice(i, i + 8).map((p) => ({ key: p.srcIp, value: encodeEnvelope(p.timestampMs, p.srcIp, p.srcPort, p.payload) })));
      await new Promise((r) => setTimeout(r, 5));
    }
    await bus.close();
    await stage.stop();
    store.delayMs = 0;
    const s = stage.status();
    expect(s.outbox).toBe(0);
    expect(s.notStored).toBe(0);
    expect(s.stored).toBe(s.paths);
    const [row] = await store.query<{ rows: string; ids: string }>('SELECT count() AS rows, uniqExact(path_id) AS ids FROM paths');
    expect(Number(row?.ids)).toBe(s.paths);
    expect(Number(row?.rows)).toBe(s.paths); // each path inserted once
  }, 120_000);
});
