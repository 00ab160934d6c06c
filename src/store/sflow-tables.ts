// Rows of the sFlow tables (migrations 0002-0007) as TypeScript, and their RowBinary encoders: the
// hot path of the embedded deployment (hundreds of thousands of samples a second), so each encoder
// is straight-line code over one row shape, writing into one buffer per batch.
//
// Row fields are the ClickHouse columns, spelled as the columns (snake_case) and holding what the
// column holds: 0, '' or '::' when absent (record_kinds says which records a sample had), except
// received_at, which is milliseconds since the epoch. Each table has a column list with the wire
// type of each column (what the encoder writes) beside the writer; the writer must follow the
// list. sflow-tables.test.ts reads encoded rows back by the list, and the chDB integration test
// round-trips them through the real tables.
import { RowBinaryWriter } from './row-binary.js';
import type { EncodedRows } from './store.js';

/** Where and when a sample came from; the first columns of every sample table. */
export interface SampleKeyColumns {
  /** Milliseconds since the epoch (the collector's receive time); DateTime64(3, 'UTC') in the table. */
  received_at: number;
  exporter: string;
  agent: string;
  sub_agent_id: number;
  datagram_sequence: number;
  /** Position of the sample in its datagram (0-based): with the above, the sample's identity. */
  sample_index: number;
  sequence: number;
  expanded: boolean;
  source_id_type: number;
  source_id_index: number;
}

/** The sampled frame's decoded fields (flow_samples and discard_samples). */
export interface PacketColumns {
  header_protocol: number;
  frame_length: number;
  stripped: number;
  header_length: number;
  /** Raw sampled bytes; may share the datagram's buffer. */
  header: Uint8Array;
  layers: readonly string[];
  src_mac: string;
  dst_mac: string;
  vlan_ids: readonly number[];
  ether_type: number;
  ip_version: number;
  src_ip: string;
  dst_ip: string;
  ip_protocol: number;
  ttl: number;
  tos: number;
  ip_id: number;
  ip_length: number;
  fragment: boolean;
  src_port: number;
  dst_port: number;
  tcp_flags: number;
  icmp_type: number;
  icmp_code: number;
  arp_operation: number;
  arp_sender_ip: string;
  arp_target_ip: string;
  truncated_at: string;
  tunnel_type: string;
  tunnel_id: number;
  tunnel_protocol: number;
  inner_src_mac: string;
  inner_dst_mac: string;
  inner_vlan_ids: readonly number[];
  inner_ether_type: number;
  inner_ip_version: number;
  inner_src_ip: string;
  inner_dst_ip: string;
  inner_ip_protocol: number;
  inner_ttl: number;
  inner_tos: number;
  inner_ip_id: number;
  inner_ip_length: number;
  inner_src_port: number;
  inner_dst_port: number;
  inner_tcp_flags: number;
  inner_icmp_type: number;
  inner_icmp_code: number;
  /** Extended switch (1001). */
  src_vlan: number;
  src_priority: number;
  dst_vlan: number;
  dst_priority: number;
}

export interface FlowRow extends SampleKeyColumns, PacketColumns {
  sampling_rate: number;
  sample_pool: number;
  drops: number;
  input_format: number;
  input_value: number;
  output_format: number;
  output_value: number;
  record_kinds: string[];
  /** Tunnel structures: IPv4/IPv6 tunnel egress (1023/1025) and ingress (1024/1026), VNI (1029/1030). */
  tunnel_egress_src_ip: string;
  tunnel_egress_dst_ip: string;
  tunnel_egress_protocol: number;
  tunnel_ingress_src_ip: string;
  tunnel_ingress_dst_ip: string;
  tunnel_ingress_protocol: number;
  vni_egress: number;
  vni_ingress: number;
  /** Less common records flattened to "<kind>.<field>" -> text (router, gateway, user, url, mpls, nat...). */
  extended: Record<string, string>;
}

