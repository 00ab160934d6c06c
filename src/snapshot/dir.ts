// The agent's snapshot directory layout (docs/snapshots.md):
//
//   DIR/<host>/<takenAt as YYYYMMDDTHHMMSSmmmZ>/manifest.json
//   DIR/<host>/<takenAt as YYYYMMDDTHHMMSSmmmZ>/commands/<file per command, named as sos names it>
//
// manifest.json holds the snapshot's metadata and, per output, argv, exit code, error, duration,
// stderr and the name of the file under commands/ holding its stdout. A snapshot is written in a
// temporary directory beside its final place and renamed into it, so a reader never sees half of
// one. Reading checks everything (a directory may come from a tarball someone sent).
import { randomBytes } from 'node:crypto';
import { lstat, mkdir, open, readFile, readdir, realpath, rename, rm, writeFile } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { z } from 'zod';
import { ParseError } from '../errors.js';
import { commandById, sosCommandFileName } from '../hoststate/commands.js';
import type { CommandOutput, RawSnapshot } from '../hoststate/snapshot.js';
import { CommandOutputSchema, describeIssues, RawSnapshotSchema, SNAPSHOT_LIMITS, validateSnapshot } from './codec.js';

export const MANIFEST_FILE = 'manifest.json';
export const COMMANDS_DIR = 'commands';
export const MANIFEST_FORMAT = 'hoptrace.snapshot-dir.v1';
/** Temporary directories start with this; readers skip them. */
const TEMP_PREFIX = '.tmp-';
/** A command file's name: what sos would name it, plus `.N` on a clash; never a path. */
const FILE_NAME = /^(?!\.{1,2}$)[^/\0]{1,255}$/;
/** YYYYMMDDTHHMMSSmmmZ */
const STAMP = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})(\d{3})Z$/;

const ManifestOutput = CommandOutputSchema.omit({ stdout: true }).extend({
  file: z.string().regex(FILE_NAME, 'file: a plain file name under commands/'),
  bytes: z.number().int().min(0),
});

const Manifest = z.strictObject({
  format: z.literal(MANIFEST_FORMAT),
  snapshot: RawSnapshotSchema.omit({ outputs: true }),
  outputs: z.array(ManifestOutput).max(SNAPSHOT_LIMITS.maxOutputs),
});
type Manifest = z.infer<typeof Manifest>;

/** `2026-11-25T08:30:00.123Z` → `20261125T083000123Z`. */
export function stampOf(takenAt: string): string {
  const date = new Date(takenAt);
  if (Number.isNaN(date.getTime())) throw new ParseError('bad-format', `takenAt ${JSON.stringify(takenAt)} is not a time`, { source: 'snapshot' });
  return date.toISOString().replace(/[-:.]/g, '');
}

/** `20261125T083000123Z` → `2026-11-25T08:30:00.123Z`, or undefined when the name is not a stamp. */
export function takenAtOf(stamp: string): string | undefined {
  const m = STAMP.exec(stamp);
  if (m === null) return undefined;
  const iso = `${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}.${m[7]}Z`;
  return Number.isNaN(new Date(iso).getTime()) ? undefined : iso;
}

/** The file name of an output's stdout: the sos name of the catalog command (not the agent's wrapper). */
export function commandFileName(output: CommandOutput): string {
  const spec = commandById(output.id);
  const argv = spec !== undefined
    ? spec.argv({ bridge: output.bridge ?? '', namespace: output.namespace ?? '', device: output.device ?? '' })
    : output.argv;
  const name = sosCommandFileName(argv.join(' ')) || output.id;
  return name;
}

export interface WriteResult {
  /** DIR/<host>/<stamp> */
  path: string;
  /** True when that snapshot was there already (same host and time): left as it was. */
  existed: boolean;
}

