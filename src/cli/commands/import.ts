// hoptrace import PATH...: host snapshots from sosreports (extracted or tarballs, one per host or a
// directory of several) and from agent snapshot trees. Prints per host what was found and what was
// missing; writes the snapshots in the agent layout with --out. Inputs that fail are listed with
// the reason; the others are imported anyway (exit 1 only when nothing could be imported).
import type { Command } from 'commander';
import type { RawSnapshot } from '../../hoststate/snapshot.js';
import { dataFlag, openStore, runningService } from '../../service/open-store.js';
import { buildTopologies } from '../../topology/build.js';
import { checkTopology } from '../../topology/checks.js';
import type { HostTopology } from '../../topology/model.js';
import { storeSnapshot } from '../../topology/store.js';
import type { GlobalFlags } from '../main.js';
import { resolveWithDataDir } from '../resolve-config.js';
import { StoreError, UsageError } from '../../errors.js';
import { writeSnapshotDir } from '../../snapshot/dir.js';
import { importSnapshots, type ImportProblem, type ImportSummary } from '../../snapshot/import.js';
import { toJson } from '../json.js';

export interface ImportFlags {
  out?: string;
  store?: boolean;
  data?: string;
  json?: boolean;
  verbose?: boolean;
}

export function register(program: Command): void {
  program
    .command('import')
    .description('Import host snapshots from sosreports (sos 4.x, extracted or .tar/.tar.gz/.tar.xz) and agent snapshot directories')
    .argument('<paths...>', 'sosreport directories or tarballs, directories holding several, agent --out trees')
    .option('--out <dir>', 'write the snapshots to DIR/<host>/<time>/ (the agent layout, docs/snapshots.md)')
    .option('--store', 'store the snapshots and their topology in the store (./data, or the configured ClickHouse)')
    .option('-d, --data <dir>', 'embedded store directory for --store (default ./data)')
    .option('--json', 'print {summary, problems, written} as JSON')
    .option('-v, --verbose', 'list the missing catalog ids per host, and the notes')
    .addHelpText('after', `
Examples:
  $ hoptrace import sosreport-compute-1-2026-11-25-abcdef.tar.xz sosreport-net-1-2026-11-25-ghijkl.tar.xz
  $ hoptrace import ./case-04711/ --out ./snapshots       # every sosreport found in the directory
  $ hoptrace import ./case-04711/ --store && hoptrace topology   # keep them, then look at the topology
  $ hoptrace import --json /var/tmp/hoptrace-agent | jq '.summary[] | {host, missing}'`)
    .action(async (paths: string[], flags: ImportFlags, command: Command) => {
      await runImport(paths, flags, command.optsWithGlobals());
    });
}

export async function runImport(paths: string[], flags: ImportFlags, globals: GlobalFlags = {}): Promise<void> {
  if (flags.data !== undefined && flags.store !== true) throw new UsageError('--data goes with --store');
  const tty = process.stderr.isTTY === true && flags.json !== true;
  const result = await importSnapshots(paths, {
    ...(tty ? { onProgress: ({ path, index, total }: { path: string; index: number; total: number }) => process.stderr.write(`\rimporting ${index + 1}/${total} ${path}\x1b[K`) } : {}),
  });
  if (tty) process.stderr.write('\r\x1b[K');
  const written: string[] = [];
  if (flags.out !== undefined) {
    for (const snapshot of result.snapshots) {
      const { path, existed } = await writeSnapshotDir(flags.out, snapshot);
      written.push(path);
      if (existed) result.problems.push({ path, message: 'a snapshot of that host and time was there already: left as it was' });
    }
  }
  if (result.snapshots.length === 0 && flags.json !== true) {
    throw new UsageError(`nothing imported: ${result.problems.map((p) => `${p.path}: ${p.message}`).join('; ') || 'no sosreport or agent snapshot found'}`);
  }
  let stored = 0;
  if (flags.store === true && result.snapshots.length > 0) stored = await storeAll(result.snapshots, flags, globals);
  if (flags.json === true) process.stdout.write(`${toJson({ summary: result.summary, problems: result.problems, written, ...(flags.store === true ? { stored } : {}) })}\n`);
  else {
    printTable(result.summary, result.problems, written, flags.verbose === true);
    if (flags.store === true) process.stdout.write(`stored ${stored} snapshot${stored === 1 ? '' : 's'} and their topology (see: hoptrace topology${flags.data === undefined ? '' : dataFlag(flags.data)})\n`);
  }
  if (result.snapshots.length === 0) process.exitCode = 2;
}

/** Builds each host's topology, checks them together, and stores snapshot + topology rows. */
async function storeAll(snapshots: readonly RawSnapshot[], flags: ImportFlags, globals: GlobalFlags): Promise<number> {
  const config = resolveWithDataDir(globals, {}, flags.data);
  // chDB locks the directory for one process: a running service would make chDB fail on the lock
  const service = config.store.kind === 'chdb' ? runningService(config.store.path) : undefined;
  if (service !== undefined && config.store.kind === 'chdb') {
    const to = service.http === null ? 'its HTTP API (it runs with --no-http: restart it with --http)' : `http://${service.http}/v1/snapshots`;
    throw new StoreError('unavailable', `a running hoptrace serve (pid ${service.pid}) holds ${config.store.path}: send the snapshots to it instead (hoptrace agent --collector http://${service.http ?? 'HOST:PORT'} on each host, or POST each snapshot to ${to}), or stop it and import again`);
  }
  const store = await openStore(config);
  try {
    await store.migrate();
    const { topologies } = buildTopologies(snapshots);
    const findings = checkTopology(topologies);
    for (const [i, snapshot] of snapshots.entries()) await storeSnapshot(store, snapshot, topologies[i] as HostTopology, findings);
    return snapshots.length;
  } finally {
    await store.close();
  }
}

function printTable(summary: readonly ImportSummary[], problems: readonly ImportProblem[], written: readonly string[], verbose: boolean): void {
  const rows = summary.map((s) => [s.host, s.source, s.takenAt, String(s.outputs), String(s.bridges.length), String(s.namespaces.length), String(s.missing.length), s.path]);
  const header = ['HOST', 'SOURCE', 'TAKEN AT', 'OUTPUTS', 'BRIDGES', 'NETNS', 'MISSING', 'FROM'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ');
  const out: string[] = [];
  if (rows.length > 0) out.push(line(header), ...rows.map(line));
  for (const s of summary) {
    if (!verbose) continue;
    out.push('', `${s.host} (${s.path}):`, `  bridges: ${s.bridges.join(' ') || '-'}`, `  namespaces: ${s.namespaces.join(' ') || '-'}`);
    out.push(`  missing: ${s.missing.join(' ') || '-'}`);
    for (const note of s.notes) out.push(`  note: ${note}`);
  }
  if (written.length > 0) out.push('', `wrote ${written.length} snapshot${written.length === 1 ? '' : 's'}`);
  if (problems.length > 0) {
    out.push('', `${problems.length} problem${problems.length === 1 ? '' : 's'}:`);
    for (const p of problems) out.push(`  ${p.path}: ${p.message}`);
  }
  if (summary.length === 0) out.push('nothing imported');
  process.stdout.write(`${out.join('\n')}\n`);
}
