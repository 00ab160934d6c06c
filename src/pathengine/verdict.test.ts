import { describe, expect, it } from 'vitest';
import type { WalkBridge, WalkPort } from '../openflow/bridge-index.js';
import { OFPP } from '../openflow/fields.js';
import { parseDumpFlows } from '../openflow/ovs-ofctl-dump-flows.js';
import { walk, type Disposition } from '../openflow/walk.js';
import { buildWalkWorld } from '../openflow/world.js';
import type { HostTopology, TopoDevice, TopoPort } from '../topology/model.js';
import { chainTo, hopsOfChain, visitOf, visitsOf } from './verdict.js';
import { buildTopologyWorld } from './world.js';

// ---- two Neutron-like hosts (compute1: local VLAN 1, network1: local VLAN 3, GRE key 0x49) ----

function port(bridge: string, name: string, ofport: number, extra: Partial<TopoPort> = {}): TopoPort {
  return {
    bridge, name, type: '', ofport, ifindex: null, mac: null, tag: null, trunks: [], vlanMode: null, peer: null, remoteIp: null, localIp: null, tunnelKey: null,
    neutronPortId: null, attachedMac: null, vmUuid: null, ifaceStatus: null, netUuid: null, segmentationId: null, networkType: null, error: null, linkState: null, adminState: null, ...extra,
  };
}

function dev(name: string, extra: Partial<TopoDevice> = {}): TopoDevice {
  return { namespace: '', name, ifindex: null, kind: '', master: null, peerIfindex: null, peerNamespace: null, linkNetnsId: null, mac: null, mtu: null, state: 'UP', addresses: [], rxPackets: null, txPackets: null, rxDropped: null, txDropped: null, ...extra };
}

const VM_MAC = 'fa:16:3e:00:00:0b';
const DHCP_MAC = 'fa:16:3e:00:00:02';
const QVO = 'qvo0a1b2c3d-4e';
const DHCP_PORT = 'tapdhcp0000-00';

interface HostOptions {
  localVlan: number;
  address: string;
  remote: string;
  /** The instance port's tag (null: the qvo-untagged break). */
  vmTag?: number | null;
  dhcp?: boolean;
  /** br-tun table 3: what tags a frame from the tunnel with the local VLAN. */
  tunToVlan?: (vlan: number) => string;
  /** br-tun table 22: what sends a local-VLAN frame into the tunnel. */
  vlanToTun?: string;
}

const MOD_VLAN_VID = (vlan: number): string => `mod_vlan_vid:${vlan}`;

function host(name: string, o: HostOptions): HostTopology {
  const ports: TopoPort[] = [
    port('br-int', 'br-int', OFPP.LOCAL, { type: 'internal' }),
    port('br-int', 'patch-tun', 1, { type: 'patch', peer: 'patch-int' }),
    port('br-tun', 'br-tun', OFPP.LOCAL, { type: 'internal' }),
    port('br-tun', 'patch-int', 1, { type: 'patch', peer: 'patch-tun' }),
    port('br-tun', 'gre-1', 2, { type: 'gre', remoteIp: o.remote, localIp: o.address, tunnelKey: 'flow' }),
  ];
  const devices = [dev('eth1', { addresses: [{ family: 'inet', address: o.address, prefixLength: 24 }] })];
  if (o.vmTag !== undefined) ports.push(port('br-int', QVO, 5, { tag: o.vmTag, attachedMac: VM_MAC }));
  if (o.dhcp === true) {
    ports.push(port('br-int', DHCP_PORT, 6, { type: 'internal', tag: o.localVlan, attachedMac: DHCP_MAC }));
    devices.push(dev(DHCP_PORT, { namespace: 'qdhcp-net', mac: DHCP_MAC }));
  }
  const tun = [
    'table=0, priority=1,in_port=1 actions=resubmit(,2)',
    'table=0, priority=1,in_port=2 actions=resubmit(,3)',
    'table=0, priority=0 actions=drop',
    'table=2, priority=0 actions=resubmit(,22)',
    `table=3, priority=1,tun_id=0x49 actions=${(o.tunToVlan ?? MOD_VLAN_VID)(o.localVlan)},resubmit(,10)`,
    'table=3, priority=0 actions=drop',
    'table=10, priority=1 actions=output:1',
    `table=22, priority=1,dl_vlan=${o.localVlan} actions=${o.vlanToTun ?? 'strip_vlan,set_tunnel:0x49'},output:2`,
    'table=22, priority=0 actions=drop',
  ].join('\n');
  const sflow = { agent: 'mgmt0', targets: [], sampling: 1, polling: 10, header: 128 };
  return {
    host: name, takenAt: '2026-11-25T08:00:00.000Z', snapshotId: name, systemId: null, ovsVersion: null,
    bridges: [
      { name: 'br-int', datapathId: `00000000000000${o.localVlan}1`, datapathType: null, failMode: 'secure', protocols: [], sflow, ports: [] },
      { name: 'br-tun', datapathId: `00000000000000${o.localVlan}2`, datapathType: null, failMode: 'secure', protocols: [], sflow, ports: [] },
    ],
    ports,
    flows: [{ bridge: 'br-int', flows: parseDumpFlows('table=0, priority=0 actions=NORMAL').value }, { bridge: 'br-tun', flows: parseDumpFlows(tun).value }],
    fdb: [], devices, namespaces: o.dhcp === true ? ['qdhcp-net'] : [], routes: [], neighbors: [], linuxBridges: [],
    chains: [], iptables: [], edges: [], vlanMap: [], issues: [], gaps: [],
  };
}

