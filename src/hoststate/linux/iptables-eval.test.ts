import { describe, expect, it } from 'vitest';
import { captureInfo, fixture } from '../../../test/fixtures/linux/load.js';
import { evaluateIptables, inCidr, type IptablesPacket } from './iptables-eval.js';
import { parseIptablesSave } from './iptables-save.js';

const [p1, p2] = captureInfo().ports;
const ruleset = parseIptablesSave(fixture('iptables-save_-c'), 'fw').value;
const SG = 'neutron-openvswi-sg-chain';
const FALLBACK = 'neutron-openvswi-sg-fallback';
const egress = `neutron-openvswi-o${p1.chainId}`;
const ingress2 = `neutron-openvswi-i${p2.chainId}`;

/** A frame from vm1 as qbr1 bridges it from the tap to the qvb. */
const fromVm1 = (over: Partial<IptablesPacket> = {}): IptablesPacket => ({
  physdevIn: p1.tap, physdevOut: p1.qvb, inInterface: p1.qbr, outInterface: p1.qbr,
  src: p1.ip, dst: p2.ip, protocol: 'icmp', icmpType: 8, srcMac: p1.mac, ctState: 'NEW', ...over,
});
/** The same frame as qbr2 bridges it from the qvb to vm2's tap. */
const toVm2 = (over: Partial<IptablesPacket> = {}): IptablesPacket => ({
  ...fromVm1(), physdevIn: p2.qvb, physdevOut: p2.tap, inInterface: p2.qbr, outInterface: p2.qbr, ...over,
});

function withoutMac(): IptablesPacket {
  const packet = fromVm1();
  delete packet.srcMac;
  return packet;
}

describe('evaluateIptables on the captured hybrid firewall (FORWARD)', () => {
  it.each([
    { name: 'echo request leaving vm1: egress allows, sg-chain accepts', packet: fromVm1(), want: { kind: 'verdict', verdict: 'ACCEPT', chain: SG, ruleIndex: 5 } },
    { name: 'echo request reaching vm2: icmp allowed in', packet: toVm2(), want: { kind: 'verdict', verdict: 'ACCEPT', chain: SG, ruleIndex: 5 } },
    { name: 'spoofed MAC: the spoof chain drops', packet: fromVm1({ srcMac: '02:00:00:00:00:99' }), want: { kind: 'verdict', verdict: 'DROP', chain: `neutron-openvswi-s${p1.chainId}`, ruleIndex: 2 } },
    { name: 'spoofed IP: the spoof chain drops', packet: fromVm1({ src: '192.0.2.99' }), want: { verdict: 'DROP', chain: `neutron-openvswi-s${p1.chainId}` } },
    { name: 'SMTP from vm1: REJECT', packet: fromVm1({ protocol: 'tcp', dstPort: 25, srcPort: 40000 }), want: { verdict: 'REJECT', chain: egress, ruleIndex: 5 } },
    { name: 'mDNS from vm1: goto sg-fallback drops', packet: fromVm1({ protocol: 'udp', dstPort: 5353, srcPort: 5353 }), want: { verdict: 'DROP', chain: FALLBACK, ruleIndex: 1 } },
    { name: 'HTTPS to vm2: no rule allows it, fallback drops', packet: toVm2({ protocol: 'tcp', dstPort: 443, srcPort: 40000 }), want: { verdict: 'DROP', chain: FALLBACK } },
    { name: 'HTTP to vm2: multiport range allows it', packet: toVm2({ protocol: 'tcp', dstPort: 81, srcPort: 40000 }), want: { verdict: 'ACCEPT', chain: SG } },
    { name: 'DNS to vm2 from outside the subnet: ! -s allows it', packet: toVm2({ protocol: 'udp', src: '203.0.113.5', dstPort: 53, srcPort: 5000 }), want: { verdict: 'ACCEPT' } },
    { name: 'DNS to vm2 from inside the subnet: dropped', packet: toVm2({ protocol: 'udp', dstPort: 53, srcPort: 5000 }), want: { verdict: 'DROP', chain: FALLBACK } },
    { name: 'reply to vm1: ESTABLISHED returns', packet: { ...toVm2(), physdevOut: p1.tap, physdevIn: p1.qvb, ctState: 'ESTABLISHED' as const }, want: { verdict: 'ACCEPT', chain: SG } },
    { name: 'a routed (not bridged) frame: FORWARD policy', packet: fromVm1({ physdevIn: null, physdevOut: null }), want: { kind: 'verdict', verdict: 'ACCEPT', chain: 'FORWARD', ruleIndex: null, ruleText: null } },
    { name: 'conntrack state unknown: undecided at the state rule', packet: fromVm1({ ctState: 'unknown' }), want: { kind: 'undecided', chain: egress, ruleIndex: 7, reason: expect.stringMatching(/conntrack/) } },
    { name: 'source MAC not given: undecided in the spoof chain', packet: withoutMac(), want: { kind: 'undecided', chain: `neutron-openvswi-s${p1.chainId}`, reason: 'source MAC not given' } },
  ])('$name', ({ packet, want }) => {
    const { verdict } = evaluateIptables(ruleset, packet);
    expect(verdict).toMatchObject(want);
  });

  it('traces the chains and rules it visits', () => {
    const { trace, verdict } = evaluateIptables(ruleset, fromVm1());
    const entered = trace.filter((s) => s.kind === 'enter').map((s) => s.chain);
    expect(entered).toEqual(['FORWARD', 'neutron-filter-top', 'neutron-openvswi-local', 'neutron-openvswi-FORWARD', SG, egress, `neutron-openvswi-s${p1.chainId}`]);
    const last = trace[trace.length - 1];
    expect(last).toEqual({ kind: 'rule', chain: SG, index: 5, text: `-A ${SG} -j ACCEPT`, result: 'match' });
    expect(verdict.kind === 'verdict' && verdict.ruleText).toBe(`-A ${SG} -j ACCEPT`);
    expect(trace).toContainEqual({ kind: 'return', chain: egress, how: 'RETURN' });
  });

  it('is undecided without a filter table or chain', () => {
    expect(evaluateIptables({ tables: [] }, fromVm1()).verdict).toMatchObject({ kind: 'undecided', reason: 'no filter table' });
    expect(evaluateIptables(ruleset, fromVm1(), { chain: 'PREROUTING' }).verdict).toMatchObject({ kind: 'undecided', reason: 'no chain PREROUTING in filter' });
  });
});

