// The Linux host-state parsers on live output: the Neutron-like host of
// test/fixtures/linux/linux-host.ts (namespaces this test creates and removes, TEST-NET only, the
// hybrid firewall loaded in the host namespace), read now with iproute2, bridge, ethtool and
// iptables-save in the text form sos keeps and the JSON form the agent runs.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { parseBridgeFdb } from '../../src/hoststate/linux/bridge-fdb.js';
import { parseBridgeLink } from '../../src/hoststate/linux/bridge-link.js';
import { parseEthtoolStats } from '../../src/hoststate/linux/ethtool-stats.js';
import { parseIpAddrOneline } from '../../src/hoststate/linux/ip-address.js';
import { parseIpLink, type IpDevice } from '../../src/hoststate/linux/ip-link.js';
import { parseIpNeigh } from '../../src/hoststate/linux/ip-neigh.js';
import { parseIpNetns, type NetnsEntry } from '../../src/hoststate/linux/ip-netns.js';
import { parseIpRoute } from '../../src/hoststate/linux/ip-route.js';
import { iptablesCounterDeltas } from '../../src/hoststate/linux/iptables-counters.js';
import { evaluateIptables } from '../../src/hoststate/linux/iptables-eval.js';
import { parseIptablesList } from '../../src/hoststate/linux/iptables-list.js';
import { neutronPortChains } from '../../src/hoststate/linux/iptables-neutron.js';
import { parseIptablesSave } from '../../src/hoststate/linux/iptables-save.js';
import type { Parsed } from '../../src/hoststate/snapshot.js';
import { buildLinuxHost, pingVm2, type LinuxHost } from '../fixtures/linux/linux-host.js';
import { run } from '../support/netns.js';
import { findCommand } from '../support/ovs-lab.js';
import { needService } from '../support/services.js';

function probe(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (network namespaces, iptables-restore)';
  for (const command of ['ip', 'bridge', 'ethtool', 'iptables-save', 'iptables-restore', 'ping']) {
    if (findCommand(command) === undefined) return `${command} not found: apt-get install iproute2 ethtool iptables iputils-ping`;
  }
  return undefined;
}
const unavailable = probe();