export interface CounterRow extends SampleKeyColumns {
  record_kinds: string[];
  if_index: number;
  if_type: number;
  if_speed: bigint;
  if_direction: number;
  if_admin_status: number;
  if_oper_status: number;
  in_octets: bigint;
  in_ucast_pkts: number;
  in_multicast_pkts: number;
  in_broadcast_pkts: number;
  in_discards: number;
  in_errors: number;
  in_unknown_protos: number;
  out_octets: bigint;
  out_ucast_pkts: number;
  out_multicast_pkts: number;
  out_broadcast_pkts: number;
  out_discards: number;
  out_errors: number;
  if_promiscuous_mode: number;
  dot3_stats_alignment_errors: number;
  dot3_stats_fcs_errors: number;
  dot3_stats_single_collision_frames: number;
  dot3_stats_multiple_collision_frames: number;
  dot3_stats_sqe_test_errors: number;
  dot3_stats_deferred_transmissions: number;
  dot3_stats_late_collisions: number;
  dot3_stats_excessive_collisions: number;
  dot3_stats_internal_mac_transmit_errors: number;
  dot3_stats_carrier_sense_errors: number;
  dot3_stats_frame_too_longs: number;
  dot3_stats_internal_mac_receive_errors: number;
  dot3_stats_symbol_errors: number;
  of_datapath_id: bigint;
  of_port_no: number;
  port_name: string;
  /** Numeric fields of the other counter records, "<kind>.<field>" (host, app, OVS datapath, VLAN, LAG...). */
  metrics: Record<string, number>;
  /** Text fields of those records (host name, OS release...). */
  labels: Record<string, string>;
}

export interface DiscardRow extends SampleKeyColumns, PacketColumns {
  /** 'discard': a discarded-packet sample (format 5); 'flow': a flow sample whose output format is 1. */
  kind: 'discard' | 'flow';
  sampling_rate: number;
  sample_pool: number;
  drops: number;
  input_if_index: number;
  output_if_index: number;
  reason: number;
  record_kinds: string[];
  egress_queue: number;
  acl_number: number;
  acl_name: string;
  acl_direction: number;
  function_symbol: string;
  hw_trap_group: string;
  hw_trap: string;
  linux_drop_reason: string;
  transit_delay: number;
  queue_depth: number;
}

export interface DatagramRow {
  received_at: number;
  exporter: string;
  exporter_port: number;
  agent: string;
  sub_agent_id: number;
  sequence: number;
  uptime_ms: number;
  /** num_samples as declared. */
  samples: number;
  samples_decoded: number;
  unknown_records: number;
  malformed_records: number;
  /** 'ok', 'issues' (decoded with problems below the header) or 'failed' (header unusable). */
  decode_status: 'ok' | 'issues' | 'failed';
  error_code: string;
  raw: Uint8Array;
}

export interface QuarantineRow {
  received_at: number;
  /** What was being decoded: 'sflow' here. */
  source: string;
  exporter: string;
  exporter_port: number;
  agent: string;
  sequence: number;
  error_code: string;
  /** Absolute byte offset of the (first) problem, -1 when unknown. */
  error_offset: number;
  error_path: string;
  message: string;
  issues: number;
  raw: Uint8Array;
  hoptrace_version: string;
}

/** A column and the type its bytes have in a batch (IPv6 travels as text, LowCardinality as String). */
export type WireColumn = readonly [name: string, wireType: string];

const TIME = "DateTime64(3, 'UTC')";

const SAMPLE_KEY_WIRE = [
  ['received_at', TIME], ['exporter', 'String'], ['agent', 'String'], ['sub_agent_id', 'UInt32'],
  ['datagram_sequence', 'UInt32'], ['sample_index', 'UInt16'], ['sequence', 'UInt32'], ['expanded', 'Bool'],
  ['source_id_type', 'UInt8'], ['source_id_index', 'UInt32'],
] as const satisfies readonly (readonly [keyof SampleKeyColumns, string])[];

