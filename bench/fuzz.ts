// `npm run fuzz`: the decoder under millions of mutated datagrams. Seeds are every UDP payload of
// the shared sFlow captures (testdata/sflow/*.pcap) and of the Open vSwitch corpus; each mutant is
// made by the decoder's own mutator (src/sflow/fuzz.ts `mutate`: bit and byte flips, XDR words
// set to boundary values, cuts, inserted and deleted ranges, copied chunks), after, one time in
// four, a splice of two seeds (the head of one, the tail of another). The contract under test:
// decodeDatagram gives a Datagram or throws a DecodeError, never anything else; and what it gives
// turns into rows and RowBinary (SflowRowBatch, the decode stage's next step) without throwing.
//
//   npm run fuzz -- [--seconds 60] [--seed N] [--max N] [--no-rows] [--out bench/out] [--json]
//
// --json adds a last line `{"fuzz":{...}}` with the totals, for bench/run.ts.
// Prints the count, the rate, DecodeErrors by code, issues by code, and every unexpected
// exception; each distinct one is saved with the mutant's bytes as hex to --out. Exits 1 if any.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DecodeError } from '../src/errors.js';
import { SflowRowBatch } from '../src/pipeline/rows.js';
import { decodeDatagram } from '../src/sflow/datagram.js';
import { mutate } from '../src/sflow/fuzz.js';
import type { Datagram } from '../src/sflow/types.js';
import { benchSourceDir } from './lib/c-tools.js';
import { CORPUS, readPackets, sharedCaptures } from './lib/corpus.js';
import { fmt, si } from './lib/report.js';

interface SeedDatagram {
  source: string;
  frame: number;
  bytes: Uint8Array;
}

interface Unexpected {
  stage: 'decode' | 'rows';
  key: string;
  message: string;
  stack: string;
  input: Uint8Array;
  seed: string;
  iteration: number;
}

/** Most distinct unexpected exceptions kept and saved. */
const MAX_SAVED = 20;
/** A decode slower than this, timed again, is reported (a mutant that makes the decoder crawl is a bug too). */
const SLOW_MS = 50;
const CHECK_CLOCK_EVERY = 1024;
const ROWS_BATCH = 1000;

