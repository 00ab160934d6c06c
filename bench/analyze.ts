// Case "analyze": the whole offline analysis (`hoptrace analyze`: decode, resolve, observe,
// correlate, the OpenFlow walk and verdict per group, answers) per CPU-second on one core, on the
// shipped real lab capture (test/fixtures/lab-capture: healthy pings, the tun-to-vlan-removed break,
// repair; snapshots taken while broken), against the issue's target of 50 k frames/s per core.
//
//   analyzeCapture   the public API on the capture file as shipped, repeated: what one
//                    `hoptrace analyze` of a small capture costs (world and rulesets built each run).
//   streaming        the same stages as analyzeDatagrams, fed datagram by datagram from the capture
//                    looped to >= 1 M samples (each loop's receive times 60 s later than the last),
//                    each closed group analyzed at once and dropped, answers marked per loop: the
//                    throughput a long capture gets, with memory bounded by the correlator's
//                    windows. Also cut at each stage (decode; + resolve/observe; + correlate) so the
//                    cost of each is the difference. Every loop must give the verdicts of the first.
// CPU is process.cpuUsage() (all threads, GC included). Peak RSS is resourceUsage().maxRSS; RSS and
// the correlator's open state are also sampled every 10% of the run to show they stay flat.
//
//   standalone: npx tsc -p tsconfig.json && node dist/bench/analyze.js [--quick]
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { IptablesRuleset } from '../src/hoststate/linux/iptables-save.js';
import type { RawSnapshot } from '../src/hoststate/snapshot.js';
import { analyzeCapture, analyzeGroup, joinNatLegs, markAnswers, PathAnalyzer, type AnalyzedPath } from '../src/pathengine/analyze.js';
import { Correlator, type ClosedGroup, type CorrelatorStats, type JoinMode } from '../src/pathengine/correlate.js';
import { toObservations } from '../src/pathengine/observation.js';
import { TopologyResolver } from '../src/pathengine/resolve.js';
import type { Verdict } from '../src/pathengine/verdict.js';
import { buildTopologyWorld } from '../src/pathengine/world.js';
import { readUdpPayloads } from '../src/pcap/pcap-reader.js';
import { decodeDatagram } from '../src/sflow/datagram.js';
import { importSnapshots } from '../src/snapshot/import.js';
import { linuxFromOutputs } from '../src/topology/build-linux.js';
import { buildTopologies, buildTopology } from '../src/topology/build.js';
import type { HostTopology } from '../src/topology/model.js';
import { fmt, median, ratio, si, table, type BenchOptions, type CaseReport } from './lib/report.js';

const FIXTURE = fileURLToPath(new URL('../../test/fixtures/lab-capture/', import.meta.url));
const TARGET_SAMPLES = 1_000_000;
/** Issue target for the whole offline analysis, frames per second per core. */
const TARGET_RATE = 50_000;
/** Event time between loops: more than the capture's span plus window and lateness, so loops never join. */
const LOOP_SHIFT_MS = 60_000;
const REPETITIONS = 3;
const API_RUNS = 20;

type Ctx = Parameters<typeof analyzeGroup>[1];
type Stage = 'decode' | 'observe' | 'correlate' | 'analyze';

interface Packet {
  payload: Uint8Array;
  timeMs: number;
  exporter: string;
}

interface Sample {
  atSamples: number;
  rssMiB: number;
  heapMiB: number;
  openGroups: number;
  openObservations: number;
}

interface StreamRun {
  stage: Stage;
  samples: number;
  cpuS: number;
  wallS: number;
  paths: number;
  /** Hops of every path (what path_hops would hold). */
  hops: number;
  byVerdict: Record<Verdict, number>;
  correlator: CorrelatorStats | undefined;
  trace: Sample[];
  /** Verdict counts and answers of the first and the last loop. */
  loop0: string;
  loopN: string;
}

const perCpu = (r: { samples: number; cpuS: number }): number => r.samples / r.cpuS;
const mib = (bytes: number): number => bytes / (1 << 20);

function cpuSeconds(start: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(start);
  return (d.user + d.system) / 1e6;
}