const small = (body: string[]): ReturnType<typeof parseIptablesSave>['value'] => parseIptablesSave(['*filter', ':FORWARD DROP [0:0]', ':A - [0:0]', ':B - [0:0]', ...body, 'COMMIT'].join('\n'), 'small').value;
const any: IptablesPacket = { src: '192.0.2.1', dst: '192.0.2.2', protocol: 'tcp', srcPort: 1, dstPort: 2, ctState: 'NEW', physdevIn: null, physdevOut: null, inInterface: 'eth0', outInterface: 'eth1' };

describe('evaluateIptables semantics', () => {
  it.each([
    { name: 'jump returns after the jumping rule', body: ['-A FORWARD -j A', '-A FORWARD -j ACCEPT', '-A A -j RETURN'], want: { verdict: 'ACCEPT', chain: 'FORWARD', ruleIndex: 2 } },
    { name: 'goto returns to the last jump (here the policy)', body: ['-A FORWARD -g A', '-A FORWARD -j ACCEPT', '-A A -j RETURN'], want: { verdict: 'DROP', chain: 'FORWARD', ruleIndex: null } },
    { name: 'goto inside a jump returns past the jump', body: ['-A FORWARD -j A', '-A FORWARD -j ACCEPT', '-A A -g B', '-A A -j DROP', '-A B -j RETURN'], want: { verdict: 'ACCEPT', chain: 'FORWARD', ruleIndex: 2 } },
    { name: 'non-terminal targets go on', body: ['-A FORWARD -j LOG --log-prefix "x "', '-A FORWARD', '-A FORWARD -j ACCEPT'], want: { verdict: 'ACCEPT', ruleIndex: 3 } },
    { name: 'RETURN in the built-in chain: policy', body: ['-A FORWARD -j RETURN', '-A FORWARD -j ACCEPT'], want: { verdict: 'DROP', ruleIndex: null } },
    { name: 'interface wildcard', body: ['-A FORWARD -i eth+ ! -o eth0 -j ACCEPT'], want: { verdict: 'ACCEPT' } },
    { name: 'a failing match beats an ipset', body: ['-A FORWARD -p udp -m set --match-set S src -j ACCEPT', '-A FORWARD -j REJECT'], want: { verdict: 'REJECT' } },
    { name: 'an ipset alone is undecided', body: ['-A FORWARD -m set --match-set S src -j ACCEPT'], want: { kind: 'undecided', reason: 'ipset S contents needed' } },
    { name: 'an unknown target is undecided', body: ['-A FORWARD -j NFQUEUE --queue-num 1'], want: { kind: 'undecided', reason: 'target NFQUEUE is not modelled' } },
    { name: 'a rule not understood is undecided', body: ['-A FORWARD -m comment --comment "open -j ACCEPT'], want: { kind: 'undecided', reason: expect.stringMatching(/^rule not understood/) } },
    { name: 'a jump loop is stopped', body: ['-A FORWARD -j A', '-A A -j B', '-A B -j A'], want: { kind: 'undecided', reason: expect.stringMatching(/deeper than/) } },
    { name: 'a goto loop is stopped', body: ['-A FORWARD -g A', '-A A -g B', '-A B -g A'], want: { kind: 'undecided', reason: expect.stringMatching(/rule visits/) } },
  ])('$name', ({ body, want }) => {
    expect(evaluateIptables(small(body), any, { maxSteps: 1000 }).verdict).toMatchObject(want);
  });

  it.each([
    { name: 'source in the set', sets: { S: ['192.0.2.0/28'] }, want: { verdict: 'ACCEPT', ruleIndex: 1 } },
    { name: 'source not in the set', sets: { S: ['198.51.100.7'] }, want: { verdict: 'REJECT', ruleIndex: 2 } },
    { name: 'another set given', sets: { T: ['192.0.2.1'] }, want: { kind: 'undecided' } },
  ])('ipset contents given: $name', ({ sets, want }) => {
    const ruleset = small(['-A FORWARD -m set --match-set S src -j ACCEPT', '-A FORWARD -j REJECT']);
    expect(evaluateIptables(ruleset, any, { ipsets: sets }).verdict).toMatchObject(want);
  });
});

