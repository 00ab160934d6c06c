// `ovs-ofctl [-O OpenFlow1x] [--no-stats] [--names] dump-flows BRIDGE` (ovs-ofctl(8) "Flow
// Syntax"). One rule per line:
//
//   [NXST_FLOW reply (xid=0x4): | OFPST_FLOW reply (OF1.3) (xid=0x2):]     header, skipped
//    cookie=0x0, duration=1239.229s, table=0, n_packets=23, n_bytes=4246, idle_age=15,
//    [idle_timeout=N, hard_timeout=N, hard_age=N, importance=N,] [reset_counts ]
//    priority=3,tun_id=0x2,dl_dst=01:00:00:00:00:00/01:00:00:00:00:00 actions=mod_vlan_vid:1,output:1
//
// Statistics are `key=value` separated by ", "; bare flags (reset_counts, send_flow_rem) end with
// a space; then the match (priority is omitted when it is the default 32768, table when 0 in
// --no-stats form) and ` actions=`. Port names are quoted when they hold characters other than
// letters, digits, `_` and `.`, e.g. `in_port="patch-int"`. Lines that are not a rule become a
// ParseIssue and the rest is kept; a rule with a term this model does not know is kept (flagged
// hasUnknown, with an issue) so that the walk can say where it cannot decide.
import { issueText, type ParseIssue, type Parsed } from '../hoststate/snapshot.js';
import { parseActions } from './actions.js';
import { DEFAULT_PRIORITY, type MatchField, type OfFlow } from './types.js';
import { parseMatchTerm } from './match.js';
import { parseInteger } from './values.js';

const HEADER = /^(?:NXST|OFPST)_FLOW reply\b/;
const ACTIONS = /(?:^|[\s,])actions=/;
const FLAGS = new Set(['reset_counts', 'send_flow_rem', 'no_packet_counts', 'no_byte_counts', 'check_overlap', 'no_readonly_table']);

export interface DumpFlowsOptions {
  /** For ParseIssue.source: the sos path or the command. */
  source?: string;
}

/** Splits on commas and whitespace outside double quotes. */
function words(text: string): string[] {
  const out: string[] = [];
  let current = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i] ?? '';
    if (quoted) {
      current += c;
      if (c === '\\' && i + 1 < text.length) current += text[++i] ?? '';
      else if (c === '"') quoted = false;
      continue;
    }
    if (c === '"') {
      quoted = true;
      current += c;
    } else if (c === ',' || c === ' ' || c === '\t') {
      if (current !== '') out.push(current);
      current = '';
    } else current += c;
  }
  if (current !== '') out.push(current);
  return out;
}

function seconds(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)s?$/.exec(text);
  return m === null ? undefined : Number(m[1]);
}

export type ParseFlowResult = { ok: true; flow: OfFlow; problems: string[] } | { ok: false; message: string };

/** One rule line (without leading/trailing blanks). */
export function parseFlowLine(text: string, line = 0): ParseFlowResult {
  const at = ACTIONS.exec(text);
  if (at === null) return { ok: false, message: 'no actions= in a flow line' };
  const start = at.index + at[0].length;
  const actionsText = text.slice(start).trim();
  const head = text.slice(0, at.index);
  const flow: OfFlow = {
    table: 0,
    priority: DEFAULT_PRIORITY,
    cookie: 0n,
    match: [],
    matchText: '',
    actions: [],
    actionsText,
    flags: [],
    line,
    hasUnknown: false,
  };
  const problems: string[] = [];
  const terms: string[] = [];
  const match: MatchField[] = [];
  for (const word of words(head)) {
    const eq = word.indexOf('=');
    const key = eq < 0 ? word : word.slice(0, eq);
    const value = eq < 0 ? '' : word.slice(eq + 1);
    const int = (): number | undefined => {
      const n = parseInteger(value);
      if (n === undefined) problems.push(`bad ${key} '${value}'`);
      return n === undefined ? undefined : Number(n);
    };
    switch (eq < 0 ? '' : key) {
      case 'cookie': {
        const n = parseInteger(value.split('/')[0] ?? '');
        if (n === undefined) problems.push(`bad cookie '${value}'`);
        else flow.cookie = n;
        continue;
      }
      case 'duration': {
        const s = seconds(value);
        if (s !== undefined) flow.durationS = s;
        continue;
      }
      case 'table': {
        const n = int();
        if (n !== undefined) flow.table = n;
        continue;
      }
      case 'priority': {
        const n = int();
        if (n !== undefined) flow.priority = n;
        continue;
      }
      case 'n_packets': {
        const n = parseInteger(value);
        if (n !== undefined) flow.nPackets = n;
        continue;
      }
      case 'n_bytes': {
        const n = parseInteger(value);
        if (n !== undefined) flow.nBytes = n;
        continue;
      }
      case 'idle_age': {
        const n = int();
        if (n !== undefined) flow.idleAge = n;
        continue;
      }
      case 'hard_age': {
        const n = int();
        if (n !== undefined) flow.hardAge = n;
        continue;
      }
      case 'idle_timeout': {
        const n = int();
        if (n !== undefined) flow.idleTimeout = n;
        continue;
      }
      case 'hard_timeout': {
        const n = int();
        if (n !== undefined) flow.hardTimeout = n;
        continue;
      }
      case 'importance': {
        const n = int();
        if (n !== undefined) flow.importance = n;
        continue;
      }
      case '':
        if (FLAGS.has(word)) {
          flow.flags.push(word);
          continue;
        }
        break;
      default:
        break;
    }
    const term = parseMatchTerm(word);
    terms.push(word);
    if (!term.ok) {
      problems.push(term.message);
      flow.hasUnknown = true;
      match.push({ name: key, text: word, field: undefined, value: 0n, mask: 0n });
      continue;
    }
    for (const f of term.fields) {
      if (f.field === undefined) {
        flow.hasUnknown = true;
        problems.push(`match field '${f.name}' is not modelled`);
      }
      match.push(f);
    }
  }
  flow.match = match;
  flow.matchText = terms.join(',');
  flow.actions = parseActions(actionsText);
  for (const action of flow.actions) {
    if (action.type === 'unknown') {
      flow.hasUnknown = true;
      problems.push(`unknown action '${action.text}'`);
    }
  }
  return { ok: true, flow, problems };
}

/** The rules of a dump-flows output, in dump order, and what could not be read. */
export function parseDumpFlows(text: string, options: DumpFlowsOptions = {}): Parsed<OfFlow[]> {
  const source = options.source ?? 'ovs-ofctl dump-flows';
  const flows: OfFlow[] = [];
  const issues: ParseIssue[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i] ?? '';
    const line = raw.trim();
    if (line === '' || HEADER.test(line)) continue;
    const result = parseFlowLine(line, i + 1);
    if (!result.ok) {
      issues.push({ source, line: i + 1, message: result.message, text: issueText(line) });
      continue;
    }
    flows.push(result.flow);
    for (const message of result.problems) issues.push({ source, line: i + 1, message, text: issueText(line) });
  }
  return { value: flows, issues };
}
