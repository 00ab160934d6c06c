// Fingerprint and correlation on real Open vSwitch exports: in the Neutron lab (test/lab), a ping
// from vm1 (compute1) to vm2 (compute2) crosses GRE. Each echo request is sampled three times, as
// DESIGN.md says: by compute1's br-int (the plain frame), by compute2's br-phy (the outer GRE
// frame) and by compute2's br-tun (decapsulated, with tunnel ingress and VNI records). The three
// samples must carry one fingerprint and meet in one correlation group; each request its own.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { decodeDatagram } from '../../src/sflow/datagram.js';
import { Correlator, type ClosedGroup } from '../../src/pathengine/correlate.js';
import { toObservations, type Observation } from '../../src/pathengine/observation.js';
import { probeOvsLab, type CapturedDatagram } from '../support/ovs-lab.js';
import { needService } from '../support/services.js';
import { createNeutronLab, type NeutronLab } from '../lab/neutron-lab.js';
import { ping } from '../lab/traffic.js';

const unavailable = await probeOvsLab();
const ECHO_REQUEST = 8;
const PINGS = 3;

function observationsOf(datagrams: readonly CapturedDatagram[]): Observation[] {
  return datagrams.flatMap((d) => toObservations(decodeDatagram(d.payload), { receivedAtMs: d.receivedAt, exporter: d.source.address }));
}

function correlate(observations: readonly Observation[]): ClosedGroup[] {
  const c = new Correlator();
  for (const o of [...observations].sort((a, b) => a.receivedAtMs - b.receivedAtMs)) c.add(o);
  return c.flush();
}

describe('pathengine on the Neutron lab', () => {
  let lab: NeutronLab | undefined;
  beforeAll(async () => {
    if (unavailable !== undefined) return;
    lab = await createNeutronLab({ computeHosts: 2, sampling: 1 });
  });
  afterAll(async () => {
    await lab?.teardown();
  });
  beforeEach(async (ctx) => {
    await needService(ctx, 'ovs', () => unavailable);
  });

  it('gives each echo request one fingerprint at its three samples (br-int, br-phy outer GRE, br-tun decapsulated) and one group', async () => {
    const l = lab;
    const collector = l?.collector;
    if (l === undefined || collector === undefined) throw new Error('no lab or no collector');
    const vm1 = l.instance('vm1');
    const vm2 = l.instance('vm2');
    const compute1 = l.host('compute1').mgmtAddress;
    const compute2 = l.host('compute2').mgmtAddress;
    const isRequest = (o: Observation): boolean => o.srcIp === vm1.ip && o.dstIp === vm2.ip && o.icmpType === ECHO_REQUEST;
    // Warm the path (ARP, megaflows), then look at fresh pings only.
    await ping(vm1, vm2.ip, 2);
    collector.clear();
    const result = await ping(vm1, vm2.ip, PINGS);
    expect(result.received).toBe(PINGS);

    const requests = await collector.waitFor('three samples of every echo request', (datagrams) => {
      const found = observationsOf(datagrams).filter(isRequest);
      const byFingerprint = new Map<string | null, Observation[]>();
      for (const o of found) byFingerprint.set(o.fingerprint, [...(byFingerprint.get(o.fingerprint) ?? []), o]);
      return byFingerprint.size >= PINGS && [...byFingerprint.values()].every((os) => os.length >= 3) ? found : undefined;
    }, { timeoutMs: 15_000 });

    const groups = correlate(observationsOf(collector.datagrams)).filter((g) => g.observations.some(isRequest));
    expect(groups.length).toBeGreaterThanOrEqual(PINGS);
    const fingerprints = new Set(requests.map((o) => o.fingerprint));
    expect(fingerprints.has(null)).toBe(false);
    expect(groups.map((g) => g.fingerprint).sort()).toEqual([...fingerprints].sort());
    for (const g of groups) {
      expect(g.kind).toBe('frame');
      expect(g.flowKey).toMatchObject({ srcIp: vm1.ip, dstIp: vm2.ip, ipProtocol: 1, icmpType: ECHO_REQUEST, srcMac: vm1.mac });
      const hops = g.observations.map((o) => ({
        agent: o.agent === compute1 ? 'compute1' : o.agent === compute2 ? 'compute2' : o.agent,
        encapsulation: o.encapsulation,
        ingressVni: o.tunnelIngressVni,
        ingressSrc: o.tunnelIngressSrc,
      })).sort((a, b) => `${a.agent}${a.encapsulation}${a.ingressVni}`.localeCompare(`${b.agent}${b.encapsulation}${b.ingressVni}`));
      expect(hops).toEqual([
        { agent: 'compute1', encapsulation: 'none', ingressVni: null, ingressSrc: null }, // br-int, from qvo
        { agent: 'compute2', encapsulation: 'gre', ingressVni: null, ingressSrc: null }, // br-phy: the outer frame
        { agent: 'compute2', encapsulation: 'none', ingressVni: l.network.segmentationId, ingressSrc: '192.0.2.11' }, // br-tun after the pop
      ]);
      const outer = g.observations.find((o) => o.encapsulation === 'gre');
      expect(outer).toMatchObject({ tunnelId: l.network.segmentationId, outerSrcIp: '192.0.2.11', outerDstIp: '192.0.2.12', outerIpProtocol: 47 });
      // Three bridges: three sFlow sources.
      expect(new Set(g.observations.map((o) => `${o.agent}/${o.sourceIdIndex}`)).size).toBe(3);
    }
  });
});
