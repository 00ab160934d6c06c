// The OpenFlow side of a host topology: each bridge's flow table (dump-flows), port numbers and
// datapath id (ovs-ofctl show), MAC table (fdb/show), and the local VLAN ↔ tunnel id mapping the
// tunnel bridge's rules encode.
import type { CommandOutput, ParseIssue } from '../hoststate/snapshot.js';
import { outputSource } from '../hoststate/ovsdb/index.js';
import { FIELD } from '../openflow/fields.js';
import { parseFdbShow } from '../openflow/ovs-appctl-fdb-show.js';
import { parseDumpFlows } from '../openflow/ovs-ofctl-dump-flows.js';
import { parseOfctlShow } from '../openflow/ovs-ofctl-show.js';
import type { OfFlow } from '../openflow/types.js';
import type { TopoFdbEntry, TopoFlows, TopoPort, TopoVlanMapping } from './model.js';

const OFPP_LOCAL = 0xfffe;

export interface OpenflowPart {
  flows: TopoFlows[];
  fdb: TopoFdbEntry[];
  /** bridge → port name → OpenFlow port number (ovs-ofctl show). */
  ofports: Map<string, Map<string, number>>;
  datapathIds: Map<string, string>;
  issues: ParseIssue[];
}

function ok(o: CommandOutput): boolean {
  return o.exitCode === 0 && o.error === undefined && o.bridge !== undefined;
}

export function openflowFromOutputs(outputs: readonly CommandOutput[], ports: readonly TopoPort[]): OpenflowPart {
  const part: OpenflowPart = { flows: [], fdb: [], ofports: new Map(), datapathIds: new Map(), issues: [] };
  const seenFlows = new Set<string>();
  for (const o of outputs) {
    if (!ok(o)) continue;
    const bridge = o.bridge as string;
    if (o.id === 'ovs-ofctl.dump-flows') {
      // sos may hold the same table in several OpenFlow versions: the first readable one is kept
      if (seenFlows.has(bridge)) continue;
      // an empty file is a dump that did not happen (even an empty table has its reply line)
      if (o.stdout.trim() === '') {
        part.issues.push({ source: outputSource(o), line: 0, message: `empty flow dump of ${bridge} (not even the NXST_FLOW reply line): taken as missing` });
        continue;
      }
      const parsed = parseDumpFlows(o.stdout, { source: outputSource(o) });
      part.issues.push(...parsed.issues);
      if (parsed.value.length === 0 && parsed.issues.length > 0) continue;
      seenFlows.add(bridge);
      const first = parsed.issues[0];
      part.flows.push(first === undefined ? { bridge, flows: parsed.value } : {
        bridge,
        flows: parsed.value,
        trouble: `${parsed.issues.length} unreadable line${parsed.issues.length === 1 ? '' : 's'} (first: ${first.source}:${first.line} ${first.message})`,
      });
    } else if (o.id === 'ovs-ofctl.show' || o.id === 'ovs-ofctl.dump-ports-desc') {
      const parsed = parseOfctlShow(o.stdout, { source: outputSource(o) });
      part.issues.push(...parsed.issues);
      const map = part.ofports.get(bridge) ?? new Map<string, number>();
      for (const p of parsed.value.ports) if (p.ofport !== OFPP_LOCAL) map.set(p.name, p.ofport);
      part.ofports.set(bridge, map);
      if (parsed.value.datapathId !== undefined && !part.datapathIds.has(bridge)) part.datapathIds.set(bridge, parsed.value.datapathId.toString(16).padStart(16, '0'));
    }
  }
  for (const o of outputs) {
    if (!ok(o) || o.id !== 'ovs-appctl.fdb.show') continue;
    const bridge = o.bridge as string;
    const parsed = parseFdbShow(o.stdout, { source: outputSource(o) });
    part.issues.push(...parsed.issues);
    const byOfport = new Map<number, string>();
    for (const [name, n] of part.ofports.get(bridge) ?? []) byOfport.set(n, name);
    for (const p of ports) if (p.bridge === bridge && p.ofport !== null && !byOfport.has(p.ofport)) byOfport.set(p.ofport, p.name);
    for (const e of parsed.value) {
      part.fdb.push({
        bridge,
        port: e.portName ?? (e.ofport === undefined ? null : e.ofport === OFPP_LOCAL ? bridge : (byOfport.get(e.ofport) ?? null)),
        ofport: e.ofport ?? null,
        vlan: e.vlan,
        mac: e.mac,
        age: e.ageSeconds ?? null,
      });
    }
  }
  part.flows.sort((a, b) => a.bridge.localeCompare(b.bridge));
  return part;
}

function matchValue(flow: OfFlow, field: number): { value: bigint; mask: bigint } | undefined {
  const m = flow.match.find((f) => f.field === field);
  return m === undefined ? undefined : { value: m.value, mask: m.mask };
}

/**
 * Local VLAN ↔ tunnel id from the rules Neutron's OVS agent installs on the tunnel bridge:
 * from the tunnels, `tun_id=X actions=mod_vlan_vid:V,...` (tables 3/4, or table 0 in old releases);
 * towards them, `dl_vlan=V actions=strip_vlan,set_tunnel:X,...` (tables 20/22).
 */
export function vlanMapFromFlows(flows: readonly TopoFlows[], ports: readonly TopoPort[]): TopoVlanMapping[] {
  const out: TopoVlanMapping[] = [];
  const seen = new Set<string>();
  const typeOf = new Map<string, string>();
  for (const p of ports) if (p.type === 'gre' || p.type === 'vxlan' || p.type === 'geneve') typeOf.set(p.bridge, p.type);
  for (const { bridge, flows: list } of flows) {
    for (const flow of list) {
      const tun = matchValue(flow, FIELD.tun_id);
      const vlan = matchValue(flow, FIELD.vlan_tci);
      let setVlan: number | undefined;
      let setTun: bigint | undefined;
      for (const a of flow.actions) {
        if (a.type === 'set-vlan-vid') setVlan = a.vid;
        else if (a.type === 'set-field' && a.dst.field === FIELD.tun_id) setTun = a.value;
        else if (a.type === 'set-field' && a.dst.field === FIELD.vlan_tci) setVlan = Number(a.value & 0xfffn);
      }
      let localVlan: number | undefined;
      let segment: bigint | undefined;
      let direction: 'to-tunnel' | 'from-tunnel' | undefined;
      if (tun !== undefined && tun.mask !== 0n && setVlan !== undefined) {
        localVlan = setVlan;
        segment = tun.value;
        direction = 'from-tunnel';
      } else if (vlan !== undefined && (vlan.mask & 0xfffn) === 0xfffn && setTun !== undefined) {
        localVlan = Number(vlan.value & 0xfffn);
        segment = setTun;
        direction = 'to-tunnel';
      }
      if (localVlan === undefined || segment === undefined || direction === undefined) continue;
      const evidence = `table=${flow.table} priority=${flow.priority} ${flow.matchText} actions=${flow.actionsText}`;
      const key = `${bridge}/${localVlan}/${segment}/${flow.table}/${direction}`;
      if (seen.has(key)) continue;
      seen.add(key);
      out.push({ bridge, localVlan, segmentationId: Number(segment), networkType: typeOf.get(bridge) ?? null, netUuid: null, source: 'flow', direction, evidence });
    }
  }
  return out;
}
