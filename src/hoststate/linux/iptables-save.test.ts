import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { captureInfo, fixture } from '../../../test/fixtures/linux/load.js';
import { findChain, findTable, parseIptablesSave, ruleOption, type IptablesRule } from './iptables-save.js';

const [p1] = captureInfo().ports;
const withCounters = parseIptablesSave(fixture('iptables-save_-c'), 'iptables-save_-c');
const plain = parseIptablesSave(fixture('iptables-save'), 'iptables-save');
const rulesOf = (chain: string): IptablesRule[] => {
  const table = findTable(withCounters.value, 'filter');
  const c = table === undefined ? undefined : findChain(table, chain);
  if (c === undefined) throw new Error(`no chain ${chain}`);
  return c.rules;
};

describe('parseIptablesSave on the captured hybrid firewall', () => {
  it('reads every chain and rule of both forms without issues', () => {
    expect(withCounters.issues).toEqual([]);
    expect(plain.issues).toEqual([]);
    const text = fixture('iptables-save_-c');
    const filter = findTable(withCounters.value, 'filter');
    expect(withCounters.value.tables.map((t) => t.name)).toEqual(['filter']);
    expect(filter?.committed).toBe(true);
    expect(filter?.chains.map((c) => c.name)).toEqual(text.split('\n').filter((l) => l.startsWith(':')).map((l) => l.slice(1).split(' ')[0]));
    expect(filter?.chains.flatMap((c) => c.rules)).toHaveLength(text.split('\n').filter((l) => l.startsWith('[')).length);
  });

  it('gives the same rules with and without -c, counters aside', () => {
    const strip = (r: typeof withCounters.value) => r.tables.map((t) => ({ ...t, chains: t.chains.map((c) => ({ ...c, counters: null, rules: c.rules.map((x) => ({ ...x, counters: null, line: 0 })) })) }));
    expect(strip(withCounters.value)).toEqual(strip(plain.value));
    // Without -c only the rule counters are left out; chains keep theirs.
    expect(plain.value.tables.flatMap((t) => t.chains.flatMap((c) => c.rules)).every((r) => r.counters === null)).toBe(true);
  });

  it('reads policies and counters', () => {
    const filter = findTable(withCounters.value, 'filter');
    expect(filter?.chains.find((c) => c.name === 'FORWARD')).toMatchObject({ policy: 'ACCEPT', counters: { packets: 0n, bytes: 0n } });
    expect(filter?.chains.find((c) => c.name === 'neutron-openvswi-sg-chain')?.policy).toBeNull();
  });

  it('reads a physdev rule: matches, comment, jump', () => {
    const rule = rulesOf('neutron-openvswi-sg-chain')[0];
    expect(rule).toMatchObject({
      chain: 'neutron-openvswi-sg-chain', index: 1, counters: { packets: 0n, bytes: 0n }, comment: 'Jump to the VM specific chain.',
      target: { kind: 'jump', name: `neutron-openvswi-i${p1.chainId}`, options: [] }, error: null,
    });
    expect(rule?.matches).toEqual([
      { module: 'physdev', options: [{ name: 'physdev-out', values: [p1.tap], negated: false }, { name: 'physdev-is-bridged', values: [], negated: false }] },
      { module: 'comment', options: [{ name: 'comment', values: ['Jump to the VM specific chain.'], negated: false }] },
    ]);
    expect(rule?.text).toMatch(/^-A neutron-openvswi-sg-chain -m physdev/);
  });

  it('reads negations, ports, MAC, state, REJECT options and gotos', () => {
    const ingress = rulesOf(`neutron-openvswi-i${p1.chainId}`);
    const egress = rulesOf(`neutron-openvswi-o${p1.chainId}`);
    const spoof = rulesOf(`neutron-openvswi-s${p1.chainId}`);
    expect(ingress[4]).toMatchObject({ source: { value: '192.0.2.0/24', negated: true }, protocol: { value: 'udp', negated: false } });
    expect(ingress[3] && ruleOption(ingress[3], 'multiport', 'dports')?.values).toEqual(['22,80:81']);
    expect(ingress[0] && ruleOption(ingress[0], 'state', 'state')?.values).toEqual(['RELATED,ESTABLISHED']);
    expect(spoof[0]).toMatchObject({ source: { value: `${p1.ip}/32`, negated: false } });
    expect(spoof[0] && ruleOption(spoof[0], 'mac', 'mac-source')?.values).toEqual([p1.mac]);
    expect(egress.find((r) => r.target?.name === 'REJECT')?.target?.options).toEqual([{ name: 'reject-with', values: ['tcp-reset'], negated: false }]);
    expect(egress.find((r) => r.target?.kind === 'goto')?.target?.name).toBe('neutron-openvswi-sg-fallback');
    expect(egress[0]).toMatchObject({ source: { value: '0.0.0.0/32' }, destination: { value: '255.255.255.255/32' } });
  });
});

