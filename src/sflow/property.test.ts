// Property tests (fast-check) and the mutation fuzzer over the decoder: whatever the bytes, the
// result is a Datagram or a DecodeError, never another exception (and never a hang: the vitest
// timeout would catch one). Sized to stay within a few seconds on a shared 2-core machine.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DecodeError } from '../errors.js';
import { decodeDatagram } from './datagram.js';
import { mutateAndDecode } from './fuzz.js';
import { decodePacket } from './packet.js';
import type { Datagram } from './types.js';
import { capturePackets, sflowCaptures } from '../../test/support/sflow-captures.js';
import { datagram } from '../../test/support/xdr-writer.js';

const fixtures: Uint8Array[] = sflowCaptures().flatMap((name) => capturePackets(name).map((p) => Uint8Array.from(p.payload)));

/**
 * Decodes, checks the result's invariants (offsets inside the datagram, samples in order) with
 * plain comparisons (expect() per field would dominate the run time), and says how it ended.
 */
function decodeSafely(bytes: Uint8Array): 'datagram' | 'decode-error' {
  let d: Datagram;
  try {
    d = decodeDatagram(bytes);
  } catch (error) {
    if (error instanceof DecodeError) {
      if (error.offset < 0 || error.offset > bytes.byteLength) throw new Error(`error offset ${error.offset} outside ${bytes.byteLength} bytes`);
      return 'decode-error';
    }
    throw error;
  }
  let previous = -1;
  for (const s of d.samples) {
    if (s.offset <= previous || s.offset + 8 > bytes.byteLength) throw new Error(`sample offset ${s.offset} out of order or outside ${bytes.byteLength} bytes`);
    previous = s.offset;
    if (s.kind === 'unknown') continue;
    for (const r of s.records) if (r.offset + 8 > bytes.byteLength) throw new Error(`record offset ${r.offset} outside ${bytes.byteLength} bytes`);
  }
  for (const issue of d.issues) if (issue.offset > bytes.byteLength) throw new Error(`issue offset ${issue.offset} outside ${bytes.byteLength} bytes`);
  return 'datagram';
}

describe('decodeDatagram never throws anything but DecodeError', () => {
  it('on random bytes', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 1500 }), (bytes) => {
      decodeSafely(bytes);
    }), { numRuns: 3000 });
  });

  it('on random bytes behind a valid v5 header (so the sample and record loops run)', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 12 }), fc.uint8Array({ maxLength: 1400 }), (count, body) => {
      const header = datagram({ count }, []);
      const bytes = new Uint8Array(header.byteLength + body.byteLength);
      bytes.set(header, 0);
      bytes.set(body, header.byteLength);
      expect(decodeSafely(bytes)).toBe('datagram');
    }), { numRuns: 3000 });
  });

  it('on every fixture with bytes changed', () => {
    fc.assert(fc.property(
      fc.constantFrom(...fixtures),
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }),
      (fixture, flips) => {
        const bytes = Uint8Array.from(fixture);
        for (const [at, value] of flips) bytes[at % bytes.byteLength] = value;
        decodeSafely(bytes);
      },
    ), { numRuns: 3000 });
  });

  it('on every fixture cut at every offset', () => {
    let cuts = 0;
    for (const fixture of fixtures) {
      for (let n = 0; n <= fixture.byteLength; n++) {
        decodeSafely(fixture.subarray(0, n));
        cuts++;
      }
    }
    expect(cuts).toBe(fixtures.reduce((sum, f) => sum + f.byteLength + 1, 0));
  });
});

describe('decodePacket never throws', () => {
  it.each([1, 11, 12])('on random bytes as header protocol %i', (protocol) => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 256 }), (bytes) => {
      const p = decodePacket(bytes, protocol);
      expect(p).not.toBeNull();
    }), { numRuns: 3000 });
  });
});

describe('mutateAndDecode (fuzz driver)', () => {
  it('finds no exception other than DecodeError in 20,000 mutants of the fixtures', () => {
    const report = mutateAndDecode(fixtures, 20_000, 0x5eed);
    expect(report.unexpectedExamples).toEqual([]);
    expect(report.unexpected).toBe(0);
    expect(report.iterations).toBe(20_000);
    expect(report.datagrams + report.errors).toBe(20_000);
    expect(report.withIssues).toBeGreaterThan(0); // the mutations do reach below the header
  });

  it('is deterministic for a seed', () => {
    expect(mutateAndDecode(fixtures, 500, 7)).toEqual(mutateAndDecode(fixtures, 500, 7));
  });
});
