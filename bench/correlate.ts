// Case "correlate": the fingerprint and correlate stages per CPU-second on one core, on real
// Open vSwitch frames (the corpus), against the target for the whole offline analysis
// (50 k frames/s per core; the topology walk comes on top, so these stages must do much more).
//
//   pipeline     from the raw datagrams, as the pipeline runs: decodeDatagram; + toObservations
//                (interfaces, tunnel records, flow key, fingerprint, flow hash); + Correlator
//                (frame groups, one hop). Each stage's own cost is the difference.
//   correlate    Correlator.add() + takeClosed() on held observations, frame mode. The corpus was
//                captured on one bridge, so each frame is replayed as three hops would report it
//                (agents 192.0.2.1-3, 0 / +40 / +250 ms, arrival in event-time order): groups
//                of three. Looped to >= 1 M observations, each loop 10 s of event time later.
//   correlate-flow  the same with sampling 1-in-1000: flow groups in 2 s tumbling windows. The
//                corpus holds 29 flows; sampled 1-in-1000 a cloud has many more flows and about
//                one sample per flow, hop and window, so each frame stands for its own flow here.
// CPU is process.cpuUsage() (all threads: GC included). Peak RSS is the process's
// (resourceUsage().maxRSS), read after the pipeline runs and at the end.
//
//   standalone: npx tsc -p tsconfig.json && node dist/bench/correlate.js [--quick]
import { pathToFileURL } from 'node:url';
import { Correlator, type CorrelatorOptions } from '../src/pathengine/correlate.js';
import { toObservations, type Observation } from '../src/pathengine/observation.js';
import { decodeDatagram } from '../src/sflow/datagram.js';
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
  peakOpen: number;
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
  const payloads = packets.map((p) => p.payload);
  const times = packets.map((p) => p.timestampMs);
  const loops = Math.ceil(target / CORPUS_COUNTS.flowSamples);
  const rssStart = peakRssMiB();

  // The pipeline's path first, from the raw datagrams (nothing decoded held in memory, as in the
  // decode stage): decode, + observe, + correlate; the stage costs are the differences.
  const stages = { decode: [] as Measure[], observe: [] as Measure[], correlate: [] as Measure[] };
  pipelineRun(payloads, times, 1, 'correlate'); // warm-up
  for (let i = 0; i < REPETITIONS; i++) {
    for (const upTo of ['decode', 'observe', 'correlate'] as const) stages[upTo].push(pipelineRun(payloads, times, loops, upTo));
  }
  const rate = (ms: Measure[]): number => median(ms.map(perCpu));
  const decodeRate = rate(stages.decode);
  const upToObserveRate = rate(stages.observe);
  const e2eRate = rate(stages.correlate);
  /** Items per CPU-second of one stage alone, from the rates with and without it. */
  const alone = (withIt: number, without: number): number => 1 / Math.max(1 / withIt - 1 / without, Number.EPSILON);
  const observeRate = alone(upToObserveRate, decodeRate);
  const correlateRate = alone(e2eRate, upToObserveRate);
  const rssPipeline = peakRssMiB();
  const peakOpen = stages.correlate[0]?.peakOpen ?? 0;
  log(`correlate: decode ${si(decodeRate)}, decode+observe ${si(upToObserveRate)}, decode+observe+correlate ${si(e2eRate)} samples/CPU-s; peak ${fmt(peakOpen)} open observations, peak RSS ${rssPipeline.toFixed(0)} MiB`);

  // The correlator alone on held observations, frames seen at three hops.
  const base = payloads.flatMap((payload, i) => toObservations(decodeDatagram(payload), { receivedAtMs: times[i] ?? 0 }));
  if (base.length !== CORPUS_COUNTS.flowSamples) throw new Error(`corpus: ${base.length} flow samples, expected ${CORPUS_COUNTS.flowSamples}`);
  log(`correlate: corpus ${fmt(base.length)} flow samples, ${fmt(base.filter((o) => o.fingerprint !== null).length)} fingerprinted, ${fmt(new Set(base.map((o) => o.fingerprint)).size)} distinct fingerprints`);
  const frames = replayHops(base, 1);
  const replayLoops = Math.ceil(target / frames.length);
  const frameCopies = twoCopies(frames);
  const frame: Measure[] = [];
  correlateRun(frames, frameCopies, 1, {});
  for (let i = 0; i < REPETITIONS; i++) frame.push(correlateRun(frames, frameCopies, replayLoops, {}));
  const frameRate = rate(frame);
  log(`correlate: held observations, frame groups ${si(frameRate)}/CPU-s (runs: ${frame.map((m) => si(perCpu(m))).join(', ')}), ${fmt(frame[0]?.groups ?? 0)} groups of ${HOPS.length}`);
  const sampled = replayHops(base, 1000);
  const sampledCopies = twoCopies(sampled);
  const flow: Measure[] = [];
  for (let i = 0; i < REPETITIONS; i++) flow.push(correlateRun(sampled, sampledCopies, replayLoops, {}));
  const flowRate = rate(flow);
  log(`correlate: held observations, flow groups ${si(flowRate)}/CPU-s (runs: ${flow.map((m) => si(perCpu(m))).join(', ')}), ${fmt(flow[0]?.groups ?? 0)} groups`);
  const rssPeak = peakRssMiB();

  const vs = (n: number): string => `target ${si(TARGET_RATE)}, ratio ${ratio(n, TARGET_RATE)}`;
  const lines = [
    `correlate: observe alone ${si(observeRate)} obs/CPU-s, ${vs(observeRate)}`,
    `correlate: correlate alone (pipeline) ${si(correlateRate)} obs/CPU-s, ${vs(correlateRate)}`,
    `correlate: decode+observe+correlate ${si(e2eRate)} frames/CPU-s, ${vs(e2eRate)}`,
    `correlate: correlator on held observations, frame groups of 3 ${si(frameRate)} obs/CPU-s, ${vs(frameRate)}`,
    `correlate: correlator on held observations, flow groups ${si(flowRate)} obs/CPU-s, ${vs(flowRate)}`,
    `correlate: peak RSS ${rssPipeline.toFixed(0)} MiB through the pipeline runs (${rssStart.toFixed(0)} MiB with the corpus read; ${rssPeak.toFixed(0)} MiB at the end, with the replays)`,
  ];
  const row = (name: string, ms: Measure[], shown = rate(ms)): string[] => {
    const m = ms[0] as Measure;
    return [name, fmt(m.items), si(shown), ratio(shown, TARGET_RATE), median(ms.map((x) => x.cpuS)).toFixed(2), median(ms.map((x) => x.wallS)).toFixed(2)];
  };
  const markdown = [
    '## correlate',
    '',
    `Observation, fingerprint and correlation on the Open vSwitch corpus (${fmt(CORPUS_COUNTS.flowSamples)} flow samples), looped to >= ${fmt(target)} samples; ${REPETITIONS} runs, median, per CPU-second (all threads, GC included). Target: ${si(TARGET_RATE)} frames/s per core for the whole offline analysis (the topology walk comes on top).`,
    '',
    table(['run', 'samples per run', 'per CPU-s', 'vs target', 'CPU s', 'wall s'], [
      row('decode (decodeDatagram)', stages.decode),
      row('decode + observe (toObservations: fingerprint, flow hash)', stages.observe),
      row('decode + observe + correlate (one hop, frame groups)', stages.correlate),
      ['observe alone (difference)', '', si(observeRate), ratio(observeRate, TARGET_RATE), '', ''],
      ['correlate alone (difference)', '', si(correlateRate), ratio(correlateRate, TARGET_RATE), '', ''],
      row(`correlator on held observations: each frame at ${HOPS.length} hops, frame groups (sampling 1)`, frame),
      row(`correlator on held observations: ${HOPS.length} hops, flow groups (sampling 1-in-1000)`, flow),
    ]),
    '',
    `Peak RSS: ${rssPipeline.toFixed(0)} MiB through the pipeline runs (${rssStart.toFixed(0)} MiB with the corpus read). The correlator held up to ${fmt(peakOpen)} observations (window 2 s + lateness 3 s of the corpus). ${rssPeak.toFixed(0)} MiB at the end, with the replayed observations of the held-observation runs in memory.`,
    'The held-observation runs reuse observations already in the old generation, so they leave out the garbage collector\'s cost of promoting each observation for the window, which the pipeline runs include.',
    '',
  ].join('\n');
  return { name: 'correlate', lines, markdown };
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