const PACKET_WIRE = [
  ['header_protocol', 'UInt32'], ['frame_length', 'UInt32'], ['stripped', 'UInt32'], ['header_length', 'UInt32'],
  ['header', 'String'], ['layers', 'Array(String)'], ['src_mac', 'String'], ['dst_mac', 'String'],
  ['vlan_ids', 'Array(UInt16)'], ['ether_type', 'UInt16'], ['ip_version', 'UInt8'], ['src_ip', 'String'],
  ['dst_ip', 'String'], ['ip_protocol', 'UInt8'], ['ttl', 'UInt8'], ['tos', 'UInt8'], ['ip_id', 'UInt32'],
  ['ip_length', 'UInt32'], ['fragment', 'Bool'], ['src_port', 'UInt16'], ['dst_port', 'UInt16'], ['tcp_flags', 'UInt16'],
  ['icmp_type', 'UInt8'], ['icmp_code', 'UInt8'], ['arp_operation', 'UInt16'], ['arp_sender_ip', 'String'],
  ['arp_target_ip', 'String'], ['truncated_at', 'String'], ['tunnel_type', 'String'], ['tunnel_id', 'UInt32'],
  ['tunnel_protocol', 'UInt16'], ['inner_src_mac', 'String'], ['inner_dst_mac', 'String'],
  ['inner_vlan_ids', 'Array(UInt16)'], ['inner_ether_type', 'UInt16'], ['inner_ip_version', 'UInt8'],
  ['inner_src_ip', 'String'], ['inner_dst_ip', 'String'], ['inner_ip_protocol', 'UInt8'], ['inner_ttl', 'UInt8'],
  ['inner_tos', 'UInt8'], ['inner_ip_id', 'UInt32'], ['inner_ip_length', 'UInt32'], ['inner_src_port', 'UInt16'],
  ['inner_dst_port', 'UInt16'], ['inner_tcp_flags', 'UInt16'], ['inner_icmp_type', 'UInt8'], ['inner_icmp_code', 'UInt8'],
  ['src_vlan', 'UInt16'], ['src_priority', 'UInt8'], ['dst_vlan', 'UInt16'], ['dst_priority', 'UInt8'],
] as const satisfies readonly (readonly [keyof PacketColumns, string])[];

export const FLOW_WIRE = [
  ...SAMPLE_KEY_WIRE,
  ['sampling_rate', 'UInt32'], ['sample_pool', 'UInt32'], ['drops', 'UInt32'], ['input_format', 'UInt8'],
  ['input_value', 'UInt32'], ['output_format', 'UInt8'], ['output_value', 'UInt32'], ['record_kinds', 'Array(String)'],
  ...PACKET_WIRE,
  ['tunnel_egress_src_ip', 'String'], ['tunnel_egress_dst_ip', 'String'], ['tunnel_egress_protocol', 'UInt8'],
  ['tunnel_ingress_src_ip', 'String'], ['tunnel_ingress_dst_ip', 'String'], ['tunnel_ingress_protocol', 'UInt8'],
  ['vni_egress', 'UInt32'], ['vni_ingress', 'UInt32'], ['extended', 'Map(String, String)'],
] as const satisfies readonly (readonly [keyof FlowRow, string])[];

export const COUNTER_WIRE = [
  ...SAMPLE_KEY_WIRE,
  ['record_kinds', 'Array(String)'], ['if_index', 'UInt32'], ['if_type', 'UInt32'], ['if_speed', 'UInt64'],
  ['if_direction', 'UInt8'], ['if_admin_status', 'UInt8'], ['if_oper_status', 'UInt8'], ['in_octets', 'UInt64'],
  ['in_ucast_pkts', 'UInt32'], ['in_multicast_pkts', 'UInt32'], ['in_broadcast_pkts', 'UInt32'], ['in_discards', 'UInt32'],
  ['in_errors', 'UInt32'], ['in_unknown_protos', 'UInt32'], ['out_octets', 'UInt64'], ['out_ucast_pkts', 'UInt32'],
  ['out_multicast_pkts', 'UInt32'], ['out_broadcast_pkts', 'UInt32'], ['out_discards', 'UInt32'], ['out_errors', 'UInt32'],
  ['if_promiscuous_mode', 'UInt8'], ['dot3_stats_alignment_errors', 'UInt32'], ['dot3_stats_fcs_errors', 'UInt32'],
  ['dot3_stats_single_collision_frames', 'UInt32'], ['dot3_stats_multiple_collision_frames', 'UInt32'],
  ['dot3_stats_sqe_test_errors', 'UInt32'], ['dot3_stats_deferred_transmissions', 'UInt32'],
  ['dot3_stats_late_collisions', 'UInt32'], ['dot3_stats_excessive_collisions', 'UInt32'],
  ['dot3_stats_internal_mac_transmit_errors', 'UInt32'], ['dot3_stats_carrier_sense_errors', 'UInt32'],
  ['dot3_stats_frame_too_longs', 'UInt32'], ['dot3_stats_internal_mac_receive_errors', 'UInt32'],
  ['dot3_stats_symbol_errors', 'UInt32'], ['of_datapath_id', 'UInt64'], ['of_port_no', 'UInt32'], ['port_name', 'String'],
  ['metrics', 'Map(String, Float64)'], ['labels', 'Map(String, String)'],
] as const satisfies readonly (readonly [keyof CounterRow, string])[];

