import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { captureInfo, fixture, sosFixture } from '../../../test/fixtures/linux/load.js';
import { parseIpLink, type IpDevice } from './ip-link.js';
import { parseIpNetns } from './ip-netns.js';

const info = captureInfo();
const [p1, p2] = info.ports;
const netns = parseIpNetns(fixture('ip_netns'), 'ip_netns').value;
const byName = (devices: IpDevice[], name: string): IpDevice => {
  const d = devices.find((x) => x.name === name);
  if (d === undefined) throw new Error(`no device ${name}`);
  return d;
};

describe('parseIpLink on the captured host (ip -s -d link)', () => {
  const { value: devices, issues } = parseIpLink(fixture('ip_-s_-d_link'), 'ip_-s_-d_link', { netns });

  it('reads every device header in order', () => {
    expect(issues).toEqual([]);
    const headers = fixture('ip_-s_-d_link').split('\n').filter((l) => /^\d+: /.test(l)).map((l) => Number(l.split(':')[0]));
    expect(devices.map((d) => d.ifindex)).toEqual(headers);
  });

  it('reads the kinds: veth, bridge, tap, tun, vxlan', () => {
    expect(byName(devices, p1.tap).kind).toBe('veth');
    expect(byName(devices, p1.qbr).kind).toBe('bridge');
    expect(byName(devices, 'brint0').kind).toBe('bridge');
    expect(byName(devices, 'tapx').kind).toBe('tap');
    expect(byName(devices, 'tunx')).toMatchObject({ kind: 'tun', linkType: 'none', mac: null });
    expect(byName(devices, 'vx0')).toMatchObject({ kind: 'vxlan', tunnel: { id: 42, local: '198.51.100.1', remote: '198.51.100.2', dstPort: 4789 }, state: 'DOWN' });
    expect(byName(devices, 'lo')).toMatchObject({ kind: null, linkType: 'loopback', flags: ['LOOPBACK', 'UP', 'LOWER_UP'], mtu: 65536 });
  });

  it('ties the tap to the VM namespace and qvb to qvo', () => {
    const tap = byName(devices, p1.tap);
    const vmNetns = netns.find((n) => n.name === p1.vmNetns);
    expect(tap.linkIfindex).toBe(2); // eth0 is the VM's second device, after lo
    expect(tap.linkNetns).toEqual({ id: vmNetns?.id, name: p1.vmNetns });
    expect(byName(devices, p1.qvb)).toMatchObject({ linkName: p1.qvo, linkIfindex: null, linkNetns: null, master: p1.qbr });
    expect(byName(devices, p1.qvo)).toMatchObject({ linkName: p1.qvb, master: 'brint0' });
  });

  it('reads bridge_slave details of the qbr ports', () => {
    for (const p of [p1, p2]) {
      expect(byName(devices, p.tap)).toMatchObject({ slaveKind: 'bridge', master: p.qbr, bridgeSlave: { state: 'forwarding', learning: true, flood: true, hairpin: false, portNo: 1, portId: 0x8001 } });
      expect(byName(devices, p.qvb).bridgeSlave).toMatchObject({ state: 'forwarding', portNo: 2 });
    }
    expect(byName(devices, p1.qbr).bridgeSlave).toBeNull();
  });

  it('reads counters that saw the pings (3 echo requests and replies through the qbr)', () => {
    const tap = byName(devices, p1.tap).counters;
    expect(tap).not.toBeNull();
    expect(tap?.rxPackets).toBeGreaterThanOrEqual(3n);
    expect(tap?.txPackets).toBeGreaterThanOrEqual(3n);
    expect(tap?.rxBytes).toBeGreaterThan(tap?.rxPackets ?? 0n);
    expect(byName(devices, 'tapx').counters).toEqual({ rxBytes: 0n, rxPackets: 0n, rxErrors: 0n, rxDropped: 0n, txBytes: 0n, txPackets: 0n, txErrors: 0n, txDropped: 0n });
  });
});

describe('parseIpLink on the captured host (ip -d address)', () => {
  const { value: devices, issues } = parseIpLink(fixture('ip_-d_address'), 'ip_-d_address');

  it('reads addresses with prefix, scope and label', () => {
    expect(issues).toEqual([]);
    expect(byName(devices, 'ext0').addresses).toEqual([{ family: 'inet', address: '198.51.100.1', prefixLength: 24, peer: null, broadcast: null, scope: 'global', label: 'ext0', flags: [] }]);
    expect(byName(devices, 'lo').addresses.map((a) => `${a.family} ${a.address}/${a.prefixLength} ${a.scope}`)).toEqual(['inet 127.0.0.1/8 host', 'inet6 ::1/128 host']);
    expect(byName(devices, 'lo').counters).toBeNull();
  });

  it('reads the VM side: eth0 with the MAC Neutron gave the port', () => {
    const vm = parseIpLink(fixture('vm1/ip_-d_address'), 'vm1');
    expect(vm.issues).toEqual([]);
    expect(byName(vm.value, 'eth0')).toMatchObject({ mac: p1.mac, kind: 'veth', linkNetns: { name: info.host }, addresses: [{ address: p1.ip, prefixLength: 24 }] });
  });
});

