// A sosreport tree written from a real lab host the way sos 4.x writes one (the command lines its
// openvswitch, networking, firewall_tables and host plugins run, file names by its
// `_mangle_command`, per-namespace files under networking/namespaces/<ns>/, stderr merged into the
// file, sos_reports/manifest.json with exec/return_code/start_time), then imported. The import must
// find what the live agent finds on the same host. With HOPTRACE_UPDATE_SOS_FIXTURE=1 the tree is
// also copied to test/fixtures/sos/ (the fixture the unit tests read).
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { collectSnapshot } from '../../src/agent/collect.js';
import { sosCommandFileName } from '../../src/hoststate/commands.js';
import type { CommandOutput, RawSnapshot } from '../../src/hoststate/snapshot.js';
import { importSnapshots, type ImportResult } from '../../src/snapshot/import.js';
import { addNetns, deleteNetns, listNetns } from '../support/netns.js';
import { addBridge, addFlow, addNamespacePort, addPatchPair, addPort, createLab, probeOvsLab, type Lab, type OvsHost } from '../support/ovs-lab.js';
import { needService } from '../support/services.js';

const unavailable = await probeOvsLab();
const FIXTURE = fileURLToPath(new URL('../fixtures/sos/', import.meta.url));
const REPORT_NAME = 'sosreport-net1-2026-11-25-hoptrace';
/** Neutron-like, fixed names: the fixture's paths carry them. Removed after the test. */
const NAMESPACES = ['qrouter-7e5b2c2a', 'qdhcp-41d0c3f6'] as const;

interface SosCommand { plugin: string; command: string; subdir?: string }

function sosCommands(bridges: readonly string[], namespaces: readonly string[], veths: readonly string[]): SosCommand[] {
  const out: SosCommand[] = [];
  const ovs = (command: string): void => { out.push({ plugin: 'openvswitch', command }); };
  for (const c of ['ovs-vsctl -t 5 show', 'ovs-vsctl -t 5 list Open_vSwitch', 'ovs-vsctl -t 5 list interface', 'ovs-vsctl -t 5 list bridge', 'ovs-vsctl -t 5 list-br', 'ovs-appctl dpctl/show -s netdev@ovs-netdev']) ovs(c);
  for (const br of bridges) {
    for (const c of [`ovs-appctl fdb/show ${br}`, `ovs-ofctl dump-flows ${br}`, `ovs-ofctl dump-ports-desc ${br}`, `ovs-ofctl show ${br}`]) ovs(c);
  }
  const net = (command: string, subdir?: string): void => { out.push({ plugin: 'networking', command, ...(subdir === undefined ? {} : { subdir }) }); };
  for (const c of ['ip -o addr', 'ip route show table all', 'ip -s -d link', 'ip -d address', 'ip -s -s neigh show', 'bridge -s -s -d link show', 'bridge -s -s -d -t fdb show', 'ip netns']) net(c);
  for (const dev of veths) net(`ethtool -S ${dev}`);
  for (const ns of namespaces) {
    const prefix = `ip netns exec ${ns} `;
    for (const c of [`${prefix} ip -d address show`, `${prefix} ip route show table all`, `${prefix} ip -s -s neigh show`, `${prefix}iptables-save`]) net(c, `namespaces/${ns}`);
  }
  out.push({ plugin: 'firewall_tables', command: 'iptables -vnxL' });
  out.push({ plugin: 'host', command: 'hostname' });
  return out;
}

function runIn(host: OvsHost, argv: string[]): Promise<{ text: string; code: number }> {
  const [file, ...args] = ['ip', 'netns', 'exec', host.netns, ...argv] as [string, ...string[]];
  return new Promise((resolve) => {
    execFile(file, args, { env: { ...process.env, ...host.env, LC_ALL: 'C' }, maxBuffer: 64 << 20 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : 127;
      resolve({ text: stdout + stderr, code }); // sos merges stderr into the file
    });
  });
}

