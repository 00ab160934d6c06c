// hoptrace paths: the paths the service's path stage stored (tables paths and path_hops), listed,
// shown hop by hop, and summed up as drop points. Reads the store the way `hoptrace query` does:
// the embedded directory, or a running service's /v1/query while it holds that directory.
import { isIP } from 'node:net';
import { Command, InvalidArgumentError } from 'commander';
import { UsageError } from '../../errors.js';
import { storedPath, type StoredHopRow, type StoredPathRow } from '../../pathengine/path-json.js';
import type { GlobalFlags } from '../main.js';
import { toJson } from '../json.js';
import { resolveWithDataDir } from '../resolve-config.js';
import { runOn } from './query.js';

const VERDICTS = ['delivered', 'dropped', 'lost', 'incomplete'] as const;

export interface PathsFlags {
  data?: string;
  since?: string;
  until?: string;
  /** One or more verdicts; each may be a comma list (`dropped,lost`). */
  verdict?: string | string[];
  ip?: string;
  host?: string;
  limit?: number;
  json?: boolean;
}

/** A row of `paths` and of `path_hops`, as stored (snake_case, ClickHouse times). */
export type StoredPath = StoredPathRow;
export type StoredHop = StoredHopRow;

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n <= 0) throw new InvalidArgumentError(`expected a positive whole number, got "${value}"`);
  return n;
}

/** "15m", "2h", "1d", "30s" before now, or an ISO 8601 time; the ISO time it stands for. */
export function timeArg(name: string, value: string, now = Date.now()): string {
  const rel = /^(\d+)\s*(s|m|h|d)$/.exec(value.trim());
  if (rel !== null) {
    const unit = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[rel[2] as 's' | 'm' | 'h' | 'd'];
    return new Date(now - Number(rel[1]) * unit).toISOString();
  }
  const t = Date.parse(value);
  if (Number.isNaN(t)) throw new UsageError(`${name} "${value}" is not a time: use ISO 8601 (2026-11-25T08:00:00Z) or a span before now (30s, 15m, 2h, 1d)`);
  return new Date(t).toISOString();
}

function filters(flags: PathsFlags): { where: string; params: Record<string, string> } {
  const where: string[] = [];
  const params: Record<string, string> = {};
  params['since'] = timeArg('--since', flags.since ?? '1h');
  where.push("first_seen >= parseDateTime64BestEffort({since:String}, 3, 'UTC')");
  if (flags.until !== undefined) {
    params['until'] = timeArg('--until', flags.until);
    where.push("first_seen <= parseDateTime64BestEffort({until:String}, 3, 'UTC')");
  }
  const verdicts = verdictList(flags.verdict);
  if (verdicts.length > 0) {
    params['verdicts'] = verdicts.join(',');
    where.push("has(splitByChar(',', {verdicts:String}), verdict)");
  }
  if (flags.ip !== undefined) {
    if (isIP(flags.ip) === 0) throw new UsageError(`--ip "${flags.ip}" is not an IPv4 or IPv6 address`);
    params['ip'] = flags.ip;
    // also by the addresses past a router's NAT: a floating IP, an SNAT address
    where.push('(src_ip = {ip:String} OR dst_ip = {ip:String} OR nat_src_ip = {ip:String} OR nat_dst_ip = {ip:String})');
  }
  if (flags.host !== undefined) {
    params['host'] = flags.host;
    where.push('(start_host = {host:String} OR end_host = {host:String} OR drop_host = {host:String})');
  }
  return { where: where.join(' AND '), params };
}

/** --verdict dropped lost, --verdict dropped,lost, or both mixed: the verdicts, checked, without repeats. */
export function verdictList(value: string | readonly string[] | undefined): string[] {
  if (value === undefined) return [];
  const words = (typeof value === 'string' ? [value] : value).flatMap((v) => v.split(',')).map((v) => v.trim()).filter((v) => v !== '');
  for (const word of words) {
    if (!(VERDICTS as readonly string[]).includes(word)) throw new UsageError(`--verdict "${word}": use one or more of ${VERDICTS.join(', ')}`);
  }
  return [...new Set(words)];
}

/** The filters given, as a reader would type them, and the time range: "for --ip 192.0.2.9 in the last 1h". */
export function describeFilters(flags: PathsFlags, withVerdict = true): string {
  const given: string[] = [];
  const verdicts = withVerdict ? verdictList(flags.verdict) : [];
  if (flags.ip !== undefined) given.push(`--ip ${flags.ip}`);
  if (flags.host !== undefined) given.push(`--host ${flags.host}`);
  if (verdicts.length > 0) given.push(`--verdict ${verdicts.join(',')}`);
  const since = flags.since ?? '1h';
  const relative = /^\d+\s*[smhd]$/.test(since.trim());
  const range = `${relative ? `in the last ${since.trim()}` : `since ${since}`}${flags.until === undefined ? '' : ` until ${flags.until}`}`;
  return given.length === 0 ? range : `for ${given.join(' ')} ${range}`;
}

