// `ovs-appctl dpif/show` (ovs-vswitchd(8) "dpif/show"): datapaths, their bridges, and per port
// the OpenFlow and datapath port numbers, type and tunnel/patch configuration.
//
//   netdev@ovs-netdev: hit:0 missed:0
//     br-tun:
//       br-tun 65534/2: (tap)
//       gre-c6336402 2/6: (gre: key=flow, local_ip=203.0.113.1, remote_ip=203.0.113.2)
//       patch-int 1/none: (patch: peer=patch-tun)
//       eth1 1/3:                                    (a system port: no type printed)
import { issueText, type ParseIssue, type Parsed } from '../hoststate/snapshot.js';

export interface DpifPort {
  name: string;
  ofport: number;
  /** Datapath port number; undefined for `none` (patch ports live only in ofproto). */
  odpPort: number | undefined;
  /** Type in parentheses (tap, internal, gre, vxlan, patch...); 'system' when none is printed. */
  type: string;
  /** `key=value` configuration after the type (peer, remote_ip, local_ip, key...). */
  options: Record<string, string>;
}

export interface DpifBridge {
  datapath: string;
  name: string;
  ports: DpifPort[];
}

export interface DpifDatapath {
  /** e.g. `netdev@ovs-netdev`, `system@ovs-system`. */
  name: string;
  hits?: bigint;
  missed?: bigint;
}

export interface DpifShow {
  datapaths: DpifDatapath[];
  bridges: DpifBridge[];
}

const DATAPATH = /^(\S+@\S+): hit:(\d+) missed:(\d+)$/;
const BRIDGE = /^(\S+):$/;
const PORT = /^(\S+) (\d+)\/(\d+|none):(?: \(([^:)]+)(?:: (.*))?\))?$/;

export function parseDpifShow(text: string, options: { source?: string } = {}): Parsed<DpifShow> {
  const source = options.source ?? 'ovs-appctl dpif/show';
  const value: DpifShow = { datapaths: [], bridges: [] };
  const issues: ParseIssue[] = [];
  let datapath: DpifDatapath | undefined;
  let bridge: DpifBridge | undefined;
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i] ?? '';
    const line = raw.trim();
    if (line === '') continue;
    const indent = raw.length - raw.trimStart().length;
    const dp = DATAPATH.exec(line);
    if (dp !== null && indent === 0) {
      datapath = { name: dp[1] ?? '', hits: BigInt(dp[2] ?? '0'), missed: BigInt(dp[3] ?? '0') };
      value.datapaths.push(datapath);
      bridge = undefined;
      continue;
    }
    const br = BRIDGE.exec(line);
    if (br !== null && datapath !== undefined) {
      bridge = { datapath: datapath.name, name: br[1] ?? '', ports: [] };
      value.bridges.push(bridge);
      continue;
    }
    const port = PORT.exec(line);
    if (port !== null && bridge !== undefined) {
      const settings: Record<string, string> = {};
      for (const pair of (port[5] ?? '').split(', ')) {
        const eq = pair.indexOf('=');
        if (eq > 0) settings[pair.slice(0, eq)] = pair.slice(eq + 1);
      }
      bridge.ports.push({
        name: port[1] ?? '',
        ofport: Number(port[2]),
        odpPort: port[3] === 'none' ? undefined : Number(port[3]),
        type: port[4] ?? 'system',
        options: settings,
      });
      continue;
    }
    issues.push({ source, line: i + 1, message: 'line not understood', text: issueText(line) });
  }
  return { value, issues };
}
