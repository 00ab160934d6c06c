// The offline walk (src/openflow/walk.ts) against the real thing: two OVS hosts with Neutron's
// br-int / br-tun layout joined by GRE, their flows, ports and FDB read back as text and parsed
// by our parsers, then, frame by frame, the walk compared with `ovs-appctl ofproto/trace`: same
// rules (bridge, table, priority, cookie, match), same outputs (port, VLAN), same tunnel key and
// remote, same drops. Frames that leave through the tunnel are traced again on the receiving host
// (in_port = its GRE port, tun_id = the key) and compared with the walk's continuation there.
//
//   compute1 (underlay 203.0.113.1)                          network1 (underlay 203.0.113.2)
//   tapA(5,VLAN 1) tapB(6,VLAN 1) tapC(7,VLAN 2)             tapD(5,VLAN 3) tapE(6,VLAN 3)
//        └── br-int ══ patch-tun(1)/patch-int(1) ══ br-tun ── gre-net(2) ═ GRE ═ gre-cmp(2) ── br-tun ══ br-int
//   br-phy (203.0.113.x/24, eth1): the underlay bridge native tunnelling routes through; not walked.
//
// tun_id 0x2 is local VLAN 1 on compute1 and VLAN 3 on network1; tun_id 0x3 is VLAN 2 on compute1.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { WalkBridge, WalkPort, WalkWorld } from '../../src/openflow/bridge-index.js';
import { FIELD } from '../../src/openflow/fields.js';
import { buildFrameFields, vlanOf, type FrameSpec } from '../../src/openflow/frame.js';
import { parseDpifShow } from '../../src/openflow/ovs-appctl-dpif-show.js';
import { parseFdbShow } from '../../src/openflow/ovs-appctl-fdb-show.js';
import { parseDumpFlows } from '../../src/openflow/ovs-ofctl-dump-flows.js';
import { formatTrace } from '../../src/openflow/trace-format.js';
import { walk, type Disposition, type WalkResult } from '../../src/openflow/walk.js';
import { buildWalkWorld } from '../../src/openflow/world.js';
import { run, ipIn } from '../support/netns.js';
import { flowFromFields, parseOfprotoTrace, type OfprotoTrace } from '../support/ofproto-trace.js';
import { addBridge, addPort, createLab, listPorts, probeOvsLab, type Lab, type OvsHost } from '../support/ovs-lab.js';
import { needService } from '../support/services.js';

const unavailable = await probeOvsLab();

const UNDERLAY = { compute1: '203.0.113.1', network1: '203.0.113.2' } as const;
type HostName = keyof typeof UNDERLAY;
const PEER_MAC = { compute1: '02:00:00:00:71:02', network1: '02:00:00:00:71:01' } as const; // the other side's br-phy, for tnl/arp/set
const MAC = { A: 'fa:16:3e:00:00:0a', B: 'fa:16:3e:00:00:0b', C: 'fa:16:3e:00:00:0c', D: 'fa:16:3e:00:00:0d', E: 'fa:16:3e:00:00:0e', X: 'fa:16:3e:00:00:99' } as const;
const BROADCAST = 'ff:ff:ff:ff:ff:ff';

const BR_INT_FLOWS = [
  'table=0,priority=65535,dl_vlan=4095,actions=drop',
  'table=0,priority=10,arp,in_port=5,actions=resubmit(,24)',
  'table=0,priority=0,actions=resubmit(,60)',
  'table=24,priority=2,arp,in_port=5,arp_spa=192.0.2.10,actions=resubmit(,60)',
  'table=24,priority=0,actions=drop',
  'table=60,priority=3,actions=NORMAL',
];

