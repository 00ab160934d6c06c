// RowBinaryWriter's one-pass UTF-8 strings (utf8, utf8Array) and Float32, which the path tables
// use (pathengine/path-row-binary.ts): the bytes must be those of text()'s two-pass way, whatever
// the length prefix turns out to need (the guess is made from the UTF-16 length).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RowBinaryWriter } from './row-binary.js';

function leb128(value: number): number[] {
  const out: number[] = [];
  let rest = value;
  while (rest >= 0x80) {
    out.push((rest & 0x7f) | 0x80);
    rest = Math.floor(rest / 128);
  }
  out.push(rest);
  return out;
}

/** LEB128 length, then the UTF-8 bytes: RowBinary's String, built the slow, obvious way. */
function reference(text: string): number[] {
  const bytes = [...Buffer.from(text, 'utf8')];
  return [...leb128(bytes.length), ...bytes];
}

const written = (write: (w: RowBinaryWriter) => void, initialBytes = 16): number[] => {
  const w = new RowBinaryWriter(initialBytes); // small: every string makes it grow
  write(w);
  return [...w.bytes()];
};

describe('RowBinaryWriter.utf8', () => {
  it.each([
    { name: 'empty', text: '' },
    { name: 'short ASCII (hand copy)', text: 'br-tun' },
    { name: 'ASCII at the hand-copy limit (48)', text: 'x'.repeat(48) },
    { name: 'ASCII past it (49)', text: 'y'.repeat(49) },
    { name: 'ASCII of 127 bytes: one-byte prefix', text: 'a'.repeat(127) },
    { name: 'ASCII of 128 bytes: two-byte prefix', text: 'b'.repeat(128) },
    { name: 'short, not ASCII (hand copy gives up half-way)', text: 'tap-ñ' },
    { name: '100 units, 128 bytes: the prefix guessed one byte, needs two', text: `${'é'.repeat(28)}${'c'.repeat(72)}` },
    { name: '50 units of 3 bytes: 150 bytes, two-byte prefix', text: '路'.repeat(50) },
    { name: 'surrogate pairs (4 bytes for 2 units)', text: '🚦'.repeat(40) },
    { name: 'a lone surrogate (U+FFFD, as Buffer writes it)', text: 'a\ud800b' },
    { name: 'long: three-byte prefix', text: `table=3, priority=0 actions=drop ${'ü'.repeat(9000)}` },
  ])('$name', ({ text }) => {
    expect(written((w) => w.utf8(text))).toEqual(reference(text));
    // the same bytes as text(), the sample tables' way
    expect(written((w) => w.utf8(text))).toEqual(written((w) => w.text(text)));
  });

  it('any string, after anything already written', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ unit: 'binary', maxLength: 300, size: 'max' }), { maxLength: 8 }), fc.nat(40), (texts, lead) => {
        const got = written((w) => {
          for (let i = 0; i < lead; i++) w.u8(i);
          w.utf8Array(texts);
        });
        const want = [...Array.from({ length: lead }, (_, i) => i), ...leb128(texts.length), ...texts.flatMap(reference)];
        expect(got).toEqual(want);
      }),
    );
  });
});

describe('RowBinaryWriter.f32', () => {
  it.each([0, 1, -1.5, 0.3, 1 / 3, 3.4e38, Number.MIN_VALUE])('%s as the nearest Float32, little-endian', (value) => {
    const want = Buffer.alloc(4);
    want.writeFloatLE(value);
    expect(written((w) => w.f32(value))).toEqual([...want]);
  });
});
