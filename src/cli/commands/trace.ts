// hoptrace trace: the offline ofproto/trace of one frame, across patch ports and tunnels to the
// host owning remote_ip, on the topology from snapshot paths or from the store.
import { Command } from 'commander';
import { UsageError } from '../../errors.js';
import { loadSnapshots } from '../snapshot-source.js';
import { FrameSpecError } from '../../openflow/frame.js';
import { formatTrace } from '../../openflow/trace-format.js';
import { walk, type WalkResult } from '../../openflow/walk.js';
import { buildTopologyWorld, FlowTextError, parseFlowText } from '../../pathengine/world.js';
import { buildTopologies } from '../../topology/build.js';
import type { GlobalFlags } from '../main.js';
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
  else {
    const text = formatTrace(result);
    process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
  }
  return result;
}

export { loadSnapshots, type SnapshotSource } from '../snapshot-source.js';
