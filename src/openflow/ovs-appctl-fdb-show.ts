// `ovs-appctl fdb/show BRIDGE` (ovs-vswitchd(8) "fdb/show"): the MAC learning table NORMAL uses.
//
//    port  VLAN  MAC                Age
//       5     1  fa:16:3e:00:00:01    2
//   LOCAL     0  4a:1f:ad:52:c8:4b  static
//
// Port is an OpenFlow port number, LOCAL, or (with newer OVS and port names) a name.
import { issueText, type ParseIssue, type Parsed } from '../hoststate/snapshot.js';
import { OFPP } from './fields.js';
import { parseMac } from './values.js';

export interface FdbEntry {
  /** OpenFlow port number when printed as a number or LOCAL. */
  ofport: number | undefined;
  /** Port name when printed as a name. */
  portName: string | undefined;
  vlan: number;
  mac: string;
  /** Seconds since last seen; undefined for a static entry. */
  ageSeconds: number | undefined;
  isStatic: boolean;
}

const HEADER = /^port\s+VLAN\s+MAC\s+Age$/;
const ENTRY = /^(\S+)\s+(\d+)\s+([0-9a-f]{2}(?::[0-9a-f]{2}){5})\s+(\d+|static)$/i;

export function parseFdbShow(text: string, options: { source?: string } = {}): Parsed<FdbEntry[]> {
  const source = options.source ?? 'ovs-appctl fdb/show';
  const entries: FdbEntry[] = [];
  const issues: ParseIssue[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] ?? '').trim();
    if (line === '' || HEADER.test(line)) continue;
    const m = ENTRY.exec(line);
    if (m === null || parseMac(m[3] ?? '') === undefined) {
      issues.push({ source, line: i + 1, message: 'not an fdb/show entry', text: issueText(line) });
      continue;
    }
    const port = m[1] ?? '';
    const isNumber = /^\d+$/.test(port);
    const ofport = port === 'LOCAL' ? OFPP.LOCAL : isNumber ? Number(port) : undefined;
    entries.push({
      ofport,
      portName: ofport === undefined ? port : undefined,
      vlan: Number(m[2]),
      mac: (m[3] ?? '').toLowerCase(),
      ageSeconds: m[4] === 'static' ? undefined : Number(m[4]),
      isStatic: m[4] === 'static',
    });
  }
  return { value: entries, issues };
}