// Lines as neutron writes them on hosts with ipset (not installed here, so not in the capture).
const NEUTRON_IPSET = [
  '*filter',
  ':FORWARD ACCEPT [0:0]',
  ':neutron-openvswi-i12345678-9 - [0:0]',
  '[5:420] -A neutron-openvswi-i12345678-9 -m set --match-set NIPv4f3e1c0d2-5e2c-4d4c-9d0f- src -m conntrack ! --ctstate INVALID -j RETURN',
  '[0:0] -A neutron-openvswi-i12345678-9 -m physdev ! --physdev-is-bridged -i qbr+ -j DROP',
  '[0:0] -A neutron-openvswi-i12345678-9 -m comment --comment "quote \\" inside" -j DROP',
  'COMMIT',
].join('\n');

describe('parseIptablesSave on hand-written Neutron lines', () => {
  it('reads -m set, negated options and escaped quotes', () => {
    const { value, issues } = parseIptablesSave(NEUTRON_IPSET, 'neutron');
    expect(issues).toEqual([]);
    const rules = value.tables[0]?.chains[1]?.rules ?? [];
    expect(rules[0]?.matches).toEqual([
      { module: 'set', options: [{ name: 'match-set', values: ['NIPv4f3e1c0d2-5e2c-4d4c-9d0f-', 'src'], negated: false }] },
      { module: 'conntrack', options: [{ name: 'ctstate', values: ['INVALID'], negated: true }] },
    ]);
    expect(rules[0]?.counters).toEqual({ packets: 5n, bytes: 420n });
    expect(rules[1]).toMatchObject({ inInterface: { value: 'qbr+', negated: false }, matches: [{ module: 'physdev', options: [{ name: 'physdev-is-bridged', negated: true }] }] });
    expect(rules[2]?.comment).toBe('quote " inside');
  });
});

describe('parseIptablesSave on bad input', () => {
  it.each([
    { name: 'unterminated quote keeps the rule in place', input: '*filter\n:A - [0:0]\n-A A -m comment --comment "open -j DROP\n-A A -j ACCEPT\nCOMMIT\n', lines: [3], rules: 2 },
    { name: 'rule for an undeclared chain', input: '*filter\n:A - [0:0]\n-A B -j DROP\nCOMMIT\n', lines: [3], rules: 0 },
    { name: 'line outside a table', input: '-A A -j DROP\n*filter\nCOMMIT\n', lines: [1], rules: 0 },
    { name: 'truncated: no COMMIT', input: '*filter\n:A - [0:0]\n-A A -j DROP\n', lines: [4], rules: 1 },
    { name: 'bad counters', input: '*filter\n:A - [0:0]\n[1:] -A A -j DROP\nCOMMIT\n', lines: [3], rules: 0 },
    { name: 'dangling !', input: '*filter\n:A - [0:0]\n-A A -j DROP !\nCOMMIT\n', lines: [3], rules: 1 },
    { name: 'two targets', input: '*filter\n:A - [0:0]\n-A A -j DROP -j ACCEPT\nCOMMIT\n', lines: [3], rules: 1 },
    { name: 'chain declared twice', input: '*filter\n:A - [0:0]\n:A - [0:0]\nCOMMIT\n', lines: [3], rules: 0 },
    { name: 'bad chain line', input: '*filter\n:A\nCOMMIT\n', lines: [2], rules: 0 },
    { name: 'a value where an option should be', input: '*filter\n:A - [0:0]\n-A A stray -j DROP\nCOMMIT\n', lines: [3], rules: 1 },
  ])('$name', ({ input, lines, rules }) => {
    const parsed = parseIptablesSave(input, 'case');
    expect(parsed.issues.map((i) => i.line)).toEqual(lines);
    expect(parsed.value.tables.flatMap((t) => t.chains.flatMap((c) => c.rules))).toHaveLength(rules);
  });

  it('numbers the rules after a bad one as iptables does', () => {
    const parsed = parseIptablesSave('*filter\n:A - [0:0]\n-A A -m comment --comment "open\n-A A -j ACCEPT\nCOMMIT\n', 'case');
    expect(parsed.value.tables[0]?.chains[0]?.rules.map((r) => [r.index, r.error === null])).toEqual([[1, false], [2, true]]);
  });

  it('reads an empty file (a namespace without rules) as no tables', () => {
    expect(parseIptablesSave('', 'empty')).toEqual({ value: { tables: [] }, issues: [] });
  });

  it('never throws on a fixture cut anywhere or damaged', () => {
    const text = fixture('iptables-save_-c');
    fc.assert(fc.property(fc.nat(text.length), fc.string({ maxLength: 4 }), (a, s) => {
      for (const input of [text.slice(0, a), text.slice(0, a) + s + text.slice(a + 1)]) expect(Array.isArray(parseIptablesSave(input, 'fuzz').value.tables)).toBe(true);
    }), { numRuns: 300 });
  });
});
