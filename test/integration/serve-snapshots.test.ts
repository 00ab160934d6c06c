// Host snapshots through the running service: the agent's HTTP sink POSTs a real lab host's
// snapshot to /v1/snapshots, the service publishes it on the bus, the snapshot stage builds and
// checks the topology and stores it; hostile bodies are refused with a reason and the service goes on.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { collectSnapshot } from '../../src/agent/collect.js';
import { HttpSink } from '../../src/agent/sinks.js';
import { loadConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/observability/log.js';
import { startService, type RunningService } from '../../src/service/service.js';
import { addBridge, addPatchPair, addPort, createLab, probeOvsLab, type Lab, type OvsHost } from '../support/ovs-lab.js';
import { needService } from '../support/services.js';
import { waitFor } from '../support/wait.js';

const unavailable = await probeOvsLab();
const TOKEN = 'lab-token-0123456789abcdef';

describe('hoptrace serve takes host snapshots on POST /v1/snapshots', () => {
  let dir = '';
  let service: RunningService | undefined;
  let lab: Lab | undefined;
  let host: OvsHost | undefined;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hoptrace-serve-snap-'));
    const config = loadConfig({
      flags: {
        collector: { listen: '127.0.0.1:0' },
        http: { listen: '127.0.0.1:0', snapshotTokens: [TOKEN] },
        store: { kind: 'chdb', path: join(dir, 'data') },
      },
    });
    service = await startService(config, { role: 'all', log: createLogger({ level: 'silent', format: 'json' }) });
    if (unavailable !== undefined) return;
    lab = await createLab();
    host = await lab.addHost('snap1');
    await addBridge(host, 'br-int');
    await addBridge(host, 'br-tun');
    await addPatchPair(host, { bridge: 'br-int', port: 'patch-tun' }, { bridge: 'br-tun', port: 'patch-int' });
    await addPort(host, 'br-int', 'qvo0123abcd-ef', { type: 'internal', tag: 5 });
  });
  afterAll(async () => {
    await service?.stop();
    await lab?.teardown();
    if (dir !== '') rmSync(dir, { recursive: true, force: true });
  });
  beforeEach(async (ctx) => {
    await needService(ctx, 'ovs', () => unavailable);
  });

  const url = (): string => `http://127.0.0.1:${service?.httpPort ?? 0}/v1/snapshots`;

  it('stores the snapshot and its topology, findings included', async () => {
    if (host === undefined || service?.store === undefined) throw new Error('no lab');
    const snapshot = await collectSnapshot({ host: 'snap1', netns: host.netns, ovsRundir: host.dir, namespaceFilter: () => false });
    const sink = new HttpSink({ url: `http://127.0.0.1:${service.httpPort ?? 0}`, token: TOKEN });
    const shipped = await sink.ship(snapshot);
    await sink.close();
    expect(shipped.delivered).toBe(true);
    const store = service.store;
    await waitFor('snapshot stored', async () => {
      const rows = await store.query("SELECT 1 FROM host_snapshots WHERE host = 'snap1'");
      return rows.length > 0 ? true : undefined;
    });
    const ports = await store.query<{ bridge: string; port: string; tag: number | null }>("SELECT bridge, port, tag FROM topo_ports WHERE host = 'snap1' ORDER BY bridge, port");
    expect(ports).toEqual([
      { bridge: 'br-int', port: 'br-int', tag: null },
      { bridge: 'br-int', port: 'patch-tun', tag: null },
      { bridge: 'br-int', port: 'qvo0123abcd-ef', tag: 5 },
      { bridge: 'br-tun', port: 'br-tun', tag: null },
      { bridge: 'br-tun', port: 'patch-int', tag: null },
    ]);
    const [raw] = await store.query<{ source: string; commands_failed: string }>("SELECT source, commands_failed FROM host_snapshots WHERE host = 'snap1'");
    expect(raw?.source).toBe('agent');
    // br-tun has no rule for local VLAN 5: the check says so
    const findings = await store.query<{ check: string }>("SELECT check FROM topo_findings WHERE host = 'snap1'");
    expect(findings.map((f) => f.check)).toContain('vlan-without-tunnel-mapping');
  });

  it('refuses a wrong token and a broken body with a reason, and keeps running', async () => {
    const wrong = await fetch(url(), { method: 'POST', headers: { authorization: 'Bearer nope' }, body: '{}' });
    expect(wrong.status).toBe(401);
    const broken = await fetch(url(), { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: '{"format":"hoptrace.snapshot.v1","host":"x"' });
    expect(broken.status).toBe(400);
    expect(((await broken.json()) as { error: string }).error).toMatch(/not JSON/);
    const health = (await (await fetch(`http://127.0.0.1:${service?.httpPort ?? 0}/health`)).json()) as { status: string; snapshots: { stored: number } };
    expect(health.status).toBe('ok');
    expect(health.snapshots.stored).toBeGreaterThanOrEqual(1);
  });
});
