// Case "correlate": the fingerprint and correlate stages per CPU-second on one core, on real
// Open vSwitch frames (the corpus), against the target for the whole offline analysis
// (50 k frames/s per core; the topology walk comes on top, so these stages must do much more).
//
//   observe      toObservations() over the corpus datagrams decoded beforehand: interfaces,
//                tunnel records, flow key, fingerprint and flow hash, one object per flow sample.
//   correlate    Correlator.add() + takeClosed() in frame mode (sampling 1). The corpus was
//                captured on one bridge, so each frame is replayed as three hops would report it
//                (agents 192.0.2.1-3, 0 / +40 / +250 ms, arrival in event-time order): groups
//                of three. Looped to >= 1 M observations, each loop 10 s of event time later.
//   correlate-flow  the same with sampling 1-in-1000: flow groups in 2 s tumbling windows. The
//                corpus holds 29 flows; sampled 1-in-1000 a cloud has many more flows and about
//                one sample per flow, hop and window, so each frame stands for its own flow here.
//   end-to-end   decodeDatagram + toObservations + Correlator over the raw corpus (one hop).
// CPU is process.cpuUsage() (all threads: GC included). Peak RSS is the process's
// (resourceUsage().maxRSS): corpus, decoded datagrams and the replayed observations included.
//
//   standalone: npx tsc -p tsconfig.json && node dist/bench/correlate.js [--quick]
import { pathToFileURL } from 'node:url';
import { Correlator, type CorrelatorOptions } from '../src/pathengine/correlate.js';
import { toObservations, type Observation } from '../src/pathengine/observation.js';
import { decodeDatagram } from '../src/sflow/datagram.js';
import type { Datagram } from '../src/sflow/types.js';
import { CORPUS, CORPUS_COUNTS, readPackets } from './lib/corpus.js';
import { fmt, median, ratio, si, table, type BenchOptions, type CaseReport } from './lib/report.js';

const TARGET_OBSERVATIONS = 1_000_000;
/** Issue target for the whole offline analysis, frames per second per core. */
const TARGET_RATE = 50_000;
const HOPS = [
  { agent: '192.0.2.1', delayMs: 0 },
  { agent: '192.0.2.2', delayMs: 40 },
  { agent: '192.0.2.3', delayMs: 250 },
] as const;
/** Event time between loops: more than window + lateness, so loops never join. */
const LOOP_SHIFT_MS = 10_000;
const REPETITIONS = 3;

interface Measure {
  items: number;
  cpuS: number;
  wallS: number;
  groups: number;
}

const perCpu = (m: Measure): number => m.items / m.cpuS;

function cpuSeconds(start: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(start);
  return (d.user + d.system) / 1e6;
}

function peakRssMiB(): number {
  return process.resourceUsage().maxRSS / 1024;
}

