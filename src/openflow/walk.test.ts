import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { WalkBridge, WalkFdbEntry, WalkPort } from './bridge-index.js';
import { FIELD, OFPP } from './fields.js';
import { buildFrameFields, describeFrame, FrameSpecError, type FrameSpec } from './frame.js';
import { parseDumpFlows } from './ovs-ofctl-dump-flows.js';
import { formatTrace } from './trace-format.js';
import { walk, type Disposition, type TraceStep, type WalkOptions, type WalkResult } from './walk.js';
import { buildWalkWorld } from './world.js';

function bridge(name: string, flows: string, ports: WalkPort[], fdb: WalkFdbEntry[] = []): WalkBridge {
  const parsed = parseDumpFlows(flows);
  // Unknown actions and fields are kept (flagged); a line that is not a rule would be lost.
  if (parsed.issues.some((i) => i.message.startsWith('no actions='))) throw new Error(JSON.stringify(parsed.issues));
  return { name, flows: parsed.value, ports: [...ports, { ofport: OFPP.LOCAL, name, type: 'internal' }], fdb };
}

const VM_A = 'fa:16:3e:00:00:0a';
const VM_B = 'fa:16:3e:00:00:0b';
const DHCP = 'fa:16:3e:00:00:0d';
const BROADCAST = 'ff:ff:ff:ff:ff:ff';

// compute1: br-int (tapA, tapB on local VLAN 1, tapC on VLAN 2) and br-tun with Neutron's tables;
// network1: the same with local VLAN 3 for tun_id 0x2.
function brTun(localVlan: number, greOfport = 2): string {
  return [
    'table=0, priority=1,in_port=1 actions=resubmit(,2)',
    `table=0, priority=1,in_port=${greOfport} actions=resubmit(,3)`,
    'table=0, priority=0 actions=drop',
    'table=2, priority=0,dl_dst=00:00:00:00:00:00/01:00:00:00:00:00 actions=resubmit(,20)',
    'table=2, priority=0,dl_dst=01:00:00:00:00:00/01:00:00:00:00:00 actions=resubmit(,22)',
    `table=3, priority=1,tun_id=0x2 actions=mod_vlan_vid:${localVlan},resubmit(,10)`,
    'table=3, priority=0 actions=drop',
    'table=10, priority=1 actions=learn(table=20,hard_timeout=300,priority=1,NXM_OF_VLAN_TCI[0..11],NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[],load:0->NXM_OF_VLAN_TCI[],load:NXM_NX_TUN_ID[]->NXM_NX_TUN_ID[],output:OXM_OF_IN_PORT[]),output:1',
    `cookie=0x9e1, table=20, priority=2,dl_vlan=${localVlan},dl_dst=${DHCP} actions=strip_vlan,load:0x2->NXM_NX_TUN_ID[],output:${greOfport}`,
    'table=20, priority=0 actions=resubmit(,22)',
    `table=22, priority=1,dl_vlan=${localVlan} actions=strip_vlan,set_tunnel:0x2,output:${greOfport}`,
    'table=22, priority=0 actions=drop',
  ].join('\n');
}

const BR_INT = [
  'table=0, priority=65535,dl_vlan=4095 actions=drop',
  'table=0, priority=10,arp,in_port=5 actions=resubmit(,24)',
  'table=0, priority=0 actions=resubmit(,60)',
  'table=24, priority=2,arp,in_port=5,arp_spa=192.0.2.10 actions=resubmit(,60)',
  'table=24, priority=0 actions=drop',
  'table=60, priority=3 actions=NORMAL',
].join('\n');

const compute = {
  name: 'compute1',
  addresses: ['203.0.113.1'],
  bridges: [
    bridge('br-int', BR_INT, [
      { ofport: 1, name: 'patch-tun', type: 'patch', peer: 'patch-int' },
      { ofport: 5, name: 'tapA', type: 'system', tag: 1 },
      { ofport: 6, name: 'tapB', type: 'system', tag: 1 },
      { ofport: 7, name: 'tapC', type: 'system', tag: 2 },
    ], [{ ofport: 6, vlan: 1, mac: VM_B }]),
    bridge('br-tun', brTun(1), [
      { ofport: 1, name: 'patch-int', type: 'patch', peer: 'patch-tun' },
      { ofport: 2, name: 'gre-net', type: 'gre', remoteIp: '203.0.113.2', localIp: '203.0.113.1', key: 'flow' },
    ]),
  ],
};
const network = {
  name: 'network1',
  addresses: ['203.0.113.2'],
  bridges: [
    bridge('br-int', 'priority=0 actions=NORMAL', [
      { ofport: 1, name: 'patch-tun', type: 'patch', peer: 'patch-int' },
      { ofport: 9, name: 'tapD', type: 'internal', tag: 3 },
    ], [{ ofport: 9, vlan: 3, mac: DHCP }]),
    bridge('br-tun', brTun(3, 4), [
      { ofport: 1, name: 'patch-int', type: 'patch', peer: 'patch-tun' },
      { ofport: 4, name: 'gre-cmp', type: 'gre', remoteIp: '203.0.113.1', localIp: '203.0.113.2', key: 'flow' },
    ]),
  ],
};
const world = buildWalkWorld([compute, network]);

