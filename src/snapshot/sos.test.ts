import { cpSync, mkdtempSync, rmSync, symlinkSync, writeFileSync, mkdirSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { importSnapshots } from './import.js';
import { bridgesFromText, namespacesFromText, readSosReport, templatePattern, timeFromName } from './sos.js';
import { writeSnapshotDir } from './dir.js';

const FIXTURE = fileURLToPath(new URL('../../test/fixtures/sos/sosreport-net1-2026-11-25-hoptrace', import.meta.url));
const NAMESPACES = ['qdhcp-41d0c3f6', 'qrouter-7e5b2c2a'];

describe('sosreport reader on the lab fixture', () => {
  it('finds host, bridges, namespaces and the outputs by their sos names', async () => {
    const read = await readSosReport(FIXTURE);
    expect(read.snapshot).toMatchObject({ host: 'net1', source: 'sosreport', trigger: 'import', format: 'hoptrace.snapshot.v1' });
    expect(read.bridges).toEqual(['br-int', 'br-tun']);
    expect(read.namespaces).toEqual(NAMESPACES);
    expect(read.devices).toBe(2);
    const flows = read.snapshot.outputs.find((o) => o.id === 'ovs-ofctl.dump-flows' && o.bridge === 'br-tun');
    expect(flows).toMatchObject({ origin: 'sos_commands/openvswitch/ovs-ofctl_dump-flows_br-tun', exitCode: 0, argv: ['ovs-ofctl', 'dump-flows', 'br-tun'] });
    expect(flows?.stdout).toContain('actions=strip_vlan,set_tunnel:0x4d2');
    const neigh = read.snapshot.outputs.find((o) => o.id === 'netns.ip.neigh' && o.namespace === 'qrouter-7e5b2c2a');
    expect(neigh?.origin).toBe('sos_commands/networking/namespaces/qrouter-7e5b2c2a/ip_netns_exec_qrouter-7e5b2c2a_ip_-s_-s_neigh_show');
    // the manifest's earliest command start, UTC
    expect(read.snapshot.takenAt).toMatch(/^2026-11-25T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    expect(read.found).toEqual(expect.arrayContaining(['hostname', 'ovs-vsctl.list-br', 'ovs-vsctl.list.Interface', 'ovs-appctl.dpctl.show', 'ip.netns', 'bridge.fdb', 'ethtool.S', 'ovs-appctl.fdb.show[br-int]']));
    expect(read.missing).toEqual(expect.arrayContaining(['ovs-vsctl.list.Port', 'ovs-appctl.dpif.show', 'ovsdb-client.dump']));
    expect(read.missing.filter((m) => m.includes('['))).toEqual([]);
  });

  it('takes the host name from the report name when hostname is missing, and the time from files without a manifest', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hoptrace-sos-unit-'));
    try {
      const root = join(dir, 'sosreport-compute-7-20261120101112');
      cpSync(FIXTURE, root, { recursive: true, verbatimSymlinks: true });
      rmSync(join(root, 'hostname'));
      rmSync(join(root, 'sos_commands', 'host'), { recursive: true });
      rmSync(join(root, 'sos_reports'), { recursive: true });
      const read = await readSosReport(root);
      expect(read.snapshot.host).toBe('compute-7');
      expect(read.snapshot.takenAt).toBe('2026-11-20T10:11:12.000Z');
      expect(read.snapshot.outputs.every((o) => o.argv.length === 0 && o.exitCode === 0)).toBe(true);
      expect(read.notes.join('\n')).toMatch(/from sosreport-compute-7-20261120101112/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('import of directories', () => {
  let dir: string;
  beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'hoptrace-import-unit-')); });
  afterEach(() => { rmSync(dir, { recursive: true, force: true }); });

  it('imports a directory holding several reports and an agent tree, and reports what fails', async () => {
    cpSync(FIXTURE, join(dir, 'site', 'sosreport-net1-2026-11-25-hoptrace'), { recursive: true, verbatimSymlinks: true });
    const second = join(dir, 'site', 'sosreport-net2-2026-11-25-hoptrace');
    cpSync(FIXTURE, second, { recursive: true, verbatimSymlinks: true });
    writeFileSync(join(second, 'sos_commands', 'host', 'hostname'), 'net2\n');
    const first = (await importSnapshots([join(dir, 'site')])).snapshots[0]!;
    await writeSnapshotDir(join(dir, 'agent'), { ...first, host: 'compute-9', source: 'agent', trigger: 'interval' });
    // a snapshot directory whose manifest is broken
    mkdirSync(join(dir, 'agent', 'compute-9', '20261125T000000000Z', 'commands'), { recursive: true });
    writeFileSync(join(dir, 'agent', 'compute-9', '20261125T000000000Z', 'manifest.json'), '{"format":"hoptrace.snapshot-dir.v1","snapshot":{}');

    const result = await importSnapshots([join(dir, 'site'), join(dir, 'agent'), join(dir, 'nope')]);
    expect(result.summary.map((s) => `${s.source}:${s.host}`)).toEqual(['sosreport:net1', 'sosreport:net2', 'directory:compute-9']);
    expect(result.snapshots.map((s) => s.source)).toEqual(['sosreport', 'sosreport', 'directory']);
    expect(result.snapshots[2]).toMatchObject({ trigger: 'import', outputs: first.outputs });
    expect(result.problems).toEqual([
      { path: join(dir, 'agent', 'compute-9', '20261125T000000000Z'), message: expect.stringMatching(/manifest\.json: not JSON/) },
      { path: join(dir, 'nope'), message: 'cannot read: no such file or directory' },
    ]);
  });

  it('does not read a report file that links outside the report', async () => {
    const root = join(dir, 'sosreport-net1-2026-11-25-hoptrace');
    cpSync(FIXTURE, root, { recursive: true, verbatimSymlinks: true });
    writeFileSync(join(dir, 'secret'), 'not for you\n');
    const flows = join(root, 'sos_commands', 'openvswitch', 'ovs-ofctl_dump-flows_br-int');
    renameSync(flows, `${flows}.orig`);
    symlinkSync(join(dir, 'secret'), flows);
    const read = await readSosReport(root);
    expect(read.snapshot.outputs.some((o) => o.stdout.includes('not for you'))).toBe(false);
    expect(read.missing).toContain('ovs-ofctl.dump-flows[br-int]');
    expect(read.notes.join('\n')).toContain('links outside the report');
  });
});

describe('sos name helpers', () => {
  it.each([
    { name: 'bridge', template: 'sos_commands/openvswitch/ovs-ofctl_dump-flows_{bridge}', path: 'sos_commands/openvswitch/ovs-ofctl_dump-flows_br-ex', groups: { bridge: 'br-ex' } },
    { name: 'namespace twice', template: 'sos_commands/networking/namespaces/{namespace}/ip_netns_exec_{namespace}_iptables-save', path: 'sos_commands/networking/namespaces/qrouter-1/ip_netns_exec_qrouter-1_iptables-save', groups: { namespace: 'qrouter-1' } },
    { name: 'namespace mismatch', template: 'sos_commands/networking/namespaces/{namespace}/ip_netns_exec_{namespace}_iptables-save', path: 'sos_commands/networking/namespaces/a/ip_netns_exec_b_iptables-save', groups: undefined },
    { name: 'no subdirectory in a name', template: 'sos_commands/networking/ethtool_-S_{device}', path: 'sos_commands/networking/namespaces/x/ethtool_-S_eth0', groups: undefined },
  ])('template pattern: $name', ({ template, path, groups }) => {
    const match = templatePattern(template).exec(path);
    expect(match === null ? undefined : { ...match.groups }).toEqual(groups);
  });

  it('reads bridges from ovs-vsctl show and list-br', () => {
    const show = '3c1e\n    Bridge br-int\n        Port patch-tun\n    Bridge "br ex"\n    ovs_version: "3.1.0"\n';
    expect(bridgesFromText(new Map([['ovs-vsctl.show', show], ['ovs-vsctl.list-br', 'br-tun\n']])).sort()).toEqual(['br ex', 'br-int', 'br-tun']);
  });

  it('reads namespaces from ip netns', () => {
    expect(namespacesFromText('qrouter-1 (id: 0)\nqdhcp-2\n\nObject "netns" is unknown, try "ip help".\n')).toEqual(['qrouter-1', 'qdhcp-2']);
  });

  it.each([
    { name: 'legacy', file: 'sosreport-host1-01234-20240102030405.tar.xz', iso: '2024-01-02T03:04:05.000Z' },
    { name: 'friendly', file: 'sosreport-host1-2024-01-02-abcdefg.tar.xz', iso: '2024-01-02T00:00:00.000Z' },
    { name: 'none', file: 'report.tar', iso: undefined },
  ])('time from the name: $name', ({ file, iso }) => {
    expect(timeFromName(file)).toBe(iso);
  });
});
