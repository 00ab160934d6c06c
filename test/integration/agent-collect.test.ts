// The agent against a real Open vSwitch lab host: `hoptrace agent --once --out DIR` run through its
// commander registration, inside the host's namespace, with the host's OVS run directory. The
// snapshot must hold each bridge's flow table, the namespace's routes, and record (not die on) a
// bridge that is not there. The OVSDB change trigger and the HTTP path to the collector's route
// run against the same host and a loopback server.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { collectSnapshot } from '../../src/agent/collect.js';
import { OvsdbMonitorSource } from '../../src/agent/ovsdb-watch.js';
import { HttpSink } from '../../src/agent/sinks.js';
import { snapshotRoute } from '../../src/api/snapshot-route.js';
import { register } from '../../src/cli/commands/agent.js';
import type { CommandOutput, RawSnapshot } from '../../src/hoststate/snapshot.js';
import { findSnapshotDirs, readSnapshotDir } from '../../src/snapshot/dir.js';
import { waitFor } from '../support/netns.js';
import { addBridge, addFlow, addNamespacePort, addPatchPair, createLab, probeOvsLab, type Lab, type OvsHost } from '../support/ovs-lab.js';
import { needService } from '../support/services.js';

const unavailable = await probeOvsLab();
const QR_ADDRESS = '192.0.2.1/24';