function run(host: string, br: string, inPort: number | string, frame: FrameSpec, options?: WalkOptions): WalkResult {
  return walk(world, { host, bridge: br, inPort, frame }, options);
}

function outputs(result: WalkResult): string[] {
  return result.dispositions
    .filter((d): d is Extract<Disposition, { kind: 'output' }> => d.kind === 'output')
    .map((d) => `${d.host}/${d.bridge}/${d.portName ?? d.port}/${d.vlan ?? '-'}/${d.tunId}`)
    .sort();
}

function rules(result: WalkResult): string[] {
  return result.steps.flatMap((s) => (s.kind === 'rule' ? [`${s.host}/${s.bridge}/${s.table}/${s.priority}`] : s.kind === 'no-match' ? [`${s.host}/${s.bridge}/${s.table}/miss`] : []));
}

describe('walk: Neutron br-int / br-tun over GRE', () => {
  it('unicast to a learned MAC stays on br-int', () => {
    const r = run('compute1', 'br-int', 'tapA', { dl_src: VM_A, dl_dst: VM_B, nw_src: '192.0.2.10', nw_dst: '192.0.2.11', nw_proto: 1 });
    expect(outputs(r)).toEqual(['compute1/br-int/tapB/-/0']);
    expect(rules(r)).toEqual(['compute1/br-int/0/0', 'compute1/br-int/60/3']);
  });

  it('broadcast floods the local VLAN, and through br-tun to the tunnel and into network1', () => {
    const r = run('compute1', 'br-int', 5, { dl_src: VM_A, dl_dst: BROADCAST, arp_op: 1, arp_spa: '192.0.2.10', arp_tpa: '192.0.2.2' });
    expect(outputs(r)).toEqual(['compute1/br-int/br-int/1/0', 'compute1/br-int/tapB/-/0', 'network1/br-int/br-int/3/0', 'network1/br-int/tapD/-/0']);
    expect(rules(r)).toEqual([
      'compute1/br-int/0/10', 'compute1/br-int/24/2', 'compute1/br-int/60/3',
      'compute1/br-tun/0/1', 'compute1/br-tun/2/0', 'compute1/br-tun/22/1',
      'network1/br-tun/0/1', 'network1/br-tun/3/1', 'network1/br-tun/10/1',
      'network1/br-int/0/0',
    ]);
    const bridges = r.steps.filter((s) => s.kind === 'bridge').map((s) => `${s.host}/${s.bridge}/${s.kind === 'bridge' ? s.via : ''}`);
    expect(bridges).toEqual(['compute1/br-int/start', 'compute1/br-tun/patch', 'network1/br-tun/tunnel', 'network1/br-int/patch']);
    expect(r.steps.some((s) => s.kind === 'note' && s.text.startsWith('learn: not applied'))).toBe(true);
  });

  it('stops at the tunnel port with crossTunnels: false, with the tun_id sent', () => {
    const r = run('compute1', 'br-int', 5, { dl_src: VM_A, dl_dst: DHCP, nw_src: '192.0.2.10', nw_dst: '192.0.2.2' }, { crossTunnels: false });
    const tunnel = r.dispositions.find((d) => d.kind === 'output' && d.portName === 'gre-net');
    expect(tunnel).toMatchObject({ kind: 'output', vlan: undefined, tunId: 2n, tunnel: { remoteIp: '203.0.113.2', key: 2n } });
    expect(rules(r)).toContain('compute1/br-tun/20/2');
    const step = r.steps.find((s) => s.kind === 'rule' && s.table === 20);
    expect(step).toMatchObject({ cookie: 0x9e1n, match: `dl_vlan=1,dl_dst=${DHCP}` });
  });

  it('a unicast frame from the tunnel reaches the learned port on network1, untagged', () => {
    const r = run('network1', 'br-tun', 'gre-cmp', { dl_src: VM_A, dl_dst: DHCP, tun_id: 2, nw_src: '192.0.2.10', nw_dst: '192.0.2.2' });
    expect(outputs(r)).toEqual(['network1/br-int/tapD/-/0']);
  });

  it.each<{ name: string; host: string; br: string; inPort: number | string; frame: FrameSpec; reason: string; table?: number }>([
    { name: 'unknown tun_id', host: 'network1', br: 'br-tun', inPort: 4, frame: { dl_src: VM_A, dl_dst: DHCP, tun_id: 9 }, reason: 'rule', table: 3 },
    { name: 'ARP spoofing', host: 'compute1', br: 'br-int', inPort: 5, frame: { dl_src: VM_A, dl_dst: BROADCAST, arp_op: 1, arp_spa: '192.0.2.99' }, reason: 'rule', table: 24 },
    { name: 'tagged frame on an access port', host: 'compute1', br: 'br-int', inPort: 5, frame: { dl_src: VM_A, dl_dst: VM_B, vlan: 7 }, reason: 'normal-vlan' },
    { name: 'dead VLAN 4095', host: 'compute1', br: 'br-int', inPort: 1, frame: { dl_src: VM_A, dl_dst: VM_B, vlan: 4095 }, reason: 'rule', table: 0 },
    { name: 'unknown in_port on br-tun', host: 'compute1', br: 'br-tun', inPort: OFPP.LOCAL, frame: { dl_src: VM_A, dl_dst: VM_B }, reason: 'rule', table: 0 },
    { name: 'FDB says in_port', host: 'compute1', br: 'br-int', inPort: 6, frame: { dl_src: VM_A, dl_dst: VM_B }, reason: 'normal-in-port' },
    { name: 'STP BPDU', host: 'compute1', br: 'br-int', inPort: 6, frame: { dl_src: VM_A, dl_dst: '01:80:c2:00:00:00' }, reason: 'normal-reserved-multicast' },
  ])('dropped: $name', ({ host, br, inPort, frame, reason, table }) => {
    const r = run(host, br, inPort, frame);
    expect(r.dispositions).toHaveLength(1);
    expect(r.dispositions[0]).toMatchObject({ kind: 'drop', host, bridge: br, reason });
    if (table !== undefined) expect(r.dispositions[0]).toMatchObject({ table });
  });

  it('reports a drop in the peer bridge of a branch, beside the branch outputs', () => {
    const r = run('compute1', 'br-int', 7, { dl_src: VM_A, dl_dst: BROADCAST });
    expect(outputs(r)).toEqual(['compute1/br-int/br-int/2/0']);
    expect(r.dispositions.filter((d) => d.kind === 'drop')).toMatchObject([{ bridge: 'br-tun', table: 22, reason: 'rule' }]);
  });

  it('prints like ofproto/trace', () => {
    const text = formatTrace(run('compute1', 'br-int', 'tapA', { dl_src: VM_A, dl_dst: VM_B }));
    expect(text).toContain('bridge("br-int")\n----------------\n in_port=5 (tapA)\n 0. priority 0\n    resubmit(,60)\n60. priority 3\n    NORMAL\n');
    expect(text).toContain('Disposition: output compute1/br-int port 6 (tapB) untagged');
  });
});