export const DISCARD_WIRE = [
  ...SAMPLE_KEY_WIRE,
  ['kind', 'String'], ['sampling_rate', 'UInt32'], ['sample_pool', 'UInt32'], ['drops', 'UInt32'],
  ['input_if_index', 'UInt32'], ['output_if_index', 'UInt32'], ['reason', 'UInt32'], ['record_kinds', 'Array(String)'],
  ...PACKET_WIRE,
  ['egress_queue', 'UInt32'], ['acl_number', 'UInt32'], ['acl_name', 'String'], ['acl_direction', 'UInt8'],
  ['function_symbol', 'String'], ['hw_trap_group', 'String'], ['hw_trap', 'String'], ['linux_drop_reason', 'String'],
  ['transit_delay', 'UInt32'], ['queue_depth', 'UInt32'],
] as const satisfies readonly (readonly [keyof DiscardRow, string])[];

export const DATAGRAM_WIRE = [
  ['received_at', TIME], ['exporter', 'String'], ['exporter_port', 'UInt16'], ['agent', 'String'],
  ['sub_agent_id', 'UInt32'], ['sequence', 'UInt32'], ['uptime_ms', 'UInt32'], ['samples', 'UInt32'],
  ['samples_decoded', 'UInt32'], ['unknown_records', 'UInt32'], ['malformed_records', 'UInt32'],
  ['decode_status', 'String'], ['error_code', 'String'], ['raw', 'String'],
] as const satisfies readonly (readonly [keyof DatagramRow, string])[];

export const QUARANTINE_WIRE = [
  ['received_at', TIME], ['source', 'String'], ['exporter', 'String'], ['exporter_port', 'UInt16'], ['agent', 'String'],
  ['sequence', 'UInt32'], ['error_code', 'String'], ['error_offset', 'Int64'], ['error_path', 'String'],
  ['message', 'String'], ['issues', 'UInt32'], ['raw', 'String'], ['hoptrace_version', 'String'],
] as const satisfies readonly (readonly [keyof QuarantineRow, string])[];

// Agent, exporter, MAC, IP and kind strings come from the decoder and the collector and are ASCII
// (w.ascii); free text from the wire (names, messages) may be anything (w.text).

function writeSampleKey(w: RowBinaryWriter, r: SampleKeyColumns): void {
  w.i64(Math.floor(r.received_at));
  w.ascii(r.exporter);
  w.ascii(r.agent);
  w.u32(r.sub_agent_id);
  w.u32(r.datagram_sequence);
  w.u16(r.sample_index);
  w.u32(r.sequence);
  w.bool(r.expanded);
  w.u8(r.source_id_type);
  w.u32(r.source_id_index);
}

