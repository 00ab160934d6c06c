// Network devices from `ip -d address [show]`, `ip -s -d link [show]` (text, what sosreport keeps)
// and `ip -j -d address show`, `ip -j -s -d link show` (JSON, what the agent runs). iproute2 6.x,
// ip/ipaddress.c print_linkinfo / print_link_stats, ip/iplink_*.c for the kind details:
//
//   8: tap12345678-90@if2: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue master qbr12345678-90 state UP group default qlen 1000
//       link/ether 7a:f2:e5:24:09:50 brd ff:ff:ff:ff:ff:ff link-netns vm1 promiscuity 1 ... (no kind: generic attributes here)
//       veth                                  <- -d: the kind and its options (IFLA_INFO_KIND)
//       bridge_slave state forwarding priority 32 cost 2 ... port_id 0x8001 port_no 0x1 ...
//       inet 192.0.2.1/24 scope global qbr1   <- address forms (see ip-address.ts)
//          valid_lft forever preferred_lft forever
//       RX:  bytes packets errors dropped  missed   mcast      <- -s: a header, then its values
//            1272      22      0       0       0       0
//       TX:  bytes packets errors dropped carrier collsns
//
// `name@ifN` is a link (veth peer) whose ifindex is in another namespace (`link-netnsid N`, or
// `link-netns NAME` when the namespace has a name here); `name@other` names it in this namespace.
// JSON has `link_index`/`link` and `link_netnsid` (a number only): pass the `ip netns list` of the
// same namespace (`netns` option) and both forms resolve the namespace to the same id and name.
import type { ParseIssue, Parsed } from '../snapshot.js';
import { addressFromJson, addressFromTokens, type IpAddress } from './ip-address.js';
import type { NetnsEntry } from './ip-netns.js';
import {
  issue, isJsonText, isObject, jsonArrayElements, jsonBool, jsonCounter, jsonNumber, jsonObject, jsonString,
  jsonStrings, textCounter, textInt, textLines, tokens, type JsonObject,
} from './parse-util.js';

/** Device kinds hoptrace cares about (IFLA_INFO_KIND; tun devices by their type). Others pass through. */
export const DEVICE_KINDS = ['veth', 'bridge', 'tun', 'tap', 'openvswitch', 'gre', 'gretap', 'vxlan', 'geneve', 'dummy', 'vlan', 'macvlan', 'bond', 'ipip', 'ifb'] as const;
export type DeviceKind = (typeof DEVICE_KINDS)[number];

export interface LinkNetns {
  /** The peer namespace's id as seen from this namespace (`link-netnsid`). */
  id: number | null;
  /** Its name, when iproute2 printed it or the `netns` option resolves the id. */
  name: string | null;
}

export interface BridgeSlave {
  state: string;
  priority: number | null;
  cost: number | null;
  hairpin: boolean | null;
  learning: boolean | null;
  flood: boolean | null;
  /** STP port id (`port_id 0x8001`). */
  portId: number | null;
  /** Port number on the bridge (`port_no 0x1`). */
  portNo: number | null;
}

export interface TunnelInfo {
  /** VXLAN/Geneve VNI. */
  id: number | null;
  local: string | null;
  remote: string | null;
  dstPort: number | null;
}

export interface LinkCounters {
  rxBytes: bigint;
  rxPackets: bigint;
  rxErrors: bigint;
  rxDropped: bigint;
  txBytes: bigint;
  txPackets: bigint;
  txErrors: bigint;
  txDropped: bigint;
}

export interface IpDevice {
  ifindex: number;
  name: string;
  /** `name@ifN`, JSON `link_index`: the link's (veth peer's) ifindex, in `linkNetns` when set. */
  linkIfindex: number | null;
  /** `name@dev`, JSON `link`: the link (veth peer, macvlan parent) by name in this namespace. */
  linkName: string | null;
  linkNetns: LinkNetns | null;
  flags: string[];
  mtu: number;
  qdisc: string | null;
  master: string | null;
  /** Operational state: UP, DOWN, UNKNOWN, LOWERLAYERDOWN... */
  state: string;
  /** `link/TYPE`: ether, loopback, none, gre... */
  linkType: string;
  /** The link-layer address of an ether or loopback device. */
  mac: string | null;
  /** IFLA_INFO_KIND (`-d`); a tun device is 'tun' or 'tap' by its type; null when none. */
  kind: DeviceKind | (string & {}) | null;
  /** The kind of the master's port (`bridge_slave`, `openvswitch_slave` → 'bridge', 'openvswitch'). */
  slaveKind: string | null;
  bridgeSlave: BridgeSlave | null;
  /** vxlan, geneve, gre: the tunnel's endpoints. */
  tunnel: TunnelInfo | null;
  altNames: string[];
  /** `ip address` forms; empty for `ip link`. */
  addresses: IpAddress[];
  /** `-s` forms; null without statistics. */
  counters: LinkCounters | null;
}

