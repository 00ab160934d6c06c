import { describe, expect, it } from 'vitest';
import { parseIptablesSave } from '../hoststate/linux/iptables-save.js';
import { parseDumpFlows } from '../openflow/ovs-ofctl-dump-flows.js';
import { walk } from '../openflow/walk.js';
import type { Datagram } from '../sflow/types.js';
import type { HostTopology, TopoDevice, TopoPort } from '../topology/model.js';
import { markAnswers, type AnalyzedPath } from './analyze.js';
import { instanceEgress, instanceIngress, namespaceHop, routeLookup } from './linux-hops.js';
import { TopologyResolver } from './resolve.js';
import { chainTo, confidence, hopsOfChain, visitOf, visitsOf } from './verdict.js';
import { buildTopologyWorld, FlowTextError, parseFlowText } from './world.js';

// ---- a two-host Neutron-like topology, written by hand ----

function port(bridge: string, name: string, ofport: number, extra: Partial<TopoPort> = {}): TopoPort {
  return {
    bridge, name, type: '', ofport, ifindex: null, mac: null, tag: null, trunks: [], vlanMode: null, peer: null, remoteIp: null, localIp: null, tunnelKey: null,
    neutronPortId: null, attachedMac: null, vmUuid: null, ifaceStatus: null, netUuid: null, segmentationId: null, networkType: null, error: null, linkState: null, adminState: null, ...extra,
  };
}

function dev(name: string, extra: Partial<TopoDevice> = {}): TopoDevice {
  return { namespace: '', name, ifindex: null, kind: '', master: null, peerIfindex: null, peerNamespace: null, linkNetnsId: null, mac: null, mtu: null, state: 'UP', addresses: [], rxPackets: null, txPackets: null, rxDropped: null, txDropped: null, ...extra };
}

function flows(text: string) {
  return parseDumpFlows(text).value;
}

const VM_MAC = 'fa:16:3e:00:00:0b';
const DHCP_MAC = 'fa:16:3e:00:00:02';
const PFX = '0a1b2c3d-4e';

function host(name: string, opts: { localVlan: number; address: string; remote: string; vm?: boolean; dhcp?: boolean; tunToVlan?: boolean }): HostTopology {
  const ports: TopoPort[] = [
    port('br-int', 'br-int', 65534, { type: 'internal' }),
    port('br-int', 'patch-tun', 1, { type: 'patch', peer: 'patch-int' }),
    port('br-tun', 'br-tun', 65534, { type: 'internal' }),
    port('br-tun', 'patch-int', 1, { type: 'patch', peer: 'patch-tun' }),
    port('br-tun', 'gre-1', 2, { type: 'gre', remoteIp: opts.remote, localIp: opts.address, tunnelKey: 'flow' }),
  ];
  const devices: TopoDevice[] = [dev('eth1', { addresses: [{ family: 'inet', address: opts.address, prefixLength: 24 }] }), dev('mgmt0', { addresses: [{ family: 'inet', address: `198.51.100.${opts.localVlan}`, prefixLength: 24 }] })];
  if (opts.vm === true) {
    ports.push(port('br-int', `qvo${PFX}`, 5, { tag: opts.localVlan, attachedMac: VM_MAC, ifindex: 21, neutronPortId: '0a1b2c3d-4e00' }));
    devices.push(dev(`tap${PFX}`, { ifindex: 20 }), dev(`qbr${PFX}`, { kind: 'bridge' }), dev(`qvb${PFX}`, { kind: 'veth' }), dev(`qvo${PFX}`, { kind: 'veth', ifindex: 21 }));
  }
  if (opts.dhcp === true) {
    ports.push(port('br-int', 'tapdhcp0000-00', 6, { type: 'internal', tag: opts.localVlan, attachedMac: DHCP_MAC }));
    devices.push(dev('tapdhcp0000-00', { namespace: 'qdhcp-net', mac: DHCP_MAC, addresses: [{ family: 'inet', address: '203.0.113.2', prefixLength: 26 }] }));
  }
  const tunFlows = [
    'table=0, priority=1,in_port=1 actions=resubmit(,2)',
    'table=0, priority=1,in_port=2 actions=resubmit(,3)',
    'table=0, priority=0 actions=drop',
    'table=2, priority=0,dl_dst=00:00:00:00:00:00/01:00:00:00:00:00 actions=resubmit(,20)',
    'table=2, priority=0,dl_dst=01:00:00:00:00:00/01:00:00:00:00:00 actions=resubmit(,22)',
    ...(opts.tunToVlan === false ? [] : [`table=3, priority=1,tun_id=0x49 actions=mod_vlan_vid:${opts.localVlan},resubmit(,10)`]),
    'table=3, priority=0 actions=drop',
    'table=10, priority=1 actions=output:1',
    'table=20, priority=0 actions=resubmit(,22)',
    `table=22, priority=1,dl_vlan=${opts.localVlan} actions=strip_vlan,set_tunnel:0x49,output:2`,
    'table=22, priority=0 actions=drop',
  ].join('\n');
  return {
    host: name, takenAt: '2026-11-25T08:00:00.000Z', snapshotId: name, systemId: null, ovsVersion: null,
    bridges: [
      { name: 'br-int', datapathId: `00000000000000${opts.localVlan}1`, datapathType: null, failMode: 'secure', protocols: [], sflow: { agent: 'mgmt0', targets: [], sampling: 1, polling: 10, header: 128 }, ports: [] },
      { name: 'br-tun', datapathId: `00000000000000${opts.localVlan}2`, datapathType: null, failMode: 'secure', protocols: [], sflow: { agent: 'mgmt0', targets: [], sampling: 1, polling: 10, header: 128 }, ports: [] },
    ],
    ports,
    flows: [{ bridge: 'br-int', flows: flows('table=0, priority=0 actions=NORMAL') }, { bridge: 'br-tun', flows: flows(tunFlows) }],
    fdb: [], devices, namespaces: opts.dhcp === true ? ['qdhcp-net'] : [],
    routes: [
      { namespace: 'qdhcp-net', table: 'main', dst: '203.0.113.0/26', gateway: null, dev: 'tapdhcp0000-00', src: null, proto: 'kernel', scope: 'link', type: 'unicast', metric: null },
      { namespace: 'qdhcp-net', table: 'main', dst: 'default', gateway: '203.0.113.1', dev: 'tapdhcp0000-00', src: null, proto: null, scope: null, type: 'unicast', metric: null },
    ],
    neighbors: [], linuxBridges: opts.vm === true ? [{ namespace: '', name: `qbr${PFX}`, members: [`qvb${PFX}`, `tap${PFX}`] }] : [],
    chains: [], iptables: [], edges: [], vlanMap: [], issues: [], gaps: [],
  };
}