describe('hoptrace agent on a lab host', () => {
  let lab: Lab | undefined;
  let host: OvsHost;
  let namespace: string;
  let out: string;
  let snapshot: RawSnapshot;

  beforeAll(async () => {
    if (unavailable !== undefined) return;
    lab = await createLab();
    host = await lab.addHost('hv1');
    await addBridge(host, 'br-int');
    await addBridge(host, 'br-tun', { failMode: 'secure' });
    await addPatchPair(host, { bridge: 'br-int', port: 'patch-tun' }, { bridge: 'br-tun', port: 'patch-int' });
    await addFlow(host, 'br-tun', 'table=0,priority=1,in_port=patch-int,actions=resubmit(,2)');
    await addFlow(host, 'br-tun', 'table=2,priority=0,actions=drop');
    namespace = await lab.addNamespace('qrouter');
    await addNamespacePort(host, 'br-int', 'qr-1', namespace, { tag: 1, addresses: [QR_ADDRESS] });
    out = mkdtempSync(join(tmpdir(), 'hoptrace-agent-test-'));

    const program = new Command().exitOverride();
    register(program);
    await program.parseAsync([
      'agent', '--once', '--out', out, '--host', 'hv1', '--netns', host.netns, '--ovs-rundir', host.dir,
      '--netns-pattern', `^${lab.id}-`, '--bridge', 'br-gone', '--timeout', '20',
    ], { from: 'user' });
    const dirs = await findSnapshotDirs(out);
    expect(dirs).toHaveLength(1);
    snapshot = await readSnapshotDir(dirs[0] as string);
  });

  beforeEach(async (ctx) => {
    await needService(ctx, 'ovs', () => unavailable);
  });

  afterAll(async () => {
    if (out !== undefined) rmSync(out, { recursive: true, force: true });
    await lab?.teardown();
  });

  function output(id: string, params: Partial<Pick<CommandOutput, 'bridge' | 'namespace' | 'device'>> = {}): CommandOutput {
    const found = snapshot.outputs.find((o) => o.id === id && o.bridge === params.bridge && o.namespace === params.namespace && o.device === params.device);
    if (found === undefined) throw new Error(`no ${id} ${JSON.stringify(params)} in the snapshot: ${snapshot.outputs.map((o) => `${o.id}/${o.bridge ?? o.namespace ?? o.device ?? ''}`).join(' ')}`);
    return found;
  }

  it('records the host and the trigger, and lists both bridges', () => {
    expect(snapshot).toMatchObject({ host: 'hv1', source: 'agent', trigger: 'start', format: 'hoptrace.snapshot.v1' });
    expect(output('ovs-vsctl.list-br').stdout.split('\n').filter(Boolean).sort()).toEqual(['br-int', 'br-tun']);
  });

  it("holds each bridge's flow table", () => {
    const tun = output('ovs-ofctl.dump-flows', { bridge: 'br-tun' });
    expect(tun.exitCode).toBe(0);
    expect(tun.stdout).toMatch(/table=2, .*priority=0 actions=drop/);
    expect(tun.stdout).toMatch(/priority=1,in_port=\d+ actions=resubmit\(,2\)/); // ofport numbers: sos runs it without --names too
    const int = output('ovs-ofctl.dump-flows', { bridge: 'br-int' });
    expect(int.stdout).toContain('actions=NORMAL');
    expect(output('ovs-ofctl.show', { bridge: 'br-int' }).stdout).toContain('(patch-tun)');
  });

  it('reaches ovs-vswitchd through its control socket (ovs-appctl --target)', () => {
    const fdb = output('ovs-appctl.fdb.show', { bridge: 'br-int' });
    expect(fdb.argv).toContain(`--target=${join(host.dir, 'ovs-vswitchd.ctl')}`);
    expect(fdb.exitCode).toBe(0);
    expect(fdb.stdout).toContain('port  VLAN  MAC');
  });

  it("holds the namespace's addresses and routes", () => {
    const routes = output('netns.ip.route', { namespace });
    expect(routes.exitCode).toBe(0);
    const parsed = JSON.parse(routes.stdout) as { dst: string; dev: string }[];
    expect(parsed).toContainEqual(expect.objectContaining({ dst: '192.0.2.0/24', dev: 'qr-1' }));
    expect(output('netns.ip.address', { namespace }).stdout).toContain('"local":"192.0.2.1"');
    // only the lab's namespaces (the pattern), among them the host's own
    const namespaces = new Set(snapshot.outputs.map((o) => o.namespace).filter((n) => n !== undefined));
    expect([...namespaces].every((n) => n.startsWith(`${lab?.id}-`))).toBe(true);
  });

  it('records a bridge that is not there as a failing command, and goes on', () => {
    const gone = output('ovs-ofctl.dump-flows', { bridge: 'br-gone' });
    expect(gone.exitCode).not.toBe(0);
    expect(gone.stderr).toMatch(/br-gone/);
    expect(output('ovs-ofctl.dump-flows', { bridge: 'br-tun' }).exitCode).toBe(0);
  });

  it('runs ethtool -S on the veth devices of the host (mgmt0)', () => {
    const mgmt = output('ethtool.S', { device: 'mgmt0' });
    expect(mgmt.exitCode).toBe(0);
    expect(mgmt.stdout).toMatch(/peer_ifindex: \d+/);
  });

  it('records a command that cannot run with exit code and error, not as a crash', async () => {
    const missing = await collectSnapshot({
      netns: host.netns,
      commands: [{ id: 'hostname', scope: 'host', argv: () => ['hoptrace-no-such-command'], sos: [], purpose: 'test' }],
    });
    expect(missing.outputs).toHaveLength(1);
    expect(missing.outputs[0]?.exitCode).not.toBe(0);
    const direct = await collectSnapshot({ commands: [{ id: 'hostname', scope: 'host', argv: () => ['hoptrace-no-such-command'], sos: [], purpose: 'test' }] });
    expect(direct.outputs[0]).toMatchObject({ exitCode: null, error: 'hoptrace-no-such-command: command not found' });
  });

  it('sees an OVSDB change through the monitor', async () => {
    const changes: string[] = [];
    const source = new OvsdbMonitorSource({ socketPath: host.dbSocket });
    source.start((what) => changes.push(what));
    try {
      // The monitor asks for no initial rows: only what happens after it is set up counts.
      await waitFor('monitor connected', async () => {
        await host.vsctl(['set', 'Bridge', 'br-int', `external_ids:probe=${Date.now()}`]);
        return changes.length > 0 ? true : undefined;
      }, { timeoutMs: 20_000, intervalMs: 300 });
      expect(changes.some((c) => c.includes('Bridge'))).toBe(true);
    } finally {
      await source.close();
    }
  });

  it('ships a snapshot over HTTP to the collector route (gzip, token)', async () => {
    const received: RawSnapshot[] = [];
    const route = snapshotRoute({ tokens: ['s3cret-token'], onSnapshot: async (s) => { received.push(s); } });
    const server: Server = createServer((req, res) => { void route(req, res); });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    try {
      const wrong = new HttpSink({ url: `http://127.0.0.1:${port}`, token: 'wrong', attempts: 1 });
      const refused = await wrong.ship(snapshot);
      expect(refused).toMatchObject({ delivered: false, spooled: 0, dropped: 1 });
      expect(refused.detail).toContain('401');
      const sink = new HttpSink({ url: `http://127.0.0.1:${port}`, token: 's3cret-token' });
      expect(await sink.ship(snapshot)).toMatchObject({ delivered: true, spooled: 0 });
      expect(received).toEqual([snapshot]);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('spools while the collector is down', async () => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    await new Promise<void>((resolve) => server.close(() => resolve())); // nothing listens there now
    const sink = new HttpSink({ url: `http://127.0.0.1:${port}`, attempts: 2, backoffMs: 10, spoolSize: 2 });
    for (let i = 0; i < 3; i++) await sink.ship(snapshot);
    const last = await sink.ship(snapshot);
    expect(last).toMatchObject({ delivered: false, spooled: 2, dropped: 2 });
  });
});
