// Decoded sFlow datagram -> rows of the sFlow tables (src/store/sflow-tables.ts, docs/schema.md).
// Pure and on the hot path (one call per datagram, one row per sample): rows are object literals of
// one shape per table, filled by plain loops; no spreads, no closures or maps per sample.
//
// Nothing is lost (STYLE.md "Errors and bad input"): every datagram gives a sflow_datagrams row;
// a datagram whose header could not be decoded gives a quarantine row instead of samples; one
// decoded with issues (or malformed records) gives its samples and a quarantine copy.
import type { DecodeError } from '../errors.js';
import type {
  CounterRecord,
  CounterSample,
  Datagram,
  DiscardSample,
  FlowRecord,
  FlowSample,
  Packet,
} from '../sflow/types.js';
import { RowBinaryWriter } from '../store/row-binary.js';
import {
  COUNTER_WIRE,
  DATAGRAM_WIRE,
  DISCARD_WIRE,
  FLOW_WIRE,
  encodeQuarantineRows,
  writeCounterRow,
  writeDatagramRow,
  writeDiscardRow,
  writeFlowRow,
  type CounterRow,
  type DatagramRow,
  type DiscardRow,
  type FlowRow,
  type PacketColumns,
  type QuarantineRow,
  type WireColumn,
} from '../store/sflow-tables.js';
import type { EncodedRows } from '../store/store.js';
import { VERSION } from '../version.js';

export interface RowMeta {
  /** Receive time, milliseconds since the epoch (the collector's stamp). */
  receivedAt: number;
  /** UDP source address of the datagram. */
  exporter: string;
  exporterPort: number;
  /** The datagram as received (stored in sflow_datagrams and quarantine). */
  raw: Uint8Array;
}

/** Rows for a batch of datagrams, one array per table. */
export interface SflowRows {
  datagrams: DatagramRow[];
  flows: FlowRow[];
  counters: CounterRow[];
  discards: DiscardRow[];
  quarantine: QuarantineRow[];
}

export function newSflowRows(): SflowRows {
  return { datagrams: [], flows: [], counters: [], discards: [], quarantine: [] };
}

/** Rows of one datagram (or of one that failed to decode). */
export function toRows(input: Datagram | DecodeError, meta: RowMeta): SflowRows {
  const rows = newSflowRows();
  appendRows(rows, input, meta);
  return rows;
}

/** Adds the rows of one datagram to a batch. */
export function appendRows(into: SflowRows, input: Datagram | DecodeError, meta: RowMeta): void {
  const receivedAt = meta.receivedAt;
  if (!isDatagram(input)) {
    into.datagrams.push(failedDatagramRow(input, meta, receivedAt));
    into.quarantine.push({
      received_at: receivedAt,
      source: 'sflow',
      exporter: meta.exporter,
      exporter_port: meta.exporterPort,
      agent: '',
      sequence: 0,
      error_code: input.code,
      error_offset: input.offset,
      error_path: input.path,
      message: input.message,
      issues: 1,
      raw: meta.raw,
      hoptrace_version: VERSION,
    });
    return;
  }
  const d = input;
  const samples = d.samples;
  for (let i = 0; i < samples.length; i++) {
    const sample = samples[i];
    if (sample === undefined) continue;
    switch (sample.kind) {
      case 'flow': {
        const row = flowRow(d, sample, i, meta.exporter, receivedAt);
        into.flows.push(row);
        if (sample.output.format === PORT_FORMAT.DISCARD) into.discards.push(flowDiscardRow(row, sample));
        break;
      }
      case 'counter':
        into.counters.push(counterRow(d, sample, i, meta.exporter, receivedAt));
        break;
      case 'discard':
        into.discards.push(discardRow(d, sample, i, meta.exporter, receivedAt));
        break;
      case 'unknown':
        break; // counted by the decoder (unknown sample format); kept in sflow_datagrams.raw
      default:
        assertNever(sample);
    }
  }
  const problem = firstProblem(d);
  into.datagrams.push({
    received_at: receivedAt,
    exporter: meta.exporter,
    exporter_port: meta.exporterPort,
    agent: d.agent,
    sub_agent_id: d.subAgentId,
    sequence: d.sequence,
    uptime_ms: d.uptimeMs,
    samples: d.numSamples,
    samples_decoded: samples.length,
    unknown_records: d.unknownRecords,
    malformed_records: d.malformedRecords,
    decode_status: problem === undefined ? 'ok' : 'issues',
    error_code: problem === undefined ? '' : problem.code,
    raw: meta.raw,
  });
  if (problem !== undefined) {
    into.quarantine.push({
      received_at: receivedAt,
      source: 'sflow',
      exporter: meta.exporter,
      exporter_port: meta.exporterPort,
      agent: d.agent,
      sequence: d.sequence,
      error_code: problem.code,
      error_offset: problem.offset,
      error_path: problem.path,
      message: problem.message,
      issues: problem.count,
      raw: meta.raw,
      hoptrace_version: VERSION,
    });
  }
}

