import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../errors.js';
import { readUdpPayloads } from '../pcap/pcap-reader.js';
import { decodeDatagram } from '../sflow/datagram.js';
import type { FlowSample } from '../sflow/types.js';
import { importSnapshots } from '../snapshot/import.js';
import { buildTopologies } from '../topology/build.js';
import type { HostTopology } from '../topology/model.js';
import { analyzeDatagrams, formatPath, readCapture, type TimedDatagram } from './analyze.js';
import { Correlator, hopOrder, sameSampler, type ClosedGroup, type CorrelatorOptions, type Resolver } from './correlate.js';
import { toObservations, type Observation, type ResolvedPort } from './observation.js';
import { TopologyResolver } from './resolve.js';
import { ethernet, ipv4, tcp } from '../../test/support/frames.js';
import { datagram, flowSample, tagged, xdr } from '../../test/support/xdr-writer.js';
import { OVS_CORPUS } from '../../test/support/sflow-captures.js';

const frame = ethernet('fa:16:3e:00:00:0b', 'fa:16:3e:00:00:0a', 0x0800, ipv4({ src: '192.0.2.10', dst: '192.0.2.20', protocol: 6, id: 1 }, tcp(40000, 22, 0x18)));
const BASE: Observation = (() => {
  const header = tagged(1, xdr().u32(1).u32(frame.length).u32(0).opaque(frame).bytes());
  const [o] = toObservations(decodeDatagram(datagram({ agent: '192.0.2.1' }, [flowSample({ input: 5, output: 7 }, [header])])), { receivedAtMs: 0 });
  if (o === undefined) throw new Error('no observation');
  return o;
})();

/** An observation of frame `fp` (and flow `flow`) by `agent` at time `t`. */
function obs(fp: string | null, t: number, agent = '192.0.2.1', extra: Partial<Observation> = {}): Observation {
  return { ...BASE, fingerprint: fp, flowHash: `flow-${fp ?? 'none'}`, receivedAtMs: t, agent, sampleSequence: Math.floor(t * 1000) + agent.length, ...extra };
}

function run(options: CorrelatorOptions, input: readonly Observation[]): { groups: ClosedGroup[]; c: Correlator } {
  const c = new Correlator(options);
  const groups: ClosedGroup[] = [];
  for (const o of input) {
    c.add(o);
    groups.push(...c.takeClosed());
  }
  groups.push(...c.flush());
  return { groups, c };
}

const summary = (groups: readonly ClosedGroup[]): string[] =>
  groups.map((g) => `${g.kind} ${g.fingerprint ?? g.flowHash} [${g.observations.map((o) => `${o.agent}@${o.receivedAtMs}`).join(' ')}] ${g.closedBy}`);