export async function runCorrelateBench(options: BenchOptions): Promise<CaseReport> {
  const { log } = options;
  const target = options.quick ? TARGET_OBSERVATIONS / 4 : TARGET_OBSERVATIONS;
  const packets = readPackets(CORPUS);
  const datagrams: Datagram[] = packets.map((p) => decodeDatagram(p.payload));
  const times = packets.map((p) => p.timestampMs);
  const base = datagrams.flatMap((d, i) => toObservations(d, { receivedAtMs: times[i] ?? 0 }));
  if (base.length !== CORPUS_COUNTS.flowSamples) throw new Error(`corpus: ${base.length} flow samples, expected ${CORPUS_COUNTS.flowSamples}`);
  const fingerprinted = base.filter((o) => o.fingerprint !== null).length;
  log(`correlate: corpus ${fmt(base.length)} flow samples, ${fmt(fingerprinted)} fingerprinted, ${fmt(new Set(base.map((o) => o.fingerprint)).size)} distinct fingerprints`);
  const rssStart = peakRssMiB();

  // observe
  const observeLoops = Math.ceil(target / base.length);
  observeRun(datagrams, times, 2);
  const observe: Measure[] = [];
  for (let i = 0; i < REPETITIONS; i++) observe.push(observeRun(datagrams, times, observeLoops));
  const observeRate = median(observe.map(perCpu));
  log(`correlate: observe ${si(observeRate)} observations/CPU-s (runs: ${observe.map((m) => si(perCpu(m))).join(', ')})`);

  // correlate, frame and flow mode
  const frames = replayHops(base, 1);
  const sampled = replayHops(base, 1000);
  const loops = Math.ceil(target / frames.length);
  const frame: Measure[] = [];
  correlateRun(frames, 1, {});
  for (let i = 0; i < REPETITIONS; i++) frame.push(correlateRun(frames, loops, {}));
  const frameRate = median(frame.map(perCpu));
  log(`correlate: frame groups ${si(frameRate)} observations/CPU-s (runs: ${frame.map((m) => si(perCpu(m))).join(', ')}), ${fmt(frame[0]?.groups ?? 0)} groups of ${HOPS.length}`);
  const flow: Measure[] = [];
  for (let i = 0; i < REPETITIONS; i++) flow.push(correlateRun(sampled, loops, {}));
  const flowRate = median(flow.map(perCpu));
  log(`correlate: flow groups ${si(flowRate)} observations/CPU-s (runs: ${flow.map((m) => si(perCpu(m))).join(', ')}), ${fmt(flow[0]?.groups ?? 0)} groups`);

  // end to end, one hop
  const e2e: Measure[] = [];
  for (let i = 0; i < REPETITIONS; i++) e2e.push(endToEndRun(packets.map((p) => p.payload), times, observeLoops));
  const e2eRate = median(e2e.map(perCpu));
  log(`correlate: decode+observe+correlate ${si(e2eRate)} frames/CPU-s (runs: ${e2e.map((m) => si(perCpu(m))).join(', ')})`);
  const rssPeak = peakRssMiB();

  const lines = [
    `correlate: observe ${si(observeRate)} obs/CPU-s, target ${si(TARGET_RATE)}, ratio ${ratio(observeRate, TARGET_RATE)}`,
    `correlate: frame groups ${si(frameRate)} obs/CPU-s, target ${si(TARGET_RATE)}, ratio ${ratio(frameRate, TARGET_RATE)}`,
    `correlate: flow groups ${si(flowRate)} obs/CPU-s, target ${si(TARGET_RATE)}, ratio ${ratio(flowRate, TARGET_RATE)}`,
    `correlate: decode+observe+correlate ${si(e2eRate)} frames/CPU-s, target ${si(TARGET_RATE)}, ratio ${ratio(e2eRate, TARGET_RATE)}`,
    `correlate: peak RSS ${rssPeak.toFixed(0)} MiB (${rssStart.toFixed(0)} MiB with the corpus decoded, before the runs)`,
  ];
  const row = (name: string, ms: Measure[]): string[] => {
    const m = ms[0] as Measure;
    return [name, fmt(m.items), si(median(ms.map(perCpu))), ratio(median(ms.map(perCpu)), TARGET_RATE), median(ms.map((x) => x.cpuS)).toFixed(2), median(ms.map((x) => x.wallS)).toFixed(2)];
  };
  const markdown = [
    '## correlate',
    '',
    `Fingerprint and correlation stages on the Open vSwitch corpus (${fmt(base.length)} flow samples), looped to >= ${fmt(target)} observations; ${REPETITIONS} runs, median. Target: ${si(TARGET_RATE)} frames/s per core for the whole offline analysis. The corpus is one bridge, so for correlation each frame is replayed as ${HOPS.length} hops (agents ${HOPS.map((h) => h.agent).join(', ')}, +${HOPS.map((h) => h.delayMs).join('/+')} ms).`,
    '',
    table(['stage', 'items per run', 'per CPU-s', 'vs target', 'CPU s', 'wall s'], [
      row('observe (toObservations: fingerprint, flow hash)', observe),
      row('correlate, frame groups (sampling 1)', frame),
      row('correlate, flow groups (sampling 1-in-1000)', flow),
      row('decode + observe + correlate (one hop)', e2e),
    ]),
    '',
    `Peak RSS of the benchmark process: ${rssPeak.toFixed(0)} MiB (${rssStart.toFixed(0)} MiB before the runs, with the corpus decoded and its observations built).`,
    '',
  ].join('\n');
  return { name: 'correlate', lines, markdown };
}

