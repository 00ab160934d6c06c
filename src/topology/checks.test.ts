// The consistency checks, each on a real host topology (the sosreport fixture taken from a lab
// network node, test/fixtures/sos) with one thing broken the way it breaks in a cloud.
import { describe, expect, it } from 'vitest';
import { importSnapshots } from '../snapshot/import.js';
import { buildTopologies } from './build.js';
import { checkTopology, type CheckName } from './checks.js';
import type { HostTopology, TopoDevice, TopoPort } from './model.js';

const FIXTURE = new URL('../../test/fixtures/sos/sosreport-net1-2026-11-25-hoptrace', import.meta.url).pathname;
const { snapshots } = await importSnapshots([FIXTURE]);
const base = buildTopologies(snapshots).topologies[0] as HostTopology;

function clone(): HostTopology {
  return structuredClone(base);
}

function checks(hosts: HostTopology[]): [CheckName, string][] {
  return checkTopology(hosts).map((f) => [f.check, f.device]);
}

function port(t: HostTopology, name: string): TopoPort {
  const p = t.ports.find((x) => x.name === name);
  if (p === undefined) throw new Error(`no port ${name}`);
  return p;
}

/** A second host owning the fixture's GRE remote and mapping VLAN 1 both ways: the healthy baseline. */
function healed(): HostTopology[] {
  const t = clone();
  const peer = clone();
  peer.host = 'peer';
  peer.devices.push({ ...(t.devices[0] as TopoDevice), name: 'eth1', addresses: [{ family: 'inet', address: '203.0.113.2', prefixLength: 24 }] });
  const to = t.vlanMap.find((m) => m.direction === 'to-tunnel');
  if (to !== undefined) t.vlanMap.push({ ...to, direction: 'from-tunnel', evidence: 'table=3 tun_id=0x4d2 actions=mod_vlan_vid:1' });
  // the fixture's qvo is wired straight to an instance namespace (no hybrid plug): give it one
  const qvo = port(t, 'qvo5a1b2c3d-4e');
  qvo.name = 'eth9';
  return [t, peer];
}