async function rows<T>(flags: PathsFlags, globals: GlobalFlags, sql: string, params: Record<string, string>): Promise<T[]> {
  const config = resolveWithDataDir(globals, {}, flags.data);
  const text = await runOn(config, sql, 'JSONEachRow', params);
  return text.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as T);
}

const COLUMNS = 'first_seen, last_seen, path_id, kind, verdict, confidence, answered, conflict, conflict_reason, src_mac, dst_mac, src_ip, dst_ip, nat_host, nat_namespace, nat_src_ip, nat_dst_ip, ip_protocol, src_port, dst_port, icmp_type, fingerprint, observations, sampling_rate, hops, observed_hops, drop_host, drop_device, drop_bridge, drop_table, drop_rule, drop_reason, doubts, checks, coverage, snapshots';

export async function listPaths(flags: PathsFlags, globals: GlobalFlags): Promise<StoredPath[]> {
  const { where, params } = filters(flags);
  params['limit'] = String(flags.limit ?? 50);
  return rows<StoredPath>(flags, globals, `SELECT ${COLUMNS} FROM paths FINAL WHERE ${where} ORDER BY first_seen DESC LIMIT {limit:UInt32}`, params);
}

export async function showPath(id: string, flags: PathsFlags, globals: GlobalFlags): Promise<{ path: StoredPath; hops: StoredHop[] }> {
  // the id ends in the first-seen time (ms): it picks the partition and the key range
  const ms = /@(\d+)$/.exec(id)?.[1];
  if (ms === undefined) throw new UsageError(`"${id}" is not a path id (FINGERPRINT@MILLISECONDS, as \`hoptrace paths\` lists them)`);
  // (within a minute of it: ids stored before a joined path's id took its earlier leg's time)
  const found = await rows<StoredPath>(flags, globals, `SELECT ${COLUMNS} FROM paths FINAL WHERE first_seen BETWEEN fromUnixTimestamp64Milli(toInt64({ms:String}) - 60000, 'UTC') AND fromUnixTimestamp64Milli(toInt64({ms:String}) + 60000, 'UTC') AND path_id = {id:String} LIMIT 1`, { id, ms });
  const path = found[0];
  if (path === undefined) throw new UsageError(`no stored path ${id}: list them with \`hoptrace paths --since 1d\``);
  const hops = await rows<StoredHop>(
    flags,
    globals,
    'SELECT seq, host, namespace, kind, device, bridge, in_port, out_port, vlan, tunnel_id, remote_ip, observed, rules, notes FROM path_hops FINAL WHERE first_seen = toDateTime64({first:String}, 3, \'UTC\') AND path_id = {id:String} AND seq <= toUInt16({hops:String}) ORDER BY seq',
    { id, first: path.first_seen, hops: String(path.hops) },
  );
  return { path, hops };
}

export interface DropPoint {
  drop_host: string;
  drop_device: string;
  drop_table: string;
  drop_rule: string;
  drop_reason: string;
  paths: string;
  first: string;
  last: string;
  example: string;
}

export async function dropPoints(flags: PathsFlags, globals: GlobalFlags): Promise<DropPoint[]> {
  const { where, params } = filters({ ...flags, verdict: 'dropped' });
  params['limit'] = String(flags.limit ?? 20);
  return rows<DropPoint>(
    flags,
    globals,
    `SELECT drop_host, drop_device, drop_table, drop_rule, any(drop_reason) AS drop_reason, count() AS paths, min(first_seen) AS first, max(first_seen) AS last, any(path_id) AS example
     FROM paths FINAL WHERE ${where} GROUP BY drop_host, drop_device, drop_table, drop_rule ORDER BY count() DESC LIMIT {limit:UInt32}`,
    params,
  );
}

function proto(p: StoredPath): string {
  if (p.ip_protocol === 1) return `icmp ${p.icmp_type ?? '?'}`;
  if (p.ip_protocol === 6 || p.ip_protocol === 17) return `${p.ip_protocol === 6 ? 'tcp' : 'udp'} ${p.src_port ?? '?'}→${p.dst_port ?? '?'}`;
  // without an IP protocol, only ARP gives addresses (sender and target)
  return p.ip_protocol === null ? (p.src_ip !== '' || p.dst_ip !== '' ? 'arp' : 'non-IP') : `proto ${p.ip_protocol}`;
}

