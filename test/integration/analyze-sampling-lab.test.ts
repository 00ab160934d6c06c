// The path engine on the real Neutron lab with 1-in-N sampling: observations join by flow (flow
// groups, tumbling windows), so a verdict rests on a few samples of many frames. vm1 sends bounded
// bursts of echo requests (a few hundred, 0.01 s apart, to the lab's TEST-NET DHCP port); healthy
// flows are delivered, a removed br-tun flow is found by its rule, and frames vanishing on the
// underlay (no rule anywhere in the snapshots explains it) come out `lost` once the flow was seen
// often enough before the gap that chance cannot explain it (lossEvidence: at most 1e-3, so a
// healthy burst's few flow windows are called lost by chance far less than once in a hundred runs).
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { RawSnapshot } from '../../src/hoststate/snapshot.js';
import { analyzeCapture, formatPath, lostMinSamples, type AnalyzedPath } from '../../src/pathengine/analyze.js';
import { buildTopologies } from '../../src/topology/build.js';
import { breakLab, repairLab, type BreakScenario } from '../lab/break.js';
import { createNeutronLab, type HostLabel, type NeutronLab } from '../lab/neutron-lab.js';
import { agentSnapshot } from '../lab/sos-tree.js';
import { ping, pingBurst } from '../lab/traffic.js';
import { buildPcap, probeOvsLab } from '../support/ovs-lab.js';
import { needService } from '../support/services.js';

const unavailable = await probeOvsLab();
const HOSTS: HostLabel[] = ['compute1', 'network1'];
/** 1 in SAMPLING frames sampled: BURST echo requests give each bridge about BURST / SAMPLING samples. */
const SAMPLING = 10;
const BURST = 400;