/** Writes the tree sos would write for `commands` on `host`; returns the report root. */
async function writeSosTree(into: string, host: OvsHost, commands: readonly SosCommand[], onlyNamespaces: readonly string[]): Promise<string> {
  const root = join(into, REPORT_NAME);
  const plugins: Record<string, { commands: unknown[] }> = {};
  const started = new Date();
  for (const { plugin, command, subdir } of commands) {
    let argv = command.split(/\s+/).filter((a) => a !== '');
    if (argv[0] === 'ovs-appctl') argv = ['ovs-appctl', `--target=${host.vswitchdControl}`, ...argv.slice(1)];
    const start = Date.now() / 1000;
    let { text, code } = await runIn(host, argv);
    // The lab host is a namespace of this machine: its hostname and `ip netns` are the machine's.
    // A report of host net1 with its own namespaces says:
    if (command === 'hostname') text = 'net1\n';
    if (command === 'ip netns') text = text.split('\n').filter((l) => onlyNamespaces.some((ns) => l.startsWith(`${ns} `) || l === ns)).join('\n') + '\n';
    const end = Date.now() / 1000;
    const path = join(root, 'sos_commands', plugin, ...(subdir === undefined ? [] : [subdir]), sosCommandFileName(command));
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, text);
    (plugins[plugin] ??= { commands: [] }).commands.push({
      command: command.split(' ')[0], parameters: command.split(' ').slice(1), exec: command, filepath: null,
      truncated: false, return_code: code, priority: 10, start_time: start, end_time: end, run_time: end - start, tags: [],
    });
  }
  symlinkSync('sos_commands/host/hostname', join(root, 'hostname'));
  mkdirSync(join(root, 'sos_reports'), { recursive: true });
  const local = started.toISOString().replace('T', ' ').replace('Z', '000');
  writeFileSync(join(root, 'sos_reports', 'manifest.json'), JSON.stringify({
    version: '4.8.0', cmdline: 'sos report --batch -o openvswitch,networking,firewall_tables,host', start_time: local, end_time: '', run_time: '',
    compression: 'xz', policy: 'Debian GNU/Linux 13 (trixie)', components: { report: { plugins } },
  }, null, 2));
  return root;
}

function strip(text: string): string {
  // What moves between two looks at the same flow table.
  return text.replace(/ duration=[\d.]+s,/g, '').replace(/ idle_age=\d+,?/g, '').replace(/ hard_age=\d+,?/g, '');
}

