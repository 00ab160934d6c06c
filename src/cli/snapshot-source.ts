// Where the CLI's host snapshots come from: paths (extracted sosreports, agent --out trees,
// tarballs) or the store's host_snapshots. Either way the latest snapshot of each host taken at or
// before `at`. Used by topology, trace and analyze.
import type { RawSnapshot } from '../hoststate/snapshot.js';
import { UsageError } from '../errors.js';
import type { GlobalFlags } from './main.js';
import { resolveWithDataDir } from './resolve-config.js';

export interface SnapshotSource {
  snapshots?: string[];
  at?: string;
  data?: string;
  hosts?: string[];
  /**
   * Every version in force over a time range instead of the latest (analyze): per host the latest
   * taken at or before `fromMs` and every one taken up to `toMs`. Without `at`, paths keep all
   * their versions when given no range.
   */
  between?: { fromMs: number; toMs: number };
}

/** The latest snapshot of each host (at or before `at`), from paths or from the store. */
export async function loadSnapshots(source: SnapshotSource, globals: GlobalFlags): Promise<RawSnapshot[]> {
  if (source.at !== undefined && Number.isNaN(Date.parse(source.at))) throw new UsageError(`--at "${source.at}" is not a time (use ISO 8601, e.g. 2026-11-25T08:00:00Z)`);
  const raws = source.snapshots !== undefined ? await fromPaths(source.snapshots, source) : await fromStore(source, globals);
  if (raws.length === 0) {
    const hosts = source.hosts === undefined ? '' : ` for ${source.hosts.join(', ')}`;
    throw new UsageError(
      source.snapshots !== undefined
        ? `no host snapshot${hosts}${source.at === undefined ? '' : ` taken at or before ${source.at}`} in ${source.snapshots.join(', ')}`
        : source.at !== undefined
          ? `no host snapshot${hosts} taken at or before ${source.at} in the store`
          : `no host snapshot${hosts} in the store yet: run \`hoptrace agent\` on the hosts, or \`hoptrace import PATH --store\`, or pass --snapshots`,
    );
  }
  return raws;
}

async function fromPaths(paths: string[], source: SnapshotSource): Promise<RawSnapshot[]> {
  const { importSnapshots } = await import('../snapshot/import.js');
  const tty = process.stderr.isTTY === true;
  const result = await importSnapshots(paths, {
    ...(tty ? { onProgress: (e: { path: string; index: number; total: number }) => process.stderr.write(`\rreading snapshots ${e.index + 1}/${e.total} ${e.path}\x1b[K`) } : {}),
  });
  if (tty) process.stderr.write('\n');
  if (result.snapshots.length === 0) {
    throw new UsageError(`no host snapshot found: ${result.problems.map((p) => `${p.path}: ${p.message}`).join('; ') || `nothing readable in ${paths.join(', ')}`}`);
  }
  for (const problem of result.problems) process.stderr.write(`hoptrace: ${problem.path}: ${problem.message}\n`);
  let snapshots = result.snapshots;
  if (source.hosts !== undefined) snapshots = snapshots.filter((s) => source.hosts?.includes(s.host) === true);
  if (source.at !== undefined) {
    return inForceAt(snapshots, Date.parse(source.at), source.at);
  } else if (source.between !== undefined) {
    return inForceBetween(snapshots, source.between);
  }
  const latest = new Map<string, RawSnapshot>();
  for (const s of snapshots) {
    const seen = latest.get(s.host);
    if (seen === undefined || Date.parse(seen.takenAt) < Date.parse(s.takenAt)) latest.set(s.host, s);
  }
  return [...latest.values()].sort((a, b) => a.host.localeCompare(b.host));
}

