import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { OFPP } from './fields.js';
import { parseDpifShow } from './ovs-appctl-dpif-show.js';
import { parseFdbShow } from './ovs-appctl-fdb-show.js';
import { parseDumpPortsDesc, parseOfctlShow } from './ovs-ofctl-show.js';

const FIXTURES = new URL('../../test/fixtures/openflow/', import.meta.url);
const fixture = (name: string): string => readFileSync(new URL(name, FIXTURES), 'utf8');

describe('parseOfctlShow / parseDumpPortsDesc', () => {
  it.each(['show_br-tun.txt', 'show_of13_br-tun.txt', 'dump-ports-desc_br-tun.txt', 'dump-ports-desc_of13_br-tun.txt'])('%s: br-tun ports', (name) => {
    const parsed = parseOfctlShow(fixture(name));
    expect(parsed.issues).toEqual([]);
    expect(parsed.value.ports.map((p) => [p.ofport, p.name])).toEqual([
      [1, 'patch-int'],
      [2, 'gre-c6336402'],
      [3, 'vxlan-c6336403'],
      [OFPP.LOCAL, 'br-tun'],
    ]);
    const local = parsed.value.ports[3];
    expect(local).toMatchObject({ config: ['PORT_DOWN'], state: ['LINK_DOWN'], current: ['10GB-FD', 'COPPER'], speedMbps: 10000, maxSpeedMbps: 0 });
    expect(local?.mac).toMatch(/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/);
  });

  it('reads the datapath id and tables of show', () => {
    const show = parseOfctlShow(fixture('show_br-tun.txt')).value;
    expect(show.datapathId).toBeTypeOf('bigint');
    expect(show.nTables).toBe(254);
    expect(show.capabilities).toContain('FLOW_STATS');
    expect(parseDumpPortsDesc(fixture('dump-ports-desc_of13_br-int.txt')).value.map((p) => p.name)).toEqual(['patch-tun', 'tap1', 'tap2', 'br-int']);
  });

  it('keeps what it cannot read as issues', () => {
    const parsed = parseOfctlShow(' 1(a): addr:00:00:00:00:00:01\n     config:     0\n     wobble: 3\n');
    expect(parsed.value.ports).toHaveLength(1);
    expect(parsed.issues.map((i) => i.line)).toEqual([3]);
  });
});

describe('parseFdbShow', () => {
  it('reads the learned entries of a real table', () => {
    const parsed = parseFdbShow(fixture('fdb-show_br-int.txt'));
    expect(parsed.issues).toEqual([]);
    expect(parsed.value).toEqual([
      { ofport: 5, portName: undefined, vlan: 1, mac: 'fa:16:3e:00:00:01', ageSeconds: expect.any(Number), isStatic: false },
      { ofport: 6, portName: undefined, vlan: 2, mac: 'fa:16:3e:00:00:03', ageSeconds: expect.any(Number), isStatic: false },
    ]);
    expect(parseFdbShow(fixture('fdb-show_br-tun.txt')).value).toEqual([]);
  });

  it.each([
    { name: 'LOCAL static', line: 'LOCAL     0  4a:1f:ad:52:c8:4b  static', want: { ofport: OFPP.LOCAL, vlan: 0, isStatic: true, ageSeconds: undefined } },
    { name: 'port name', line: 'tap1     3  fa:16:3e:00:00:01  12', want: { ofport: undefined, portName: 'tap1', vlan: 3, ageSeconds: 12 } },
  ])('$name', ({ line, want }) => {
    expect(parseFdbShow(` port  VLAN  MAC                Age\n${line}\n`).value[0]).toMatchObject(want);
  });

  it('never throws on random text', () => {
    fc.assert(fc.property(fc.string({ maxLength: 60 }), (text) => {
      const parsed = parseFdbShow(text);
      expect(parsed.value.length).toBeLessThanOrEqual(text.split('\n').length);
    }));
  });
});

describe('parseDpifShow', () => {
  it('reads bridges, ports, types and tunnel options', () => {
    const parsed = parseDpifShow(fixture('dpif-show.txt'));
    expect(parsed.issues).toEqual([]);
    expect(parsed.value.datapaths).toEqual([{ name: 'netdev@ovs-netdev', hits: 0n, missed: 0n }]);
    expect(parsed.value.bridges.map((b) => b.name)).toEqual(['br-all', 'br-int', 'br-tun']);
    const tun = parsed.value.bridges[2]?.ports ?? [];
    expect(tun.find((p) => p.name === 'gre-c6336402')).toEqual({
      name: 'gre-c6336402', ofport: 2, odpPort: 6, type: 'gre', options: { key: 'flow', local_ip: '203.0.113.1', remote_ip: '203.0.113.2' },
    });
    expect(tun.find((p) => p.name === 'patch-int')).toEqual({ name: 'patch-int', ofport: 1, odpPort: undefined, type: 'patch', options: { peer: 'patch-tun' } });
    expect(tun.find((p) => p.name === 'br-tun')).toMatchObject({ ofport: 65534, type: 'tap' });
  });

  it('reads a system port without a type', () => {
    expect(parseDpifShow('system@ovs-system: hit:5 missed:2\n  br-ex:\n    eth1 1/3:\n').value.bridges[0]?.ports[0]).toEqual({ name: 'eth1', ofport: 1, odpPort: 3, type: 'system', options: {} });
  });
});
