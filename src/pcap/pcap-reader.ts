// UDP payloads out of a capture file: classic pcap (both byte orders; microsecond magic
// 0xa1b2c3d4 and nanosecond magic 0xa1b23c4d) and pcapng (SHB/IDB/EPB/SPB and the obsolete PB, both
// byte orders, per-interface link type and if_tsresol), as written by tcpdump, tshark/dumpcap and
// `wrap-datagrams.py`. Link types: Ethernet (1, with 802.1Q/802.1ad tags), null/loopback (0),
// raw IP (101, 228 IPv4, 229 IPv6), Linux cooked SLL (113) and SLL2 (276). IPv4 and IPv6 UDP only.
//
//   pcap:   magic:32 version_major:16 version_minor:16 thiszone:32 sigfigs:32 snaplen:32 linktype:32
//           record: ts_sec:32 ts_frac:32 incl_len:32 orig_len:32 data[incl_len]
//   pcapng: block: type:32 total_length:32 body total_length:32 (padded to 4)
//           SHB 0x0a0d0d0a: byte_order_magic:32 (0x1a2b3c4d) major:16 minor:16 section_length:64 options
//           IDB 1: linktype:16 reserved:16 snaplen:32 options (9 = if_tsresol:8)
//           EPB 6: interface_id:32 ts_high:32 ts_low:32 captured_len:32 original_len:32 data options
//           SPB 3: original_len:32 data (interface 0, no timestamp)
//           PB  2: interface_id:16 drops:16 ts_high:32 ts_low:32 captured_len:32 original_len:32 data
//
// Frame numbers count every packet block of the file from 1, as tshark numbers them, whether or
// not it holds UDP. The UDP payload length comes from the IP header (IPv4 total length, IPv6
// payload length), never from the UDP length field (tcpdump-sflow_print-segv has a false one),
// and never runs past the captured bytes. IPv4 fragments are skipped and counted.
import { ParseError } from '../errors.js';
import { formatIpv4, formatIpv6 } from '../sflow/address.js';

export interface UdpPacket {
  /** 1-based packet number in the file (tshark's frame.number). */
  frame: number;
  /** Capture time, ms since the Unix epoch (fractional part kept). */
  timestampMs: number;
  srcIp: string;
  srcPort: number;
  dstIp: string;
  dstPort: number;
  /** The UDP payload, shared with the file buffer. */
  payload: Uint8Array;
}

/** What the reader saw so far in the current iteration; complete once it has finished. */
export interface PcapCounts {
  frames: number;
  udp: number;
  /** IPv4 fragments and IPv6 fragment headers: reassembly is not done. */
  fragments: number;
  /** Frames that are not IPv4/IPv6 UDP (ARP, TCP, ...). */
  notUdp: number;
  /** Frames cut by the snap length before the end of their UDP header. */
  truncated: number;
}

export const LINK_TYPE = {
  NULL: 0,
  ETHERNET: 1,
  RAW: 101,
  LINUX_SLL: 113,
  IPV4: 228,
  IPV6: 229,
  LINUX_SLL2: 276,
} as const;

const PCAP_MAGIC_MICROSECONDS = 0xa1b2c3d4;
const PCAP_MAGIC_NANOSECONDS = 0xa1b23c4d;
const PCAP_FILE_HEADER = 24;
const PCAP_RECORD_HEADER = 16;
const PCAPNG_SHB = 0x0a0d0d0a;
const PCAPNG_BYTE_ORDER_MAGIC = 0x1a2b3c4d;
const PCAPNG_IDB = 1;
const PCAPNG_PB = 2;
const PCAPNG_SPB = 3;
const PCAPNG_EPB = 6;
const PCAPNG_OPTION_END = 0;
const PCAPNG_OPTION_IF_TSRESOL = 9;
/** The low 16 bits of the pcap linktype field are the link type; upper bits carry FCS information. */
const LINK_TYPE_MASK = 0xffff;

const ETHER_TYPE_IPV4 = 0x0800;
const ETHER_TYPE_IPV6 = 0x86dd;
const ETHER_TYPE_VLAN = 0x8100;
const ETHER_TYPE_QINQ = 0x88a8;
const ETHER_TYPE_QINQ_LEGACY = 0x9100;
const IP_PROTOCOL_UDP = 17;
const IPV6_HOP_BY_HOP = 0;
const IPV6_ROUTING = 43;
const IPV6_FRAGMENT = 44;
const IPV6_DESTINATION_OPTIONS = 60;
/** BSD loopback address families for IPv6 differ per OS (24 NetBSD/OpenBSD, 28 FreeBSD, 30 Darwin). */
const NULL_FAMILY_IPV4 = 2;
const NULL_FAMILY_IPV6: ReadonlySet<number> = new Set([10, 24, 28, 30]);