async function fromStore(source: SnapshotSource, globals: GlobalFlags): Promise<RawSnapshot[]> {
  const { runOn } = await import('./commands/query.js');
  const config = resolveWithDataDir(globals, {}, source.data);
  const where: string[] = [];
  const params: Record<string, string> = {};
  if (source.at !== undefined) {
    where.push("taken_at <= parseDateTime64BestEffort({at:String}, 3, 'UTC')");
    params['at'] = source.at;
  }
  if (source.hosts !== undefined) {
    where.push("has(splitByChar(',', {hosts:String}), host)");
    params['hosts'] = source.hosts.join(',');
  }
  let sql = `SELECT argMax(body, taken_at) AS body FROM host_snapshots ${where.length === 0 ? '' : `WHERE ${where.join(' AND ')}`} GROUP BY host ORDER BY host`;
  if (source.at !== undefined) {
    // and, for a host with none that early, its first one (inForceAt says so)
    const hosts = source.hosts === undefined ? '' : " AND has(splitByChar(',', {hosts:String}), host)";
    sql = `SELECT body FROM host_snapshots FINAL
      WHERE (host, taken_at) IN (SELECT host, max(taken_at) FROM host_snapshots WHERE taken_at <= parseDateTime64BestEffort({at:String}, 3, 'UTC')${hosts} GROUP BY host)
         OR (host, taken_at) IN (SELECT host, min(taken_at) FROM host_snapshots WHERE 1${hosts} GROUP BY host)
      ORDER BY host, taken_at`;
  }
  if (source.at === undefined && source.between !== undefined) {
    // the latest of each host at or before the start, and every later one up to the end
    params['from'] = new Date(source.between.fromMs).toISOString();
    params['to'] = new Date(source.between.toMs).toISOString();
    const hosts = source.hosts === undefined ? '' : " AND has(splitByChar(',', {hosts:String}), host)";
    // (and each host's first one after the start: snapshots are often taken after the capture)
    sql = `SELECT body FROM host_snapshots FINAL
      WHERE ((host, taken_at) IN (SELECT host, max(taken_at) FROM host_snapshots WHERE taken_at <= parseDateTime64BestEffort({from:String}, 3, 'UTC')${hosts} GROUP BY host)
         OR (host, taken_at) IN (SELECT host, min(taken_at) FROM host_snapshots WHERE taken_at > parseDateTime64BestEffort({from:String}, 3, 'UTC')${hosts} GROUP BY host)
         OR taken_at BETWEEN parseDateTime64BestEffort({from:String}, 3, 'UTC') AND parseDateTime64BestEffort({to:String}, 3, 'UTC'))${hosts}
      ORDER BY host, taken_at`;
  }
  const text = await runOn(config, sql, 'JSONEachRow', params);
  if (source.at === undefined && source.between !== undefined) {
    return inForceBetween(text.split('\n').filter((line) => line !== '').map((line) => JSON.parse((JSON.parse(line) as { body: string }).body) as RawSnapshot), source.between);
  }
  const raws = text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse((JSON.parse(line) as { body: string }).body) as RawSnapshot);
  return source.at === undefined ? raws : inForceAt(raws, Date.parse(source.at), source.at);
}

/**
 * Per host the latest version taken at or before `atMs`; a host whose first snapshot is later gets
 * that one, with a warning (it is all there is of that host, and leaving the host out would turn
 * every frame towards it into a tunnel to nowhere).
 */
export function inForceAt(snapshots: readonly RawSnapshot[], atMs: number, atText: string, warn: (line: string) => void = (line) => process.stderr.write(`${line}\n`)): RawSnapshot[] {
  const chosen = new Map<string, RawSnapshot>();
  for (const s of snapshots) {
    const t = Date.parse(s.takenAt);
    const seen = chosen.get(s.host);
    if (seen === undefined) {
      chosen.set(s.host, s);
      continue;
    }
    const u = Date.parse(seen.takenAt);
    // at or before: the latest; none yet at or before: the earliest
    if ((t <= atMs && (u > atMs || t > u)) || (t > atMs && u > atMs && t < u)) chosen.set(s.host, s);
  }
  const out = [...chosen.values()].sort((a, b) => a.host.localeCompare(b.host));
  for (const s of out) {
    const t = Date.parse(s.takenAt);
    if (t > atMs) warn(`hoptrace: ${s.host} has no snapshot taken at or before ${atText}: using its first, taken ${s.takenAt} (${((t - atMs) / 1000).toFixed(1)} s later)`);
  }
  return out;
}

/** Per host the latest version taken at or before `fromMs` and every one taken up to `toMs`, by host and time. */
export function inForceBetween(snapshots: readonly RawSnapshot[], range: { fromMs: number; toMs: number }): RawSnapshot[] {
  const byHost = new Map<string, RawSnapshot[]>();
  for (const s of snapshots) {
    const list = byHost.get(s.host) ?? [];
    list.push(s);
    byHost.set(s.host, list);
  }
  const out: RawSnapshot[] = [];
  for (const [, list] of [...byHost].sort(([a], [b]) => a.localeCompare(b))) {
    list.sort((a, b) => Date.parse(a.takenAt) - Date.parse(b.takenAt));
    let first = 0;
    for (let i = 0; i < list.length; i++) if (Date.parse(list[i]?.takenAt ?? '') <= range.fromMs) first = i;
    for (let i = first; i < list.length; i++) {
      const s = list[i] as RawSnapshot;
      if (i === first || Date.parse(s.takenAt) <= range.toMs) out.push(s);
    }
  }
  return out;
}
