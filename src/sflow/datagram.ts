// sFlow v5 datagram and its samples: sflow.org SFLOW-DATAGRAM5 ("sFlow Version 5",
// sflow_version_5.txt, sections 5 "sample_datagram_v5", "flow_sample", "counters_sample" and
// their expanded forms) and the discarded-packet sample of sflow_drops.txt.
//
//   struct sample_datagram { unsigned int version; /* 5 */ sample_datagram_v5 datagram; }
//   struct sample_datagram_v5 { address agent_address; /* u32 type 1 IPv4 | 2 IPv6, 4 or 16 bytes */
//     unsigned int sub_agent_id; unsigned int sequence_number; unsigned int uptime; /* ms */
//     sample_record samples<>; }
//   struct sample_record { data_format sample_type; /* enterprise << 12 | format */ opaque sample_data<>; }
//   struct flow_sample (0:1) { unsigned int sequence_number; sflow_data_source source_id;
//     /* type << 24 | index */ unsigned int sampling_rate; unsigned int sample_pool; unsigned int drops;
//     interface input; interface output; /* format << 30 | value */ flow_record flow_records<>; }
//   struct counters_sample (0:2) { unsigned int sequence_number; sflow_data_source source_id;
//     counter_record counters<>; }
//   struct flow_sample_expanded (0:3) { unsigned int sequence_number;
//     sflow_data_source_expanded source_id; /* unsigned int source_id_type; unsigned int source_id_index; */
//     unsigned int sampling_rate; unsigned int sample_pool; unsigned int drops;
//     interface_expanded input; interface_expanded output; /* unsigned int format; unsigned int value; */
//     flow_record flow_records<>; }
//   struct counters_sample_expanded (0:4) { unsigned int sequence_number;
//     sflow_data_source_expanded source_id; counter_record counters<>; }
//   struct discarded_packet (0:5, sflow_drops.txt) { unsigned int sequence_number;
//     sflow_data_source_expanded source_id; unsigned int drops; unsigned int input; /* ifIndex */
//     unsigned int output; /* ifIndex */ drop_reason reason; flow_record discard_records<>; }
//   struct flow_record    { data_format flow_format;    opaque flow_data<>; }
//   struct counter_record { data_format counter_format; opaque counter_data<>; }
//
// Error policy (STYLE.md "Binary decoding"): only an unusable datagram header throws DecodeError
// (bad-version, truncated, bad-value for an unknown agent address type). Below it, problems become
// `datagram.issues` and decoding goes on where the framing allows:
//   * a sample whose length runs past the datagram is decoded from the bytes that are there (its
//     records that fit are kept, like akvorado and tcpdump do), with a `truncated` issue; it is the
//     last sample read;
//   * a sample too short for its own fixed header is kept as `unknown` (raw body) with an issue;
//   * a record whose length runs past its sample is kept as `malformed` (the bytes that are there)
//     with an issue, and ends that sample's record list (the next record's position is unknown);
//   * a record too short for its format is `malformed`, counted, and its sample survives;
//   * a count larger than the bytes left could hold is a `too-many` issue; records are still read
//     while whole record headers fit.
import { DecodeError } from '../errors.js';
import { Reader } from './reader.js';
import type {
  CounterRecord,
  CounterSample,
  Datagram,
  DiscardSample,
  FlowRecord,
  FlowSample,
  MalformedRecord,
  Sample,
  UnknownRecord,
  UnknownSample,
} from './types.js';
import { formatIpv6, ipv4Text } from './address.js';
import { COUNTER_FORMAT, FLOW_FORMAT, INTERFACE_VALUE_MASK, SAMPLE_FORMAT, SFLOW_VERSION_5, SOURCE_ID_INDEX_MASK, ADDRESS_TYPE } from './wire.js';
import * as flow from './flow-records.js';
import * as tunnel from './tunnel-records.js';
import * as drop from './drop-records.js';
import * as counter from './counter-records.js';
import { HOST_COUNTER_FORMATS, decodeHostAdapters, hostCounterDecoder } from './host-counters.js';

/** data_format word + length word in front of every sample and record. */
const TAG_AND_LENGTH = 8;

type RecordDecoder<T> = (r: Reader) => T;