const compute = (tunToVlan = true): HostTopology[] => [
  host('compute1', { localVlan: 1, address: '192.0.2.11', remote: '192.0.2.21', vm: true }),
  host('network1', { localVlan: 3, address: '192.0.2.21', remote: '192.0.2.11', dhcp: true, tunToVlan }),
];

const ICMP = { dl_src: VM_MAC, dl_dst: DHCP_MAC, nw_src: '203.0.113.11', nw_dst: '203.0.113.2', nw_proto: 1, icmp_type: 8 };

describe('parseFlowText', () => {
  it('reads ofproto/trace flows', () => {
    expect(parseFlowText('icmp,dl_src=fa:16:3e:00:00:0b,nw_dst=203.0.113.2,dl_vlan=5,in_port=3')).toEqual({ spec: { dl_type: 0x0800, nw_proto: 1, dl_src: 'fa:16:3e:00:00:0b', nw_dst: '203.0.113.2', vlan: 5 }, inPort: '3' });
    expect(parseFlowText('ip,tun_id=0x49').spec.tun_id).toBe(0x49n);
    expect(parseFlowText('arp,arp_tpa=203.0.113.2').spec).toEqual({ dl_type: 0x0806, arp_tpa: '203.0.113.2' });
  });
  it('refuses unknown words and fields', () => {
    expect(() => parseFlowText('icmpp')).toThrow(FlowTextError);
    expect(() => parseFlowText('icmp,foo=1')).toThrow(/unknown field 'foo'/);
    expect(() => parseFlowText('tcp,tp_dst=x')).toThrow(/not a number/);
  });
});

