import { readdirSync, readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FIELD, OFPP } from './fields.js';
import { parseDumpFlows, parseFlowLine } from './ovs-ofctl-dump-flows.js';
import type { OfAction, OfFlow } from './types.js';

const FIXTURES = new URL('../../test/fixtures/openflow/', import.meta.url);
const fixture = (name: string): string => readFileSync(new URL(name, FIXTURES), 'utf8');
const dumps = readdirSync(FIXTURES).filter((f) => f.includes('dump-flows'));

function flow(text: string): OfFlow {
  const r = parseFlowLine(text, 1);
  if (!r.ok) throw new Error(r.message);
  return r.flow;
}

/** Field slot → [value, mask] of a flow's match, combined per slot. */
function slots(f: OfFlow): Record<number, [bigint, bigint]> {
  const out: Record<number, [bigint, bigint]> = {};
  for (const m of f.match) {
    if (m.field === undefined) continue;
    const [v, k] = out[m.field] ?? [0n, 0n];
    out[m.field] = [v | m.value, k | m.mask];
  }
  return out;
}

describe('parseDumpFlows on real ovs-ofctl output', () => {
  it.each(dumps)('%s: every line is a rule, nothing unknown', (name) => {
    const text = fixture(name);
    const parsed = parseDumpFlows(text, { source: name });
    expect(parsed.issues).toEqual([]);
    const ruleLines = text.split('\n').filter((l) => l.includes('actions='));
    expect(parsed.value).toHaveLength(ruleLines.length);
    expect(parsed.value.every((f) => !f.hasUnknown)).toBe(true);
  });

  it('reads the same br-tun rules from OpenFlow 1.0, 1.3, --no-stats and --names forms', () => {
    const key = (f: OfFlow): string => `${f.table}/${f.priority}/${f.match.filter((m) => m.field !== FIELD.in_port).map((m) => m.text).join(',')}`;
    const forms = ['dump-flows_br-tun.txt', 'dump-flows_no-stats_br-tun.txt', 'dump-flows_of13_br-tun.txt', 'dump-flows_names_br-tun.txt', 'dump-flows_of13_no-stats_names_br-tun.txt'];
    const keys = forms.map((f) => parseDumpFlows(fixture(f)).value.map(key).sort());
    for (const k of keys) expect(k).toEqual(keys[0]);
    const named = parseDumpFlows(fixture('dump-flows_names_br-tun.txt')).value;
    expect(named[0]?.match[0]).toMatchObject({ field: FIELD.in_port, portName: 'patch-int' });
    const toGre = named.find((f) => f.table === 20 && f.priority === 2);
    expect(toGre?.actions.at(-1)).toMatchObject({ type: 'output', port: undefined, portName: 'gre-c6336402' });
  });

  it('reads counters, cookies, flags and timeouts', () => {
    const stats = parseDumpFlows(fixture('dump-flows_br-tun.txt')).value[0];
    expect(stats).toMatchObject({ table: 0, priority: 1, cookie: 0n, nPackets: 2n, nBytes: 68n });
    expect(stats?.durationS).toBeGreaterThan(0);
    const of13 = parseDumpFlows(fixture('dump-flows_of13_br-int.txt')).value;
    expect(of13[0]).toMatchObject({ cookie: 0x5a1b2c3d4e5f6071n, priority: 10, flags: ['reset_counts'] });
    const timed = parseDumpFlows(fixture('dump-flows_br-all.txt')).value.find((f) => f.priority === 69);
    expect(timed).toMatchObject({ idleTimeout: 60, hardTimeout: 120 });
    const noStats = parseDumpFlows(fixture('dump-flows_no-stats_br-tun.txt')).value;
    expect(noStats.map((f) => f.table)).toEqual([0, 0, 0, 0, 2, 2, 3, 3, 4, 4, 10, 20, 20, 22, 22, 22]);
    expect(noStats[0]?.nPackets).toBeUndefined();
  });

  it('reads the seed walk-through (no leading blank, OpenFlow 1.0 header)', () => {
    const parsed = parseDumpFlows(fixture('seed-dump-flows_br-tun.txt'));
    expect(parsed.issues).toEqual([]);
    expect(parsed.value.map((f) => [f.priority, f.matchText, f.actionsText])).toEqual([
      [3, 'tun_id=0x2,dl_dst=01:00:00:00:00:00/01:00:00:00:00:00', 'mod_vlan_vid:1,output:1'],
      [3, 'tun_id=0x2,dl_dst=fe:13:2e:45:76:dd', 'mod_vlan_vid:1,NORMAL'],
      [3, 'tun_id=0x2,dl_dst=fe:33:fe:ff:ee:3d', 'mod_vlan_vid:1,NORMAL'],
      [4, 'in_port=1,dl_vlan=1', 'set_tunnel:0x2,NORMAL'],
      [1, '', 'drop'],
    ]);
    expect(slots(parsed.value[3] as OfFlow)).toEqual({ [FIELD.in_port]: [1n, 0xffffffffn], [FIELD.vlan_tci]: [0x1001n, 0x1fffn] });
    expect(parsed.value[0]?.nPackets).toBe(23n);
  });

  it('keeps a line it cannot read as an issue and the rest of the dump', () => {
    const parsed = parseDumpFlows('NXST_FLOW reply (xid=0x4):\n cookie=0x0, table=0, priority=1 actions=drop\n garbage here\n priority=2,frobnicate=3 actions=frob:1,output:2\n');
    expect(parsed.value).toHaveLength(2);
    expect(parsed.issues.map((i) => [i.line, i.message])).toEqual([
      [3, 'no actions= in a flow line'],
      [4, "match field 'frobnicate' is not modelled"],
      [4, "unknown action 'frob:1'"],
    ]);
    expect(parsed.value[1]?.hasUnknown).toBe(true);
    expect(parsed.value[1]?.actions[0]).toEqual({ type: 'unknown', text: 'frob:1' });
  });

  it('never throws on random lines', () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom(...'actions=priority,=0x1/:.()[]->"table ip tcp reg0 load move NXM_NX_REG0'.split(' ').flatMap((w) => [w, ...w.split('')])), maxLength: 80 }), (line) => {
        const parsed = parseDumpFlows(line);
        expect(parsed.value.length + parsed.issues.length).toBeGreaterThanOrEqual(line.trim() === '' ? 0 : 1);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('match terms', () => {
  it.each([
    { name: 'in_port number', text: 'in_port=5', field: FIELD.in_port, value: 5n, mask: 0xffffffffn },
    { name: 'in_port LOCAL', text: 'in_port=LOCAL', field: FIELD.in_port, value: BigInt(OFPP.LOCAL), mask: 0xffffffffn },
    { name: 'dl_dst masked', text: 'dl_dst=01:00:00:00:00:00/01:00:00:00:00:00', field: FIELD.dl_dst, value: 0x010000000000n, mask: 0x010000000000n },
    { name: 'dl_src', text: 'dl_src=fa:16:3e:00:00:01', field: FIELD.dl_src, value: 0xfa163e000001n, mask: 0xffffffffffffn },
    { name: 'dl_vlan', text: 'dl_vlan=10', field: FIELD.vlan_tci, value: 0x100an, mask: 0x1fffn },
    { name: 'dl_vlan none', text: 'dl_vlan=0xffff', field: FIELD.vlan_tci, value: 0n, mask: 0xffffn },
    { name: 'dl_vlan_pcp', text: 'dl_vlan_pcp=3', field: FIELD.vlan_tci, value: 0x7000n, mask: 0xf000n },
    { name: 'vlan_tci masked', text: 'vlan_tci=0x1000/0x1000', field: FIELD.vlan_tci, value: 0x1000n, mask: 0x1000n },
    { name: 'vlan_vid OXM', text: 'vlan_vid=4097', field: FIELD.vlan_tci, value: 0x1001n, mask: 0x1fffn },
    { name: 'dl_type', text: 'dl_type=0x88cc', field: FIELD.dl_type, value: 0x88ccn, mask: 0xffffn },
    { name: 'nw_src prefix', text: 'nw_src=192.0.2.0/24', field: FIELD.nw_src, value: 0xc0000200n, mask: 0xffffff00n },
    { name: 'nw_src dotted mask', text: 'nw_src=192.0.2.0/255.255.255.128', field: FIELD.nw_src, value: 0xc0000200n, mask: 0xffffff80n },
    { name: 'arp_tpa', text: 'arp_tpa=192.0.2.0/24', field: FIELD.nw_dst, value: 0xc0000200n, mask: 0xffffff00n },
    { name: 'arp_op', text: 'arp_op=1', field: FIELD.nw_proto, value: 1n, mask: 0xffn },
    { name: 'tp_src masked', text: 'tp_src=0x400/0xfc00', field: FIELD.tp_src, value: 0x400n, mask: 0xfc00n },
    { name: 'icmp_type', text: 'icmp_type=8', field: FIELD.tp_src, value: 8n, mask: 0xffffn },
    { name: 'ipv6_dst prefix', text: 'ipv6_dst=2001:db8::/64', field: FIELD.ipv6_dst, value: 0x20010db8n << 96n, mask: ((1n << 64n) - 1n) << 64n },
    { name: 'tun_id masked', text: 'tun_id=0x5/0xff', field: FIELD.tun_id, value: 5n, mask: 0xffn },
    { name: 'tunnel_id', text: 'tunnel_id=0x10', field: FIELD.tun_id, value: 0x10n, mask: (1n << 64n) - 1n },
    { name: 'metadata masked', text: 'metadata=0x1/0xff', field: FIELD.metadata, value: 1n, mask: 0xffn },
    { name: 'reg15', text: 'reg15=0x1', field: FIELD.reg0 + 15, value: 1n, mask: 0xffffffffn },
    { name: 'ct_state flags', text: 'ct_state=-new+est+trk', field: FIELD.ct_state, value: 0x22n, mask: 0x23n },
    { name: 'ct_state hex', text: 'ct_state=0x21/0x21', field: FIELD.ct_state, value: 0x21n, mask: 0x21n },
    { name: 'nw_frag later', text: 'nw_frag=later', field: FIELD.nw_frag, value: 3n, mask: 3n },
    { name: 'tcp_flags', text: 'tcp_flags=+syn-ack', field: FIELD.tcp_flags, value: 2n, mask: 0x12n },
    { name: 'ip_dscp', text: 'ip_dscp=8', field: FIELD.nw_tos, value: 32n, mask: 0xfcn },
  ])('$name', ({ text, field, value, mask }) => {
    const f = flow(`priority=1,${text} actions=drop`);
    expect(slots(f)[field]).toEqual([value, mask]);
  });

  it.each([
    ['tcp6', 0x86ddn, 6n],
    ['icmp', 0x0800n, 1n],
    ['sctp', 0x0800n, 132n],
    ['udp6', 0x86ddn, 17n],
  ])('shorthand %s', (word, dlType, proto) => {
    const s = slots(flow(`${word} actions=drop`));
    expect(s[FIELD.dl_type]).toEqual([dlType, 0xffffn]);
    expect(s[FIELD.nw_proto]).toEqual([proto, 0xffn]);
  });
});

describe('actions', () => {
  const actions = (text: string): OfAction[] => flow(`priority=1 actions=${text}`).actions;
  it.each<{ name: string; text: string; want: Partial<OfAction> & { type: OfAction['type'] } }>([
    { name: 'output number', text: 'output:2', want: { type: 'output', port: 2 } },
    { name: 'output name', text: 'output:"patch-int"', want: { type: 'output', portName: 'patch-int' } },
    { name: 'NORMAL', text: 'NORMAL', want: { type: 'output', port: OFPP.NORMAL } },
    { name: 'LOCAL', text: 'LOCAL', want: { type: 'output', port: OFPP.LOCAL } },
    { name: 'IN_PORT', text: 'IN_PORT', want: { type: 'output', port: OFPP.IN_PORT } },
    { name: 'FLOOD', text: 'FLOOD', want: { type: 'output', port: OFPP.FLOOD } },
    { name: 'CONTROLLER:128', text: 'CONTROLLER:128', want: { type: 'controller', maxLen: 128 } },
    { name: 'controller()', text: 'controller(reason=no_match,max_len=64)', want: { type: 'controller', maxLen: 64 } },
    { name: 'output field', text: 'output:NXM_NX_REG5[0..15]', want: { type: 'output-field', src: { text: 'NXM_NX_REG5[0..15]', field: FIELD.reg0 + 5, ofs: 0, bits: 16 } } },
    { name: 'resubmit(,T)', text: 'resubmit(,22)', want: { type: 'resubmit', port: undefined, table: 22 } },
    { name: 'resubmit(P,T)', text: 'resubmit(1,3)', want: { type: 'resubmit', port: 1, table: 3 } },
    { name: 'resubmit:P', text: 'resubmit:2', want: { type: 'resubmit', port: 2, table: undefined } },
    { name: 'goto_table', text: 'goto_table:1', want: { type: 'goto-table', table: 1 } },
    { name: 'mod_vlan_vid', text: 'mod_vlan_vid:1', want: { type: 'set-vlan-vid', vid: 1, pushIfNeeded: true } },
    { name: 'push_vlan', text: 'push_vlan:0x8100', want: { type: 'push-vlan', ethertype: 0x8100 } },
    { name: 'set_field vlan_vid', text: 'set_field:4097->vlan_vid', want: { type: 'set-field', name: 'vlan_vid', value: 0x1001n, mask: 0x1fffn } },
    { name: 'strip_vlan', text: 'strip_vlan', want: { type: 'pop-vlan' } },
    { name: 'set_tunnel', text: 'set_tunnel:0x2', want: { type: 'set-field', name: 'tun_id', value: 2n } },
    { name: 'set_tunnel64', text: 'set_tunnel64:0x1234567890', want: { type: 'set-field', name: 'tun_id', value: 0x1234567890n } },
    { name: 'set_field tun_id', text: 'set_field:0x3->tun_id', want: { type: 'set-field', name: 'tun_id', value: 3n } },
    { name: 'load reg bits', text: 'load:0x5->NXM_NX_REG0[0..7]', want: { type: 'set-field', value: 5n, mask: 0xffn } },
    { name: 'load high bits', text: 'load:0x1->NXM_NX_REG1[16..31]', want: { type: 'set-field', value: 0x10000n, mask: 0xffff0000n } },
    { name: 'set_field masked reg', text: 'set_field:0x5/0xff->reg0', want: { type: 'set-field', value: 5n, mask: 0xffn } },
    { name: 'move', text: 'move:NXM_NX_REG0[0..15]->NXM_NX_REG1[16..31]', want: { type: 'move', src: { text: 'NXM_NX_REG0[0..15]', field: FIELD.reg0, ofs: 0, bits: 16 }, dst: { text: 'NXM_NX_REG1[16..31]', field: FIELD.reg0 + 1, ofs: 16, bits: 16 } } },
    { name: 'write_metadata', text: 'write_metadata:0x2/0xff', want: { type: 'write-metadata', value: 2n, mask: 0xffn } },
    { name: 'mod_dl_src', text: 'mod_dl_src:fa:16:3e:00:00:09', want: { type: 'set-field', name: 'dl_src', value: 0xfa163e000009n } },
    { name: 'mod_nw_dst', text: 'mod_nw_dst:198.51.100.9', want: { type: 'set-field', name: 'nw_dst', value: 0xc6336409n } },
    { name: 'dec_ttl', text: 'dec_ttl', want: { type: 'dec-ttl' } },
    { name: 'ct', text: 'ct(commit,zone=NXM_NX_REG6[0..15],exec(load:0x1->NXM_NX_CT_MARK[],nat(src=192.0.2.1-192.0.2.10)))', want: { type: 'ct', commit: true, table: undefined, zone: 'NXM_NX_REG6[0..15]', nat: true } },
    { name: 'ct table', text: 'ct(table=2,zone=5)', want: { type: 'ct', commit: false, table: 2, zone: '5', nat: false } },
    { name: 'learn', text: 'learn(table=20,priority=1,NXM_OF_VLAN_TCI[0..11],output:OXM_OF_IN_PORT[])', want: { type: 'learn', table: 20 } },
    { name: 'note', text: 'note:68.6f.70.00.00.00', want: { type: 'note', hex: '68.6f.70.00.00.00' } },
    { name: 'conjunction', text: 'conjunction(100,2/2)', want: { type: 'conjunction', id: 100, clause: 2, clauses: 2 } },
    { name: 'multipath', text: 'multipath(symmetric_l4,1024,hrw,2,0,NXM_NX_REG0[0..1])', want: { type: 'stateful', name: 'multipath' } },
    { name: 'group', text: 'group:1', want: { type: 'stateful', name: 'group' } },
    { name: 'check_pkt_larger', text: 'check_pkt_larger(1500)->NXM_NX_REG0[0]', want: { type: 'stateful', name: 'check_pkt_larger' } },
    { name: 'set_queue', text: 'set_queue:2', want: { type: 'no-op', name: 'set_queue' } },
    { name: 'drop', text: 'drop', want: { type: 'drop' } },
    { name: 'unknown', text: 'frobnicate(1)', want: { type: 'unknown' } },
  ])('$name', ({ text, want }) => {
    const [first, ...rest] = actions(text);
    expect(rest).toEqual([]);
    expect(first).toMatchObject({ ...want, text });
  });

  it('splits nested lists only at the top level', () => {
    expect(actions('clone(output:1,output:2),bundle(eth_src,0,active_backup,ofport,members:1,2),output:3').map((a) => a.type)).toEqual(['clone', 'stateful', 'output']);
    const clone = actions('clone(output:1,output:2)')[0];
    expect(clone?.type === 'clone' ? clone.actions.map((a) => a.text) : []).toEqual(['output:1', 'output:2']);
  });
});
