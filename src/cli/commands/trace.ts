// hoptrace trace: the offline ofproto/trace of one frame, across patch ports and tunnels to the
// host owning remote_ip, on the topology from snapshot paths or from the store.
import { Command } from 'commander';
import type { RawSnapshot } from '../../hoststate/snapshot.js';
import { UsageError } from '../../errors.js';
import { FrameSpecError } from '../../openflow/frame.js';
import { formatTrace } from '../../openflow/trace-format.js';
import { walk, type WalkResult } from '../../openflow/walk.js';
import { buildTopologyWorld, FlowTextError, parseFlowText } from '../../pathengine/world.js';
import { buildTopologies } from '../../topology/build.js';
import type { GlobalFlags } from '../main.js';
import { resolveWithDataDir } from '../resolve-config.js';
import { toJson } from '../json.js';

export interface TraceFlags {
  host: string;
  bridge: string;
  inPort: string;
  flow: string;
  at?: string;
  snapshots?: string[];
  data?: string;
  json?: boolean;
  ctState?: string;
}

export function register(program: Command): void {
  program
    .command('trace')
    .description('Walk one frame through the OpenFlow tables of the snapshots (an offline ovs-appctl ofproto/trace), across patch ports and tunnels')
    .requiredOption('--host <name>', 'the host the frame enters OVS on')
    .requiredOption('--bridge <name>', 'the bridge it enters (e.g. br-int)')
    .requiredOption('--in-port <port>', 'OpenFlow port number or port name (e.g. qvo1234abcd-ef, LOCAL)')
    .requiredOption('--flow <flow>', 'the frame, ofproto/trace style: icmp,dl_src=fa:16:3e:..,dl_dst=..,nw_src=..,nw_dst=..')
    .option('--at <time>', 'the topology in force at this time (ISO 8601; default: the latest snapshot of each host)')
    .option('-s, --snapshots <path...>', 'read snapshots from these paths (sosreports, agent directories, tarballs) instead of the store')
    .option('-d, --data <dir>', 'embedded store directory (default ./data)')
    .option('--ct-state <flags>', 'connection state to assume after ct() recirculation (e.g. trk|est)')
    .option('--json', 'the walk as one JSON object (steps and dispositions)')
    .addHelpText('after', `
Examples:
  $ hoptrace trace --snapshots sos-compute1/ sos-network1/ --host compute1 --bridge br-int \\
      --in-port qvo0a1b2c3d-4e --flow "icmp,dl_src=fa:16:3e:00:00:0b,dl_dst=fa:16:3e:00:00:02,nw_src=203.0.113.11,nw_dst=203.0.113.2"
  $ hoptrace trace --host network1 --bridge br-tun --in-port gre-c0000020b --flow "ip,tun_id=0x49,dl_dst=fa:16:3e:00:00:02" --json
  $ hoptrace trace --host compute1 --bridge br-int --in-port 5 --flow "arp,arp_tpa=203.0.113.2" --at 2026-11-25T08:00:00Z`)
    .action(async (flags: TraceFlags, command: Command) => {
      await runTrace(flags, command.optsWithGlobals());
    });
}

export async function runTrace(flags: TraceFlags, globals: GlobalFlags): Promise<WalkResult> {
  let parsed;
  try {
    parsed = parseFlowText(flags.flow);
  } catch (error) {
    if (error instanceof FlowTextError) throw new UsageError(`--flow: ${error.message}`);
    throw error;
  }
  const raws = await loadSnapshots({ ...(flags.snapshots === undefined ? {} : { snapshots: flags.snapshots }), ...(flags.at === undefined ? {} : { at: flags.at }), ...(flags.data === undefined ? {} : { data: flags.data }) }, globals);
  const { topologies } = buildTopologies(raws);
  const world = buildTopologyWorld(topologies);
  if (world.topology(flags.host) === undefined) throw new UsageError(`no snapshot of host ${flags.host} (have: ${world.hosts().join(', ') || 'none'})`);
  if (world.bridge(flags.host, flags.bridge) === undefined) throw new UsageError(`host ${flags.host} has no bridge ${flags.bridge} (have: ${world.bridges(flags.host).map((b) => b.name).join(', ')})`);
  const inPort = /^\d+$/.test(flags.inPort) ? Number(flags.inPort) : flags.inPort === 'LOCAL' ? 65534 : flags.inPort;
  let result: WalkResult;
  try {
    result = walk(world, { host: flags.host, bridge: flags.bridge, inPort, frame: parsed.spec }, flags.ctState === undefined ? {} : { ctState: flags.ctState });
  } catch (error) {
    if (error instanceof FrameSpecError) throw new UsageError(`--flow: ${error.message}`);
    throw error;
  }
  if (flags.json === true) process.stdout.write(`${toJson(result)}\n`);
  else process.stdout.write(formatTrace(result));
  return result;
}