/** Flow records by data_format (enterprise 0, so the format number itself). */
export const FLOW_RECORD_DECODERS: ReadonlyMap<number, RecordDecoder<FlowRecord>> = new Map<number, RecordDecoder<FlowRecord>>([
  [FLOW_FORMAT.SAMPLED_HEADER, flow.decodeSampledHeader],
  [FLOW_FORMAT.SAMPLED_ETHERNET, flow.decodeSampledEthernet],
  [FLOW_FORMAT.SAMPLED_IPV4, flow.decodeSampledIpv4],
  [FLOW_FORMAT.SAMPLED_IPV6, flow.decodeSampledIpv6],
  [FLOW_FORMAT.EXTENDED_SWITCH, flow.decodeExtendedSwitch],
  [FLOW_FORMAT.EXTENDED_ROUTER, flow.decodeExtendedRouter],
  [FLOW_FORMAT.EXTENDED_GATEWAY, flow.decodeExtendedGateway],
  [FLOW_FORMAT.EXTENDED_USER, flow.decodeExtendedUser],
  [FLOW_FORMAT.EXTENDED_URL, flow.decodeExtendedUrl],
  [FLOW_FORMAT.EXTENDED_MPLS, flow.decodeExtendedMpls],
  [FLOW_FORMAT.EXTENDED_NAT, flow.decodeExtendedNat],
  [FLOW_FORMAT.EXTENDED_L2_TUNNEL_EGRESS, tunnel.decodeL2TunnelEgress],
  [FLOW_FORMAT.EXTENDED_L2_TUNNEL_INGRESS, tunnel.decodeL2TunnelIngress],
  [FLOW_FORMAT.EXTENDED_IPV4_TUNNEL_EGRESS, tunnel.decodeIpv4TunnelEgress],
  [FLOW_FORMAT.EXTENDED_IPV4_TUNNEL_INGRESS, tunnel.decodeIpv4TunnelIngress],
  [FLOW_FORMAT.EXTENDED_IPV6_TUNNEL_EGRESS, tunnel.decodeIpv6TunnelEgress],
  [FLOW_FORMAT.EXTENDED_IPV6_TUNNEL_INGRESS, tunnel.decodeIpv6TunnelIngress],
  [FLOW_FORMAT.EXTENDED_DECAPSULATE_EGRESS, tunnel.decodeDecapsulateEgress],
  [FLOW_FORMAT.EXTENDED_DECAPSULATE_INGRESS, tunnel.decodeDecapsulateIngress],
  [FLOW_FORMAT.EXTENDED_VNI_EGRESS, tunnel.decodeVniEgress],
  [FLOW_FORMAT.EXTENDED_VNI_INGRESS, tunnel.decodeVniIngress],
  [FLOW_FORMAT.EXTENDED_EGRESS_QUEUE, drop.decodeExtendedEgressQueue],
  [FLOW_FORMAT.EXTENDED_ACL, drop.decodeExtendedAcl],
  [FLOW_FORMAT.EXTENDED_FUNCTION, drop.decodeExtendedFunction],
  [FLOW_FORMAT.EXTENDED_TRANSIT, drop.decodeExtendedTransit],
  [FLOW_FORMAT.EXTENDED_QUEUE, drop.decodeExtendedQueue],
  [FLOW_FORMAT.EXTENDED_HW_TRAP, drop.decodeExtendedHwTrap],
  [FLOW_FORMAT.EXTENDED_LINUX_DROP_REASON, drop.decodeExtendedLinuxReason],
]);

/** Counter records by data_format. */
export const COUNTER_RECORD_DECODERS: ReadonlyMap<number, RecordDecoder<CounterRecord>> = new Map<number, RecordDecoder<CounterRecord>>([
  [COUNTER_FORMAT.GENERIC_INTERFACE, counter.decodeGenericInterface],
  [COUNTER_FORMAT.ETHERNET_INTERFACE, counter.decodeEthernetInterface],
  [COUNTER_FORMAT.VLAN, counter.decodeVlan],
  [COUNTER_FORMAT.LAG_PORT, counter.decodeLagPort],
  [COUNTER_FORMAT.PROCESSOR, counter.decodeProcessor],
  [COUNTER_FORMAT.OPENFLOW_PORT, counter.decodeOpenflowPort],
  [COUNTER_FORMAT.OPENFLOW_PORT_NAME, counter.decodePortName],
  [COUNTER_FORMAT.HOST_ADAPTERS, decodeHostAdapters],
  ...HOST_COUNTER_FORMATS.map((format) => [format, hostCounterDecoder(format)] as const),
]);



