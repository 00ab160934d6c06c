// The path engine on the real Neutron lab built with VXLAN tenant networks (tunnelType 'vxlan':
// ports vxlan-<hex remote>, br-tun table 4, sampling 1): vm1's pings to the DHCP port are delivered
// across the VXLAN tunnel, the outer UDP/4789 frame sampled on network1's br-phy joined to the inner
// frame; with the table-4 flow removed the frames die at network1 br-tun table 4, and the printed
// ofproto/trace check agrees on the real OVS. GRE: analyze-lab.test.ts.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { RawSnapshot } from '../../src/hoststate/snapshot.js';
import { analyzeCapture, formatPath, type AnalyzedPath } from '../../src/pathengine/analyze.js';
import { decodeDatagram } from '../../src/sflow/datagram.js';
import type { FlowSample, Packet } from '../../src/sflow/types.js';
import { buildTopologies } from '../../src/topology/build.js';
import { breakLab, describeBreak, repairLab } from '../lab/break.js';
import { tunnelPortName } from '../lab/neutron-config.js';
import { createNeutronLab, type HostLabel, type NeutronLab } from '../lab/neutron-lab.js';
import { agentSnapshot } from '../lab/sos-tree.js';
import { ping } from '../lab/traffic.js';
import { buildPcap, probeOvsLab } from '../support/ovs-lab.js';
import { needService } from '../support/services.js';

const unavailable = await probeOvsLab();
const HOSTS: HostLabel[] = ['compute1', 'network1'];