describe('Correlator', () => {
  it('groups observations of one frame from several agents and closes the group once the watermark passes its end', () => {
    const c = new Correlator({ windowMs: 2000, allowedLatenessMs: 1000 });
    c.add(obs('aa', 1000, '192.0.2.1'));
    c.add(obs('bb', 1100, '192.0.2.1'));
    c.add(obs('aa', 1250, '192.0.2.2'));
    c.add(obs('aa', 1200, '192.0.2.3'));
    expect(c.takeClosed()).toEqual([]);
    c.add(obs('cc', 3999, '192.0.2.1')); // watermark 2999: nothing ends before 3000
    expect(c.takeClosed()).toEqual([]);
    c.add(obs('cc', 4000, '192.0.2.4')); // watermark 3000: 'aa' (1000 + 2000) closes
    const [g] = c.takeClosed();
    expect(g).toMatchObject({ kind: 'frame', fingerprint: 'aa', flowHash: 'flow-aa', firstSeen: 1000, lastSeen: 1250, windowStart: 1000, closedBy: 'watermark', overflow: 0 });
    expect(g?.observations.map((o) => o.agent)).toEqual(['192.0.2.1', '192.0.2.3', '192.0.2.2']);
    expect(g?.flowKey).toMatchObject({ srcIp: '192.0.2.10', dstIp: '192.0.2.20', srcPort: 40000, dstPort: 22, tunnelId: null });
    expect(summary(c.flush())).toEqual(['frame bb [192.0.2.1@1100] flush', 'frame cc [192.0.2.1@3999 192.0.2.4@4000] flush']);
    expect(c.stats).toMatchObject({ added: 6, accepted: 6, groupsOpened: 3, closed: { watermark: 1, superseded: 0, size: 0, flush: 2 }, openGroups: 0, openObservations: 0 });
  });

  it('opens a new frame group when the same fingerprint comes windowMs or more after the first (superseded)', () => {
    const { groups, c } = run({ windowMs: 2000, allowedLatenessMs: 5000 }, [obs('aa', 0), obs('aa', 1999, '192.0.2.2'), obs('aa', 2000, '192.0.2.3')]);
    expect(summary(groups)).toEqual(['frame aa [192.0.2.1@0 192.0.2.2@1999] superseded', 'frame aa [192.0.2.3@2000] flush']);
    expect(c.stats.closed.superseded).toBe(1);
  });

  it('opens a new frame group when a sampler sees the same bytes again within the window (a retransmission), not for a duplicate or another port', () => {
    const again = obs('aa', 1000, '192.0.2.1', { sampleSequence: 77 });
    const viaRouter = obs('aa', 1001, '192.0.2.1', { sampleSequence: 78, inKind: 'none', inIfIndex: 0, srcMac: 'fa:16:3e:00:00:01' });
    const { groups, c } = run({ windowMs: 2000, allowedLatenessMs: 5000 }, [obs('aa', 0), obs('aa', 5, '192.0.2.2'), again, { ...again }, viaRouter, obs('aa', 1005, '192.0.2.2')]);
    expect(summary(groups)).toEqual(['frame aa [192.0.2.1@0 192.0.2.2@5] superseded', 'frame aa [192.0.2.1@1000 192.0.2.1@1001 192.0.2.2@1005] flush']);
    expect(c.stats).toMatchObject({ duplicate: 1, closed: { superseded: 1 } });
    expect(sameSampler(again, obs('aa', 0))).toBe(true);
    expect(sameSampler(again, viaRouter)).toBe(false);
    expect(sameSampler(again, { ...again, sampleKind: 'discard' })).toBe(false);
    expect(sameSampler(again, { ...again, encapsulation: 'gre' })).toBe(false);
  });

  it('drops observations behind the watermark as late, and counts them', () => {
    const { groups, c } = run({ windowMs: 1000, allowedLatenessMs: 500 }, [obs('aa', 10_000), obs('bb', 9_499), obs('cc', 9_500)]);
    expect(summary(groups)).toEqual(['frame cc [192.0.2.1@9500] flush', 'frame aa [192.0.2.1@10000] flush']); // flush: in deadline order
    expect(c.stats).toMatchObject({ added: 3, accepted: 2, late: 1, watermark: 9_500 });
  });

  it('joins by flow hash in tumbling windows when the sampling rate is above 1', () => {
    const sampled = (fp: string, t: number): Observation => obs(fp, t, '192.0.2.1', { samplingRate: 1000, flowHash: 'f1' });
    const { groups } = run({ windowMs: 2000, allowedLatenessMs: 5000 }, [sampled('a', 0), sampled('b', 1999), sampled('c', 2000), sampled('d', 3999)]);
    expect(groups.map((g) => [g.kind, g.flowHash, g.fingerprint, g.windowStart, g.observations.length])).toEqual([
      ['flow', 'f1', null, 0, 2], ['flow', 'f1', null, 2000, 2],
    ]);
  });

  it.each([
    { name: 'auto: sampling 1 with a fingerprint joins by frame', join: 'auto' as const, o: obs('aa', 0), want: 'frame aa' },
    { name: 'auto: no fingerprint (header cut) joins by flow', join: 'auto' as const, o: obs(null, 0, '192.0.2.1', { flowHash: 'f9' }), want: 'flow f9' },
    { name: 'auto: a discard sample (rate 0) joins by frame', join: 'auto' as const, o: obs('aa', 0, '192.0.2.1', { samplingRate: 0, sampleKind: 'discard' }), want: 'frame aa' },
    { name: 'flow: always by flow', join: 'flow' as const, o: obs('aa', 0), want: 'flow flow-aa' },
    { name: 'frame: always by frame', join: 'frame' as const, o: obs('aa', 0, '192.0.2.1', { samplingRate: 100 }), want: 'frame aa' },
  ])('join $name', ({ join, o, want }) => {
    const { groups } = run({ join }, [o]);
    expect(groups.map((g) => `${g.kind} ${g.kind === 'frame' ? g.fingerprint : g.flowHash}`)).toEqual([want]);
  });

  it('counts observations without a key', () => {
    const { groups, c } = run({ join: 'frame' }, [obs(null, 0), obs(null, 1, '192.0.2.1', { flowHash: null })]);
    expect(groups).toEqual([]);
    expect(c.stats).toMatchObject({ added: 2, unkeyed: 2, accepted: 0 });
    expect(run({}, [obs(null, 1, '192.0.2.1', { flowHash: null })]).c.stats.unkeyed).toBe(1);
  });

  it('drops a redelivered sample (same agent, sub-agent, source and sequence) as a duplicate', () => {
    const o = obs('aa', 5);
    const { groups, c } = run({}, [o, { ...o }, obs('aa', 5, '192.0.2.2')]);
    expect(groups.map((g) => g.observations.length)).toEqual([2]);
    expect(c.stats.duplicate).toBe(1);
  });

  it('closes the group that ends first when maxOpenGroups is reached (size)', () => {
    const { groups, c } = run({ maxOpenGroups: 2, allowedLatenessMs: 10_000 }, [obs('b', 20), obs('a', 10), obs('c', 30)]);
    expect(summary(groups)).toEqual(['frame a [192.0.2.1@10] size', 'frame b [192.0.2.1@20] flush', 'frame c [192.0.2.1@30] flush']);
    expect(c.stats).toMatchObject({ peakOpenGroups: 2, closed: { size: 1, flush: 2 } });
  });

  it('drops observations past maxObservationsPerGroup and says how many in the group', () => {
    const { groups, c } = run({ maxObservationsPerGroup: 2 }, [obs('a', 1, 'x1'), obs('a', 2, 'x2'), obs('a', 3, 'x3'), obs('a', 4, 'x4')]);
    expect(groups.map((g) => [g.observations.length, g.overflow])).toEqual([[2, 2]]);
    expect(c.stats).toMatchObject({ accepted: 2, overflow: 2, peakOpenObservations: 2 });
  });

  it('advanceTo closes idle groups without a new observation', () => {
    const c = new Correlator({ windowMs: 100, allowedLatenessMs: 100 });
    c.add(obs('a', 1000));
    c.advanceTo(1199);
    expect(c.takeClosed()).toEqual([]);
    c.advanceTo(1200);
    expect(summary(c.takeClosed())).toEqual(['frame a [192.0.2.1@1000] watermark']);
  });

  it('orders a group by time, then plain < outer tunnel frame < decapsulated, then agent', () => {
    const t = 50;
    const decap = obs('a', t, '192.0.2.2', { tunnelIngressSrc: '203.0.113.1', tunnelIngressVni: 1 });
    const outer = obs('a', t, '192.0.2.2', { encapsulation: 'gre', sampleSequence: 1 });
    const plainB = obs('a', t, '192.0.2.9', { sampleSequence: 2 });
    const plainA = obs('a', t, '192.0.2.1', { sampleSequence: 3 });
    const earlier = obs('a', t - 1, '192.0.2.9', { tunnelIngressVni: 1, sampleSequence: 4 });
    const { groups } = run({}, [decap, outer, plainB, plainA, earlier]);
    expect(groups[0]?.observations).toEqual([earlier, plainA, plainB, outer, decap]);
  });

  it('annotates ports through the resolver, at the observation time; without one resolution is unknown', () => {
    const calls: string[] = [];
    const resolver: Resolver = {
      resolve(agent, subAgentId, ifIndex, timeMs): ResolvedPort | undefined {
        calls.push(`${agent}/${subAgentId}/${ifIndex}@${timeMs}`);
        if (ifIndex === 5) return { host: 'compute-1', bridge: 'br-int', port: 'qvo1', ofport: 3, neutronPortId: 'p1' };
        if (ifIndex === 0) return { host: 'compute-1', bridge: 'br-int', port: null, ofport: null };
        return undefined;
      },
    };
    const withBoth = obs('a', 10);
    const withPatch = obs('b', 11, '192.0.2.1', { inKind: 'ifindex', inIfIndex: 5, outKind: 'none', outIfIndex: 0 });
    const flooded = obs('c', 12, '192.0.2.1', { inKind: 'ifindex', inIfIndex: 9, outKind: 'multiple', outIfIndex: 0, outCount: 3 });
    const { c } = run({ resolver }, [withBoth, withPatch, flooded]);
    expect(calls).toEqual(['192.0.2.1/0/5@10', '192.0.2.1/0/7@10', '192.0.2.1/0/5@11', '192.0.2.1/0/0@11', '192.0.2.1/0/9@12']);
    expect([withBoth.resolution, withPatch.resolution, flooded.resolution]).toEqual(['partial', 'resolved', 'unknown']);
    expect(withBoth.inputPort).toEqual({ host: 'compute-1', bridge: 'br-int', port: 'qvo1', ofport: 3, neutronPortId: 'p1' });
    expect(withBoth.outputPort).toBeNull();
    expect(withPatch.outputPort?.port).toBeNull();
    expect(c.stats).toMatchObject({ resolved: 3, unresolved: 2 });
    const lone = obs('d', 1);
    run({}, [lone]);
    expect([lone.resolution, lone.inputPort, lone.outputPort]).toEqual(['unknown', null, null]);
  });

  it.each([
    { name: 'windowMs 0', options: { windowMs: 0 }, key: 'windowMs' },
    { name: 'negative lateness', options: { allowedLatenessMs: -1 }, key: 'allowedLatenessMs' },
    { name: 'NaN maxOpenGroups', options: { maxOpenGroups: Number.NaN }, key: 'maxOpenGroups' },
    { name: 'maxObservationsPerGroup 0', options: { maxObservationsPerGroup: 0 }, key: 'maxObservationsPerGroup' },
  ])('rejects $name with a ConfigError naming the option', ({ options, key }) => {
    expect(() => new Correlator(options)).toThrow(ConfigError);
    expect(() => new Correlator(options)).toThrow(expect.objectContaining({ code: 'bad-value', key }));
  });
});

