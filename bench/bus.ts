// Case "bus": what MemoryBus.tryPublish costs per message, the call the UDP receive loop makes for
// every datagram, now that the bus keeps one cursor per consumer group and stamps every message
// with performance.now() (for each group's linger), with one consumer group (the decode stage) and
// two (decode + the path stage). Peer in the same run: the bus as it was before that change
// (bench/lib/memory-bus-session2.ts, one consumer, performance.now() only when the ring was empty).
//
// Each round fills an empty ring of the service's default capacity with tryPublish in a tight loop
// (the consumers cannot run in between: the loop does not yield), then lets the consumers (no-op
// handlers, batches of 1,024, no linger) drain it; a second figure times tryPublish on the full ring
// (what each datagram costs while the service is overloaded and drops). Median of the rounds, CPU
// by the wall clock per message, and the process CPU beside it.
//
//   standalone: npx tsc -p tsconfig.json && node dist/bench/bus.js [--quick]
import { pathToFileURL } from 'node:url';
import { TOPICS, type Bus, type BusMessage } from '../src/bus/bus.js';
import { MemoryBus } from '../src/bus/memory-bus.js';
import { loadAverage } from './lib/machine.js';
import { MemoryBusSession2 } from './lib/memory-bus-session2.js';
import { fmt, median, ratio, table, type BenchOptions, type CaseReport } from './lib/report.js';

const CAPACITY = 65_536;
/** A typical Open vSwitch datagram plus the 28-byte envelope. */
const MESSAGE_BYTES = 1_345;

interface Variant {
  name: string;
  make: () => Bus & { depth(topic: string): number; close(): Promise<void> };
  groups: number;
}

interface Figures {
  /** tryPublish into an empty ring until full: wall clock ns per message (median of the rounds). */
  publishNs: number;
  /** The same by process CPU (every thread: V8's GC helpers included). */
  publishCpuNs: number;
  /** tryPublish refused by the full ring: wall ns per message. */
  fullNs: number;
  /** The consumers taking the ring: wall ns per message. */
  drainNs: number;
}

function cpuNs(start: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(start);
  return (d.user + d.system) * 1000;
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

async function measure(v: Variant, messages: readonly BusMessage[], rounds: number): Promise<Figures> {
  const bus = v.make();
  for (let g = 0; g < v.groups; g++) bus.consume(TOPICS.SFLOW_RAW, async () => {}, { group: `bench-${g}`, maxBatch: 1024, lingerMs: 0 });
  await tick();
  const publish: number[] = [];
  const publishWall: number[] = [];
  const full: number[] = [];
  const drain: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const cpu = process.cpuUsage();
    let wall = performance.now();
    for (let i = 0; i < CAPACITY; i++) {
      if (!bus.tryPublish(TOPICS.SFLOW_RAW, messages[i] as BusMessage)) throw new Error(`bus bench: ${v.name}: ring full after ${i} messages`);
    }
    publishWall.push(((performance.now() - wall) * 1e6) / CAPACITY);
    publish.push(cpuNs(cpu) / CAPACITY);
    wall = performance.now();
    for (let i = 0; i < CAPACITY; i++) {
      if (bus.tryPublish(TOPICS.SFLOW_RAW, messages[i] as BusMessage)) throw new Error(`bus bench: ${v.name}: a full ring took a message`);
    }
    full.push(((performance.now() - wall) * 1e6) / CAPACITY);
    wall = performance.now();
    while (bus.depth(TOPICS.SFLOW_RAW) > 0) await tick();
    drain.push(((performance.now() - wall) * 1e6) / CAPACITY);
  }
  await bus.close();
  return { publishNs: median(publishWall), publishCpuNs: median(publish), fullNs: median(full), drainNs: median(drain) };
}

