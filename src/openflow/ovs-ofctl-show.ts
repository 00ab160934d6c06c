// `ovs-ofctl [-O OpenFlow1x] show BRIDGE` and `ovs-ofctl dump-ports-desc BRIDGE` (ovs-ofctl(8)):
// the same per-port block in both, after a features reply (show) or a port-desc reply header:
//
//   OFPT_FEATURES_REPLY (xid=0x2): dpid:00004a1fad52c84b
//   n_tables:254, n_buffers:0
//   capabilities: FLOW_STATS TABLE_STATS PORT_STATS QUEUE_STATS ARP_MATCH_IP
//   actions: output enqueue set_vlan_vid ...                       (OpenFlow 1.0 only)
//    1(patch-int): addr:2a:d0:24:2a:7a:cf
//        config:     0 | PORT_DOWN ...
//        state:      0 | LINK_DOWN | LIVE ...
//        current:    10GB-FD COPPER                                (also advertised, supported, peer)
//        speed: 10000 Mbps now, 0 Mbps max
//    LOCAL(br-tun): addr:4a:1f:ad:52:c8:4b
//   OFPT_GET_CONFIG_REPLY (xid=0x4): frags=normal miss_send_len=0
import { issueText, type ParseIssue, type Parsed } from '../hoststate/snapshot.js';
import { OFPP } from './fields.js';

export interface OfPortDesc {
  /** OpenFlow port number; LOCAL (the bridge's own port) is 0xfffe. */
  ofport: number;
  name: string;
  mac: string;
  /** `config:` flags (PORT_DOWN, NO_FLOOD...), empty when 0. */
  config: string[];
  /** `state:` flags (LINK_DOWN, LIVE, STP_*), empty when 0. */
  state: string[];
  current: string[];
  advertised: string[];
  supported: string[];
  peer: string[];
  speedMbps?: number;
  maxSpeedMbps?: number;
}

export interface OfctlShow {
  datapathId?: bigint;
  nTables?: number;
  capabilities?: string[];
  ports: OfPortDesc[];
}

const PORT = /^(\d+|LOCAL)\((.*)\): addr:([0-9a-f]{2}(?::[0-9a-f]{2}){5})$/i;
const PROPERTY = /^(config|state|current|advertised|supported|peer):\s*(.*)$/;
const SPEED = /^speed: (\d+) Mbps now, (\d+) Mbps max$/;
const IGNORED = /^(?:OFPT_GET_CONFIG_REPLY|OFPST_PORT_DESC reply|actions:)/;

/** Parses `show` or `dump-ports-desc` output (the ports of both; the features of show). */
export function parseOfctlShow(text: string, options: { source?: string } = {}): Parsed<OfctlShow> {
  const source = options.source ?? 'ovs-ofctl show';
  const value: OfctlShow = { ports: [] };
  const issues: ParseIssue[] = [];
  let port: OfPortDesc | undefined;
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] ?? '').trim();
    if (line === '' || IGNORED.test(line)) continue;
    const dpid = /^OFPT_FEATURES_REPLY\b.*dpid:([0-9a-f]{16})$/i.exec(line);
    if (dpid !== null) {
      value.datapathId = BigInt(`0x${dpid[1] ?? ''}`);
      continue;
    }
    const tables = /^n_tables:(\d+), n_buffers:\d+$/.exec(line);
    if (tables !== null) {
      value.nTables = Number(tables[1]);
      continue;
    }
    if (line.startsWith('capabilities:')) {
      value.capabilities = line.slice('capabilities:'.length).trim().split(/\s+/).filter((w) => w !== '');
      continue;
    }
    const header = PORT.exec(line);
    if (header !== null) {
      const number = header[1] ?? '';
      port = {
        ofport: number === 'LOCAL' ? OFPP.LOCAL : Number(number),
        name: header[2] ?? '',
        mac: (header[3] ?? '').toLowerCase(),
        config: [],
        state: [],
        current: [],
        advertised: [],
        supported: [],
        peer: [],
      };
      value.ports.push(port);
      continue;
    }
    const property = PROPERTY.exec(line);
    if (property !== null && port !== undefined) {
      const words = (property[2] ?? '').split(/\s+/).filter((w) => w !== '' && w !== '0');
      const key = property[1] as 'config' | 'state' | 'current' | 'advertised' | 'supported' | 'peer';
      port[key] = words;
      continue;
    }
    const speed = SPEED.exec(line);
    if (speed !== null && port !== undefined) {
      port.speedMbps = Number(speed[1]);
      port.maxSpeedMbps = Number(speed[2]);
      continue;
    }
    issues.push({ source, line: i + 1, message: 'line not understood', text: issueText(line) });
  }
  return { value, issues };
}

/** `ovs-ofctl dump-ports-desc BRIDGE`: the same port blocks as show. */
export function parseDumpPortsDesc(text: string, options: { source?: string } = {}): Parsed<OfPortDesc[]> {
  const parsed = parseOfctlShow(text, { source: options.source ?? 'ovs-ofctl dump-ports-desc' });
  return { value: parsed.value.ports, issues: parsed.issues };
}