/** Writes a snapshot under `root` in the layout above, atomically (temp dir + rename). */
export async function writeSnapshotDir(root: string, snapshot: RawSnapshot): Promise<WriteResult> {
  const checked = validateSnapshot(snapshot, `snapshot of ${snapshot.host}`);
  const hostDir = join(root, checked.host);
  const path = join(hostDir, stampOf(checked.takenAt));
  if (await exists(path)) return { path, existed: true };
  await mkdir(hostDir, { recursive: true });
  const temp = join(hostDir, `${TEMP_PREFIX}${stampOf(checked.takenAt)}-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    await mkdir(join(temp, COMMANDS_DIR), { recursive: true });
    const used = new Set<string>();
    const outputs: Manifest['outputs'] = [];
    for (const output of checked.outputs) {
      const file = uniqueName(commandFileName(output), used);
      await writeFile(join(temp, COMMANDS_DIR, file), output.stdout);
      const { stdout, ...rest } = output;
      outputs.push({ ...rest, file, bytes: Buffer.byteLength(stdout) });
    }
    const { outputs: _outputs, ...meta } = checked;
    const manifest: Manifest = { format: MANIFEST_FORMAT, snapshot: meta, outputs };
    await writeFile(join(temp, MANIFEST_FILE), `${JSON.stringify(manifest, null, 1)}\n`);
    try {
      await rename(temp, path);
    } catch (error) {
      // Another writer put the same snapshot there first: theirs stays.
      if (isErrno(error, 'ENOTEMPTY') || isErrno(error, 'EEXIST')) {
        await rm(temp, { recursive: true, force: true });
        return { path, existed: true };
      }
      throw error;
    }
  } catch (error) {
    await rm(temp, { recursive: true, force: true });
    throw error;
  }
  return { path, existed: false };
}

/** sos' collision rule: `name`, then `name.1`, `name.2`... */
function uniqueName(name: string, used: Set<string>): string {
  let candidate = name;
  for (let i = 1; used.has(candidate); i++) candidate = `${name.slice(0, 250)}.${i}`;
  used.add(candidate);
  return candidate;
}

/** Reads one snapshot directory (the one holding manifest.json); ParseError on anything off. */
export async function readSnapshotDir(path: string): Promise<RawSnapshot> {
  const manifestPath = join(path, MANIFEST_FILE);
  let text: string;
  try {
    text = await readFile(manifestPath, 'utf8');
  } catch (error) {
    throw new ParseError('bad-format', `cannot read: ${errnoText(error)}`, { source: manifestPath });
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    if (!(error instanceof SyntaxError)) throw error;
    throw new ParseError('bad-format', `not JSON: ${error.message}`, { source: manifestPath });
  }
  const parsed = Manifest.safeParse(value);
  if (!parsed.success) throw new ParseError('bad-format', describeIssues(parsed.error), { source: manifestPath });
  const manifest = parsed.data;
  const commandsDir = join(path, COMMANDS_DIR);
  const realCommands = await realpath(commandsDir).catch((error: unknown) => {
    throw new ParseError('bad-format', `no ${COMMANDS_DIR}/ directory: ${errnoText(error)}`, { source: path });
  });
  const outputs: unknown[] = [];
  let total = 0;
  for (const [i, entry] of manifest.outputs.entries()) {
    const file = join(commandsDir, entry.file);
    const source = `${manifestPath} outputs[${i}].file`;
    const info = await lstat(file).catch((error: unknown) => {
      throw new ParseError('bad-format', `${entry.file}: ${errnoText(error)}`, { source });
    });
    // A snapshot directory holds plain files only; a link could point anywhere on this machine.
    if (!info.isFile()) throw new ParseError('bad-format', `${entry.file} is not a regular file`, { source });
    const real = await realpath(file);
    if (relative(realCommands, real).split(sep)[0] === '..') throw new ParseError('bad-format', `${entry.file} lies outside ${COMMANDS_DIR}/`, { source });
    total += info.size;
    if (total > SNAPSHOT_LIMITS.maxBytes * 4) throw new ParseError('bad-format', `command outputs over ${SNAPSHOT_LIMITS.maxBytes * 4} bytes`, { source });
    const { file: _file, bytes: _bytes, ...rest } = entry;
    outputs.push({ ...rest, stdout: await readFile(file, 'utf8') });
  }
  return validateSnapshot({ ...manifest.snapshot, outputs }, manifestPath);
}

/**
 * Snapshot directories under `root`: root itself when it holds our manifest.json, else
 * <root>/<host>/<stamp>/ and <root>/<stamp>/, oldest first per host. Temporary directories and
 * other programs' manifest.json (sos has sos_reports/manifest.json) are skipped.
 */
export async function findSnapshotDirs(root: string): Promise<string[]> {
  if (await isSnapshotDir(root)) return [root];
  const found: string[] = [];
  for (const level1 of await subdirectories(root)) {
    const dir1 = join(root, level1);
    if (await isSnapshotDir(dir1)) { found.push(dir1); continue; }
    for (const level2 of await subdirectories(dir1)) {
      const dir2 = join(dir1, level2);
      if (await isSnapshotDir(dir2)) found.push(dir2);
    }
  }
  return found;
}

/** The head of an agent manifest names its format; that is enough to tell it from other manifest.json files. */
const MANIFEST_HEAD_BYTES = 4096;

/** True when `dir` holds a manifest.json whose head names our format (the full check is readSnapshotDir's). */
export async function isSnapshotDir(dir: string): Promise<boolean> {
  let handle;
  try {
    handle = await open(join(dir, MANIFEST_FILE), 'r');
  } catch (error) {
    if (isErrno(error, 'ENOENT') || isErrno(error, 'ENOTDIR') || isErrno(error, 'EISDIR')) return false;
    throw error;
  }
  try {
    const buffer = Buffer.alloc(MANIFEST_HEAD_BYTES);
    const { bytesRead } = await handle.read(buffer, 0, MANIFEST_HEAD_BYTES, 0);
    return buffer.subarray(0, bytesRead).toString('utf8').includes(`"${MANIFEST_FORMAT}"`);
  } finally {
    await handle.close();
  }
}

async function subdirectories(dir: string): Promise<string[]> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (error) {
    if (isErrno(error, 'ENOENT') || isErrno(error, 'ENOTDIR')) return [];
    throw error;
  }
  return entries.filter((e) => e.isDirectory() && !e.name.startsWith(TEMP_PREFIX)).map((e) => e.name).sort();
}

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch (error) {
    if (isErrno(error, 'ENOENT') || isErrno(error, 'ENOTDIR')) return false;
    throw error;
  }
}

function isErrno(error: unknown, code: string): boolean {
  return error instanceof Error && (error as NodeJS.ErrnoException).code === code;
}

function errnoText(error: unknown): string {
  if (error instanceof Error) return (error as NodeJS.ErrnoException).code ?? error.message;
  return String(error);
}