/** Decodes one sFlow v5 datagram (a UDP payload). Throws DecodeError only for an unusable header. */
export function decodeDatagram(input: Uint8Array): Datagram {
  // A Node Buffer's subarray() builds a Buffer (several times slower than a Uint8Array view); the
  // sampled headers are views of this array, so view the same memory as a plain Uint8Array once.
  const bytes = input.constructor === Uint8Array ? input : new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
  const r = new Reader(bytes);
  const version = r.u32('version');
  if (version !== SFLOW_VERSION_5) throw r.error('bad-version', `version ${version}, not 5`, 'version', 0);
  const agentAddressType = r.u32('agent_address.type');
  let agent: string;
  if (agentAddressType === ADDRESS_TYPE.IPV4) agent = ipv4Text(bytes, r.advance(4, 'agent_address')); // one string per address (see address.ts)
  else if (agentAddressType === ADDRESS_TYPE.IPV6) agent = formatIpv6(bytes, r.advance(16, 'agent_address'));
  else throw r.error('bad-value', `agent address type ${agentAddressType} is neither 1 (IPv4) nor 2 (IPv6)`, 'agent_address.type', r.offset - 4);
  const d: Datagram = {
    version: SFLOW_VERSION_5,
    agentAddressType,
    agent,
    subAgentId: r.u32('sub_agent_id'),
    sequence: r.u32('sequence_number'),
    uptimeMs: r.u32('uptime'),
    numSamples: r.u32('num_samples'),
    samples: [],
    issues: [],
    unknownRecords: 0,
    malformedRecords: 0,
  };
  decodeSamples(r, d);
  return d;
}

function decodeSamples(r: Reader, d: Datagram): void {
  const count = d.numSamples;
  const tooMany = count * TAG_AND_LENGTH > r.remaining;
  if (tooMany) addIssue(d, r.error('too-many', `${count} samples in ${r.remaining} bytes`, 'num_samples', r.offset - 4));
  for (let i = 0; i < count; i++) {
    if (r.remaining < TAG_AND_LENGTH) {
      if (!tooMany) addIssue(d, r.error('truncated', `sample ${i} of ${count}: ${r.remaining} bytes left, a sample header needs 8`, 'num_samples'));
      return;
    }
    const offset = r.offset;
    const sampleType = r.u32('sample_type');
    const length = r.u32('sample_length');
    let body: Reader;
    let cut = false;
    if (length > r.remaining) {
      addIssue(d, r.error('truncated', `sample length ${length} runs past the end of the datagram (${r.remaining} bytes left)`, `sample[${i}]`));
      body = r.sub(r.remaining, 'sample', i);
      cut = true;
    } else {
      body = r.sub(length, 'sample', i);
    }
    d.samples.push(decodeSample(body, d, sampleType, offset, length));
    if (cut) return;
  }
}

function decodeSample(r: Reader, d: Datagram, sampleType: number, offset: number, length: number): Sample {
  const enterprise = sampleType >>> 12;
  const format = sampleType & 0xfff;
  if (enterprise === 0) {
    try {
      switch (format) {
        case SAMPLE_FORMAT.FLOW: return decodeFlowSample(r, d, offset, length, false);
        case SAMPLE_FORMAT.EXPANDED_FLOW: return decodeFlowSample(r, d, offset, length, true);
        case SAMPLE_FORMAT.COUNTER: return decodeCounterSample(r, d, offset, length, false);
        case SAMPLE_FORMAT.EXPANDED_COUNTER: return decodeCounterSample(r, d, offset, length, true);
        case SAMPLE_FORMAT.DISCARD: return decodeDiscardSample(r, d, offset, length);
        default:
      }
    } catch (error) {
      if (!(error instanceof DecodeError)) throw error; // a bug, not bad input
      addIssue(d, error); // the fixed sample header does not fit: keep the bytes
    }
  }
  const sample: UnknownSample = { kind: 'unknown', offset, length, enterprise, format, body: r.whole() };
  return sample;
}

function decodeFlowSample(r: Reader, d: Datagram, offset: number, length: number, expanded: boolean): FlowSample {
  const sequence = r.u32('sequence_number');
  let sourceIdType: number;
  let sourceIdIndex: number;
  if (expanded) {
    sourceIdType = r.u32('source_id_type');
    sourceIdIndex = r.u32('source_id_index');
  } else {
    const sourceId = r.u32('source_id');
    sourceIdType = sourceId >>> 24;
    sourceIdIndex = sourceId & SOURCE_ID_INDEX_MASK;
  }
  const samplingRate = r.u32('sampling_rate');
  const samplePool = r.u32('sample_pool');
  const drops = r.u32('drops');
  let inputFormat: number, inputValue: number, outputFormat: number, outputValue: number;
  if (expanded) {
    inputFormat = r.u32('input.format');
    inputValue = r.u32('input.value');
    outputFormat = r.u32('output.format');
    outputValue = r.u32('output.value');
  } else {
    const input = r.u32('input');
    const output = r.u32('output');
    inputFormat = input >>> 30;
    inputValue = input & INTERFACE_VALUE_MASK;
    outputFormat = output >>> 30;
    outputValue = output & INTERFACE_VALUE_MASK;
  }
  const count = r.u32('flow_records.count');
  const sample: FlowSample = {
    kind: 'flow', offset, length, expanded, sequence, sourceIdType, sourceIdIndex,
    samplingRate, samplePool, drops,
    input: { format: inputFormat, value: inputValue },
    output: { format: outputFormat, value: outputValue },
    records: [],
  };
  decodeRecords(r, d, count, FLOW_RECORD_DECODERS, sample.records);
  return sample;
}