interface Interface { linkType: number; unitsPerSecond: number }

const SUPPORTED_LINK_TYPES: ReadonlySet<number> = new Set(Object.values(LINK_TYPE));

function unsupportedLinkType(linkType: number, source: string, offset: number): ParseError {
  return new ParseError('unsupported', `link type ${linkType} is not one of ${[...SUPPORTED_LINK_TYPES].join(', ')} (null, Ethernet, raw IP, Linux cooked)`, { source, offset });
}

/**
 * Where a capture file ends inside a record (a capture still being written, or copied short).
 * tcpdump reads the records before it and warns; `cutShort: 'stop'` does the same.
 */
export interface PcapCutShort {
  /** Byte offset of the record (pcap) or block (pcapng) the file ends inside. */
  offset: number;
  /** What runs past the end, e.g. "a record of 498 bytes runs past the end". */
  detail: string;
  /** Complete packets read before it (counts.frames when iteration stopped). */
  frames: number;
  /** One line for the user: "FILE: capture cut short at byte 538 (a record of 498 bytes runs past the end): read the 3 complete records before it". */
  message: string;
  /** The ParseError 'truncated' the reader throws without `cutShort: 'stop'`. */
  error: ParseError;
}

export interface ReadOptions {
  /**
   * A file that ends inside a record, after a complete file header: 'throw' (the default) throws
   * ParseError 'truncated' while iterating; 'stop' ends the iteration after the last complete
   * record and sets `cutShort`. A bad or cut file header (pcap header, first pcapng section
   * header) and a malformed record throw either way.
   */
  cutShort?: 'throw' | 'stop';
}

export interface PcapPackets extends Iterable<UdpPacket> {
  counts: PcapCounts;
  /** Set when an iteration with `cutShort: 'stop'` ended at a record the file cuts short; else undefined. */
  cutShort: PcapCutShort | undefined;
}

/** Records the cut and ends the iteration ('stop'), or throws (the default). */
type OnCut = (error: ParseError, detail: string) => void;

/**
 * The UDP datagrams of a capture, in file order. Throws ParseError 'bad-magic' at once for a file
 * that is neither pcap nor pcapng, and 'truncated' (with the byte offset) while iterating when a
 * record runs past the end of the file, unless `options.cutShort` is 'stop' (then see `cutShort`).
 * `counts` fills in as the iteration goes.
 */
export function readUdpPayloads(bytes: Uint8Array, source: string, options: ReadOptions = {}): PcapPackets {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.byteLength < 4) throw new ParseError('truncated', `${bytes.byteLength} bytes: not even a magic number`, { source, offset: 0 });
  const magicBig = view.getUint32(0, false);
  const counts: PcapCounts = { frames: 0, udp: 0, fragments: 0, notUdp: 0, truncated: 0 };
  let iterate: () => Generator<UdpPacket>;
  if (magicBig === PCAPNG_SHB) {
    iterate = () => readPcapng(bytes, view, source, counts, onCut);
  } else {
    const magicLittle = view.getUint32(0, true);
    let littleEndian: boolean;
    let nanoseconds: boolean;
    if (magicBig === PCAP_MAGIC_MICROSECONDS || magicBig === PCAP_MAGIC_NANOSECONDS) {
      littleEndian = false;
      nanoseconds = magicBig === PCAP_MAGIC_NANOSECONDS;
    } else if (magicLittle === PCAP_MAGIC_MICROSECONDS || magicLittle === PCAP_MAGIC_NANOSECONDS) {
      littleEndian = true;
      nanoseconds = magicLittle === PCAP_MAGIC_NANOSECONDS;
    } else {
      throw new ParseError('bad-magic', `magic 0x${magicBig.toString(16).padStart(8, '0')} is neither pcap nor pcapng`, { source, offset: 0 });
    }
    if (bytes.byteLength < PCAP_FILE_HEADER) throw new ParseError('truncated', `pcap file header needs ${PCAP_FILE_HEADER} bytes, the file has ${bytes.byteLength}`, { source, offset: 0 });
    const linkType = view.getUint32(20, littleEndian) & LINK_TYPE_MASK;
    if (!SUPPORTED_LINK_TYPES.has(linkType)) throw unsupportedLinkType(linkType, source, 20);
    iterate = () => readPcap(bytes, view, source, counts, littleEndian, nanoseconds ? 1e9 : 1e6, linkType, onCut);
  }
  const result: PcapPackets = {
    counts,
    cutShort: undefined,
    [Symbol.iterator]: () => {
      // each iteration counts the file afresh
      Object.assign(counts, { frames: 0, udp: 0, fragments: 0, notUdp: 0, truncated: 0 });
      result.cutShort = undefined;
      return iterate();
    },
  };
  const unit = magicBig === PCAPNG_SHB ? 'packet block' : 'record';
  function onCut(error: ParseError, detail: string): void {
    if (options.cutShort !== 'stop') throw error;
    const frames = counts.frames;
    const offset = error.offset ?? 0;
    const read = frames === 0 ? `no complete ${unit} before it` : `read the ${frames} complete ${unit}${frames === 1 ? '' : 's'} before it`;
    result.cutShort = { offset, detail, frames, message: `${source}: capture cut short at byte ${offset} (${detail}): ${read}`, error };
  }
  return result;
}

