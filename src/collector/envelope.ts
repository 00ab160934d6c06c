// The raw-datagram envelope on topic hoptrace.sflow.raw.v1: the collector's stamp (receive time,
// exporter address and port) in front of the unchanged UDP payload.
//
//   u8  version (1)
//   u8  address family (4 or 6)
//   u16 exporter port
//   f64 received_at, milliseconds since the epoch (sub-millisecond precision kept)
//   u8[16] exporter address (IPv4 in the first 4 bytes)
//   ... payload (the sFlow datagram as received)
import { isIPv4 } from 'node:net';
import { DecodeError } from '../errors.js';

export const ENVELOPE_VERSION = 1;
export const ENVELOPE_HEADER_BYTES = 28;

export interface RawDatagram {
  receivedAt: number;
  exporter: string;
  exporterPort: number;
  payload: Uint8Array;
}

export function encodeEnvelope(receivedAt: number, exporter: string, exporterPort: number, payload: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(ENVELOPE_HEADER_BYTES + payload.byteLength);
  out[0] = ENVELOPE_VERSION;
  out.writeUInt16BE(exporterPort, 2);
  out.writeDoubleBE(receivedAt, 4);
  out.fill(0, 12, 28);
  if (isIPv4(exporter)) {
    out[1] = 4;
    writeIpv4(out, 12, exporter);
  } else {
    out[1] = 6;
    writeIpv6(out, 12, exporter);
  }
  out.set(payload, ENVELOPE_HEADER_BYTES);
  return out;
}

export function decodeEnvelope(bytes: Uint8Array): RawDatagram {
  if (bytes.byteLength < ENVELOPE_HEADER_BYTES) {
    throw new DecodeError('truncated', `envelope of ${bytes.byteLength} bytes, header needs ${ENVELOPE_HEADER_BYTES}`, { offset: 0, path: 'envelope' });
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint8(0);
  if (version !== ENVELOPE_VERSION) {
    throw new DecodeError('bad-version', `envelope version ${version}, expected ${ENVELOPE_VERSION}`, { offset: 0, path: 'envelope/version' });
  }
  const family = view.getUint8(1);
  const exporter = family === 4 ? formatIpv4(bytes, 12) : formatIpv6(bytes, 12);
  return {
    receivedAt: view.getFloat64(4),
    exporter,
    exporterPort: view.getUint16(2),
    payload: bytes.subarray(ENVELOPE_HEADER_BYTES),
  };
}

function writeIpv4(out: Buffer, at: number, address: string): void {
  const parts = address.split('.');
  for (let i = 0; i < 4; i++) out[at + i] = Number(parts[i]);
}

function writeIpv6(out: Buffer, at: number, address: string): void {
  // Node gives IPv4-mapped sources on a dual-stack socket as ::ffff:a.b.c.d.
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped !== null) {
    out[at + 10] = 0xff;
    out[at + 11] = 0xff;
    writeIpv4(out, at + 12, mapped[1] as string);
    return;
  }
  const zoneless = address.split('%')[0] as string;
  const [head, tail] = zoneless.includes('::') ? (zoneless.split('::') as [string, string]) : [zoneless, ''];
  const headGroups = head === '' ? [] : head.split(':');
  const tailGroups = tail === '' ? [] : tail.split(':');
  const groups = [...headGroups, ...new Array<string>(8 - headGroups.length - tailGroups.length).fill('0'), ...tailGroups];
  for (let i = 0; i < 8; i++) out.writeUInt16BE(parseInt(groups[i] ?? '0', 16) & 0xffff, at + 2 * i);
}

function formatIpv4(bytes: Uint8Array, at: number): string {
  return `${bytes[at]}.${bytes[at + 1]}.${bytes[at + 2]}.${bytes[at + 3]}`;
}

function formatIpv6(bytes: Uint8Array, at: number): string {
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push(((bytes[at + 2 * i] as number) << 8) | (bytes[at + 2 * i + 1] as number));
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) return `::ffff:${formatIpv4(bytes, at + 12)}`;
  // Compress the longest run of zero groups (RFC 5952).
  let bestStart = -1, bestLength = 0;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength && j - i > 1) { bestStart = i; bestLength = j - i; }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLength).join(':')}`;
}