describe(`path engine on the Neutron lab, sampling 1 in ${SAMPLING}`, () => {
  let lab: NeutronLab | undefined;
  const get = (): NeutronLab => {
    if (lab === undefined) throw new Error('no lab');
    return lab;
  };

  const snapshots = (): Promise<RawSnapshot[]> => Promise.all(HOSTS.map((label) => agentSnapshot(get(), label)));

  /** A burst from vm1 to the DHCP port, analyzed: vm1's echo-request flow paths. */
  async function burst(windowMs?: number): Promise<{ paths: AnalyzedPath[]; received: number; transmitted: number }> {
    const l = get();
    const collector = l.collector;
    if (collector === undefined) throw new Error('lab opened no collector');
    const vm1 = l.instance('vm1');
    collector.clear();
    const result = await pingBurst(vm1, l.dhcp.ip, BURST, 0.01);
    await new Promise((r) => setTimeout(r, 1500));
    const raws = await snapshots();
    const analysis = analyzeCapture(new Uint8Array(buildPcap(collector.datagrams)), 'sampling.pcap', buildTopologies(raws).topologies, { rawSnapshots: raws, ...(windowMs === undefined ? {} : { windowMs }) });
    const paths = analysis.paths.filter((p) => p.flow.srcIp === vm1.ip && p.flow.dstIp === l.dhcp.ip && p.flow.icmpType === 8);
    if (process.env['HOPTRACE_DEBUG'] !== undefined) for (const p of paths) console.info(formatPath(p));
    return { paths, received: result.received, transmitted: result.transmitted };
  }

  async function broken(scenario: BreakScenario, windowMs?: number): Promise<AnalyzedPath[]> {
    const l = get();
    // vm1 must know the DHCP port's MAC before the break (underlay-loss eats its ARP requests too)
    expect((await ping(l.instance('vm1'), l.dhcp.ip, 1)).received).toBe(1);
    // its samples leave the agents within a second: let them pass before the capture is cleared
    await new Promise((r) => setTimeout(r, 1500));
    await breakLab(l, scenario);
    try {
      const { paths, received } = await burst(windowMs);
      expect(received).toBe(0);
      return paths;
    } finally {
      await repairLab(l, scenario);
    }
  }

  beforeAll(async () => {
    if (unavailable !== undefined) return;
    lab = await createNeutronLab({ computeHosts: 1, sampling: SAMPLING, polling: 1 });
  }, 240_000);
  afterAll(async () => {
    await lab?.teardown();
  });
  beforeEach(async (ctx) => {
    await needService(ctx, 'ovs', () => unavailable);
  });

  it('healthy: vm1\'s echo requests are flow paths (1-in-N samples), delivered into the qdhcp namespace and answered', async () => {
    const l = get();
    const { paths, received, transmitted } = await burst();
    expect(received).toBe(transmitted);
    expect(paths.length).toBeGreaterThan(0);
    const samples = paths.reduce((n, p) => n + p.observations, 0);
    // about BURST / SAMPLING samples per observable bridge: far fewer paths than echo requests
    expect(samples).toBeLessThan(BURST);
    for (const p of paths) {
      expect(p.kind, formatPath(p)).toBe('flow');
      expect(p.samplingRate, formatPath(p)).toBe(SAMPLING);
      expect(p.verdict, formatPath(p)).toBe('delivered');
      expect(p.drop).toBeNull();
      expect(p.hops[p.hops.length - 1], formatPath(p)).toMatchObject({ host: 'network1', kind: 'namespace', namespace: l.dhcp.namespace });
      // answered, unless the window holds too few samples for a missing answer to tell (null)
      if (p.answered !== true) {
        expect(p.answered, formatPath(p)).toBeNull();
        expect(p.observations, formatPath(p)).toBeLessThan(lostMinSamples([SAMPLING], SAMPLING));
      }
    }
    expect(paths.filter((p) => p.answered === true).length, paths.map(formatPath).join('\n\n')).toBeGreaterThan(0);
    expect(paths.some((p) => p.hops.some((h) => h.observed && h.host === 'network1')), paths.map(formatPath).join('\n\n')).toBe(true);
  });

  it('tun-to-vlan-removed: the flow paths are dropped on network1 br-tun by the table-3 default drop', async () => {
    const paths = await broken('tun-to-vlan-removed');
    expect(paths.length).toBeGreaterThan(0);
    for (const p of paths) {
      expect(p.kind, formatPath(p)).toBe('flow');
      expect(p.verdict, formatPath(p)).toBe('dropped');
      expect(p.drop, formatPath(p)).toMatchObject({ host: 'network1', bridge: 'br-tun', table: 3 });
      expect(p.drop?.rule, formatPath(p)).toMatch(/priority=0 actions=drop/);
      expect(p.answered, formatPath(p)).toBe(p.observations >= lostMinSamples([SAMPLING], SAMPLING) ? false : null);
    }
  });

  it(`underlay-loss: flows seen at least ${lostMinSamples([SAMPLING], SAMPLING)} times on compute1 and never on network1 are lost; thinner ones stay delivered with a doubt`, async () => {
    // one window over the whole burst (about BURST / SAMPLING samples at compute1): 2 s windows hold
    // about 10 each, on the edge of what says lost
    const paths = await broken('underlay-loss', 30_000);
    expect(paths.length).toBeGreaterThan(0);
    const lost = paths.filter((p) => p.verdict === 'lost');
    expect(lost.length, paths.map(formatPath).join('\n\n')).toBeGreaterThan(0);
    for (const p of paths) {
      expect(p.kind, formatPath(p)).toBe('flow');
      expect(p.drop, formatPath(p)).toBeNull();
      expect(p.hops.filter((h) => h.observed).map((h) => `${h.host}/${h.device}`), formatPath(p)).toEqual(['compute1/br-int']);
      if (p.observations >= lostMinSamples([SAMPLING], SAMPLING)) {
        expect(p.verdict, formatPath(p)).toBe('lost');
        expect(p.confidence, formatPath(p)).toBeGreaterThanOrEqual(0.999);
        expect(p.doubts.some((d) => d.includes('never at') && d.includes('network1') && d.includes(`1-in-${SAMPLING}`)), formatPath(p)).toBe(true);
      } else {
        expect(p.verdict, formatPath(p)).toBe('delivered');
        expect(p.doubts.some((d) => d.includes('too few samples')), formatPath(p)).toBe(true);
      }
    }
  });
});