describe('world from topologies', () => {
  it('walks compute1 qvo → br-tun → GRE → network1 → dhcp port with the VLAN/tun_id translations', () => {
    const world = buildTopologyWorld(compute());
    expect(world.hostOwningIp('192.0.2.21')).toBe('network1');
    expect(world.hostOwningIp('192.0.2.99')).toBeUndefined();
    const result = walk(world, { host: 'compute1', bridge: 'br-int', inPort: `qvo${PFX}`, frame: ICMP });
    const outputs = result.dispositions.filter((d) => d.kind === 'output' && d.host === 'network1' && d.portName === 'tapdhcp0000-00');
    expect(outputs).toHaveLength(1);
    const visits = visitsOf(result);
    expect(visits.map((v) => `${v.host}/${v.bridge}/${v.via}`)).toEqual(['compute1/br-int/start', 'compute1/br-tun/patch', 'network1/br-tun/tunnel', 'network1/br-int/patch']);
    const end = outputs[0];
    if (end === undefined) throw new Error('no output');
    const chain = chainTo(visits, visitOf(visits, end));
    expect(chain).toEqual([0, 1, 2, 3]);
    const hops = hopsOfChain(visits, chain, end, (h) => compute().find((t) => t.host === h));
    expect(hops.map((h) => `${h.host}:${h.kind}:${h.device}`)).toEqual([
      'compute1:ovs-bridge:br-int', 'compute1:patch:patch-tun=patch-int', 'compute1:ovs-bridge:br-tun', 'compute1:tunnel:gre-1',
      'network1:physical:eth1', 'network1:ovs-bridge:br-tun', 'network1:patch:patch-int=patch-tun', 'network1:ovs-bridge:br-int',
    ]);
    expect(hops[0]?.vlan).toBe(1);
    expect(hops[3]?.tunnelId).toBe(0x49);
    expect(hops[7]?.outPort).toBe('tapdhcp0000-00');
  });

  it('a missing tun_id → VLAN flow drops on network1 br-tun table 3', () => {
    const result = walk(buildTopologyWorld(compute(false)), { host: 'compute1', bridge: 'br-int', inPort: `qvo${PFX}`, frame: ICMP });
    const drop = result.dispositions.find((d) => d.kind === 'drop');
    expect(drop).toMatchObject({ host: 'network1', bridge: 'br-tun', table: 3 });
  });
});

describe('resolver', () => {
  it('agent address → host by the sFlow agent interface; sub-agent → bridge from 1004; ifIndex → port', () => {
    const r = new TopologyResolver(compute());
    expect(r.hostOf('198.51.100.1')).toBe('compute1');
    expect(r.hostOf('198.51.100.3')).toBe('network1');
    // without counters: the bridge of the ifIndex
    expect(r.resolve('198.51.100.1', 7, 21, 0)).toEqual({ host: 'compute1', bridge: 'br-int', port: `qvo${PFX}`, ofport: 5, neutronPortId: '0a1b2c3d-4e00' });
    expect(r.resolve('198.51.100.1', 7, 0, 0)).toBeUndefined();
    const datagram = {
      version: 5, agentAddressType: 1, agent: '198.51.100.1', subAgentId: 7, sequence: 1, uptimeMs: 0,
      samples: [{ kind: 'counter', offset: 0, length: 0, expanded: false, sequence: 1, sourceIdType: 0, sourceIdIndex: 21, records: [{ kind: 'openflow_port', datapathId: 0x12n, portNo: 5 }] }],
    } as unknown as Datagram;
    r.learn(datagram);
    expect(r.bridgeOf('198.51.100.1', 7, 0)).toBe('br-tun');
    // ifIndex 0 now names the sub-agent's bridge only; the port is found by MAC
    expect(r.resolve('198.51.100.1', 7, 0, 0)).toEqual({ host: 'compute1', bridge: 'br-tun', port: null, ofport: null });
    expect(r.portByMac('compute1', 'br-int', VM_MAC.toUpperCase(), 0)?.name).toBe(`qvo${PFX}`);
    expect(r.hostOf('203.0.113.77')).toBeUndefined();
    expect(r.stats.unknownAgents).toEqual(['203.0.113.77']);
  });
});