function lab(compute: Partial<HostOptions> = {}, network: Partial<HostOptions> = {}): HostTopology[] {
  return [
    host('compute1', { localVlan: 1, address: '192.0.2.11', remote: '192.0.2.21', vmTag: 1, ...compute }),
    host('network1', { localVlan: 3, address: '192.0.2.21', remote: '192.0.2.11', dhcp: true, ...network }),
  ];
}

/** Walks a frame from (host, inPort) on br-int and cuts the branch to the output on `toPort` into hops. */
function hopsTo(topologies: HostTopology[], from: { host: string; bridge: string; inPort: string }, frame: { dl_src: string; dl_dst: string }, toPort?: string) {
  const result = walk(buildTopologyWorld(topologies), { ...from, frame: { ...frame, nw_src: '203.0.113.11', nw_dst: '203.0.113.2', nw_proto: 1 } });
  const visits = visitsOf(result);
  const end: Disposition | undefined = toPort === undefined
    ? result.dispositions.find((d) => d.kind === 'drop')
    : result.dispositions.find((d) => d.kind === 'output' && d.portName === toPort);
  if (end === undefined) throw new Error(`no end: ${JSON.stringify(result.dispositions.map((d) => d.kind))}`);
  const chain = chainTo(visits, visitOf(visits, end));
  return hopsOfChain(visits, chain, end, (h) => topologies.find((t) => t.host === h));
}

const bridgeHops = (hops: ReturnType<typeof hopsTo>): string[] =>
  hops.filter((h) => h.kind === 'ovs-bridge').map((h) => `${h.host}/${h.device} vlan=${h.vlan ?? '-'} tun=${h.tunnelId ?? '-'} remote=${h.remoteIp ?? '-'}`);

describe('hopsOfChain: VLAN and tunnel id from the frame state', () => {
  it.each([
    { name: 'mod_vlan_vid', tunToVlan: MOD_VLAN_VID },
    { name: 'push_vlan + set_field', tunToVlan: (v: number) => `push_vlan:0x8100,set_field:${0x1000 | v}->vlan_vid` },
    { name: 'a register moved into vlan_vid', tunToVlan: (v: number) => `load:${0x1000 | v}->NXM_NX_REG6[],move:NXM_NX_REG6[0..12]->OXM_OF_VLAN_VID[]` },
  ])('vm1 → the DHCP port: local VLAN 1, tun_id 0x49, local VLAN 3 set by $name', ({ tunToVlan }) => {
    const hops = hopsTo(lab({ tunToVlan }, { tunToVlan }), { host: 'compute1', bridge: 'br-int', inPort: QVO }, { dl_src: VM_MAC, dl_dst: DHCP_MAC }, DHCP_PORT);
    expect(hops.map((h) => `${h.host}:${h.kind}:${h.device}`)).toEqual([
      'compute1:ovs-bridge:br-int', 'compute1:patch:patch-tun=patch-int', 'compute1:ovs-bridge:br-tun', 'compute1:tunnel:gre-1',
      'network1:physical:eth1', 'network1:ovs-bridge:br-tun', 'network1:patch:patch-int=patch-tun', 'network1:ovs-bridge:br-int',
    ]);
    expect(bridgeHops(hops)).toEqual([
      'compute1/br-int vlan=1 tun=- remote=-', // the qvo's tag
      'compute1/br-tun vlan=1 tun=- remote=-', // tagged by NORMAL on the way to the trunk patch-tun
      'network1/br-tun vlan=3 tun=73 remote=192.0.2.21', // entered untagged with key 0x49, tagged by table 3
      'network1/br-int vlan=3 tun=- remote=-', // through the patch with VLAN 3; the patch clears tun_id
    ]);
    expect(hops.find((h) => h.kind === 'tunnel')).toMatchObject({ tunnelId: 0x49, remoteIp: '192.0.2.21' });
  });

  it('the DHCP port → vm1 the other way, the key set by set_field tun_id', () => {
    const vlanToTun = 'pop_vlan,set_field:0x49->tun_id';
    const hops = hopsTo(lab({ vlanToTun }, { vlanToTun }), { host: 'network1', bridge: 'br-int', inPort: DHCP_PORT }, { dl_src: DHCP_MAC, dl_dst: VM_MAC }, QVO);
    expect(bridgeHops(hops)).toEqual([
      'network1/br-int vlan=3 tun=- remote=-',
      'network1/br-tun vlan=3 tun=- remote=-',
      'compute1/br-tun vlan=1 tun=73 remote=192.0.2.11',
      'compute1/br-int vlan=1 tun=- remote=-',
    ]);
    expect(hops.find((h) => h.kind === 'tunnel')).toMatchObject({ host: 'network1', tunnelId: 0x49, remoteIp: '192.0.2.11' });
  });

  it('qvo untagged: the frame stays untagged through br-int and dies in br-tun table 22 (no VLAN on either hop)', () => {
    const hops = hopsTo(lab({ vmTag: null }), { host: 'compute1', bridge: 'br-int', inPort: QVO }, { dl_src: VM_MAC, dl_dst: DHCP_MAC });
    expect(bridgeHops(hops)).toEqual(['compute1/br-int vlan=- tun=- remote=-', 'compute1/br-tun vlan=- tun=- remote=-']);
  });
});

