// Field values as ovs-ofctl writes them (ovs-fields(7) "Field Formatting"): integers in decimal
// or 0x-hex, Ethernet addresses, dotted IPv4, IPv6 (with ::), each optionally followed by
// "/mask" (or "/prefix-length" for IP addresses). Everything becomes a bigint so matching is one
// AND and one compare. Parsers return undefined for text they cannot read; callers report it.
import { CT_STATE_BITS, ones, TCP_FLAG_BITS, type FieldFormat } from './fields.js';

export interface MaskedValue {
  value: bigint;
  mask: bigint;
}

const INT = /^(?:0x[0-9a-f]+|\d+)$/i;
const MAC = /^[0-9a-f]{1,2}(?::[0-9a-f]{1,2}){5}$/i;
const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

export function parseInteger(text: string): bigint | undefined {
  return INT.test(text) ? BigInt(text) : undefined;
}

export function parseMac(text: string): bigint | undefined {
  if (!MAC.test(text)) return undefined;
  let value = 0n;
  for (const byte of text.split(':')) value = (value << 8n) | BigInt(parseInt(byte, 16));
  return value;
}

export function parseIpv4(text: string): bigint | undefined {
  const m = IPV4.exec(text);
  if (m === null) return undefined;
  let value = 0n;
  for (let i = 1; i <= 4; i++) {
    const octet = Number(m[i]);
    if (octet > 255) return undefined;
    value = (value << 8n) | BigInt(octet);
  }
  return value;
}

export function parseIpv6(text: string): bigint | undefined {
  if (!/^[0-9a-f:.]+$/i.test(text) || !text.includes(':')) return undefined;
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const groups = (part: string): number[] | undefined => {
    if (part === '') return [];
    const out: number[] = [];
    const pieces = part.split(':');
    for (let i = 0; i < pieces.length; i++) {
      const piece = pieces[i] ?? '';
      if (i === pieces.length - 1 && piece.includes('.')) {
        const v4 = parseIpv4(piece);
        if (v4 === undefined) return undefined;
        out.push(Number(v4 >> 16n), Number(v4 & 0xffffn));
      } else {
        if (!/^[0-9a-f]{1,4}$/i.test(piece)) return undefined;
        out.push(parseInt(piece, 16));
      }
    }
    return out;
  };
  const head = groups(halves[0] ?? '');
  const tail = halves.length === 2 ? groups(halves[1] ?? '') : [];
  if (head === undefined || tail === undefined) return undefined;
  const fill = 8 - head.length - tail.length;
  if (halves.length === 2 ? fill < 1 : fill !== 0) return undefined;
  let value = 0n;
  for (const g of [...head, ...new Array<number>(fill).fill(0), ...tail]) value = (value << 16n) | BigInt(g);
  return value;
}

function prefixMask(length: number, bits: number): bigint | undefined {
  if (!Number.isInteger(length) || length < 0 || length > bits) return undefined;
  return length === 0 ? 0n : (ones(length) << BigInt(bits - length));
}

function parseScalar(text: string, format: FieldFormat): bigint | undefined {
  switch (format) {
    case 'mac':
      return parseMac(text);
    case 'ipv4':
      return parseIpv4(text) ?? parseInteger(text);
    case 'ipv6':
      return parseIpv6(text);
    case 'int':
    case 'ethertype':
    case 'port':
      return parseInteger(text);
    case 'ct_state':
    case 'tcp_flags':
    case 'frag':
      return parseInteger(text);
    default: {
      const never: never = format;
      return never;
    }
  }
}

/**
 * `value` or `value/mask` (or `/prefix` for addresses) in `format`, within `bits` bits. The value
 * is returned already masked, as OVS stores it.
 */
