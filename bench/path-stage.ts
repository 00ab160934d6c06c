// Case "paths": the service's path stage as `hoptrace serve` runs it (src/pipeline/path-stage.ts):
// raw datagrams in collector envelopes on a MemoryBus (the service's default capacity), read by the
// stage with its own consumer group, decoded, correlated, judged by the host snapshots in force and
// written to `paths` + `path_hops` of a real ChdbStore (embedded chDB, a fresh data directory).
//
// Data: the shipped lab capture (test/fixtures/lab-capture: healthy pings, the tun-to-vlan-removed
// break, the repair), its three snapshot sets imported with src/snapshot/import.ts and handed over
// as the snapshot stage does (stage.addSnapshot(buildTopology(raw), raw)), looped with receive times
// 60 s later per loop to >= 1 M samples. Loop 0 is judged by the snapshots of its time; the later
// loops, past the last snapshot, by the repaired set (its sFlow discards still mark the broken
// phase's requests dropped). The stage's verdict counts must equal the peer's.
//
// Peer, same run, same data and snapshots: the offline analysis streamed (bench/analyze.ts
// streamRun with every snapshot set: decode, resolve, correlate, PathAnalyzer, markAnswers; no bus,
// no envelopes, no store).
//
// CPU is process.cpuUsage() (every thread: chDB's insert and merge threads run in this process, GC
// included). The feeder (envelopes + bus.publish, which the UDP receive loop does in the service)
// runs in the same thread; it is measured alone (same feed, a consumer group that does nothing) and
// shown beside, so the stage's own cost is the difference.
//
//   standalone: npx tsc -p tsconfig.json && node dist/bench/path-stage.js [--quick] [--service-outbox] [--rate N]
//   (--rate: N datagrams a second, a steady input as a collector sees, instead of as fast as it goes)
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { TOPICS, type BusMessage } from '../src/bus/bus.js';
import { MemoryBus } from '../src/bus/memory-bus.js';
import { encodeEnvelope } from '../src/collector/envelope.js';
import { createLogger } from '../src/observability/log.js';
import { createMetrics } from '../src/observability/metrics.js';
import type { Verdict } from '../src/pathengine/verdict.js';
import { PathStage, type PathStageStatus } from '../src/pipeline/path-stage.js';
import { ChdbStore } from '../src/store/chdb-store.js';
import { buildTopology } from '../src/topology/build.js';
import { loadFixture, streamRun, type AnalyzeFixture } from './analyze.js';
import { loadAverage } from './lib/machine.js';
import { threadCpuDelta, threadCpuSeconds } from './lib/proc.js';
import { fmt, ratio, si, table, type BenchOptions, type CaseReport } from './lib/report.js';

const TARGET_SAMPLES = 1_000_000;
/** Event time between loops (as bench/analyze.ts): loops never join. */
const LOOP_SHIFT_MS = 60_000;
/** The service's default bus capacity (collector.queueDatagrams / bus.capacity). */
const BUS_CAPACITY = 65_536;
/**
 * The stage's outbox bound in the run: every path. The feed is as fast as the machine, so a store
 * slower than the analysis fills the service's bound (50,000) and the oldest paths are given up on:
 * the run would then cost less than storing what it analysed. `--service-outbox` keeps the
 * service's bound (to see how many it loses).
 */
const ALL_PATHS = Number.MAX_SAFE_INTEGER;
/** Samples of RSS taken over a run. */
const RSS_POINTS = 12;

const mib = (bytes: number): number => bytes / (1 << 20);

function cpuSeconds(start: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(start);
  return (d.user + d.system) / 1e6;
}

interface FeedRun {
  datagrams: number;
  cpuS: number;
  wallS: number;
  rssTrace: number[];
  rssMax: number;
  load: { before: string; after: string };
}

interface StageRun extends FeedRun {
  status: PathStageStatus;
  /** Rows in `paths` FINAL (one per path id) and in all (a path written twice counts twice until merged). */
  storedPaths: number;
  /** sum(hops) over `paths` FINAL: the hop rows its paths need. */
  neededHops: number;
  pathRows: number;
  storedHops: number;
  hopRows: number;
  /** CPU seconds by thread name over the run (node = the JS thread; chDB's pools). */
  threads: [string, number][];
}

/**
 * Feeds `loops` copies of the capture, as envelopes, to the bus (publish waits for room, as the
 * receive loop would drop instead: the bench wants every datagram through), then drains the bus.
 */
