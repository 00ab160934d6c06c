// A RowBinary reader for tests: reads rows back by a wire column list, to check that each table's
// writer puts every column where its list says. Only the wire types the sFlow tables use.
import type { WireColumn } from './sflow-tables.js';

export type WireValue = number | bigint | boolean | Uint8Array | WireValue[] | Map<string, WireValue>;

export class RowBinaryReader {
  readonly #view: DataView;
  readonly #bytes: Uint8Array;
  #pos = 0;
  constructor(bytes: Uint8Array) {
    this.#bytes = bytes;
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  get done(): boolean {
    return this.#pos >= this.#bytes.byteLength;
  }

  row(wire: readonly WireColumn[]): Record<string, WireValue> {
    const out: Record<string, WireValue> = {};
    for (const [name, type] of wire) out[name] = this.value(type);
    return out;
  }

  value(type: string): WireValue {
    const array = /^Array\((.*)\)$/.exec(type);
    if (array !== null) {
      const count = this.#leb128();
      const items: WireValue[] = [];
      for (let i = 0; i < count; i++) items.push(this.value(array[1] as string));
      return items;
    }
    const map = /^Map\(String, (.*)\)$/.exec(type);
    if (map !== null) {
      const count = this.#leb128();
      const entries = new Map<string, WireValue>();
      for (let i = 0; i < count; i++) {
        const key = Buffer.from(this.value('String') as Uint8Array).toString('utf8');
        entries.set(key, this.value(map[1] as string));
      }
      return entries;
    }
    const at = this.#pos;
    switch (type) {
      case 'UInt8':
        this.#pos += 1;
        return this.#view.getUint8(at);
      case 'Bool':
        this.#pos += 1;
        return this.#view.getUint8(at) === 1;
      case 'UInt16':
        this.#pos += 2;
        return this.#view.getUint16(at, true);
      case 'UInt32':
        this.#pos += 4;
        return this.#view.getUint32(at, true);
      case 'UInt64':
        this.#pos += 8;
        return this.#view.getBigUint64(at, true);
      case 'Int64':
      case "DateTime64(3, 'UTC')":
        this.#pos += 8;
        return Number(this.#view.getBigInt64(at, true));
      case 'Float64':
        this.#pos += 8;
        return this.#view.getFloat64(at, true);
      case 'String': {
        const length = this.#leb128();
        const start = this.#pos;
        this.#pos += length;
        if (this.#pos > this.#bytes.byteLength) throw new RangeError(`string of ${length} bytes runs past the end`);
        return this.#bytes.subarray(start, start + length);
      }
      default:
        throw new RangeError(`wire type ${type} not supported by the test reader`);
    }
  }

  #leb128(): number {
    let value = 0;
    let shift = 0;
    for (;;) {
      const byte = this.#bytes[this.#pos++];
      if (byte === undefined) throw new RangeError('LEB128 runs past the end');
      value += (byte & 0x7f) * 2 ** shift;
      if (byte < 0x80) return value;
      shift += 7;
    }
  }
}
