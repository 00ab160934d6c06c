// Text forms of MAC and IP addresses read from a byte array at an offset, as tshark and `ip`
// print them: lower-case colon MACs, dotted IPv4, RFC 5952 IPv6 (longest run of two or more zero
// groups as "::", first run on a tie, no leading zeros). Hot path (two MACs and two IPs per
// sampled header): precomputed tables, no regex, no intermediate arrays for MAC and IPv4.

const HEX2: readonly string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));
const DEC: readonly string[] = Array.from({ length: 256 }, (_, i) => String(i));

/** Six bytes at `at` as "aa:bb:cc:dd:ee:ff". The caller has checked the bounds. */
export function formatMac(b: Uint8Array, at: number): string {
  return `${HEX2[b[at] as number]}:${HEX2[b[at + 1] as number]}:${HEX2[b[at + 2] as number]}:${HEX2[b[at + 3] as number]}:${HEX2[b[at + 4] as number]}:${HEX2[b[at + 5] as number]}`;
}

/** Four bytes at `at` as "a.b.c.d". */
export function formatIpv4(b: Uint8Array, at: number): string {
  return `${DEC[b[at] as number]}.${DEC[b[at + 1] as number]}.${DEC[b[at + 2] as number]}.${DEC[b[at + 3] as number]}`;
}

// The same few MACs and IPv4 addresses come back sample after sample: one string per address,
// built once. Every later use hashes it (maps keyed by address, interning) at no cost, where a
// new concatenation per sample is flattened and hashed again each time. Bounded: cleared when full.
const TEXT_CACHE_MAX = 65_536;
const MAC_TEXT = new Map<number, string>();
const IPV4_TEXT = new Map<number, string>();

/** formatMac, one string per address (see above). */
export function macText(b: Uint8Array, at: number): string {
  const key = ((b[at] as number) * 0x10000 + ((b[at + 1] as number) << 8 | (b[at + 2] as number))) * 0x1000000 + ((b[at + 3] as number) << 16 | (b[at + 4] as number) << 8 | (b[at + 5] as number));
  let text = MAC_TEXT.get(key);
  if (text === undefined) {
    text = formatMac(b, at);
    if (MAC_TEXT.size >= TEXT_CACHE_MAX) MAC_TEXT.clear();
    MAC_TEXT.set(key, text);
  }
  return text;
}

/** formatIpv4, one string per address (see above). */
export function ipv4Text(b: Uint8Array, at: number): string {
  const key = ((b[at] as number) << 24 | (b[at + 1] as number) << 16 | (b[at + 2] as number) << 8 | (b[at + 3] as number)) >>> 0;
  let text = IPV4_TEXT.get(key);
  if (text === undefined) {
    text = formatIpv4(b, at);
    if (IPV4_TEXT.size >= TEXT_CACHE_MAX) IPV4_TEXT.clear();
    IPV4_TEXT.set(key, text);
  }
  return text;
}

/** Sixteen bytes at `at` in RFC 5952 form. */
export function formatIpv6(b: Uint8Array, at: number): string {
  // Longest run of zero groups (length >= 2): it becomes "::".
  let bestStart = -1;
  let bestLength = 1;
  let runStart = -1;
  for (let g = 0; g < 8; g++) {
    const zero = b[at + 2 * g] === 0 && b[at + 2 * g + 1] === 0;
    if (zero) {
      if (runStart < 0) runStart = g;
      const length = g - runStart + 1;
      if (length > bestLength) {
        bestStart = runStart;
        bestLength = length;
      }
    } else {
      runStart = -1;
    }
  }
  let out = '';
  for (let g = 0; g < 8; g++) {
    if (g === bestStart) {
      out += '::';
      g += bestLength - 1;
      continue;
    }
    if (out.length > 0 && !out.endsWith(':')) out += ':';
    out += (((b[at + 2 * g] as number) << 8) | (b[at + 2 * g + 1] as number)).toString(16);
  }
  return out;
}

/** Sixteen bytes at `at` as a UUID "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" (host_descr). */
export function formatUuid(b: Uint8Array, at: number): string {
  let out = '';
  for (let i = 0; i < 16; i++) {
    if (i === 4 || i === 6 || i === 8 || i === 10) out += '-';
    out += HEX2[b[at + i] as number];
  }
  return out;
}
