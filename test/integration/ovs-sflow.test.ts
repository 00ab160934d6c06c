// Real Open vSwitch exporting sFlow to a socket in this process, decoded by our decoder and
// checked against what OVS was configured with. One host (a namespace with its own ovsdb-server
// and ovs-vswitchd, userspace datapath), both bridges on one sFlow row (sampling 1, header 128,
// polling 1). These re-check DESIGN.md "What Open vSwitch actually exports".
//
//   vm1 ─ tap1 (VLAN 100) ┐                      ┌ tap4 (VLAN 100) ─ vm4
//   vm2 ─ tap2 (VLAN 100) ├ br-int ═ patch-ex ═ patch-int ═ br-ex
//   vm3 ─ tap3 (VLAN 200) ┤
//   router ns ─ qr-1 (internal port moved out of the host namespace, VLAN 100)
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { decodeDatagram } from '../../src/sflow/datagram.js';
import type { CounterRecord, CounterSample, Datagram, FlowSample, Packet } from '../../src/sflow/types.js';
import { linkInfo, ping, run } from '../support/netns.js';
import {
  addBridge,
  addFlow,
  addNamespacePort,
  addPatchPair,
  createLab,
  deleteFlows,
  findCommand,
  listPorts,
  ofctlShow,
  probeOvsLab,
  setSflow,
  type Instance,
  type Lab,
  type OfctlShow,
  type OvsHost,
  type SflowCollector,
} from '../support/ovs-lab.js';
import { needService } from '../support/services.js';

const WAIT = { timeoutMs: 30_000, intervalMs: 200 };
const SUB_AGENT_SOURCE_BASE = 1000; // OVS: bridge-level source id = 1000 + sub-agent id
const SOURCE_ID_TYPE_BRIDGE = 2; // entPhysicalEntry
const OUTPUT_FORMAT = { SINGLE: 0, DISCARD: 1, MULTIPLE: 2 } as const;
const DISCARD_UNKNOWN = 256; // sFlow drop reason 256: "unknown" (what OVS reports for an OpenFlow drop)
const ICMP_ECHO_REQUEST = 8;
const ICMP_ECHO_REPLY = 0;
const QR_PORT = 'qr-1';
const QR_MAC = '02:00:00:00:0a:01';
const QR_IP = '192.0.2.1';

const unavailable = await probeOvsLab();