/** compute1's br-int also exercises registers, VLAN and metadata actions (added as OpenFlow 1.3). */
const BR_INT_ACTION_FLOWS = [
  'table=0,priority=20,ip,nw_dst=192.0.2.200,actions=load:0x6->NXM_NX_REG5[0..15],move:NXM_OF_ETH_SRC[]->NXM_OF_ETH_DST[],resubmit(,30)',
  'table=30,priority=1,actions=output:NXM_NX_REG5[0..15]',
  'table=0,priority=20,ip,nw_dst=192.0.2.201,actions=mod_vlan_vid:2,resubmit(7,31)',
  'table=31,priority=1,in_port=7,dl_vlan=2,actions=strip_vlan,output:6',
  'table=31,priority=0,actions=drop',
  'table=0,priority=20,ip,nw_dst=192.0.2.202,actions=push_vlan:0x8100,set_field:4099->vlan_vid,goto_table:32',
  'table=32,priority=1,actions=output:8',
  'table=0,priority=20,ip,nw_dst=192.0.2.203,actions=set_field:0x2a->reg3,resubmit(,33)',
  'table=33,priority=2,ip,reg3=0x2a,actions=mod_dl_dst:fa:16:3e:00:00:0b,mod_nw_dst:192.0.2.11,dec_ttl,output:6',
  'table=33,priority=1,actions=drop',
  'table=0,priority=20,ip,nw_dst=192.0.2.204,actions=output:5',
  'table=0,priority=20,ip,nw_dst=192.0.2.205,actions=resubmit(,34)',
  'table=34,priority=1,actions=resubmit(,34)',
  'table=0,priority=20,ip,nw_dst=192.0.2.206,actions=write_metadata:0x5/0xff,goto_table:35',
  'table=35,priority=2,metadata=0x5/0xff,actions=output:6',
  'table=35,priority=1,actions=drop',
  'table=0,priority=20,dl_vlan=2,ip,nw_dst=192.0.2.207,actions=set_field:4099->vlan_vid,set_field:5->vlan_pcp,output:7,output:8',
  'table=0,priority=20,ip,nw_dst=192.0.2.209,actions=mod_vlan_pcp:5,output:8',
  // A conjunctive match, as Neutron's OVS firewall writes them: source address AND port.
  'table=0,priority=25,ip,nw_src=192.0.2.10,actions=conjunction(7,1/2)',
  'table=0,priority=25,tcp,tp_dst=8080,actions=conjunction(7,2/2)',
  'table=0,priority=25,conj_id=7,ip,actions=output:6',
];

/** br-tun as the Neutron OVS agent programs it (tables 0, 2, 3, 4, 10, 20, 22). */
function brTunFlows(vlans: readonly { vlan: number; tunId: number }[], knownRemote: { vlan: number; mac: string; tunId: number } | undefined): string[] {
  return [
    'table=0,priority=1,in_port=1,actions=resubmit(,2)',
    'table=0,priority=1,in_port=2,actions=resubmit(,3)',
    'table=0,priority=0,actions=drop',
    'table=2,priority=0,dl_dst=00:00:00:00:00:00/01:00:00:00:00:00,actions=resubmit(,20)',
    'table=2,priority=0,dl_dst=01:00:00:00:00:00/01:00:00:00:00:00,actions=resubmit(,22)',
    ...vlans.map((v) => `table=3,priority=1,tun_id=0x${v.tunId.toString(16)},actions=mod_vlan_vid:${v.vlan},resubmit(,10)`),
    'table=3,priority=0,actions=drop',
    'table=4,priority=0,actions=drop',
    'table=10,priority=1,actions=learn(table=20,hard_timeout=300,priority=1,cookie=0x9e1,NXM_OF_VLAN_TCI[0..11],NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[],load:0->NXM_OF_VLAN_TCI[],load:NXM_NX_TUN_ID[]->NXM_NX_TUN_ID[],output:OXM_OF_IN_PORT[]),output:1',
    ...(knownRemote === undefined ? [] : [`table=20,cookie=0x9e1,priority=2,dl_vlan=${knownRemote.vlan},dl_dst=${knownRemote.mac},actions=strip_vlan,load:0x${knownRemote.tunId.toString(16)}->NXM_NX_TUN_ID[],output:2`]),
    'table=20,cookie=0x77,priority=0,actions=resubmit(,22)',
    ...vlans.map((v) => `table=22,priority=1,dl_vlan=${v.vlan},actions=strip_vlan,set_tunnel:0x${v.tunId.toString(16)},output:2`),
    'table=22,priority=0,actions=drop',
  ];
}