export interface IpLinkOptions {
  /** `ip netns list` of the namespace the command ran in: resolves link-netns ids and names. */
  netns?: readonly NetnsEntry[];
}

const HEADER = /^(\d+):\s+([^\s@:]+)(?:@([^\s:]+))?:\s+<([^>]*)>(.*)$/;

/** Devices of one `ip [-s] [-d] {address|link} [show]` output, text or JSON, in the order printed. */
export function parseIpLink(text: string, source: string, options: IpLinkOptions = {}): Parsed<IpDevice[]> {
  const issues: ParseIssue[] = [];
  const devices = isJsonText(text) ? devicesFromJson(text, source, issues) : devicesFromText(text, source, issues);
  for (const d of devices) if (d.linkNetns !== null) d.linkNetns = resolveNetns(d.linkNetns, options.netns);
  return { value: devices, issues };
}

function resolveNetns(ref: LinkNetns, netns: readonly NetnsEntry[] | undefined): LinkNetns {
  if (netns === undefined) return ref;
  const byId = ref.id !== null ? netns.find((n) => n.id === ref.id) : undefined;
  const byName = ref.name !== null ? netns.find((n) => n.name === ref.name) : undefined;
  return { id: ref.id ?? byName?.id ?? null, name: ref.name ?? byId?.name ?? null };
}

function emptyDevice(ifindex: number, name: string): IpDevice {
  return {
    ifindex, name, linkIfindex: null, linkName: null, linkNetns: null, flags: [], mtu: 0, qdisc: null, master: null,
    state: 'UNKNOWN', linkType: 'none', mac: null, kind: null, slaveKind: null, bridgeSlave: null, tunnel: null,
    altNames: [], addresses: [], counters: null,
  };
}

function hasMac(linkType: string): boolean {
  return linkType === 'ether' || linkType === 'loopback';
}

// ---- text ----

/** Options after a kind word: `key value` pairs, bare words kept as `true`. */
function optionPairs(words: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (let i = 0; i < words.length; i++) {
    const k = words[i] ?? '';
    const v = words[i + 1];
    if (v !== undefined && !/^[a-z_]+$/.test(v)) {
      out.set(k, v);
      i++;
    } else if (v !== undefined && ONE_WORD_VALUES.has(k)) {
      out.set(k, v);
      i++;
    } else out.set(k, 'true');
  }
  return out;
}
// Options whose value is a word, not a number or address.
const ONE_WORD_VALUES = new Set([
  'state', 'hairpin', 'guard', 'root_block', 'fastleave', 'learning', 'flood', 'mcast_flood', 'bcast_flood',
  'mcast_to_unicast', 'neigh_suppress', 'vlan_tunnel', 'isolated', 'locked', 'proxy_arp', 'proxy_arp_wifi',
  'mcast_fast_leave', 'type', 'pi', 'vnet_hdr', 'persist', 'mode', 'addrgenmode', 'ttl', 'df', 'remote', 'local',
]);

const onOff = (v: string | undefined): boolean | null => (v === 'on' ? true : v === 'off' ? false : null);
const hexOrInt = (v: string | undefined): number | null => {
  if (v === undefined) return null;
  const n = /^0x[0-9a-f]+$/i.test(v) ? Number.parseInt(v, 16) : /^\d+$/.test(v) ? Number(v) : NaN;
  return Number.isNaN(n) ? null : n;
};

function bridgeSlaveFromText(opts: Map<string, string>): BridgeSlave {
  return {
    state: opts.get('state') ?? 'unknown',
    priority: textInt(opts.get('priority')),
    cost: textInt(opts.get('cost')),
    hairpin: onOff(opts.get('hairpin')),
    learning: onOff(opts.get('learning')),
    flood: onOff(opts.get('flood')),
    portId: hexOrInt(opts.get('port_id')),
    portNo: hexOrInt(opts.get('port_no')),
  };
}

function tunnelFromText(kind: string, opts: Map<string, string>): TunnelInfo | null {
  if (!['vxlan', 'geneve', 'gre', 'gretap', 'ip6gre', 'ip6gretap', 'ipip', 'sit'].includes(kind)) return null;
  const addr = (v: string | undefined): string | null => (v === undefined || v === 'any' || v === 'true' ? null : v);
  return { id: textInt(opts.get('id')), local: addr(opts.get('local')), remote: addr(opts.get('remote')), dstPort: textInt(opts.get('dstport')) };
}

const STATS_FIELDS = { bytes: 'Bytes', packets: 'Packets', errors: 'Errors', dropped: 'Dropped' } as const;