describe('real Open vSwitch sFlow export (userspace datapath)', () => {
  let lab: Lab | undefined;
  let host: OvsHost;
  let vm1: Instance;
  let vm2: Instance;
  let vm3: Instance;
  let vm4: Instance;
  let collector: SflowCollector;
  const decoded: Datagram[] = [];

  /** Decodes what arrived since the last call (our decoder, every datagram must decode). */
  function datagrams(): Datagram[] {
    for (let i = decoded.length; i < collector.datagrams.length; i++) {
      const captured = collector.datagrams[i];
      if (captured !== undefined) decoded.push(decodeDatagram(captured.payload));
    }
    return decoded;
  }

  beforeAll(async () => {
    if (unavailable !== undefined) return;
    lab = await createLab();
    host = await lab.addHost('compute1');
    await addBridge(host, 'br-int');
    await addBridge(host, 'br-ex');
    await addPatchPair(host, { bridge: 'br-int', port: 'patch-ex' }, { bridge: 'br-ex', port: 'patch-int' });
    vm1 = await lab.addInstance('vm1', { host, bridge: 'br-int', port: 'tap1', tag: 100, address: '192.0.2.11/24', mac: '02:00:00:00:01:01' });
    vm2 = await lab.addInstance('vm2', { host, bridge: 'br-int', port: 'tap2', tag: 100, address: '192.0.2.12/24', mac: '02:00:00:00:01:02' });
    vm3 = await lab.addInstance('vm3', { host, bridge: 'br-int', port: 'tap3', tag: 200, address: '192.0.2.13/24', mac: '02:00:00:00:01:03' });
    vm4 = await lab.addInstance('vm4', { host, bridge: 'br-ex', port: 'tap4', tag: 100, address: '192.0.2.14/24', mac: '02:00:00:00:01:04' });
    const router = await lab.addNamespace('router');
    await addNamespacePort(host, 'br-int', QR_PORT, router, { tag: 100, mac: QR_MAC, addresses: [`${QR_IP}/24`] });
    collector = await lab.openCollector();
    await setSflow(host, { target: collector.target, header: 128, sampling: 1, polling: 1, bridges: ['br-int', 'br-ex'] });
  });

  afterAll(async () => {
    const pcap = process.env['HOPTRACE_LAB_PCAP'];
    if (pcap !== undefined && lab !== undefined && !lab.tornDown) collector.writePcap(pcap);
    await lab?.teardown();
  });

  beforeEach(async (ctx) => {
    await needService(ctx, 'ovs', () => unavailable);
  });

  /** The sub-agent id of each bridge, from the datapath id in its ports' 1004 records. */
  async function subAgentsByBridge(): Promise<Map<string, { subAgentId: number; show: OfctlShow }>> {
    const shows = new Map([['br-int', await ofctlShow(host, 'br-int')], ['br-ex', await ofctlShow(host, 'br-ex')]]);
    return collector.waitFor('1004 records from both bridges', () => {
      const found = new Map<string, { subAgentId: number; show: OfctlShow }>();
      for (const d of datagrams()) {
        for (const s of counterSamples(d)) {
          const of = record(s.records, 'openflow_port');
          for (const [bridge, show] of shows) if (of?.datapathId === show.datapathId) found.set(bridge, { subAgentId: d.subAgentId, show });
        }
      }
      return found.size === shows.size ? found : undefined;
    }, WAIT);
  }

  it('uses mgmt0 as the agent address and one sub-agent per bridge; one sub-agent alone sends 2203 + 2207', async () => {
    const bridges = await subAgentsByBridge();
    const intAgent = bridges.get('br-int')?.subAgentId ?? -1;
    const exAgent = bridges.get('br-ex')?.subAgentId ?? -1;
    expect(intAgent).not.toBe(exAgent);
    // Watch at least 3 polling intervals of both sub-agents (a counter datagram per sub-agent per second).
    const all = await collector.waitFor('3 counter datagrams of each sub-agent', () => {
      const ds = datagrams();
      const counted = [intAgent, exAgent].map((id) => ds.filter((d) => d.subAgentId === id && counterSamples(d).length > 0).length);
      return counted.every((n) => n >= 3) ? ds.slice() : undefined;
    }, WAIT);
    // The datapath and daemon counters (2207 ovs_dp_stats, 2203 app_resources) are global: OVS has
    // the first sub-agent that claims them send them, as 2:(1000 + its sub-agent id), the others none.
    const bridgeSamples = all.flatMap((d) => counterSamples(d).filter((s) => s.sourceIdType === SOURCE_ID_TYPE_BRIDGE).map((s) => ({ d, s })));
    expect(bridgeSamples.length).toBeGreaterThan(0);
    const globalAgents = new Set(bridgeSamples.map(({ d }) => d.subAgentId));
    expect(globalAgents.size).toBe(1);
    for (const { d, s } of bridgeSamples) {
      expect(s.sourceIdIndex).toBe(SUB_AGENT_SOURCE_BASE + d.subAgentId);
      expect(s.records.map((r) => r.kind).sort()).toEqual(['app_resources', 'ovs_dp_stats']);
    }
    // Sub-agent <-> bridge is one to one: every 1004 record of a sub-agent carries its bridge's dpid.
    const dpidOf = new Map([...bridges.values()].map(({ subAgentId, show }) => [subAgentId, show.datapathId]));
    const mismatched = all.flatMap((d) => counterSamples(d).flatMap((s) => {
      const of = record(s.records, 'openflow_port');
      return of !== undefined && of.datapathId !== dpidOf.get(d.subAgentId) ? [{ subAgentId: d.subAgentId, datapathId: of.datapathId }] : [];
    }));
    expect(mismatched).toEqual([]);
    expect(new Set(all.map((d) => d.agent))).toEqual(new Set([host.mgmtAddress]));
    expect(new Set(all.map((d) => d.subAgentId))).toEqual(new Set([intAgent, exAgent]));
    expect(all.filter((d) => d.issues.length > 0 || d.unknownRecords > 0 || d.malformedRecords > 0)).toEqual([]);
    // Every datagram came through: per sub-agent, sequence numbers run without a gap.
    for (const subAgentId of [intAgent, exAgent]) {
      const sequences = all.filter((d) => d.subAgentId === subAgentId).map((d) => d.sequence);
      expect(sequences).toEqual(sequences.map((_, i) => (sequences[0] ?? 0) + i));
    }
  });

  it('counter samples map each kernel ifIndex to its OVS port name (1005), datapath id and ofport (1004)', async () => {
    const bridges = await subAgentsByBridge();
    const expected = new Map<string, { bridge: string; ifIndex: number; ofport: number; datapathId: bigint }>();
    for (const [bridge, { show }] of bridges) {
      const names = [...(await listPorts(host, bridge)), bridge];
      for (const name of names) {
        const port = show.ports.find((p) => p.name === name);
        if (port === undefined) throw new Error(`${name} missing from ovs-ofctl show ${bridge}`);
        if (name.startsWith('patch-') || name === QR_PORT) continue; // no device in the host namespace: no counters (checked below)
        expected.set(name, { bridge, ifIndex: (await linkInfo(host.netns, name)).ifIndex, ofport: port.ofport, datapathId: show.datapathId });
      }
    }
    expect([...expected.keys()].sort()).toEqual(['br-ex', 'br-int', 'tap1', 'tap2', 'tap3', 'tap4']);
    const seen = await collector.waitFor('a counter sample for every port with a kernel device', () => {
      const byName = new Map<string, { sample: CounterSample; subAgentId: number }>();
      for (const d of datagrams()) {
        for (const s of counterSamples(d)) {
          const name = record(s.records, 'openflow_port_name')?.name;
          if (name !== undefined) byName.set(name, { sample: s, subAgentId: d.subAgentId });
        }
      }
      return [...expected.keys()].every((n) => byName.has(n)) ? byName : undefined;
    }, WAIT);
    for (const [name, want] of expected) {
      const got = seen.get(name);
      if (got === undefined) throw new Error(`no counter sample for ${name}`);
      const generic = record(got.sample.records, 'generic_interface');
      const openflow = record(got.sample.records, 'openflow_port');
      expect({ name, source: [got.sample.sourceIdType, got.sample.sourceIdIndex], ifIndex: generic?.ifIndex, subAgentId: got.subAgentId })
        .toEqual({ name, source: [0, want.ifIndex], ifIndex: want.ifIndex, subAgentId: bridges.get(want.bridge)?.subAgentId });
      expect({ name, datapathId: openflow?.datapathId, portNo: openflow?.portNo }).toEqual({ name, datapathId: want.datapathId, portNo: want.ofport });
    }
    // Patch ports and a port moved to another namespace have no ifindex here: OVS exports no counters for them.
    expect(await host.vsctl(['get', 'Interface', QR_PORT, 'ifindex'])).toBe('0\n');
    expect([...seen.keys()].filter((n) => n.startsWith('patch-') || n === QR_PORT)).toEqual([]);
  });

  it('samples a ping on VLAN 100 once per frame at br-int: ifIndexes, untagged header, src VLAN 0', async () => {
    const { subAgentId } = (await subAgentsByBridge()).get('br-int') ?? { subAgentId: -1 };
    await ping(vm1.netns, vm2.ip, { count: 3 });
    const [request, reply] = await collector.waitFor('samples of an echo request and its reply', () => {
      const samples = flowSamples(datagrams());
      const req = samples.find(({ packet }) => isIcmp(packet, vm1, vm2, ICMP_ECHO_REQUEST));
      const rep = samples.find(({ packet }) => isIcmp(packet, vm2, vm1, ICMP_ECHO_REPLY));
      return req !== undefined && rep !== undefined ? [req, rep] : undefined;
    }, WAIT);
    for (const [{ sample, subAgentId: agentOfSample, packet }, from, to] of [[request, vm1, vm2], [reply, vm2, vm1]] as const) {
      expect({
        subAgentId: agentOfSample,
        source: [sample.sourceIdType, sample.sourceIdIndex],
        samplingRate: sample.samplingRate,
        input: sample.input,
        output: sample.output,
        vlans: packet.vlans,
        extendedSwitch: pick(record(sample.records, 'extended_switch'), ['srcVlan', 'dstVlan']),
      }).toEqual({
        subAgentId,
        source: [SOURCE_ID_TYPE_BRIDGE, SUB_AGENT_SOURCE_BASE + subAgentId],
        samplingRate: 1,
        input: { format: OUTPUT_FORMAT.SINGLE, value: from.hostIfIndex },
        output: { format: OUTPUT_FORMAT.SINGLE, value: to.hostIfIndex },
        vlans: [], // OVS samples the frame as it came in: from an access port, untagged
        extendedSwitch: { srcVlan: 0, dstVlan: 0 }, // the frame's own tag, not the port's VLAN 100
      });
    }
    // One sample per frame: each echo request crossed br-int once, so no more request samples than pings.
    const requests = flowSamples(datagrams()).filter(({ packet }) => isIcmp(packet, vm1, vm2, ICMP_ECHO_REQUEST));
    expect(requests.length).toBeLessThanOrEqual(3);
  });

  it('keeps VLANs apart: an ARP request for a VLAN 200 address floods VLAN 100 only', async () => {
    await ping(vm1.netns, vm3.ip, { count: 2, waitS: 1, expect: 'none' });
    const arp = await collector.waitFor('a sample of the ARP request for vm3', () =>
      flowSamples(datagrams()).find(({ packet }) => packet.arp?.operation === 1 && packet.arp.senderIp === vm1.ip && packet.arp.targetIp === vm3.ip), WAIT);
    // Flooded on VLAN 100 to 5 datapath ports: tap2, qr-1, br-int's own port, and through the patch
    // (not counted itself) tap4 and br-ex's own port; tap3 (VLAN 200) is not among them.
    expect({ input: arp.sample.input, output: arp.sample.output, srcMac: arp.packet.srcMac, dstMac: arp.packet.dstMac })
      .toEqual({ input: { format: OUTPUT_FORMAT.SINGLE, value: vm1.hostIfIndex }, output: { format: OUTPUT_FORMAT.MULTIPLE, value: 5 }, srcMac: vm1.mac, dstMac: 'ff:ff:ff:ff:ff:ff' });
    expect(pick(record(arp.sample.records, 'extended_switch'), ['srcVlan', 'dstVlan'])).toEqual({ srcVlan: 0, dstVlan: 0 });
    expect(flowSamples(datagrams()).filter(({ sample }) => sample.input.value === vm3.hostIfIndex)).toEqual([]);
  });

  it('samples a frame crossing a patch port once, at the bridge it entered; ports without an ifindex show as 0 or multiple:1', async () => {
    const bridges = await subAgentsByBridge();
    const intAgent = bridges.get('br-int')?.subAgentId;
    const exAgent = bridges.get('br-ex')?.subAgentId;
    await ping(vm1.netns, vm4.ip, { count: 2 });
    await ping(vm1.netns, QR_IP, { count: 2 });
    const qr = { mac: QR_MAC, ip: QR_IP, hostIfIndex: 0 };
    const found = await collector.waitFor('samples of echo requests and replies to vm4 and to the router', () => {
      const samples = flowSamples(datagrams());
      const icmp = (from: Endpoint, to: Endpoint, type: number) => samples.filter(({ packet }) => isIcmp(packet, from, to, type));
      const got = { toVm4: icmp(vm1, vm4, ICMP_ECHO_REQUEST), fromVm4: icmp(vm4, vm1, ICMP_ECHO_REPLY), toQr: icmp(vm1, qr, ICMP_ECHO_REQUEST), fromQr: icmp(qr, vm1, ICMP_ECHO_REPLY) };
      return Object.values(got).every((list) => list.length === 2) ? got : undefined;
    }, WAIT);
    const summary = (list: FoundFlow[]) => list.map(({ subAgentId, sample }) => ({ subAgentId, input: sample.input, output: sample.output }));
    const single = (value: number) => ({ format: OUTPUT_FORMAT.SINGLE, value });
    const throughPatchOrMovedPort = { format: OUTPUT_FORMAT.MULTIPLE, value: 1 };
    // br-int -> patch -> br-ex -> tap4: only br-int samples it; the output behind the patch is "multiple:1".
    expect(summary(found.toVm4)).toEqual(Array(2).fill({ subAgentId: intAgent, input: single(vm1.hostIfIndex), output: throughPatchOrMovedPort }));
    // The reply entered OVS at br-ex: br-ex samples it, br-int does not sample it again.
    expect(summary(found.fromVm4)).toEqual(Array(2).fill({ subAgentId: exAgent, input: single(vm4.hostIfIndex), output: throughPatchOrMovedPort }));
    // qr-1 lives in the router namespace: input ifIndex 0, and output "multiple:1" towards it.
    expect(summary(found.toQr)).toEqual(Array(2).fill({ subAgentId: intAgent, input: single(vm1.hostIfIndex), output: throughPatchOrMovedPort }));
    expect(summary(found.fromQr)).toEqual(Array(2).fill({ subAgentId: intAgent, input: single(0), output: single(vm1.hostIfIndex) }));
    // Flow samples of each bridge come from its sub-agent's source 2:(1000 + sub-agent).
    for (const { sample, subAgentId: agent } of Object.values(found).flat()) {
      expect([sample.sourceIdType, sample.sourceIdIndex]).toEqual([SOURCE_ID_TYPE_BRIDGE, SUB_AGENT_SOURCE_BASE + agent]);
    }
    // Crossing the patch (a trunk) leaves no VLAN in the record either: src and dst VLAN 0.
    for (const { sample } of [...found.toVm4, ...found.fromVm4]) {
      expect(pick(record(sample.records, 'extended_switch'), ['srcVlan', 'dstVlan'])).toEqual({ srcVlan: 0, dstVlan: 0 });
    }
  });

  it('samples a frame an OpenFlow rule drops, with output 0x40000100 (discard, reason 256)', async () => {
    await addFlow(host, 'br-int', `priority=100,icmp,nw_dst=${vm2.ip},actions=drop`);
    try {
      await ping(vm1.netns, vm2.ip, { count: 3, waitS: 1, expect: 'none' });
      const dropped = await collector.waitFor('a sample of a dropped echo request', () =>
        flowSamples(datagrams()).find(({ sample, packet }) => isIcmp(packet, vm1, vm2, ICMP_ECHO_REQUEST) && sample.output.format === OUTPUT_FORMAT.DISCARD), WAIT);
      expect({ input: dropped.sample.input, output: dropped.sample.output })
        .toEqual({ input: { format: OUTPUT_FORMAT.SINGLE, value: vm1.hostIfIndex }, output: { format: OUTPUT_FORMAT.DISCARD, value: DISCARD_UNKNOWN } });
      expect(((dropped.sample.output.format << 30) | dropped.sample.output.value) >>> 0).toBe(0x40000100);
    } finally {
      await deleteFlows(host, 'br-int', 'icmp');
    }
  });

  it('saves the datagrams as a pcap that tshark reads as the same sFlow', async (ctx) => {
    await needService(ctx, 'tshark', () => (findCommand('tshark') === undefined ? 'tshark not found: apt-get install tshark' : undefined));
    if (lab === undefined) throw new Error('no lab');
    const received = collector.datagrams.slice();
    const path = `${lab.dir}/sflow.pcap`;
    collector.writePcap(path, received);
    const out = await run(null, ['tshark', '-r', path, '-d', `udp.port==${collector.port},sflow`, '-T', 'fields', '-e', 'sflow_245.agent', '-e', 'sflow_245.sequence_number']);
    const rows = out.trim().split('\n').map((line) => line.split('\t'));
    const ours = received.map((c) => decodeDatagram(c.payload));
    expect(rows.map(([agent, sequence]) => [agent, Number(sequence?.split(',')[0])])).toEqual(ours.map((d) => [d.agent, d.sequence]));
  });
});

