// hoptrace analyze: a capture of sFlow datagrams and the hosts' snapshots, replayed through the
// pipeline's stages (decode, resolve, fingerprint, correlate, trace, verdict), no store needed.
import { isIP } from 'node:net';
import { Command } from 'commander';
import { UsageError } from '../../errors.js';
import { analyzeDatagrams, formatPath, formatSummary, readCapture, type Analysis } from '../../pathengine/analyze.js';
import type { Verdict } from '../../pathengine/verdict.js';
import { buildTopologies } from '../../topology/build.js';
import type { GlobalFlags } from '../main.js';
import { toJson } from '../json.js';
import { readCaptureFile } from '../capture-file.js';
import { Progress } from '../progress.js';
import { loadSnapshots } from '../snapshot-source.js';

export interface AnalyzeFlags {
  pcap: string;
  snapshots?: string[];
  data?: string;
  at?: string;
  json?: boolean;
  verdict?: string[];
  ip?: string;
  window?: string;
}

const VERDICTS: readonly Verdict[] = ['delivered', 'dropped', 'lost', 'incomplete'];

export function register(program: Command): void {
  program
    .command('analyze')
    .description('Reconstruct per-hop frame paths from an sFlow capture and host snapshots: where each frame was delivered or died, and why')
    .requiredOption('--pcap <file>', 'capture of sFlow datagrams (pcap or pcapng, any UDP port)')
    .option('-s, --snapshots <path...>', 'host snapshots (extracted sosreports, agent --out directories, tarballs), several versions per host welcome: each path is judged by the ones in force at its time; default: the store')
    .option('-d, --data <dir>', 'embedded store directory (default ./data), when --snapshots is not given')
    .option('--at <time>', 'judge every path by the snapshots in force at this time (the latest of each host at or before it); default: each path by the versions in force at its own time, from --snapshots or the store')
    .option('--verdict <verdict...>', `only paths with these verdicts (${VERDICTS.join(', ')})`)
    .option('--ip <address>', 'only paths from or to this address (IP, or ARP sender/target), also as a router NAT gives it (a floating IP, an SNAT address)')
    .option('--window <duration>', 'correlation window: 2000 (milliseconds), 500ms, 2s (default 2s)')
    .option('--json', 'one path per line: pathId, flow, fingerprint, firstSeen, lastSeen, verdict, confidence, drop, hops, answered, conflict, snapshots, nat (the addresses past a router NAT, or null); then one {"summary": ...} line (with snapshots: every version and the paths it judged)')
    .addHelpText('after', `
Examples:
  $ tcpdump -i any -w sflow.pcap udp port 6343          # on the collector, while reproducing
  $ hoptrace analyze --pcap sflow.pcap --snapshots sosreport-compute1/ sosreport-network1/
  $ hoptrace analyze --pcap sflow.pcap --snapshots before/* after-repair/*   # each path by the snapshots of its time
  $ hoptrace analyze --pcap sflow.pcap --snapshots ./snapshots --verdict dropped lost
  $ hoptrace analyze --pcap sflow.pcap --snapshots ./snapshots --ip 203.0.113.11   # "this instance cannot reach X"
  $ hoptrace analyze --pcap sflow.pcap --json | jq 'select(.verdict=="dropped") | .drop'

Verdicts: delivered | dropped {host, device, bridge, table, rule, reason} | lost (seen up to a hop,
never after: with sampling 1, or a flow sampled 1-in-N so often before that chance would miss it
less than once in 1000: 10 samples at one hop) | incomplete (the
snapshots do not cover the frame's path). conflict: what contradicts the verdict (a dropped request
that was answered: the snapshot is not the one in force).`)
    .action(async (flags: AnalyzeFlags, command: Command) => {
      await runAnalyze(flags, command.optsWithGlobals());
    });
}