function devicesFromText(text: string, source: string, issues: ParseIssue[]): IpDevice[] {
  const devices: IpDevice[] = [];
  const lines = textLines(text);
  let device: IpDevice | undefined;
  let sawLink = false;
  let pendingStats: { dir: 'rx' | 'tx'; names: string[]; line: number } | { dir: 'skip'; line: number } | undefined;
  const counters = (d: IpDevice): LinkCounters =>
    (d.counters ??= { rxBytes: 0n, rxPackets: 0n, rxErrors: 0n, rxDropped: 0n, txBytes: 0n, txPackets: 0n, txErrors: 0n, txDropped: 0n });
  lines.forEach((raw, i) => {
    const line = i + 1;
    if (raw.trim() === '') return;
    if (!/^\s/.test(raw)) {
      pendingStats = undefined;
      const m = HEADER.exec(raw);
      if (m === null) {
        device = undefined;
        issues.push(issue(source, line, 'not a device header', raw));
        return;
      }
      device = emptyDevice(Number(m[1]), m[2] ?? '');
      sawLink = false;
      const link = m[3];
      if (link !== undefined) {
        const ifn = /^if(\d+)$/.exec(link);
        if (ifn !== null) device.linkIfindex = Number(ifn[1]);
        else if (link !== 'NONE') device.linkName = link; // NONE: a tunnel without a lower device
      }
      device.flags = (m[4] ?? '').split(',').filter((f) => f !== '');
      const words = tokens(m[5] ?? '');
      for (let k = 0; k < words.length; k += 2) {
        const key = words[k];
        const value = words[k + 1];
        if (value === undefined) break;
        if (key === 'mtu') device.mtu = Number(value);
        else if (key === 'qdisc') device.qdisc = value;
        else if (key === 'master') device.master = value;
        else if (key === 'state') device.state = value;
      }
      devices.push(device);
      return;
    }
    if (device === undefined) {
      issues.push(issue(source, line, 'indented line outside a device', raw));
      return;
    }
    const words = tokens(raw);
    const first = words[0] ?? '';
    if (pendingStats !== undefined) {
      const stats = pendingStats;
      pendingStats = undefined;
      if (stats.dir !== 'skip') {
        const dir = stats.dir;
        const c = counters(device);
        stats.names.forEach((name, k) => {
          const field = STATS_FIELDS[name as keyof typeof STATS_FIELDS];
          const value = textCounter(words[k]);
          if (field !== undefined && value !== null) c[`${dir}${field}`] = value;
        });
        if (words.some((w) => textCounter(w) === null)) issues.push(issue(source, line, 'bad counter values', raw));
      }
      return;
    }
    if (first === 'RX:' || first === 'TX:') {
      pendingStats = { dir: first === 'RX:' ? 'rx' : 'tx', names: words.slice(1), line };
      return;
    }
    if ((first === 'RX' || first === 'TX') && words[1] === 'errors:') {
      pendingStats = { dir: 'skip', line };
      return;
    }
    if (first.startsWith('link/')) {
      sawLink = true;
      device.linkType = first.slice(5);
      if (hasMac(device.linkType) && words[1] !== undefined) device.mac = words[1];
      const nsid = words.indexOf('link-netnsid');
      const nsname = words.indexOf('link-netns');
      if (nsid >= 0) device.linkNetns = { id: textInt(words[nsid + 1]), name: null };
      else if (nsname >= 0) device.linkNetns = { id: null, name: words[nsname + 1] ?? null };
      return;
    }
    if (first === 'inet' || first === 'inet6') {
      const address = addressFromTokens(words);
      if (typeof address === 'string') issues.push(issue(source, line, address, raw));
      else device.addresses.push(address);
      return;
    }
    if (first === 'valid_lft') return;
    if (first === 'altname') {
      if (words[1] !== undefined) device.altNames.push(words[1]);
      return;
    }
    if (first === 'alias' || first === 'vf' || first === 'prop') return;
    if (!sawLink) {
      issues.push(issue(source, line, 'detail line before the link/ line', raw));
      return;
    }
    if (first.endsWith('_slave')) {
      device.slaveKind = first.slice(0, -'_slave'.length);
      if (device.slaveKind === 'bridge') device.bridgeSlave = bridgeSlaveFromText(optionPairs(words.slice(1)));
      return;
    }
    if (device.kind === null && device.addresses.length === 0 && /^[a-z][a-z0-9_]*$/.test(first) && !GENERIC.has(first)) {
      const opts = optionPairs(words.slice(1));
      device.kind = first === 'tun' ? (opts.get('type') ?? 'tun') : first;
      device.tunnel = tunnelFromText(first, opts);
      return;
    }
    if (GENERIC.has(first)) return;
    issues.push(issue(source, line, 'unknown device line', raw));
  });
  const open = pendingStats as { line: number } | undefined; // set inside the callback
  if (open !== undefined) issues.push(issue(source, open.line, 'statistics header without values', lines[open.line - 1]));
  return devices;
}
// Generic link attributes print after the kind; a line may start with them (no kind, -s -d link).
const GENERIC = new Set(['promiscuity', 'allmulti', 'minmtu', 'maxmtu', 'addrgenmode', 'numtxqueues', 'numrxqueues', 'gso_max_size', 'gso_max_segs', 'tso_max_size', 'tso_max_segs', 'gro_max_size', 'parentbus', 'parentdev', 'portname', 'portid', 'switchid']);

