// `ip netns` / `ip netns list` (text: `NAME` or `NAME (id: N)`, ip/ipnetns.c) and `ip -j netns
// list` (`[{"name": "...", "id": N}]`). The id is the namespace's nsid as seen from the namespace
// the command ran in; it is what `link-netnsid` of `ip link` refers to.
import type { ParseIssue, Parsed } from '../snapshot.js';
import { issue, isJsonText, isObject, jsonArrayElements, jsonNumber, jsonString, textLines } from './parse-util.js';

export interface NetnsEntry {
  name: string;
  /** nsid, or null when the namespace has none assigned here. */
  id: number | null;
}

const LINE = /^(\S+)(?:\s+\(id:\s*(\d+)\))?\s*$/;

export function parseIpNetns(text: string, source: string): Parsed<NetnsEntry[]> {
  const issues: ParseIssue[] = [];
  const value: NetnsEntry[] = [];
  if (isJsonText(text)) {
    for (const el of jsonArrayElements(text, source, issues)) {
      const name = isObject(el.value) ? jsonString(el.value, 'name') : null;
      if (name === null || !isObject(el.value)) issues.push(issue(source, el.line, 'namespace without a name'));
      else value.push({ name, id: jsonNumber(el.value, 'id') });
    }
    return { value, issues };
  }
  textLines(text).forEach((raw, i) => {
    if (raw.trim() === '') return;
    const m = LINE.exec(raw.trim());
    if (m === null) issues.push(issue(source, i + 1, 'not a namespace line', raw));
    else value.push({ name: m[1] ?? '', id: m[2] === undefined ? null : Number(m[2]) });
  });
  return { value, issues };
}