function observeRun(datagrams: readonly Datagram[], times: readonly number[], loops: number): Measure {
  const cpu = process.cpuUsage();
  const wall = performance.now();
  let items = 0;
  for (let loop = 0; loop < loops; loop++) {
    for (let i = 0; i < datagrams.length; i++) items += toObservations(datagrams[i] as Datagram, { receivedAtMs: (times[i] ?? 0) + loop * LOOP_SHIFT_MS }).length;
  }
  return { items, cpuS: cpuSeconds(cpu), wallS: (performance.now() - wall) / 1000, groups: 0 };
}

/** Each observation as HOPS agents report it, in event-time order. */
function replayHops(base: readonly Observation[], samplingRate: number): Observation[] {
  const out: Observation[] = [];
  for (const o of base) {
    const flowHash = samplingRate > 1 ? o.fingerprint : o.flowHash;
    for (const hop of HOPS) out.push({ ...o, agent: hop.agent, receivedAtMs: o.receivedAtMs + hop.delayMs, samplingRate, flowHash });
  }
  return out.sort((a, b) => a.receivedAtMs - b.receivedAtMs);
}

function correlateRun(input: readonly Observation[], loops: number, options: CorrelatorOptions): Measure {
  // Two copies, so that a loop never rewrites the time of an observation still in an open group of the previous one.
  const copies = [input.map((o) => ({ ...o })), input.map((o) => ({ ...o }))];
  const c = new Correlator(options);
  let cpuS = 0;
  let wallS = 0;
  let items = 0;
  let groups = 0;
  for (let loop = 0; loop < loops; loop++) {
    const batch = copies[loop % 2] as Observation[];
    for (let i = 0; i < batch.length; i++) (batch[i] as Observation).receivedAtMs = (input[i] as Observation).receivedAtMs + loop * LOOP_SHIFT_MS;
    const cpu = process.cpuUsage();
    const wall = performance.now();
    for (let i = 0; i < batch.length; i++) {
      c.add(batch[i] as Observation);
      if ((i & 1023) === 0) groups += c.takeClosed().length;
    }
    if (loop === loops - 1) groups += c.flush().length;
    groups += c.takeClosed().length;
    cpuS += cpuSeconds(cpu);
    wallS += (performance.now() - wall) / 1000;
    items += batch.length;
  }
  const s = c.stats;
  if (s.accepted !== items || s.late + s.overflow + s.duplicate + s.unkeyed !== 0) throw new Error(`correlate: lost observations ${JSON.stringify(s)}`);
  return { items, cpuS, wallS, groups };
}

function endToEndRun(payloads: readonly Uint8Array[], times: readonly number[], loops: number): Measure {
  const c = new Correlator();
  const cpu = process.cpuUsage();
  const wall = performance.now();
  let items = 0;
  let groups = 0;
  for (let loop = 0; loop < loops; loop++) {
    for (let i = 0; i < payloads.length; i++) {
      const observations = toObservations(decodeDatagram(payloads[i] as Uint8Array), { receivedAtMs: (times[i] ?? 0) + loop * LOOP_SHIFT_MS });
      for (const o of observations) c.add(o);
      items += observations.length;
      groups += c.takeClosed().length;
    }
  }
  groups += c.flush().length;
  return { items, cpuS: cpuSeconds(cpu), wallS: (performance.now() - wall) / 1000, groups };
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const quick = process.argv.includes('--quick');
  runCorrelateBench({ quick, tmp: '', log: (line) => process.stdout.write(`${line}\n`) })
    .then((report) => process.stdout.write(`\n${report.lines.join('\n')}\n\n${report.markdown}`))
    .catch((error: unknown) => {
      process.stderr.write(`bench correlate: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      process.exitCode = 1;
    });
}