describe('walk: actions', () => {
  const ports: WalkPort[] = [
    { ofport: 1, name: 'p1', type: 'system' },
    { ofport: 2, name: 'p2', type: 'system' },
    { ofport: 3, name: 'p3', type: 'internal', tag: 5 },
  ];
  function single(flows: string, frame: FrameSpec | readonly bigint[] = { dl_src: VM_A, dl_dst: VM_B }, options?: WalkOptions, inPort = 1): WalkResult {
    const w = buildWalkWorld([{ name: 'h', addresses: [], bridges: [bridge('br', flows, ports)] }]);
    return walk(w, { host: 'h', bridge: 'br', inPort, frame }, options);
  }
  const fieldsOf = (d: Disposition | undefined): readonly bigint[] => (d?.kind === 'output' ? d.fields : []);
  const only = (r: WalkResult): Disposition | undefined => (r.dispositions.length === 1 ? r.dispositions[0] : undefined);

  it('takes the highest priority, then masks', () => {
    const r = single('priority=5,dl_dst=fa:16:3e:00:00:00/ff:ff:ff:00:00:00 actions=output:2\npriority=9,dl_dst=fa:16:3e:00:00:0c actions=output:3\npriority=1 actions=drop');
    expect(only(r)).toMatchObject({ kind: 'output', port: 2 });
  });

  it('returns from resubmit and keeps going; restores in_port', () => {
    const r = single('priority=1,in_port=1 actions=resubmit(3,1),output:2\ntable=1,priority=1,in_port=3 actions=load:0x7->NXM_NX_REG0[0..3]\ntable=1,priority=0 actions=drop');
    expect(only(r)).toMatchObject({ kind: 'output', port: 2 });
    expect(fieldsOf(only(r))[FIELD.reg0]).toBe(7n);
    expect(fieldsOf(only(r))[FIELD.in_port]).toBe(1n);
  });

  it('modifies VLANs: mod_vlan_vid pushes, push_vlan + set_field, strip_vlan', () => {
    expect(only(single('priority=1 actions=mod_vlan_vid:9,output:2'))).toMatchObject({ vlan: 9 });
    expect(only(single('priority=1 actions=push_vlan:0x8100,set_field:4106->vlan_vid,output:2'))).toMatchObject({ vlan: 10 });
    expect(only(single('priority=1 actions=strip_vlan,output:2', { dl_dst: VM_B, vlan: 3 }))).toMatchObject({ vlan: undefined });
    expect(only(single('priority=1 actions=mod_vlan_pcp:5,output:2', { dl_dst: VM_B, vlan: 3 }))).toMatchObject({ vlan: 3 });
  });

  it('moves and loads fields, sets the tunnel id', () => {
    const r = only(single('priority=1 actions=move:NXM_OF_ETH_SRC[]->NXM_OF_ETH_DST[],set_tunnel64:0x1234567890,load:0xabc->NXM_NX_REG1[16..27],output:2'));
    expect(r).toMatchObject({ kind: 'output', tunId: 0x1234567890n });
    const fields = fieldsOf(r);
    expect(fields[FIELD.dl_dst]).toBe(0xfa163e00000an);
    expect(fields[FIELD.reg0 + 1]).toBe(0xabc0000n);
  });

  it('skips output to the input port, but IN_PORT sends back', () => {
    expect(only(single('priority=1 actions=output:1'))).toMatchObject({ kind: 'drop', reason: 'in-port' });
    expect(only(single('priority=1 actions=IN_PORT'))).toMatchObject({ kind: 'output', port: 1 });
  });

  it('stops the pipeline at exit, and ttl expiry at dec_ttl', () => {
    expect(only(single('priority=1 actions=exit,output:2'))).toMatchObject({ kind: 'drop' });
    expect(only(single('priority=1 actions=dec_ttl,output:2', { dl_dst: VM_B, nw_dst: '192.0.2.1', nw_ttl: 1 }))).toMatchObject({ kind: 'drop', reason: 'ttl-expired' });
    const r = only(single('priority=1 actions=dec_ttl,output:2', { dl_dst: VM_B, nw_dst: '192.0.2.1', nw_ttl: 9 }));
    expect(fieldsOf(r)[FIELD.nw_ttl]).toBe(8n);
  });

  it.each([
    { name: 'controller', flows: 'priority=1 actions=CONTROLLER:128', reason: 'controller' },
    { name: 'ct recirculation', flows: 'priority=1,ip actions=ct(table=1,zone=5)\ntable=1,priority=1 actions=output:2', reason: 'ct' },
    { name: 'group', flows: 'priority=1 actions=group:1', reason: 'stateful-action' },
    { name: 'unknown action', flows: 'priority=1 actions=frobnicate:3', reason: 'unknown-action' },
    { name: 'unmodelled match field', flows: 'priority=5,frobnicate=1 actions=output:2\npriority=1 actions=drop', reason: 'unevaluable-match' },
    { name: 'equal priorities', flows: 'priority=5,dl_src=fa:16:3e:00:00:0a actions=output:2\npriority=5,dl_dst=fa:16:3e:00:00:0b actions=output:3', reason: 'tie' },
    { name: 'two conjunctions at once', flows: 'priority=5,dl_src=fa:16:3e:00:00:0a actions=conjunction(1,1/1)\npriority=5,ip actions=conjunction(2,1/1)\npriority=1,conj_id=1 actions=output:2\npriority=1,conj_id=2 actions=output:3', reason: 'conjunction' },
  ])('undecidable: $name', ({ flows, reason }) => {
    const r = single(flows, { dl_src: VM_A, dl_dst: VM_B, nw_dst: '192.0.2.1' });
    expect(r.dispositions.map((d) => [d.kind, d.kind === 'output' ? d.port : d.reason])).toEqual([['undecidable', reason]]);
  });

  it('evaluates conjunctive matches (all clauses, then conj_id)', () => {
    const flows = [
      'priority=5,dl_src=fa:16:3e:00:00:0a actions=conjunction(9,1/2)',
      'priority=5,tcp,tp_dst=80 actions=conjunction(9,2/2)',
      'priority=5,conj_id=9 actions=output:3',
      'priority=1 actions=output:2',
    ].join('\n');
    const both = single(flows, { dl_src: VM_A, dl_dst: VM_B, nw_dst: '192.0.2.1', nw_proto: 6, tp_dst: 80 });
    expect(only(both)).toMatchObject({ kind: 'output', port: 3 });
    expect(both.steps.some((s) => s.kind === 'note' && s.text.startsWith('conjunction(9)'))).toBe(true);
    const one = single(flows, { dl_src: VM_A, dl_dst: VM_B, nw_dst: '192.0.2.1', nw_proto: 6, tp_dst: 81 });
    expect(only(one)).toMatchObject({ kind: 'output', port: 2 });
  });

  it('recirculates ct(table=N) with an assumed ct_state', () => {
    const r = single('priority=1,ip actions=ct(table=1)\ntable=1,priority=2,ct_state=+trk+est actions=output:2\ntable=1,priority=1 actions=drop', { dl_dst: VM_B, nw_dst: '192.0.2.1' }, { ctState: 'trk|est' });
    expect(only(r)).toMatchObject({ kind: 'output', port: 2 });
  });

  it('drops after 64 nested resubmits', () => {
    expect(only(single('priority=1 actions=resubmit(,0)'))).toMatchObject({ kind: 'drop', reason: 'recursion-too-deep' });
  });

  it('floods on FLOOD except the input port', () => {
    const r = single('priority=1 actions=FLOOD');
    expect(r.dispositions.map((d) => (d.kind === 'output' ? d.portName : d.kind))).toEqual(['p2', 'p3', 'br']);
  });

  it('reports a missing bridge, a missing host and a missing peer', () => {
    expect(walk(world, { host: 'nowhere', bridge: 'br-int', inPort: 1, frame: {} }).dispositions[0]).toMatchObject({ kind: 'undecidable', reason: 'missing-bridge' });
    const lonely = buildWalkWorld([{ name: 'c', addresses: ['203.0.113.1'], bridges: [bridge('br-tun', 'priority=1 actions=output:2', [{ ofport: 2, name: 'gre', type: 'gre', remoteIp: '203.0.113.77' }, { ofport: 3, name: 'patch-x', type: 'patch', peer: 'gone' }])] }]);
    expect(walk(lonely, { host: 'c', bridge: 'br-tun', inPort: 3, frame: {} }).dispositions[0]).toMatchObject({ kind: 'undecidable', reason: 'missing-host' });
    const toPatch = buildWalkWorld([{ name: 'c', addresses: [], bridges: [bridge('br', 'priority=1 actions=output:3', [{ ofport: 3, name: 'patch-x', type: 'patch', peer: 'gone' }])] }]);
    expect(walk(toPatch, { host: 'c', bridge: 'br', inPort: OFPP.LOCAL, frame: {} }).dispositions[0]).toMatchObject({ kind: 'undecidable', reason: 'missing-bridge' });
  });

  it('accepts a prebuilt field vector', () => {
    const fields = buildFrameFields({ dl_src: VM_A, dl_dst: VM_B, nw_src: '192.0.2.1', nw_dst: '192.0.2.2', nw_proto: 6, tp_dst: 80 });
    expect(describeFrame(fields)).toContain('nw_dst=192.0.2.2');
    const r = single('priority=2,tcp,tp_dst=80 actions=output:3\npriority=1 actions=drop', fields);
    expect(only(r)).toMatchObject({ kind: 'output', port: 3 });
  });
});

