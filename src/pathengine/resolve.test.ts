import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import type { RawSnapshot } from '../hoststate/snapshot.js';
import type { Datagram, FlowSample } from '../sflow/types.js';
import { importSnapshots } from '../snapshot/import.js';
import { buildTopologies } from '../topology/build.js';
import type { HostTopology } from '../topology/model.js';
import { analyzeDatagrams, formatPath, readCapture, type TimedDatagram } from './analyze.js';
import { TopologyResolver } from './resolve.js';

// The shipped lab capture (test/fixtures/lab-capture): compute1 198.51.100.178 (sub-agent 1 br-int),
// network1 198.51.100.179 (sub-agent 0 br-tun, 3 br-phy), its healthy phase and snapshots.
const FIXTURE = fileURLToPath(new URL('../../test/fixtures/lab-capture/', import.meta.url));
const COMPUTE1 = '198.51.100.178';
const NETWORK1 = '198.51.100.179';
interface Scenario { brokenAtMs: number }

describe('TopologyResolver: sub-agent → bridge on the lab capture', () => {
  let raws: RawSnapshot[];
  let topologies: HostTopology[];
  let healthy: TimedDatagram[];

  beforeAll(async () => {
    const scenario = JSON.parse(readFileSync(join(FIXTURE, 'scenario.json'), 'utf8')) as Scenario;
    const dir = join(FIXTURE, 'snapshots', 'healthy');
    raws = (await importSnapshots(readdirSync(dir).map((d) => join(dir, d)))).snapshots;
    topologies = buildTopologies(raws).topologies;
    healthy = readCapture(new Uint8Array(readFileSync(join(FIXTURE, 'sflow.pcap'))), 'sflow.pcap').datagrams.filter((d) => d.receivedAtMs < scenario.brokenAtMs);
  });

  const subAgent = (d: TimedDatagram): string => `${d.datagram.agent}/${d.datagram.subAgentId}`;
  /** The datagrams with the counter samples of `silent` sub-agents left out (as before their first poll). */
  const withoutCounters = (silent: (d: TimedDatagram) => boolean): TimedDatagram[] =>
    healthy.map((d) => (silent(d) ? { ...d, datagram: { ...d.datagram, samples: d.datagram.samples.filter((s) => s.kind !== 'counter') } } : d));
  /** The first flow sample of a sub-agent, alone in its datagram. */
  const firstFlow = (agentSub: string, edit: (s: FlowSample) => FlowSample = (s) => s): Datagram => {
    for (const d of healthy) {
      if (subAgent(d) !== agentSub) continue;
      const s = d.datagram.samples.find((x): x is FlowSample => x.kind === 'flow');
      if (s !== undefined) return { ...d.datagram, samples: [edit(s)] };
    }
    throw new Error(`no flow sample from ${agentSub}`);
  };

  it('network1 br-tun never polled (no 1004 record: its only ifIndex port is LOCAL): its samples are placed by their tunnel ingress record, every path delivered', () => {
    const input = withoutCounters((d) => subAgent(d) === `${NETWORK1}/0`);
    const analysis = analyzeDatagrams(input, topologies, { rawSnapshots: raws });
    const wrong = analysis.paths.filter((p) => p.verdict !== 'delivered' || p.doubts.some((x) => x.includes('could not be placed')));
    expect(wrong.map(formatPath)).toEqual([]);
    expect(analysis.paths.length).toBeGreaterThan(0);
    expect(analysis.resolver).toMatchObject({ subAgentsFromSamples: 1 });
  });

  it('with no counter sample yet (a stream just started), the first flow sample of each bridge names it: tunnel ingress → br-tun, input ifIndex → br-int, br-phy', () => {
    const r = new TopologyResolver(topologies);
    const t = healthy[0]?.receivedAtMs ?? 0;
    expect(r.bridgeOf(NETWORK1, 0, t)).toBeUndefined();
    for (const agentSub of [`${NETWORK1}/0`, `${NETWORK1}/3`, `${COMPUTE1}/1`]) r.learn(firstFlow(agentSub));
    expect([r.bridgeOf(NETWORK1, 0, t), r.bridgeOf(NETWORK1, 3, t), r.bridgeOf(COMPUTE1, 1, t)]).toEqual(['br-tun', 'br-phy', 'br-int']);
    expect(r.stats).toMatchObject({ learnedSubAgents: 0, subAgentsFromSamples: 3 });
    // an ifIndex-0 sample of that br-tun now resolves to the bridge (port by MAC later)
    expect(r.resolve(NETWORK1, 0, 0, t)).toEqual({ host: 'network1', bridge: 'br-tun', port: null, ofport: null });
  });

  it('a counter sample\'s 1004 datapath id wins over what samples said, before and after', () => {
    const r = new TopologyResolver(topologies);
    const t = healthy[0]?.receivedAtMs ?? 0;
    // br-tun's sample as if sub-agent 3 had sent it: the samples say br-tun
    const asSub3 = { ...firstFlow(`${NETWORK1}/0`), subAgentId: 3 };
    r.learn(asSub3);
    expect(r.bridgeOf(NETWORK1, 3, t)).toBe('br-tun');
    for (const d of healthy) if (subAgent(d) === `${NETWORK1}/3`) r.learn(d.datagram); // its counters: br-phy
    expect(r.bridgeOf(NETWORK1, 3, t)).toBe('br-phy');
    r.learn(asSub3);
    expect(r.bridgeOf(NETWORK1, 3, t)).toBe('br-phy');
    expect(r.stats.subAgentsFromSamples).toBe(0);
  });

  it('learns nothing from a clue that names no bridge or several: an output ifIndex, a tunnel source two bridges have a port to', () => {
    const t = healthy[0]?.receivedAtMs ?? 0;
    // br-phy's sample with its input made unknown: the output (its LOCAL port's ifIndex) may be another bridge's port
    const r = new TopologyResolver(topologies);
    r.learn(firstFlow(`${NETWORK1}/3`, (s) => ({ ...s, input: { format: 0, value: 0 } })));
    expect(r.bridgeOf(NETWORK1, 3, t)).toBeUndefined();
    // a second bridge on network1 with a GRE port to compute1
    const network1 = topologies.find((x) => x.host === 'network1');
    const gre = network1?.ports.find((p) => p.bridge === 'br-tun' && p.type === 'gre');
    if (network1 === undefined || gre === undefined) throw new Error('no network1 br-tun GRE port in the snapshot');
    const twice: HostTopology = { ...network1, ports: [...network1.ports, { ...gre, bridge: 'br-int', name: 'gre-extra' }] };
    const r2 = new TopologyResolver([...topologies.filter((x) => x.host !== 'network1'), twice]);
    r2.learn(firstFlow(`${NETWORK1}/0`));
    expect(r2.bridgeOf(NETWORK1, 0, t)).toBeUndefined();
    expect(r2.stats.subAgentsFromSamples).toBe(0);
  });
});