function writePacket(w: RowBinaryWriter, r: PacketColumns): void {
  w.u32(r.header_protocol);
  w.u32(r.frame_length);
  w.u32(r.stripped);
  w.u32(r.header_length);
  w.blob(r.header);
  w.asciiArray(r.layers);
  w.ascii(r.src_mac);
  w.ascii(r.dst_mac);
  w.u16Array(r.vlan_ids);
  w.u16(r.ether_type);
  w.u8(r.ip_version);
  w.ascii(r.src_ip);
  w.ascii(r.dst_ip);
  w.u8(r.ip_protocol);
  w.u8(r.ttl);
  w.u8(r.tos);
  w.u32(r.ip_id);
  w.u32(r.ip_length);
  w.bool(r.fragment);
  w.u16(r.src_port);
  w.u16(r.dst_port);
  w.u16(r.tcp_flags);
  w.u8(r.icmp_type);
  w.u8(r.icmp_code);
  w.u16(r.arp_operation);
  w.ascii(r.arp_sender_ip);
  w.ascii(r.arp_target_ip);
  w.text(r.truncated_at);
  w.ascii(r.tunnel_type);
  w.u32(r.tunnel_id);
  w.u16(r.tunnel_protocol);
  w.ascii(r.inner_src_mac);
  w.ascii(r.inner_dst_mac);
  w.u16Array(r.inner_vlan_ids);
  w.u16(r.inner_ether_type);
  w.u8(r.inner_ip_version);
  w.ascii(r.inner_src_ip);
  w.ascii(r.inner_dst_ip);
  w.u8(r.inner_ip_protocol);
  w.u8(r.inner_ttl);
  w.u8(r.inner_tos);
  w.u32(r.inner_ip_id);
  w.u32(r.inner_ip_length);
  w.u16(r.inner_src_port);
  w.u16(r.inner_dst_port);
  w.u16(r.inner_tcp_flags);
  w.u8(r.inner_icmp_type);
  w.u8(r.inner_icmp_code);
  w.u16(r.src_vlan);
  w.u8(r.src_priority);
  w.u16(r.dst_vlan);
  w.u8(r.dst_priority);
}

export function writeFlowRow(w: RowBinaryWriter, r: FlowRow): void {
  writeSampleKey(w, r);
  w.u32(r.sampling_rate);
  w.u32(r.sample_pool);
  w.u32(r.drops);
  w.u8(r.input_format);
  w.u32(r.input_value);
  w.u8(r.output_format);
  w.u32(r.output_value);
  w.asciiArray(r.record_kinds);
  writePacket(w, r);
  w.ascii(r.tunnel_egress_src_ip);
  w.ascii(r.tunnel_egress_dst_ip);
  w.u8(r.tunnel_egress_protocol);
  w.ascii(r.tunnel_ingress_src_ip);
  w.ascii(r.tunnel_ingress_dst_ip);
  w.u8(r.tunnel_ingress_protocol);
  w.u32(r.vni_egress);
  w.u32(r.vni_ingress);
  w.textMap(r.extended);
}

export function writeCounterRow(w: RowBinaryWriter, r: CounterRow): void {
  writeSampleKey(w, r);
  w.asciiArray(r.record_kinds);
  w.u32(r.if_index);
  w.u32(r.if_type);
  w.u64(r.if_speed);
  w.u8(r.if_direction);
  w.u8(r.if_admin_status);
  w.u8(r.if_oper_status);
  w.u64(r.in_octets);
  w.u32(r.in_ucast_pkts);
  w.u32(r.in_multicast_pkts);
  w.u32(r.in_broadcast_pkts);
  w.u32(r.in_discards);
  w.u32(r.in_errors);
  w.u32(r.in_unknown_protos);
  w.u64(r.out_octets);
  w.u32(r.out_ucast_pkts);
  w.u32(r.out_multicast_pkts);
  w.u32(r.out_broadcast_pkts);
  w.u32(r.out_discards);
  w.u32(r.out_errors);
  w.u8(r.if_promiscuous_mode);
  w.u32(r.dot3_stats_alignment_errors);
  w.u32(r.dot3_stats_fcs_errors);
  w.u32(r.dot3_stats_single_collision_frames);
  w.u32(r.dot3_stats_multiple_collision_frames);
  w.u32(r.dot3_stats_sqe_test_errors);
  w.u32(r.dot3_stats_deferred_transmissions);
  w.u32(r.dot3_stats_late_collisions);
  w.u32(r.dot3_stats_excessive_collisions);
  w.u32(r.dot3_stats_internal_mac_transmit_errors);
  w.u32(r.dot3_stats_carrier_sense_errors);
  w.u32(r.dot3_stats_frame_too_longs);
  w.u32(r.dot3_stats_internal_mac_receive_errors);
  w.u32(r.dot3_stats_symbol_errors);
  w.u64(r.of_datapath_id);
  w.u32(r.of_port_no);
  w.text(r.port_name);
  w.numberMap(r.metrics);
  w.textMap(r.labels);
}