function pad(s: string, n: number): string {
  return s.length >= n ? s : s + ' '.repeat(n - s.length);
}

function dropText(p: { drop_host: string; drop_device: string; drop_table: string }): string {
  return p.drop_host === '' ? '' : `${p.drop_host} ${p.drop_device}${p.drop_table === '' ? '' : ` table ${p.drop_table}`}`;
}

export function formatList(paths: readonly StoredPath[], flags: PathsFlags = {}): string {
  if (paths.length === 0) {
    const filtered = flags.ip !== undefined || flags.host !== undefined || verdictList(flags.verdict).length > 0;
    return `no paths ${describeFilters(flags)} (the service writes them a few seconds after the traffic; ${filtered ? 'check the filters, or ' : ''}widen --since?)\n`;
  }
  const out = [`${pad('first seen (UTC)', 24)} ${pad('verdict', 10)} ${pad('conf', 4)} ${pad('from → to', 36)} ${pad('what', 14)} ${pad('dropped at', 30)} path`];
  for (const p of paths) {
    const flow = `${p.src_ip || p.src_mac} → ${p.dst_ip || p.dst_mac}`;
    const mark = p.conflict ? '!' : p.answered === false ? '?' : '';
    out.push(`${pad(p.first_seen, 24)} ${pad(p.verdict + mark, 10)} ${pad(p.confidence.toFixed(2), 4)} ${pad(flow, 36)} ${pad(`${proto(p)}${p.nat_host === '' ? '' : ' nat'}`, 14)} ${pad(dropText(p), 30)} ${p.path_id}`);
  }
  out.push('', 'verdict marks: ! conflict (observations or an answer contradict the verdict: snapshots out of date?), ? request never answered. nat: through a router\'s NAT (shown with the first side\'s addresses; --ip finds either side). Details: hoptrace paths show PATH_ID');
  return `${out.join('\n')}\n`;
}

export function formatShow({ path: p, hops }: { path: StoredPath; hops: readonly StoredHop[] }): string {
  const out: string[] = [];
  out.push(`path ${p.path_id}  ${p.src_ip || p.src_mac} → ${p.dst_ip || p.dst_mac} ${proto(p)}  ${p.verdict.toUpperCase()} (confidence ${p.confidence.toFixed(2)}, ${p.observations} sample${p.observations === 1 ? "" : "s"} at 1-in-${p.sampling_rate}, ${p.first_seen} – ${p.last_seen})`);
  if (p.nat_host !== '') out.push(`  nat: ${p.nat_src_ip} → ${p.nat_dst_ip} on the other side of ${p.nat_namespace} on ${p.nat_host}`);
  if (p.drop_host !== '') out.push(`  dropped on ${dropText(p)}: ${p.drop_reason}${p.drop_rule === '' ? '' : `\n    rule: ${p.drop_rule}`}`);
  if (p.conflict) out.push(`  CONFLICT: ${p.conflict_reason}`);
  else if (p.answered === false) out.push(`  no answer seen${p.verdict === 'delivered' ? ': delivered, yet nothing came back (the service, or the instance\'s own firewall?)' : ''}`);
  out.push(`  ${pad('#', 3)} ${pad('seen', 5)} ${pad('host', 10)} ${pad('kind', 13)} ${pad('device', 22)} ${pad('in', 18)} ${pad('out', 18)} ${pad('vlan', 5)} tun`);
  for (const h of hops) {
    const tun = h.tunnel_id === null ? '' : `0x${BigInt(h.tunnel_id).toString(16)}`;
    out.push(`  ${pad(String(h.seq), 3)} ${pad(h.observed ? 'yes' : '-', 5)} ${pad(h.host, 10)} ${pad(h.kind, 13)} ${pad(h.namespace === '' ? h.device : `${h.namespace}:${h.device}`, 22)} ${pad(h.in_port, 18)} ${pad(h.out_port, 18)} ${pad(h.vlan === null ? '' : String(h.vlan), 5)} ${tun}`);
    for (const r of h.rules) out.push(`        ${r}`);
    for (const n of h.notes) out.push(`        note: ${n}`);
  }
  for (const d of p.doubts) out.push(`  doubt: ${d}`);
  for (const c of p.checks) out.push(`  check on ${c}`);
  for (const c of p.coverage) out.push(`  coverage: ${c}`);
  if (p.snapshots.length > 0) out.push(`  judged by snapshots: ${p.snapshots.join(', ')}`);
  return `${out.join('\n')}\n`;
}

