// OVSDB values in both notations the tools print, read into one form.
//
// JSON notation (RFC 7047 §5.1, what `--data=json`, `ovsdb-client -f json` and JSON-RPC carry):
//   <datum> = <atom> | ["set", [<atom>*]] | ["map", [[<atom>, <atom>]*]]
//   <atom>  = <string> | <number> | <boolean> | ["uuid", "<uuid>"] | ["named-uuid", "<id>"]
// Text notation (ovsdb_datum_to_string in lib/ovsdb-data.c, what `ovs-vsctl list` and
// `ovsdb-client -f list` print, and so what sosreport stores):
//   <datum> = <atom> | "[" [<atom> (", " <atom>)*] "]" | "{" [<atom> "=" <atom> (", " ...)*] "}"
//   <atom>  = a JSON string in quotes | a bare word: a number, true/false, a UUID, or a string
// A string is printed bare only when it cannot be read as anything else (it starts with a letter or
// `_`, has only letters, digits, `_`, `-`, `.`, and is not true/false/a UUID: string_needs_quotes),
// so a bare word's type follows from its spelling and no schema is needed.
//
// Both become an OvsdbDatum: a set (a lone atom is a set of one, as RFC 7047 says) or a map.
import { HoptraceError } from '../../errors.js';

/** A reference to a row (RFC 7047 <uuid>). */
export interface OvsdbUuid {
  uuid: string;
}

export type OvsdbAtom = string | number | boolean | OvsdbUuid;

export type OvsdbDatum =
  | { kind: 'set'; atoms: OvsdbAtom[] }
  | { kind: 'map'; pairs: Array<[OvsdbAtom, OvsdbAtom]> };

/** Why a value could not be read (code `bad-format`); the caller adds where (parsers make it a ParseIssue). */
export class DatumError extends HoptraceError {
  override readonly name = 'DatumError';
  constructor(message: string, options?: ErrorOptions) {
    super('bad-format', message, options);
  }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
// A JSON number, as ovsdb_atom_to_string prints integers (%lld) and reals (%.*g).
const NUMBER = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$/;
const BARE_STRING = /^[A-Za-z_][A-Za-z0-9_.-]*$/;

export function isUuid(text: string): boolean {
  return UUID.test(text);
}

// ---------------------------------------------------------------------------------------------
// JSON notation

/** Reads one datum of RFC 7047 JSON notation (already JSON.parse'd). */
export function datumFromJson(value: unknown): OvsdbDatum {
  if (Array.isArray(value) && value[0] === 'set') {
    const atoms = value[1];
    if (value.length !== 2 || !Array.isArray(atoms)) throw new DatumError('["set", ...] needs one array of atoms');
    return { kind: 'set', atoms: atoms.map((a: unknown) => atomFromJson(a)) };
  }
  if (Array.isArray(value) && value[0] === 'map') {
    const pairs = value[1];
    if (value.length !== 2 || !Array.isArray(pairs)) throw new DatumError('["map", ...] needs one array of pairs');
    return {
      kind: 'map',
      pairs: pairs.map((pair: unknown): [OvsdbAtom, OvsdbAtom] => {
        if (!Array.isArray(pair) || pair.length !== 2) throw new DatumError('a map pair is [key, value]');
        return [atomFromJson(pair[0]), atomFromJson(pair[1])];
      }),
    };
  }
  return { kind: 'set', atoms: [atomFromJson(value)] };
}

export function atomFromJson(value: unknown): OvsdbAtom {
  if (typeof value === 'string' || typeof value === 'boolean') return value;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new DatumError(`number ${value} is not finite`);
    return value;
  }
  if (Array.isArray(value) && value.length === 2 && (value[0] === 'uuid' || value[0] === 'named-uuid') && typeof value[1] === 'string') {
    return { uuid: value[1] };
  }
  throw new DatumError(`not an OVSDB atom: ${shortJson(value)}`);
}

/** The JSON notation of a datum (what transact and the JSON forms carry). */
export function datumToJson(datum: OvsdbDatum): unknown {
  if (datum.kind === 'map') return ['map', datum.pairs.map(([k, v]) => [atomToJson(k), atomToJson(v)])];
  const [only] = datum.atoms;
  if (datum.atoms.length === 1 && only !== undefined) return atomToJson(only);
  return ['set', datum.atoms.map(atomToJson)];
}

function atomToJson(atom: OvsdbAtom): unknown {
  return typeof atom === 'object' ? ['uuid', atom.uuid] : atom;
}

