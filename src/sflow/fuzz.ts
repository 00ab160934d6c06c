// A mutation fuzzer for the datagram decoder, pure and deterministic (a seeded PRNG, no I/O, no
// clock), so the bench (`npm run fuzz`) and the tests can run it alike. Each iteration takes a seed
// datagram, applies one to four mutations a fuzzer would (bit and byte flips, XDR words set to
// boundary values, cuts, inserted and deleted ranges, a copied chunk) and decodes the result. The
// contract under test: a Datagram or a DecodeError, never any other exception.
import { DecodeError } from '../errors.js';
import { decodeDatagram } from './datagram.js';

export interface FuzzReport {
  iterations: number;
  /** Mutants that decoded to a Datagram. */
  datagrams: number;
  /** Mutants rejected with a DecodeError (an unusable header). */
  errors: number;
  /** Mutants that decoded with issues below the header. */
  withIssues: number;
  /** Any other exception: a decoder bug. */
  unexpected: number;
  /** The first few mutants that raised something else than DecodeError, to replay. */
  unexpectedExamples: { input: Uint8Array; message: string }[];
}

const MAX_EXAMPLES = 5;
/** Boundary values for XDR lengths and counts. */
const INTERESTING_WORDS = [0, 1, 3, 4, 7, 8, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x10000, 0x3fffffff, 0x40000000, 0x7fffffff, 0x80000000, 0xfffffffc, 0xffffffff];

/** mulberry32: small, fast, good enough to pick mutations. */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 0x1_0000_0000;
  };
}

export function mutate(input: Uint8Array, random: () => number): Uint8Array {
  let bytes = Uint8Array.from(input);
  const int = (n: number): number => Math.floor(random() * n);
  const rounds = 1 + int(4);
  for (let round = 0; round < rounds; round++) {
    const n = bytes.byteLength;
    switch (int(7)) {
      case 0: // bit flip
        if (n > 0) bytes[int(n)] = (bytes[int(n)] ?? 0) ^ (1 << int(8));
        break;
      case 1: // random byte
        if (n > 0) bytes[int(n)] = int(256);
        break;
      case 2: { // an aligned XDR word set to a boundary value (lengths, counts, formats)
        if (n < 4) break;
        const at = int(n >>> 2) * 4;
        const word = INTERESTING_WORDS[int(INTERESTING_WORDS.length)] ?? 0;
        new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).setUint32(at, word);
        break;
      }
      case 3: // cut
        bytes = bytes.subarray(0, int(n + 1));
        break;
      case 4: { // delete a range
        const from = int(n + 1);
        const to = Math.min(n, from + int(16));
        const out = new Uint8Array(n - (to - from));
        out.set(bytes.subarray(0, from), 0);
        out.set(bytes.subarray(to), from);
        bytes = out;
        break;
      }
      case 5: { // insert random bytes
        const at = int(n + 1);
        const extra = 1 + int(16);
        const out = new Uint8Array(n + extra);
        out.set(bytes.subarray(0, at), 0);
        for (let i = 0; i < extra; i++) out[at + i] = int(256);
        out.set(bytes.subarray(at), at + extra);
        bytes = out;
        break;
      }
      default: { // copy a chunk over another place (duplicated records and samples)
        if (n < 8) break;
        const length = 1 + int(Math.min(64, n - 1));
        const from = int(n - length + 1);
        const to = int(n - length + 1);
        bytes.copyWithin(to, from, from + length);
      }
    }
  }
  return bytes;
}

/** Mutates the seeds `iterations` times (round robin) and decodes each mutant. */
export function mutateAndDecode(seedDatagrams: readonly Uint8Array[], iterations: number, seed: number): FuzzReport {
  const report: FuzzReport = { iterations: 0, datagrams: 0, errors: 0, withIssues: 0, unexpected: 0, unexpectedExamples: [] };
  if (seedDatagrams.length === 0) return report;
  const random = prng(seed);
  for (let i = 0; i < iterations; i++) {
    const input = mutate(seedDatagrams[i % seedDatagrams.length] as Uint8Array, random);
    report.iterations++;
    try {
      const d = decodeDatagram(input);
      report.datagrams++;
      if (d.issues.length > 0) report.withIssues++;
    } catch (error) {
      if (error instanceof DecodeError) {
        report.errors++;
        continue;
      }
      report.unexpected++;
      if (report.unexpectedExamples.length < MAX_EXAMPLES) {
        report.unexpectedExamples.push({ input, message: error instanceof Error ? `${error.name}: ${error.message}` : String(error) });
      }
    }
  }
  return report;
}
