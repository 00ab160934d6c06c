// `brctl show` (bridge-utils brctl/brctl_cmd.c br_cmd_show): a header, then per bridge a line
// `NAME<TAB>BRIDGE-ID<TAB>STP<TAB>FIRST-PORT` and one indented line per further port:
//
//   bridge name	bridge id		STP enabled	interfaces
//   qbr12345678-90		8000.7af2e5240950	no		qvb12345678-90
//   							tap12345678-90
//
// A bridge without ports has nothing after STP.
import type { ParseIssue, Parsed } from '../snapshot.js';
import { issue, textLines, tokens } from './parse-util.js';

export interface BrctlBridge {
  name: string;
  bridgeId: string;
  stp: boolean;
  /** Ports in the order printed (brctl sorts them by name). */
  interfaces: string[];
}

export function parseBrctlShow(text: string, source: string): Parsed<BrctlBridge[]> {
  const issues: ParseIssue[] = [];
  const value: BrctlBridge[] = [];
  let current: BrctlBridge | undefined;
  textLines(text).forEach((raw, i) => {
    if (raw.trim() === '') return;
    if (i === 0 && raw.startsWith('bridge name')) return;
    const words = tokens(raw);
    if (/^\s/.test(raw)) {
      if (current === undefined || words.length !== 1) issues.push(issue(source, i + 1, 'port line outside a bridge', raw));
      else current.interfaces.push(words[0] ?? '');
      return;
    }
    const [name, bridgeId, stp, port, ...extra] = words;
    if (name === undefined || bridgeId === undefined || (stp !== 'yes' && stp !== 'no') || extra.length > 0) {
      current = undefined;
      issues.push(issue(source, i + 1, 'not a bridge line', raw));
      return;
    }
    current = { name, bridgeId, stp: stp === 'yes', interfaces: port === undefined ? [] : [port] };
    value.push(current);
  });
  return { value, issues };
}
