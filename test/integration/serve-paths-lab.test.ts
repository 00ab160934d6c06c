// The whole service on the real Neutron lab: the lab's OVS bridges export sFlow to `hoptrace serve`
// (embedded), the agent collects each host's snapshot and POSTs it to the service, and the path
// stage writes paths as traffic flows. A br-tun flow is removed on network1 (a new snapshot is
// sent, as the agent does on every OVSDB/flow change), vm1's pings die there, and the stored paths
// say so; after the repair (and its snapshot) the same pings are delivered and answered.
import { createSocket } from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { HttpSink } from '../../src/agent/sinks.js';
import { loadConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/observability/log.js';
import { startService, type RunningService } from '../../src/service/service.js';
import { breakLab, repairLab } from '../lab/break.js';
import { createNeutronLab, type HostLabel, type NeutronLab } from '../lab/neutron-lab.js';
import { agentSnapshot } from '../lab/sos-tree.js';
import { ping } from '../lab/traffic.js';
import { probeOvsLab } from '../support/ovs-lab.js';
import { needService } from '../support/services.js';
import { waitFor } from '../support/wait.js';

const unavailable = await probeOvsLab();
const HOSTS: HostLabel[] = ['compute1', 'network1'];
const TOKEN = 'lab-paths-token-0123456789';

async function freeUdpPort(): Promise<number> {
  const s = createSocket('udp4');
  await new Promise<void>((resolve) => s.bind(0, '127.0.0.1', resolve));
  const { port } = s.address();
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

interface PathRow {
  path_id: string;
  verdict: string;
  answered: boolean | null;
  drop_host: string;
  drop_bridge: string;
  drop_table: string;
  drop_rule: string;
  observed_hops: number;
  drop_reason: string;
  doubts: string[];
}

describe('hoptrace serve on the Neutron lab: paths from live sFlow and agent snapshots', () => {
  let dir = '';
  let service: RunningService | undefined;
  let lab: NeutronLab | undefined;
  const get = (): { lab: NeutronLab; service: RunningService } => {
    if (lab === undefined || service === undefined) throw new Error('no lab');
    return { lab, service };
  };

  /** What the agent does on a change: every host's snapshot to the service. */
  async function shipSnapshots(): Promise<void> {
    const { lab: l, service: s } = get();
    const sink = new HttpSink({ url: `http://127.0.0.1:${s.httpPort ?? 0}`, token: TOKEN });
    for (const label of HOSTS) {
      const snapshot = await agentSnapshot(l, label);
      expect((await sink.ship(snapshot)).delivered).toBe(true);
    }
    await sink.close();
    const store = s.store;
    if (store === undefined) throw new Error('no store');
    await waitFor('snapshots stored', async () => ((await s.store?.query('SELECT 1 FROM host_snapshots WHERE stored_at >= now64(3) - INTERVAL 30 SECOND'))?.length ?? 0) >= HOSTS.length ? true : undefined);
  }

  /** vm1 pings the DHCP port; the echo requests' stored paths once the stage wrote them. */
  async function pingPaths(expectReplies: boolean): Promise<PathRow[]> {
    const { lab: l, service: s } = get();
    const vm1 = l.instance('vm1');
    const since = new Date(Date.now() - 100).toISOString();
    const result = await ping(vm1, l.dhcp.ip, 3);
    expect(result.received > 0).toBe(expectReplies);
    return waitFor('the echo requests\' paths', async () => {
      const rows = await s.store?.query<PathRow>(
        "SELECT path_id, verdict, answered, drop_host, drop_bridge, drop_table, drop_rule, observed_hops, drop_reason, doubts FROM paths FINAL WHERE src_ip = {src:String} AND dst_ip = {dst:String} AND icmp_type = 8 AND first_seen >= parseDateTime64BestEffort({since:String}, 3, 'UTC') ORDER BY first_seen",
        { src: vm1.ip, dst: l.dhcp.ip, since },
      );
      return rows !== undefined && rows.length >= 3 ? rows : undefined;
    }, 90_000);
  }

  beforeAll(async () => {
    if (unavailable !== undefined) return;
    dir = mkdtempSync(join(tmpdir(), 'hoptrace-serve-lab-'));
    const port = await freeUdpPort();
    // the lab's hosts reach the root namespace on their management network, not on loopback
    const config = loadConfig({
      flags: {
        collector: { listen: `0.0.0.0:${port}`, receiver: 'dgram' },
        http: { listen: '127.0.0.1:0', snapshotTokens: [TOKEN] },
        store: { kind: 'chdb', path: join(dir, 'data') },
        paths: { window: '1s', lateness: '2s', answerWindow: '1s' },
      },
    });
    service = await startService(config, { role: 'all', log: createLogger({ level: 'silent', format: 'json' }) });
    lab = await createNeutronLab({ computeHosts: 1, sampling: 1, polling: 1, collector: `:${port}` });
    await shipSnapshots();
  }, 300_000);
  afterAll(async () => {
    await lab?.teardown();
    await service?.stop();
    if (dir !== '') rmSync(dir, { recursive: true, force: true });
  });
  beforeEach(async (ctx) => {
    await needService(ctx, 'ovs', () => unavailable);
  });

  it('healthy: vm1\'s echo requests to the DHCP port are stored delivered and answered', async () => {
    const rows = await pingPaths(true);
    for (const r of rows) expect(r, JSON.stringify(r)).toMatchObject({ verdict: 'delivered', answered: true, drop_host: '' });
    expect(rows.every((r) => r.observed_hops >= 2)).toBe(true);
  }, 120_000);

  it('tun-to-vlan-removed on network1: stored dropped at network1 br-tun table 3; delivered again after the repair', async () => {
    const { lab: l } = get();
    await breakLab(l, 'tun-to-vlan-removed');
    try {
      await shipSnapshots();
      const rows = await pingPaths(false);
      for (const r of rows) {
        expect(r, JSON.stringify(r)).toMatchObject({ verdict: 'dropped', answered: false, drop_host: 'network1', drop_bridge: 'br-tun', drop_table: '3' });
        expect(r.drop_rule).toMatch(/table=3, priority=0.*actions=drop/);
      }
    } finally {
      await repairLab(l, 'tun-to-vlan-removed');
    }
    await shipSnapshots();
    const after = await pingPaths(true);
    for (const r of after) expect(r, JSON.stringify(r)).toMatchObject({ verdict: 'delivered', answered: true });
  }, 240_000);
});