/** The sFlow tables a batch writes to. */
export type SflowTable = 'flow_samples' | 'counter_samples' | 'discard_samples' | 'sflow_datagrams' | 'quarantine';

/**
 * A store batch built datagram by datagram: each datagram's rows are encoded (RowBinary) as soon
 * as they are made, so row objects die young and the garbage collector never copies them; the
 * buffers are kept across batches (reset()), because touching fresh memory costs more than
 * writing it. Measured on the 2-core test machine: about 1.8x the rows/s of toRows() followed by
 * encodeFlowRows() (docs/schema.md, "Insert throughput").
 */
export class SflowRowBatch {
  readonly #keepRawDatagrams: boolean;
  readonly #scratch = newSflowRows();
  readonly #flows = new RowBinaryWriter();
  readonly #counters = new RowBinaryWriter(1 << 16);
  readonly #discards = new RowBinaryWriter(1 << 16);
  readonly #datagrams = new RowBinaryWriter();
  /** Datagrams added since the last reset. */
  datagrams = 0;
  flowRows = 0;
  counterRows = 0;
  discardRows = 0;
  datagramRows = 0;
  /** Quarantine rows, kept as objects (rare; the stage reads their codes for metrics). */
  readonly quarantine: QuarantineRow[] = [];

  constructor(options: { keepRawDatagrams?: boolean } = {}) {
    this.#keepRawDatagrams = options.keepRawDatagrams ?? true;
  }

