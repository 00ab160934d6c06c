import { describe, expect, it } from 'vitest';
import { RowBinaryWriter } from './row-binary.js';
import { RowBinaryReader } from './row-binary-reader.test-support.js';

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');

describe('RowBinaryWriter', () => {
  it.each([
    { name: 'u8', write: (w: RowBinaryWriter) => w.u8(0xfe), bytes: 'fe' },
    { name: 'bool', write: (w: RowBinaryWriter) => { w.bool(true); w.bool(false); }, bytes: '0100' },
    { name: 'u16 little-endian', write: (w: RowBinaryWriter) => w.u16(0x1234), bytes: '3412' },
    { name: 'u32 little-endian', write: (w: RowBinaryWriter) => w.u32(0x40000100), bytes: '00010040' },
    { name: 'i64 of a millisecond time', write: (w: RowBinaryWriter) => w.i64(1_704_164_645_678), bytes: '2edb20c88c010000' },
    { name: 'i64 of -1 (unknown offset)', write: (w: RowBinaryWriter) => w.i64(-1), bytes: 'ffffffffffffffff' },
    { name: 'u64 above 2^53', write: (w: RowBinaryWriter) => w.u64(0x8000_0000_0000_0001n), bytes: '0100000000000080' },
    { name: 'empty string', write: (w: RowBinaryWriter) => w.ascii(''), bytes: '00' },
    { name: 'ascii', write: (w: RowBinaryWriter) => w.ascii('::'), bytes: '023a3a' },
    { name: 'utf-8 text counts bytes', write: (w: RowBinaryWriter) => w.text('é'), bytes: '02c3a9' },
    { name: 'blob keeps every byte', write: (w: RowBinaryWriter) => w.blob(Uint8Array.of(0, 9, 10, 92, 255)), bytes: '0500090a5cff' },
    { name: 'array of u16', write: (w: RowBinaryWriter) => w.u16Array([100, 4095]), bytes: '026400ff0f' },
    { name: 'array of words', write: (w: RowBinaryWriter) => w.asciiArray(['eth', 'ip']), bytes: '0203657468026970' },
    { name: 'text map', write: (w: RowBinaryWriter) => w.textMap({ a: 'b' }), bytes: '0101610162' },
    { name: 'number map', write: (w: RowBinaryWriter) => w.numberMap({ a: 1.5 }), bytes: '010161000000000000f83f' },
  ])('$name', ({ write, bytes }) => {
    const w = new RowBinaryWriter(16);
    write(w);
    expect(hex(w.bytes())).toBe(bytes);
  });

  it('writes LEB128 lengths past one byte, short and long strings alike', () => {
    const w = new RowBinaryWriter(8);
    const short = 'x'.repeat(130);
    const long = 'y'.repeat(70_000);
    w.ascii(short);
    w.ascii(long);
    w.text(`${long}é`);
    const r = new RowBinaryReader(w.bytes());
    expect(Buffer.from(r.value('String') as Uint8Array).toString()).toBe(short);
    expect(Buffer.from(r.value('String') as Uint8Array).toString()).toBe(long);
    expect(Buffer.from(r.value('String') as Uint8Array).toString()).toBe(`${long}é`);
    expect(r.done).toBe(true);
  });

  it('grows from a tiny buffer without losing what it holds, and reset() starts over', () => {
    const w = new RowBinaryWriter(4);
    for (let i = 0; i < 1000; i++) w.u32(i);
    const r = new RowBinaryReader(w.bytes());
    for (let i = 0; i < 1000; i++) expect(r.value('UInt32')).toBe(i);
    w.reset();
    expect(w.length).toBe(0);
    w.u8(7);
    expect(hex(w.bytes())).toBe('07');
  });
});