describe('visitsOf', () => {
  function bridge(name: string, flows: string, ports: WalkPort[]): WalkBridge {
    return { name, flows: parseDumpFlows(flows).value, ports: [...ports, { ofport: OFPP.LOCAL, name, type: 'internal' }], fdb: [] };
  }
  // br-a resubmits twice, crosses to br-b, which hairpins back into br-a through a second patch pair;
  // then the first br-a resumes (output:3) at a depth the nested visits share.
  const world = buildWalkWorld([{ name: 'h', addresses: [], bridges: [
    bridge('br-a', [
      'table=0, priority=2,in_port=5 actions=output:4',
      'table=0, priority=1 actions=resubmit(,1),output:3',
      'table=1, priority=1 actions=resubmit(,2)',
      'table=2, priority=1 actions=output:2',
    ].join('\n'), [{ ofport: 1, name: 'p1', type: 'system' }, { ofport: 2, name: 'pa', type: 'patch', peer: 'pb' }, { ofport: 3, name: 'p3', type: 'system' }, { ofport: 4, name: 'p4', type: 'system' }, { ofport: 5, name: 'pc', type: 'patch', peer: 'pd' }]),
    bridge('br-b', 'table=0, priority=1 actions=resubmit(,5)\ntable=5, priority=1 actions=output:1,output:3', [{ ofport: 1, name: 'q1', type: 'system' }, { ofport: 2, name: 'pb', type: 'patch', peer: 'pa' }, { ofport: 3, name: 'pd', type: 'patch', peer: 'pc' }]),
  ] }]);

  it('gives each visit its parent and its own rules and outputs after a resubmit chain, a patch and a hairpin', () => {
    const visits = visitsOf(walk(world, { host: 'h', bridge: 'br-a', inPort: 'p1', frame: { dl_dst: VM_MAC, vlan: 7 } }));
    expect(visits.map((v) => ({ bridge: v.bridge, via: v.via, parent: v.parent, vlan: v.vlan, tunId: v.tunId, rules: v.rules.map((r) => r.table), outputs: v.outputs.map((o) => o.portName) }))).toEqual([
      { bridge: 'br-a', via: 'start', parent: -1, vlan: 7, tunId: 0n, rules: [0, 1, 2], outputs: ['pa', 'p3'] },
      { bridge: 'br-b', via: 'patch', parent: 0, vlan: 7, tunId: 0n, rules: [0, 5], outputs: ['q1', 'pd'] },
      { bridge: 'br-a', via: 'patch', parent: 1, vlan: 7, tunId: 0n, rules: [0], outputs: ['p4'] },
    ]);
    expect(chainTo(visits, 2)).toEqual([0, 1, 2]);
  });

  it('is empty without steps', () => {
    expect(visitsOf(walk(world, { host: 'h', bridge: 'br-a', inPort: 'p1', frame: {} }, { steps: false }))).toEqual([]);
  });
});
