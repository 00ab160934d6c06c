// Routes from `ip route show table all` (text, sosreport) and `ip -j route show table all` (JSON,
// the agent), IPv4 and IPv6 together. iproute2 6.x ip/iproute.c print_route:
//
//   [TYPE] DST|default [via [FAMILY] GW] [dev DEV] [table T] [proto P] [scope S] [src A] [metric M] [FLAGS] [pref P]...
//   	nexthop via GW dev DEV weight W [FLAGS]        <- multipath, on lines of their own
//
// TYPE is printed unless unicast; `table` unless main. JSON leaves out the same keys.
import type { ParseIssue, Parsed } from '../snapshot.js';
import { issue, isJsonText, isObject, jsonArrayElements, jsonNumber, jsonObject, jsonString, jsonStrings, textLines, tokens, type JsonObject } from './parse-util.js';

export const ROUTE_TYPES = ['unicast', 'local', 'broadcast', 'multicast', 'anycast', 'blackhole', 'unreachable', 'prohibit', 'throw', 'nat', 'xresolve'] as const;
export type RouteType = (typeof ROUTE_TYPES)[number];

export interface RouteNexthop {
  gateway: string | null;
  dev: string | null;
  weight: number | null;
  flags: string[];
}

export interface IpRoute {
  table: string;
  type: RouteType | (string & {});
  /** `default` or a prefix (`203.0.113.0/24`, a host route without `/`). */
  dst: string;
  /** Told from dst, gateway or src: 'inet6' when any has a `:`; null for `default` with none. */
  family: 'inet' | 'inet6' | null;
  gateway: string | null;
  dev: string | null;
  protocol: string | null;
  scope: string | null;
  /** Preferred source (`src`, JSON `prefsrc`). */
  src: string | null;
  metric: number | null;
  /** onlink, linkdown, dead... sorted. */
  flags: string[];
  nexthops: RouteNexthop[];
}

const TYPE_SET: ReadonlySet<string> = new Set(ROUTE_TYPES);
const FLAG_WORDS = new Set(['dead', 'onlink', 'pervasive', 'offload', 'trap', 'notify', 'linkdown', 'unresolved', 'rt_offload', 'rt_trap', 'rt_offload_failed']);
/** Attributes with one value that are not modelled (kept out of the model so both forms agree). */
const SKIP_ONE = new Set(['pref', 'expires', 'error', 'nhid', 'tos', 'dsfield', 'realm', 'realms', 'hoplimit', 'advmss', 'rtt', 'rttvar', 'reordering', 'window', 'cwnd', 'initcwnd', 'initrwnd', 'ssthresh', 'quickack', 'congctl', 'features', 'fastopen_no_cookie', 'rto_min', 'from', 'mark', 'uid', 'iif', 'oif', 'age', 'users', 'used', 'ttl-propagate']);

function familyOf(...addresses: (string | null)[]): 'inet' | 'inet6' | null {
  const known = addresses.filter((a): a is string => a !== null && a !== 'default');
  if (known.length === 0) return null;
  return known.some((a) => a.includes(':')) ? 'inet6' : 'inet';
}

export function parseIpRoute(text: string, source: string): Parsed<IpRoute[]> {
  const issues: ParseIssue[] = [];
  const value = isJsonText(text) ? routesFromJson(text, source, issues) : routesFromText(text, source, issues);
  return { value, issues };
}

