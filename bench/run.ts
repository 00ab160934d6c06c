// `npm run bench`: the benchmark suite. Each case measures hoptrace and a peer in the same run on
// the same data and prints one line per figure with the ratio; the whole report (machine,
// versions, load, a table per case) is written to bench/RESULTS.md.
//
//   npm run bench -- [--only decode,ingest,store,fuzz,correlate,analyze,paths,bus] [--quick] [--out FILE]
//
// Needs tshark and sfacctd (Debian: tshark, pmacct) and a C compiler. Traffic goes to 127.0.0.1
// only; every load loop is bounded in datagrams and seconds. About 8 minutes on 2 cores for
// decode..fuzz (--quick: fewer steps and rows, about 4); correlate and analyze add about 2-3 minutes
// each, paths about 5 (1 M samples through the path stage into chDB; --quick a quarter), bus a few
// seconds. The fuzz case runs `npm run fuzz` for 60 s (15 s with --quick) with a fixed seed and
// puts its totals in the report.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { benchSourceDir } from './lib/c-tools.js';
import { loadAverage, machineInfo } from './lib/machine.js';
import { table, type BenchOptions, type CaseReport } from './lib/report.js';

const CASES = ['decode', 'ingest', 'store', 'fuzz', 'correlate', 'analyze', 'paths', 'bus'] as const;
type CaseName = (typeof CASES)[number];

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      only: { type: 'string' },
      quick: { type: 'boolean', default: false },
      out: { type: 'string' },
      'whole-only': { type: 'boolean', default: false },
      'whole-rates': { type: 'string' },
      receiver: { type: 'string' },
      'no-overload': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(
      'usage: npm run bench -- [--only decode,ingest,store,fuzz,correlate,analyze,paths,bus] [--quick] [--out FILE]\n' +
        '  ingest only: [--whole-only] (hoptrace serve alone) [--whole-rates 10000,20000,...] [--receiver native|dgram] [--no-overload]\n',
    );
    return;
  }
  const only = values.only === undefined ? [...CASES] : values.only.split(',').map((s) => s.trim()).filter((s) => s !== '');
  for (const name of only) {
    if (!(CASES as readonly string[]).includes(name)) {
      process.stderr.write(`bench: unknown case ${JSON.stringify(name)}; choose from ${CASES.join(', ')}\n`);
      process.exitCode = 2;
      return;
    }
  }
  const out = values.out ?? join(benchSourceDir(), 'RESULTS.md');
  const tmp = mkdtempSync(join(tmpdir(), 'hoptrace-bench-'));
  const started = Date.now();
  const machine = machineInfo();
  const loads: string[] = [`start ${loadAverage()}`];
  const log = (line: string): void => {
    process.stdout.write(`${line}\n`);
  };
  log(`machine: ${machine.nproc} x ${machine.cpuModel}, ${machine.memoryGiB} GiB, Linux ${machine.kernel}; node ${machine.node}, tshark ${machine.tshark}, ${machine.sfacctd}, chdb ${machine.chdb}; load ${loadAverage()}`);
  if (values.receiver !== undefined && values.receiver !== 'native' && values.receiver !== 'dgram') {
    process.stderr.write(`bench: --receiver is native or dgram, not ${JSON.stringify(values.receiver)}\n`);
    process.exitCode = 2;
    return;
  }
  const wholeRates = values['whole-rates']?.split(',').map((r) => Number(r.trim()));
  if (wholeRates !== undefined && wholeRates.some((r) => !Number.isInteger(r) || r <= 0)) {
    process.stderr.write(`bench: --whole-rates takes positive integers, comma-separated\n`);
    process.exitCode = 2;
    return;
  }
  const options: BenchOptions = {
    quick: values.quick,
    tmp,
    log,
    wholeOnly: values['whole-only'],
    noOverload: values['no-overload'],
    ...(wholeRates !== undefined ? { wholeRates } : {}),
    ...(values.receiver !== undefined ? { receiver: values.receiver } : {}),
  };
  const reports: CaseReport[] = [];
  const failures: string[] = [];
  try {
    for (const name of CASES) {
      if (!only.includes(name)) continue;
      const caseStart = Date.now();
      log(`--- ${name} (load ${loadAverage()})`);
      try {
        const report = await runCase(name, options);
        reports.push(report);
      } catch (error) {
        const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
        failures.push(`${name}: ${message}`);
        log(`${name}: FAILED: ${message}`);
      }
      loads.push(`after ${name} ${loadAverage()}`);
      log(`--- ${name} took ${((Date.now() - caseStart) / 1000).toFixed(0)} s`);
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  log('');
  for (const report of reports) for (const line of report.lines) log(line);
  for (const failure of failures) log(`FAILED ${failure.split('\n')[0] ?? ''}`);

  const flags = `${values.quick ? ' --quick' : ''}${values.only !== undefined ? ` --only ${only.join(',')}` : ''}`;
  const header = [
    '# hoptrace benchmark results',
    '',
    `Written by \`npm run bench${flags === '' ? '' : ` --${flags}`}\` (bench/run.ts) on ${machine.date}, in ${((Date.now() - started) / 60000).toFixed(1)} minutes. Every figure has its peer measured in the same run on the same data; ratios are hoptrace / peer (above 1 = hoptrace does more per CPU-second or per second).`,
    '',
    table(['', ''], [
      ['machine', `${machine.nproc} x ${machine.cpuModel}, ${machine.memoryGiB} GiB memory, Linux ${machine.kernel}, net.core.rmem_max ${machine.rmemMax}`],
      ['versions', `hoptrace ${machine.hoptrace}, node ${machine.node}, chdb ${machine.chdb}, tshark ${machine.tshark}, ${machine.sfacctd}, ${machine.cc}`],
      ['load average (1 5 15 min)', loads.join('; ')],
    ]),
    '',
    'The machine is shared with other engineers (their tests run beside the benchmark), so figures move by ±30% between runs; the load averages above show how busy it was.',
    '',
    '```',
    ...reports.flatMap((r) => r.lines),
    ...failures.map((f) => `FAILED ${f.split('\n')[0] ?? ''}`),
    '```',
    '',
  ].join('\n');
  writeFileSync(out, `${header}\n${reports.map((r) => r.markdown).join('\n')}`);
  log(`wrote ${out}`);
  if (failures.length > 0) process.exitCode = 1;
}

async function runCase(name: CaseName, options: BenchOptions): Promise<CaseReport> {
  switch (name) {
    case 'decode':
      return (await import('./decode.bench.js')).runDecodeBench(options);
    case 'ingest':
      return (await import('./ingest.bench.js')).runIngestBench(options);
    case 'store':
      return (await import('./store.bench.js')).runStoreBench(options);
    case 'fuzz':
      return (await import('./lib/fuzz-case.js')).runFuzzCase(options);
    case 'correlate':
      return (await import('./correlate.js')).runCorrelateBench(options);
    case 'analyze':
      return (await import('./analyze.js')).runAnalyzeBench(options);
    case 'paths':
      return (await import('./path-stage.js')).runPathStageBench(options);
    case 'bus':
      return (await import('./bus.js')).runBusBench(options);
    default:
      return assertNever(name);
  }
}

function assertNever(value: never): never {
  throw new Error(`unknown case ${String(value)}`);
}

main().catch((error: unknown) => {
  process.stderr.write(`bench: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
});
