// The OVSDB model of a snapshot: from whichever OVSDB outputs it holds (commands.ts ids), agent or
// sosreport alike. The `ovs-vsctl list` outputs come first; an `ovsdb-client dump` fills in tables
// no list gave; `ovs-vsctl show` fills in the ports when no Port table was read (sos keeps no
// `list port`). An output that failed to run is reported, not read.
import type { CommandOutput, ParseIssue, Parsed } from '../snapshot.js';
import { parseOvsdbClientDump } from './ovsdb-client-dump.js';
import type { OvsdbTables } from './rows.js';
import { buildOvsdbState, canonicalTableName, OVSDB_MODEL_TABLES, type OvsdbState } from './state.js';
import { vsctlListForm, parseVsctlList } from './vsctl-list.js';
import { mergeShow, parseVsctlShow } from './vsctl-show.js';

const LIST_ID = /^ovs-vsctl\.list\.(.+)$/;

/** The issue source of an output: its sos file, or its command id and argv. */
export function outputSource(output: CommandOutput): string {
  return output.origin === 'agent' ? `${output.id} (${output.argv.join(' ')})` : output.origin;
}

export function buildOvsdbStateFromOutputs(outputs: readonly CommandOutput[]): Parsed<OvsdbState> {
  const issues: ParseIssue[] = [];
  const tables: OvsdbTables = new Map();
  const sources = new Map<string, string>(); // table → the output it was read from
  const usable = outputs.filter((o) => {
    const ours = LIST_ID.test(o.id) || o.id === 'ovsdb-client.dump' || o.id === 'ovs-vsctl.show';
    if (ours && (o.exitCode !== 0 || o.error !== undefined)) {
      issues.push({ source: outputSource(o), line: 0, message: `not read: ${o.error ?? `exit code ${String(o.exitCode)}`}${o.stderr.trim() === '' ? '' : ` (${o.stderr.trim().slice(0, 160)})`}` });
      return false;
    }
    return ours;
  });
  for (const output of usable) {
    const table = LIST_ID.exec(output.id)?.[1];
    if (table === undefined) continue;
    const parsed = parseVsctlList(output.stdout, outputSource(output));
    issues.push(...parsed.issues);
    // A JSON list that could not be read at all is unknown, not empty (a text list cannot tell).
    if (vsctlListForm(output.stdout) === 'json' && parsed.value.size === 0 && parsed.issues.length > 0) continue;
    tables.set(canonicalTableName(table), parsed.value);
    sources.set(canonicalTableName(table), outputSource(output));
  }
  for (const output of usable.filter((o) => o.id === 'ovsdb-client.dump')) {
    const parsed = parseOvsdbClientDump(output.stdout, outputSource(output));
    issues.push(...parsed.issues);
    for (const [name, rows] of parsed.value) {
      const table = canonicalTableName(name);
      if (tables.has(table) || !(OVSDB_MODEL_TABLES as readonly string[]).includes(table)) continue;
      tables.set(table, rows);
      sources.set(table, outputSource(output));
    }
  }
  const built = buildOvsdbState(tables, sources);
  issues.push(...built.issues);
  let state = built.value;
  for (const output of usable.filter((o) => o.id === 'ovs-vsctl.show')) {
    const show = parseVsctlShow(output.stdout, outputSource(output));
    issues.push(...show.issues);
    state = mergeShow(state, show.value);
  }
  return { value: state, issues };
}