function* readPcap(
  bytes: Uint8Array, view: DataView, source: string, counts: PcapCounts, le: boolean, unitsPerSecond: number, linkType: number, onCut: OnCut,
): Generator<UdpPacket> {
  let off = PCAP_FILE_HEADER;
  while (off < bytes.byteLength) {
    if (off + PCAP_RECORD_HEADER > bytes.byteLength) {
      const left = bytes.byteLength - off;
      onCut(new ParseError('truncated', `record header needs ${PCAP_RECORD_HEADER} bytes, ${left} left`, { source, offset: off }), `a record header needs ${PCAP_RECORD_HEADER} bytes, ${left} left`);
      return;
    }
    const seconds = view.getUint32(off, le);
    const fraction = view.getUint32(off + 4, le);
    const captured = view.getUint32(off + 8, le);
    const start = off + PCAP_RECORD_HEADER;
    if (start + captured > bytes.byteLength) {
      onCut(new ParseError('truncated', `record of ${captured} bytes runs past the end of the file (${bytes.byteLength - start} left)`, { source, offset: off }), `a record of ${captured} bytes runs past the end`);
      return;
    }
    off = start + captured;
    counts.frames++;
    const timestampMs = seconds * 1000 + (fraction * 1000) / unitsPerSecond;
    const packet = udpOf(bytes.subarray(start, start + captured), linkType, counts.frames, timestampMs, counts);
    if (packet !== undefined) yield packet;
  }
}

