// Paths computed continuously by the running service: the real lab capture shipped in
// test/fixtures/lab-capture (sFlow from a Neutron lab with a br-tun flow removed on network1) is
// replayed over UDP to `hoptrace serve` (embedded: in-process bus + chDB), the hosts' sosreport
// snapshots are POSTed to /v1/snapshots the way agents send theirs, and the path stage writes
// paths and hops to the store. The offline `hoptrace analyze` of the same capture says the echo
// requests die on network1 br-tun, table 3: so must the stored paths.
import { createSocket } from 'node:dgram';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpSink } from '../../src/agent/sinks.js';
import { dropPoints, formatDrops, formatList, formatShow, listPaths, showPath, timeArg, type StoredPath } from '../../src/cli/commands/paths.js';
import { replay } from '../../src/cli/commands/replay.js';
import { loadConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/observability/log.js';
import { startService, type RunningService } from '../../src/service/service.js';
import { importSnapshots } from '../../src/snapshot/import.js';
import { waitFor } from '../support/wait.js';

const FIXTURE = join(import.meta.dirname, '..', 'fixtures', 'lab-capture');
const TOKEN = 'paths-token-0123456789abcdef';

interface PathRow {
  path_id: string;
  verdict: string;
  src_ip: string;
  dst_ip: string;
  icmp_type: number | null;
  drop_host: string;
  drop_bridge: string;
  drop_table: string;
  drop_rule: string;
  hops: number;
  snapshots: string[];
  answered: boolean | null;
  conflict: boolean;
  conflict_reason: string;
}

describe('hoptrace serve computes paths from the stream and stores them', () => {
  let dir = '';
  let service: RunningService | undefined;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hoptrace-serve-paths-'));
    const config = loadConfig({
      flags: {
        collector: { listen: '127.0.0.1:0' },
        http: { listen: '127.0.0.1:0', snapshotTokens: [TOKEN] },
        store: { kind: 'chdb', path: join(dir, 'data') },
        // short windows: the test waits for the idle flush (lateness + window)
        paths: { window: '1s', lateness: '1s', answerWindow: '1s' },
      },
    });
    service = await startService(config, { role: 'all', log: createLogger({ level: 'silent', format: 'json' }) });
  }, 120_000);
  afterAll(async () => {
    await service?.stop();
    if (dir !== '') rmSync(dir, { recursive: true, force: true });
  });

  const scenario = JSON.parse(readFileSync(join(FIXTURE, 'scenario.json'), 'utf8')) as { datagrams: number; pings: { fromIp: string; phase: string; transmitted: number }[] };

  it('judges the replayed lab capture like hoptrace analyze: echo requests dropped on network1 br-tun table 3', async () => {
    if (service?.store === undefined || service.httpPort === undefined) throw new Error('service not started');
    const store = service.store;
    // the agents' part: every host's snapshot POSTed to the service
    const broken = join(FIXTURE, 'snapshots', 'broken');
    const imported = await importSnapshots(readdirSync(broken).map((d) => join(broken, d)));
    expect(imported.snapshots.map((s) => s.host).sort()).toEqual(['compute1', 'network1']);
    const sink = new HttpSink({ url: `http://127.0.0.1:${service.httpPort}`, token: TOKEN });
    for (const s of imported.snapshots) expect((await sink.ship(s)).delivered).toBe(true);
    await sink.close();
    await waitFor('both snapshots stored', async () => {
      const rows = await store.query<{ n: string }>('SELECT count() AS n FROM host_snapshots');
      return Number(rows[0]?.n) === 2 ? true : undefined;
    });
    const health = async (): Promise<{ paths: { hosts: number; datagrams: number; undecodable: number; paths: number; stored: number } | null }> =>
      (await (await fetch(`http://127.0.0.1:${service?.httpPort ?? 0}/health`)).json()) as { paths: { hosts: number; datagrams: number; undecodable: number; paths: number; stored: number } | null };
    expect((await health()).paths?.hosts).toBe(2);

    // the exporters' part: the capture's datagrams over UDP, and two hostile ones among them
    const garbage = createSocket('udp4');
    await new Promise<void>((resolve, reject) => garbage.send(Buffer.from('not sflow at all'), service?.udpPort ?? 0, '127.0.0.1', (e) => (e ? reject(e) : resolve())));
    const sent = await replay([join(FIXTURE, 'sflow.pcap')], { target: `127.0.0.1:${service.udpPort}`, rate: 400, loop: 1 });
    expect(sent.sent).toBe(scenario.datagrams);
    const cut = Buffer.alloc(40);
    cut.writeUInt32BE(5, 0); // version 5, then nothing that adds up
    await new Promise<void>((resolve, reject) => garbage.send(cut, service?.udpPort ?? 0, '127.0.0.1', (e) => (e ? reject(e) : resolve())));
    garbage.close();

    // written once the input has been idle for lateness + window and the answers are settled
    const rows = await waitFor('paths stored', async () => {
      const h = await health();
      if (h.paths === null || h.paths.datagrams < scenario.datagrams || h.paths.undecodable < 2 || h.paths.stored === 0 || h.paths.stored < h.paths.paths) return undefined;
      return store.query<PathRow>('SELECT path_id, verdict, src_ip, dst_ip, icmp_type, drop_host, drop_bridge, drop_table, drop_rule, hops, snapshots, answered, conflict, conflict_reason FROM paths FINAL ORDER BY first_seen');
    });
    const requests = rows.filter((r) => r.src_ip === '203.0.113.11' && r.icmp_type === 8);
    // vm1's pings in every phase (scenario.json): the broken tables judge them all (only the broken snapshots were sent)
    expect(requests).toHaveLength(scenario.pings.filter((p) => p.fromIp === '203.0.113.11').reduce((n, p) => n + p.transmitted, 0));
    for (const r of requests) {
      expect(r.verdict, r.path_id).toBe('dropped');
      expect(r.drop_host).toBe('network1');
      expect(r.drop_bridge).toBe('br-tun');
      expect(r.drop_table).toBe('3');
      expect(r.drop_rule).toMatch(/table=3, priority=0.*actions=drop/);
      expect(r.snapshots.map((s) => s.split('@')[0]).sort()).toEqual(['compute1', 'network1']);
      expect(r.hops).toBeGreaterThan(3);
    }
    // the healthy and repaired phases' requests were answered: dropped yet answered is a conflict
    const answeredPings = scenario.pings.filter((p) => p.fromIp === '203.0.113.11' && p.phase !== 'broken').reduce((n, p) => n + p.transmitted, 0);
    const conflicting = requests.filter((r) => r.conflict);
    expect(conflicting).toHaveLength(answeredPings);
    for (const r of conflicting) {
      expect(r.answered).toBe(true);
      expect(r.conflict_reason).toMatch(/answered/);
    }
    // the replies take the direction the break does not touch
    const replies = rows.filter((r) => r.dst_ip === '203.0.113.11' && r.icmp_type === 0);
    expect(replies.length).toBeGreaterThan(0);
    for (const r of replies) expect(r.verdict, r.path_id).toBe('delivered');

    // every path has its hops, in order, and the drop point's rule is evidence on a hop
    const first = requests[0] as PathRow;
    const hops = await store.query<{ seq: number; host: string; kind: string; device: string; rules: string[] }>(
      'SELECT seq, host, kind, device, rules FROM path_hops FINAL WHERE path_id = {id:String} ORDER BY seq',
      { id: first.path_id },
    );
    expect(hops.map((h) => h.seq)).toEqual(Array.from({ length: first.hops }, (_, i) => i + 1));
    expect(hops[0]?.host).toBe('compute1');
    const last = hops[hops.length - 1];
    expect(last?.host).toBe('network1');
    expect(last?.device).toBe('br-tun');
    expect(last?.rules.some((r) => /table=3, priority=0/.test(r))).toBe(true);
    const orphans = await store.query<{ n: string }>('SELECT count() AS n FROM path_hops WHERE path_id NOT IN (SELECT path_id FROM paths)');
    expect(Number(orphans[0]?.n)).toBe(0);
  }, 180_000);

  it('hoptrace paths lists, shows and sums up the stored paths (after the service stopped)', async () => {
    await service?.stop();
    service = undefined;
    const data = join(dir, 'data');
    const dropped = await listPaths({ data, verdict: 'dropped', since: '1h', limit: 500 }, {});
    expect(dropped.length).toBeGreaterThan(0);
    expect(dropped.every((p) => p.verdict === 'dropped')).toBe(true);
    expect(formatList(dropped)).toMatch(/network1 br-tun table 3/);
    const vm1 = await listPaths({ data, ip: '203.0.113.11', since: '1h', limit: 500 }, {});
    expect(vm1.length).toBeGreaterThan(dropped.filter((p) => p.src_ip === '203.0.113.11').length - 1);
    expect(vm1.every((p) => p.src_ip === '203.0.113.11' || p.dst_ip === '203.0.113.11')).toBe(true);

    // by the router's SNAT address: the external host's replies, un-NATed to vm1, with their other side
    const viaGateway = await listPaths({ data, ip: '203.0.113.200', since: '1h', limit: 500 }, {});
    const unNated = viaGateway.filter((p) => p.src_ip === '203.0.113.193' && p.dst_ip === '203.0.113.11' && p.icmp_type === 0);
    expect(unNated.length, JSON.stringify(viaGateway.slice(0, 3))).toBeGreaterThan(0);
    for (const p of unNated) expect(p).toMatchObject({ nat_host: 'network1', nat_src_ip: '203.0.113.193', nat_dst_ip: '203.0.113.200' });
    const listed = formatList(unNated).split('\n').filter((l) => l.includes((unNated[0] as StoredPath).path_id));
    expect(listed[0]).toMatch(/ icmp 0 nat /);
    const unNatedText = formatShow(await showPath((unNated[0] as StoredPath).path_id, { data }, {}));
    expect(unNatedText).toMatch(/\n {2}nat: 203\.0\.113\.193 → 203\.0\.113\.200 on the other side of qrouter-\S+ on network1\n/);

    const shown = await showPath((dropped[0] as StoredPath).path_id, { data }, {});
    expect(shown.hops.length).toBe(shown.path.hops);
    const text = formatShow(shown);
    expect(text).toMatch(/DROPPED/);
    expect(text).toMatch(/dropped on network1 br-tun table 3/);
    expect(text).toMatch(/judged by snapshots: compute1@.*network1@/);
    await expect(showPath('nosuchpath@1', { data }, {})).rejects.toThrow(/no stored path nosuchpath@1/);

    const drops = await dropPoints({ data, since: '1h' }, {});
    expect(drops[0]).toMatchObject({ drop_host: 'network1', drop_device: 'br-tun', drop_table: '3' });
    expect(Number(drops[0]?.paths)).toBe(dropped.filter((p) => p.drop_table === '3' && p.drop_host === 'network1').length);
    expect(formatDrops(drops)).toMatch(/network1 br-tun table 3/);
    // each drop point with the id of an example path, which `paths show` takes
    const example = (drops[0] as { example: string }).example;
    expect(formatDrops(drops).split('\n')[1]).toContain(` ${example} `);
    expect((await showPath(example, { data }, {})).path.drop_table).toBe('3');

    // several verdicts: listed (commander's variadic), comma-separated, or both
    const either = await listPaths({ data, verdict: ['dropped', 'lost'], since: '1h', limit: 500 }, {});
    expect(either.length).toBeGreaterThanOrEqual(dropped.length);
    expect(either.every((p) => p.verdict === 'dropped' || p.verdict === 'lost')).toBe(true);
    expect((await listPaths({ data, verdict: 'dropped,lost', since: '1h', limit: 500 }, {})).map((p) => p.path_id)).toEqual(either.map((p) => p.path_id));
    await expect(listPaths({ data, verdict: ['dropped', 'gone'] }, {})).rejects.toThrow(/--verdict "gone"/);
    await expect(listPaths({ data, ip: '203.0.113' }, {})).rejects.toThrow(/--ip "203.0.113" is not an IPv4 or IPv6 address/);
    const none = await listPaths({ data, ip: '192.0.2.9', verdict: 'dropped', since: '1h' }, {});
    expect(none).toEqual([]);
    expect(formatList(none, { ip: '192.0.2.9', verdict: 'dropped', since: '1h' })).toMatch(/^no paths for --ip 192\.0\.2\.9 --verdict dropped in the last 1h /);
    expect(formatDrops([], { host: 'nosuch', since: '2026-11-25T08:00:00Z' })).toBe('no dropped paths for --host nosuch since 2026-11-25T08:00:00Z\n');
    expect(() => timeArg('--since', 'yesterday')).toThrow(/not a time/);
  }, 120_000);
});
