// The fuzz driver (bench/fuzz.ts) as a case of the benchmark report: run it in a child process
// for a fixed time with a fixed seed and write its totals into bench/RESULTS.md.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Child } from './proc.js';
import { fmt, si, table, type BenchOptions, type CaseReport } from './report.js';

const SEED = 20261125;

interface FuzzTotals {
  seed: number;
  seconds: number;
  cpuSeconds: number;
  mutants: number;
  datagrams: number;
  withIssues: number;
  samples: number;
  decodeErrors: Record<string, number>;
  issues: Record<string, number>;
  unexpected: { stage: string; count: number; message: string; origin: string }[];
  seeds: { shared: number; captures: number; corpus: number };
  rows: boolean;
  slowestMs: number;
}

export async function runFuzzCase(options: BenchOptions): Promise<CaseReport> {
  const seconds = options.quick ? 15 : 60;
  const script = fileURLToPath(new URL('../fuzz.js', import.meta.url));
  const out = join(options.tmp, 'fuzz-out');
  const child = new Child(process.execPath, [script, '--seconds', String(seconds), '--seed', String(SEED), '--out', out, '--json']);
  await child.waitForExit((seconds + 120) * 1000);
  for (const line of child.lines) if (!line.startsWith('{')) options.log(line);
  const last = child.lines.find((l) => l.startsWith('{"fuzz"'));
  if (last === undefined) throw new Error(`fuzz printed no totals (exit ${child.exitCode}): ${child.stderr.slice(-5).join(' | ')}`);
  const f = (JSON.parse(last) as { fuzz: FuzzTotals }).fuzz;
  const errors = Object.values(f.decodeErrors).reduce((a, b) => a + b, 0);
  const unexpected = f.unexpected.reduce((a, u) => a + u.count, 0);
  const codes = (counts: Record<string, number>): string =>
    Object.entries(counts).sort((a, b) => b[1] - a[1]).map(([code, n]) => `${code} ${fmt(n)}`).join(', ') || 'none';
  const lines = [
    `fuzz: ${fmt(f.mutants)} mutants in ${f.seconds.toFixed(0)} s (${si(f.mutants / f.seconds)}/s), seed ${f.seed}: ${fmt(f.datagrams)} Datagrams, ${fmt(errors)} DecodeErrors (${codes(f.decodeErrors)}), ${fmt(unexpected)} unexpected exceptions`,
  ];
  const markdown = [
    '## fuzz',
    '',
    `\`npm run fuzz -- --seconds ${seconds} --seed ${f.seed}\`: mutants of the ${fmt(f.seeds.shared)} datagrams of the ${f.seeds.captures} shared sFlow captures (60 % of picks) and the ${fmt(f.seeds.corpus)} of the corpus, made by the decoder's own mutator (\`src/sflow/fuzz.ts\` \`mutate\`: bit and byte flips, XDR words set to boundary values, cuts, inserted and deleted ranges, copied chunks), one in four after a splice of two seeds. Each is decoded${f.rows ? ', and what comes out is turned into rows and RowBinary (`SflowRowBatch.add`)' : ''}. Contract: a Datagram or a DecodeError, nothing else.`,
    '',
    table(['', ''], [
      ['mutants', `${fmt(f.mutants)} in ${f.seconds.toFixed(1)} s, ${si(f.mutants / f.seconds)}/s (${si(f.mutants / f.cpuSeconds)} per CPU-s)`],
      ['decoded to a Datagram', `${fmt(f.datagrams)} (${fmt(f.withIssues)} with issues; ${fmt(f.samples)} samples)`],
      ['DecodeError by code', codes(f.decodeErrors)],
      ['issues inside Datagrams by code', codes(f.issues)],
      ['unexpected exceptions', unexpected === 0 ? '**none**' : `**${fmt(unexpected)}**: ${f.unexpected.map((u) => `${u.stage}: ${u.message} (${u.count}x, from ${u.origin})`).join('; ')}`],
      ['slowest decode, timed again', `${f.slowestMs.toFixed(3)} ms`],
    ]),
    '',
    '**What limits it.** A `node --cpu-prof` profile of the driver (2026-11-25) puts ~30 % of its CPU in constructing errors (`HoptraceError`: V8 captures a stack trace for every `DecodeError`, and the reader throws one for each cut or malformed piece, also those that end up as issues or malformed records), then GC, `mutate` (it copies each seed with `Uint8Array.from`, which iterates) and the RowBinary writer. So a malformed datagram costs the decode stage several times a good one.',
    '',
  ].join('\n');
  return { name: 'fuzz', lines, markdown };
}