describe('Correlator properties', () => {
  const WINDOW = 2000;
  const LATENESS = 3000;

  /** Observations of a few frames and flows; each frame's observations lie within one window (span < WINDOW). */
  const clustered = fc.array(
    fc.record({
      key: fc.integer({ min: 0, max: 30 }),
      start: fc.integer({ min: 0, max: 60_000 }),
      offsets: fc.array(fc.integer({ min: 0, max: WINDOW - 1 }), { minLength: 1, maxLength: 6 }),
      sampled: fc.boolean(),
    }),
    { minLength: 1, maxLength: 25 },
  ).map((clusters) => {
    // One cluster per key, so that no fingerprint comes back within window + lateness.
    const byKey = new Map(clusters.map((c) => [c.key, c]));
    const out: Observation[] = [];
    let agent = 0;
    for (const c of byKey.values()) {
      for (const offset of c.offsets) {
        agent++;
        out.push(obs(`k${c.key}`, c.start + offset, `192.0.2.${agent % 250}`, {
          samplingRate: c.sampled ? 512 : 1, flowHash: `flow${c.key % 7}`, sampleSequence: agent, subAgentId: agent,
        }));
      }
    }
    return out;
  });

  /** Arrival order: event time plus a delay under the allowed lateness, so nothing is late. */
  const arrival = (input: readonly Observation[], delays: readonly number[]): Observation[] =>
    input.map((o, i) => ({ o, at: o.receivedAtMs + (delays[i % delays.length] ?? 0) })).sort((a, b) => a.at - b.at).map((x) => x.o);

  const canonical = (groups: readonly ClosedGroup[]): string[] =>
    groups.map((g) => `${g.kind}:${g.kind === 'frame' ? g.fingerprint : g.flowHash}@${g.windowStart}:${g.observations.map((o) => o.subAgentId).join(',')}`).sort();

  /** The grouping the file comment promises: frames by fingerprint, flows by hash and tumbling window. */
  function expected(input: readonly Observation[]): string[] {
    const groups = new Map<string, Observation[]>();
    for (const o of input) {
      const key = o.samplingRate > 1 ? `flow:${o.flowHash}@${Math.floor(o.receivedAtMs / WINDOW) * WINDOW}` : `frame:${o.fingerprint}`;
      groups.set(key, [...(groups.get(key) ?? []), o]);
    }
    return [...groups].map(([key, os]) => {
      const sorted = [...os].sort(hopOrder);
      const start = key.startsWith('frame') ? Math.min(...os.map((o) => o.receivedAtMs)) : '';
      return `${key.startsWith('frame') ? `${key}@${start}` : key}:${sorted.map((o) => o.subAgentId).join(',')}`;
    }).sort();
  }

  it('groups do not depend on arrival order within the allowed lateness', () => {
    fc.assert(fc.property(
      clustered,
      fc.array(fc.integer({ min: 0, max: LATENESS - 1 }), { minLength: 1, maxLength: 50 }),
      fc.array(fc.integer({ min: 0, max: LATENESS - 1 }), { minLength: 1, maxLength: 50 }),
      (input, delaysA, delaysB) => {
        const a = run({ windowMs: WINDOW, allowedLatenessMs: LATENESS }, arrival(input, delaysA));
        const b = run({ windowMs: WINDOW, allowedLatenessMs: LATENESS }, arrival(input, delaysB));
        expect(a.c.stats.late + b.c.stats.late).toBe(0);
        expect(canonical(a.groups)).toEqual(canonical(b.groups));
        expect(canonical(a.groups)).toEqual(expected(input));
      },
    ), { numRuns: 300 });
  });

  it('stays within its bounds and accounts for every observation, whatever the input', () => {
    const adversarial = fc.array(
      fc.record({
        key: fc.integer({ min: 0, max: 40 }),
        t: fc.oneof(fc.integer({ min: 0, max: 20_000 }), fc.integer({ min: -1e6, max: 1e9 })),
        agent: fc.integer({ min: 0, max: 5 }),
        sequence: fc.integer({ min: 0, max: 20 }),
        sampled: fc.boolean(),
        keyless: fc.boolean(),
      }),
      { maxLength: 400 },
    );
    fc.assert(fc.property(adversarial, fc.integer({ min: 1, max: 8 }), fc.integer({ min: 1, max: 5 }), (events, maxGroups, maxPerGroup) => {
      const c = new Correlator({ windowMs: 1000, allowedLatenessMs: 2000, maxOpenGroups: maxGroups, maxObservationsPerGroup: maxPerGroup });
      const closed: ClosedGroup[] = [];
      for (const e of events) {
        c.add(obs(e.keyless ? null : `k${e.key}`, e.t, `198.51.100.${e.agent}`, {
          samplingRate: e.sampled ? 100 : 1, flowHash: e.keyless && e.sampled ? null : `f${e.key % 5}`, sampleSequence: e.sequence,
        }));
        expect(c.stats.openGroups).toBeLessThanOrEqual(maxGroups);
        expect(c.stats.openObservations).toBeLessThanOrEqual(maxGroups * maxPerGroup);
        expect(c.stats.heapEntries).toBeLessThanOrEqual(2 * maxGroups + 1024 + 1);
        closed.push(...c.takeClosed());
      }
      closed.push(...c.flush());
      const s = c.stats;
      expect(s.accepted + s.late + s.overflow + s.duplicate + s.unkeyed).toBe(events.length);
      expect(closed.reduce((n, g) => n + g.observations.length, 0)).toBe(s.accepted);
      expect(closed.reduce((n, g) => n + g.overflow, 0)).toBe(s.overflow);
      expect(closed.every((g) => g.observations.length >= 1 && g.observations.length <= maxPerGroup)).toBe(true);
      expect(closed.length).toBe(s.groupsOpened);
      expect(Object.values(s.closed).reduce((a, b) => a + b, 0)).toBe(s.groupsOpened);
      expect(s.openGroups + s.openObservations).toBe(0);
    }), { numRuns: 300 });
  });

  it('the deadline heap stays bounded when one fingerprint keeps coming back out of order', () => {
    const c = new Correlator({ windowMs: 1000, allowedLatenessMs: 3000 });
    for (let i = 0; i < 20_000; i++) c.add(obs('a', i % 2 === 0 ? 10_000 : 7_500, '192.0.2.1', { sampleSequence: i }));
    expect(c.stats.closed.superseded).toBe(19_999);
    expect(c.stats.heapEntries).toBeLessThanOrEqual(2 * c.stats.openGroups + 1024 + 1);
  });
});