function* readPcapng(bytes: Uint8Array, view: DataView, source: string, counts: PcapCounts, onCut: OnCut): Generator<UdpPacket> {
  let off = 0;
  let le = false;
  let interfaces: Interface[] = [];
  while (off < bytes.byteLength) {
    if (off + 12 > bytes.byteLength) {
      const left = bytes.byteLength - off;
      const error = new ParseError('truncated', `block header needs 12 bytes, ${left} left`, { source, offset: off });
      if (off === 0) throw error; // the file's first section header: not a capture we can read
      onCut(error, `a block header needs 12 bytes, ${left} left`);
      return;
    }
    const typeBig = view.getUint32(off, false);
    if (typeBig === PCAPNG_SHB) {
      // A new section: its byte order is in the block itself, after the (palindromic) type.
      const magic = view.getUint32(off + 8, false);
      if (magic === PCAPNG_BYTE_ORDER_MAGIC) le = false;
      else if (view.getUint32(off + 8, true) === PCAPNG_BYTE_ORDER_MAGIC) le = true;
      else throw new ParseError('bad-magic', `section header byte-order magic 0x${magic.toString(16)} is not 0x1a2b3c4d`, { source, offset: off + 8 });
      interfaces = [];
    }
    const type = view.getUint32(off, le);
    const total = view.getUint32(off + 4, le);
    if (total < 12 || total % 4 !== 0) throw new ParseError('bad-format', `block length ${total} is not a multiple of 4 of at least 12`, { source, offset: off + 4 });
    if (off + total > bytes.byteLength) {
      const error = new ParseError('truncated', `block of ${total} bytes runs past the end of the file (${bytes.byteLength - off} left)`, { source, offset: off });
      if (off === 0) throw error;
      onCut(error, `a block of ${total} bytes runs past the end`);
      return;
    }
    const body = off + 8;
    const bodyEnd = off + total - 4;
    const blockStart = off;
    off += total;
    if (type === PCAPNG_IDB) {
      if (bodyEnd - body < 8) throw new ParseError('truncated', 'interface description block shorter than 8 bytes', { source, offset: blockStart });
      const linkType = view.getUint16(body, le);
      if (!SUPPORTED_LINK_TYPES.has(linkType)) throw unsupportedLinkType(linkType, source, body);
      interfaces.push({ linkType, unitsPerSecond: tsresolOf(view, body + 8, bodyEnd, le) });
      continue;
    }
    let interfaceId: number;
    let timestampMs: number;
    let dataStart: number;
    let captured: number;
    if (type === PCAPNG_EPB || type === PCAPNG_PB) {
      if (bodyEnd - body < 20) throw new ParseError('truncated', 'packet block shorter than its 20-byte header', { source, offset: blockStart });
      interfaceId = type === PCAPNG_EPB ? view.getUint32(body, le) : view.getUint16(body, le);
      const high = view.getUint32(body + 4, le);
      const low = view.getUint32(body + 8, le);
      captured = view.getUint32(body + 12, le);
      dataStart = body + 20;
      const units = interfaces[interfaceId]?.unitsPerSecond ?? 1e6;
      timestampMs = ((high * 0x1_0000_0000 + low) * 1000) / units;
    } else if (type === PCAPNG_SPB) {
      if (bodyEnd - body < 4) throw new ParseError('truncated', 'simple packet block shorter than 4 bytes', { source, offset: blockStart });
      interfaceId = 0;
      timestampMs = 0;
      dataStart = body + 4;
      captured = Math.min(view.getUint32(body, le), bodyEnd - dataStart);
    } else {
      continue; // SHB, name resolution, statistics, custom blocks: no packet
    }
    if (dataStart + captured > bodyEnd) throw new ParseError('truncated', `packet of ${captured} bytes runs past its block`, { source, offset: blockStart });
    counts.frames++;
    const iface = interfaces[interfaceId];
    if (iface === undefined) throw new ParseError('bad-format', `packet on interface ${interfaceId}, but the section describes ${interfaces.length}`, { source, offset: blockStart });
    const packet = udpOf(bytes.subarray(dataStart, dataStart + captured), iface.linkType, counts.frames, timestampMs, counts);
    if (packet !== undefined) yield packet;
  }
}

/** if_tsresol: 10^-n (high bit 0) or 2^-n (high bit 1) seconds; default microseconds. */
function tsresolOf(view: DataView, off: number, end: number, le: boolean): number {
  while (off + 4 <= end) {
    const code = view.getUint16(off, le);
    const length = view.getUint16(off + 2, le);
    if (code === PCAPNG_OPTION_END) break;
    if (code === PCAPNG_OPTION_IF_TSRESOL && length >= 1 && off + 5 <= end) {
      const value = view.getUint8(off + 4);
      return (value & 0x80) !== 0 ? 2 ** (value & 0x7f) : 10 ** value;
    }
    off += 4 + ((length + 3) & ~3);
  }
  return 1e6;
}

function u16(b: Uint8Array, at: number): number {
  return ((b[at] as number) << 8) | (b[at + 1] as number);
}

