import { describe, expect, it } from 'vitest';
import { captureInfo, fixture } from '../../../test/fixtures/linux/load.js';
import { classifyNeutronChain, neutronChainsOfTap, neutronPortChains } from './iptables-neutron.js';
import { parseIptablesSave } from './iptables-save.js';

describe('classifyNeutronChain', () => {
  it.each([
    { name: 'neutron-openvswi-FORWARD', want: { binary: 'openvswi', role: 'forward', portIdPrefix: null } },
    { name: 'neutron-openvswi-sg-chain', want: { binary: 'openvswi', role: 'sg-chain', portIdPrefix: null } },
    { name: 'neutron-openvswi-sg-fallback', want: { binary: 'openvswi', role: 'sg-fallback', portIdPrefix: null } },
    { name: 'neutron-openvswi-i12345678-9', want: { binary: 'openvswi', role: 'ingress', portIdPrefix: '12345678-9' } },
    { name: 'neutron-openvswi-oabcdef01-2', want: { binary: 'openvswi', role: 'egress', portIdPrefix: 'abcdef01-2' } },
    { name: 'neutron-linuxbri-s12345678-9', want: { binary: 'linuxbri', role: 'spoof', portIdPrefix: '12345678-9' } },
    { name: 'neutron-filter-top', want: { binary: null, role: 'filter-top', portIdPrefix: null } },
    { name: 'neutron-l3-agent-snat', want: { binary: null, role: 'other', portIdPrefix: null } },
    { name: 'neutron-l3-agent-FORWARD', want: { binary: 'l3-agent', role: 'forward', portIdPrefix: null } },
    { name: 'neutron-openvswi-iTOO-SHORT', want: { binary: null, role: 'other', portIdPrefix: null } },
    { name: 'FORWARD', want: undefined },
  ])('$name', ({ name, want }) => {
    expect(classifyNeutronChain(name)).toEqual(want);
  });
});

describe('neutronPortChains', () => {
  const [p1, p2] = captureInfo().ports;
  const ports = neutronPortChains(parseIptablesSave(fixture('iptables-save_-c'), 'fw').value);

  it('maps each port\'s chains to its tap through the sg-chain physdev rules', () => {
    expect(ports).toEqual([p1, p2].map((p) => ({
      portIdPrefix: p.chainId, tap: p.tap, tapPrefix: `tap${p.chainId}`,
      ingress: `neutron-openvswi-i${p.chainId}`, egress: `neutron-openvswi-o${p.chainId}`, spoof: `neutron-openvswi-s${p.chainId}`,
    })).sort((a, b) => a.portIdPrefix.localeCompare(b.portIdPrefix)));
    expect(neutronChainsOfTap(ports, p2.tap)?.ingress).toBe(`neutron-openvswi-i${p2.chainId}`);
    expect(neutronChainsOfTap(ports, 'tap00000000-00')).toBeUndefined();
  });

  it('falls back to the name prefix when no sg-chain rule names the tap', () => {
    const text = '*filter\n:neutron-openvswi-i12345678-9 - [0:0]\n:neutron-openvswi-sg-chain - [0:0]\nCOMMIT\n';
    const only = neutronPortChains(parseIptablesSave(text, 't').value);
    expect(only).toEqual([{ portIdPrefix: '12345678-9', tap: null, tapPrefix: 'tap12345678-9', ingress: 'neutron-openvswi-i12345678-9', egress: null, spoof: null }]);
    expect(neutronChainsOfTap(only, 'tap12345678-90')?.portIdPrefix).toBe('12345678-9');
    expect(neutronPortChains({ tables: [] })).toEqual([]);
  });
});
