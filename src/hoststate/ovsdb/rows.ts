// OVSDB rows as the list-style outputs carry them, in both of their forms:
//
// JSON table (lib/table.c table_print_json, `--format=json`; one object per table):
//   {"caption": "<table> table"?, "data": [[<datum>, ...], ...], "headings": ["_uuid", <column>, ...]}
// Text records (lib/table.c table_print_list, `ovs-vsctl list`, `ovsdb-client -f list`):
//   <column><spaces> ": " <datum>     one line per column, the name padded to 20 characters
//   <blank line>                      between rows
// Every row is keyed by its `_uuid` column; a row without one cannot be referred to and is reported.
import { issueText, type ParseIssue } from '../snapshot.js';
import { DatumError, datumFromJson, parseTextDatum, type OvsdbDatum } from './datum.js';

/** One row's columns by name (`_uuid` and `_version` left out). */
export type OvsdbColumns = Map<string, OvsdbDatum>;
/** A table's rows by UUID. */
export type OvsdbRows = Map<string, OvsdbColumns>;
/** Tables by name ("Bridge", "Interface"...). A table that is absent was not in the input: unknown, not empty. */
export type OvsdbTables = Map<string, OvsdbRows>;

const UUID_COLUMN = '_uuid';
const HIDDEN_COLUMNS = new Set([UUID_COLUMN, '_version']);

/** 1-based line of a character position in a text. */
export function lineAt(text: string, position: number): number {
  let line = 1;
  for (let i = 0; i < position && i < text.length; i++) if (text.charCodeAt(i) === 10) line++;
  return line;
}

/** JSON.parse, with the line of a syntax error for the issue. */
export function parseJsonText(text: string, source: string, firstLine: number, issues: ParseIssue[]): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const position = /position (\d+)/.exec(message)?.[1];
    const line = position === undefined ? firstLine + lineAt(text, text.length) - 1 : firstLine + lineAt(text, Number(position)) - 1;
    issues.push({ source, line, message: `not JSON (cut short?): ${message}`, text: issueText(text.split('\n')[line - firstLine] ?? '') });
    return undefined;
  }
}

/** Rows of one JSON table object; a row that cannot be read is reported and left out. */
export function rowsFromJsonTable(table: unknown, source: string, line: number, issues: ParseIssue[]): OvsdbRows | undefined {
  const rows: OvsdbRows = new Map();
  if (typeof table !== 'object' || table === null || !('headings' in table) || !('data' in table)) {
    issues.push({ source, line, message: 'expected a table object with "headings" and "data"' });
    return undefined;
  }
  const { headings, data } = table;
  if (!Array.isArray(headings) || !headings.every((h): h is string => typeof h === 'string') || !Array.isArray(data)) {
    issues.push({ source, line, message: '"headings" must be an array of column names and "data" an array of rows' });
    return undefined;
  }
  const uuidAt = headings.indexOf(UUID_COLUMN);
  if (uuidAt < 0) {
    issues.push({ source, line, message: `no ${UUID_COLUMN} column: rows cannot be referred to` });
    return undefined;
  }
  data.forEach((row: unknown, index) => {
    if (!Array.isArray(row) || row.length !== headings.length) {
      issues.push({ source, line, message: `row ${index}: expected ${headings.length} values`, text: issueText(JSON.stringify(row) ?? '') });
      return;
    }
    try {
      const uuid = uuidOfDatum(datumFromJson(row[uuidAt]));
      const columns: OvsdbColumns = new Map();
      headings.forEach((name, i) => {
        if (!HIDDEN_COLUMNS.has(name)) columns.set(name, datumFromJson(row[i]));
      });
      rows.set(uuid, columns);
    } catch (error) {
      if (!(error instanceof DatumError)) throw error;
      issues.push({ source, line, message: `row ${index}: ${error.message}`, text: issueText(JSON.stringify(row) ?? '') });
    }
  });
  return rows;
}

function uuidOfDatum(datum: OvsdbDatum): string {
  const [atom] = datum.kind === 'set' ? datum.atoms : [];
  if (datum.kind === 'set' && datum.atoms.length === 1 && typeof atom === 'object') return atom.uuid;
  throw new DatumError(`${UUID_COLUMN} is not a UUID`);
}

/**
 * Text records: `column : value` lines, rows apart by blank lines. `lines[i]` is line
 * `firstLine + i` of the source. A line that cannot be read is reported; its row keeps the rest.
 */
export function rowsFromTextRecords(lines: readonly string[], source: string, firstLine: number, issues: ParseIssue[]): OvsdbRows {
  const rows: OvsdbRows = new Map();
  let columns: OvsdbColumns | undefined;
  let uuid: string | undefined;
  let recordLine = firstLine;
  const finish = (): void => {
    if (columns === undefined) return;
    if (uuid === undefined) issues.push({ source, line: recordLine, message: `record without ${UUID_COLUMN}: left out` });
    else rows.set(uuid, columns);
    columns = undefined;
    uuid = undefined;
  };
  lines.forEach((raw, i) => {
    const line = firstLine + i;
    const text = raw.replace(/\r$/, '');
    if (text.trim() === '') {
      finish();
      return;
    }
    if (columns === undefined) {
      columns = new Map();
      recordLine = line;
    }
    const colon = text.indexOf(':');
    const name = colon < 0 ? '' : text.slice(0, colon).trim();
    if (!/^[A-Za-z_][A-Za-z0-9_-]*$/.test(name)) {
      issues.push({ source, line, message: 'expected "column : value"', text: issueText(text) });
      return;
    }
    try {
      const datum = parseTextDatum(text.slice(colon + 1));
      if (name === UUID_COLUMN) uuid = uuidOfDatum(datum);
      else if (!HIDDEN_COLUMNS.has(name)) columns.set(name, datum);
    } catch (error) {
      if (!(error instanceof DatumError)) throw error;
      issues.push({ source, line, message: `column ${name}: ${error.message}`, text: issueText(text) });
    }
  });
  finish();
  return rows;
}
