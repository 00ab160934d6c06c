import { describe, expect, it } from 'vitest';
import { captureInfo, fixture } from '../../../test/fixtures/linux/load.js';
import { parseBridgeLink } from './bridge-link.js';

describe('parseBridgeLink', () => {
  const [p1, p2] = captureInfo().ports;

  it('reads every bridge port of the captured host', () => {
    const { value, issues } = parseBridgeLink(fixture('bridge_-s_-s_-d_link_show'), 'bridge');
    expect(issues).toEqual([]);
    expect(value.map((p) => `${p.name}>${p.master ?? ''}`).sort()).toEqual(
      [`${p1.tap}>${p1.qbr}`, `${p1.qvb}>${p1.qbr}`, `${p1.qvo}>brint0`, `${p2.tap}>${p2.qbr}`, `${p2.qvb}>${p2.qbr}`, `${p2.qvo}>brint0`].sort(),
    );
    expect(value.find((p) => p.name === p1.tap)).toMatchObject({ state: 'forwarding', priority: 32, cost: 2, hairpin: false, learning: true, flood: true, isolated: false, mtu: 1500 });
  });

  it('reports bad lines and keeps the ports', () => {
    const parsed = parseBridgeLink('    hairpin off\n8: tap1: <UP> mtu 1500 master qbr1 state forwarding priority\nnope\n', 's');
    expect(parsed.value).toHaveLength(1);
    expect(parsed.value[0]).toMatchObject({ name: 'tap1', master: 'qbr1', state: 'forwarding', priority: null });
    expect(parsed.issues.map((i) => i.line)).toEqual([1, 2, 3]);
  });
});
