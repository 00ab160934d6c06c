// The agent's live view of OVSDB: one `monitor` of the model's tables and columns (statistics left
// out, so counters moving do not count as changes), the tables kept current from its updates, and
// a change event per update batch. Callers debounce the events before taking a snapshot.
import type { ParseIssue, Parsed } from '../snapshot.js';
import type { OvsdbClient, OvsdbMonitorRequest } from './client.js';
import { applyTableUpdates, summarizeUpdates, type OvsdbChange, type OvsdbTableUpdates } from './monitor.js';
import type { OvsdbTables } from './rows.js';
import { buildOvsdbState, OVSDB_MODEL_COLUMNS, OVSDB_MODEL_TABLES, type OvsdbState } from './state.js';

export interface OvsdbWatchOptions {
  /** Default Open_vSwitch. */
  database?: string;
  /** Default "hoptrace". */
  monitorId?: string;
}

export type OvsdbChangeListener = (change: OvsdbChange, issues: ParseIssue[]) => void;

export interface OvsdbWatch {
  readonly monitorId: string;
  /** The monitored tables as they are now. */
  tables(): OvsdbTables;
  /** The model of the tables as they are now. */
  state(): Parsed<OvsdbState>;
  /** Calls `listener` after each update batch has been applied; returns its removal. */
  onChange(listener: OvsdbChangeListener): () => void;
  /** Issues of the initial rows (rows the monitor sent that could not be read). */
  readonly initialIssues: ParseIssue[];
  /** Cancels the monitor (the connection stays open). */
  cancel(): Promise<void>;
}

/** Starts the monitor; resolves once the initial rows are in. */
export async function watchOvsdb(client: OvsdbClient, options: OvsdbWatchOptions = {}): Promise<OvsdbWatch> {
  const database = options.database ?? 'Open_vSwitch';
  const monitorId = options.monitorId ?? 'hoptrace';
  const requests: Record<string, OvsdbMonitorRequest> = {};
  for (const table of OVSDB_MODEL_TABLES) requests[table] = { columns: OVSDB_MODEL_COLUMNS[table] };
  let tables: OvsdbTables = new Map();
  let ready = false;
  const early: Array<[OvsdbTableUpdates, ParseIssue[]]> = [];
  const listeners = new Set<OvsdbChangeListener>();
  const apply = (updates: OvsdbTableUpdates, issues: ParseIssue[]): void => {
    tables = applyTableUpdates(tables, updates);
    const change = summarizeUpdates(updates);
    for (const listener of listeners) listener(change, issues);
  };
  // Registered before the request: an update may be read in the same chunk as the reply, before
  // the reply's promise settles; it waits for the initial rows.
  const removeListener = client.onUpdate((id, updates, issues) => {
    if (id !== monitorId) return;
    if (ready) apply(updates, issues);
    else early.push([updates, issues]);
  });
  let initial: Awaited<ReturnType<OvsdbClient['monitor']>>;
  try {
    initial = await client.monitor(database, monitorId, requests);
  } catch (error) {
    removeListener();
    throw error;
  }
  // The monitor sends no row of an empty table: every asked table is known, if empty.
  for (const table of OVSDB_MODEL_TABLES) tables.set(table, new Map());
  tables = applyTableUpdates(tables, initial.updates);
  ready = true;
  for (const [updates, issues] of early.splice(0)) apply(updates, issues);
  return {
    monitorId,
    tables: () => tables,
    state: () => buildOvsdbState(tables, `${client.address} monitor ${monitorId}`),
    onChange: (listener) => {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    initialIssues: initial.issues,
    cancel: async () => {
      removeListener();
      listeners.clear();
      if (!client.closed) await client.monitorCancel(monitorId);
    },
  };
}