// ---------- helpers over decoded datagrams ----------

interface FoundFlow { sample: FlowSample; packet: Packet; subAgentId: number }

function counterSamples(d: Datagram): CounterSample[] {
  return d.samples.filter((s): s is CounterSample => s.kind === 'counter');
}

function flowSamples(ds: readonly Datagram[]): FoundFlow[] {
  const found: FoundFlow[] = [];
  for (const d of ds) {
    for (const s of d.samples) {
      if (s.kind !== 'flow') continue;
      const packet = record(s.records, 'sampled_header')?.packet;
      if (packet !== null && packet !== undefined) found.push({ sample: s, packet, subAgentId: d.subAgentId });
    }
  }
  return found;
}

type AnyRecord = FlowSample['records'][number] | CounterRecord;
function record<K extends AnyRecord['kind']>(records: readonly AnyRecord[], kind: K): Extract<AnyRecord, { kind: K }> | undefined {
  return records.find((r): r is Extract<AnyRecord, { kind: K }> => r.kind === kind);
}

interface Endpoint { mac: string; ip: string }

function isIcmp(packet: Packet, from: Endpoint, to: Endpoint, type: number): boolean {
  return packet.srcMac === from.mac && packet.dstMac === to.mac && packet.srcIp === from.ip && packet.dstIp === to.ip && packet.icmpType === type;
}

function pick<T extends object, K extends keyof T>(value: T | undefined, keys: readonly K[]): Partial<Pick<T, K>> | undefined {
  if (value === undefined) return undefined;
  const out: Partial<Pick<T, K>> = {};
  for (const key of keys) out[key] = value[key];
  return out;
}
