import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { captureInfo, fixture, SOS_NETWORKING } from '../../../test/fixtures/linux/load.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { evaluateIptables, type IptablesPacket } from './iptables-eval.js';
import { parseIptablesList } from './iptables-list.js';
import { neutronPortChains } from './iptables-neutron.js';
import { parseIptablesSave } from './iptables-save.js';

const [p1, p2] = captureInfo().ports;
// Taken one after the other from the same ruleset (capture.ts).
const listed = parseIptablesList(fixture('iptables_-vnxL'), 'iptables_-vnxL');
const saved = parseIptablesSave(fixture('iptables-save_-c.after-ping'), 'iptables-save_-c');

describe('parseIptablesList on the captured hybrid firewall', () => {
  it('reads every chain and rule without issues', () => {
    expect(listed.issues).toEqual([]);
    expect(listed.value.tables).toHaveLength(1);
  });

  it('gives the chains, policies, rule counts and counters of iptables-save -c', () => {
    const shape = (r: typeof saved.value) => r.tables[0]?.chains.map((c) => ({ name: c.name, policy: c.policy, rules: c.rules.map((x) => [x.counters, x.target?.kind, x.target?.name, x.comment]) })).sort((a, b) => a.name.localeCompare(b.name));
    expect(shape(listed.value)).toEqual(shape(saved.value));
  });

  it('maps the Neutron ports to their taps as iptables-save does', () => {
    expect(neutronPortChains(listed.value)).toEqual(neutronPortChains(saved.value));
  });

  const base: IptablesPacket = { physdevIn: p1.tap, physdevOut: p1.qvb, inInterface: p1.qbr, outInterface: p1.qbr, src: p1.ip, dst: p2.ip, protocol: 'icmp', icmpType: 8, srcMac: p1.mac, ctState: 'NEW' };
  it.each([
    { name: 'echo request', packet: base },
    { name: 'spoofed MAC', packet: { ...base, srcMac: '02:00:00:00:00:99' } },
    { name: 'SMTP (REJECT)', packet: { ...base, protocol: 'tcp', srcPort: 40000, dstPort: 25 } },
    { name: 'mDNS (goto)', packet: { ...base, protocol: 'udp', srcPort: 5353, dstPort: 5353 } },
    { name: 'HTTP to vm2 (multiport)', packet: { ...base, physdevIn: p2.qvb, physdevOut: p2.tap, protocol: 'tcp', srcPort: 40000, dstPort: 80 } },
    { name: 'DNS to vm2 from outside (! -s)', packet: { ...base, physdevIn: p2.qvb, physdevOut: p2.tap, src: '203.0.113.5', protocol: 'udp', srcPort: 5000, dstPort: 53 } },
    { name: 'DHCP offer to vm1', packet: { ...base, physdevIn: p1.qvb, physdevOut: p1.tap, src: '192.0.2.2', protocol: 'udp', srcPort: 67, dstPort: 68 } },
    { name: 'unknown conntrack', packet: { ...base, ctState: 'unknown' as const } },
  ])('the evaluation decides $name the same way', ({ packet }) => {
    const a = evaluateIptables(listed.value, packet).verdict;
    const b = evaluateIptables(saved.value, packet).verdict;
    expect({ ...a, ruleText: null }).toEqual({ ...b, ruleText: null });
  });
});

describe('parseIptablesList on other input', () => {
  it('reads the empty sosreport listing', () => {
    const text = readFileSync(join(SOS_NETWORKING, '..', 'firewall_tables', 'iptables_-vnxL'), 'utf8');
    const parsed = parseIptablesList(text, 'sos');
    expect(parsed.issues).toEqual([]);
    expect(parsed.value.tables[0]?.chains.map((c) => [c.name, c.policy, c.rules.length])).toEqual([['INPUT', 'ACCEPT', 0], ['FORWARD', 'ACCEPT', 0], ['OUTPUT', 'ACCEPT', 0]]);
  });

  it.each([
    { name: 'set and ctstate with negation, abbreviated counters', line: '   12K  1M RETURN  0 -- * *  0.0.0.0/0  0.0.0.0/0  match-set NIPv4abc src ! ctstate INVALID', want: { counters: { packets: 12000n, bytes: 1000000n }, matches: [{ module: 'set', options: [{ name: 'match-set', values: ['NIPv4abc', 'src'], negated: false }] }, { module: 'conntrack', options: [{ name: 'ctstate', values: ['INVALID'], negated: true }] }], error: null } },
    { name: 'no target column', line: '    0  0            0 -- eth0 !eth1  192.0.2.0/24  0.0.0.0/0', want: { target: null, inInterface: { value: 'eth0', negated: false }, outInterface: { value: 'eth1', negated: true }, source: { value: '192.0.2.0/24', negated: false } } },
    { name: 'port ranges and negated port', line: '    0  0 ACCEPT 6 -- * * 0.0.0.0/0 0.0.0.0/0 tcp spts:1024:65535 dpt:!22', want: { protocol: { value: 'tcp', negated: false }, matches: [{ module: 'tcp', options: [{ name: 'sport', values: ['1024:65535'], negated: false }, { name: 'dport', values: ['22'], negated: true }] }] } },
    { name: 'unknown extension: the rule stays, with an error', line: '    0  0 LOG 0 -- * * 0.0.0.0/0 0.0.0.0/0 LOG flags 0 level 4', want: { error: expect.stringMatching(/^extension text not understood/) } },
  ])('$name', ({ line, want }) => {
    const parsed = parseIptablesList(`Chain FORWARD (policy DROP 0 packets, 0 bytes)\n    pkts      bytes target     prot opt in     out     source               destination\n${line}\n`, 'case');
    expect(parsed.value.tables[0]?.chains[0]?.rules[0]).toMatchObject(want);
  });

  it('reports lines it cannot read', () => {
    const parsed = parseIptablesList('    1 2 ACCEPT 0 -- * * 0.0.0.0/0 0.0.0.0/0\nChain X (what)\nChain Y (1 references)\n nope\n', 'case');
    expect(parsed.issues.map((i) => i.line)).toEqual([1, 2, 4]);
  });

  it('never throws on the fixture cut or damaged', () => {
    const text = fixture('iptables_-vnxL');
    fc.assert(fc.property(fc.nat(text.length), fc.string({ maxLength: 4 }), (a, s) => {
      for (const input of [text.slice(0, a), text.slice(0, a) + s + text.slice(a + 1)]) expect(Array.isArray(parseIptablesList(input, 'fuzz').value.tables)).toBe(true);
    }), { numRuns: 300 });
  });
});
