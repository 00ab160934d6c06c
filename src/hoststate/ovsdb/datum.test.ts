import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DatumError, datumFromJson, datumToJson, parseTextDatum, stringMapOf, type OvsdbAtom, type OvsdbDatum } from './datum.js';

const set = (...atoms: OvsdbAtom[]): OvsdbDatum => ({ kind: 'set', atoms });
const U = '5f1a3c1e-7d0b-4c8e-9a51-0f7e2b8c1d01';

describe('parseTextDatum', () => {
  it.each([
    { name: 'bare string', text: 'br-int', want: set('br-int') },
    { name: 'bare string with digits', text: 'tap1', want: set('tap1') },
    { name: 'quoted string', text: '"6a:61:66:66:c1:3e"', want: set('6a:61:66:66:c1:3e') },
    { name: 'empty string', text: '""', want: set('') },
    { name: 'integer', text: '1500', want: set(1500) },
    { name: 'negative integer (ofport -1)', text: '-1', want: set(-1) },
    { name: 'real', text: '0.5', want: set(0.5) },
    { name: 'booleans', text: 'false', want: set(false) },
    { name: 'bare UUID is a reference', text: U, want: set({ uuid: U }) },
    { name: 'quoted UUID is a string', text: `"${U}"`, want: set(U) },
    { name: 'empty set', text: '[]', want: set() },
    { name: 'set of integers', text: '[100, 101]', want: set(100, 101) },
    { name: 'set of references', text: `[${U}, ${U}]`, want: set({ uuid: U }, { uuid: U }) },
    { name: 'empty map', text: '{}', want: { kind: 'map', pairs: [] } },
    {
      name: 'map with quoted values',
      text: '{attached-mac="fa:16:3e:11:22:01", iface-status=active}',
      want: { kind: 'map', pairs: [['attached-mac', 'fa:16:3e:11:22:01'], ['iface-status', 'active']] },
    },
    {
      name: 'map value with every escape',
      text: '{hoptrace-note="a \\"b\\", c=d\\\\e f"}',
      want: { kind: 'map', pairs: [['hoptrace-note', 'a "b", c=d\\e f']] },
    },
    { name: 'unicode escape', text: '"caf\\u00e9"', want: set('café') },
    { name: 'leading spaces (after the colon)', text: '   [1]', want: set(1) },
  ])('$name', ({ text, want }) => {
    expect(parseTextDatum(text)).toEqual(want);
  });

  it.each([
    { name: 'unterminated string', text: '"abc' },
    { name: 'unclosed set (cut short)', text: '[1, 2' },
    { name: 'unclosed map', text: '{a=b, c=' },
    { name: 'map pair without =', text: '{a}' },
    { name: 'trailing text', text: '1 2' },
    { name: 'a word that is no atom', text: '1abc' },
    { name: 'nothing', text: '' },
    { name: 'bad escape', text: '"\\q"' },
  ])('rejects $name with a DatumError', ({ text }) => {
    expect(() => parseTextDatum(text)).toThrow(DatumError);
  });

  it('reads any string printed as a quoted JSON string back', () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), (key, value) => {
        const datum = parseTextDatum(`{${JSON.stringify(key)}=${JSON.stringify(value)}}`);
        expect(stringMapOf(datum)[key]).toBe(value);
      }),
    );
  });

  it('gives a datum or a DatumError for any text, never another exception', () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom(...'[]{}=", \\a1-.:'.split('')), maxLength: 40 }), (text) => {
        try {
          parseTextDatum(text);
        } catch (error) {
          expect(error).toBeInstanceOf(DatumError);
        }
      }),
    );
  });
});

describe('datumFromJson', () => {
  it.each([
    { name: 'atom', json: 'br-int', want: set('br-int') },
    { name: 'empty set', json: ['set', []], want: set() },
    { name: 'set', json: ['set', ['OpenFlow10', 'OpenFlow13']], want: set('OpenFlow10', 'OpenFlow13') },
    { name: 'uuid', json: ['uuid', U], want: set({ uuid: U }) },
    { name: 'map', json: ['map', [['peer', 'patch-int']]], want: { kind: 'map', pairs: [['peer', 'patch-int']] } },
  ] satisfies Array<{ name: string; json: unknown; want: OvsdbDatum }>)('$name', ({ json, want }) => {
    expect(datumFromJson(json)).toEqual(want);
    expect(datumFromJson(datumToJson(want))).toEqual(want);
  });

  it.each([
    { name: 'object', json: { a: 1 } },
    { name: 'null', json: null },
    { name: 'set without array', json: ['set', 1] },
    { name: 'map pair of three', json: ['map', [[1, 2, 3]]] },
    { name: 'uuid without text', json: ['uuid', 5] },
    { name: 'nested set', json: ['set', [['set', []]]] },
  ])('rejects $name', ({ json }) => {
    expect(() => datumFromJson(json)).toThrow(DatumError);
  });
});

describe('stringMapOf', () => {
  it('sorts keys, reads an empty set as an empty map, and is safe with a __proto__ key', () => {
    const map = stringMapOf({ kind: 'map', pairs: [['b', '2'], ['__proto__', 'x'], ['a', 1]] });
    expect(Object.keys(map)).toEqual(['__proto__', 'a', 'b']);
    expect(map['__proto__']).toBe('x');
    expect(map['a']).toBe('1');
    expect(stringMapOf(set())).toEqual({});
  });
});
