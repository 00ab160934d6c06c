// A tiny XDR (RFC 4506) writer for building sFlow datagrams in tests straight from the specs'
// grammar: big-endian words, opaque/string with a length and padding to 4, sFlow's `mac` (6 bytes
// padded to 8) and `address` (type + 4 or 16 bytes). Plus helpers that wrap records, samples and
// datagrams the way SFLOW-DATAGRAM5 frames them (tag, length, body).
import { isIPv4 } from 'node:net';

export class XdrWriter {
  readonly #chunks: number[] = [];

  u32(value: number): this {
    const v = value >>> 0;
    this.#chunks.push(v >>> 24, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff);
    return this;
  }

  u64(value: bigint): this {
    return this.u32(Number(value >> 32n)).u32(Number(value & 0xffffffffn));
  }

  f32(value: number): this {
    const view = new DataView(new ArrayBuffer(4));
    view.setFloat32(0, value);
    return this.raw([...new Uint8Array(view.buffer)]);
  }

  /** Bytes as they are, no length, no padding. */
  raw(bytes: Iterable<number>): this {
    for (const b of bytes) this.#chunks.push(b & 0xff);
    return this;
  }

  /** Bytes then zero padding to a multiple of 4 (fixed-length opaque). */
  fixed(bytes: Iterable<number>): this {
    const list = [...bytes];
    this.raw(list);
    for (let i = list.length; i % 4 !== 0; i++) this.#chunks.push(0);
    return this;
  }

  /** opaque<>: length, bytes, padding. */
  opaque(bytes: Iterable<number>): this {
    const list = [...bytes];
    return this.u32(list.length).fixed(list);
  }

  string(text: string): this {
    return this.opaque(Buffer.from(text, 'utf8'));
  }

  /** sFlow `mac`: opaque[6], padded to 8. */
  mac(text: string): this {
    return this.fixed(macBytes(text));
  }

  ipv4(text: string): this {
    return this.raw(ipv4Bytes(text));
  }

  ipv6(text: string): this {
    return this.raw(ipv6Bytes(text));
  }

  /** sFlow `address`: type 1 + IPv4, type 2 + IPv6, or type 0 for ''. */
  address(text: string): this {
    if (text === '') return this.u32(0);
    return isIPv4(text) ? this.u32(1).ipv4(text) : this.u32(2).ipv6(text);
  }

  get length(): number {
    return this.#chunks.length;
  }

  bytes(): Uint8Array {
    return Uint8Array.from(this.#chunks);
  }
}

export const xdr = (): XdrWriter => new XdrWriter();

export function macBytes(text: string): number[] {
  return text.split(':').map((h) => Number.parseInt(h, 16));
}

export function ipv4Bytes(text: string): number[] {
  return text.split('.').map(Number);
}

export function ipv6Bytes(text: string): number[] {
  const [head = '', tail] = text.split('::');
  const groups = (s: string): number[] => (s === '' ? [] : s.split(':').map((g) => Number.parseInt(g, 16)));
  const left = groups(head);
  const right = tail === undefined ? [] : groups(tail);
  const all = [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
  return all.flatMap((g) => [g >>> 8, g & 0xff]);
}

/** flow_record / counter_record / sample_record: data_format (enterprise << 12 | format), length, body. */
export function tagged(format: number, body: Uint8Array, enterprise = 0, length = body.byteLength): Uint8Array {
  return xdr().u32((enterprise << 12) | format).u32(length).raw(body).bytes();
}

export function concat(parts: readonly Uint8Array[]): Uint8Array {
  return Uint8Array.from(parts.flatMap((p) => [...p]));
}

export interface FlowSampleSpec {
  sequence?: number; sourceId?: number; samplingRate?: number; samplePool?: number; drops?: number;
  /** Compact interface words (format << 30 | value). */
  input?: number; output?: number;
  /** Declared record count; defaults to records.length. */
  count?: number;
}

/** flow_sample (0:1) with compact source id and interfaces. */
export function flowSample(spec: FlowSampleSpec, records: readonly Uint8Array[]): Uint8Array {
  const w = xdr().u32(spec.sequence ?? 1).u32(spec.sourceId ?? 7).u32(spec.samplingRate ?? 1).u32(spec.samplePool ?? 1)
    .u32(spec.drops ?? 0).u32(spec.input ?? 1).u32(spec.output ?? 2).u32(spec.count ?? records.length);
  return tagged(1, concat([w.bytes(), ...records]));
}

export interface ExpandedFlowSampleSpec {
  sequence?: number; sourceIdType?: number; sourceIdIndex?: number; samplingRate?: number; samplePool?: number; drops?: number;
  input?: [number, number]; output?: [number, number];
}

/** flow_sample_expanded (0:3). */
export function expandedFlowSample(spec: ExpandedFlowSampleSpec, records: readonly Uint8Array[]): Uint8Array {
  const [inFormat, inValue] = spec.input ?? [0, 1];
  const [outFormat, outValue] = spec.output ?? [0, 2];
  const w = xdr().u32(spec.sequence ?? 1).u32(spec.sourceIdType ?? 0).u32(spec.sourceIdIndex ?? 7).u32(spec.samplingRate ?? 1)
    .u32(spec.samplePool ?? 1).u32(spec.drops ?? 0).u32(inFormat).u32(inValue).u32(outFormat).u32(outValue).u32(records.length);
  return tagged(3, concat([w.bytes(), ...records]));
}

/** counters_sample (0:2), or counters_sample_expanded (0:4) when `expanded`. */
export function counterSample(records: readonly Uint8Array[], options: { sequence?: number; sourceId?: number; expanded?: boolean } = {}): Uint8Array {
  const w = xdr().u32(options.sequence ?? 1);
  if (options.expanded === true) w.u32((options.sourceId ?? 7) >>> 24).u32((options.sourceId ?? 7) & 0xffffff);
  else w.u32(options.sourceId ?? 7);
  w.u32(records.length);
  return tagged(options.expanded === true ? 4 : 2, concat([w.bytes(), ...records]));
}

/** discarded_packet (0:5, sflow_drops.txt). */
export function discardSample(
  spec: { sequence?: number; sourceIdType?: number; sourceIdIndex?: number; drops?: number; input?: number; output?: number; reason?: number },
  records: readonly Uint8Array[],
): Uint8Array {
  const w = xdr().u32(spec.sequence ?? 1).u32(spec.sourceIdType ?? 0).u32(spec.sourceIdIndex ?? 7).u32(spec.drops ?? 0)
    .u32(spec.input ?? 1).u32(spec.output ?? 0).u32(spec.reason ?? 256).u32(records.length);
  return tagged(5, concat([w.bytes(), ...records]));
}

export interface DatagramSpec {
  version?: number; agent?: string; subAgentId?: number; sequence?: number; uptimeMs?: number;
  /** Declared num_samples; defaults to samples.length. */
  count?: number;
}

/** sample_datagram_v5. */
export function datagram(spec: DatagramSpec, samples: readonly Uint8Array[]): Uint8Array {
  const w = xdr().u32(spec.version ?? 5).address(spec.agent ?? '192.0.2.1').u32(spec.subAgentId ?? 0).u32(spec.sequence ?? 1)
    .u32(spec.uptimeMs ?? 1000).u32(spec.count ?? samples.length);
  return concat([w.bytes(), ...samples]);
}