/** Two copies of the input, so that a loop never rewrites the time of an observation still in an open group of the previous one. */
function twoCopies(input: readonly Observation[]): Observation[][] {
  return [input.map((o) => ({ ...o })), input.map((o) => ({ ...o }))];
}

function correlateRun(input: readonly Observation[], copies: Observation[][], loops: number, options: CorrelatorOptions): Measure {
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
  return { items, cpuS, wallS, groups, peakOpen: s.peakOpenObservations };
}

function pipelineRun(payloads: readonly Uint8Array[], times: readonly number[], loops: number, upTo: 'decode' | 'observe' | 'correlate'): Measure {
  const c = new Correlator();
  const cpu = process.cpuUsage();
  const wall = performance.now();
  let items = 0;
  let groups = 0;
  for (let loop = 0; loop < loops; loop++) {
    for (let i = 0; i < payloads.length; i++) {
      const d = decodeDatagram(payloads[i] as Uint8Array);
      if (upTo === 'decode') {
        for (const sample of d.samples) if (sample.kind === 'flow' || sample.kind === 'discard') items++;
        continue;
      }
      const observations = toObservations(d, { receivedAtMs: (times[i] ?? 0) + loop * LOOP_SHIFT_MS });
      items += observations.length;
      if (upTo === 'observe') continue;
      for (const o of observations) c.add(o);
      groups += c.takeClosed().length;
    }
  }
  groups += c.flush().length;
  return { items, cpuS: cpuSeconds(cpu), wallS: (performance.now() - wall) / 1000, groups, peakOpen: c.stats.peakOpenObservations };
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
