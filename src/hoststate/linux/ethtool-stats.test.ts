import { describe, expect, it } from 'vitest';
import { fixture, sosFixture } from '../../../test/fixtures/linux/load.js';
import { parseEthtoolStats } from './ethtool-stats.js';

describe('parseEthtoolStats', () => {
  it('reads the veth peer index of the captured tap and of the sos qvo', () => {
    const tap = parseEthtoolStats(fixture('ethtool_-S_tap12345678-90'), 'tap');
    expect(tap.issues).toEqual([]);
    expect(tap.value.peerIfindex).toBe(2); // the VM's eth0, after lo
    expect(tap.value.stats['rx_queue_0_drops']).toBe(0n);
    expect(parseEthtoolStats(sosFixture('ethtool_-S_qvo5a1b2c3d-4e'), 'sos').value.peerIfindex).toBe(2);
  });

  it('gives no peer for a driver without one, and reports stray lines', () => {
    expect(parseEthtoolStats('NIC statistics:\n     rx_packets: 12\n', 's').value).toEqual({ stats: { rx_packets: 12n }, peerIfindex: null });
    expect(parseEthtoolStats('     rx: 1\nNIC statistics:\n     rx: x\n', 's').issues.map((i) => i.line)).toEqual([1, 3]);
    expect(parseEthtoolStats('', 's')).toEqual({ value: { stats: {}, peerIfindex: null }, issues: [] });
  });
});