async function feed(f: AnalyzeFixture, bus: MemoryBus, loops: number, trace: number[], rate: number): Promise<number> {
  const every = Math.max(1, Math.floor(loops / (RSS_POINTS - 1)));
  const start = performance.now();
  let datagrams = 0;
  for (let loop = 0; loop < loops; loop++) {
    if (rate > 0) {
      // a loop's datagrams at once, each loop when its turn comes at `rate` datagrams a second
      const wait = start + (datagrams / rate) * 1000 - performance.now();
      if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
    }
    const shift = loop * LOOP_SHIFT_MS;
    const messages: BusMessage[] = f.packets.map((p, i) => ({ key: p.exporter, value: encodeEnvelope(p.timeMs + shift, p.exporter, f.ports[i] ?? 6343, p.payload) }));
    await bus.publish(TOPICS.SFLOW_RAW, messages);
    datagrams += messages.length;
    if (loop % every === 0) trace.push(mib(process.memoryUsage().rss));
  }
  await bus.close(); // hands every queued datagram to the consumers and waits for them
  return datagrams;
}

/** The feed alone: the same envelopes through the same bus to a consumer group that does nothing. */
async function feedOnly(f: AnalyzeFixture, loops: number, rate: number): Promise<FeedRun> {
  const bus = new MemoryBus({ capacity: BUS_CAPACITY });
  bus.consume(TOPICS.SFLOW_RAW, async () => {}, { group: 'bench-null', maxBatch: 1024, lingerMs: 200 });
  const rssTrace: number[] = [];
  const before = loadAverage();
  const cpu = process.cpuUsage();
  const wall = performance.now();
  const datagrams = await feed(f, bus, loops, rssTrace, rate);
  return { datagrams, cpuS: cpuSeconds(cpu), wallS: (performance.now() - wall) / 1000, rssTrace, rssMax: Math.max(...rssTrace), load: { before, after: loadAverage() } };
}

async function stageRun(f: AnalyzeFixture, loops: number, store: ChdbStore, maxOutbox: number | undefined, rate: number): Promise<StageRun> {
  // a fresh start for each run (the warm-up's rows gone)
  for (const t of ['paths', 'path_hops']) await store.command(`TRUNCATE TABLE IF EXISTS ${store.database}.${t}`);
  {
    const bus = new MemoryBus({ capacity: BUS_CAPACITY });
    const stage = new PathStage({ bus, store, metrics: createMetrics({ defaultMetrics: false }), log: createLogger({ level: 'silent', format: 'json' }), ...(maxOutbox === undefined ? {} : { maxOutbox }) });
    await stage.start();
    // the snapshot stage's part: each snapshot built on its own and handed over
    for (const raw of f.allRaws) stage.addSnapshot(buildTopology(raw), raw);
    const rssTrace: number[] = [];
    const sampler = setInterval(() => rssTrace.push(mib(process.memoryUsage().rss)), 250);
    const threads0 = threadCpuSeconds(process.pid);
    const before = loadAverage();
    const cpu = process.cpuUsage();
    const wall = performance.now();
    const datagrams = await feed(f, bus, loops, rssTrace, rate);
    await stage.stop(); // closes the open groups and writes the rest
    const cpuS = cpuSeconds(cpu);
    const wallS = (performance.now() - wall) / 1000;
    const threads = threadCpuDelta(threads0, threadCpuSeconds(process.pid));
    clearInterval(sampler);
    rssTrace.push(mib(process.memoryUsage().rss));
    const load = { before, after: loadAverage() };
    const status = stage.status();
    const count = async (sql: string): Promise<number> => Number((await store.query<{ n: string }>(sql))[0]?.n ?? 0);
    return {
      datagrams, cpuS, wallS, rssTrace: thin(rssTrace, RSS_POINTS), rssMax: Math.max(...rssTrace), load, status, threads,
      storedPaths: await count('SELECT count() AS n FROM paths FINAL'),
      neededHops: await count('SELECT sum(hops) AS n FROM paths FINAL'),
      pathRows: await count('SELECT count() AS n FROM paths'),
      storedHops: await count('SELECT count() AS n FROM path_hops FINAL'),
      hopRows: await count('SELECT count() AS n FROM path_hops'),
    };
  }
}

function thin(values: number[], n: number): number[] {
  if (values.length <= n) return values;
  return Array.from({ length: n }, (_, i) => values[Math.round((i * (values.length - 1)) / (n - 1))] ?? 0);
}

function threadText(threads: [string, number][]): string {
  return threads.filter(([, cpu]) => cpu >= 0.05).map(([name, cpu]) => `${name} ${cpu.toFixed(1)} s`).join(', ');
}

const verdicts = (v: Record<Verdict, number>): string => Object.entries(v).map(([k, n]) => `${k} ${fmt(n)}`).join(', ');

