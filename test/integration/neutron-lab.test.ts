// The Neutron ML2/OVS lab (test/lab): real frames cross GRE between lab hosts; each break scenario
// really stops the traffic it names and its repair brings it back; the sos tree holds what sos
// would collect; a lab can be reattached from its state.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { COMMANDS, sosPaths } from '../../src/hoststate/commands.js';
import { decodeDatagram } from '../../src/sflow/datagram.js';
import type { FlowSample, Packet } from '../../src/sflow/types.js';
import { waitFor } from '../support/netns.js';
import { probeOvsLab } from '../support/ovs-lab.js';
import { needService } from '../support/services.js';
import { BREAK_SCENARIOS, breakLab, repairLab, type BreakScenario } from '../lab/break.js';
import { createNeutronLab, type LabInstance, type NeutronLab } from '../lab/neutron-lab.js';
import { sosSource, sosTree } from '../lab/sos-tree.js';
import { attachLab, layoutOf, type NeutronLabState } from '../lab/state.js';
import { arping, dhcpRequest, ping } from '../lab/traffic.js';

const unavailable = await probeOvsLab();

/** Pings until a round gets every reply (a repaired path may lose the first frame while ARP and tunnel neighbours settle). */
async function reachable(from: LabInstance, ip: string): Promise<{ received: number; transmitted: number }> {
  let last = { received: 0, transmitted: 0 };
  for (let round = 0; round < 4; round++) {
    last = await ping(from, ip, 3);
    if (last.received === last.transmitted) break;
  }
  return last;
}

function packetsOf(dump: string, match: RegExp): number {
  const line = dump.split('\n').find((l) => match.test(l));
  return Number(/n_packets=(\d+)/.exec(line ?? '')?.[1] ?? -1);
}

