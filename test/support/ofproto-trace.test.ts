import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { buildFrameFields } from '../../src/openflow/frame.js';
import { flowFromFields, parseDatapathActions, parseOfprotoTrace } from './ofproto-trace.js';

const fixture = (name: string): string => readFileSync(new URL(`../fixtures/openflow/${name}`, import.meta.url), 'utf8');

describe('parseOfprotoTrace on real OVS 3.1 output', () => {
  it('reads rules per bridge, cookies and the tunnel output', () => {
    const t = parseOfprotoTrace(fixture('ofproto-trace_unicast-flood-gre.txt'));
    expect(t.rules.map((r) => `${r.bridge}/${r.table}/${r.priority}/${r.cookie}/${r.match}`)).toEqual([
      'br-int/0/0/0/',
      'br-tun/0/1/0/in_port=1',
      'br-tun/2/0/0/dl_dst=00:00:00:00:00:00/01:00:00:00:00:00',
      'br-tun/20/0/119/',
      'br-tun/22/1/0/dl_vlan=1',
      'br-phy/0/0/0/',
    ]);
    expect(t.outputs).toEqual([
      { kind: 'port', odpPort: 1, vlan: 1 },
      { kind: 'port', odpPort: 4, vlan: undefined },
      { kind: 'tunnel', src: '203.0.113.1', dst: '203.0.113.2', key: 2n, vlan: undefined },
      { kind: 'port', odpPort: 6, vlan: undefined },
    ]);
  });

  it('reads a miss-free trace from a tunnel and a NORMAL drop', () => {
    const gre = parseOfprotoTrace(fixture('ofproto-trace_from-gre.txt'));
    expect(gre.rules.map((r) => `${r.bridge}/${r.table}`)).toEqual(['br-tun/0', 'br-tun/3', 'br-tun/10', 'br-int/0']);
    expect(gre.notes).toContain('suppressing side effects, so learn action ignored');
    const drop = parseOfprotoTrace(fixture('ofproto-trace_access-vlan-drop.txt'));
    expect(drop.datapathActions).toBe('drop');
    expect(drop.outputs).toEqual([]);
    expect(drop.notes[0]).toMatch(/^dropping VLAN 7 tagged packet/);
  });

  it('follows VLAN pushes and pops, and clones', () => {
    expect(parseDatapathActions('pop_vlan,3,push_vlan(vid=5,pcp=0),4,clone(push_vlan(vid=9,pcp=0),7),8', 2)).toEqual([
      { kind: 'port', odpPort: 3, vlan: undefined },
      { kind: 'port', odpPort: 4, vlan: 5 },
      { kind: 'port', odpPort: 7, vlan: 9 },
      { kind: 'port', odpPort: 8, vlan: 5 },
    ]);
  });

  it('writes a frame as a flow ofproto/trace reads', () => {
    expect(flowFromFields(buildFrameFields({ dl_src: '02:00:00:00:00:01', dl_dst: '02:00:00:00:00:02', vlan: 3, nw_src: '192.0.2.1', nw_dst: '192.0.2.2', nw_proto: 6, tp_dst: 22 }), 5))
      .toBe('in_port=5,dl_vlan=3,dl_vlan_pcp=0,dl_src=02:00:00:00:00:01,dl_dst=02:00:00:00:00:02,dl_type=0x0800,nw_src=192.0.2.1,nw_dst=192.0.2.2,nw_proto=6,nw_ttl=64,nw_tos=0,tcp_src=0,tcp_dst=22');
  });
});
