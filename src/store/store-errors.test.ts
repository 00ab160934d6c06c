import { describe, expect, it } from 'vitest';
import { StoreError } from '../errors.js';
import { clickhouseCodeOf, isConnectionError, toStoreError } from './store-errors.js';
import { rowsToJsonEachRow, wireStructure } from './store.js';

class FakeChdbError extends Error {
  readonly code = 'CHDB_QUERY';
  readonly clickhouseCode: number;
  constructor(message: string, clickhouseCode: number) {
    super(message);
    this.clickhouseCode = clickhouseCode;
  }
}

const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:8123'), { code: 'ECONNREFUSED' });

describe('toStoreError', () => {
  it.each([
    { name: 'chdb syntax error', error: new FakeChdbError('Code: 62. DB::Exception: Syntax error\nmore', 62), code: 'query-failed', ch: 62, retriable: false },
    { name: 'memory limit', error: new FakeChdbError('Code: 241. DB::Exception: Memory limit', 241), code: 'query-failed', ch: 241, retriable: true },
    { name: 'server error with a numeric code string', error: Object.assign(new Error('Table x does not exist'), { code: '60' }), code: 'query-failed', ch: 60, retriable: false },
    { name: 'code only in the message', error: new Error('Code: 252. DB::Exception: Too many parts'), code: 'query-failed', ch: 252, retriable: true },
    { name: 'connection refused', error: refused, code: 'unavailable', ch: undefined, retriable: true },
    { name: 'connection refused as a cause', error: new Error('request failed', { cause: refused }), code: 'unavailable', ch: undefined, retriable: true },
    { name: 'not an Error', error: 'boom', code: 'query-failed', ch: undefined, retriable: false },
  ])('$name', ({ error, code, ch, retriable }) => {
    const e = toStoreError('query-failed', 'query', error, 'q-1');
    expect(e).toBeInstanceOf(StoreError);
    expect({ code: e.code, clickhouseCode: e.clickhouseCode, retriable: e.retriable, queryId: e.queryId }).toEqual({
      code, clickhouseCode: ch, retriable, queryId: 'q-1',
    });
    expect(e.cause).toBe(error);
    expect(e.message).not.toContain('\n');
  });

  it('passes a StoreError through', () => {
    const original = new StoreError('insert-failed', 'x');
    expect(toStoreError('query-failed', 'query', original, 'q')).toBe(original);
  });

  it('reads codes and connection failures from the usual places', () => {
    expect(clickhouseCodeOf({ clickhouseCode: 81 })).toBe(81);
    expect(clickhouseCodeOf(null)).toBeUndefined();
    expect(isConnectionError(new Error('socket hang up'))).toBe(true);
    expect(isConnectionError(new Error('Syntax error'))).toBe(false);
  });
});

describe('rowsToJsonEachRow', () => {
  it('writes one object per line and 64-bit values as exact decimal strings', () => {
    const text = rowsToJsonEachRow([{ a: 1, b: 18446744073709551615n, c: ['x'] }, { a: 2, b: null, c: [] }]);
    expect(text).toBe('{"a":1,"b":"18446744073709551615","c":["x"]}\n{"a":2,"b":null,"c":[]}\n');
  });
});

describe('wireStructure', () => {
  it('pairs names and types, and refuses a column name that is not an identifier', () => {
    const rows = { format: 'RowBinary', columns: ['a', 'b'], types: ['UInt8', "DateTime64(3, 'UTC')"], data: new Uint8Array(0), rowCount: 0 } as const;
    expect(wireStructure(rows)).toBe("a UInt8, b DateTime64(3, 'UTC')");
    expect(() => wireStructure({ ...rows, columns: ['a', 'b); DROP'] })).toThrow(RangeError);
  });
});
