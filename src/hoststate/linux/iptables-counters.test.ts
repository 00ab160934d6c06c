import { describe, expect, it } from 'vitest';
import { captureInfo, fixture } from '../../../test/fixtures/linux/load.js';
import { iptablesCounterDeltas } from './iptables-counters.js';
import { evaluateIptables } from './iptables-eval.js';
import { parseIptablesSave } from './iptables-save.js';

const [p1, p2] = captureInfo().ports;
const before = parseIptablesSave(fixture('iptables-save_-c'), 'before').value;
const after = parseIptablesSave(fixture('iptables-save_-c.after-ping'), 'after').value;

describe('iptablesCounterDeltas on the capture (vm1 pinged vm2 three times)', () => {
  const deltas = iptablesCounterDeltas(before, after);

  it('finds the rules the pings went through, and only those', () => {
    const accept = deltas.find((d) => d.chain === 'neutron-openvswi-sg-chain' && d.text === '-A neutron-openvswi-sg-chain -j ACCEPT');
    // 3 requests and 3 replies, each bridged by both qbrs.
    expect(accept).toMatchObject({ table: 'filter', packets: 12n, reset: false, index: 5 });
    expect(accept?.bytes).toBeGreaterThan(12n * 28n);
    expect(deltas.find((d) => d.chain === `neutron-openvswi-s${p1.chainId}`)).toMatchObject({ index: 1, packets: 3n });
    expect(deltas.some((d) => d.chain === 'neutron-openvswi-sg-fallback')).toBe(false);
    expect(deltas.every((d) => d.packets > 0n)).toBe(true);
  });

  it('agrees with the evaluation: the deciding rule of the echo request counted it', () => {
    const { verdict } = evaluateIptables(after, {
      physdevIn: p1.tap, physdevOut: p1.qvb, inInterface: p1.qbr, outInterface: p1.qbr, src: p1.ip, dst: p2.ip,
      protocol: 'icmp', icmpType: 8, srcMac: p1.mac, ctState: 'NEW',
    });
    expect(verdict.kind).toBe('verdict');
    if (verdict.kind !== 'verdict') return;
    expect(deltas.some((d) => d.chain === verdict.chain && d.index === verdict.ruleIndex)).toBe(true);
  });

  it('finds nothing between a ruleset and itself', () => {
    expect(iptablesCounterDeltas(after, after)).toEqual([]);
  });
});

describe('iptablesCounterDeltas edges', () => {
  const save = (lines: string[]) => parseIptablesSave(['*filter', ':FORWARD ACCEPT [10:1000]', ...lines, 'COMMIT'].join('\n'), 's').value;

  it('tells duplicate rules apart by occurrence, and counts policies', () => {
    const a = save(['[1:10] -A FORWARD -j LOG', '[5:50] -A FORWARD -j LOG']);
    const b = parseIptablesSave(['*filter', ':FORWARD ACCEPT [12:1200]', '[1:10] -A FORWARD -j LOG', '[7:70] -A FORWARD -j LOG', 'COMMIT'].join('\n'), 's').value;
    expect(iptablesCounterDeltas(a, b)).toEqual([
      { table: 'filter', chain: 'FORWARD', index: null, text: null, packets: 2n, bytes: 200n, reset: false },
      { table: 'filter', chain: 'FORWARD', index: 2, text: '-A FORWARD -j LOG', packets: 2n, bytes: 20n, reset: false },
    ]);
  });

  it('reports a counter that went down as reset, and a new rule from zero', () => {
    const a = save(['[9:90] -A FORWARD -j DROP']);
    const b = save(['[2:20] -A FORWARD -j DROP', '[3:30] -A FORWARD -j ACCEPT']);
    expect(iptablesCounterDeltas(a, b)).toEqual([
      { table: 'filter', chain: 'FORWARD', index: 1, text: '-A FORWARD -j DROP', packets: 2n, bytes: 20n, reset: true },
      { table: 'filter', chain: 'FORWARD', index: 2, text: '-A FORWARD -j ACCEPT', packets: 3n, bytes: 30n, reset: false },
    ]);
  });
});