type BridgeStep = Extract<TraceStep, { kind: 'bridge' }>;

/** The bridge steps of a walk as `host/bridge`, with their index in steps and their entry state. */
function entries(r: WalkResult): { at: number; where: string; via: string; parent: number; vlan: number | undefined; tunId: bigint; tunnel: BridgeStep['tunnel'] }[] {
  return r.steps.flatMap((s, at) => (s.kind === 'bridge' ? [{ at, where: `${s.host}/${s.bridge}`, via: s.via, parent: s.parent, vlan: s.vlan, tunId: s.tunId, tunnel: s.tunnel }] : []));
}

/** Every step names its visit's bridge step, on the same host and bridge. */
function expectVisitsConsistent(r: WalkResult): void {
  r.steps.forEach((s, i) => {
    const owner = r.steps[s.visit];
    expect(owner?.kind, `step ${i}`).toBe('bridge');
    expect(`${owner?.host}/${owner?.bridge}`, `step ${i}`).toBe(`${s.host}/${s.bridge}`);
    if (s.kind === 'bridge') expect(s.visit).toBe(i);
  });
}

describe('walk: the frame as it enters each bridge (parent, VLAN, tun_id)', () => {
  it('Neutron: access-port tagging by NORMAL, set_tunnel + strip_vlan over GRE, mod_vlan_vid into the peer br-int', () => {
    const r = run('compute1', 'br-int', 'tapA', { dl_src: VM_A, dl_dst: BROADCAST, arp_op: 1, arp_spa: '192.0.2.10', arp_tpa: '192.0.2.2' });
    const e = entries(r);
    expect(e.map(({ where, via, vlan, tunId, tunnel }) => ({ where, via, vlan, tunId, tunnel }))).toEqual([
      // untagged from the access port: NORMAL tags it with VLAN 1 on the way to the trunk patch-tun
      { where: 'compute1/br-int', via: 'start', vlan: undefined, tunId: 0n, tunnel: undefined },
      { where: 'compute1/br-tun', via: 'patch', vlan: 1, tunId: 0n, tunnel: undefined },
      // table 22: strip_vlan,set_tunnel:0x2 to gre-net
      { where: 'network1/br-tun', via: 'tunnel', vlan: undefined, tunId: 2n, tunnel: { src: '203.0.113.1', dst: '203.0.113.2' } },
      // table 3: mod_vlan_vid:3; the patch clears tun_id
      { where: 'network1/br-int', via: 'patch', vlan: 3, tunId: 0n, tunnel: undefined },
    ]);
    expect(e.map((x) => x.parent)).toEqual([-1, e[0]?.at, e[1]?.at, e[2]?.at]);
    expect(r.steps.find((s) => s.kind === 'output' && s.host === 'compute1' && s.portName === 'patch-tun')).toMatchObject({ vlan: 1, tunId: 0n });
    expect(r.steps.find((s) => s.kind === 'output' && s.portName === 'gre-net')).toMatchObject({ vlan: undefined, tunId: 2n });
    expect(r.steps.find((s) => s.kind === 'tunnel')).toMatchObject({ portName: 'gre-net', vlan: undefined, tunId: 2n, toHost: 'network1' });
    expect(r.steps.find((s) => s.kind === 'output' && s.host === 'network1' && s.portName === 'patch-int')).toMatchObject({ vlan: 3, tunId: 2n });
    expectVisitsConsistent(r);
  });

  it('output steps carry the VLAN and tun_id of the output disposition', () => {
    const r = run('compute1', 'br-int', 'tapA', { dl_src: VM_A, dl_dst: BROADCAST });
    for (const d of r.dispositions) {
      if (d.kind !== 'output') continue;
      const s = r.steps.find((x) => x.kind === 'output' && x.host === d.host && x.bridge === d.bridge && x.port === d.port);
      expect(s, `${d.host}/${d.bridge}/${d.port}`).toMatchObject({ vlan: d.vlan, tunId: d.tunId });
    }
  });

  it('a start frame keeps its own VLAN, tun_id and tunnel addresses', () => {
    const r = run('network1', 'br-tun', 'gre-cmp', { dl_src: VM_A, dl_dst: DHCP, tun_id: 2, tun_src: '203.0.113.1', tun_dst: '203.0.113.2' });
    expect(entries(r)[0]).toMatchObject({ parent: -1, vlan: undefined, tunId: 2n, tunnel: { src: '203.0.113.1', dst: '203.0.113.2' } });
    const tagged = run('compute1', 'br-tun', 'patch-int', { dl_src: VM_A, dl_dst: DHCP, vlan: 1 });
    expect(entries(tagged)[0]).toMatchObject({ parent: -1, vlan: 1, tunId: 0n, tunnel: undefined });
  });

  // h: br-a (p1 trunk, pa patch to br-b), br-b (pb, q1 trunk); what br-a does to the frame before the patch
  const patched = (flowsA: string, flowsB = 'priority=1 actions=output:1'): ReturnType<typeof buildWalkWorld> =>
    buildWalkWorld([{ name: 'h', addresses: [], bridges: [
      bridge('br-a', flowsA, [{ ofport: 1, name: 'p1', type: 'system' }, { ofport: 2, name: 'pa', type: 'patch', peer: 'pb' }, { ofport: 3, name: 'p3', type: 'system' }, { ofport: 4, name: 'p4', type: 'system' }, { ofport: 5, name: 'pc', type: 'patch', peer: 'pd' }]),
      bridge('br-b', flowsB, [{ ofport: 1, name: 'q1', type: 'system' }, { ofport: 2, name: 'pb', type: 'patch', peer: 'pa' }, { ofport: 3, name: 'pd', type: 'patch', peer: 'pc' }]),
    ] }]);

  it.each<{ name: string; flows: string; frame: FrameSpec; enters: number | undefined; leaves: number | undefined; tunId?: bigint }>([
    { name: 'mod_vlan_vid', flows: 'priority=1 actions=mod_vlan_vid:9,output:2', frame: { dl_dst: VM_B }, enters: undefined, leaves: 9 },
    { name: 'push_vlan + set_field', flows: 'priority=1 actions=push_vlan:0x8100,set_field:4106->vlan_vid,output:2', frame: { dl_dst: VM_B }, enters: undefined, leaves: 10 },
    { name: 'strip_vlan', flows: 'priority=1 actions=strip_vlan,output:2', frame: { dl_dst: VM_B, vlan: 3 }, enters: 3, leaves: undefined },
    { name: 'a register moved into vlan_vid', flows: 'priority=1 actions=load:0x1005->NXM_NX_REG0[],move:NXM_NX_REG0[0..12]->OXM_OF_VLAN_VID[],output:2', frame: { dl_dst: VM_B }, enters: undefined, leaves: 5 },
    { name: 'a rewritten VID', flows: 'priority=1,dl_vlan=3 actions=mod_vlan_vid:7,output:2', frame: { dl_dst: VM_B, vlan: 3 }, enters: 3, leaves: 7 },
    { name: 'tun_id set, then cleared by the patch', flows: 'priority=1 actions=set_field:0x7->tun_id,output:2', frame: { dl_dst: VM_B }, enters: undefined, leaves: undefined, tunId: 7n },
  ])('patch crossing after $name', ({ flows, frame, enters, leaves, tunId }) => {
    const r = walk(patched(flows), { host: 'h', bridge: 'br-a', inPort: 'p1', frame });
    const e = entries(r);
    expect(e).toMatchObject([
      { where: 'h/br-a', parent: -1, vlan: enters, tunId: 0n },
      { where: 'h/br-b', via: 'patch', parent: e[0]?.at, vlan: leaves, tunId: 0n },
    ]);
    expect(r.steps.find((s) => s.kind === 'output' && s.portName === 'pa')).toMatchObject({ vlan: leaves, tunId: tunId ?? 0n });
    expect(r.dispositions).toMatchObject([{ kind: 'output', bridge: 'br-b', portName: 'q1', vlan: leaves }]);
  });

  it('a resubmit chain, then a patch crossing and a hairpin back into the first bridge: each step names its visit', () => {
    const r = walk(patched(
      [
        'table=0, priority=2,in_port=5 actions=output:4',
        'table=0, priority=1 actions=resubmit(,1),output:3',
        'table=1, priority=1 actions=resubmit(,2)',
        'table=2, priority=1 actions=output:2',
      ].join('\n'),
      'table=0, priority=1 actions=resubmit(,5)\ntable=5, priority=1 actions=output:1,output:3',
    ), { host: 'h', bridge: 'br-a', inPort: 'p1', frame: { dl_dst: VM_B } });
    const e = entries(r);
    expect(e.map((x) => `${x.where}/${x.via}`)).toEqual(['h/br-a/start', 'h/br-b/patch', 'h/br-a/patch']);
    expect(e.map((x) => x.parent)).toEqual([-1, e[0]?.at, e[1]?.at]);
    expectVisitsConsistent(r);
    // output:3 of the first br-a comes after the hairpin br-a's output:4, at a smaller depth than the resubmits
    const p3 = r.steps.find((s) => s.kind === 'output' && s.portName === 'p3');
    const p4 = r.steps.find((s) => s.kind === 'output' && s.portName === 'p4');
    expect(p3?.visit).toBe(e[0]?.at);
    expect(p4?.visit).toBe(e[2]?.at);
    expect(r.steps.indexOf(p3 as TraceStep)).toBeGreaterThan(r.steps.indexOf(p4 as TraceStep));
  });

  it('GRE crossing after set_field tun_id: the receiver enters with that key and the tunnel addresses', () => {
    const gre = (remoteIp: string, localIp: string): WalkPort => ({ ofport: 2, name: `gre-${remoteIp}`, type: 'gre', remoteIp, localIp, key: 'flow' });
    const w = buildWalkWorld([
      { name: 'a', addresses: ['203.0.113.1'], bridges: [bridge('br-tun', 'priority=1,in_port=1,dl_vlan=4 actions=pop_vlan,set_field:0x49->tun_id,output:2', [{ ofport: 1, name: 'patch-int', type: 'system' }, gre('203.0.113.2', '203.0.113.1')])] },
      { name: 'b', addresses: ['203.0.113.2'], bridges: [bridge('br-tun', 'priority=1,in_port=2,tun_id=0x49 actions=mod_vlan_vid:3,output:1', [{ ofport: 1, name: 'patch-int', type: 'system' }, gre('203.0.113.1', '203.0.113.2')])] },
    ]);
    const r = walk(w, { host: 'a', bridge: 'br-tun', inPort: 'patch-int', frame: { dl_dst: VM_B, vlan: 4 } });
    const e = entries(r);
    expect(e).toEqual([
      { at: 0, where: 'a/br-tun', via: 'start', parent: -1, vlan: 4, tunId: 0n, tunnel: undefined },
      { at: e[1]?.at, where: 'b/br-tun', via: 'tunnel', parent: 0, vlan: undefined, tunId: 0x49n, tunnel: { src: '203.0.113.1', dst: '203.0.113.2' } },
    ]);
    expect(r.steps.find((s) => s.kind === 'output' && s.host === 'a')).toMatchObject({ vlan: undefined, tunId: 0x49n });
    expect(r.steps.find((s) => s.kind === 'tunnel')).toMatchObject({ vlan: undefined, tunId: 0x49n, toHost: 'b' });
    expect(r.dispositions).toMatchObject([{ kind: 'output', host: 'b', portName: 'patch-int', vlan: 3, tunId: 0x49n }]);
    expectVisitsConsistent(r);
  });

  it('a fixed-key tunnel port sends its key whatever the frame carries', () => {
    const w = buildWalkWorld([
      { name: 'a', addresses: ['203.0.113.1'], bridges: [bridge('br', 'priority=1 actions=set_field:0x5->tun_id,output:2', [{ ofport: 1, name: 'p1', type: 'system' }, { ofport: 2, name: 'vx', type: 'vxlan', remoteIp: '203.0.113.2', key: '0x64' }])] },
      { name: 'b', addresses: ['203.0.113.2'], bridges: [bridge('br', 'priority=1 actions=output:1', [{ ofport: 1, name: 'p1', type: 'system' }, { ofport: 2, name: 'vx', type: 'vxlan', remoteIp: '203.0.113.1', key: '0x64' }])] },
    ]);
    const r = walk(w, { host: 'a', bridge: 'br', inPort: 1, frame: { dl_dst: VM_B } });
    expect(r.steps.find((s) => s.kind === 'output' && s.host === 'a')).toMatchObject({ tunId: 0x64n });
    expect(entries(r)[1]).toMatchObject({ where: 'b/br', tunId: 0x64n });
  });

  it('records nothing without steps', () => {
    expect(walk(world, { host: 'compute1', bridge: 'br-int', inPort: 'tapA', frame: { dl_dst: BROADCAST } }, { steps: false }).steps).toEqual([]);
  });
});