function shortJson(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

// ---------------------------------------------------------------------------------------------
// Text notation

/** Reads one datum of ovs-vsctl's text notation (the part after `column : `). */
export function parseTextDatum(text: string): OvsdbDatum {
  const cursor = { text, pos: 0 };
  skipSpaces(cursor);
  let datum: OvsdbDatum;
  const first = text[cursor.pos];
  if (first === '[') {
    cursor.pos++;
    datum = { kind: 'set', atoms: list(cursor, ']', () => textAtom(cursor)) };
  } else if (first === '{') {
    cursor.pos++;
    datum = {
      kind: 'map',
      pairs: list(cursor, '}', (): [OvsdbAtom, OvsdbAtom] => {
        const key = textAtom(cursor);
        skipSpaces(cursor);
        if (text[cursor.pos] !== '=') throw new DatumError(`expected "=" after a map key at column ${cursor.pos + 1}`);
        cursor.pos++;
        skipSpaces(cursor);
        return [key, textAtom(cursor)];
      }),
    };
  } else {
    datum = { kind: 'set', atoms: [textAtom(cursor)] };
  }
  skipSpaces(cursor);
  if (cursor.pos < text.length) throw new DatumError(`unexpected ${JSON.stringify(text.slice(cursor.pos, cursor.pos + 20))} at column ${cursor.pos + 1}`);
  return datum;
}

interface Cursor {
  text: string;
  pos: number;
}

function list<T>(cursor: Cursor, close: string, item: () => T): T[] {
  const out: T[] = [];
  skipSpaces(cursor);
  if (cursor.text[cursor.pos] === close) {
    cursor.pos++;
    return out;
  }
  for (;;) {
    skipSpaces(cursor);
    out.push(item());
    skipSpaces(cursor);
    const c = cursor.text[cursor.pos];
    cursor.pos++;
    if (c === close) return out;
    if (c !== ',') throw new DatumError(c === undefined ? `missing "${close}" (value cut short?)` : `expected "," or "${close}" at column ${cursor.pos}`);
  }
}

function skipSpaces(cursor: Cursor): void {
  while (cursor.text[cursor.pos] === ' ' || cursor.text[cursor.pos] === '\t') cursor.pos++;
}

function textAtom(cursor: Cursor): OvsdbAtom {
  const { text } = cursor;
  if (text[cursor.pos] === '"') {
    const start = cursor.pos;
    let i = start + 1;
    while (i < text.length && text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
    if (i >= text.length) throw new DatumError(`unterminated string at column ${start + 1}`);
    cursor.pos = i + 1;
    try {
      return JSON.parse(text.slice(start, i + 1)) as string;
    } catch (error) {
      throw new DatumError(`bad string escape at column ${start + 1}`, { cause: error });
    }
  }
  const start = cursor.pos;
  while (cursor.pos < text.length && !' \t,=]}[{"'.includes(text[cursor.pos] ?? '')) cursor.pos++;
  const word = text.slice(start, cursor.pos);
  if (word === '') throw new DatumError(`expected a value at column ${start + 1}`);
  return bareAtom(word);
}

function bareAtom(word: string): OvsdbAtom {
  if (word === 'true') return true;
  if (word === 'false') return false;
  if (UUID.test(word)) return { uuid: word };
  if (NUMBER.test(word)) return Number(word);
  if (BARE_STRING.test(word)) return word;
  throw new DatumError(`${JSON.stringify(word)} is neither a number, a UUID nor a bare string`);
}

// ---------------------------------------------------------------------------------------------
// Reading a datum as what a column holds (the model builder's view)

/** The atoms of a set (a map gives none). */
export function atomsOf(datum: OvsdbDatum | undefined): OvsdbAtom[] {
  return datum?.kind === 'set' ? datum.atoms : [];
}

/** A string→string map (external_ids, options, other_config); an empty set reads as an empty map. */
export function stringMapOf(datum: OvsdbDatum | undefined): Record<string, string> {
  const out = Object.create(null) as Record<string, string>;
  if (datum?.kind !== 'map') return out;
  for (const [key, value] of [...datum.pairs].sort((a, b) => compareAtoms(a[0], b[0]))) out[atomText(key)] = atomText(value);
  return out;
}

/** An atom as text (a UUID gives its text). */
export function atomText(atom: OvsdbAtom): string {
  return typeof atom === 'object' ? atom.uuid : String(atom);
}

export function compareAtoms(a: OvsdbAtom, b: OvsdbAtom): number {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  const x = atomText(a);
  const y = atomText(b);
  return x < y ? -1 : x > y ? 1 : 0;
}