describe('Linux parsers on a live Neutron-like host', () => {
  let h: LinuxHost | undefined;
  let built: Error | undefined;
  const host = (): LinuxHost => {
    if (h === undefined) throw built ?? new Error('host not built');
    return h;
  };

  beforeAll(async () => {
    if (unavailable !== undefined) return;
    try {
      h = await buildLinuxHost();
      await run(h.host, ['ping', '-4', '-n', '-q', '-c', '1', '-W', '2', '198.51.100.254']);
    } catch (error) {
      built = error as Error;
    }
  });

  afterAll(async () => {
    await h?.teardown();
  });

  beforeEach(async (ctx) => {
    await needService(ctx, 'netns', () => unavailable);
  });

  const inHost = (argv: string[]): Promise<string> => run(host().host, argv);
  const netnsList = async (netns?: string): Promise<NetnsEntry[]> => parseIpNetns(await run(netns ?? host().host, ['ip', 'netns']), 'ip netns').value;
  const clean = <T>(parsed: Parsed<T>): T => {
    expect(parsed.issues).toEqual([]);
    return parsed.value;
  };

  it.each([
    { name: 'ip -d address', text: ['ip', '-d', 'address'], json: ['ip', '-j', '-d', 'address', 'show'] },
    { name: 'ip -d address show', text: ['ip', '-d', 'address', 'show'], json: ['ip', '-j', '-d', 'address', 'show'] },
    { name: 'ip -s -d link', text: ['ip', '-s', '-d', 'link'], json: ['ip', '-j', '-s', '-d', 'link', 'show'] },
  ])('$name: text and JSON give the same devices', async ({ text, json }) => {
    const netns = await netnsList();
    const a = clean(parseIpLink(await inHost(text), text.join(' '), { netns }));
    const b = clean(parseIpLink(await inHost(json), json.join(' '), { netns }));
    // Live counters move between the two reads (IPv6 DAD, router solicitations): the JSON read,
    // taken second, has every counter at least as high; the rest is equal.
    for (const d of a) {
      const later = b.find((x) => x.name === d.name)?.counters;
      if (d.counters === null || later === null || later === undefined) continue;
      for (const [k, v] of Object.entries(d.counters)) expect(later[k as keyof typeof later], `${d.name} ${k}`).toBeGreaterThanOrEqual(v);
    }
    const withoutCounters = (list: typeof a): unknown[] => list.map((d) => ({ ...d, counters: d.counters === null ? null : 'present' }));
    expect(withoutCounters(a)).toEqual(withoutCounters(b));
    const [p1] = host().ports;
    const tap = a.find((d) => d.name === p1.tap);
    expect(tap).toMatchObject({ kind: 'veth', master: p1.qbr, slaveKind: 'bridge', linkNetns: { name: p1.vmNetns } });
  });

  it.each([
    { name: 'ip -o addr', text: ['ip', '-o', 'addr'], json: ['ip', '-j', 'addr'], parse: parseIpAddrOneline },
    { name: 'ip route show table all', text: ['ip', 'route', 'show', 'table', 'all'], json: ['ip', '-j', 'route', 'show', 'table', 'all'], parse: parseIpRoute },
    { name: 'ip -s -s neigh show', text: ['ip', '-s', '-s', 'neigh', 'show'], json: ['ip', '-j', 'neigh', 'show'], parse: parseIpNeigh },
    { name: 'ip neigh', text: ['ip', 'neigh'], json: ['ip', '-j', 'neigh', 'show'], parse: parseIpNeigh },
    { name: 'ip netns list', text: ['ip', 'netns', 'list'], json: ['ip', '-j', 'netns', 'list'], parse: parseIpNetns },
    { name: 'bridge -s -s -d link show', text: ['bridge', '-s', '-s', '-d', 'link', 'show'], json: ['bridge', '-j', '-s', '-s', '-d', 'link', 'show'], parse: parseBridgeLink },
    { name: 'bridge fdb show', text: ['bridge', 'fdb', 'show'], json: ['bridge', '-j', 'fdb', 'show'], parse: parseBridgeFdb },
  ] as const)('$name: text and JSON agree', async ({ text, json, parse }) => {
    // `ip netns` lists every namespace of the machine: other tests may add or remove theirs in between.
    const ours = (values: unknown[]): unknown[] =>
      parse === parseIpNetns ? (values as NetnsEntry[]).filter((n) => n.name.startsWith(host().prefix)) : values;
    const a = ours(clean((parse as (t: string, s: string) => Parsed<unknown[]>)(await inHost([...text]), text.join(' '))));
    const b = ours(clean((parse as (t: string, s: string) => Parsed<unknown[]>)(await inHost([...json]), json.join(' '))));
    expect(a).toEqual(b);
    expect(a.length).toBeGreaterThan(0);
  });

  it('ethtool -S gives each veth end its peer, as ip link sees it', async () => {
    const h = host();
    const hostDevices = clean(parseIpLink(await inHost(['ip', '-j', 'link', 'show']), 'ip link'));
    const vmDevices = clean(parseIpLink(await run(h.ports[0].vmNetns, ['ip', '-j', 'link', 'show']), 'vm ip link'));
    const byName = (devices: IpDevice[], name: string): IpDevice | undefined => devices.find((d) => d.name === name);
    const tapStats = clean(parseEthtoolStats(await inHost(['ethtool', '-S', h.ports[0].tap]), 'ethtool'));
    expect(tapStats.peerIfindex).toBe(byName(vmDevices, 'eth0')?.ifindex);
    const qvbStats = clean(parseEthtoolStats(await inHost(['ethtool', '-S', h.ports[0].qvb]), 'ethtool'));
    expect(qvbStats.peerIfindex).toBe(byName(hostDevices, h.ports[0].qvo)?.ifindex);
  });

  it('iptables-save: rules, Neutron ports, and the counters of the rule the evaluation picks', async () => {
    const h = host();
    const [p1, p2] = h.ports;
    const save = async (): Promise<ReturnType<typeof parseIptablesSave>['value']> => clean(parseIptablesSave(await inHost(['iptables-save', '-c']), 'iptables-save -c'));
    const plain = clean(parseIptablesSave(await inHost(['iptables-save']), 'iptables-save'));
    const before = await save();
    expect(plain.tables.map((t) => t.name)).toEqual(before.tables.map((t) => t.name));
    expect(neutronPortChains(before).map((p) => p.tap).sort()).toEqual([p1.tap, p2.tap].sort());
    await pingVm2(h, 2);
    const after = await save();
    const deltas = iptablesCounterDeltas(before, after);
    expect(deltas.length).toBeGreaterThan(0);
    if (!h.bridgeNetfilter) return; // without br_netfilter no bridged frame crosses FORWARD
    const request = evaluateIptables(after, {
      physdevIn: p1.tap, physdevOut: p1.qvb, inInterface: p1.qbr, outInterface: p1.qbr,
      src: p1.ip, dst: p2.ip, protocol: 'icmp', icmpType: 8, srcMac: p1.mac, ctState: 'NEW',
    });
    expect(request.verdict).toMatchObject({ kind: 'verdict', verdict: 'ACCEPT' });
    // sos' form of the same firewall decides the same.
    const listed = clean(parseIptablesList(await inHost(['iptables', '-vnxL']), 'iptables -vnxL'));
    expect(neutronPortChains(listed)).toEqual(neutronPortChains(after));
    const fromList = evaluateIptables(listed, {
      physdevIn: p1.tap, physdevOut: p1.qvb, inInterface: p1.qbr, outInterface: p1.qbr,
      src: p1.ip, dst: p2.ip, protocol: 'icmp', icmpType: 8, srcMac: p1.mac, ctState: 'NEW',
    });
    expect({ ...fromList.verdict, ruleText: null }).toEqual({ ...request.verdict, ruleText: null });
    const decided = request.verdict.kind === 'verdict' ? request.verdict : undefined;
    expect(deltas.find((d) => d.chain === decided?.chain && d.index === decided?.ruleIndex)?.packets).toBeGreaterThanOrEqual(2n);
    // The spoof chain of vm1 counted exactly the two requests.
    expect(deltas.find((d) => d.chain === `neutron-openvswi-s${p1.chainId}` && d.index === 1)?.packets).toBe(2n);
  });
});