export function writeDiscardRow(w: RowBinaryWriter, r: DiscardRow): void {
  writeSampleKey(w, r);
  w.ascii(r.kind);
  w.u32(r.sampling_rate);
  w.u32(r.sample_pool);
  w.u32(r.drops);
  w.u32(r.input_if_index);
  w.u32(r.output_if_index);
  w.u32(r.reason);
  w.asciiArray(r.record_kinds);
  writePacket(w, r);
  w.u32(r.egress_queue);
  w.u32(r.acl_number);
  w.text(r.acl_name);
  w.u8(r.acl_direction);
  w.text(r.function_symbol);
  w.text(r.hw_trap_group);
  w.text(r.hw_trap);
  w.text(r.linux_drop_reason);
  w.u32(r.transit_delay);
  w.u32(r.queue_depth);
}

export function writeDatagramRow(w: RowBinaryWriter, r: DatagramRow): void {
  w.i64(Math.floor(r.received_at));
  w.ascii(r.exporter);
  w.u16(r.exporter_port);
  w.ascii(r.agent);
  w.u32(r.sub_agent_id);
  w.u32(r.sequence);
  w.u32(r.uptime_ms);
  w.u32(r.samples);
  w.u32(r.samples_decoded);
  w.u32(r.unknown_records);
  w.u32(r.malformed_records);
  w.ascii(r.decode_status);
  w.ascii(r.error_code);
  w.blob(r.raw);
}

export function writeQuarantineRow(w: RowBinaryWriter, r: QuarantineRow): void {
  w.i64(Math.floor(r.received_at));
  w.text(r.source);
  w.ascii(r.exporter);
  w.u16(r.exporter_port);
  w.ascii(r.agent);
  w.u32(r.sequence);
  w.ascii(r.error_code);
  w.i64(r.error_offset);
  w.text(r.error_path);
  w.text(r.message);
  w.u32(r.issues);
  w.blob(r.raw);
  w.text(r.hoptrace_version);
}

/** One table's rows as a RowBinary batch for Store.insert. */
export function encodeRows<R>(
  rows: readonly R[],
  wire: readonly WireColumn[],
  write: (w: RowBinaryWriter, row: R) => void,
): EncodedRows {
  // ~300-500 bytes per sample row; starting near the final size saves most of the regrowth copies.
  const w = new RowBinaryWriter(Math.max(4096, rows.length * 512));
  for (let i = 0; i < rows.length; i++) write(w, rows[i] as R);
  return {
    format: 'RowBinary',
    columns: wire.map((column) => column[0]),
    types: wire.map((column) => column[1]),
    data: w.bytes(),
    rowCount: rows.length,
  };
}

export const encodeFlowRows = (rows: readonly FlowRow[]): EncodedRows => encodeRows(rows, FLOW_WIRE, writeFlowRow);
export const encodeCounterRows = (rows: readonly CounterRow[]): EncodedRows => encodeRows(rows, COUNTER_WIRE, writeCounterRow);
export const encodeDiscardRows = (rows: readonly DiscardRow[]): EncodedRows => encodeRows(rows, DISCARD_WIRE, writeDiscardRow);
export const encodeDatagramRows = (rows: readonly DatagramRow[]): EncodedRows =>
  encodeRows(rows, DATAGRAM_WIRE, writeDatagramRow);
export const encodeQuarantineRows = (rows: readonly QuarantineRow[]): EncodedRows =>
  encodeRows(rows, QUARANTINE_WIRE, writeQuarantineRow);
