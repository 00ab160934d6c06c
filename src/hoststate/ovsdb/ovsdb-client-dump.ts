// `ovsdb-client dump` of the Open_vSwitch database, in both forms:
//
// `-f json` (the agent, `--data=json` or not: ovsdb-client prints JSON data notation in JSON tables):
//   one JSON table object per line, each with "caption": "<table> table" (see rows.ts)
// `-f list` (sos 4.0 `ovsdb-client -f list dump`):
//   <table> " table"          a caption line per table, in name order
//   text records              see rows.ts; an empty table has none
// A table cut short keeps the rows before the cut; the tables before it are whole.
import { issueText, type Parsed } from '../snapshot.js';
import { parseJsonText, rowsFromJsonTable, rowsFromTextRecords, type OvsdbTables } from './rows.js';

const CAPTION = /^([A-Za-z_][A-Za-z0-9_]*) table$/;

export function parseOvsdbClientDump(text: string, source: string): Parsed<OvsdbTables> {
  return text.trimStart().startsWith('{') ? parseJsonDump(text, source) : parseListDump(text, source);
}

function parseJsonDump(text: string, source: string): Parsed<OvsdbTables> {
  const tables: OvsdbTables = new Map();
  const issues: Parsed<OvsdbTables>['issues'] = [];
  text.split('\n').forEach((raw, i) => {
    const line = i + 1;
    if (raw.trim() === '') return;
    const json = parseJsonText(raw, source, line, issues);
    if (json === undefined) return;
    const caption = typeof json === 'object' && json !== null && 'caption' in json && typeof json.caption === 'string' ? json.caption : '';
    const name = CAPTION.exec(caption)?.[1];
    if (name === undefined) {
      issues.push({ source, line, message: 'table without a "<name> table" caption: left out', text: issueText(raw) });
      return;
    }
    const rows = rowsFromJsonTable(json, source, line, issues);
    if (rows !== undefined) tables.set(name, rows);
  });
  return { value: tables, issues };
}

function parseListDump(text: string, source: string): Parsed<OvsdbTables> {
  const tables: OvsdbTables = new Map();
  const issues: Parsed<OvsdbTables>['issues'] = [];
  const lines = text.split('\n');
  let table: string | undefined;
  let start = 0;
  const finish = (end: number): void => {
    const body = lines.slice(start, end);
    if (table !== undefined) tables.set(table, rowsFromTextRecords(body, source, start + 1, issues));
    else body.forEach((l, i) => {
      if (l.trim() !== '') issues.push({ source, line: start + i + 1, message: 'line before the first "<name> table" caption', text: issueText(l) });
    });
  };
  lines.forEach((raw, i) => {
    const name = CAPTION.exec(raw.trim())?.[1];
    if (name === undefined || raw.includes(':')) return;
    finish(i);
    table = name;
    start = i + 1;
  });
  finish(lines.length);
  return { value: tables, issues };
}