export async function runBusBench(options: BenchOptions): Promise<CaseReport> {
  const { log } = options;
  const rounds = options.quick ? 30 : 100;
  const payload = Buffer.alloc(MESSAGE_BYTES, 0x5a);
  const messages: BusMessage[] = Array.from({ length: CAPACITY }, (_, i) => ({ key: `198.51.100.${(i % 16) + 1}`, value: payload }));
  const variants: Variant[] = [
    { name: 'MemoryBus now, 1 consumer group', make: () => new MemoryBus({ capacity: CAPACITY }), groups: 1 },
    { name: 'MemoryBus now, 2 consumer groups (decode + paths)', make: () => new MemoryBus({ capacity: CAPACITY }), groups: 2 },
    { name: 'MemoryBus before (session 2), 1 consumer', make: () => new MemoryBusSession2({ capacity: CAPACITY }), groups: 1 },
  ];
  // performance.now() alone, the call tryPublish now makes for every message
  const nowCost = (): number => {
    const wall = performance.now();
    let sink = 0;
    for (let i = 0; i < CAPACITY * 16; i++) sink += performance.now();
    if (sink < 0) log('');
    return ((performance.now() - wall) * 1e6) / (CAPACITY * 16);
  };
  const loadBefore = loadAverage();
  // warm-up of every variant (JIT), then the measured rounds, the variants interleaved twice
  for (const v of variants) await measure(v, messages, 10);
  const results = new Map<string, Figures[]>();
  for (let pass = 0; pass < 2; pass++) {
    for (const v of variants) {
      const f = await measure(v, messages, rounds / 2);
      results.set(v.name, [...(results.get(v.name) ?? []), f]);
    }
  }
  const nowNs = median([nowCost(), nowCost(), nowCost()]);
  const loadAfter = loadAverage();
  const fig = (name: string): Figures => {
    const fs = results.get(name) ?? [];
    return { publishNs: median(fs.map((f) => f.publishNs)), publishCpuNs: median(fs.map((f) => f.publishCpuNs)), fullNs: median(fs.map((f) => f.fullNs)), drainNs: median(fs.map((f) => f.drainNs)) };
  };
  const [one, two, before] = variants.map((v) => fig(v.name)) as [Figures, Figures, Figures];
  const perCore = (ns: number): string => `${fmt(1e9 / ns / 1e6, 1)} M/s`;
  const lines = [
    `bus: MemoryBus.tryPublish ${one.publishNs.toFixed(0)} ns/message with 1 consumer group, ${two.publishNs.toFixed(0)} ns with 2; before the per-group cursors ${before.publishNs.toFixed(0)} ns (ratio ${ratio(before.publishNs, one.publishNs)} = before/now, 1 group); on a full ring ${one.fullNs.toFixed(0)} / ${two.fullNs.toFixed(0)} ns (before ${before.fullNs.toFixed(0)}); performance.now() alone ${nowNs.toFixed(0)} ns; load ${loadBefore} -> ${loadAfter}`,
  ];
  const row = (name: string, f: Figures): string[] => [name, f.publishNs.toFixed(0), f.publishCpuNs.toFixed(0), perCore(f.publishNs), ratio(before.publishNs, f.publishNs), f.fullNs.toFixed(0), ratio(before.fullNs, f.fullNs), f.drainNs.toFixed(0)];
  const markdown = [
    '## bus',
    '',
    `MemoryBus.tryPublish, the call the UDP receive loop makes per datagram: ${rounds} rounds per variant (two interleaved passes), each filling an empty ring of ${fmt(CAPACITY)} messages (${fmt(MESSAGE_BYTES)}-byte values) in a tight loop, then ${fmt(CAPACITY)} more calls on the full ring (refused: the overload path), then the consumers drain it (no-op handlers, batches of 1,024, no linger). Median ns per message by the wall clock (a tight loop on one thread; process CPU beside it also counts V8's helper threads, and its microsecond resolution is coarse for a 2-5 ms loop); load ${loadBefore} before, ${loadAfter} after.`,
    '',
    table(['bus', 'tryPublish ns/msg (wall)', 'ns/msg (process CPU)', 'rate', 'before / this', 'refused on a full ring, ns/msg', 'before / this', 'drain ns/msg (all groups)'], [
      row('now, 1 consumer group', one),
      row('now, 2 consumer groups (decode + paths)', two),
      row('before (session 2 bus, one consumer)', before),
    ]),
    '',
    `performance.now() alone: ${nowNs.toFixed(1)} ns per call (tryPublish now makes one per message, also when the ring is full and the message is refused; the session-2 bus made one only when the ring was empty). At the receive stage's 250 k datagrams/s, tryPublish takes ${((one.publishNs * 250_000) / 1e7).toFixed(2)} % of a core with one group (${((two.publishNs * 250_000) / 1e7).toFixed(2)} % with two).`,
    '',
  ].join('\n');
  return { name: 'bus', lines, markdown };
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const quick = process.argv.includes('--quick');
  runBusBench({ quick, tmp: '', log: (line) => process.stdout.write(`${line}\n`) })
    .then((report) => process.stdout.write(`\n${report.lines.join('\n')}\n\n${report.markdown}`))
    .catch((error: unknown) => {
      process.stderr.write(`bench bus: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      process.exitCode = 1;
    });
}