describe('path engine on the Neutron lab with VXLAN tenant networks', () => {
  let lab: NeutronLab | undefined;
  let work = '';
  const get = (): NeutronLab => {
    if (lab === undefined) throw new Error('no lab');
    return lab;
  };

  const snapshots = (): Promise<RawSnapshot[]> => Promise.all(HOSTS.map((label) => agentSnapshot(get(), label)));

  /** vm1 pings the DHCP port; the capture of that time and the snapshots after it, analyzed. */
  async function pingAndAnalyze(tag: string): Promise<{ paths: AnalyzedPath[]; received: number }> {
    const l = get();
    const target = l.dhcp.ip;
    const collector = l.collector;
    if (collector === undefined) throw new Error('lab opened no collector');
    const vm1 = l.instance('vm1');
    collector.clear();
    const result = await ping(vm1, target, 2);
    await collector.waitFor('flow samples after the ping', (d) => (d.length > 0 ? true : undefined));
    await new Promise((r) => setTimeout(r, 1500));
    const pcap = join(work, `${tag}.pcap`);
    writeFileSync(pcap, buildPcap(collector.datagrams));
    const raws = await snapshots();
    const analysis = analyzeCapture(new Uint8Array(buildPcap(collector.datagrams)), pcap, buildTopologies(raws).topologies, { rawSnapshots: raws });
    // the echo requests, or the ARP requests for the DHCP port when vm1's neighbour entry expired
    const paths = analysis.paths.filter((p) => p.flow.srcMac === vm1.mac && p.flow.dstIp === target && (p.flow.icmpType === 8 || p.flow.ipProtocol === null));
    if (process.env['HOPTRACE_DEBUG'] !== undefined) for (const p of paths.slice(0, 2)) console.info(`${tag}:\n${formatPath(p)}`);
    return { paths, received: result.received };
  }

  beforeAll(async () => {
    if (unavailable !== undefined) return;
    work = mkdtempSync(join(tmpdir(), 'hoptrace-analyze-vxlan-'));
    lab = await createNeutronLab({ computeHosts: 1, sampling: 1, polling: 1, tunnelType: 'vxlan' });
  }, 240_000);
  afterAll(async () => {
    await lab?.teardown();
    if (work !== '') rmSync(work, { recursive: true, force: true });
  });
  beforeEach(async (ctx) => {
    await needService(ctx, 'ovs', () => unavailable);
  });

  it('the lab: vxlan tunnel ports with key=flow, the VXLAN MTU, table 4 dispatch in br-tun', async () => {
    const l = get();
    expect(l.network).toMatchObject({ networkType: 'vxlan', mtu: 1450 });
    expect(l.instance('vm1').mtu).toBe(1450);
    const network1 = l.ovs('network1');
    const port = tunnelPortName('vxlan', l.host('compute1').underlay.address);
    expect(l.host('network1').tunnels.map((t) => t.port)).toEqual([port]);
    const type = await network1.vsctl(['get', 'Interface', port, 'type']);
    expect(type.trim()).toBe('vxlan');
    const options = await network1.vsctl(['get', 'Interface', port, 'options']);
    expect(options).toContain(`remote_ip="${l.host('compute1').underlay.address}"`);
    const flows = await network1.ofctl(['dump-flows', 'br-tun']);
    expect(flows).toMatch(new RegExp(`table=4, .*priority=1,tun_id=0x${l.network.segmentationId.toString(16)} actions=mod_vlan_vid:${l.host('network1').localVlan}`));
    expect(flows).toMatch(/table=0, .*priority=1,in_port=2 actions=resubmit\(,4\)/);
    expect(flows).not.toMatch(/table=3, .*tun_id=/);
    expect(describeBreak(l, 'tun-to-vlan-removed').change).toContain('br-tun table 4 flow');
  });

  it('analyze: healthy lab, vm1 pings the DHCP port across VXLAN: delivered, the outer frame on network1 br-phy joined to the inner one', async () => {
    const l = get();
    const { paths, received } = await pingAndAnalyze('healthy');
    expect(received).toBeGreaterThan(0);
    const requests = paths.filter((p) => p.flow.icmpType === 8);
    expect(requests.length).toBeGreaterThan(0);
    for (const p of paths) {
      expect(p.verdict, formatPath(p)).toBe('delivered');
      expect(p.drop, formatPath(p)).toBeNull();
      const observed = p.hops.filter((h) => h.observed).map((h) => `${h.host}/${h.device}`);
      expect(observed, formatPath(p)).toEqual(expect.arrayContaining(['compute1/br-int', 'network1/br-tun']));
      expect(p.hops[0], formatPath(p)).toMatchObject({ host: 'compute1', kind: 'vm-port', device: l.instance('vm1').devices.tap });
      expect(p.hops[p.hops.length - 1], formatPath(p)).toMatchObject({ host: 'network1', kind: 'namespace', namespace: l.dhcp.namespace, device: l.dhcp.device });
      expect(p.hops.some((h) => h.kind === 'tunnel' && h.tunnelId === l.network.segmentationId), formatPath(p)).toBe(true);
      // network1's underlay bridge sampled the outer VXLAN frame, and it was put on this path
      const physical = p.hops.filter((h) => h.kind === 'physical' && h.host === 'network1');
      expect(physical, formatPath(p)).toHaveLength(1);
      expect(physical[0], formatPath(p)).toMatchObject({ bridge: 'br-phy', observed: true, tunnelId: l.network.segmentationId });
    }
    for (const p of requests) expect(p.answered, formatPath(p)).toBe(true);
    // what was joined: network1's br-phy sampled UDP to 4789 from compute1 carrying VNI 0x49 and the echo request
    const vm1 = l.instance('vm1');
    const packets = (l.collector?.datagrams ?? [])
      .filter((d) => d.source.address === l.host('network1').mgmtAddress)
      .flatMap((d) => decodeDatagram(d.payload).samples)
      .filter((s): s is FlowSample => s.kind === 'flow')
      .map((s) => s.records.find((r) => r.kind === 'sampled_header')?.packet ?? null);
    const outer = packets.filter((p): p is Packet => p?.tunnel?.type === 'vxlan' && p.inner?.icmpType === 8 && p.inner.srcIp === vm1.ip);
    expect(outer.length).toBeGreaterThan(0);
    for (const p of outer) expect(p).toMatchObject({ srcIp: l.host('compute1').underlay.address, dstIp: l.host('network1').underlay.address, ipProtocol: 17, dstPort: 4789, tunnel: { id: l.network.segmentationId } });
  });

  it('analyze: tun-to-vlan-removed: dropped on network1 br-tun by the table-4 default drop; ofproto/trace on network1 agrees', async () => {
    const l = get();
    const traced: { bridge: string; output: string }[] = [];
    await breakLab(l, 'tun-to-vlan-removed');
    let paths: AnalyzedPath[];
    let received: number;
    try {
      ({ paths, received } = await pingAndAnalyze('tun-to-vlan-removed'));
      // the check printed for the drop point, run as an operator would while the break is in place
      for (const p of paths) {
        for (const c of p.checks.filter((x) => x.host === 'network1')) {
          const m = /^ovs-appctl ofproto\/trace (\S+) '([^']+)'$/.exec(c.command);
          expect(m, c.command).not.toBeNull();
          const output = await l.ovs('network1').appctl(['ofproto/trace', m?.[1] ?? '', m?.[2] ?? '']);
          traced.push({ bridge: m?.[1] ?? '', output });
          if (process.env['HOPTRACE_DEBUG'] !== undefined) console.info(c.command, output);
        }
      }
    } finally {
      await repairLab(l, 'tun-to-vlan-removed');
    }
    expect(received).toBe(0);
    expect(paths.length).toBeGreaterThan(0);
    for (const p of paths) {
      expect(p.verdict, formatPath(p)).toBe('dropped');
      expect(p.drop, formatPath(p)).toMatchObject({ host: 'network1', bridge: 'br-tun', table: 4 });
      expect(p.drop?.rule, formatPath(p)).toMatch(/priority=0 actions=drop/);
    }
    const atDrop = traced.filter((t) => t.bridge === 'br-tun');
    expect(atDrop.length).toBeGreaterThan(0);
    for (const t of atDrop) {
      expect(t.output).toMatch(/^ 0\. in_port=2, priority 1[^\n]*\n\s+resubmit\(,4\)$/m);
      expect(t.output).toMatch(/^ 4\. priority 0[^\n]*\n\s+drop$/m);
      // nothing forwarded: at most the sFlow sampling action (OVS's own discard sample, reason 256)
      expect(t.output).toMatch(/^Datapath actions: (drop|userspace\([^\n]*sFlow\([^\n]*output=1073742080\)[^\n]*\))$/m);
    }
    // repaired: the ping goes through again
    expect((await ping(l.instance('vm1'), l.dhcp.ip, 1)).received).toBe(1);
  });
});