function peakRssMiB(): number {
  return process.resourceUsage().maxRSS / 1024;
}

export interface AnalyzeFixture {
  pcap: Uint8Array;
  packets: Packet[];
  /** The broken-phase snapshots (one per host): what session 2 measured with. */
  raws: RawSnapshot[];
  topologies: HostTopology[];
  /** Every snapshot set (healthy, broken, repaired: two versions per set, six in all). */
  allRaws: RawSnapshot[];
  allTopologies: HostTopology[];
  /** The UDP source port of each packet's exporter (for envelopes). */
  ports: number[];
}

/**
 * Which snapshots the analysis is given: `broken` (one version per host, the session-2 setting:
 * every loop judged alike, the broken pings dropped) or `all` (the three sets, as `hoptrace
 * analyze --snapshots snapshots/*\/*` and the service get them: loop 0 judged by the versions in
 * force at each group's time; the later loops, past the last snapshot, by the repaired set).
 */
export type SnapshotChoice = 'broken' | 'all';

async function importSet(dirs: string[]): Promise<RawSnapshot[]> {
  const imported = await importSnapshots(dirs);
  if (imported.problems.length > 0) throw new Error(`fixture snapshots: ${imported.problems.map((p) => `${p.path}: ${p.message}`).join('; ')}`);
  return imported.snapshots;
}

/** The shipped capture and its snapshots. */
export async function loadFixture(dir = FIXTURE): Promise<AnalyzeFixture> {
  const pcap = new Uint8Array(readFileSync(join(dir, 'sflow.pcap')));
  const packets: Packet[] = [];
  const ports: number[] = [];
  const udp = [...readUdpPayloads(pcap, 'sflow.pcap')].sort((a, b) => a.timestampMs - b.timestampMs);
  for (const p of udp) {
    packets.push({ payload: p.payload, timeMs: p.timestampMs, exporter: p.srcIp });
    ports.push(p.srcPort);
  }
  const setsDir = join(dir, 'snapshots');
  const hostDirs = (set: string): string[] => readdirSync(join(setsDir, set)).map((d) => join(setsDir, set, d));
  const raws = await importSet(hostDirs('broken'));
  const allRaws = await importSet(readdirSync(setsDir).flatMap(hostDirs));
  return { pcap, packets, ports, raws, topologies: buildTopologies(raws).topologies, allRaws, allTopologies: buildTopologies(allRaws).topologies };
}

/** What the service's snapshot stage hands the path stage: each snapshot built on its own. */
export function serviceTopologies(raws: readonly RawSnapshot[]): HostTopology[] {
  return raws.map((raw) => buildTopology(raw));
}

/** The analyzer `hoptrace analyze` builds (analyzeDatagrams), having learned from every datagram. */
function analyzerOf(f: AnalyzeFixture, snapshots: SnapshotChoice): PathAnalyzer {
  const analyzer = snapshots === 'all' ? new PathAnalyzer(f.allTopologies, f.allRaws) : new PathAnalyzer(f.topologies, f.raws);
  for (const p of f.packets) analyzer.resolver.learn(decodeDatagram(p.payload));
  return analyzer;
}

/** Session 2's fixed context (one world, no PathAnalyzer): to show what the analyzer layer costs. */
function context(f: AnalyzeFixture): Ctx {
  const rulesets = new Map<string, Map<string, IptablesRuleset>>();
  for (const raw of f.raws) rulesets.set(raw.host, linuxFromOutputs(raw.outputs).rulesets);
  const resolver = new TopologyResolver(f.topologies);
  // analyzeDatagrams learns from every datagram before the first observation: so does the stream
  for (const p of f.packets) resolver.learn(decodeDatagram(p.payload));
  return { world: buildTopologyWorld(f.topologies), resolver, rulesets };
}

/**
 * The analysis of analyzeDatagrams, streamed: datagrams decoded as they come, closed groups
 * analyzed and dropped, answers marked on each loop's paths. `upTo` cuts the work after a stage.
 */