export function formatDrops(drops: readonly DropPoint[], flags: PathsFlags = {}): string {
  if (drops.length === 0) return `no dropped paths ${describeFilters(flags, false)}\n`;
  const width = Math.max(12, ...drops.map((d) => d.example.length));
  const out = [`${pad('paths', 6)} ${pad('where', 34)} ${pad('last seen (UTC)', 24)} ${pad('example path', width)} rule / reason`];
  for (const d of drops) out.push(`${pad(d.paths, 6)} ${pad(dropText(d), 34)} ${pad(d.last, 24)} ${pad(d.example, width)} ${d.drop_rule === '' ? d.drop_reason : d.drop_rule}`);
  out.push('', 'Each drop point hop by hop: hoptrace paths show EXAMPLE_PATH');
  return `${out.join('\n')}\n`;
}

/** The options list and drops share; `json` says what --json prints for the command. */
function common(c: Command, json: string): Command {
  return c
    .option('-d, --data <dir>', 'embedded store directory (default ./data; a running service on it answers instead)')
    .option('--since <time>', 'paths first seen at or after this: ISO 8601 or a span before now (30s, 15m, 2h, 1d)', '1h')
    .option('--until <time>', 'paths first seen at or before this')
    .option('--ip <address>', 'paths from or to this address (IP, or ARP sender/target), also as a router\'s NAT gives it (a floating IP, an SNAT address)')
    .option('--host <name>', 'paths that start, end or die on this host')
    .option('--limit <n>', 'at most this many rows', positiveInt)
    .option('--json', json);
}

export function register(program: Command): void {
  const paths = program
    .command('paths')
    .description('Paths the service judged from the stream: list them, show one hop by hop, or sum up where frames die')
    .addHelpText('after', `
The service (hoptrace serve) writes a path for every frame (sampling 1) or flow (sampling 1-in-N)
its exporters saw, a few seconds after the traffic: verdict delivered / dropped / lost / incomplete,
where it died and by which rule, hop by hop. Tables: paths, path_hops (docs/paths.md).

--json prints paths the way \`hoptrace analyze --json\` does (pathId, flow, drop, hops, checks,
snapshots, nat, ISO times): one script reads both. \`paths --json\` leaves out the hops and gives
hopCount and observedHops instead; \`paths show --json\` has them. \`paths drops --json\` prints the
drop points' rows.

Examples:
  $ hoptrace paths --verdict dropped --since 15m
  $ hoptrace paths --ip 203.0.113.11 --json | jq -c '{pathId, verdict, drop}'
  $ hoptrace paths drops --since 1d
  $ hoptrace paths show 9f3c0a1b2c3d4e5f@1795600899104
  $ hoptrace paths show 9f3c0a1b2c3d4e5f@1795600899104 --json | jq '.hops[] | {seq, host, device, rules}'`);
  common(
    paths.command('list', { isDefault: true }).description('the latest paths, newest first'),
    'one path per line, as `hoptrace analyze --json` prints it but without the hops: hopCount and observedHops instead (the hops: paths show ID --json)',
  )
    .option('--verdict <verdict...>', `only these verdicts (${VERDICTS.join(', ')}), space- or comma-separated`)
    .action(async (flags: PathsFlags, command: Command) => {
      const list = await listPaths(flags, command.optsWithGlobals());
      process.stdout.write(flags.json === true ? list.map((p) => `${toJson(storedPath(p))}\n`).join('') : formatList(list, flags));
    });
  paths
    .command('show <pathId>')
    .description('one path hop by hop: devices, ports, VLAN and tunnel id, the rules that decided, doubts, checks to run')
    .option('-d, --data <dir>', 'embedded store directory (default ./data)')
    .option('--json', 'the path as one JSON object, as `hoptrace analyze --json` prints it, hops included')
    .action(async (id: string, flags: PathsFlags, command: Command) => {
      const shown = await showPath(id, flags, command.optsWithGlobals());
      process.stdout.write(flags.json === true ? `${toJson(storedPath(shown.path, shown.hops))}\n` : formatShow(shown));
    });
  common(
    paths.command('drops').description('drop points: where dropped paths died, by host, device, table and rule, most first'),
    'one drop point per line: drop_host, drop_device, drop_table, drop_rule, drop_reason, paths, first, last, example',
  )
    .action(async (flags: PathsFlags, command: Command) => {
      const drops = await dropPoints(flags, command.optsWithGlobals());
      process.stdout.write(flags.json === true ? drops.map((d) => `${toJson(d)}\n`).join('') : formatDrops(drops, flags));
    });
}