describe('Correlator on the Open vSwitch corpus', () => {
  it('joins each real frame with its copy from a second agent, and with nothing else', () => {
    const packets = [...readUdpPayloads(readFileSync(OVS_CORPUS), 'ovs-sflow-10k.pcap')];
    const first = packets.flatMap((p) => toObservations(decodeDatagram(p.payload), { receivedAtMs: p.timestampMs }));
    // The same frames as a second host would see them: another agent, 150 ms later.
    const second = first.map((o) => ({ ...o, agent: '192.0.2.2', receivedAtMs: o.receivedAtMs + 150 }));
    const merged = [...first, ...second].sort((a, b) => a.receivedAtMs - b.receivedAtMs);
    const { groups, c } = run({}, merged);
    expect(groups).toHaveLength(first.length);
    expect(groups.every((g) => g.observations.length === 2 && g.observations[0]?.agent === '127.0.0.1' && g.observations[1]?.agent === '192.0.2.2')).toBe(true);
    expect(c.stats).toMatchObject({ late: 0, duplicate: 0, overflow: 0, unkeyed: 0, closed: { size: 0, superseded: 0 } });
  });
});

// ---- the shipped lab capture (test/fixtures/lab-capture): vm1's broadcast ARP for the DHCP port, sent three times ----

const FIXTURE = fileURLToPath(new URL('../../test/fixtures/lab-capture/', import.meta.url));