export interface SnapshotSource {
  snapshots?: string[];
  at?: string;
  data?: string;
  hosts?: string[];
}

/** The latest snapshot of each host (at or before `at`), from paths or from the store's host_snapshots. */
export async function loadSnapshots(source: SnapshotSource, globals: GlobalFlags): Promise<RawSnapshot[]> {
  if (source.at !== undefined && Number.isNaN(Date.parse(source.at))) throw new UsageError(`--at "${source.at}" is not a time (use ISO 8601, e.g. 2026-11-25T08:00:00Z)`);
  const raws = source.snapshots !== undefined ? await fromPaths(source.snapshots, source) : await fromStore(source, globals);
  if (raws.length === 0) {
    throw new UsageError(
      source.snapshots !== undefined
        ? `no host snapshot found in ${source.snapshots.join(', ')}`
        : 'no host snapshot in the store yet: run `hoptrace agent` on the hosts, or `hoptrace import PATH --store`, or pass --snapshots',
    );
  }
  return raws;
}

async function fromPaths(paths: string[], source: SnapshotSource): Promise<RawSnapshot[]> {
  const { importSnapshots } = await import('../../snapshot/import.js');
  const tty = process.stderr.isTTY === true;
  const result = await importSnapshots(paths, {
    ...(tty ? { onProgress: (e: { path: string; index: number; total: number }) => process.stderr.write(`\rreading snapshots ${e.index + 1}/${e.total} ${e.path}\x1b[K`) } : {}),
  });
  if (tty) process.stderr.write('\n');
  for (const problem of result.problems) process.stderr.write(`hoptrace: ${problem.path}: ${problem.message}\n`);
  let snapshots = result.snapshots;
  if (source.hosts !== undefined) snapshots = snapshots.filter((s) => source.hosts?.includes(s.host) === true);
  if (source.at !== undefined) {
    const at = Date.parse(source.at);
    snapshots = snapshots.filter((s) => Date.parse(s.takenAt) <= at);
  }
  const latest = new Map<string, RawSnapshot>();
  for (const s of snapshots) {
    const seen = latest.get(s.host);
    if (seen === undefined || Date.parse(seen.takenAt) < Date.parse(s.takenAt)) latest.set(s.host, s);
  }
  return [...latest.values()].sort((a, b) => a.host.localeCompare(b.host));
}

async function fromStore(source: SnapshotSource, globals: GlobalFlags): Promise<RawSnapshot[]> {
  const { runOn } = await import('./query.js');
  const config = resolveWithDataDir(globals, {}, source.data);
  const where: string[] = [];
  const params: Record<string, string> = {};
  if (source.at !== undefined) {
    where.push("taken_at <= parseDateTime64BestEffort({at:String}, 3, 'UTC')");
    params['at'] = source.at;
  }
  if (source.hosts !== undefined) {
    where.push('has(splitByChar(\',\', {hosts:String}), host)');
    params['hosts'] = source.hosts.join(',');
  }
  const text = await runOn(
    config,
    `SELECT argMax(body, taken_at) AS body FROM host_snapshots ${where.length === 0 ? '' : `WHERE ${where.join(' AND ')}`} GROUP BY host ORDER BY host`,
    'JSONEachRow',
    params,
  );
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse((JSON.parse(line) as { body: string }).body) as RawSnapshot);
}
