// Big-endian (XDR) cursor over a datagram, or over one sample or record window of it.
//
// Every read is bounds-checked against the window and labelled with the spec's field name, so a
// short or lying datagram fails with the absolute byte offset and the path of the field
// ("datagram/sample[1]/record[0]/header_length"). The path is built only when an error is raised:
// windows keep a link to their parent and a label, never a formatted string (hot path).
import { DecodeError, type DecodeErrorCode } from '../errors.js';

export class Reader {
  /** The whole datagram; windows share it. */
  readonly bytes: Uint8Array;
  readonly #view: DataView;
  /** Absolute offset where this window starts / ends (exclusive) in `bytes`. */
  readonly start: number;
  readonly end: number;
  #pos: number;
  readonly #parent: Reader | undefined;
  readonly #label: string;
  readonly #index: number; // -1 when the label has no index

  constructor(bytes: Uint8Array, view?: DataView, start = 0, end = bytes.byteLength, parent?: Reader, label = 'datagram', index = -1) {
    this.bytes = bytes;
    this.#view = view ?? new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.start = start;
    this.end = end;
    this.#pos = start;
    this.#parent = parent;
    this.#label = label;
    this.#index = index;
  }

  /** Absolute offset of the next byte to read. */
  get offset(): number { return this.#pos; }
  get remaining(): number { return this.end - this.#pos; }
  get length(): number { return this.end - this.start; }

  u8(field: string): number {
    if (this.#pos + 1 > this.end) this.#short(1, field);
    return this.#view.getUint8(this.#pos++);
  }

  u16(field: string): number {
    if (this.#pos + 2 > this.end) this.#short(2, field);
    const value = this.#view.getUint16(this.#pos);
    this.#pos += 2;
    return value;
  }

  u32(field: string): number {
    if (this.#pos + 4 > this.end) this.#short(4, field);
    const value = this.#view.getUint32(this.#pos);
    this.#pos += 4;
    return value;
  }

  i32(field: string): number {
    if (this.#pos + 4 > this.end) this.#short(4, field);
    const value = this.#view.getInt32(this.#pos);
    this.#pos += 4;
    return value;
  }

  /** counter64 / unsigned hyper. */
  u64(field: string): bigint {
    if (this.#pos + 8 > this.end) this.#short(8, field);
    const value = this.#view.getBigUint64(this.#pos);
    this.#pos += 8;
    return value;
  }

  /** 64-bit value that is known to stay below 2^53 in practice (e.g. an uptime): a number. */
  u64AsNumber(field: string): number {
    if (this.#pos + 8 > this.end) this.#short(8, field);
    const high = this.#view.getUint32(this.#pos);
    const low = this.#view.getUint32(this.#pos + 4);
    this.#pos += 8;
    return high * 0x1_0000_0000 + low;
  }

  /** IEEE 754 single precision (float in XDR). */
  f32(field: string): number {
    if (this.#pos + 4 > this.end) this.#short(4, field);
    const value = this.#view.getFloat32(this.#pos);
    this.#pos += 4;
    return value;
  }

  /** The next `n` bytes, shared with the datagram (no copy). */
  take(n: number, field: string): Uint8Array {
    if (n < 0 || this.#pos + n > this.end) this.#short(n, field);
    const out = this.bytes.subarray(this.#pos, this.#pos + n);
    this.#pos += n;
    return out;
  }

  /**
   * Moves past the next `n` bytes and returns the absolute offset where they start, for fixed-size
   * fields formatted straight from `bytes` (addresses): no subarray per read on the hot path.
   */
  advance(n: number, field: string): number {
    if (n < 0 || this.#pos + n > this.end) this.#short(n, field);
    const at = this.#pos;
    this.#pos += n;
    return at;
  }

  skip(n: number, field: string): void {
    if (n < 0 || this.#pos + n > this.end) this.#short(n, field);
    this.#pos += n;
  }

  /**
   * XDR variable-length opaque: a u32 length, the bytes, padding to 4. `max` bounds the length the
   * spec allows (e.g. 256 for a host name). Missing padding at the very end of the window is
   * tolerated (goflow2-drop-extended-function-unpadded: record length 10).
   */
  opaque(field: string, max = Number.MAX_SAFE_INTEGER): Uint8Array {
    const n = this.u32(`${field}.length`);
    if (n > max) throw this.error('bad-length', `length ${n} over the ${max} the spec allows`, field);
    const out = this.take(n, field);
    const pad = (4 - (n & 3)) & 3;
    this.#pos = Math.min(this.#pos + pad, this.end);
    return out;
  }

  /** XDR string<max>: ASCII/UTF-8 text. */
  string(field: string, max = Number.MAX_SAFE_INTEGER): string {
    const bytes = this.opaque(field, max);
    return textDecoder.decode(bytes);
  }

  /** Window over the next `length` bytes; this reader is past them whatever the child does. */
  sub(length: number, label: string, index = -1): Reader {
    if (length < 0 || this.#pos + length > this.end) {
      throw this.error('truncated', `length ${length} runs past the end of ${this.#pathOf()} at byte ${this.end} (${this.end - this.#pos} left)`, indexed(label, index));
    }
    const start = this.#pos;
    this.#pos += length;
    return new Reader(this.bytes, this.#view, start, start + length, this, label, index);
  }

  /** The bytes of the whole window, shared. */
  whole(): Uint8Array {
    return this.bytes.subarray(this.start, this.end);
  }

  /** An error at the next byte to read, or at `offset` (absolute) when the bad field was already read. */
  error(code: DecodeErrorCode, detail: string, field?: string, offset = this.#pos): DecodeError {
    const base = this.#pathOf();
    return new DecodeError(code, detail, { offset, path: field === undefined ? base : `${base}/${field}` });
  }

  /** The path of this window: "datagram/sample[1]/record[0]". */
  get path(): string { return this.#pathOf(); }

  #pathOf(): string {
    const own = indexed(this.#label, this.#index);
    return this.#parent === undefined ? own : `${this.#parent.#pathOf()}/${own}`;
  }

  #short(n: number, field: string): never {
    throw this.error('truncated', `need ${n} bytes, ${this.end - this.#pos} left`, field);
  }
}

const textDecoder = new TextDecoder('utf-8', { fatal: false });

function indexed(label: string, index: number): string {
  return index < 0 ? label : `${label}[${index}]`;
}
