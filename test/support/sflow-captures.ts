// The third-party sFlow captures of ../shared/testdata/sflow (SOURCES.md): their names, their UDP
// payloads (through our pcap reader) and their expected decodes (NAME.expected.json, made by
// tshark 4.0.17 plus a framing walker). The expected files are read as they are, never edited.
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { readUdpPayloads, type UdpPacket } from '../../src/pcap/pcap-reader.js';

export const SFLOW_TESTDATA = fileURLToPath(new URL('../../../shared/testdata/sflow/', import.meta.url));
export const OVS_CORPUS = fileURLToPath(new URL('../../../shared/testdata/corpus/ovs-sflow-10k.pcap', import.meta.url));

/** Capture names (NAME of NAME.pcap), sorted. */
export function sflowCaptures(): string[] {
  return readdirSync(SFLOW_TESTDATA).filter((f) => f.endsWith('.pcap')).map((f) => f.slice(0, -'.pcap'.length)).sort();
}

export function captureBytes(name: string): Uint8Array {
  return readFileSync(`${SFLOW_TESTDATA}${name}.pcap`);
}

export function capturePackets(name: string): UdpPacket[] {
  return [...readUdpPayloads(captureBytes(name), `${name}.pcap`)];
}

// ---------- the shape of NAME.expected.json (SOURCES.md "Shape of NAME.expected.json") ----------

export type FieldValue = number | string | FieldValue[] | { [key: string]: FieldValue };
export type Fields = { [key: string]: FieldValue };

export interface ExpectedRecord {
  offset: number;
  enterprise: number;
  format: number;
  length: number;
  name: string | null;
  decoded_by: 'tshark' | 'framing-only';
  tshark_name?: string;
  data_hex?: string;
  fields?: Fields;
  truncated?: boolean;
}

export interface ExpectedInterface { raw?: number; format?: number; value?: number }

export interface ExpectedSample {
  offset: number;
  enterprise: number;
  format: number;
  type: 'flow' | 'counter' | 'expanded_flow' | 'expanded_counter' | 'discard' | 'unknown' | 'enterprise';
  length: number;
  decoded_by: 'tshark' | 'framing-only';
  sequence_number?: number;
  source_id_class?: number;
  source_id_index?: number;
  sampling_rate?: number;
  sample_pool?: number;
  drops?: number;
  input?: ExpectedInterface;
  output?: ExpectedInterface;
  reason?: number;
  num_records?: number;
  data_hex?: string;
  truncated?: boolean;
  records: ExpectedRecord[];
}

export interface ExpectedDatagram {
  frame: number;
  datagram_length: number;
  version: number;
  agent_address_type: number;
  agent_address: string;
  sub_agent_id: number;
  sequence_number: number;
  uptime_ms: number;
  num_samples: number;
  tshark_malformed: boolean;
  tshark_expert?: string[];
  notes?: string[];
  samples: ExpectedSample[];
}

export interface ExpectedCapture {
  capture: string;
  datagram_count: number;
  datagrams: ExpectedDatagram[];
}

export function loadExpected(name: string): ExpectedCapture {
  return JSON.parse(readFileSync(`${SFLOW_TESTDATA}${name}.expected.json`, 'utf8')) as ExpectedCapture;
}