export async function runPathStageBench(options: BenchOptions & { serviceOutbox?: boolean; rate?: number }): Promise<CaseReport> {
  const { log } = options;
  const rate = options.rate ?? 0;
  const maxOutbox = options.serviceOutbox === true ? undefined : ALL_PATHS;
  const target = options.quick ? TARGET_SAMPLES / 4 : TARGET_SAMPLES;
  const f = await loadFixture();
  const perLoop = streamRun(f, 1, 'observe').samples;
  const loops = Math.ceil(target / perLoop);
  const tmp = options.tmp === '' ? mkdtempSync(join(tmpdir(), 'hoptrace-bench-paths-')) : options.tmp;
  const dataDir = join(tmp, 'paths-chdb');
  const store = await ChdbStore.open({ path: dataDir });
  try {
    await store.migrate();
    // warm-ups (JIT): a short stage run and a short peer run
    await stageRun(f, 20, store, maxOutbox, 0);
    streamRun(f, 50, 'analyze', 'auto', 'all');

    const fed = await feedOnly(f, loops, rate);
    log(`paths: feed alone (envelopes + MemoryBus.publish to a group that does nothing) ${fmt(fed.datagrams)} datagrams in ${fed.cpuS.toFixed(2)} CPU-s; load ${fed.load.before} -> ${fed.load.after}`);
    const stage = await stageRun(f, loops, store, maxOutbox, rate);
    const s = stage.status;
    const samples = s.observations;
    log(`paths: stage ${fmt(samples)} samples (${fmt(stage.datagrams)} datagrams) in ${stage.cpuS.toFixed(2)} CPU-s, ${stage.wallS.toFixed(1)} s wall = ${si(samples / stage.cpuS)}/CPU-s; paths ${fmt(s.paths)} (status stored ${fmt(s.stored)}, not stored ${fmt(s.notStored)}${maxOutbox === undefined ? ' (the service\'s outbox bound)' : ''}; paths FINAL ${fmt(stage.storedPaths)}, rows ${fmt(stage.pathRows)}), hops FINAL ${fmt(stage.storedHops)} (rows ${fmt(stage.hopRows)}); threads ${threadText(stage.threads)}; RSS max ${stage.rssMax.toFixed(0)} MiB; load ${stage.load.before} -> ${stage.load.after}`);
    const peerLoad = loadAverage();
    const peer = streamRun(f, loops, 'analyze', 'auto', 'all');
    const peerRate = peer.samples / peer.cpuS;
    log(`paths: peer (offline analysis streamed, every snapshot set) ${fmt(peer.samples)} samples in ${peer.cpuS.toFixed(2)} CPU-s = ${si(peerRate)}/CPU-s; paths ${fmt(peer.paths)}; load ${peerLoad} -> ${loadAverage()}`);

    const stageRate = samples / stage.cpuS;
    const ownCpu = Math.max(stage.cpuS - fed.cpuS, Number.EPSILON);
    const ownRate = samples / ownCpu;
    const problems: string[] = [];
    if (JSON.stringify(s.byVerdict) !== JSON.stringify(peer.byVerdict)) problems.push(`verdicts differ: stage ${verdicts(s.byVerdict)}, peer ${verdicts(peer.byVerdict)}`);
    if (s.datagrams !== stage.datagrams || s.undecodable !== 0 || s.observations !== peer.samples) problems.push(`input: ${fmt(s.datagrams)} of ${fmt(stage.datagrams)} datagrams decoded (undecodable ${s.undecodable}), ${fmt(s.observations)} observations (peer ${fmt(peer.samples)})`);
    // the peer counts paths and hops before joining a NAT'ed frame's legs (its verdicts after)
    const peerPaths = Object.values(peer.byVerdict).reduce((n, v) => n + v, 0);
    if (s.paths !== peerPaths || stage.storedPaths !== s.paths || stage.storedHops !== stage.neededHops) problems.push(`stored: ${fmt(stage.storedPaths)} paths (stage ${fmt(s.paths)}, peer ${fmt(peerPaths)}), ${fmt(stage.storedHops)} hops (the stored paths have ${fmt(stage.neededHops)})`);
    if (s.outbox !== 0 || s.notStored !== 0 || s.lastError !== null) problems.push(`outbox ${fmt(s.outbox)}, not stored ${fmt(s.notStored)}, last error ${s.lastError ?? 'none'}`);
    // the status counts a batch twice when the tick's write and a batch's write overlap (both insert it)
    const doubled = s.stored - s.paths;
    const notes: string[] = [];
    if (doubled !== 0) notes.push(`status.stored ${fmt(s.stored)} for ${fmt(s.paths)} paths (+${fmt(doubled)}): batches inserted twice, ${fmt(stage.pathRows)} path rows before merging`);
    const check = problems.length === 0 ? `checked: same observations, verdicts, paths and hops as the peer, every path in the table${notes.length > 0 ? `; but ${notes.join('; ')}` : ''}` : `CHECK FAILED: ${[...problems, ...notes].join('; ')}`;
    const lines = [
      `paths (service path stage: MemoryBus + PathStage + chDB paths/path_hops): ${si(stageRate)} frames/CPU-s including the store writes and the feed (${si(ownRate)} without the feed), offline analysis ${si(peerRate)}, ratio ${ratio(stageRate, peerRate)} (${ratio(ownRate, peerRate)} without the feed); ${fmt(s.paths)} paths + ${fmt(stage.storedHops)} hops written; RSS max ${stage.rssMax.toFixed(0)} MiB; ${check}`,
    ];
    const markdown = [
      '## paths',
      '',
      `The service's path stage on the shipped lab capture (${fmt(f.packets.length)} datagrams, ${fmt(perLoop)} samples per loop; the three snapshot sets, ${f.allRaws.length} snapshots, given with \`stage.addSnapshot(buildTopology(raw), raw)\`), looped ${fmt(loops)} times (receive times +${LOOP_SHIFT_MS / 1000} s per loop) to ${fmt(samples)} samples, as collector envelopes${rate > 0 ? ` at ${fmt(rate)} datagrams/s` : ''} through a MemoryBus of ${fmt(BUS_CAPACITY)} (the stage's own consumer group, batches of up to 1,024), into a fresh chDB data directory, the stage's outbox ${maxOutbox === undefined ? "bounded as in the service (50,000 paths: what the store cannot take in time is given up on)" : 'unbounded (every path is stored, however far the store falls behind)'}. One run after a warm-up; CPU of the whole process (chDB's threads included).`,
      '',
      table(['run', 'samples', 'CPU s', 'wall s', 'frames / CPU-s', 'vs offline analysis', 'load before -> after'], [
        ['path stage + store writes + feed', fmt(samples), stage.cpuS.toFixed(2), stage.wallS.toFixed(1), si(stageRate), ratio(stageRate, peerRate), `${stage.load.before} -> ${stage.load.after}`],
        ['feed alone (envelopes + bus, null consumer)', fmt(fed.datagrams) + ' datagrams', fed.cpuS.toFixed(2), fed.wallS.toFixed(1), '', '', `${fed.load.before} -> ${fed.load.after}`],
        ['path stage + store writes (difference)', fmt(samples), ownCpu.toFixed(2), '', si(ownRate), ratio(ownRate, peerRate), ''],
        ['peer: offline analysis streamed (every snapshot set)', fmt(peer.samples), peer.cpuS.toFixed(2), peer.wallS.toFixed(1), si(peerRate), '1.00x', `${peerLoad}`],
      ]),
      '',
      `Written: ${fmt(s.paths)} paths (${verdicts(s.byVerdict)}; the peer: ${verdicts(peer.byVerdict)}), ${fmt(stage.storedHops)} hops (${(stage.storedHops / Math.max(1, stage.storedPaths)).toFixed(1)} per path; the peer's paths have ${fmt(peer.hops)}); \`paths FINAL\` holds ${fmt(stage.storedPaths)} (${fmt(stage.pathRows)} rows before merging, \`path_hops\` ${fmt(stage.hopRows)}). Stage status: ${fmt(s.datagrams)} datagrams, ${fmt(s.observations)} observations, stored ${fmt(s.stored)}, not stored ${fmt(s.notStored)}, outbox ${fmt(s.outbox)}, last error ${s.lastError ?? 'none'}. ${check}.`,
      '',
      `CPU by thread over the stage run (/proc/self/task): ${threadText(stage.threads)}.`,
      '',
      `Memory: RSS max ${stage.rssMax.toFixed(0)} MiB over the stage run (the bus holds up to ${fmt(BUS_CAPACITY)} envelopes, chDB's caches and merges are in the process); RSS through the run: ${stage.rssTrace.map((r) => r.toFixed(0)).join(' ')} MiB. The feed alone: ${fed.rssTrace.map((r) => r.toFixed(0)).join(' ')} MiB.`,
      '',
    ].join('\n');
    return { name: 'paths', lines, markdown };
  } finally {
    await store.close();
    if (options.tmp === '') rmSync(tmp, { recursive: true, force: true });
    else rmSync(dataDir, { recursive: true, force: true });
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const quick = process.argv.includes('--quick');
  const serviceOutbox = process.argv.includes('--service-outbox');
  const rateAt = process.argv.indexOf('--rate');
  const rate = rateAt < 0 ? 0 : Number(process.argv[rateAt + 1]);
  if (!(rate >= 0)) throw new RangeError(`--rate takes datagrams per second, not ${JSON.stringify(process.argv[rateAt + 1])}`);
  runPathStageBench({ quick, serviceOutbox, rate, tmp: '', log: (line) => process.stdout.write(`${line}\n`) })
    .then((report) => process.stdout.write(`\n${report.lines.join('\n')}\n\n${report.markdown}`))
    .catch((error: unknown) => {
      process.stderr.write(`bench paths: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      process.exitCode = 1;
    });
}
