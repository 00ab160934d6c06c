// `ovs-vsctl list TABLE`, in the agent's form (`--format=json --data=json`: one JSON table object,
// see rows.ts) or in the text form sosreport keeps (`ovs-vsctl -t 5 list interface`: text records).
// Both give the same rows; the form is told by the first character.
import type { Parsed } from '../snapshot.js';
import { parseJsonText, rowsFromJsonTable, rowsFromTextRecords, type OvsdbRows } from './rows.js';

export type VsctlListForm = 'json' | 'text';

/** The form of an `ovs-vsctl list` output: JSON when it starts with `{`. */
export function vsctlListForm(text: string): VsctlListForm {
  return text.trimStart().startsWith('{') ? 'json' : 'text';
}

/** Rows of one `ovs-vsctl list` output, by UUID. `source` names the file or command for issues. */
export function parseVsctlList(text: string, source: string): Parsed<OvsdbRows> {
  const issues: Parsed<OvsdbRows>['issues'] = [];
  if (vsctlListForm(text) === 'text') return { value: rowsFromTextRecords(text.split('\n'), source, 1, issues), issues };
  const lead = text.length - text.trimStart().length;
  const json = parseJsonText(text, source, 1, issues);
  if (json === undefined) return { value: new Map(), issues };
  const rows = rowsFromJsonTable(json, source, 1 + (text.slice(0, lead).match(/\n/g)?.length ?? 0), issues);
  return { value: rows ?? new Map(), issues };
}