function main(): void {
  const { values } = parseArgs({
    options: {
      seconds: { type: 'string', default: '60' },
      seed: { type: 'string' },
      max: { type: 'string' },
      'no-rows': { type: 'boolean', default: false },
      out: { type: 'string' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write('usage: npm run fuzz -- [--seconds 60] [--seed N] [--max N] [--no-rows] [--out bench/out] [--json]\n');
    return;
  }
  const seconds = Number(values.seconds);
  const max = values.max === undefined ? Number.POSITIVE_INFINITY : Number(values.max);
  const seed = values.seed === undefined ? Math.floor(Math.random() * 0x1_0000_0000) : Number(values.seed);
  if (!(seconds > 0) || !(max > 0) || !Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
    process.stderr.write('fuzz: --seconds and --max must be positive numbers, --seed an integer 0..4294967295\n');
    process.exitCode = 2;
    return;
  }
  const out = values.out ?? join(benchSourceDir(), 'out');
  const withRows = !values['no-rows'];

  const shared: SeedDatagram[] = [];
  for (const capture of sharedCaptures()) {
    for (const p of readPackets(capture.file)) shared.push({ source: capture.name, frame: p.frame, bytes: p.payload });
  }
  const corpus: SeedDatagram[] = readPackets(CORPUS).map((p) => ({ source: 'ovs-sflow-10k', frame: p.frame, bytes: p.payload }));
  if (shared.length === 0 || corpus.length === 0) throw new Error('no seed datagrams');
  process.stdout.write(`fuzz: seed ${seed}, ${fmt(shared.length)} datagrams from ${sharedCaptures().length} shared captures + ${fmt(corpus.length)} from the corpus, ${seconds} s${Number.isFinite(max) ? `, at most ${fmt(max)} mutants` : ''}${withRows ? ', rows checked too' : ''}\n`);

  const random = splitmix32(seed);
  const int = (n: number): number => Math.floor(random() * n);
  const pick = (): SeedDatagram => (random() < 0.6 ? shared[int(shared.length)] : corpus[int(corpus.length)]) as SeedDatagram;

  const errors = new Map<string, number>();
  const issues = new Map<string, number>();
  const unexpected = new Map<string, Unexpected & { count: number }>();
  let iterations = 0;
  let datagrams = 0;
  let withIssues = 0;
  let samples = 0;
  let slowest: { ms: number; input: Uint8Array; seed: string } = { ms: 0, input: new Uint8Array(0), seed: '' };
  const batch = new SflowRowBatch({ keepRawDatagrams: true });
  const started = performance.now();
  const cpu0 = process.cpuUsage();
  const deadline = started + seconds * 1000;

  while (iterations < max) {
    if ((iterations & (CHECK_CLOCK_EVERY - 1)) === 0 && performance.now() > deadline) break;
    const a = pick();
    let base = a.bytes;
    let origin = `${a.source}#${a.frame}`;
    if (random() < 0.25) {
      const b = pick();
      const cutA = int(a.bytes.byteLength + 1);
      const cutB = int(b.bytes.byteLength + 1);
      const spliced = new Uint8Array(cutA + b.bytes.byteLength - cutB);
      spliced.set(a.bytes.subarray(0, cutA), 0);
      spliced.set(b.bytes.subarray(cutB), cutA);
      base = spliced;
      origin += `[0:${cutA}] + ${b.source}#${b.frame}[${cutB}:]`;
    }
    const input = mutate(base, random);
    iterations++;
    let decoded: Datagram;
    const t0 = performance.now();
    try {
      decoded = decodeDatagram(input);
    } catch (error) {
      if (error instanceof DecodeError) {
        errors.set(error.code, (errors.get(error.code) ?? 0) + 1);
        if (withRows) addRows(batch, error, input, unexpected, origin, iterations);
        continue;
      }
      record(unexpected, 'decode', error, input, origin, iterations);
      continue;
    } finally {
      const ms = performance.now() - t0;
      if (ms > slowest.ms) slowest = { ms, input, seed: origin };
    }
    if (!isDatagram(decoded)) {
      record(unexpected, 'decode', new Error(`decodeDatagram returned something else than a Datagram: ${JSON.stringify(decoded).slice(0, 200)}`), input, origin, iterations);
      continue;
    }
    datagrams++;
    samples += decoded.samples.length;
    if (decoded.issues.length > 0) withIssues++;
    for (const issue of decoded.issues) issues.set(issue.code, (issues.get(issue.code) ?? 0) + 1);
    if (withRows) addRows(batch, decoded, input, unexpected, origin, iterations);
  }
  const wallS = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const cpuS = (cpu.user + cpu.system) / 1e6;

  const unexpectedTotal = [...unexpected.values()].reduce((n, u) => n + u.count, 0);
  const line = `fuzz: ${fmt(iterations)} mutants in ${wallS.toFixed(1)} s (${si(iterations / wallS)}/s, ${si(iterations / cpuS)}/CPU-s), seed ${seed}: ${fmt(datagrams)} Datagrams (${fmt(withIssues)} with issues, ${fmt(samples)} samples), ${fmt(iterations - datagrams - unexpectedTotal)} DecodeErrors, ${fmt(unexpectedTotal)} unexpected exceptions`;
  process.stdout.write(`${line}\n`);
  process.stdout.write(`fuzz: DecodeError by code: ${formatCounts(errors)}\n`);
  process.stdout.write(`fuzz: issues (inside Datagrams) by code: ${formatCounts(issues)}\n`);
  // A single slow decode is usually a GC pause or the JIT: time that mutant again before calling it slow.
  const again = retime(slowest.input);
  process.stdout.write(`fuzz: slowest decode ${slowest.ms.toFixed(2)} ms (${slowest.input.byteLength} bytes, from ${slowest.seed}); again: ${again.toFixed(3)} ms\n`);
  if (again > SLOW_MS) {
    mkdirSync(out, { recursive: true });
    const file = join(out, `fuzz-${seed}-slow.txt`);
    writeFileSync(file, `slow decode: ${slowest.ms.toFixed(1)} ms\nfrom: ${slowest.seed}\nhex: ${hex(slowest.input)}\n`);
    process.stdout.write(`fuzz: slow mutant saved to ${file}\n`);
  }
  if (unexpected.size > 0) {
    mkdirSync(out, { recursive: true });
    let n = 0;
    for (const u of unexpected.values()) {
      const file = join(out, `fuzz-${seed}-${++n}.txt`);
      writeFileSync(file, [
        `stage: ${u.stage} (${u.stage === 'decode' ? 'decodeDatagram' : 'SflowRowBatch.add'})`,
        `seen: ${u.count} times; first at iteration ${u.iteration} of seed ${seed}`,
        `mutant of: ${u.seed}`,
        `error: ${u.message}`,
        `length: ${u.input.byteLength}`,
        `hex: ${hex(u.input)}`,
        '',
        u.stack,
        '',
      ].join('\n'));
      process.stdout.write(`fuzz: UNEXPECTED (${u.stage}, ${u.count}x) ${u.message}\n      mutant of ${u.seed}, ${u.input.byteLength} bytes, saved to ${file}\n`);
    }
    process.exitCode = 1;
  }
  if (values.json) {
    process.stdout.write(`${JSON.stringify({
      fuzz: {
        seed,
        seconds: wallS,
        cpuSeconds: cpuS,
        mutants: iterations,
        datagrams,
        withIssues,
        samples,
        decodeErrors: Object.fromEntries(errors),
        issues: Object.fromEntries(issues),
        unexpected: [...unexpected.values()].map((u) => ({ stage: u.stage, count: u.count, message: u.message, origin: u.seed })),
        seeds: { shared: shared.length, captures: sharedCaptures().length, corpus: corpus.length },
        rows: withRows,
        slowestMs: again,
      },
    })}\n`);
  }
}

function addRows(batch: SflowRowBatch, input: Datagram | DecodeError, bytes: Uint8Array, unexpected: Map<string, Unexpected & { count: number }>, origin: string, iteration: number): void {
  try {
    batch.add(input, { receivedAt: 1_700_000_000_000, exporter: '198.51.100.7', exporterPort: 6343, raw: bytes });
    if (batch.datagrams >= ROWS_BATCH) {
      batch.tables();
      batch.reset();
    }
  } catch (error) {
    batch.reset();
    record(unexpected, 'rows', error, bytes, origin, iteration);
  }
}

function record(into: Map<string, Unexpected & { count: number }>, stage: 'decode' | 'rows', error: unknown, input: Uint8Array, origin: string, iteration: number): void {
  const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  const stack = error instanceof Error ? (error.stack ?? message) : message;
  // One entry per throw site: the error's class and the first frame of its stack.
  const site = stack.split('\n').find((l) => l.trim().startsWith('at ')) ?? '';
  const key = `${stage}|${error instanceof Error ? error.name : typeof error}|${site.trim()}`;
  const seen = into.get(key);
  if (seen !== undefined) {
    seen.count++;
    return;
  }
  if (into.size >= MAX_SAVED) return;
  into.set(key, { stage, key, message, stack, input: Uint8Array.from(input), seed: origin, iteration, count: 1 });
}

function retime(input: Uint8Array): number {
  let best = Number.POSITIVE_INFINITY;
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    try {
      decodeDatagram(input);
    } catch (error) {
      if (!(error instanceof DecodeError)) return Number.NaN; // already reported as unexpected
    }
    best = Math.min(best, performance.now() - t0);
  }
  return best;
}

function isDatagram(value: unknown): value is Datagram {
  const d = value as Partial<Datagram> | null;
  return typeof d === 'object' && d !== null && d.version === 5 && Array.isArray(d.samples) && Array.isArray(d.issues);
}

function formatCounts(counts: ReadonlyMap<string, number>): string {
  if (counts.size === 0) return 'none';
  return [...counts.entries()].sort((a, b) => b[1] - a[1]).map(([code, n]) => `${code} ${fmt(n)}`).join(', ');
}

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

/** splitmix32: the driver's own choices (which seed, where to splice); `mutate` draws from it too. */
function splitmix32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x9e3779b9) >>> 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return ((z ^ (z >>> 16)) >>> 0) / 0x1_0000_0000;
  };
}

try {
  main();
} catch (error) {
  process.stderr.write(`fuzz: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
}
