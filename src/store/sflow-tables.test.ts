import { describe, expect, it } from 'vitest';
import { RowBinaryReader, type WireValue } from './row-binary-reader.test-support.js';
import {
  COUNTER_WIRE,
  DATAGRAM_WIRE,
  DISCARD_WIRE,
  FLOW_WIRE,
  QUARANTINE_WIRE,
  encodeRows,
  writeCounterRow,
  writeDatagramRow,
  writeDiscardRow,
  writeFlowRow,
  writeQuarantineRow,
  type WireColumn,
} from './sflow-tables.js';
import type { RowBinaryWriter } from './row-binary.js';

// Columns holding raw bytes (Uint8Array in the row) rather than text.
const BYTE_COLUMNS = new Set(['header', 'raw']);

/** A value for column number `i` of `type`, distinct from every other column's. */
function sampleValue(name: string, type: string, i: number): unknown {
  if (BYTE_COLUMNS.has(name)) return Uint8Array.of(i, 9, 10, 92, 0, 255);
  switch (type) {
    case 'UInt8': return (i * 7 + 1) % 256;
    case 'Bool': return i % 2 === 0;
    case 'UInt16': return 1000 + i;
    case 'UInt32': return 100_000 + i;
    case 'UInt64': return 2n ** 63n + BigInt(i);
    case 'Int64': return -1 - i;
    case "DateTime64(3, 'UTC')": return 1_704_164_645_000 + i;
    case 'String': return `v${i}-${name}`;
    case 'Array(String)': return [`a${i}`, `b${i}`];
    case 'Array(UInt16)': return [i, i + 1, 4095];
    case 'Map(String, String)': return { [`k${i}`]: `v${i}` };
    case 'Map(String, Float64)': return { [`k${i}`]: i + 0.5 };
    default: throw new RangeError(`no sample value for ${type}`);
  }
}

/** The row value as the reader gives it back. */
function asWire(value: unknown): unknown {
  if (typeof value === 'string') return new Uint8Array(Buffer.from(value, 'utf8'));
  if (value instanceof Uint8Array) return new Uint8Array(value);
  if (Array.isArray(value)) return value.map(asWire);
  if (typeof value === 'object' && value !== null) {
    return new Map(Object.entries(value).map(([k, v]) => [k, asWire(v)]));
  }
  return value;
}

function normalise(value: WireValue): unknown {
  if (value instanceof Uint8Array) return new Uint8Array(value);
  if (Array.isArray(value)) return value.map(normalise);
  if (value instanceof Map) return new Map([...value].map(([k, v]) => [k, normalise(v)]));
  return value;
}

const TABLES: { name: string; wire: readonly WireColumn[]; write: (w: RowBinaryWriter, row: never) => void }[] = [
  { name: 'flow_samples', wire: FLOW_WIRE, write: writeFlowRow },
  { name: 'counter_samples', wire: COUNTER_WIRE, write: writeCounterRow },
  { name: 'discard_samples', wire: DISCARD_WIRE, write: writeDiscardRow },
  { name: 'sflow_datagrams', wire: DATAGRAM_WIRE, write: writeDatagramRow },
  { name: 'quarantine', wire: QUARANTINE_WIRE, write: writeQuarantineRow },
];

describe.each(TABLES)('$name', ({ wire, write }) => {
  it('has each column once', () => {
    const names = wire.map((column) => column[0]);
    expect(new Set(names).size).toBe(names.length);
  });

  it('writes every column where the wire list says, row after row', () => {
    const rows = [0, 1].map((shift) =>
      Object.fromEntries(wire.map(([name, type], i) => [name, sampleValue(name, type, i + shift * 1000)])),
    );
    const batch = encodeRows(rows as never[], wire, write as (w: RowBinaryWriter, row: never) => void);
    expect(batch.format).toBe('RowBinary');
    expect(batch.rowCount).toBe(2);
    const reader = new RowBinaryReader(batch.data);
    for (const row of rows) {
      const back = reader.row(wire);
      for (const [name] of wire) expect({ column: name, value: normalise(back[name] as WireValue) }).toEqual({ column: name, value: asWire(row[name]) });
    }
    expect(reader.done).toBe(true);
  });
});