describe('walk: the seed walk-through (br-tun of the network node)', () => {
  const seed = readFileSync(new URL('../../test/fixtures/openflow/seed-dump-flows_br-tun.txt', import.meta.url), 'utf8');
  const flows = parseDumpFlows(seed).value;
  const net = buildWalkWorld([{
    name: 'network01',
    addresses: ['203.0.113.2'],
    bridges: [{ name: 'br-tun', flows, ports: [
      { ofport: 1, name: 'patch-int', type: 'system' },
      { ofport: 2, name: 'gre-1', type: 'gre', remoteIp: '203.0.113.1', key: 'flow' },
    ], fdb: [{ ofport: 1, vlan: 1, mac: 'fe:13:2e:45:76:dd' }] }],
  }]);
  it.each([
    { name: 'multicast on tun_id 2 maps to VLAN 1 on port 1', inPort: 2, frame: { tun_id: 2, dl_dst: BROADCAST }, want: { port: 1, vlan: 1 } },
    { name: 'to the DHCP server', inPort: 2, frame: { tun_id: 2, dl_dst: 'fe:13:2e:45:76:dd' }, want: { port: 1, vlan: 1 } },
    { name: 'VLAN 1 from port 1 is tunnelled with tun_id 2', inPort: 1, frame: { vlan: 1, dl_dst: 'fe:33:fe:ff:ee:3d' }, want: { port: 2, vlan: 1, tunId: 2n } },
  ])('$name', ({ inPort, frame, want }) => {
    const r = walk(net, { host: 'network01', bridge: 'br-tun', inPort, frame }, { crossTunnels: false });
    expect(r.dispositions).toMatchObject([{ kind: 'output', ...want }]);
  });
  it('drops the rest', () => {
    expect(walk(net, { host: 'network01', bridge: 'br-tun', inPort: 2, frame: { tun_id: 5, dl_dst: BROADCAST } }).dispositions).toMatchObject([{ kind: 'drop', reason: 'rule', rule: { priority: 1 } }]);
  });
});

