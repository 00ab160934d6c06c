// Decoded datagrams for the store integration tests, shaped like Open vSwitch's (DESIGN.md "What
// Open vSwitch actually exports"): agent 192.0.2.10 is a compute host (br-int = sub-agent 1), agent
// 192.0.2.11 a network host whose br-phy (sub-agent 2) samples GRE frames. TEST-NET addresses only.
import { DecodeError } from '../../src/errors.js';
import type { RowMeta } from '../../src/pipeline/rows.js';
import type { CounterSample, Datagram, FlowRecord, FlowSample, Packet } from '../../src/sflow/types.js';

export const T0 = Date.UTC(2026, 0, 15, 10, 0, 0); // 2026-01-15 10:00:00 UTC
export const COMPUTE = '192.0.2.10';
export const NETWORK = '192.0.2.11';
export const VM_A = '198.51.100.10';
export const VM_B = '198.51.100.20';

export interface Received {
  input: Datagram | DecodeError;
  meta: RowMeta;
}

function tcp(fields: Partial<Packet> = {}): Packet {
  return {
    layers: ['eth', 'ipv4', 'tcp'], srcMac: 'fa:16:3e:00:00:0a', dstMac: 'fa:16:3e:00:00:14', vlans: [], etherType: 0x0800,
    ipVersion: 4, srcIp: VM_A, dstIp: VM_B, ipProtocol: 6, ttl: 64, tos: 0, ipId: 1, ipLength: 60, fragment: false,
    srcPort: 40_000, dstPort: 22, tcpFlags: 0x02, icmpType: null, icmpCode: null, arp: null, tunnel: null, inner: null,
    truncatedAt: null, ...fields,
  };
}

function header(packet: Packet, bytes: number): FlowRecord {
  const raw = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i++) raw[i] = (i * 31 + bytes) & 0xff;
  return { kind: 'sampled_header', offset: 44, length: 16 + bytes, headerProtocol: 1, frameLength: bytes + 4, stripped: 4, headerLength: bytes, header: raw, packet };
}

function flow(sequence: number, input: number, output: FlowSample['output'], records: FlowRecord[]): FlowSample {
  return {
    kind: 'flow', offset: 28, length: 200, expanded: false, sequence, sourceIdType: 0, sourceIdIndex: input,
    samplingRate: 1, samplePool: sequence, drops: 0, input: { format: 0, value: input }, output, records,
  };
}

const SWITCH: FlowRecord = { kind: 'extended_switch', offset: 0, length: 16, srcVlan: 0, srcPriority: 0, dstVlan: 0, dstPriority: 0 };

function datagram(agent: string, subAgentId: number, sequence: number, samples: Datagram['samples'], issues: Datagram['issues'] = []): Datagram {
  return { version: 5, agentAddressType: 1, agent, subAgentId, sequence, uptimeMs: sequence * 100, numSamples: samples.length, samples, issues, unknownRecords: 0, malformedRecords: 0 };
}

function meta(agent: string, ms: number, sequence: number): RowMeta {
  return { receivedAt: T0 + ms, exporter: agent, exporterPort: 50_000, raw: Uint8Array.of(0, 0, 0, 5, sequence & 0xff, 9, 10, 92, 0xff) };
}

/**
 * 40 compute datagrams (3 samples each: tap port 5 -> 7, one a minute later), 20 network datagrams
 * with GRE samples, a dropped frame, two counter samples, a datagram with an issue and one that
 * does not decode. Counts are in FIXTURE_COUNTS.
 */