describe('inCidr', () => {
  it.each([
    ['192.0.2.0/24', '192.0.2.200', true], ['192.0.2.0/24', '198.51.100.1', false], ['192.0.2.7', '192.0.2.7', true],
    ['0.0.0.0/0', '203.0.113.9', true], ['192.0.2.0/255.255.255.128', '192.0.2.129', false], ['192.0.2.0/24', 'fe80::1', false],
  ] as const)('%s contains %s: %s', (cidr, address, want) => {
    expect(inCidr(cidr, address)).toBe(want);
  });
});

describe('evaluateIptables: the nat table (natTargets)', () => {
  // a Neutron L3 agent's qrouter nat table: floating IP 203.0.113.201 ↔ fixed 192.0.2.11, SNAT for the rest
  const nat = parseIptablesSave([
    '*nat',
    ':PREROUTING ACCEPT [0:0]',
    ':POSTROUTING ACCEPT [0:0]',
    ':neutron-l3-agent-PREROUTING - [0:0]',
    ':neutron-l3-agent-POSTROUTING - [0:0]',
    ':neutron-l3-agent-float-snat - [0:0]',
    ':neutron-l3-agent-snat - [0:0]',
    '-A PREROUTING -j neutron-l3-agent-PREROUTING',
    '-A POSTROUTING -j neutron-l3-agent-POSTROUTING',
    '-A POSTROUTING -j neutron-l3-agent-snat',
    '-A neutron-l3-agent-PREROUTING -d 203.0.113.201/32 -i qg-1 -j DNAT --to-destination 192.0.2.11',
    '-A neutron-l3-agent-POSTROUTING ! -i qg-1 ! -o qg-1 -m conntrack ! --ctstate DNAT -j ACCEPT',
    '-A neutron-l3-agent-float-snat -s 192.0.2.11/32 -j SNAT --to-source 203.0.113.201',
    '-A neutron-l3-agent-snat -j neutron-l3-agent-float-snat',
    '-A neutron-l3-agent-snat -o qg-1 -j SNAT --to-source 203.0.113.200:1024-65535',
    'COMMIT',
  ].join('\n'), 'qrouter').value;
  const packet = (p: Partial<IptablesPacket>): IptablesPacket => ({ physdevIn: null, physdevOut: null, protocol: 'icmp', icmpType: 8, ctState: 'NEW', ...p });
  const post = (p: Partial<IptablesPacket>) => evaluateIptables(nat, packet(p), { table: 'nat', chain: 'POSTROUTING', natTargets: true }).verdict;
  const pre = (p: Partial<IptablesPacket>) => evaluateIptables(nat, packet(p), { table: 'nat', chain: 'PREROUTING', natTargets: true }).verdict;

  it('SNAT to the gateway address (port range left out) for an instance without a floating IP', () => {
    expect(post({ src: '192.0.2.12', dst: '198.51.100.7', inInterface: 'qr-1', outInterface: 'qg-1' })).toMatchObject({ kind: 'nat', target: 'SNAT', to: '203.0.113.200', chain: 'neutron-l3-agent-snat', ruleIndex: 2 });
  });

  it('the floating IP\'s own SNAT for its instance; DNAT of the floating IP on the way in', () => {
    expect(post({ src: '192.0.2.11', dst: '198.51.100.7', inInterface: 'qr-1', outInterface: 'qg-1' })).toMatchObject({ kind: 'nat', target: 'SNAT', to: '203.0.113.201', chain: 'neutron-l3-agent-float-snat' });
    expect(pre({ src: '198.51.100.7', dst: '203.0.113.201', inInterface: 'qg-1' })).toMatchObject({ kind: 'nat', target: 'DNAT', to: '192.0.2.11', ruleIndex: 1 });
  });

  it('no translation: ACCEPT between internal ports, or the policy when no rule applies', () => {
    expect(post({ src: '192.0.2.12', dst: '192.0.2.130', inInterface: 'qr-1', outInterface: 'qr-2' })).toMatchObject({ kind: 'verdict', verdict: 'ACCEPT', chain: 'neutron-l3-agent-POSTROUTING' });
    expect(pre({ src: '198.51.100.7', dst: '203.0.113.200', inInterface: 'qg-1' })).toMatchObject({ kind: 'verdict', verdict: 'ACCEPT', ruleIndex: null });
  });

  it('without natTargets a SNAT rule is not modelled (the filter table\'s walk never meets one)', () => {
    expect(evaluateIptables(nat, packet({ src: '192.0.2.12', dst: '198.51.100.7', inInterface: 'qr-1', outInterface: 'qg-1' }), { table: 'nat', chain: 'POSTROUTING' }).verdict).toMatchObject({ kind: 'undecided', reason: 'target SNAT is not modelled' });
  });
});