/** The UDP datagram inside one captured frame, or undefined (and a count) when there is none. */
function udpOf(frame: Uint8Array, linkType: number, number: number, timestampMs: number, counts: PcapCounts): UdpPacket | undefined {
  let off: number;
  let version: number; // 4, 6, or 0 for "not IP"
  switch (linkType) {
    case LINK_TYPE.ETHERNET: {
      if (frame.byteLength < 14) return skip(counts);
      let type = u16(frame, 12);
      off = 14;
      while ((type === ETHER_TYPE_VLAN || type === ETHER_TYPE_QINQ || type === ETHER_TYPE_QINQ_LEGACY) && off + 4 <= frame.byteLength) {
        type = u16(frame, off + 2);
        off += 4;
      }
      version = type === ETHER_TYPE_IPV4 ? 4 : type === ETHER_TYPE_IPV6 ? 6 : 0;
      break;
    }
    case LINK_TYPE.LINUX_SLL: {
      if (frame.byteLength < 16) return skip(counts);
      const type = u16(frame, 14);
      off = 16;
      version = type === ETHER_TYPE_IPV4 ? 4 : type === ETHER_TYPE_IPV6 ? 6 : 0;
      break;
    }
    case LINK_TYPE.LINUX_SLL2: {
      if (frame.byteLength < 20) return skip(counts);
      const type = u16(frame, 0);
      off = 20;
      version = type === ETHER_TYPE_IPV4 ? 4 : type === ETHER_TYPE_IPV6 ? 6 : 0;
      break;
    }
    case LINK_TYPE.RAW:
      off = 0;
      version = frame.byteLength > 0 ? (frame[0] as number) >>> 4 : 0;
      break;
    case LINK_TYPE.IPV4:
      off = 0;
      version = 4;
      break;
    case LINK_TYPE.IPV6:
      off = 0;
      version = 6;
      break;
    case LINK_TYPE.NULL: {
      if (frame.byteLength < 4) return skip(counts);
      // The family is in the byte order of the machine that captured: accept either.
      const big = ((frame[0] as number) << 24 | (frame[1] as number) << 16 | (frame[2] as number) << 8 | (frame[3] as number)) >>> 0;
      const little = ((frame[3] as number) << 24 | (frame[2] as number) << 16 | (frame[1] as number) << 8 | (frame[0] as number)) >>> 0;
      off = 4;
      version = big === NULL_FAMILY_IPV4 || little === NULL_FAMILY_IPV4 ? 4 : NULL_FAMILY_IPV6.has(big) || NULL_FAMILY_IPV6.has(little) ? 6 : 0;
      break;
    }
    default:
      return skip(counts); // not reached: link types are checked when the file or interface is read
  }
  if (version === 4) return udpOfIpv4(frame, off, number, timestampMs, counts);
  if (version === 6) return udpOfIpv6(frame, off, number, timestampMs, counts);
  return skip(counts);
}

function skip(counts: PcapCounts): undefined {
  counts.notUdp++;
  return undefined;
}

function udpOfIpv4(frame: Uint8Array, off: number, number: number, timestampMs: number, counts: PcapCounts): UdpPacket | undefined {
  const end = frame.byteLength;
  if (end - off < 20 || (frame[off] as number) >>> 4 !== 4) return skip(counts);
  const ihl = ((frame[off] as number) & 0x0f) * 4;
  if ((frame[off + 9] as number) !== IP_PROTOCOL_UDP) return skip(counts);
  const fragment = u16(frame, off + 6);
  if ((fragment & 0x3fff) !== 0) { // more-fragments flag or a fragment offset
    counts.fragments++;
    return undefined;
  }
  const totalLength = u16(frame, off + 2);
  const udp = off + ihl;
  if (ihl < 20 || udp + 8 > end) {
    counts.truncated++;
    return undefined;
  }
  // Payload length from the IP header; 0 (segmentation offload) or a short capture: what is there.
  const ipEnd = totalLength >= ihl + 8 ? Math.min(off + totalLength, end) : end;
  counts.udp++;
  return {
    frame: number, timestampMs,
    srcIp: formatIpv4(frame, off + 12), srcPort: u16(frame, udp),
    dstIp: formatIpv4(frame, off + 16), dstPort: u16(frame, udp + 2),
    payload: frame.subarray(udp + 8, ipEnd),
  };
}

function udpOfIpv6(frame: Uint8Array, off: number, number: number, timestampMs: number, counts: PcapCounts): UdpPacket | undefined {
  const end = frame.byteLength;
  if (end - off < 40 || (frame[off] as number) >>> 4 !== 6) return skip(counts);
  const payloadLength = u16(frame, off + 4);
  const ipEnd = payloadLength > 0 ? Math.min(off + 40 + payloadLength, end) : end;
  let next = frame[off + 6] as number;
  let at = off + 40;
  for (let i = 0; i < 8 && (next === IPV6_HOP_BY_HOP || next === IPV6_ROUTING || next === IPV6_DESTINATION_OPTIONS || next === IPV6_FRAGMENT); i++) {
    if (next === IPV6_FRAGMENT) {
      counts.fragments++;
      return undefined;
    }
    if (at + 8 > ipEnd) {
      counts.truncated++;
      return undefined;
    }
    next = frame[at] as number;
    at += ((frame[at + 1] as number) + 1) * 8;
  }
  if (next !== IP_PROTOCOL_UDP) return skip(counts);
  if (at + 8 > ipEnd) {
    counts.truncated++;
    return undefined;
  }
  counts.udp++;
  return {
    frame: number, timestampMs,
    srcIp: formatIpv6(frame, off + 8), srcPort: u16(frame, at),
    dstIp: formatIpv6(frame, off + 24), dstPort: u16(frame, at + 2),
    payload: frame.subarray(at + 8, ipEnd),
  };
}