describe('parseIpLink on the sosreport fixture', () => {
  it.each(['ip_-d_address', 'ip_-s_-d_link'])('%s: link-netnsid, tun taps of OVS', (file) => {
    const { value, issues } = parseIpLink(sosFixture(file), file);
    expect(issues).toEqual([]);
    expect(byName(value, 'mgmt0')).toMatchObject({ linkIfindex: 86, linkNetns: { id: 0, name: null }, kind: 'veth' });
    expect(byName(value, 'br-int').kind).toBe('tap');
  });
});

describe('parseIpLink on bad input', () => {
  const text = fixture('ip_-s_-d_link');
  const json = fixture('agent/ip.link.json');

  it.each([
    { name: 'garbage header', input: 'hello world\n    link/ether 00:00:00:00:00:01 brd ff:ff:ff:ff:ff:ff\n', devices: 0, lines: [1, 2] },
    { name: 'unknown detail line', input: '5: x: <UP> mtu 1500 state UP\n    link/ether 00:00:00:00:00:01 brd ff:ff:ff:ff:ff:ff\n    inet 192.0.2.1/24 scope global x\n    frobnicate 1 2\n', devices: 1, lines: [4] },
    { name: 'bad address', input: '5: x: <UP> mtu 1500 state UP\n    link/ether 00:00:00:00:00:01\n    inet 192.0.2.1/24 scope global x y z\n', devices: 1, lines: [3] },
    { name: 'stats header cut off', input: '5: x: <UP> mtu 1500 state UP\n    link/ether 00:00:00:00:00:01\n    RX:  bytes packets errors dropped  missed   mcast\n', devices: 1, lines: [3] },
    { name: 'bad counters', input: '5: x: <UP> mtu 1500 state UP\n    link/ether 00:00:00:00:00:01\n    RX:  bytes packets\n    12 x\n', devices: 1, lines: [4] },
  ])('$name', ({ input, devices, lines }) => {
    const parsed = parseIpLink(input, 'case');
    expect(parsed.value).toHaveLength(devices);
    expect(parsed.issues.map((i) => i.line)).toEqual(lines);
    for (const i of parsed.issues) expect(i.source).toBe('case');
  });

  it('keeps the devices before a cut in the text form', () => {
    const cut = text.slice(0, text.indexOf(`: ${p2.tap}@`));
    const parsed = parseIpLink(cut, 'cut');
    expect(parsed.value.map((d) => d.name)).toContain(p1.tap);
    expect(parsed.value.map((d) => d.name)).not.toContain(p2.tap);
  });

  it('keeps the complete devices of a cut JSON array and reports the cut one', () => {
    const at = json.indexOf(`"ifname":"${p2.tap}"`);
    const parsed = parseIpLink(json.slice(0, at), 'cut.json');
    expect(parsed.value.map((d) => d.name)).toContain(p1.qvb);
    expect(parsed.issues).toHaveLength(1);
    expect(parsed.issues[0]?.message).toMatch(/truncated/);
  });

  it('reports JSON that is not iproute2 JSON', () => {
    expect(parseIpLink('[1, {"ifname": "x"}, {oops}]', 'bad.json').issues.map((i) => i.message)).toEqual([
      expect.stringMatching(/^bad JSON element/), 'device is not an object', 'device without ifindex or ifname',
    ]);
  });

  it('never throws on a fixture cut anywhere or with characters flipped', () => {
    fc.assert(
      fc.property(fc.nat(text.length), fc.nat(json.length), fc.string({ maxLength: 3 }), (a, b, s) => {
        for (const input of [text.slice(0, a), json.slice(0, b), text.slice(0, a) + s + text.slice(a + 1), json.slice(0, b) + s + json.slice(b + 1)]) {
          const parsed = parseIpLink(input, 'fuzz');
          expect(Array.isArray(parsed.value)).toBe(true);
          for (const i of parsed.issues) expect(i.line).toBeGreaterThanOrEqual(0);
        }
      }),
      { numRuns: 200 },
    );
  });
});
