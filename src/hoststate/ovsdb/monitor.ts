// OVSDB `monitor` results and `update` notifications (RFC 7047 §4.1.5, §4.1.6) applied to tables.
//
//   <table-updates> = {<table>: {<uuid>: <row-update>, ...}, ...}
//   <row-update>    = {"old": <row>?, "new": <row>?}
//     insert: new only; delete: old only; modify: both, "new" holding every monitored column and
//     "old" only the columns that changed.
// The monitor's initial reply is table-updates of inserts, so one function builds and updates.
import { issueText, type ParseIssue, type Parsed } from '../snapshot.js';
import { DatumError, datumFromJson } from './datum.js';
import type { OvsdbColumns, OvsdbTables } from './rows.js';

export interface OvsdbRowUpdate {
  old: OvsdbColumns | null;
  new: OvsdbColumns | null;
}

/** Row updates by table, then by row UUID. */
export type OvsdbTableUpdates = Map<string, Map<string, OvsdbRowUpdate>>;

/** What an update batch changed, for the caller's "OVSDB changed" event. */
export interface OvsdbChange {
  /** Tables with at least one changed row, sorted. */
  tables: string[];
  inserted: number;
  modified: number;
  deleted: number;
}

/** Reads table-updates JSON; a table or row that is not of that shape is reported and skipped. */
export function parseTableUpdates(json: unknown, source: string): Parsed<OvsdbTableUpdates> {
  const issues: ParseIssue[] = [];
  const updates: OvsdbTableUpdates = new Map();
  if (!isObject(json)) {
    issues.push({ source, line: 0, message: 'table-updates must be a JSON object', text: issueText(JSON.stringify(json) ?? '') });
    return { value: updates, issues };
  }
  for (const [table, rows] of Object.entries(json)) {
    if (!isObject(rows)) {
      issues.push({ source, line: 0, message: `table ${table}: expected an object of row updates` });
      continue;
    }
    const tableUpdates = new Map<string, OvsdbRowUpdate>();
    for (const [uuid, update] of Object.entries(rows)) {
      try {
        if (!isObject(update)) throw new DatumError('a row update must be an object');
        tableUpdates.set(uuid, { old: columnsOf(update['old']), new: columnsOf(update['new']) });
      } catch (error) {
        if (!(error instanceof DatumError)) throw error;
        issues.push({ source, line: 0, message: `${table} ${uuid}: ${error.message}`, text: issueText(JSON.stringify(update) ?? '') });
      }
    }
    updates.set(table, tableUpdates);
  }
  return { value: updates, issues };
}

function columnsOf(row: unknown): OvsdbColumns | null {
  if (row === undefined || row === null) return null;
  if (!isObject(row)) throw new DatumError('a row must be an object of columns');
  const columns: OvsdbColumns = new Map();
  for (const [name, value] of Object.entries(row)) {
    if (name !== '_version' && name !== '_uuid') columns.set(name, datumFromJson(value));
  }
  return columns;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The tables after the updates; `tables` is left as it was (unchanged tables are shared). */
export function applyTableUpdates(tables: OvsdbTables, updates: OvsdbTableUpdates): OvsdbTables {
  const out: OvsdbTables = new Map(tables);
  for (const [table, rows] of updates) {
    const next = new Map(out.get(table) ?? []);
    for (const [uuid, update] of rows) {
      if (update.new === null) {
        next.delete(uuid);
        continue;
      }
      // "new" holds every monitored column of the row; columns it lacks were not monitored.
      const merged = new Map(next.get(uuid) ?? []);
      for (const [column, datum] of update.new) merged.set(column, datum);
      next.set(uuid, merged);
    }
    out.set(table, next);
  }
  return out;
}

export function summarizeUpdates(updates: OvsdbTableUpdates): OvsdbChange {
  const change: OvsdbChange = { tables: [], inserted: 0, modified: 0, deleted: 0 };
  for (const [table, rows] of updates) {
    if (rows.size === 0) continue;
    change.tables.push(table);
    for (const update of rows.values()) {
      if (update.old === null && update.new !== null) change.inserted++;
      else if (update.new === null) change.deleted++;
      else change.modified++;
    }
  }
  change.tables.sort();
  return change;
}
