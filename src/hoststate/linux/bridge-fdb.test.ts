import { describe, expect, it } from 'vitest';
import { captureInfo, fixture, sosFixture } from '../../../test/fixtures/linux/load.js';
import { parseBridgeFdb } from './bridge-fdb.js';

describe('parseBridgeFdb', () => {
  const [p1, p2] = captureInfo().ports;

  it('has learnt each VM MAC on its tap (dynamic, on the qbr)', () => {
    const { value, issues } = parseBridgeFdb(fixture('bridge_-s_-s_-d_-t_fdb_show'), 'fdb');
    expect(issues).toEqual([]);
    expect(value.find((e) => e.mac === p1.mac && e.dev === p1.tap)).toEqual({ mac: p1.mac, dev: p1.tap, vlan: null, dst: null, master: p1.qbr, flags: [], state: null });
    expect(value.find((e) => e.mac === p2.mac && e.dev === p2.tap)?.master).toBe(p2.qbr);
    expect(value.some((e) => e.flags.includes('self') && e.state === 'permanent')).toBe(true);
  });

  it.each([
    { name: 'vxlan with dst and vlan', input: '00:00:00:00:00:00 dev vx0 vlan 5 dst 198.51.100.2 self permanent', want: { dev: 'vx0', vlan: 5, dst: '198.51.100.2', flags: ['self'], state: 'permanent' } },
    { name: 'sos -s form', input: '02:00:00:00:00:01 dev tap1 used 60/28 master qbr1 ', want: { master: 'qbr1', state: null } },
  ])('$name', ({ input, want }) => {
    expect(parseBridgeFdb(input, 's').value[0]).toMatchObject(want);
  });

  it('reads the sosreport fixture and reports bad lines', () => {
    expect(parseBridgeFdb(sosFixture('bridge_-s_-s_-d_-t_fdb_show'), 'sos').issues).toEqual([]);
    expect(parseBridgeFdb('zz dev x\n02:00:00:00:00:01 dev x weird\n', 's').issues.map((i) => i.line)).toEqual([1, 2]);
  });
});