interface OvsdbJson {
  headings: string[];
  data: unknown[][];
}
function ovsdbAtom(value: unknown): unknown[] {
  if (Array.isArray(value) && value[0] === 'set') return value[1] as unknown[];
  if (Array.isArray(value) && value[0] === 'map') return value[1] as unknown[];
  return [value];
}

describe('openflow walk against ovs-appctl ofproto/trace (real OVS, two hosts, GRE)', () => {
  let lab: Lab | undefined;
  const hosts = new Map<HostName, OvsHost>();
  let world: WalkWorld;
  /** Per host: datapath port number → bridge and port name (dpif/show). */
  const odp = new Map<HostName, Map<number, { bridge: string; port: string }>>();
  const walkBridges = new Map<string, WalkBridge>();

  async function buildHost(label: HostName): Promise<void> {
    if (lab === undefined) throw new Error('no lab');
    const host = await lab.addHost(label);
    hosts.set(label, host);
    const peer: HostName = label === 'compute1' ? 'network1' : 'compute1';
    for (const br of ['br-int', 'br-tun']) await addBridge(host, br, { failMode: 'secure', protocols: 'OpenFlow10,OpenFlow13' });
    await addBridge(host, 'br-phy');
    await host.vsctl([
      'add-port', 'br-int', 'patch-tun', '--', 'set', 'Interface', 'patch-tun', 'type=patch', 'options:peer=patch-int', 'ofport_request=1',
      '--', 'add-port', 'br-tun', 'patch-int', '--', 'set', 'Interface', 'patch-int', 'type=patch', 'options:peer=patch-tun', 'ofport_request=1',
    ]);
    const taps = label === 'compute1' ? [['tapA', 1, 5], ['tapB', 1, 6], ['tapC', 2, 7]] as const : [['tapD', 3, 5], ['tapE', 3, 6]] as const;
    for (const [name, tag, ofport] of taps) await addPort(host, 'br-int', name, { type: 'internal', tag, ofport });
    if (label === 'compute1') {
      await addPort(host, 'br-int', 'trunkT', { type: 'internal', trunks: [1, 2], ofport: 8 });
      await addPort(host, 'br-int', 'nativeN', { type: 'internal', tag: 2, trunks: [1], ofport: 9 });
      await host.vsctl(['set', 'Port', 'nativeN', 'vlan_mode=native-untagged']);
    }
    await addPort(host, 'br-tun', label === 'compute1' ? 'gre-net' : 'gre-cmp', {
      type: 'gre', ofport: 2, options: { remote_ip: UNDERLAY[peer], local_ip: UNDERLAY[label], key: 'flow' },
    });
    await addPort(host, 'br-phy', 'eth1', { type: 'internal' });
    await run(null, [...ipIn(host.netns), 'address', 'add', `${UNDERLAY[label]}/24`, 'dev', 'br-phy']);
    await run(null, [...ipIn(host.netns), 'link', 'set', 'br-phy', 'up']);
    await host.appctl(['tnl/arp/set', 'br-phy', UNDERLAY[peer], PEER_MAC[label]]);
    const tun = label === 'compute1'
      ? brTunFlows([{ vlan: 1, tunId: 2 }, { vlan: 2, tunId: 3 }], { vlan: 1, mac: MAC.D, tunId: 2 })
      : brTunFlows([{ vlan: 3, tunId: 2 }], undefined);
    const intFlows = label === 'compute1' ? [...BR_INT_FLOWS, ...BR_INT_ACTION_FLOWS] : BR_INT_FLOWS;
    for (const [br, flows] of [['br-int', intFlows], ['br-tun', tun]] as const) {
      const file = join(host.dir, `${br}.flows`);
      writeFileSync(file, `${flows.join('\n')}\n`);
      await host.ofctl(['-O', 'OpenFlow13', 'add-flows', br, file]);
    }
    // Teach br-int's MAC table (NORMAL of a packet-out learns its source; ofproto/trace never does).
    const learn = label === 'compute1' ? [[5, MAC.A], [6, MAC.B]] as const : [[5, MAC.D]] as const;
    for (const [port, mac] of learn) {
      const frame = `${BROADCAST.replaceAll(':', '')}${mac.replaceAll(':', '')}88b5${'00'.repeat(46)}`;
      await host.ofctl(['packet-out', 'br-int', String(port), 'NORMAL', frame]);
    }
    await host.appctl(['revalidator/wait']);
  }

  /** The WalkBridges of a host, from what OVS prints: dump-flows, OVSDB ports, fdb/show. */
  async function readHost(label: HostName): Promise<WalkBridge[]> {
    const host = hosts.get(label);
    if (host === undefined) throw new Error(`no host ${label}`);
    const ifaces = JSON.parse(await host.vsctl(['-f', 'json', '-d', 'json', '--columns=name,ofport,type,options', 'list', 'Interface'])) as OvsdbJson;
    const portRows = JSON.parse(await host.vsctl(['-f', 'json', '-d', 'json', '--columns=name,tag,trunks,vlan_mode', 'list', 'Port'])) as OvsdbJson;
    const vlanOf = new Map(portRows.data.map((row) => [String(row[0]), row]));
    const portOf = (row: unknown[]): WalkPort => {
      const options = Object.fromEntries(ovsdbAtom(row[3]) as [string, string][]);
      const vlan = vlanOf.get(String(row[0])) ?? [];
      const tag = ovsdbAtom(vlan[1])[0];
      const trunks = ovsdbAtom(vlan[2]) as number[];
      const port: WalkPort = { ofport: Number(row[1]), name: String(row[0]), type: String(row[2]) === '' ? 'system' : String(row[2]) };
      if (typeof tag === 'number') port.tag = tag;
      if (trunks.length > 0) port.trunks = trunks;
      const mode = ovsdbAtom(vlan[3])[0];
      if (mode === 'access' || mode === 'trunk' || mode === 'native-tagged' || mode === 'native-untagged') port.vlanMode = mode;
      if (options['peer'] !== undefined) port.peer = options['peer'];
      if (options['remote_ip'] !== undefined) port.remoteIp = options['remote_ip'];
      if (options['local_ip'] !== undefined) port.localIp = options['local_ip'];
      if (options['key'] !== undefined) port.key = options['key'];
      return port;
    };
    const bridges: WalkBridge[] = [];
    for (const br of ['br-int', 'br-tun']) {
      const names = new Set([br, ...(await listPorts(host, br))]);
      // br-int's write_metadata has no OpenFlow 1.0 form: read it as OpenFlow 1.3 (br-tun as 1.0).
      const dumpArgs = br === 'br-int' ? ['-O', 'OpenFlow13', 'dump-flows', br] : ['dump-flows', br];
      const flows = parseDumpFlows(await host.ofctl(dumpArgs), { source: `${label} dump-flows ${br}` });
      expect(flows.issues).toEqual([]);
      const fdb = parseFdbShow(await host.appctl(['fdb/show', br]));
      expect(fdb.issues).toEqual([]);
      const bridge: WalkBridge = {
        name: br,
        flows: flows.value,
        ports: ifaces.data.filter((row) => names.has(String(row[0]))).map(portOf),
        fdb: fdb.value.flatMap((e) => (e.ofport === undefined ? [] : [{ ofport: e.ofport, vlan: e.vlan, mac: e.mac }])),
      };
      walkBridges.set(`${label}/${br}`, bridge);
      bridges.push(bridge);
    }
    const dpif = parseDpifShow(await host.appctl(['dpif/show']));
    expect(dpif.issues).toEqual([]);
    const map = new Map<number, { bridge: string; port: string }>();
    for (const b of dpif.value.bridges) for (const p of b.ports) if (p.odpPort !== undefined) map.set(p.odpPort, { bridge: b.name, port: p.name });
    odp.set(label, map);
    return bridges;
  }

  beforeAll(async () => {
    if (unavailable !== undefined) return;
    lab = await createLab();
    await Promise.all([buildHost('compute1'), buildHost('network1')]);
    world = buildWalkWorld([
      { name: 'compute1', addresses: [UNDERLAY.compute1], bridges: await readHost('compute1') },
      { name: 'network1', addresses: [UNDERLAY.network1], bridges: await readHost('network1') },
    ]);
  });

  afterAll(async () => {
    await lab?.teardown();
  });

  beforeEach(async (ctx) => {
    await needService(ctx, 'ovs', () => unavailable);
  });

  async function trace(label: HostName, bridge: string, flow: string, initialVlan?: number): Promise<OfprotoTrace> {
    const host = hosts.get(label);
    if (host === undefined) throw new Error(`no host ${label}`);
    return parseOfprotoTrace(await host.appctl(['ofproto/trace', bridge, flow]), initialVlan);
  }

  /** Rules of a trace, without the underlay bridge (native tunnelling continues there). */
  const traceRules = (t: OfprotoTrace): string[] =>
    t.rules.filter((r) => r.bridge !== 'br-phy').map((r) => `${r.bridge}/${r.table}/${r.priority ?? 'miss'}/0x${r.cookie.toString(16)}/${r.match}`);
  const walkRules = (w: WalkResult, host: string): string[] =>
    w.steps.flatMap((s) => {
      if (s.host !== host) return [];
      if (s.kind === 'rule') return [`${s.bridge}/${s.table}/${s.priority}/0x${s.cookie.toString(16)}/${s.match}`];
      if (s.kind === 'no-match') return [`${s.bridge}/${s.table}/miss/0x0/`];
      return [];
    });

  function traceOutputs(label: HostName, t: OfprotoTrace): string[] {
    const ports = odp.get(label) ?? new Map();
    return t.outputs
      .flatMap((o) => {
        if (o.kind === 'tunnel') return [`tunnel ${o.src}->${o.dst} key 0x${o.key.toString(16)} vlan ${o.vlan ?? '-'}`];
        const p = ports.get(o.odpPort);
        if (p === undefined) return [`odp ${o.odpPort}?`];
        return p.bridge === 'br-phy' ? [] : [`${p.bridge}/${p.port} vlan ${o.vlan ?? '-'}`];
      })
      .sort();
  }
  function walkOutputs(w: WalkResult, host: string): string[] {
    return w.dispositions
      .filter((d): d is Extract<Disposition, { kind: 'output' }> => d.kind === 'output' && d.host === host)
      .map((d) => {
        if (d.tunnel !== undefined) {
          const src = (world.bridges(host).flatMap((b) => b.ports).find((p) => p.name === d.portName)?.localIp) ?? '?';
          return `tunnel ${src}->${d.tunnel.remoteIp} key 0x${d.tunnel.key.toString(16)} vlan ${d.vlan ?? '-'}`;
        }
        return `${d.bridge}/${d.portName ?? d.port} vlan ${d.vlan ?? '-'}`;
      })
      .sort();
  }

  interface Case {
    name: string;
    host: HostName;
    bridge: 'br-int' | 'br-tun';
    inPort: string;
    frame: FrameSpec;
    /** What the case is about, so that a walk and a trace that both do nothing cannot pass by accident. */
    expect: 'output' | 'tunnel' | 'drop';
  }

  const arp = (src: string, spa: string, tpa: string): FrameSpec => ({ dl_src: src, dl_dst: BROADCAST, arp_op: 1, arp_spa: spa, arp_tpa: tpa, arp_sha: src });
  const ip = (src: string, dst: string, extra: FrameSpec = {}): FrameSpec => ({ dl_src: src, dl_dst: dst, nw_src: '192.0.2.10', nw_dst: '192.0.2.11', nw_proto: 1, icmp_type: 8, ...extra });
  const CASES: Case[] = [
    { name: 'unicast to a learned MAC on the same VLAN', host: 'compute1', bridge: 'br-int', inPort: 'tapA', frame: ip(MAC.A, MAC.B), expect: 'output' },
    { name: 'TCP unicast back to a learned MAC', host: 'compute1', bridge: 'br-int', inPort: 'tapB', frame: ip(MAC.B, MAC.A, { nw_proto: 6, tp_src: 40000, tp_dst: 22 }), expect: 'output' },
    { name: 'unknown unicast floods, to the tunnel through table 20 -> 22', host: 'compute1', bridge: 'br-int', inPort: 'tapA', frame: ip(MAC.A, MAC.X), expect: 'tunnel' },
    { name: 'unicast to a MAC br-tun knows (table 20 rule, load tun_id)', host: 'compute1', bridge: 'br-int', inPort: 'tapA', frame: ip(MAC.A, MAC.D), expect: 'tunnel' },
    { name: 'ARP broadcast passing the anti-spoofing table', host: 'compute1', bridge: 'br-int', inPort: 'tapA', frame: arp(MAC.A, '192.0.2.10', '192.0.2.2'), expect: 'tunnel' },
    { name: 'ARP with a spoofed sender address', host: 'compute1', bridge: 'br-int', inPort: 'tapA', frame: arp(MAC.A, '192.0.2.66', '192.0.2.2'), expect: 'drop' },
    { name: 'broadcast on the second network (VLAN 2, tun_id 0x3)', host: 'compute1', bridge: 'br-int', inPort: 'tapC', frame: ip(MAC.C, BROADCAST, { nw_proto: 17, tp_src: 68, tp_dst: 67 }), expect: 'tunnel' },
    { name: 'tagged frame on an access port', host: 'compute1', bridge: 'br-int', inPort: 'tapA', frame: ip(MAC.A, MAC.B, { vlan: 7 }), expect: 'drop' },
    { name: 'untagged frame from LOCAL: VLAN 0 reaches br-tun and dies in table 22', host: 'compute1', bridge: 'br-int', inPort: 'br-int', frame: ip(MAC.X, BROADCAST), expect: 'drop' },
    { name: 'dead VLAN 4095 from patch-tun', host: 'compute1', bridge: 'br-int', inPort: 'patch-tun', frame: ip(MAC.X, MAC.A, { vlan: 4095 }), expect: 'drop' },
    { name: 'tagged VLAN 1 into br-tun from patch-int, to a known remote MAC', host: 'compute1', bridge: 'br-tun', inPort: 'patch-int', frame: ip(MAC.A, MAC.D, { vlan: 1 }), expect: 'tunnel' },
    { name: 'br-tun from LOCAL: no rule but the default drop', host: 'compute1', bridge: 'br-tun', inPort: 'br-tun', frame: ip(MAC.A, MAC.D), expect: 'drop' },
    { name: 'load, move, resubmit and output to a register', host: 'compute1', bridge: 'br-int', inPort: 'tapA', frame: ip(MAC.A, MAC.X, { nw_dst: '192.0.2.200' }), expect: 'output' },
    { name: 'mod_vlan_vid, resubmit with another in_port, strip_vlan', host: 'compute1', bridge: 'br-int', inPort: 'tapA', frame: ip(MAC.A, MAC.X, { nw_dst: '192.0.2.201' }), expect: 'output' },
    { name: 'push_vlan + set_field vlan_vid, goto_table, out a trunk', host: 'compute1', bridge: 'br-int', inPort: 'tapA', frame: ip(MAC.A, MAC.X, { nw_dst: '192.0.2.202' }), expect: 'output' },
    { name: 'set_field on a register matched in the next table, mod_dl_dst, dec_ttl', host: 'compute1', bridge: 'br-int', inPort: 'tapA', frame: ip(MAC.A, MAC.X, { nw_dst: '192.0.2.203' }), expect: 'output' },
    { name: 'output to the input port is skipped', host: 'compute1', bridge: 'br-int', inPort: 'tapA', frame: ip(MAC.A, MAC.X, { nw_dst: '192.0.2.204' }), expect: 'drop' },
    { name: 'resubmit loop hits the depth limit', host: 'compute1', bridge: 'br-int', inPort: 'tapA', frame: ip(MAC.A, MAC.X, { nw_dst: '192.0.2.205' }), expect: 'drop' },
    { name: 'write_metadata, goto_table, metadata match', host: 'compute1', bridge: 'br-int', inPort: 'tapA', frame: ip(MAC.A, MAC.X, { nw_dst: '192.0.2.206' }), expect: 'output' },
    { name: 'set_field vlan_vid and vlan_pcp on a tagged frame', host: 'compute1', bridge: 'br-int', inPort: 'trunkT', frame: ip(MAC.X, MAC.A, { vlan: 2, nw_dst: '192.0.2.207' }), expect: 'output' },
    { name: 'mod_vlan_pcp on an untagged frame', host: 'compute1', bridge: 'br-int', inPort: 'tapA', frame: ip(MAC.A, MAC.X, { nw_dst: '192.0.2.209' }), expect: 'output' },
    { name: 'conjunctive match: both clauses', host: 'compute1', bridge: 'br-int', inPort: 'tapA', frame: ip(MAC.A, MAC.X, { nw_proto: 6, tp_src: 40000, tp_dst: 8080 }), expect: 'output' },
    { name: 'conjunctive match: one clause only, NORMAL floods', host: 'compute1', bridge: 'br-int', inPort: 'tapA', frame: ip(MAC.A, MAC.X, { nw_proto: 6, tp_src: 40000, tp_dst: 8081 }), expect: 'tunnel' },
    { name: 'VLAN 2 broadcast: access, trunk and native-untagged ports', host: 'compute1', bridge: 'br-int', inPort: 'tapC', frame: ip(MAC.C, BROADCAST, { nw_proto: 17, tp_src: 68, tp_dst: 67, nw_dst: '192.0.2.255' }), expect: 'tunnel' },
    { name: 'tagged VLAN 2 from a trunk port', host: 'compute1', bridge: 'br-int', inPort: 'trunkT', frame: ip(MAC.X, BROADCAST, { vlan: 2, nw_dst: '192.0.2.255' }), expect: 'tunnel' },
    { name: 'VLAN 5 from a trunk port that does not carry it', host: 'compute1', bridge: 'br-int', inPort: 'trunkT', frame: ip(MAC.X, BROADCAST, { vlan: 5, nw_dst: '192.0.2.255' }), expect: 'drop' },
    { name: 'untagged from a native-untagged port joins its native VLAN', host: 'compute1', bridge: 'br-int', inPort: 'nativeN', frame: ip(MAC.X, BROADCAST, { nw_dst: '192.0.2.255' }), expect: 'tunnel' },
    { name: 'tagged VLAN 1 from a native-untagged port', host: 'compute1', bridge: 'br-int', inPort: 'nativeN', frame: ip(MAC.X, MAC.B, { vlan: 1, nw_dst: '192.0.2.11' }), expect: 'output' },
    { name: 'from the tunnel: unicast to a learned MAC on VLAN 3', host: 'network1', bridge: 'br-tun', inPort: 'gre-cmp', frame: ip(MAC.A, MAC.D, { tun_id: 2, tun_src: UNDERLAY.compute1, tun_dst: UNDERLAY.network1 }), expect: 'output' },
    { name: 'from the tunnel: broadcast floods VLAN 3', host: 'network1', bridge: 'br-tun', inPort: 'gre-cmp', frame: { ...arp(MAC.A, '192.0.2.10', '192.0.2.2'), tun_id: 2, tun_src: UNDERLAY.compute1, tun_dst: UNDERLAY.network1 }, expect: 'output' },
    { name: 'from the tunnel: unknown tun_id', host: 'network1', bridge: 'br-tun', inPort: 'gre-cmp', frame: ip(MAC.A, MAC.D, { tun_id: 9, tun_src: UNDERLAY.compute1, tun_dst: UNDERLAY.network1 }), expect: 'drop' },
    { name: 'network1 broadcast back to compute1', host: 'network1', bridge: 'br-int', inPort: 'tapD', frame: ip(MAC.D, BROADCAST, { nw_proto: 17, tp_src: 67, tp_dst: 68 }), expect: 'tunnel' },
  ];

  it.each(CASES)('$name', async ({ host, bridge, inPort, frame, expect: kind }) => {
    const fields = buildFrameFields(frame);
    const start = walkBridges.get(`${host}/${bridge}`)?.ports.find((p) => p.name === inPort);
    expect(start, `port ${inPort}`).toBeDefined();
    const ofport = start?.ofport ?? -1;
    const real = await trace(host, bridge, flowFromFields(fields, ofport), vlanOf(fields));
    const local = walk(world, { host, bridge, inPort, frame: fields }, { crossTunnels: false });
    const context = `${formatTrace(local)}\n--- ofproto/trace: ${real.datapathActions}`;
    expect(walkRules(local, host), context).toEqual(traceRules(real));
    expect(walkOutputs(local, host), context).toEqual(traceOutputs(host, real));
    expect(local.dispositions.filter((d) => d.kind === 'undecidable'), context).toEqual([]);
    const outputs = walkOutputs(local, host);
    if (kind === 'drop') {
      expect(real.datapathActions).toBe('drop');
      expect(local.dispositions.length).toBeGreaterThan(0);
      expect(local.dispositions.every((d) => d.kind === 'drop')).toBe(true);
    } else {
      expect(outputs.some((o) => o.startsWith('tunnel'))).toBe(kind === 'tunnel');
      expect(outputs.length).toBeGreaterThan(0);
    }

    // Across the tunnel: the receiving host's trace of what was sent, against the walk's continuation.
    const crossed = walk(world, { host, bridge, inPort, frame: fields });
    const sent = local.dispositions.filter((d): d is Extract<Disposition, { kind: 'output' }> => d.kind === 'output' && d.tunnel !== undefined);
    for (const d of sent) {
      const to = (Object.keys(UNDERLAY) as HostName[]).find((h) => UNDERLAY[h] === d.tunnel?.remoteIp);
      expect(to).toBeDefined();
      if (to === undefined) continue;
      const receiving = walkBridges.get(`${to}/br-tun`)?.ports.find((p) => p.type === 'gre');
      const inner = [...d.fields];
      inner[FIELD.tun_id] = 0n; // carried by the tunnel header, given below
      inner[FIELD.tun_src] = 0n;
      inner[FIELD.tun_dst] = 0n;
      const remote = await trace(to, 'br-tun', `${flowFromFields(inner, receiving?.ofport ?? -1).replace(/^in_port=\d+/, `in_port=${receiving?.ofport ?? -1},tun_id=0x${d.tunnel?.key.toString(16) ?? '0'},tun_src=${UNDERLAY[host]},tun_dst=${UNDERLAY[to]}`)}`, vlanOf(inner));
      const remoteContext = `${formatTrace(crossed)}\n--- ofproto/trace on ${to}: ${remote.datapathActions}`;
      expect(walkRules(crossed, to), remoteContext).toEqual(traceRules(remote));
      expect(walkOutputs(crossed, to), remoteContext).toEqual(traceOutputs(to, remote));
      expect(remote.rules.length).toBeGreaterThan(0);
    }
  });
});