describe('neutron lab', () => {
  let lab: NeutronLab | undefined;
  const get = (): NeutronLab => {
    if (lab === undefined) throw new Error('no lab');
    return lab;
  };

  beforeAll(async () => {
    if (unavailable !== undefined) return;
    lab = await createNeutronLab({ computeHosts: 2, polling: 1 });
  });
  afterAll(async () => {
    await lab?.teardown();
  });
  beforeEach(async (ctx) => {
    await needService(ctx, 'ovs', () => unavailable);
  });

  it('is wired as Neutron wires it', async () => {
    const l = get();
    expect(l.hosts.map((h) => h.label)).toEqual(['compute1', 'compute2', 'network1']);
    expect(l.instances.map((i) => [i.label, i.host])).toEqual([['vm1', 'compute1'], ['vm2', 'compute2']]);
    const vm1 = l.instance('vm1');
    const c1 = l.ovs('compute1');
    expect(vm1.devices.tap).toBe(`tap${vm1.portId.slice(0, 11)}`);
    expect(vm1.mac).toMatch(/^fa:16:3e(:[0-9a-f]{2}){3}$/);
    expect((await c1.vsctl(['get', 'Port', vm1.devices.qvo, 'tag'])).trim()).toBe(String(vm1.localVlan));
    expect((await c1.vsctl(['get', 'Interface', vm1.devices.qvo, 'external_ids:iface-id'])).trim()).toBe(`"${vm1.portId}"`);
    expect((await c1.vsctl(['get', 'Port', vm1.devices.qvo, 'other_config:segmentation_id'])).trim()).toBe(`"${l.network.segmentationId}"`);
    expect((await c1.vsctl(['get', 'Interface', 'gre-c0000215', 'options'])).trim()).toContain('remote_ip="192.0.2.21"');
    expect(await c1.exec(['ip', '-o', 'link', 'show', 'master', vm1.devices.qbr]).then((r) => r.stdout)).toContain(vm1.devices.qvb);
    expect(l.host('compute1').ofports['br-tun']?.['patch-int']).toBe(1);
    expect(l.host('compute1').tunnels.map((t) => t.remoteHost)).toEqual(['compute2', 'network1']);
    // Every bridge of every host exports sFlow to the collector, agent mgmt0.
    for (const host of l.hosts) {
      const sflow = await l.ovs(host.label).vsctl(['--columns=agent,targets,sampling', 'list', 'sflow']);
      expect(sflow).toContain(l.sflow.target);
      for (const bridge of host.bridges) expect((await l.ovs(host.label).vsctl(['get', 'Bridge', bridge, 'sflow'])).trim()).not.toBe('[]');
    }
  });

  it('carries real traffic through GRE: DHCP port, router, SNAT to the external host, the other compute host', async () => {
    const l = get();
    const vm1 = l.instance('vm1');
    const vm2 = l.instance('vm2');
    const before = packetsOf(await l.ovs('network1').ofctl(['dump-flows', 'br-tun']), /table=3,.*tun_id=0x49/);
    expect((await reachable(vm1, l.dhcp.ip)).received).toBe(3);
    // The echo requests were decapsulated by network1's br-tun (rule counters move when revalidators push datapath stats).
    const after = await waitFor('network1 br-tun table 3 to count the echo requests', async () => {
      await l.ovs('network1').appctl(['revalidator/wait']);
      const n = packetsOf(await l.ovs('network1').ofctl(['dump-flows', 'br-tun']), /table=3,.*tun_id=0x49/);
      return n >= before + 3 ? n : undefined;
    }, { timeoutMs: 10_000 });
    expect(after).toBeGreaterThanOrEqual(before + 3);
    expect((await reachable(vm1, l.router.qr.ip)).received).toBe(3);
    expect((await reachable(vm1, l.external.ip)).received).toBe(3);
    expect((await reachable(vm1, vm2.ip)).received).toBe(3);
    expect((await reachable(vm2, l.dhcp.ip)).received).toBe(3);
    // SNAT: the external host saw the router's gateway address, never the tenant address.
    const nat = await l.ovs('network1').exec(['ip', 'netns', 'exec', l.router.namespace, 'iptables-save', '-c', '-t', 'nat']);
    expect(Number(/\[(\d+):\d+\] -A neutron-l3-agent-snat -o qg-\S+ -j SNAT/.exec(nat.stdout)?.[1] ?? 0)).toBeGreaterThan(0);
    expect(await dhcpRequest(vm1)).toMatchObject({ acked: true, offered: vm1.ip, server: l.dhcp.ip, router: l.network.gatewayIp, mtu: l.network.mtu });
    const arp = await arping(vm1, l.router.qr.ip, 2);
    expect(arp.replies).toEqual([l.router.qr.mac, l.router.qr.mac]);
  });

  it('sends sFlow from every host (agent address = mgmt0)', async () => {
    const l = get();
    const collector = l.collector;
    if (collector === undefined) throw new Error('lab opened no collector');
    await ping(l.instance('vm1'), l.dhcp.ip, 2);
    const agents = await collector.waitFor('datagrams from every host', (datagrams) => {
      const sources = new Set(datagrams.map((d) => d.source.address));
      return l.hosts.every((h) => sources.has(h.mgmtAddress)) ? sources : undefined;
    });
    expect([...agents].sort()).toEqual(l.hosts.map((h) => h.mgmtAddress).sort());
  });

  it('exports the GRE leg on the receiver as DESIGN.md says: outer frame on br-phy, decapsulated frame with its key on br-tun', async () => {
    const l = get();
    const collector = l.collector;
    if (collector === undefined) throw new Error('lab opened no collector');
    const vm1 = l.instance('vm1');
    const network1 = l.host('network1');
    const isEcho = (p: Packet | null | undefined): boolean => p?.srcIp === vm1.ip && p.dstIp === l.dhcp.ip && p.icmpType === 8;
    collector.clear();
    expect((await reachable(vm1, l.dhcp.ip)).received).toBe(3);
    const found = await collector.waitFor('network1 flow samples of the outer GRE frame and of the decapsulated frame', (datagrams) => {
      const samples = datagrams
        .filter((d) => d.source.address === network1.mgmtAddress)
        .flatMap((d) => decodeDatagram(d.payload).samples)
        .filter((s): s is FlowSample => s.kind === 'flow');
      const packetOf = (s: FlowSample): Packet | null => s.records.find((r) => r.kind === 'sampled_header')?.packet ?? null;
      const outer = samples.find((s) => {
        const p = packetOf(s);
        return p?.tunnel?.type === 'gre' && p.tunnel.id === l.network.segmentationId && p.srcIp === '192.0.2.11' && isEcho(p.inner);
      });
      const decapsulated = samples.find((s) => isEcho(packetOf(s)) && s.records.some((r) => r.kind === 'extended_vni_ingress' && r.vni === l.network.segmentationId));
      return outer !== undefined && decapsulated !== undefined ? { outer, decapsulated } : undefined;
    });
    expect(found.outer.sourceIdIndex).not.toBe(found.decapsulated.sourceIdIndex); // two bridges: br-phy, then br-tun
  });

  it.for(BREAK_SCENARIOS.map((s) => [s] as const))('%s breaks the traffic it names, and repairs', async ([scenario]: readonly [BreakScenario], ctx) => {
    await needService(ctx, 'ovs', () => unavailable);
    const l = get();
    const vm1 = l.instance('vm1');
    if (scenario === 'sg-drop' && !l.host('compute1').bridgeNetfilter) {
      ctx.skip('br_netfilter is not loaded (modprobe br_netfilter): iptables does not see bridged frames, so the hybrid firewall filters nothing');
    }
    if (scenario === 'dnsmasq-stopped') expect((await dhcpRequest(vm1)).acked).toBe(true);
    else expect((await reachable(vm1, l.dhcp.ip)).received).toBe(3);

    const info = await breakLab(l, scenario);
    try {
      expect(info.instance).toBe('vm1');
      if (info.breaks.kind === 'dhcp') {
        const dhcp = await dhcpRequest(vm1, 3_000);
        expect(dhcp.acked).toBe(false);
        expect(dhcp.received).toEqual([]);
        expect((await ping(vm1, l.dhcp.ip, 2)).received).toBe(2); // the path is fine: only the daemon is gone
      } else {
        expect((await ping(vm1, info.breaks.target, 2)).received).toBe(0);
      }
    } finally {
      await repairLab(l, scenario);
    }
    if (scenario === 'dnsmasq-stopped') expect((await dhcpRequest(vm1)).acked).toBe(true);
    else expect((await reachable(vm1, l.dhcp.ip)).received).toBe(3);
  });

  it('writes a sos tree per host from the command catalog, as sos names the files', async () => {
    const l = get();
    const root = mkdtempSync(join(tmpdir(), 'hoptrace-sos-test-'));
    try {
      const network = await sosTree(sosSource(l, 'network1'), join(root, 'network1'));
      const compute = await sosTree(sosSource(l, 'compute1'), join(root, 'compute1'));
      expect(readFileSync(join(root, 'network1', 'hostname'), 'utf8')).toBe('network1\n');
      // Every host-scope catalog entry whose first sos path has a sos command and an installed tool is there.
      for (const spec of COMMANDS.filter((c) => c.scope === 'host' && c.id !== 'ovs-appctl.dpctl.show')) {
        const first = sosPaths(spec)[0] ?? '';
        const skipped = compute.skipped.some((s) => s.id === spec.id);
        expect(skipped || existsSync(join(root, 'compute1', first)), `${spec.id} -> ${first}`).toBe(true);
      }
      const flows = readFileSync(join(root, 'compute1', 'sos_commands/openvswitch/ovs-ofctl_dump-flows_br-tun'), 'utf8');
      expect(flows).toMatch(/table=22, .*priority=1,dl_vlan=1 actions=strip_vlan,set_tunnel:0x49/);
      expect(readFileSync(join(root, 'compute1', 'sos_commands/firewall_tables/iptables-save_-c'), 'utf8')).toContain(l.instance('vm1').chains.ingress);
      expect(readFileSync(join(root, 'compute1', 'sos_commands/openvswitch/ovs-vsctl_-t_5_list_interface'), 'utf8')).toContain(l.instance('vm1').portId);
      expect(readFileSync(join(root, 'network1', 'sos_commands/networking/ip_netns'), 'utf8').split('\n').map((x) => x.split(' ')[0]).filter((x) => x !== '').sort())
        .toEqual([l.dhcp.namespace, l.router.namespace].sort());
      const qrouterAddr = join(root, 'network1', `sos_commands/networking/namespaces/${l.router.namespace}/ip_netns_exec_${l.router.namespace}_ip_-d_address_show`);
      expect(readFileSync(qrouterAddr, 'utf8')).toContain(`${l.router.qg.ip}/26`);
      // Only `ethtool -S` of devices without statistics (tap, lo, bridges' internal ports) fails, as on a real host.
      const failed = [...network.written, ...compute.written].filter((w) => w.exitCode !== 0);
      expect(failed.filter((w) => !w.command.startsWith('ethtool -S ')).map((w) => w.command)).toEqual([]);
      expect(readFileSync(join(root, 'compute1', `sos_commands/networking/ethtool_-S_${l.instance('vm1').devices.qvo}`), 'utf8')).toMatch(/peer_ifindex: \d+/);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('can be driven from its state alone (what the CLI does after `up` exited)', async () => {
    const l = get();
    const state: NeutronLabState = { version: 1, createdAt: new Date(0).toISOString(), createdBy: process.pid, linkPrefix: l.mgmt.bridge, layout: layoutOf(l), daemons: [], breaks: [] };
    const attached = attachLab(JSON.parse(JSON.stringify(state)) as NeutronLabState);
    expect(await attached.ovs('network1').ofctl(['dump-flows', 'br-tun'])).toContain('tun_id=0x49');
    await breakLab(attached, 'qvo-untagged');
    expect((await l.ovs('compute1').vsctl(['get', 'Port', l.instance('vm1').devices.qvo, 'tag'])).trim()).toBe('[]');
    await repairLab(attached, 'qvo-untagged');
    expect((await reachable(l.instance('vm1'), l.dhcp.ip)).received).toBe(3);
  });
});