describe('Correlator on an ARP request retransmitted every second (real samples of the lab capture)', () => {
  const ARP = '58120af287cf1d20'; // vm1 who-has 203.0.113.2, seen by compute1 br-int, network1 br-phy (GRE) and br-tun
  let datagrams: TimedDatagram[];
  let topologies: HostTopology[];
  let raws: Awaited<ReturnType<typeof importSnapshots>>['snapshots'];

  beforeAll(async () => {
    const dir = join(FIXTURE, 'snapshots', 'healthy');
    raws = (await importSnapshots(readdirSync(dir).map((d) => join(dir, d)))).snapshots;
    topologies = buildTopologies(raws).topologies;
    datagrams = readCapture(new Uint8Array(readFileSync(join(FIXTURE, 'sflow.pcap'))), 'sflow.pcap').datagrams;
  });

  /**
   * The three real samples of the ARP request, sent again 1 s and 2 s later (sample sequences moved
   * on), received at the times of a lab run: the last copy's underlay sample lands 2000 ms after the
   * group's first sample. The rest of the capture keeps only its counter samples (the resolver's
   * sub-agent → bridge).
   */
  function retransmitted(): TimedDatagram[] {
    const arp = datagrams.flatMap((d) => d.datagram.samples.filter((s): s is FlowSample => s.kind === 'flow' && toObservations({ ...d.datagram, samples: [s] }, d)[0]?.fingerprint === ARP).map((s) => ({ d, s })));
    const at = (agentSub: string): { d: TimedDatagram; s: FlowSample } => {
      const found = arp.find(({ d }) => `${d.datagram.agent}/${d.datagram.subAgentId}` === agentSub);
      if (found === undefined) throw new Error(`no ARP sample from ${agentSub}`);
      return found;
    };
    const brInt = at('198.51.100.178/1');
    const brPhy = at('198.51.100.179/3');
    const brTun = at('198.51.100.179/0');
    const base = brInt.d.receivedAtMs + 10_000;
    const copies: [typeof brInt, number, number][] = [
      [brTun, 0, 0.1], [brPhy, 0, 0.1], [brInt, 0, 0.2],
      [brInt, 1, 1000], [brTun, 1, 1000.1], [brPhy, 1, 1000.1],
      [brTun, 2, 1999.9], [brInt, 2, 1999.95], [brPhy, 2, 2000.15],
    ];
    const counters = datagrams.map((d) => ({ ...d, datagram: { ...d.datagram, samples: d.datagram.samples.filter((s) => s.kind === 'counter') } }));
    return [...counters, ...copies.map(([{ d, s }, copy, offset]) => ({
      ...d, receivedAtMs: base + offset, datagram: { ...d.datagram, sequence: d.datagram.sequence + 1000 + copy, samples: [{ ...s, sequence: s.sequence + copy }] },
    }))];
  }

  it('each copy is a group of its three hops, never a copy cut in two by the window', () => {
    const resolver = new TopologyResolver(topologies);
    const input = retransmitted();
    for (const d of input) resolver.learn(d.datagram);
    const c = new Correlator({ resolver });
    const groups: ClosedGroup[] = [];
    for (const d of [...input].sort((a, b) => a.receivedAtMs - b.receivedAtMs)) {
      for (const o of toObservations(d.datagram, d)) c.add(o);
      groups.push(...c.takeClosed());
    }
    groups.push(...c.flush());
    const arps = groups.filter((g) => g.fingerprint === ARP);
    expect(arps.map((g) => g.observations.map((o) => `${o.inputPort?.host}/${o.inputPort?.bridge}#${o.sampleSequence}`).sort())).toEqual([0, 1, 2].map((k) => {
      const seq = (agentSub: string): number => (arps[0]?.observations.find((o) => `${o.agent}/${o.subAgentId}` === agentSub)?.sampleSequence ?? NaN) + k;
      return [`compute1/br-int#${seq('198.51.100.178/1')}`, `network1/br-phy#${seq('198.51.100.179/3')}`, `network1/br-tun#${seq('198.51.100.179/0')}`].sort();
    }));
  });

  it('analyze: three delivered ARP paths, none incomplete (the last copy\'s underlay sample alone could not be placed)', () => {
    const paths = analyzeDatagrams(retransmitted(), topologies, { rawSnapshots: raws }).paths.filter((p) => p.fingerprint === ARP);
    expect(paths.map((p) => p.verdict), paths.map(formatPath).join('\n')).toEqual(['delivered', 'delivered', 'delivered']);
    for (const p of paths) {
      expect(p.observations, formatPath(p)).toBe(3);
      expect(p.hops.filter((h) => h.observed).map((h) => `${h.host}/${h.device}`), formatPath(p)).toEqual(expect.arrayContaining(['compute1/br-int', 'network1/br-tun']));
      expect(p.doubts, formatPath(p)).toEqual([]);
    }
  });

  it('analyze: a copy seen only on its receiver\'s underlay bridge (its other samples missing) is incomplete and says what was seen', () => {
    const input = retransmitted().filter((d) => d.datagram.samples.length === 0 || d.datagram.samples.some((s) => s.kind === 'counter') || `${d.datagram.agent}/${d.datagram.subAgentId}` === '198.51.100.179/3');
    const paths = analyzeDatagrams(input, topologies, { rawSnapshots: raws }).paths.filter((p) => p.fingerprint === ARP);
    expect(paths.map((p) => p.verdict)).toEqual(['incomplete', 'incomplete', 'incomplete']);
    for (const p of paths) expect(p.doubts.join('\n'), formatPath(p)).toContain('only the outer tunnel frame was sampled, on network1/br-phy (gre 192.0.2.11 → 192.0.2.21 key 0x49)');
  });
});