export function streamRun(f: AnalyzeFixture, loops: number, upTo: Stage, join: JoinMode = 'auto', snapshots: SnapshotChoice = 'broken', engine: 'analyzer' | 'fixed-context' = 'analyzer'): StreamRun {
  const analyzer = analyzerOf(f, snapshots);
  const ctx = engine === 'fixed-context' ? context(f) : undefined;
  const resolver = ctx?.resolver ?? analyzer.resolver;
  const judge = (g: ClosedGroup): AnalyzedPath => (ctx === undefined ? analyzer.analyze(g) : analyzeGroup(g, ctx));
  const correlator = new Correlator({ resolver, join });
  const byVerdict: Record<Verdict, number> = { delivered: 0, dropped: 0, lost: 0, incomplete: 0 };
  const perLoop: string[] = [];
  let pending: AnalyzedPath[] = [];
  let paths = 0;
  let hops = 0;
  let samples = 0;
  const trace: Sample[] = [];
  const every = Math.max(1, Math.floor(loops / 10));
  const finishLoop = (): void => {
    // each loop's paths are 60 s of event time apart from the next: answers never cross loops
    pending.sort((a, b) => Date.parse(a.firstSeen) - Date.parse(b.firstSeen));
    // as analyzeDatagrams: one frame on both sides of the router's NAT is one path
    pending = joinNatLegs(pending);
    markAnswers(pending, 3000);
    const counts: Record<Verdict, number> = { delivered: 0, dropped: 0, lost: 0, incomplete: 0 };
    let answered = 0;
    for (const p of pending) {
      counts[p.verdict]++;
      byVerdict[p.verdict]++;
      if (p.answered === true) answered++;
    }
    perLoop.push(`${JSON.stringify(counts)} answered ${answered}`);
    pending = [];
  };
  const base = f.packets[0]?.timeMs ?? 0;
  let pendingLoop = 0;
  const analyze = (groups: ReturnType<Correlator['takeClosed']>): void => {
    for (const g of groups) {
      // all of a loop's groups close before any of the next loop's (the watermark jumps 60 s)
      const loopOf = Math.floor((g.firstSeen - base) / LOOP_SHIFT_MS);
      if (loopOf !== pendingLoop) {
        finishLoop();
        pendingLoop = loopOf;
      }
      const p = judge(g);
      pending.push(p);
      paths++;
      hops += p.hops.length;
    }
  };
  const cpu = process.cpuUsage();
  const wall = performance.now();
  for (let loop = 0; loop < loops; loop++) {
    const shift = loop * LOOP_SHIFT_MS;
    for (const p of f.packets) {
      const d = decodeDatagram(p.payload);
      if (upTo === 'decode') {
        for (const s of d.samples) if (s.kind === 'flow' || s.kind === 'discard') samples++;
        continue;
      }
      resolver.learn(d);
      const observations = toObservations(d, { receivedAtMs: p.timeMs + shift, exporter: p.exporter });
      samples += observations.length;
      if (upTo === 'observe') continue;
      for (const o of observations) correlator.add(o);
      const closed = correlator.takeClosed();
      if (upTo === 'analyze') analyze(closed);
    }
    if (loop % every === 0 || loop === loops - 1) {
      const m = process.memoryUsage();
      const s = correlator.stats;
      trace.push({ atSamples: samples, rssMiB: mib(m.rss), heapMiB: mib(m.heapUsed), openGroups: s.openGroups, openObservations: s.openObservations });
    }
  }
  const stats = upTo === 'decode' || upTo === 'observe' ? undefined : { ...correlator.stats, closed: { ...correlator.stats.closed } };
  const rest = correlator.flush();
  if (upTo === 'analyze') {
    analyze(rest);
    finishLoop();
  }
  const cpuS = cpuSeconds(cpu);
  const wallS = (performance.now() - wall) / 1000;
  if (upTo === 'analyze') {
    // every loop is the same capture: the same verdicts each time, or the looping broke the analysis
    // (with every snapshot set, loop 0 is judged by the versions of its time, the others by the last)
    const from = snapshots === 'all' ? 1 : 0;
    const first = perLoop[from];
    const odd = perLoop.findIndex((l, i) => i >= from && l !== first);
    if (odd >= 0) throw new Error(`analyze bench: loop ${odd} gave ${perLoop[odd] ?? ''}, loop ${from} ${first ?? ''}`);
  }
  return { stage: upTo, samples, cpuS, wallS, paths, hops, byVerdict, correlator: stats, trace, loop0: perLoop[0] ?? '', loopN: perLoop[perLoop.length - 1] ?? '' };
}