describe('buildFrameFields', () => {
  it.each([
    { name: 'bad MAC', spec: { dl_src: 'fa:16:3e:00:00' }, field: 'dl_src' },
    { name: 'bad VID', spec: { vlan: 4096 }, field: 'vlan' },
    { name: 'bad address', spec: { nw_dst: '192.0.2.300' }, field: 'nw_dst' },
    { name: 'bad register', spec: { regs: { 16: 1 } }, field: 'reg16' },
    { name: 'bad ct_state', spec: { ct_state: '+bogus' }, field: 'ct_state' },
  ])('rejects a $name with a typed error', ({ spec, field }) => {
    expect(() => buildFrameFields(spec)).toThrow(FrameSpecError);
    try {
      buildFrameFields(spec);
    } catch (error) {
      expect(error).toMatchObject({ code: 'bad-value', field });
    }
  });
});

describe('walk on random rules', () => {
  const MATCHES = ['', 'in_port=1', 'in_port=2', 'ip', 'arp', 'dl_vlan=1', 'vlan_tci=0x0000', 'dl_dst=01:00:00:00:00:00/01:00:00:00:00:00', 'reg0=0x1', 'tun_id=0x2', 'metadata=0x1/0x1', 'frob=1', 'conj_id=3'];
  const ACTIONS = ['output:1', 'output:2', 'output:3', 'NORMAL', 'FLOOD', 'IN_PORT', 'LOCAL', 'drop', 'resubmit(,1)', 'resubmit(2,0)', 'goto_table:2', 'mod_vlan_vid:1', 'strip_vlan', 'push_vlan:0x8100', 'set_field:4097->vlan_vid', 'load:0x1->NXM_NX_REG0[]', 'move:NXM_NX_REG0[]->NXM_NX_REG1[]', 'set_tunnel:0x2', 'write_metadata:0x1/0x1', 'learn(table=1,NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[])', 'ct(table=1)', 'CONTROLLER:64', 'group:1', 'frob', 'exit', 'dec_ttl', 'conjunction(3,1/1)', 'clone(output:2)', 'output:NXM_NX_REG0[0..15]'];
  const rule = fc.record({ table: fc.integer({ min: 0, max: 2 }), priority: fc.integer({ min: 0, max: 3 }), match: fc.subarray(MATCHES, { maxLength: 3 }), actions: fc.array(fc.constantFrom(...ACTIONS), { maxLength: 4 }) });
  const ports: WalkPort[] = [
    { ofport: 1, name: 'p1', type: 'system', tag: 1 },
    { ofport: 2, name: 'p2', type: 'patch', peer: 'q2' },
    { ofport: 3, name: 'gre', type: 'gre', remoteIp: '203.0.113.2', key: 'flow' },
  ];
  it('always ends in dispositions and never throws', () => {
    fc.assert(
      fc.property(fc.array(rule, { maxLength: 12 }), fc.array(rule, { maxLength: 6 }), fc.constantFrom<FrameSpec>({ dl_dst: BROADCAST }, { dl_dst: VM_B, vlan: 1 }, { dl_dst: VM_A, nw_dst: '192.0.2.1', nw_ttl: 1 }), (rules, peerRules, frame) => {
        const dump = (rs: typeof rules): string => rs.map((r) => `table=${r.table},priority=${r.priority}${r.match.length > 0 ? `,${r.match.join(',')}` : ''} actions=${r.actions.join(',') || 'drop'}`).join('\n');
        const w = buildWalkWorld([
          { name: 'a', addresses: ['203.0.113.1'], bridges: [bridge('br', dump(rules), ports), bridge('br2', dump(peerRules), [{ ofport: 2, name: 'q2', type: 'patch', peer: 'p2' }, { ofport: 3, name: 'gre', type: 'gre', remoteIp: '203.0.113.1', key: 'flow' }])] },
          { name: 'b', addresses: ['203.0.113.2'], bridges: [bridge('br', dump(peerRules), [{ ofport: 3, name: 'gre', type: 'gre', remoteIp: '203.0.113.1', key: 'flow' }])] },
        ]);
        const r = walk(w, { host: 'a', bridge: 'br', inPort: 1, frame });
        expect(r.dispositions.length).toBeGreaterThan(0);
        expectVisitsConsistent(r);
        r.steps.forEach((s, i) => {
          if (s.kind === 'bridge') expect(s.parent === -1 ? i === 0 : s.parent < i && r.steps[s.parent]?.kind === 'bridge').toBe(true);
        });
        formatTrace(r);
      }),
      { numRuns: 500 },
    );
  });
});
