// hoptrace import: RawSnapshots from what an operator has at hand after the fact:
//   - extracted sosreports (one per host), or a directory holding several (extracted or not);
//   - agent snapshot trees (`hoptrace agent --out DIR`, docs/snapshots.md);
//   - tarballs of either (.tar, .tar.gz/.tgz, .tar.xz/.txz, .tar.bz2, .tar.zst), unpacked with the
//     system tar into a temporary directory under the checks of tar.ts, removed afterwards.
// One input that fails is reported (path and why) and the others are still imported.
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { HoptraceError } from '../errors.js';
import { COMMANDS } from '../hoststate/commands.js';
import type { RawSnapshot } from '../hoststate/snapshot.js';
import { findSnapshotDirs, readSnapshotDir, MANIFEST_FILE } from './dir.js';
import { isSosReport, readSosReport } from './sos.js';
import { extractTarball, isTarball, type ExtractOptions } from './tar.js';

export interface ImportOptions {
  /** Where tarballs are unpacked (default: the system temp dir). */
  tempDir?: string;
  tar?: ExtractOptions;
  /** Told each time an input starts (the CLI's progress line). */
  onProgress?: (event: { path: string; index: number; total: number }) => void;
}

export interface ImportSummary {
  host: string;
  source: 'sosreport' | 'directory';
  /** The input this snapshot came from (a tarball, a directory). */
  path: string;
  takenAt: string;
  outputs: number;
  bridges: string[];
  namespaces: string[];
  /** Catalog ids found, and those not found (`id[object]` for per-bridge and per-namespace ones). */
  found: string[];
  missing: string[];
  notes: string[];
}

export interface ImportProblem {
  path: string;
  message: string;
}

export interface ImportResult {
  snapshots: RawSnapshot[];
  summary: ImportSummary[];
  problems: ImportProblem[];
}

export async function importSnapshots(paths: readonly string[], options: ImportOptions = {}): Promise<ImportResult> {
  const result: ImportResult = { snapshots: [], summary: [], problems: [] };
  for (const [index, path] of paths.entries()) {
    options.onProgress?.({ path, index, total: paths.length });
    await importPath(path, options, result, 0);
  }
  return result;
}

/** How deep a directory of reports is searched: DIR/sosreport-x/ or DIR/site/host/sosreport-x.tar.xz. */
const MAX_DEPTH = 2;