export async function runAnalyzeBench(options: BenchOptions): Promise<CaseReport> {
  const { log } = options;
  const target = options.quick ? TARGET_SAMPLES / 4 : TARGET_SAMPLES;
  const f = await loadFixture();
  const rssStart = peakRssMiB();

  // The public API on the shipped file.
  const once = analyzeCapture(f.pcap, 'sflow.pcap', f.topologies, { rawSnapshots: f.raws });
  const perLoopSamples = once.stats.observations;
  log(`analyze: fixture ${fmt(f.packets.length)} datagrams, ${fmt(perLoopSamples)} samples, ${fmt(once.stats.paths)} paths (${Object.entries(once.stats.byVerdict).map(([k, v]) => `${k} ${v}`).join(', ')}), top drop ${once.topDrops[0]?.where ?? 'none'}`);
  const apiCpu = process.cpuUsage();
  for (let i = 0; i < API_RUNS; i++) analyzeCapture(f.pcap, 'sflow.pcap', f.topologies, { rawSnapshots: f.raws });
  const apiMs = (cpuSeconds(apiCpu) * 1000) / API_RUNS;

  // Streaming, looped.
  const loops = Math.ceil(target / perLoopSamples);
  streamRun(f, Math.min(loops, 50), 'analyze'); // warm-up
  const runs: Record<Stage, StreamRun[]> = { decode: [], observe: [], correlate: [], analyze: [] };
  for (let i = 0; i < REPETITIONS; i++) {
    for (const stage of ['decode', 'observe', 'correlate', 'analyze'] as const) {
      const r = streamRun(f, loops, stage);
      runs[stage].push(r);
      log(`analyze: run ${i + 1} up to ${stage}: ${fmt(r.samples)} samples in ${r.cpuS.toFixed(2)} CPU-s = ${si(perCpu(r))}/CPU-s`);
    }
  }
  // the same with flow groups (join 'flow': 2 s tumbling windows per flow hash, as 1-in-N sampling gets)
  const flowRun = streamRun(f, loops, 'analyze', 'flow');
  log(`analyze: up to analyze, flow groups: ${fmt(flowRun.samples)} samples in ${flowRun.cpuS.toFixed(2)} CPU-s = ${si(perCpu(flowRun))}/CPU-s`);
  // session 2's code path (analyzeGroup on one fixed world, no PathAnalyzer), and every snapshot set
  const fixedRun = streamRun(f, loops, 'analyze', 'auto', 'broken', 'fixed-context');
  log(`analyze: up to analyze, fixed context (analyzeGroup, session 2): ${fmt(fixedRun.samples)} samples in ${fixedRun.cpuS.toFixed(2)} CPU-s = ${si(perCpu(fixedRun))}/CPU-s`);
  const allRun = streamRun(f, loops, 'analyze', 'auto', 'all');
  log(`analyze: up to analyze, every snapshot set: ${fmt(allRun.samples)} samples in ${allRun.cpuS.toFixed(2)} CPU-s = ${si(perCpu(allRun))}/CPU-s; loop 0 ${allRun.loop0}, later loops ${allRun.loopN}`);
  const fc = flowRun.correlator as CorrelatorStats;
  const rate = (rs: StreamRun[]): number => median(rs.map(perCpu));
  const alone = (withIt: number, without: number): number => 1 / Math.max(1 / withIt - 1 / without, Number.EPSILON);
  const r = { decode: rate(runs.decode), observe: rate(runs.observe), correlate: rate(runs.correlate), analyze: rate(runs.analyze) };
  const full = runs.analyze[0] as StreamRun;
  const c = full.correlator as CorrelatorStats;
  const rssPeak = peakRssMiB();
  const rssTrace = full.trace.map((t) => t.rssMiB.toFixed(0)).join(' ');
  const heapTrace = full.trace.map((t) => t.heapMiB.toFixed(0)).join(' ');
  const flowLine = `flow groups (join flow): ${si(perCpu(flowRun))} frames/CPU-s, ${fmt(fc.groupsOpened)} windows opened, closed by watermark ${fmt(fc.closed.watermark)}, size ${fmt(fc.closed.size)}; late ${fmt(fc.late)}; peak open ${fmt(fc.peakOpenGroups)} groups / ${fmt(fc.peakOpenObservations)} observations; open groups every 10%: ${flowRun.trace.map((t) => t.openGroups).join(' ')}`;
  const openTrace = full.trace.map((t) => t.openGroups).join(' ');
  const share = (stageRate: number): string => `${((r.analyze / stageRate) * 100).toFixed(0)}%`;
  const walkRate = alone(r.analyze, r.correlate);
  const observeRate = alone(r.observe, r.decode);
  const correlateRate = alone(r.correlate, r.observe);

  const vs = (n: number): string => `target ${si(TARGET_RATE)}, ratio ${ratio(n, TARGET_RATE)}`;
  const lines = [
    `analyze: whole offline analysis (streamed, ${fmt(full.samples)} samples) ${si(r.analyze)} frames/CPU-s, ${vs(r.analyze)}`,
    `analyze: by stage, alone: decode ${si(r.decode)}, resolve+observe ${si(observeRate)}, correlate ${si(correlateRate)}, walk+verdict+answers ${si(walkRate)} samples/CPU-s (share of the time: ${share(r.decode)}, ${share(observeRate)}, ${share(correlateRate)}, ${share(walkRate)})`,
    `analyze: analyzeCapture on the shipped file (${fmt(perLoopSamples)} samples): ${apiMs.toFixed(1)} CPU-ms per run = ${si((perLoopSamples * 1000) / apiMs)} frames/CPU-s including the per-run world and ruleset build`,
    `analyze: peak RSS ${rssPeak.toFixed(0)} MiB (${rssStart.toFixed(0)} MiB with the fixture loaded); RSS every 10% of the streamed run: ${rssTrace} MiB; heap used: ${heapTrace} MiB`,
    `analyze: correlator: ${fmt(c.groupsOpened)} groups opened, closed by watermark ${fmt(c.closed.watermark)}, superseded ${fmt(c.closed.superseded)}, size ${fmt(c.closed.size)}; late ${fmt(c.late)}, overflow ${fmt(c.overflow)}; open at the end ${fmt(c.openGroups)} groups / ${fmt(c.openObservations)} observations, peak ${fmt(c.peakOpenGroups)} / ${fmt(c.peakOpenObservations)}; open groups every 10%: ${openTrace}`,
    `analyze: ${flowLine}`,
    `analyze: same run on session 2's fixed context (analyzeGroup, one world, no PathAnalyzer): ${si(perCpu(fixedRun))} frames/CPU-s; with every snapshot set (PathAnalyzer, ${f.allRaws.length} versions): ${si(perCpu(allRun))} frames/CPU-s (one run each)`,
  ];
  const row = (name: string, rs: StreamRun[], shown = rate(rs)): string[] => {
    const m = rs[0] as StreamRun;
    return [name, fmt(m.samples), si(shown), ratio(shown, TARGET_RATE), median(rs.map((x) => x.cpuS)).toFixed(2), median(rs.map((x) => x.wallS)).toFixed(2)];
  };
  const markdown = [
    '## analyze',
    '',
    `The whole offline analysis of \`hoptrace analyze\` on the shipped lab capture (test/fixtures/lab-capture: ${fmt(f.packets.length)} datagrams, ${fmt(perLoopSamples)} samples, ${fmt(once.stats.paths)} paths; snapshots taken while broken), looped ${fmt(loops)} times (receive times +${LOOP_SHIFT_MS / 1000} s per loop) to >= ${fmt(target)} samples, streamed: each closed group walked and judged at once. ${REPETITIONS} runs, median, per CPU-second (all threads, GC included). Target: ${si(TARGET_RATE)} frames/s per core.`,
    '',
    table(['run', 'samples per run', 'per CPU-s', 'vs target', 'CPU s', 'wall s'], [
      row('decode (decodeDatagram)', runs.decode),
      row('+ resolve.learn + toObservations', runs.observe),
      row('+ Correlator (frame groups across hops)', runs.correlate),
      row('+ PathAnalyzer.analyze (world in force, walk, Linux legs, verdict, counter evidence) + markAnswers: the whole analysis', runs.analyze),
      row('the same with every snapshot set (6 versions; one run)', [allRun]),
      row('the same on a fixed context (analyzeGroup, one world: session 2\'s code path; one run)', [fixedRun]),
      ['resolve + observe alone (difference)', '', si(observeRate), ratio(observeRate, TARGET_RATE), '', ''],
      ['correlate alone (difference)', '', si(correlateRate), ratio(correlateRate, TARGET_RATE), '', ''],
      ['walk + verdict + answers alone (difference)', '', si(walkRate), ratio(walkRate, TARGET_RATE), '', ''],
    ]),
    '',
    `\`analyzeCapture\` on the file as shipped: ${apiMs.toFixed(1)} CPU-ms per run (${API_RUNS} runs), i.e. ${si((perLoopSamples * 1000) / apiMs)} frames/CPU-s with the topology world and iptables rulesets built each run.`,
    '',
    `Memory: peak RSS ${rssPeak.toFixed(0)} MiB (${rssStart.toFixed(0)} MiB with the fixture loaded). RSS every 10% of the streamed run: ${rssTrace} MiB (heap used ${heapTrace} MiB). Correlator of the first full run: ${fmt(c.groupsOpened)} groups opened; closed by watermark ${fmt(c.closed.watermark)}, superseded ${fmt(c.closed.superseded)}, size ${fmt(c.closed.size)}; late ${fmt(c.late)}, overflow ${fmt(c.overflow)}; open groups every 10%: ${openTrace}; peak ${fmt(c.peakOpenGroups)} groups / ${fmt(c.peakOpenObservations)} observations. Verdicts over all loops: ${Object.entries(full.byVerdict).map(([k, v]) => `${k} ${fmt(v)}`).join(', ')}.`,
    '',
    `The same run with ${flowLine}.`,
    '',
    `Verdicts per loop: broken set ${full.loop0}; every snapshot set: loop 0 ${allRun.loop0}, each later loop ${allRun.loopN} (judged by the repaired set, the last taken).`,
    '',
    'analyzeDatagrams itself holds every decoded datagram and every path until the end (it returns them all), so its memory grows with the capture; the streamed run is what it would cost with closed groups analyzed as they close.',
    '',
  ].join('\n');
  return { name: 'analyze', lines, markdown };
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href && process.argv.includes('--once')) {
  // one streamed run, for `node --cpu-prof dist/bench/analyze.js --once [--all] [--fixed] [--samples N]`
  const at = process.argv.indexOf('--samples');
  const want = at > 0 ? Number(process.argv[at + 1]) : 250_000;
  void loadFixture().then((f) => {
    const perLoop = streamRun(f, 1, 'analyze').samples;
    const r = streamRun(f, Math.ceil(want / perLoop), 'analyze', 'auto', process.argv.includes('--all') ? 'all' : 'broken', process.argv.includes('--fixed') ? 'fixed-context' : 'analyzer');
    process.stdout.write(`${fmt(r.samples)} samples in ${r.cpuS.toFixed(2)} CPU-s = ${si(perCpu(r))}/CPU-s; loop 0 ${r.loop0}; last ${r.loopN}; peak RSS ${peakRssMiB().toFixed(0)} MiB\n`);
  });
} else if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const quick = process.argv.includes('--quick');
  runAnalyzeBench({ quick, tmp: '', log: (line) => process.stdout.write(`${line}\n`) })
    .then((report) => process.stdout.write(`\n${report.lines.join('\n')}\n\n${report.markdown}`))
    .catch((error: unknown) => {
      process.stderr.write(`bench analyze: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      process.exitCode = 1;
    });
}