export function parseMasked(text: string, format: FieldFormat, bits: number): MaskedValue | undefined {
  if (format === 'ct_state') return parseFlags(text, CT_STATE_BITS, bits);
  if (format === 'tcp_flags') return parseFlags(text, TCP_FLAG_BITS, bits);
  if (format === 'frag') return parseFrag(text);
  const all = ones(bits);
  const slash = text.indexOf('/');
  const valueText = slash < 0 ? text : text.slice(0, slash);
  const value = parseScalar(valueText, format);
  if (value === undefined || value > all) return undefined;
  if (slash < 0) return { value, mask: all };
  const maskText = text.slice(slash + 1);
  let mask: bigint | undefined;
  if ((format === 'ipv4' || format === 'ipv6') && /^\d+$/.test(maskText)) mask = prefixMask(Number(maskText), bits);
  else mask = parseScalar(maskText, format);
  if (mask === undefined || mask > all) return undefined;
  return { value: value & mask, mask };
}

/**
 * Flag fields: `+trk-est` (set / clear named bits), `trk|est` (those bits set, no others), or
 * `0x21/0x21`.
 */
function parseFlags(text: string, names: Readonly<Record<string, number>>, bits: number): MaskedValue | undefined {
  if (/^(?:0x[0-9a-f]+|\d+)(?:\/(?:0x[0-9a-f]+|\d+))?$/i.test(text)) {
    const [v = '', m] = text.split('/');
    const value = BigInt(v);
    const mask = m === undefined ? ones(bits) : BigInt(m);
    return { value: value & mask, mask };
  }
  let value = 0n;
  let mask = 0n;
  if (text.startsWith('+') || text.startsWith('-')) {
    const re = /([+-])([a-z]+)/gy;
    let pos = 0;
    for (let m = re.exec(text); m !== null; m = re.exec(text)) {
      const bit = names[m[2] ?? ''];
      if (bit === undefined) return undefined;
      mask |= BigInt(bit);
      if (m[1] === '+') value |= BigInt(bit);
      pos = re.lastIndex;
    }
    return pos === text.length ? { value, mask } : undefined;
  }
  for (const name of text.split('|')) {
    const bit = names[name];
    if (bit === undefined) return undefined;
    value |= BigInt(bit);
  }
  return { value, mask: ones(bits) };
}

/** nw_frag values (ovs-fields(7) "ip_frag"): bit 0 = is a fragment, bit 1 = not the first. */
const FRAG: Readonly<Record<string, MaskedValue>> = {
  no: { value: 0n, mask: 1n },
  yes: { value: 1n, mask: 1n },
  first: { value: 1n, mask: 3n },
  later: { value: 3n, mask: 3n },
  not_later: { value: 0n, mask: 2n },
};

function parseFrag(text: string): MaskedValue | undefined {
  return FRAG[text] ?? (/^\d+(?:\/\d+)?$/.test(text) ? parseFlags(text, {}, 2) : undefined);
}

// ---------- formatting (trace output, frame views) ----------

export function formatMac(value: bigint): string {
  const bytes: string[] = [];
  for (let i = 5; i >= 0; i--) bytes.push(Number((value >> BigInt(i * 8)) & 0xffn).toString(16).padStart(2, '0'));
  return bytes.join(':');
}

export function formatIpv4(value: bigint): string {
  return [24n, 16n, 8n, 0n].map((s) => Number((value >> s) & 0xffn)).join('.');
}

export function formatIpv6(value: bigint): string {
  const groups: number[] = [];
  for (let i = 7; i >= 0; i--) groups.push(Number((value >> BigInt(i * 16)) & 0xffffn));
  // RFC 5952: the longest run (≥ 2) of zero groups becomes "::".
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLength).join(':')}`;
}

export function formatHex(value: bigint): string {
  return `0x${value.toString(16)}`;
}

export function formatCtState(value: bigint): string {
  const set = Object.entries(CT_STATE_BITS)
    .filter(([, bit]) => (value & BigInt(bit)) !== 0n)
    .map(([name]) => name);
  return set.length === 0 ? '0' : set.join('|');
}
