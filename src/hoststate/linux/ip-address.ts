// Interface addresses as iproute2 prints them (ip/ipaddress.c print_addrinfo), in the three forms
// hoptrace reads: an `inet`/`inet6` line of `ip address`, one line of `ip -o addr` (the same
// fields, with the device in front and `\` where the line was broken), and an `addr_info`
// element of `ip -j address`.
//
//   inet 192.0.2.1/24 brd 192.0.2.255 scope global dynamic noprefixroute qbr1\
//   inet 10.1.1.1 peer 10.1.1.2/32 scope global tun0
//   inet6 fe80::1/64 scope link tentative
//
// The label (inet only) is the last word when it is not an address flag.
import type { ParseIssue, Parsed } from '../snapshot.js';
import { issue, isJsonText, isObject, jsonArrayElements, jsonNumber, jsonString, textLines, tokens, type JsonObject } from './parse-util.js';

export type AddressFamily = 'inet' | 'inet6';

export interface IpAddress {
  family: AddressFamily;
  /** The local address, without prefix. */
  address: string;
  prefixLength: number;
  /** Point-to-point peer (`peer`), or null. */
  peer: string | null;
  broadcast: string | null;
  scope: string;
  /** inet only: the label (device name or `dev:alias`); null for inet6. */
  label: string | null;
  /** Address flags (secondary, dynamic, tentative, noprefixroute...), sorted. */
  flags: string[];
}

/** Address flags iproute2 prints as words in text and as `true` booleans in JSON. */
export const ADDRESS_FLAGS = [
  'secondary', 'temporary', 'nodad', 'optimistic', 'dadfailed', 'home', 'deprecated', 'tentative', 'permanent',
  'mngtmpaddr', 'noprefixroute', 'autojoin', 'stable-privacy', 'dynamic',
] as const;
const FLAG_SET: ReadonlySet<string> = new Set(ADDRESS_FLAGS);
/** Words with one value after them that are not modelled. */
const VALUED = new Set(['metric', 'proto']);

/** Reads `inet ADDR[/LEN] [peer P/LEN] [brd B] [any] scope S [flags...] [label]` from its tokens. */
export function addressFromTokens(words: readonly string[]): IpAddress | string {
  const family = words[0];
  if (family !== 'inet' && family !== 'inet6') return `expected inet or inet6, got ${family ?? 'nothing'}`;
  const local = words[1];
  if (local === undefined) return 'no address';
  let address = local;
  let prefix: number | null = null;
  let peer: string | null = null;
  let broadcast: string | null = null;
  let scope: string | null = null;
  const rest: string[] = [];
  const slash = local.indexOf('/');
  if (slash >= 0) {
    address = local.slice(0, slash);
    prefix = Number(local.slice(slash + 1));
  }
  for (let i = 2; i < words.length; i++) {
    const w = words[i] ?? '';
    const next = words[i + 1];
    if (w === 'peer' && next !== undefined) {
      const s = next.indexOf('/');
      peer = s >= 0 ? next.slice(0, s) : next;
      if (s >= 0) prefix = Number(next.slice(s + 1));
      i++;
    } else if (w === 'brd' && next !== undefined) {
      broadcast = next;
      i++;
    } else if (w === 'scope' && next !== undefined) {
      scope = next;
      i++;
    } else if (VALUED.has(w)) {
      i++;
    } else if (w === 'valid_lft' || w === 'preferred_lft') {
      i++;
    } else rest.push(w);
  }
  if (prefix === null || !Number.isInteger(prefix)) prefix = family === 'inet' ? 32 : 128;
  const flags = rest.filter((w) => FLAG_SET.has(w)).sort();
  const others = rest.filter((w) => !FLAG_SET.has(w));
  if (others.length > 1) return `unexpected words: ${others.join(' ')}`;
  const label = family === 'inet' ? (others[0] ?? null) : null;
  if (family === 'inet6' && others.length > 0) return `unexpected word: ${others.join(' ')}`;
  return { family, address, prefixLength: prefix, peer, broadcast, scope: scope ?? 'global', label, flags };
}

/** One `addr_info` element of `ip -j address`. */
export function addressFromJson(o: JsonObject): IpAddress | string {
  const family = jsonString(o, 'family');
  const local = jsonString(o, 'local');
  const prefix = jsonNumber(o, 'prefixlen');
  if (family !== 'inet' && family !== 'inet6') return `unknown family ${String(family)}`;
  if (local === null || prefix === null) return 'address without local or prefixlen';
  const flags = ADDRESS_FLAGS.filter((f) => o[f] === true).sort();
  return {
    family,
    address: local,
    prefixLength: prefix,
    peer: jsonString(o, 'address'),
    broadcast: jsonString(o, 'broadcast'),
    scope: jsonString(o, 'scope') ?? 'global',
    label: family === 'inet' ? jsonString(o, 'label') : null,
    flags,
  };
}

/** One address of `ip -o addr`, with its device. */
export interface IpAddressEntry {
  ifindex: number;
  /** Device name (without `@peer`). */
  device: string;
  address: IpAddress;
}

// `ip -o addr`: `IDX: DEV    inet ADDR ... LABEL\       valid_lft forever preferred_lft forever`
const ONELINE = /^(\d+):\s+([^\s@]+)(?:@\S+)?\s+(inet6?\s.*)$/;

/**
 * `ip -o addr` (text), or `ip -j addr` (JSON: devices with addr_info), as one entry per address in
 * the order printed.
 */
export function parseIpAddrOneline(text: string, source: string): Parsed<IpAddressEntry[]> {
  const issues: ParseIssue[] = [];
  const value: IpAddressEntry[] = [];
  if (isJsonText(text)) {
    for (const el of jsonArrayElements(text, source, issues)) {
      if (!isObject(el.value)) continue;
      const ifindex = jsonNumber(el.value, 'ifindex');
      const device = jsonString(el.value, 'ifname');
      const infos = el.value['addr_info'];
      if (ifindex === null || device === null || !Array.isArray(infos)) {
        issues.push(issue(source, el.line, 'device without ifindex, ifname or addr_info'));
        continue;
      }
      for (const info of infos) {
        const address = isObject(info) ? addressFromJson(info) : 'addr_info element is not an object';
        if (typeof address === 'string') issues.push(issue(source, el.line, address, device));
        else value.push({ ifindex, device, address });
      }
    }
    return { value, issues };
  }
  textLines(text).forEach((raw, i) => {
    if (raw.trim() === '') return;
    const m = ONELINE.exec(raw);
    if (m === null) {
      issues.push(issue(source, i + 1, 'not an `ip -o addr` line', raw));
      return;
    }
    const body = (m[3] ?? '').split('\\')[0] ?? '';
    const address = addressFromTokens(tokens(body));
    if (typeof address === 'string') issues.push(issue(source, i + 1, address, raw));
    else value.push({ ifindex: Number(m[1]), device: m[2] ?? '', address });
  });
  return { value, issues };
}