function routesFromText(text: string, source: string, issues: ParseIssue[]): IpRoute[] {
  const routes: IpRoute[] = [];
  textLines(text).forEach((raw, i) => {
    const line = i + 1;
    if (raw.trim() === '') return;
    const words = tokens(raw);
    if (/^\s/.test(raw) && words[0] === 'nexthop') {
      const last = routes[routes.length - 1];
      if (last === undefined) {
        issues.push(issue(source, line, 'nexthop before any route', raw));
        return;
      }
      const hop: RouteNexthop = { gateway: null, dev: null, weight: null, flags: [] };
      for (let k = 1; k < words.length; k++) {
        const w = words[k] ?? '';
        if (w === 'via') {
          if (words[k + 1] === 'inet' || words[k + 1] === 'inet6') k++;
          hop.gateway = words[++k] ?? null;
        } else if (w === 'dev') hop.dev = words[++k] ?? null;
        else if (w === 'weight') hop.weight = Number(words[++k]);
        else if (FLAG_WORDS.has(w)) hop.flags.push(w);
        else issues.push(issue(source, line, `unknown nexthop attribute ${w}`, raw));
      }
      hop.flags.sort();
      last.nexthops.push(hop);
      last.family ??= familyOf(hop.gateway);
      return;
    }
    let k = 0;
    let type = 'unicast';
    if (TYPE_SET.has(words[0] ?? '')) {
      type = words[0] ?? 'unicast';
      k = 1;
    }
    const dst = words[k];
    if (dst === undefined || /^[a-z]+$/.test(dst) && dst !== 'default') {
      issues.push(issue(source, line, 'not a route line', raw));
      return;
    }
    const route: IpRoute = { table: 'main', type, dst, family: null, gateway: null, dev: null, protocol: null, scope: null, src: null, metric: null, flags: [], nexthops: [] };
    let bad: string | undefined;
    for (k++; k < words.length; k++) {
      const w = words[k] ?? '';
      const next = words[k + 1];
      if (w === 'via') {
        if (next === 'inet' || next === 'inet6') k++;
        route.gateway = words[++k] ?? null;
      } else if (w === 'dev') route.dev = words[++k] ?? null;
      else if (w === 'table') route.table = words[++k] ?? 'main';
      else if (w === 'proto') route.protocol = words[++k] ?? null;
      else if (w === 'scope') route.scope = words[++k] ?? null;
      else if (w === 'src') route.src = words[++k] ?? null;
      else if (w === 'metric') route.metric = Number(words[++k]);
      else if (w === 'mtu' || w === 'advmss' || w === 'window') k += next === 'lock' ? 2 : 1;
      else if (FLAG_WORDS.has(w)) route.flags.push(w);
      else if (SKIP_ONE.has(w)) k++;
      else if (w === 'cache' || w === 'proxy') continue;
      else bad ??= w;
    }
    if (bad !== undefined) issues.push(issue(source, line, `unknown route attribute ${bad}`, raw));
    if (route.metric !== null && !Number.isInteger(route.metric)) {
      issues.push(issue(source, line, 'bad metric', raw));
      route.metric = null;
    }
    route.flags.sort();
    route.family = familyOf(route.dst, route.gateway, route.src);
    routes.push(route);
  });
  return routes;
}

function gatewayOf(o: JsonObject): string | null {
  return jsonString(o, 'gateway') ?? (jsonObject(o, 'via') !== null ? jsonString(jsonObject(o, 'via') ?? {}, 'host') : null);
}

function routesFromJson(text: string, source: string, issues: ParseIssue[]): IpRoute[] {
  const routes: IpRoute[] = [];
  for (const el of jsonArrayElements(text, source, issues)) {
    const o = el.value;
    const dst = isObject(o) ? jsonString(o, 'dst') : null;
    if (!isObject(o) || dst === null) {
      issues.push(issue(source, el.line, 'route without dst'));
      continue;
    }
    const hops = Array.isArray(o['nexthops']) ? o['nexthops'].filter(isObject) : [];
    const route: IpRoute = {
      table: jsonString(o, 'table') ?? 'main',
      type: jsonString(o, 'type') ?? 'unicast',
      dst,
      family: null,
      gateway: gatewayOf(o),
      dev: jsonString(o, 'dev'),
      protocol: jsonString(o, 'protocol'),
      scope: jsonString(o, 'scope'),
      src: jsonString(o, 'prefsrc'),
      metric: jsonNumber(o, 'metric'),
      flags: jsonStrings(o, 'flags').sort(),
      nexthops: hops.map((h) => ({ gateway: gatewayOf(h), dev: jsonString(h, 'dev'), weight: jsonNumber(h, 'weight'), flags: jsonStrings(h, 'flags').sort() })),
    };
    route.family = familyOf(route.dst, route.gateway, route.src) ?? familyOf(...route.nexthops.map((h) => h.gateway));
    routes.push(route);
  }
  return routes;
}