export function fixtureDatagrams(): Received[] {
  const out: Received[] = [];
  for (let i = 0; i < 40; i++) {
    const ms = i < 30 ? i * 100 : 60_000 + i * 100;
    const samples = [0, 1, 2].map((k) => flow(i * 3 + k, 5, { format: 0, value: 7 }, [header(tcp({ ipId: i * 3 + k }), 64), SWITCH]));
    out.push({ input: datagram(COMPUTE, 1, i + 1, samples), meta: meta(COMPUTE, ms, i) });
  }
  for (let i = 0; i < 20; i++) {
    const gre = tcp({
      layers: ['eth', 'ipv4', 'gre', 'eth', 'ipv4', 'tcp'], srcIp: '203.0.113.1', dstIp: '203.0.113.2', ipProtocol: 47,
      srcPort: null, dstPort: null, tcpFlags: null, tunnel: { type: 'gre', id: 0x64, protocol: 0x6558 }, inner: tcp(),
    });
    out.push({ input: datagram(NETWORK, 2, i + 1, [flow(i, 0, { format: 2, value: 1 }, [header(gre, 110), SWITCH])]), meta: meta(NETWORK, 500 + i * 100, i) });
  }
  // A frame dropped by a flow rule: OVS output 0x40000100 (discard, reason 256).
  out.push({ input: datagram(COMPUTE, 1, 41, [flow(999, 5, { format: 1, value: 256 }, [header(tcp({ dstPort: 23 }), 64), SWITCH])]), meta: meta(COMPUTE, 4_000, 41) });
  const port: CounterSample = {
    kind: 'counter', offset: 28, length: 300, expanded: false, sequence: 1, sourceIdType: 0, sourceIdIndex: 5,
    records: [
      { kind: 'generic_interface', offset: 0, length: 88, ifIndex: 5, ifType: 6, ifSpeed: 10_000_000_000n, ifDirection: 1, ifAdminStatus: 1, ifOperStatus: 1, inOctets: 123_456_789_012n, inUcastPkts: 10, inMulticastPkts: 0, inBroadcastPkts: 1, inDiscards: 0, inErrors: 0, inUnknownProtos: 0, outOctets: 98_765n, outUcastPkts: 12, outMulticastPkts: 0, outBroadcastPkts: 0, outDiscards: 2, outErrors: 0, ifPromiscuousMode: 0 },
      { kind: 'openflow_port', offset: 0, length: 12, datapathId: 0x0000_5e6f_7a8b_9c0dn, portNo: 3 },
      { kind: 'openflow_port_name', offset: 0, length: 16, name: 'tap1234abcd-ef' },
    ],
  };
  const bridge: CounterSample = {
    kind: 'counter', offset: 28, length: 100, expanded: false, sequence: 1, sourceIdType: 2, sourceIdIndex: 1001,
    records: [
      { kind: 'app_resources', offset: 0, length: 40, fields: { user_time: 1200, sys_time: 300 } },
      { kind: 'ovs_dp_stats', offset: 0, length: 24, fields: { hits: 5000, misses: 42, lost: 0 } },
    ],
  };
  out.push({ input: datagram(COMPUTE, 1, 42, [port, bridge]), meta: meta(COMPUTE, 5_000, 42) });
  out.push({
    input: datagram(COMPUTE, 1, 43, [flow(1000, 5, { format: 0, value: 7 }, [header(tcp(), 64)])], [
      { code: 'truncated', offset: 240, path: 'datagram/sample[1]', message: 'truncated at byte 240 (datagram/sample[1]): need 300 bytes, 20 left' },
    ]),
    meta: meta(COMPUTE, 6_000, 43),
  });
  out.push({ input: new DecodeError('bad-version', 'version 4, expected 5', { offset: 0, path: 'datagram/version' }), meta: meta('192.0.2.99', 7_000, 44) });
  return out;
}

export const FIXTURE_COUNTS = {
  datagrams: 40 + 20 + 1 + 1 + 1 + 1,
  flows: 40 * 3 + 20 + 1 + 1,
  computeFlows: 40 * 3 + 1 + 1,
  firstMinuteComputeFlows: 30 * 3 + 1 + 1,
  counters: 2,
  discards: 1,
  quarantine: 2,
};