describe('import of a sosreport written from a real lab host', () => {
  let lab: Lab | undefined;
  let host: OvsHost;
  let scratch: string;
  let imported: ImportResult;
  let live: RawSnapshot;

  beforeAll(async () => {
    if (unavailable !== undefined) return;
    for (const ns of NAMESPACES) if ((await listNetns()).includes(ns)) await deleteNetns(ns); // left by a killed run
    lab = await createLab();
    host = await lab.addHost('net1');
    await addBridge(host, 'br-int');
    await addBridge(host, 'br-tun', { failMode: 'secure', protocols: 'OpenFlow10,OpenFlow13' });
    await addPatchPair(host, { bridge: 'br-int', port: 'patch-tun' }, { bridge: 'br-tun', port: 'patch-int' });
    await addPort(host, 'br-tun', 'gre-c0000202', { type: 'gre', options: { remote_ip: '203.0.113.2', local_ip: '203.0.113.1', in_key: 'flow', out_key: 'flow' } });
    await addFlow(host, 'br-tun', 'table=0,priority=1,in_port=patch-int,actions=resubmit(,2)');
    await addFlow(host, 'br-tun', 'table=2,priority=0,dl_dst=00:00:00:00:00:00/01:00:00:00:00:00,actions=resubmit(,20)');
    await addFlow(host, 'br-tun', 'table=20,priority=0,actions=resubmit(,22)');
    await addFlow(host, 'br-tun', 'table=22,priority=1,dl_vlan=1,actions=strip_vlan,set_tunnel:0x4d2,output:gre-c0000202');
    for (const ns of NAMESPACES) await addNetns(ns);
    await addNamespacePort(host, 'br-int', 'qr-3f2a9b1c-1d', NAMESPACES[0], { tag: 1, mac: 'fa:16:3e:00:00:01', addresses: ['192.0.2.1/24'], externalIds: { 'iface-id': '3f2a9b1c-1d00-4000-8000-000000000001', 'attached-mac': 'fa:16:3e:00:00:01', 'iface-status': 'active' } });
    await addNamespacePort(host, 'br-int', 'tap41d0c3f6-aa', NAMESPACES[1], { tag: 1, mac: 'fa:16:3e:00:00:02', addresses: ['192.0.2.2/24'] });
    await lab.addInstance('vm1', { host, port: 'qvo5a1b2c3d-4e', bridge: 'br-int', tag: 1, address: '192.0.2.11/24', mac: 'fa:16:3e:00:00:11', gateway: '192.0.2.1' });

    live = await collectSnapshot({ host: 'net1', netns: host.netns, ovsRundir: host.dir, namespaceFilter: (n) => (NAMESPACES as readonly string[]).includes(n) });
    scratch = mkdtempSync(join(tmpdir(), 'hoptrace-sos-test-'));
    const veths = ['mgmt0', 'qvo5a1b2c3d-4e'];
    const root = await writeSosTree(scratch, host, sosCommands(['br-int', 'br-tun'], NAMESPACES, veths), NAMESPACES);
    if (process.env['HOPTRACE_UPDATE_SOS_FIXTURE'] === '1') {
      rmSync(join(FIXTURE, REPORT_NAME), { recursive: true, force: true });
      cpSync(root, join(FIXTURE, REPORT_NAME), { recursive: true, verbatimSymlinks: true });
    }
    imported = await importSnapshots([root]);
  });

  beforeEach(async (ctx) => {
    await needService(ctx, 'ovs', () => unavailable);
  });

  afterAll(async () => {
    if (scratch !== undefined) rmSync(scratch, { recursive: true, force: true });
    await lab?.teardown();
    for (const ns of NAMESPACES) if ((await listNetns()).includes(ns)) await deleteNetns(ns);
  });

  const one = (s: RawSnapshot, id: string, key: Partial<Pick<CommandOutput, 'bridge' | 'namespace' | 'device'>> = {}): CommandOutput | undefined =>
    s.outputs.find((o) => o.id === id && o.bridge === key.bridge && o.namespace === key.namespace && o.device === key.device);

  it('imports one snapshot for host net1, with no problems', () => {
    expect(imported.problems).toEqual([]);
    expect(imported.snapshots).toHaveLength(1);
    expect(imported.summary[0]).toMatchObject({ host: 'net1', source: 'sosreport', bridges: ['br-int', 'br-tun'], namespaces: [...NAMESPACES].sort() });
    expect(imported.snapshots[0]).toMatchObject({ host: 'net1', source: 'sosreport', trigger: 'import' });
  });

  it('finds the same bridges, flow tables and namespace routes as the live agent', () => {
    const sos = imported.snapshots[0] as RawSnapshot;
    for (const bridge of ['br-int', 'br-tun']) {
      const a = one(live, 'ovs-ofctl.dump-flows', { bridge });
      const b = one(sos, 'ovs-ofctl.dump-flows', { bridge });
      expect(b?.origin).toBe(`sos_commands/openvswitch/ovs-ofctl_dump-flows_${bridge}`);
      expect(strip(b?.stdout ?? '')).toBe(strip(a?.stdout ?? 'live missing'));
    }
    expect(one(sos, 'ovs-ofctl.dump-flows', { bridge: 'br-tun' })?.stdout).toContain('set_tunnel:0x4d2');
    for (const ns of NAMESPACES) {
      const routes = one(sos, 'netns.ip.route', { namespace: ns });
      expect(routes?.origin).toBe(`sos_commands/networking/namespaces/${ns}/ip_netns_exec_${ns}_ip_route_show_table_all`);
      expect(routes?.stdout).toContain('192.0.2.0/24 dev');
      expect(routes?.argv).toEqual(['ip', 'netns', 'exec', ns, 'ip', 'route', 'show', 'table', 'all']);
    }
    const liveNamespaces = new Set(live.outputs.map((o) => o.namespace).filter(Boolean));
    expect([...liveNamespaces].sort()).toEqual([...NAMESPACES].sort());
  });

  it('takes exit codes and the time from the manifest, the veth statistics per device', () => {
    const sos = imported.snapshots[0] as RawSnapshot;
    expect(sos.outputs.every((o) => o.exitCode !== null)).toBe(true);
    expect(Math.abs(new Date(sos.takenAt).getTime() - new Date(live.takenAt).getTime())).toBeLessThan(10 * 60_000);
    expect(one(sos, 'ethtool.S', { device: 'qvo5a1b2c3d-4e' })?.stdout).toMatch(/peer_ifindex: \d+/);
    expect(one(sos, 'iptables.list')?.stdout).toContain('Chain INPUT');
  });

  it('reports what the report lacks (catalog ids sos does not collect)', () => {
    const summary = imported.summary[0];
    expect(summary?.missing).toEqual(expect.arrayContaining(['ovs-vsctl.list.Port', 'ovs-vsctl.list.sFlow', 'iptables-save']));
    expect(summary?.found).toEqual(expect.arrayContaining(['ovs-vsctl.show', 'ovs-ofctl.dump-flows[br-tun]', 'netns.iptables-save[qrouter-7e5b2c2a]']));
    expect(existsSync(FIXTURE)).toBe(true);
  });
});