export async function runAnalyze(flags: AnalyzeFlags, globals: GlobalFlags): Promise<Analysis> {
  // `--verdict dropped lost` or `--verdict dropped,lost`, as paths takes them
  const wanted = flags.verdict?.flatMap((v) => v.split(',')).map((v) => v.trim()).filter((v) => v !== '');
  for (const v of wanted ?? []) if (!(VERDICTS as readonly string[]).includes(v)) throw new UsageError(`--verdict ${v}: use ${VERDICTS.join(', ')}`);
  const ip = flags.ip;
  if (ip !== undefined && isIP(ip) === 0) throw new UsageError(`--ip "${ip}" is not an IPv4 or IPv6 address`);
  const windowMs = flags.window === undefined ? undefined : windowOf(flags.window);
  const bytes = await readCaptureFile(flags.pcap);
  const t0 = performance.now();
  const capture = readCapture(bytes, flags.pcap);
  if (capture.cutShort !== undefined) process.stderr.write(`hoptrace: ${capture.cutShort}\n`);
  // the snapshots in force over the capture (or at --at): per host the one before it and every one during it
  let fromMs = Number.POSITIVE_INFINITY;
  let toMs = Number.NEGATIVE_INFINITY;
  for (const d of capture.datagrams) {
    fromMs = Math.min(fromMs, d.receivedAtMs);
    toMs = Math.max(toMs, d.receivedAtMs);
  }
  const between = Number.isFinite(fromMs) ? { fromMs, toMs } : { fromMs: 0, toMs: Number.MAX_SAFE_INTEGER };
  const raws = await loadSnapshots({
    ...(flags.snapshots === undefined ? {} : { snapshots: flags.snapshots }),
    ...(flags.at === undefined ? { between } : { at: flags.at }),
    ...(flags.data === undefined ? {} : { data: flags.data }),
  }, globals);
  const { topologies } = buildTopologies(raws);
  // before the long part: a capture whose exporters no snapshot knows gives only incomplete paths
  const agents = new Set(capture.datagrams.map((d) => d.datagram.agent));
  const known = new Set<string>();
  for (const t of topologies) {
    for (const b of t.bridges) if (b.sflow?.agent !== null && b.sflow?.agent !== undefined) known.add(b.sflow.agent);
    for (const d of t.devices) if (d.namespace === '') for (const a of d.addresses) if (!a.address.startsWith('127.') && a.address !== '::1') known.add(a.address);
  }
  const strangers = [...agents].filter((a) => !known.has(a));
  if (agents.size > 0 && strangers.length === agents.size) {
    process.stderr.write(`hoptrace: none of the capture's sFlow agents (${strangers.slice(0, 5).join(', ')}${strangers.length > 5 ? ', ...' : ''}) is an address of a host in the snapshots (${topologies.map((t) => t.host).join(', ')}): every path will be incomplete; give the snapshots of the hosts that sent this sFlow\n`);
  } else if (strangers.length > 0) {
    process.stderr.write(`hoptrace: sFlow agents with no snapshot: ${strangers.slice(0, 5).join(', ')}${strangers.length > 5 ? ', ...' : ''}: their samples cannot be placed (add their hosts' snapshots)\n`);
  }
  let progress: Progress | undefined;
  const analysis = analyzeDatagrams(capture.datagrams, topologies, {
    rawSnapshots: raws,
    ...(windowMs === undefined ? {} : { windowMs }),
    onProgress: (done, total) => {
      progress ??= new Progress('analyzing paths', total);
      progress.tick();
      if (done === total) progress.finish();
    },
  });
  analysis.stats.pcapFrames = capture.pcapFrames;
  analysis.stats.udpDatagrams = capture.udp;
  analysis.stats.decodeErrors = capture.decodeErrors;
  analysis.stats.elapsedMs = Math.round(performance.now() - t0);
  for (const e of capture.errors) process.stderr.write(`hoptrace: ${e}\n`);
  const paths = analysis.paths.filter((p) => (wanted === undefined || wanted.includes(p.verdict))
    && (ip === undefined || p.flow.srcIp === ip || p.flow.dstIp === ip || p.nat?.srcIp === ip || p.nat?.dstIp === ip));
  const filtered = wanted !== undefined || ip !== undefined;
  const given = [...(ip === undefined ? [] : [`--ip ${ip}`]), ...(wanted === undefined ? [] : [`--verdict ${wanted.join(',')}`])].join(' ');
  if (flags.json === true) {
    for (const p of paths) process.stdout.write(`${toJson(p)}\n`);
    process.stdout.write(`${toJson({ summary: { ...analysis.stats, shown: paths.length, topDrops: analysis.topDrops, conflicts: analysis.conflicts, snapshots: analysis.snapshots, resolver: analysis.resolver } })}\n`);
    return analysis;
  }
  for (const p of paths) process.stdout.write(`${formatPath(p)}\n\n`);
  if (filtered) process.stdout.write(`shown: ${paths.length} of ${analysis.paths.length} paths (${given}); the summary counts them all\n`);
  process.stdout.write(formatSummary(analysis));
  return analysis;
}

/** --window: milliseconds, or a number with ms/s; from 10 ms to 10 minutes. */
export function windowOf(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s)?$/.exec(text.trim());
  const ms = m === null ? Number.NaN : Number(m[1]) * (m[2] === 's' ? 1000 : 1);
  if (!Number.isFinite(ms) || ms < 10 || ms > 600_000) throw new UsageError(`--window ${text}: a duration from 10ms to 600s (2000, 500ms, 2s)`);
  return ms;
}