describe('linux hops', () => {
  const ruleset = parseIptablesSave([
    '*filter',
    ':FORWARD ACCEPT [0:0]',
    `:neutron-openvswi-i${PFX} - [0:0]`,
    `-A FORWARD -m physdev --physdev-out tap${PFX} --physdev-is-bridged -j neutron-openvswi-i${PFX}`,
    `-A neutron-openvswi-i${PFX} -p icmp -j DROP`,
    `-A neutron-openvswi-i${PFX} -j RETURN`,
    'COMMIT',
  ].join('\n'), 'iptables-save').value;
  const rulesets = new Map([['', ruleset]]);
  const frame = { srcMac: DHCP_MAC, dstMac: VM_MAC, srcIp: '203.0.113.2', dstIp: '203.0.113.11', ipProtocol: 1, srcPort: null, dstPort: null, icmpType: 0, ctState: 'ESTABLISHED' as const };
  const c1 = compute()[0] as HostTopology;

  it('qvo → qbr: the ingress chain drops ICMP, and names the rule', () => {
    const leg = instanceIngress(c1, rulesets, `qvo${PFX}`, frame);
    expect(leg.hops.map((h) => h.kind)).toEqual(['veth', 'linux-bridge']);
    expect(leg.drop).toMatchObject({ host: 'compute1', device: `qbr${PFX}`, table: 'filter' });
    expect(leg.drop?.rule).toContain(`neutron-openvswi-i${PFX} rule 1`);
  });

  it('tap → qbr → qvb: egress is not filtered by the ingress chain', () => {
    const leg = instanceEgress(c1, rulesets, `qvo${PFX}`, { ...frame, srcIp: '203.0.113.11', dstIp: '203.0.113.2', icmpType: 8 });
    expect(leg.drop).toBeNull();
    expect(leg.hops.map((h) => `${h.kind}:${h.device}`)).toEqual([`vm-port:tap${PFX}`, `linux-bridge:qbr${PFX}`, `veth:qvb${PFX}`]);
  });

  it('namespaces: local delivery and route lookup', () => {
    const n1 = compute()[1] as HostTopology;
    expect(namespaceHop(n1, undefined, 'tapdhcp0000-00', { ...frame, dstIp: '203.0.113.2' }).hops[0]?.notes?.[0]).toContain('local');
    expect(routeLookup(n1, 'qdhcp-net', '8.8.8.8')?.dst).toBe('default');
    expect(routeLookup(n1, 'qdhcp-net', '203.0.113.9')?.dst).toBe('203.0.113.0/26');
    expect(routeLookup(n1, 'other', '203.0.113.9')).toBeUndefined();
  });
});

describe('confidence', () => {
  it('falls with unobserved hops at sampling 1, hardly at 1-in-1000, and with doubts', () => {
    const full = confidence({ samplingRate: 1, observable: 3, observedObservable: 3, doubts: 0, conflict: false });
    const missing = confidence({ samplingRate: 1, observable: 3, observedObservable: 1, doubts: 0, conflict: false });
    const sampled = confidence({ samplingRate: 1000, observable: 3, observedObservable: 1, doubts: 0, conflict: false });
    expect(full).toBe(1);
    expect(missing).toBeLessThan(full);
    expect(sampled).toBeGreaterThan(missing);
    expect(confidence({ samplingRate: 1, observable: 3, observedObservable: 3, doubts: 2, conflict: true })).toBeLessThan(0.6);
  });
});

describe('answers', () => {
  const path = (flow: Partial<AnalyzedPath['flow']>, at: number): AnalyzedPath => ({
    pathId: String(at), kind: 'frame', fingerprint: null, firstSeen: new Date(at).toISOString(), lastSeen: new Date(at).toISOString(), verdict: 'delivered', confidence: 1,
    drop: null, hops: [], observations: 1, samplingRate: 1, checks: [], doubts: [], coverage: [], answered: null,
    flow: { srcMac: null, dstMac: null, srcIp: null, dstIp: null, ipProtocol: null, srcPort: null, dstPort: null, icmpType: null, ...flow },
  });
  it('an echo reply answers its request; a DHCP offer answers a discover; late or unrelated frames do not', () => {
    const paths = [
      path({ srcIp: '203.0.113.11', dstIp: '203.0.113.2', ipProtocol: 1, icmpType: 8 }, 1000),
      path({ srcIp: '203.0.113.2', dstIp: '203.0.113.11', ipProtocol: 1, icmpType: 0 }, 1010),
      path({ srcIp: '203.0.113.11', dstIp: '203.0.113.3', ipProtocol: 1, icmpType: 8 }, 1020),
      path({ srcIp: '0.0.0.0', dstIp: '255.255.255.255', ipProtocol: 17, srcPort: 68, dstPort: 67 }, 2000),
      path({ srcIp: '203.0.113.2', dstIp: '203.0.113.11', ipProtocol: 17, srcPort: 67, dstPort: 68 }, 2100),
      path({ srcIp: '0.0.0.0', dstIp: '255.255.255.255', ipProtocol: 17, srcPort: 68, dstPort: 67 }, 9000),
      path({ srcIp: '203.0.113.2', dstIp: '203.0.113.11', ipProtocol: 17, srcPort: 67, dstPort: 68 }, 20000),
      path({ srcMac: 'fa:16:3e:00:00:0b' }, 30000),
    ];
    markAnswers(paths, 3000);
    expect(paths.map((p) => p.answered)).toEqual([true, null, false, true, null, false, null, null]);
  });
});
