// ClickHouse RowBinary (docs "Formats: RowBinary"), written row by row into one growing buffer: the
// hot path's batch format. Compared with TabSeparated it needs no number-to-text conversion and no
// escaping on our side, and ClickHouse reads it without parsing text (measured: docs/schema.md).
//
//   (U)IntN, Float64   little-endian, N/8 bytes
//   Float32            little-endian, 4 bytes
//   Bool               one byte 0/1
//   Nullable(T)        one byte, 1 = NULL (nothing follows), 0 = a T follows
//   DateTime64(3)      Int64 milliseconds since the epoch
//   String             LEB128 length, then the bytes
//   Array(T)           LEB128 count, then the elements
//   Map(K, V)          LEB128 count, then key, value, key, value...
//
// Values whose wire type is simpler than the column's (IPv6 sent as its text, LowCardinality as a
// plain String) are converted by ClickHouse in INSERT ... SELECT (see EncodedRows.types).

const NON_ASCII = /[^\x00-\x7f]/;
const TWO_32 = 4294967296;
/** Strings up to this length are copied char by char (measured faster than Buffer#write). */
const SHORT = 48;

export class RowBinaryWriter {
  #buffer: Buffer;
  #view: DataView;
  #pos = 0;

  constructor(initialBytes = 1 << 20) {
    this.#buffer = Buffer.allocUnsafe(initialBytes);
    this.#view = new DataView(this.#buffer.buffer, this.#buffer.byteOffset, this.#buffer.byteLength);
  }

  get length(): number {
    return this.#pos;
  }

  /** Starts over, keeping the buffer: fresh memory is slow to touch (page faults), reuse is not. */
  reset(): void {
    this.#pos = 0;
  }

  /** The bytes written so far (a view: valid until the next write or reset). */
  bytes(): Buffer {
    return this.#buffer.subarray(0, this.#pos);
  }

  u8(value: number): void {
    this.#room(1);
    this.#buffer[this.#pos++] = value;
  }

  bool(value: boolean): void {
    this.#room(1);
    this.#buffer[this.#pos++] = value ? 1 : 0;
  }

  u16(value: number): void {
    this.#room(2);
    this.#view.setUint16(this.#pos, value, true);
    this.#pos += 2;
  }

  u32(value: number): void {
    this.#room(4);
    this.#view.setUint32(this.#pos, value, true);
    this.#pos += 4;
  }

  /** Int64 from a JS number (exact up to 2^53): DateTime64(3) milliseconds, offsets. */
  i64(value: number): void {
    this.#room(8);
    const high = Math.floor(value / TWO_32);
    this.#view.setUint32(this.#pos, value - high * TWO_32, true);
    this.#view.setInt32(this.#pos + 4, high, true);
    this.#pos += 8;
  }

  u64(value: bigint): void {
    this.#room(8);
    this.#view.setBigUint64(this.#pos, value, true);
    this.#pos += 8;
  }

  f64(value: number): void {
    this.#room(8);
    this.#view.setFloat64(this.#pos, value, true);
    this.#pos += 8;
  }

  /** Float32: the double rounded to the nearest float, as ClickHouse's Float64 -> Float32 cast. */
  f32(value: number): void {
    this.#room(4);
    this.#view.setFloat32(this.#pos, value, true);
    this.#pos += 4;
  }

  /** String known to be ASCII (addresses, MACs, kinds): no UTF-8 check. */
  ascii(text: string): void {
    const length = text.length;
    this.#room(length + 5);
    this.#leb128(length);
    if (length > SHORT) {
      this.#pos += this.#buffer.write(text, this.#pos, length, 'latin1');
      return;
    }
    // Short strings (most of them: IPs, MACs, '::', '') are cheaper copied by hand than through
    // Buffer#write's argument handling.
    const buffer = this.#buffer;
    let pos = this.#pos;
    for (let i = 0; i < length; i++) buffer[pos++] = text.charCodeAt(i);
    this.#pos = pos;
  }