function decodeCounterSample(r: Reader, d: Datagram, offset: number, length: number, expanded: boolean): CounterSample {
  const sequence = r.u32('sequence_number');
  let sourceIdType: number;
  let sourceIdIndex: number;
  if (expanded) {
    sourceIdType = r.u32('source_id_type');
    sourceIdIndex = r.u32('source_id_index');
  } else {
    const sourceId = r.u32('source_id');
    sourceIdType = sourceId >>> 24;
    sourceIdIndex = sourceId & SOURCE_ID_INDEX_MASK;
  }
  const count = r.u32('counters.count');
  const sample: CounterSample = { kind: 'counter', offset, length, expanded, sequence, sourceIdType, sourceIdIndex, records: [] };
  decodeRecords(r, d, count, COUNTER_RECORD_DECODERS, sample.records);
  return sample;
}

function decodeDiscardSample(r: Reader, d: Datagram, offset: number, length: number): DiscardSample {
  const sequence = r.u32('sequence_number');
  const sourceIdType = r.u32('source_id_type');
  const sourceIdIndex = r.u32('source_id_index');
  const drops = r.u32('drops');
  const inputIfIndex = r.u32('input');
  const outputIfIndex = r.u32('output');
  const reason = r.u32('reason');
  const count = r.u32('discard_records.count');
  const sample: DiscardSample = {
    kind: 'discard', offset, length, expanded: true, sequence, sourceIdType, sourceIdIndex,
    drops, inputIfIndex, outputIfIndex, reason, records: [],
  };
  decodeRecords(r, d, count, FLOW_RECORD_DECODERS, sample.records);
  return sample;
}

/** One record loop for flow, discard and counter samples; only the decoder table differs. */
function decodeRecords<T extends FlowRecord | CounterRecord>(
  r: Reader, d: Datagram, count: number, decoders: ReadonlyMap<number, RecordDecoder<T>>, records: (T | UnknownRecord | MalformedRecord)[],
): void {
  const tooMany = count * TAG_AND_LENGTH > r.remaining;
  if (tooMany) addIssue(d, r.error('too-many', `${count} records in ${r.remaining} bytes`, 'num_records', r.offset - 4)); // the count was the last word read
  for (let i = 0; i < count; i++) {
    if (r.remaining < TAG_AND_LENGTH) {
      if (!tooMany) addIssue(d, r.error('truncated', `record ${i} of ${count}: ${r.remaining} bytes left, a record header needs 8`, 'num_records'));
      return;
    }
    const offset = r.offset;
    const dataFormat = r.u32('data_format');
    const length = r.u32('length');
    const enterprise = dataFormat >>> 12;
    const format = dataFormat & 0xfff;
    if (length > r.remaining) {
      const error = r.error('truncated', `record length ${length} runs past the end of its sample (${r.remaining} bytes left)`, `record[${i}]`);
      addIssue(d, error);
      d.malformedRecords++;
      records.push({ kind: 'malformed', offset, length, enterprise, format, error, body: r.take(r.remaining, 'record') });
      return;
    }
    const body = r.sub(length, 'record', i);
    const decode = enterprise === 0 ? decoders.get(format) : undefined;
    if (decode === undefined) {
      d.unknownRecords++;
      records.push({ kind: 'unknown', offset, length, enterprise, format, body: body.whole() });
      continue;
    }
    try {
      records.push(decode(body));
    } catch (error) {
      if (!(error instanceof DecodeError)) throw error; // a bug, not bad input
      d.malformedRecords++;
      records.push({ kind: 'malformed', offset, length, enterprise, format, error, body: body.whole() });
    }
  }
}

function addIssue(d: Datagram, error: DecodeError): void {
  d.issues.push({ code: error.code, offset: error.offset, path: error.path, message: error.message });
}