async function importPath(path: string, options: ImportOptions, result: ImportResult, depth: number, label = path): Promise<void> {
  let info;
  try {
    info = await stat(path);
  } catch (error) {
    result.problems.push({ path: label, message: `cannot read: ${errnoText(error)}` });
    return;
  }
  try {
    if (info.isFile()) {
      if (!isTarball(path)) {
        if (depth === 0) result.problems.push({ path: label, message: 'not a directory nor a tarball (.tar, .tar.gz, .tgz, .tar.xz, .txz, .tar.bz2, .tar.zst)' });
        return;
      }
      await importTarball(path, options, result, depth, label);
      return;
    }
    if (!info.isDirectory()) {
      result.problems.push({ path: label, message: 'not a regular file or directory' });
      return;
    }
    if (await isSosReport(path)) {
      await importSos(path, result, label, basename(label));
      return;
    }
    const snapshotDirs = await findSnapshotDirs(path);
    if (snapshotDirs.length > 0) {
      await importAgentDirs(snapshotDirs, result, label, path);
      return;
    }
    if (depth >= MAX_DEPTH) return;
    const before = result.summary.length + result.problems.length;
    for (const entry of (await readdir(path, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
      if (entry.name.startsWith('.')) continue;
      if (!entry.isDirectory() && !(entry.isFile() && isTarball(entry.name))) continue;
      await importPath(join(path, entry.name), options, result, depth + 1, join(label, entry.name));
    }
    if (depth === 0 && result.summary.length + result.problems.length === before) {
      result.problems.push({ path: label, message: `no sosreport (sos_commands/) nor agent snapshot (${MANIFEST_FILE}) found in it` });
    }
  } catch (error) {
    if (!(error instanceof HoptraceError)) throw error;
    result.problems.push({ path: label, message: error.message });
  }
}

async function importTarball(file: string, options: ImportOptions, result: ImportResult, depth: number, label: string): Promise<void> {
  const into = await mkdtemp(join(options.tempDir ?? tmpdir(), 'hoptrace-import-'));
  try {
    const { removedLinks } = await extractTarball(file, into, options.tar);
    for (const link of removedLinks.slice(0, 10)) result.problems.push({ path: label, message: `symlink ${link} points outside the archive: removed` });
    if (removedLinks.length > 10) result.problems.push({ path: label, message: `${removedLinks.length - 10} more symlinks pointing outside the archive removed` });
    const name = basename(file);
    // A sosreport tarball holds one directory, sosreport-HOST-...; an agent tarball, DIR/<host>/<stamp>/.
    if (await isSosReport(into)) {
      await importSos(into, result, label, name);
      return;
    }
    const top = (await readdir(into, { withFileTypes: true })).filter((e) => e.isDirectory());
    if (top.length === 1 && top[0] !== undefined && await isSosReport(join(into, top[0].name))) {
      await importSos(join(into, top[0].name), result, label, top[0].name);
      return;
    }
    const before = result.summary.length;
    const snapshotDirs = await findSnapshotDirs(into);
    const deeper = snapshotDirs.length === 0 ? await findSnapshotDirs(join(into, top[0]?.name ?? '.')) : [];
    if (snapshotDirs.length + deeper.length > 0) {
      await importAgentDirs([...snapshotDirs, ...deeper], result, label, into);
      return;
    }
    for (const entry of top) {
      if (await isSosReport(join(into, entry.name))) await importSos(join(into, entry.name), result, `${label}:${entry.name}`, entry.name);
    }
    if (result.summary.length === before && depth >= 0) result.problems.push({ path: label, message: 'the archive holds no sosreport (sos_commands/) nor agent snapshot' });
  } finally {
    await rm(into, { recursive: true, force: true });
  }
}

async function importSos(root: string, result: ImportResult, label: string, name: string): Promise<void> {
  const read = await readSosReport(root, name);
  result.snapshots.push(read.snapshot);
  result.summary.push({
    host: read.snapshot.host,
    source: 'sosreport',
    path: label,
    takenAt: read.snapshot.takenAt,
    outputs: read.snapshot.outputs.length,
    bridges: read.bridges,
    namespaces: read.namespaces,
    found: read.found,
    missing: read.missing,
    notes: read.notes,
  });
}

async function importAgentDirs(dirs: readonly string[], result: ImportResult, label: string, base: string): Promise<void> {
  for (const dir of dirs) {
    const where = dir === base ? label : join(label, dir.slice(base.length + 1));
    try {
      const read = await readSnapshotDir(dir);
      const snapshot: RawSnapshot = { ...read, source: 'directory', trigger: 'import' };
      result.snapshots.push(snapshot);
      const ids = new Set(snapshot.outputs.map((o) => o.id));
      const bridges = [...new Set(snapshot.outputs.map((o) => o.bridge).filter((b) => b !== undefined))].sort();
      const namespaces = [...new Set(snapshot.outputs.map((o) => o.namespace).filter((n) => n !== undefined))].sort();
      const failed = snapshot.outputs.filter((o) => o.exitCode !== 0).map((o) => `${o.id}${o.bridge ?? o.namespace ?? o.device ? `[${o.bridge ?? o.namespace ?? o.device}]` : ''}`);
      result.summary.push({
        host: snapshot.host,
        source: 'directory',
        path: where,
        takenAt: snapshot.takenAt,
        outputs: snapshot.outputs.length,
        bridges,
        namespaces,
        found: [...ids].sort(),
        missing: COMMANDS.filter((c) => c.importOnly !== true && !ids.has(c.id)).map((c) => c.id),
        notes: failed.length > 0 ? [`${failed.length} commands had failed when collected: ${failed.slice(0, 8).join(', ')}${failed.length > 8 ? ', ...' : ''}`] : [],
      });
    } catch (error) {
      if (!(error instanceof HoptraceError)) throw error;
      result.problems.push({ path: where, message: error.message });
    }
  }
}

function errnoText(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as NodeJS.ErrnoException).code;
    return code === 'ENOENT' ? 'no such file or directory' : code ?? error.message;
  }
  return String(error);
}