describe('checkTopology', () => {
  it('the fixture as taken: the qvo without qvb, the tunnel to a host not in the set, one direction of the VLAN map', () => {
    expect(checks([clone()])).toEqual(
      expect.arrayContaining([
        ['qvo-without-qvb', 'qvo5a1b2c3d-4e'],
        ['tunnel-remote-unknown', 'gre-c0000202'],
        ['vlan-without-tunnel-mapping', 'qr-3f2a9b1c-1d, qvo5a1b2c3d-4e, tap41d0c3f6-aa'],
      ]),
    );
  });

  it('a healed set has no error', () => {
    const errors = checkTopology(healed()).filter((f) => f.severity === 'error' && f.host === 'net1');
    expect(errors).toEqual([]);
  });

  it('port-untagged and port-dead-vlan', () => {
    const hosts = healed();
    const t = hosts[0] as HostTopology;
    port(t, 'qr-3f2a9b1c-1d').tag = null;
    port(t, 'tap41d0c3f6-aa').tag = 4095;
    expect(checks(hosts)).toEqual(expect.arrayContaining([['port-untagged', 'qr-3f2a9b1c-1d'], ['port-dead-vlan', 'tap41d0c3f6-aa']]));
  });

  it('patch-peer-missing: peer gone, or pointing elsewhere', () => {
    const hosts = healed();
    const t = hosts[0] as HostTopology;
    port(t, 'patch-int').peer = 'patch-nowhere';
    const found = checkTopology(hosts).filter((f) => f.check === 'patch-peer-missing');
    expect(found.map((f) => f.device).sort()).toEqual(['patch-int', 'patch-tun']);
    expect(found.find((f) => f.device === 'patch-int')?.message).toContain('patch-nowhere');
  });

  it('tunnel-port-error', () => {
    const hosts = healed();
    const gre = port(hosts[0] as HostTopology, 'gre-c0000202');
    gre.ofport = -1;
    gre.error = 'could not add network device gre-c0000202 to ofproto (File exists)';
    const f = checkTopology(hosts).find((x) => x.check === 'tunnel-port-error');
    expect(f?.evidence).toContain('File exists');
  });

  it('vlan-without-tunnel-mapping: each direction on its own', () => {
    const hosts = healed();
    const t = hosts[0] as HostTopology;
    t.vlanMap = t.vlanMap.filter((m) => m.direction !== 'from-tunnel');
    expect(checkTopology(hosts).find((f) => f.check === 'vlan-without-tunnel-mapping')?.message).toMatch(/maps a tunnel id back to local VLAN 1/);
    t.vlanMap = base.vlanMap.map((m) => ({ ...m, direction: m.direction === 'to-tunnel' ? ('from-tunnel' as const) : m.direction }));
    expect(checkTopology(hosts).find((f) => f.check === 'vlan-without-tunnel-mapping')?.message).toMatch(/sending it into a tunnel/);
    t.vlanMap = [];
    expect(checkTopology(hosts).find((f) => f.check === 'vlan-without-tunnel-mapping')?.message).toMatch(/neither leave nor enter/);
  });

  it('the hybrid plug: qbr without qvb, tap outside its qbr, qvo without qvb', () => {
    const hosts = healed();
    const t = hosts[0] as HostTopology;
    const id = '0123abcd-ef';
    const dev = (name: string, kind: string, master: string | null): TopoDevice => ({ ...(t.devices[0] as TopoDevice), name, kind, master, peerIfindex: null, peerNamespace: null, linkNetnsId: null, addresses: [], ifindex: null });
    t.ports.push({ ...port(t, 'qr-3f2a9b1c-1d'), name: `qvo${id}`, type: '', neutronPortId: `${id}00-4000-8000-000000000009`, vmUuid: 'vm-9' });
    t.devices.push(dev(`qbr${id}`, 'bridge', null), dev(`tap${id}`, 'tun', null), dev(`qvb${id}`, 'veth', `qbr${id}`));
    t.linuxBridges.push({ namespace: '', name: `qbr${id}`, members: [`qvb${id}`] });
    expect(checks(hosts)).toContainEqual(['tap-without-qbr', `tap${id}`]);
    t.linuxBridges = t.linuxBridges.map((b) => (b.name === `qbr${id}` ? { ...b, members: [`tap${id}`] } : b));
    expect(checks(hosts)).toContainEqual(['qbr-without-qvb', `qbr${id}`]);
    t.devices = t.devices.filter((d) => d.name !== `qvb${id}`);
    expect(checks(hosts)).toContainEqual(['qvo-without-qvb', `qvo${id}`]);
  });

  it('veth-without-peer', () => {
    const hosts = healed();
    const t = hosts[0] as HostTopology;
    t.devices.push({ ...(t.devices[0] as TopoDevice), name: 'veth-lonely', kind: 'veth', ifindex: 77, peerIfindex: 4242, peerNamespace: null, linkNetnsId: null });
    expect(checks(hosts)).toContainEqual(['veth-without-peer', 'veth-lonely']);
  });

  it('network-without-dhcp: instance ports of a network whose qdhcp namespace no host has', () => {
    const hosts = healed();
    const t = hosts[0] as HostTopology;
    t.ports.push({ ...port(t, 'qr-3f2a9b1c-1d'), name: 'qvo99999999-99', netUuid: 'feedface-0000-4000-8000-000000000001', vmUuid: 'vm-1' });
    const f = checkTopology(hosts).find((x) => x.check === 'network-without-dhcp');
    expect(f).toMatchObject({ severity: 'warning', device: 'qvo99999999-99' });
    expect(f?.message).toContain('qdhcp-feedface-0000-4000-8000-000000000001');
  });
});