  /** Any JS text, as UTF-8. */
  text(text: string): void {
    if (!NON_ASCII.test(text)) {
      this.ascii(text);
      return;
    }
    const length = Buffer.byteLength(text, 'utf8');
    this.#room(length + 5);
    this.#leb128(length);
    this.#pos += this.#buffer.write(text, this.#pos, length, 'utf8');
  }

  /**
   * Any JS text, as UTF-8, in one pass: no ASCII check first (text() scans each string twice when
   * it is long or not ASCII). For the path tables' free text: rules, doubts, notes, names.
   */
  utf8(text: string): void {
    const length = text.length;
    // UTF-16 units to UTF-8: at most 3 bytes each (a surrogate pair, 2 units, is 4 bytes)
    this.#room(length * 3 + 5);
    const buffer = this.#buffer;
    const start = this.#pos;
    if (length <= SHORT) {
      // copied by hand while ASCII, after a one-byte length (SHORT < 0x80)
      let pos = start + 1;
      let i = 0;
      for (; i < length; i++) {
        const code = text.charCodeAt(i);
        if (code >= 0x80) break;
        buffer[pos++] = code;
      }
      if (i === length) {
        buffer[start] = length;
        this.#pos = pos;
        return;
      }
    }
    // the bytes after a length prefix sized for `length` bytes (right when ASCII), moved when
    // the byte count needs a longer prefix
    const guess = lebSize(length);
    const bytes = buffer.write(text, start + guess, 'utf8');
    const need = lebSize(bytes);
    if (need !== guess) buffer.copyWithin(start + need, start + guess, start + guess + bytes);
    this.#pos = start;
    this.#leb128(bytes);
    this.#pos += bytes;
  }

  /** Array(String) of any JS text, through utf8(). */
  utf8Array(values: readonly string[]): void {
    this.#room(5);
    this.#leb128(values.length);
    for (let i = 0; i < values.length; i++) this.utf8(values[i] as string);
  }

  /** Raw bytes as a String value. */
  blob(bytes: Uint8Array): void {
    const length = bytes.byteLength;
    this.#room(length + 5);
    this.#leb128(length);
    this.#buffer.set(bytes, this.#pos);
    this.#pos += length;
  }

  u16Array(values: readonly number[]): void {
    const count = values.length;
    this.#room(count * 2 + 5);
    this.#leb128(count);
    for (let i = 0; i < count; i++) {
      this.#view.setUint16(this.#pos, values[i] as number, true);
      this.#pos += 2;
    }
  }

  asciiArray(values: readonly string[]): void {
    this.#room(5);
    this.#leb128(values.length);
    for (let i = 0; i < values.length; i++) this.ascii(values[i] as string);
  }

  /** Map(String, String). */
  textMap(map: Readonly<Record<string, string>>): void {
    let count = 0;
    for (const _key in map) count++;
    this.#room(5);
    this.#leb128(count);
    for (const key in map) {
      this.text(key);
      this.text(map[key] as string);
    }
  }

  /** Map(String, Float64). */
  numberMap(map: Readonly<Record<string, number>>): void {
    let count = 0;
    for (const _key in map) count++;
    this.#room(5);
    this.#leb128(count);
    for (const key in map) {
      this.text(key);
      this.f64(map[key] as number);
    }
  }

  #leb128(value: number): void {
    let rest = value;
    while (rest >= 0x80) {
      this.#buffer[this.#pos++] = (rest & 0x7f) | 0x80;
      rest >>>= 7;
    }
    this.#buffer[this.#pos++] = rest;
  }

  #room(bytes: number): void {
    if (this.#pos + bytes <= this.#buffer.byteLength) return;
    let size = this.#buffer.byteLength * 2;
    while (size < this.#pos + bytes) size *= 2;
    const bigger = Buffer.allocUnsafe(size);
    this.#buffer.copy(bigger, 0, 0, this.#pos);
    this.#buffer = bigger;
    this.#view = new DataView(bigger.buffer, bigger.byteOffset, bigger.byteLength);
  }
}

/** Bytes of `value` in LEB128. */
function lebSize(value: number): number {
  let size = 1;
  for (let rest = value; rest >= 0x80; rest = Math.floor(rest / 128)) size++;
  return size;
}