  add(input: Datagram | DecodeError, meta: RowMeta): void {
    const rows = this.#scratch;
    appendRows(rows, input, meta);
    this.datagrams++;
    for (let i = 0; i < rows.flows.length; i++) writeFlowRow(this.#flows, rows.flows[i] as FlowRow);
    this.flowRows += rows.flows.length;
    for (let i = 0; i < rows.counters.length; i++) writeCounterRow(this.#counters, rows.counters[i] as CounterRow);
    this.counterRows += rows.counters.length;
    for (let i = 0; i < rows.discards.length; i++) writeDiscardRow(this.#discards, rows.discards[i] as DiscardRow);
    this.discardRows += rows.discards.length;
    if (this.#keepRawDatagrams) {
      for (let i = 0; i < rows.datagrams.length; i++) writeDatagramRow(this.#datagrams, rows.datagrams[i] as DatagramRow);
      this.datagramRows += rows.datagrams.length;
    }
    for (let i = 0; i < rows.quarantine.length; i++) this.quarantine.push(rows.quarantine[i] as QuarantineRow);
    rows.flows.length = 0;
    rows.counters.length = 0;
    rows.discards.length = 0;
    rows.datagrams.length = 0;
    rows.quarantine.length = 0;
  }

  /** The non-empty tables of the batch. The data are views over this batch's buffers: valid until reset(). */
  tables(): { table: SflowTable; rows: EncodedRows }[] {
    const out: { table: SflowTable; rows: EncodedRows }[] = [];
    if (this.flowRows > 0) out.push({ table: 'flow_samples', rows: encoded(this.#flows, FLOW_WIRE, this.flowRows) });
    if (this.counterRows > 0) out.push({ table: 'counter_samples', rows: encoded(this.#counters, COUNTER_WIRE, this.counterRows) });
    if (this.discardRows > 0) out.push({ table: 'discard_samples', rows: encoded(this.#discards, DISCARD_WIRE, this.discardRows) });
    if (this.datagramRows > 0) out.push({ table: 'sflow_datagrams', rows: encoded(this.#datagrams, DATAGRAM_WIRE, this.datagramRows) });
    if (this.quarantine.length > 0) out.push({ table: 'quarantine', rows: encodeQuarantineRows(this.quarantine) });
    return out;
  }

  /** Empties the batch for reuse (after the store has taken it). */
  reset(): void {
    this.#flows.reset();
    this.#counters.reset();
    this.#discards.reset();
    this.#datagrams.reset();
    this.datagrams = 0;
    this.flowRows = 0;
    this.counterRows = 0;
    this.discardRows = 0;
    this.datagramRows = 0;
    this.quarantine.length = 0;
  }
}

function encoded(writer: RowBinaryWriter, wire: readonly WireColumn[], rowCount: number): EncodedRows {
  return {
    format: 'RowBinary',
    columns: wire.map((column) => column[0]),
    types: wire.map((column) => column[1]),
    data: writer.bytes(),
    rowCount,
  };
}

/** sFlow interface formats (SFLOW-DATAGRAM5 "interface"): the top two bits of input/output. */
export const PORT_FORMAT = { SINGLE: 0, DISCARD: 1, MULTIPLE: 2 } as const;

const NO_IP = '::';
const NO_NUMBERS: readonly number[] = Object.freeze([]);
const NO_WORDS: readonly string[] = Object.freeze([]);
const NO_HEADER = new Uint8Array(0);
// Shared empty maps: a row gets its own object only when it has something to put in it.
const NO_TEXT: Record<string, string> = Object.freeze({}) as Record<string, string>;
const NO_NUMBER_MAP: Record<string, number> = Object.freeze({}) as Record<string, number>;

function isDatagram(input: Datagram | DecodeError): input is Datagram {
  return (input as Datagram).version === 5 && Array.isArray((input as Datagram).samples);
}

function flowRow(d: Datagram, s: FlowSample, index: number, exporter: string, receivedAt: number): FlowRow {
  const row: FlowRow = {
    received_at: receivedAt,
    exporter,
    agent: d.agent,
    sub_agent_id: d.subAgentId,
    datagram_sequence: d.sequence,
    sample_index: index,
    sequence: s.sequence,
    expanded: s.expanded,
    source_id_type: s.sourceIdType,
    source_id_index: s.sourceIdIndex,
    sampling_rate: s.samplingRate,
    sample_pool: s.samplePool,
    drops: s.drops,
    input_format: s.input.format,
    input_value: s.input.value,
    output_format: s.output.format,
    output_value: s.output.value,
    record_kinds: [],
    header_protocol: 0,
    frame_length: 0,
    stripped: 0,
    header_length: 0,
    header: NO_HEADER,
    layers: NO_WORDS,
    src_mac: '',
    dst_mac: '',
    vlan_ids: NO_NUMBERS,
    ether_type: 0,
    ip_version: 0,
    src_ip: NO_IP,
    dst_ip: NO_IP,
    ip_protocol: 0,
    ttl: 0,
    tos: 0,
    ip_id: 0,
    ip_length: 0,
    fragment: false,
    src_port: 0,
    dst_port: 0,
    tcp_flags: 0,
    icmp_type: 0,
    icmp_code: 0,
    arp_operation: 0,
    arp_sender_ip: NO_IP,
    arp_target_ip: NO_IP,
    truncated_at: '',
    tunnel_type: '',
    tunnel_id: 0,
    tunnel_protocol: 0,
    inner_src_mac: '',
    inner_dst_mac: '',
    inner_vlan_ids: NO_NUMBERS,
    inner_ether_type: 0,
    inner_ip_version: 0,
    inner_src_ip: NO_IP,
    inner_dst_ip: NO_IP,
    inner_ip_protocol: 0,
    inner_ttl: 0,
    inner_tos: 0,
    inner_ip_id: 0,
    inner_ip_length: 0,
    inner_src_port: 0,
    inner_dst_port: 0,
    inner_tcp_flags: 0,
    inner_icmp_type: 0,
    inner_icmp_code: 0,
    src_vlan: 0,
    src_priority: 0,
    dst_vlan: 0,
    dst_priority: 0,
    tunnel_egress_src_ip: NO_IP,
    tunnel_egress_dst_ip: NO_IP,
    tunnel_egress_protocol: 0,
    tunnel_ingress_src_ip: NO_IP,
    tunnel_ingress_dst_ip: NO_IP,
    tunnel_ingress_protocol: 0,
    vni_egress: 0,
    vni_ingress: 0,
    extended: NO_TEXT,
  };
  const records = s.records;
  for (let i = 0; i < records.length; i++) {
    const record = records[i] as FlowRecord;
    row.record_kinds.push(recordKind(record));
    if (applyPacketRecord(row, record)) continue;
    switch (record.kind) {
      case 'extended_ipv4_tunnel_egress':
      case 'extended_ipv6_tunnel_egress':
        row.tunnel_egress_src_ip = record.srcIp;
        row.tunnel_egress_dst_ip = record.dstIp;
        row.tunnel_egress_protocol = record.protocol;
        break;
      case 'extended_ipv4_tunnel_ingress':
      case 'extended_ipv6_tunnel_ingress':
        row.tunnel_ingress_src_ip = record.srcIp;
        row.tunnel_ingress_dst_ip = record.dstIp;
        row.tunnel_ingress_protocol = record.protocol;
        break;
      case 'extended_vni_egress':
        row.vni_egress = record.vni;
        break;
      case 'extended_vni_ingress':
        row.vni_ingress = record.vni;
        break;
      default:
        if (row.extended === NO_TEXT) row.extended = {};
        extendedFields(row.extended, record);
    }
  }
  return row;
}

/** A flow sample whose output is "discarded" (format 1) also goes to discard_samples. */
function flowDiscardRow(f: FlowRow, s: FlowSample): DiscardRow {
  const row = blankDiscardRow(f.received_at, f.exporter, f.agent, f.sub_agent_id, f.datagram_sequence, f.sample_index, s);
  row.kind = 'flow';
  row.sampling_rate = s.samplingRate;
  row.sample_pool = s.samplePool;
  row.drops = s.drops;
  row.input_if_index = s.input.format === PORT_FORMAT.SINGLE ? s.input.value : 0;
  row.output_if_index = 0;
  row.reason = s.output.value;
  fillDiscardRecords(row, s.records);
  return row;
}

function discardRow(d: Datagram, s: DiscardSample, index: number, exporter: string, receivedAt: number): DiscardRow {
  const row = blankDiscardRow(receivedAt, exporter, d.agent, d.subAgentId, d.sequence, index, s);
  row.drops = s.drops;
  row.input_if_index = s.inputIfIndex;
  row.output_if_index = s.outputIfIndex;
  row.reason = s.reason;
  fillDiscardRecords(row, s.records);
  return row;
}

function fillDiscardRecords(row: DiscardRow, records: readonly FlowRecord[]): void {
  for (let i = 0; i < records.length; i++) {
    const record = records[i] as FlowRecord;
    row.record_kinds.push(recordKind(record));
    if (applyPacketRecord(row, record)) continue;
    switch (record.kind) {
      case 'extended_egress_queue':
        row.egress_queue = record.queue;
        break;
      case 'extended_acl':
        row.acl_number = record.number;
        row.acl_name = record.name;
        row.acl_direction = record.direction;
        break;
      case 'extended_function':
        row.function_symbol = record.symbol;
        break;
      case 'extended_hw_trap':
        row.hw_trap_group = record.group;
        row.hw_trap = record.trap;
        break;
      case 'extended_linux_drop_reason':
        row.linux_drop_reason = record.reason;
        break;
      case 'extended_transit':
        row.transit_delay = record.delay;
        break;
      case 'extended_queue':
        row.queue_depth = record.depth;
        break;
      default:
        break; // other records are kept in flow_samples (for flow discards) or only in the raw datagram
    }
  }
}

function blankDiscardRow(
  receivedAt: number,
  exporter: string,
  agent: string,
  subAgentId: number,
  datagramSequence: number,
  index: number,
  s: FlowSample | DiscardSample,
): DiscardRow {
  return {
    received_at: receivedAt,
    exporter,
    agent,
    sub_agent_id: subAgentId,
    datagram_sequence: datagramSequence,
    sample_index: index,
    sequence: s.sequence,
    expanded: s.expanded,
    source_id_type: s.sourceIdType,
    source_id_index: s.sourceIdIndex,
    kind: 'discard',
    sampling_rate: 0,
    sample_pool: 0,
    drops: 0,
    input_if_index: 0,
    output_if_index: 0,
    reason: 0,
    record_kinds: [],
    header_protocol: 0,
    frame_length: 0,
    stripped: 0,
    header_length: 0,
    header: NO_HEADER,
    layers: NO_WORDS,
    src_mac: '',
    dst_mac: '',
    vlan_ids: NO_NUMBERS,
    ether_type: 0,
    ip_version: 0,
    src_ip: NO_IP,
    dst_ip: NO_IP,
    ip_protocol: 0,
    ttl: 0,
    tos: 0,
    ip_id: 0,
    ip_length: 0,
    fragment: false,
    src_port: 0,
    dst_port: 0,
    tcp_flags: 0,
    icmp_type: 0,
    icmp_code: 0,
    arp_operation: 0,
    arp_sender_ip: NO_IP,
    arp_target_ip: NO_IP,
    truncated_at: '',
    tunnel_type: '',
    tunnel_id: 0,
    tunnel_protocol: 0,
    inner_src_mac: '',
    inner_dst_mac: '',
    inner_vlan_ids: NO_NUMBERS,
    inner_ether_type: 0,
    inner_ip_version: 0,
    inner_src_ip: NO_IP,
    inner_dst_ip: NO_IP,
    inner_ip_protocol: 0,
    inner_ttl: 0,
    inner_tos: 0,
    inner_ip_id: 0,
    inner_ip_length: 0,
    inner_src_port: 0,
    inner_dst_port: 0,
    inner_tcp_flags: 0,
    inner_icmp_type: 0,
    inner_icmp_code: 0,
    src_vlan: 0,
    src_priority: 0,
    dst_vlan: 0,
    dst_priority: 0,
    egress_queue: 0,
    acl_number: 0,
    acl_name: '',
    acl_direction: 0,
    function_symbol: '',
    hw_trap_group: '',
    hw_trap: '',
    linux_drop_reason: '',
    transit_delay: 0,
    queue_depth: 0,
  };
}

/**
 * The records that describe the sampled frame, shared by flow and discard rows. A sampled header
 * (1) wins over the sampled Ethernet/IPv4/IPv6 summaries (2/3/4) whatever their order. Returns
 * false for records it does not handle.
 */
function applyPacketRecord(row: PacketColumns, record: FlowRecord): boolean {
  switch (record.kind) {
    case 'sampled_header':
      row.header_protocol = record.headerProtocol;
      row.frame_length = record.frameLength;
      row.stripped = record.stripped;
      row.header_length = record.headerLength;
      row.header = record.header;
      if (record.packet !== null) applyPacket(row, record.packet);
      return true;
    case 'sampled_ethernet':
      if (row.header_length === 0) {
        row.frame_length = record.frameLength;
        row.src_mac = record.srcMac;
        row.dst_mac = record.dstMac;
        row.ether_type = record.etherType;
      }
      return true;
    case 'sampled_ipv4':
    case 'sampled_ipv6':
      if (row.header_length === 0) {
        row.ip_version = record.kind === 'sampled_ipv4' ? 4 : 6;
        row.ip_length = record.ipLength;
        row.ip_protocol = record.protocol;
        row.src_ip = record.srcIp;
        row.dst_ip = record.dstIp;
        row.src_port = record.srcPort;
        row.dst_port = record.dstPort;
        row.tcp_flags = record.tcpFlags;
        row.tos = record.kind === 'sampled_ipv4' ? record.tos : record.priority;
      }
      return true;
    case 'extended_switch':
      row.src_vlan = record.srcVlan;
      row.src_priority = record.srcPriority;
      row.dst_vlan = record.dstVlan;
      row.dst_priority = record.dstPriority;
      return true;
    default:
      return false;
  }
}

function applyPacket(row: PacketColumns, p: Packet): void {
  row.layers = p.layers;
  row.src_mac = p.srcMac ?? '';
  row.dst_mac = p.dstMac ?? '';
  row.vlan_ids = vlanIds(p);
  row.ether_type = p.etherType ?? 0;
  row.ip_version = p.ipVersion ?? 0;
  row.src_ip = p.srcIp ?? NO_IP;
  row.dst_ip = p.dstIp ?? NO_IP;
  row.ip_protocol = p.ipProtocol ?? 0;
  row.ttl = p.ttl ?? 0;
  row.tos = p.tos ?? 0;
  row.ip_id = p.ipId ?? 0;
  row.ip_length = p.ipLength ?? 0;
  row.fragment = p.fragment;
  row.src_port = p.srcPort ?? 0;
  row.dst_port = p.dstPort ?? 0;
  row.tcp_flags = p.tcpFlags ?? 0;
  row.icmp_type = p.icmpType ?? 0;
  row.icmp_code = p.icmpCode ?? 0;
  row.truncated_at = p.truncatedAt ?? '';
  const arp = p.arp;
  if (arp !== null) {
    row.arp_operation = arp.operation;
    row.arp_sender_ip = arp.senderIp;
    row.arp_target_ip = arp.targetIp;
  }
  const tunnel = p.tunnel;
  if (tunnel !== null) {
    row.tunnel_type = tunnel.type;
    row.tunnel_id = tunnel.id ?? 0;
    row.tunnel_protocol = tunnel.protocol ?? 0;
  }
  const inner = p.inner;
  if (inner !== null) {
    row.inner_src_mac = inner.srcMac ?? '';
    row.inner_dst_mac = inner.dstMac ?? '';
    row.inner_vlan_ids = vlanIds(inner);
    row.inner_ether_type = inner.etherType ?? 0;
    row.inner_ip_version = inner.ipVersion ?? 0;
    row.inner_src_ip = inner.srcIp ?? NO_IP;
    row.inner_dst_ip = inner.dstIp ?? NO_IP;
    row.inner_ip_protocol = inner.ipProtocol ?? 0;
    row.inner_ttl = inner.ttl ?? 0;
    row.inner_tos = inner.tos ?? 0;
    row.inner_ip_id = inner.ipId ?? 0;
    row.inner_ip_length = inner.ipLength ?? 0;
    row.inner_src_port = inner.srcPort ?? 0;
    row.inner_dst_port = inner.dstPort ?? 0;
    row.inner_tcp_flags = inner.tcpFlags ?? 0;
    row.inner_icmp_type = inner.icmpType ?? 0;
    row.inner_icmp_code = inner.icmpCode ?? 0;
  }
}

function vlanIds(p: Packet): readonly number[] {
  const vlans = p.vlans;
  if (vlans.length === 0) return NO_NUMBERS;
  const ids: number[] = [];
  for (let i = 0; i < vlans.length; i++) ids.push((vlans[i] as Packet['vlans'][number]).id);
  return ids;
}

/** record_kinds entry: the decoded kind, or unknown/malformed with the (enterprise:format). */
function recordKind(record: FlowRecord | CounterRecord): string {
  if (record.kind === 'unknown' || record.kind === 'malformed') return `${record.kind}:${record.enterprise}:${record.format}`;
  return record.kind;
}

/** Flow records without columns of their own, as "<kind>.<field>" text (flow_samples.extended). */
function extendedFields(out: Record<string, string>, record: FlowRecord): void {
  switch (record.kind) {
    case 'extended_router':
      out['extended_router.next_hop'] = record.nextHop;
      out['extended_router.src_mask_len'] = String(record.srcMaskLen);
      out['extended_router.dst_mask_len'] = String(record.dstMaskLen);
      return;
    case 'extended_gateway':
      out['extended_gateway.next_hop'] = record.nextHop;
      out['extended_gateway.as'] = String(record.as);
      out['extended_gateway.src_as'] = String(record.srcAs);
      out['extended_gateway.src_peer_as'] = String(record.srcPeerAs);
      out['extended_gateway.dst_as_path'] = record.dstAsPath.map((segment) => segment.asns.join(' ')).join(' | ');
      out['extended_gateway.communities'] = record.communities.join(' ');
      out['extended_gateway.local_pref'] = String(record.localPref);
      return;
    case 'extended_user':
      out['extended_user.src_user'] = record.srcUser;
      out['extended_user.dst_user'] = record.dstUser;
      return;
    case 'extended_url':
      out['extended_url.direction'] = String(record.direction);
      out['extended_url.url'] = record.url;
      out['extended_url.host'] = record.host;
      return;
    case 'extended_mpls':
      out['extended_mpls.next_hop'] = record.nextHop;
      out['extended_mpls.in_stack'] = record.inStack.join(' ');
      out['extended_mpls.out_stack'] = record.outStack.join(' ');
      return;
    case 'extended_nat':
      out['extended_nat.src_address'] = record.srcAddress;
      out['extended_nat.dst_address'] = record.dstAddress;
      return;
    case 'extended_l2_tunnel_egress':
    case 'extended_l2_tunnel_ingress':
      out[`${record.kind}.src_mac`] = record.srcMac;
      out[`${record.kind}.dst_mac`] = record.dstMac;
      out[`${record.kind}.ether_type`] = String(record.etherType);
      return;
    case 'extended_decapsulate_egress':
    case 'extended_decapsulate_ingress':
      out[`${record.kind}.inner_header_offset`] = String(record.innerHeaderOffset);
      return;
    case 'extended_egress_queue':
      out['extended_egress_queue.queue'] = String(record.queue);
      return;
    case 'extended_acl':
      out['extended_acl.number'] = String(record.number);
      out['extended_acl.name'] = record.name;
      out['extended_acl.direction'] = String(record.direction);
      return;
    case 'extended_function':
      out['extended_function.symbol'] = record.symbol;
      return;
    case 'extended_transit':
      out['extended_transit.delay'] = String(record.delay);
      return;
    case 'extended_queue':
      out['extended_queue.depth'] = String(record.depth);
      return;
    case 'extended_hw_trap':
      out['extended_hw_trap.group'] = record.group;
      out['extended_hw_trap.trap'] = record.trap;
      return;
    case 'extended_linux_drop_reason':
      out['extended_linux_drop_reason.reason'] = record.reason;
      return;
    case 'malformed':
      out[`malformed:${record.enterprise}:${record.format}`] = record.error.message;
      return;
    default:
      return; // unknown records are listed in record_kinds; their bytes stay in the raw datagram
  }
}

function counterRow(d: Datagram, s: CounterSample, index: number, exporter: string, receivedAt: number): CounterRow {
  const row: CounterRow = {
    received_at: receivedAt,
    exporter,
    agent: d.agent,
    sub_agent_id: d.subAgentId,
    datagram_sequence: d.sequence,
    sample_index: index,
    sequence: s.sequence,
    expanded: s.expanded,
    source_id_type: s.sourceIdType,
    source_id_index: s.sourceIdIndex,
    record_kinds: [],
    if_index: 0,
    if_type: 0,
    if_speed: 0n,
    if_direction: 0,
    if_admin_status: 0,
    if_oper_status: 0,
    in_octets: 0n,
    in_ucast_pkts: 0,
    in_multicast_pkts: 0,
    in_broadcast_pkts: 0,
    in_discards: 0,
    in_errors: 0,
    in_unknown_protos: 0,
    out_octets: 0n,
    out_ucast_pkts: 0,
    out_multicast_pkts: 0,
    out_broadcast_pkts: 0,
    out_discards: 0,
    out_errors: 0,
    if_promiscuous_mode: 0,
    dot3_stats_alignment_errors: 0,
    dot3_stats_fcs_errors: 0,
    dot3_stats_single_collision_frames: 0,
    dot3_stats_multiple_collision_frames: 0,
    dot3_stats_sqe_test_errors: 0,
    dot3_stats_deferred_transmissions: 0,
    dot3_stats_late_collisions: 0,
    dot3_stats_excessive_collisions: 0,
    dot3_stats_internal_mac_transmit_errors: 0,
    dot3_stats_carrier_sense_errors: 0,
    dot3_stats_frame_too_longs: 0,
    dot3_stats_internal_mac_receive_errors: 0,
    dot3_stats_symbol_errors: 0,
    of_datapath_id: 0n,
    of_port_no: 0,
    port_name: '',
    metrics: NO_NUMBER_MAP,
    labels: NO_TEXT,
  };
  let sawGeneric = false;
  let sawEthernet = false;
  for (const record of s.records) {
    row.record_kinds.push(recordKind(record));
    switch (record.kind) {
      case 'generic_interface':
        if (sawGeneric) break; // one interface per sample; a second record is kept raw only
        sawGeneric = true;
        row.if_index = record.ifIndex;
        row.if_type = record.ifType;
        row.if_speed = record.ifSpeed;
        row.if_direction = record.ifDirection;
        row.if_admin_status = record.ifAdminStatus;
        row.if_oper_status = record.ifOperStatus;
        row.in_octets = record.inOctets;
        row.in_ucast_pkts = record.inUcastPkts;
        row.in_multicast_pkts = record.inMulticastPkts;
        row.in_broadcast_pkts = record.inBroadcastPkts;
        row.in_discards = record.inDiscards;
        row.in_errors = record.inErrors;
        row.in_unknown_protos = record.inUnknownProtos;
        row.out_octets = record.outOctets;
        row.out_ucast_pkts = record.outUcastPkts;
        row.out_multicast_pkts = record.outMulticastPkts;
        row.out_broadcast_pkts = record.outBroadcastPkts;
        row.out_discards = record.outDiscards;
        row.out_errors = record.outErrors;
        row.if_promiscuous_mode = record.ifPromiscuousMode;
        break;
      case 'ethernet_interface':
        if (sawEthernet) break;
        sawEthernet = true;
        row.dot3_stats_alignment_errors = record.dot3StatsAlignmentErrors;
        row.dot3_stats_fcs_errors = record.dot3StatsFCSErrors;
        row.dot3_stats_single_collision_frames = record.dot3StatsSingleCollisionFrames;
        row.dot3_stats_multiple_collision_frames = record.dot3StatsMultipleCollisionFrames;
        row.dot3_stats_sqe_test_errors = record.dot3StatsSQETestErrors;
        row.dot3_stats_deferred_transmissions = record.dot3StatsDeferredTransmissions;
        row.dot3_stats_late_collisions = record.dot3StatsLateCollisions;
        row.dot3_stats_excessive_collisions = record.dot3StatsExcessiveCollisions;
        row.dot3_stats_internal_mac_transmit_errors = record.dot3StatsInternalMacTransmitErrors;
        row.dot3_stats_carrier_sense_errors = record.dot3StatsCarrierSenseErrors;
        row.dot3_stats_frame_too_longs = record.dot3StatsFrameTooLongs;
        row.dot3_stats_internal_mac_receive_errors = record.dot3StatsInternalMacReceiveErrors;
        row.dot3_stats_symbol_errors = record.dot3StatsSymbolErrors;
        break;
      case 'openflow_port':
        row.of_datapath_id = record.datapathId;
        row.of_port_no = record.portNo;
        break;
      case 'openflow_port_name':
        row.port_name = record.name;
        break;
      case 'unknown':
        break;
      case 'malformed':
        if (row.labels === NO_TEXT) row.labels = {};
        row.labels[`malformed:${record.enterprise}:${record.format}`] = record.error.message;
        break;
      case 'vlan':
      case 'lag_port':
      case 'processor':
        // Counter samples are rare (one per port per polling interval): a generic walk is fine here.
        for (const key of Object.keys(record)) {
          if (key === 'kind' || key === 'offset' || key === 'length') continue;
          addCounterField(row, `${record.kind}.${snakeCase(key)}`, (record as unknown as Record<string, unknown>)[key]);
        }
        break;
      default:
        for (const key of Object.keys(record.fields)) addCounterField(row, `${record.kind}.${key}`, record.fields[key]);
    }
  }
  return row;
}

function addCounterField(row: CounterRow, key: string, value: unknown): void {
  if (typeof value === 'number' || typeof value === 'bigint') {
    const number = Number(value);
    if (!Number.isFinite(number)) return; // Float64 text has no spelling ClickHouse and JS agree on for NaN/Inf
    if (row.metrics === NO_NUMBER_MAP) row.metrics = {};
    row.metrics[key] = number;
  } else if (typeof value === 'string') {
    if (row.labels === NO_TEXT) row.labels = {};
    row.labels[key] = value;
  }
}

function snakeCase(name: string): string {
  return name.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toLowerCase();
}

function failedDatagramRow(error: DecodeError, meta: RowMeta, receivedAt: number): DatagramRow {
  return {
    received_at: receivedAt,
    exporter: meta.exporter,
    exporter_port: meta.exporterPort,
    agent: '',
    sub_agent_id: 0,
    sequence: 0,
    uptime_ms: 0,
    samples: 0,
    samples_decoded: 0,
    unknown_records: 0,
    malformed_records: 0,
    decode_status: 'failed',
    error_code: error.code,
    raw: meta.raw,
  };
}

interface Problem { code: string; offset: number; path: string; message: string; count: number }

/** The first issue of a datagram (or its first malformed record), with how many there are. */
function firstProblem(d: Datagram): Problem | undefined {
  const issues = d.issues;
  const first = issues[0];
  if (first !== undefined) {
    const message = issues.length === 1 ? first.message : `${first.message} (and ${issues.length - 1} more)`;
    return { code: first.code, offset: first.offset, path: first.path, message, count: issues.length };
  }
  if (d.malformedRecords === 0) return undefined;
  for (const sample of d.samples) {
    if (sample.kind === 'unknown') continue;
    for (const record of sample.records) {
      if (record.kind !== 'malformed') continue;
      const error = record.error;
      const more = d.malformedRecords > 1 ? ` (and ${d.malformedRecords - 1} more malformed records)` : '';
      return { code: error.code, offset: error.offset, path: error.path, message: `${error.message}${more}`, count: d.malformedRecords };
    }
  }
  return undefined;
}

function assertNever(value: never): never {
  throw new Error(`unhandled sample kind ${JSON.stringify(value)}`);
}
