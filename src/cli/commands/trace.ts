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
import { CT_STATE_BITS } from '../../openflow/fields.js';
import { parseMasked } from '../../openflow/values.js';
import type { WalkBridge } from '../../openflow/bridge-index.js';
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

/** OpenFlow's number for the bridge's own port (ovs-fields(7) in_port: OFPP_LOCAL). */
const OFPP_LOCAL = 0xfffe;
const CT_STATE_FLAGS = Object.keys(CT_STATE_BITS).join(', ');

export function register(program: Command): void {
  program
    .command('trace')
    .description('Walk one frame through the OpenFlow tables of the snapshots (an offline ovs-appctl ofproto/trace), across patch ports and tunnels')
    .requiredOption('--host <name>', 'the host the frame enters OVS on')
    .requiredOption('--bridge <name>', 'the bridge it enters (e.g. br-int)')
    .requiredOption('--in-port <port>', 'a port of that bridge: OpenFlow port number or port name (e.g. qvo1234abcd-ef, LOCAL)')
    .requiredOption('--flow <flow>', 'the frame, ofproto/trace style: icmp,dl_src=fa:16:3e:..,dl_dst=..,nw_src=..,nw_dst=..')
    .option('--at <time>', 'the topology in force at this time (ISO 8601; default: the latest snapshot of each host)')
    .option('-s, --snapshots <path...>', 'read snapshots from these paths (sosreports, agent directories, tarballs) instead of the store')
    .option('-d, --data <dir>', 'embedded store directory (default ./data)')
    .option('--ct-state <flags>', `connection state to assume after ct() recirculation: flags ${CT_STATE_FLAGS} as trk|est or +trk+est-new`)
    .option('--json', 'the walk as one JSON object (steps and dispositions)')
    .addHelpText('after', `
Examples:
  $ hoptrace trace --snapshots sosreport-compute1/ sosreport-network1/ --host compute1 --bridge br-int \\
      --in-port qvoa5fe27e5-f9 --flow "icmp,dl_src=fa:16:3e:00:11:5c,dl_dst=fa:16:3e:0b:a2:a4,nw_src=203.0.113.11,nw_dst=203.0.113.2"
  $ hoptrace trace --host network1 --bridge br-tun --in-port gre-c000020b --flow "ip,tun_id=0x49,dl_dst=fa:16:3e:0b:a2:a4" --json
  $ hoptrace trace --host compute1 --bridge br-int --in-port 2 --at 2026-11-25T10:53:05Z \\
      --flow "arp,dl_src=fa:16:3e:00:11:5c,dl_dst=ff:ff:ff:ff:ff:ff,arp_spa=203.0.113.11,arp_sha=fa:16:3e:00:11:5c,arp_tpa=203.0.113.2"
(the ports, addresses and times are those of the lab snapshots in test/fixtures/lab-capture/snapshots/)`)
    .action(async (flags: TraceFlags, command: Command) => {
      await runTrace(flags, command.optsWithGlobals());
    });
}

export async function runTrace(flags: TraceFlags, globals: GlobalFlags): Promise<WalkResult> {
  if (flags.ctState !== undefined) checkCtState(flags.ctState);
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
  const bridge = world.bridge(flags.host, flags.bridge);
  if (bridge === undefined) throw new UsageError(`host ${flags.host} has no bridge ${flags.bridge} (have: ${world.bridges(flags.host).map((b) => b.name).join(', ')})`);
  const inPort = inPortOf(bridge, flags.inPort);
  if (inPort === undefined) {
    const have = [...bridge.ports].sort((a, b) => a.ofport - b.ofport).map((p) => `${p.name} (${p.ofport === OFPP_LOCAL ? 'LOCAL' : `ofport ${p.ofport}`})`);
    throw new UsageError(`--in-port ${flags.inPort}: ${flags.host} ${flags.bridge} has no such port (have: ${have.join(', ') || 'none'})`);
  }
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

/**
 * The OpenFlow number of a port of the bridge, by number, name or LOCAL (the bridge's own port,
 * which every bridge has); undefined when the bridge has no such port.
 */
function inPortOf(bridge: WalkBridge, text: string): number | undefined {
  if (text === 'LOCAL') return OFPP_LOCAL;
  if (/^\d+$/.test(text)) {
    const ofport = Number(text);
    return ofport === OFPP_LOCAL || bridge.ports.some((p) => p.ofport === ofport) ? ofport : undefined;
  }
  return bridge.ports.find((p) => p.name === text)?.ofport;
}

/** --ct-state as ct_state flags (ovs-fields(7)): unknown flags are a usage error that lists the known ones. */
function checkCtState(text: string): void {
  if (parseMasked(text, 'ct_state', 32) !== undefined) return;
  const unknown = text.split(/[|+-]/).filter((word) => word !== '' && CT_STATE_BITS[word] === undefined);
  const what = unknown.length > 0 ? `unknown flag${unknown.length === 1 ? '' : 's'} ${unknown.map((w) => `'${w}'`).join(', ')}` : `cannot read '${text}'`;
  throw new UsageError(`--ct-state ${text}: ${what} (flags: ${CT_STATE_FLAGS}; as trk|est, or +trk+est-new to set and clear)`);
}

export { loadSnapshots, type SnapshotSource } from '../snapshot-source.js';