// ---- JSON ----

function devicesFromJson(text: string, source: string, issues: ParseIssue[]): IpDevice[] {
  const devices: IpDevice[] = [];
  for (const el of jsonArrayElements(text, source, issues)) {
    const o = el.value;
    if (!isObject(o)) {
      issues.push(issue(source, el.line, 'device is not an object'));
      continue;
    }
    const ifindex = jsonNumber(o, 'ifindex');
    const name = jsonString(o, 'ifname');
    if (ifindex === null || name === null) {
      issues.push(issue(source, el.line, 'device without ifindex or ifname'));
      continue;
    }
    const d = emptyDevice(ifindex, name);
    d.linkIfindex = jsonNumber(o, 'link_index');
    d.linkName = jsonString(o, 'link');
    const nsid = jsonNumber(o, 'link_netnsid');
    if (nsid !== null) d.linkNetns = { id: nsid, name: null };
    d.flags = jsonStrings(o, 'flags');
    d.mtu = jsonNumber(o, 'mtu') ?? 0;
    d.qdisc = jsonString(o, 'qdisc');
    d.master = jsonString(o, 'master');
    d.state = jsonString(o, 'operstate') ?? 'UNKNOWN';
    d.linkType = jsonString(o, 'link_type') ?? 'none';
    d.mac = hasMac(d.linkType) ? jsonString(o, 'address') : null;
    d.altNames = jsonStrings(o, 'altnames');
    const info = jsonObject(o, 'linkinfo');
    if (info !== null) {
      const kind = jsonString(info, 'info_kind');
      const data = jsonObject(info, 'info_data') ?? {};
      if (kind !== null) {
        d.kind = kind === 'tun' ? (jsonString(data, 'type') ?? 'tun') : kind;
        d.tunnel = tunnelFromJson(kind, data);
      }
      d.slaveKind = jsonString(info, 'info_slave_kind');
      const slave = jsonObject(info, 'info_slave_data');
      if (d.slaveKind === 'bridge' && slave !== null) d.bridgeSlave = bridgeSlaveFromJson(slave);
    }
    const infos = o['addr_info'];
    if (Array.isArray(infos)) {
      for (const a of infos) {
        const address = isObject(a) ? addressFromJson(a) : 'addr_info element is not an object';
        if (typeof address === 'string') issues.push(issue(source, el.line, address, name));
        else d.addresses.push(address);
      }
    }
    const stats = jsonObject(o, 'stats64') ?? jsonObject(o, 'stats');
    if (stats !== null) {
      const rx = jsonObject(stats, 'rx') ?? {};
      const tx = jsonObject(stats, 'tx') ?? {};
      d.counters = {
        rxBytes: jsonCounter(rx, 'bytes') ?? 0n, rxPackets: jsonCounter(rx, 'packets') ?? 0n,
        rxErrors: jsonCounter(rx, 'errors') ?? 0n, rxDropped: jsonCounter(rx, 'dropped') ?? 0n,
        txBytes: jsonCounter(tx, 'bytes') ?? 0n, txPackets: jsonCounter(tx, 'packets') ?? 0n,
        txErrors: jsonCounter(tx, 'errors') ?? 0n, txDropped: jsonCounter(tx, 'dropped') ?? 0n,
      };
    }
    devices.push(d);
  }
  return devices;
}

function bridgeSlaveFromJson(o: JsonObject): BridgeSlave {
  return {
    state: jsonString(o, 'state') ?? 'unknown',
    priority: jsonNumber(o, 'priority'),
    cost: jsonNumber(o, 'cost'),
    hairpin: jsonBool(o, 'hairpin'),
    learning: jsonBool(o, 'learning'),
    flood: jsonBool(o, 'flood'),
    portId: hexOrInt(jsonString(o, 'id') ?? undefined),
    portNo: hexOrInt(jsonString(o, 'no') ?? undefined),
  };
}

function tunnelFromJson(kind: string, o: JsonObject): TunnelInfo | null {
  if (!['vxlan', 'geneve', 'gre', 'gretap', 'ip6gre', 'ip6gretap', 'ipip', 'sit'].includes(kind)) return null;
  return { id: jsonNumber(o, 'id'), local: jsonString(o, 'local'), remote: jsonString(o, 'remote'), dstPort: jsonNumber(o, 'port') };
}
