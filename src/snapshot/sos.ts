// An extracted sosreport (sos 4.x; 4.0's flat namespace files too) as a RawSnapshot: each catalog
// command's output is looked up under its `sos` paths (src/hoststate/commands.ts). Bridges,
// namespaces and devices come from the files present (every per-object path template is matched
// against the tree) and from `ovs-vsctl list-br`, `ovs-vsctl show` and `ip netns`. The exit codes
// and the time come from sos_reports/manifest.json when the report has one (sos >= 4.0), else the
// time from the archive's name (sosreport-HOST[-CASE]-YYYYMMDDHHMMSS or -YYYY-MM-DD-RANDOM) or,
// last, the files' modification times. Files are read through a check that they are regular
// files inside the report (a symlink may point anywhere on the importing machine).
import { lstat, readFile, readdir, realpath, stat } from 'node:fs/promises';
import { basename, join, relative, sep } from 'node:path';
import { ParseError } from '../errors.js';
import { COMMANDS, sosCommandFileName, sosPaths, type CommandParams, type CommandSpec } from '../hoststate/commands.js';
import type { CommandOutput, RawSnapshot } from '../hoststate/snapshot.js';
import { HOST_NAME, SNAPSHOT_LIMITS } from './codec.js';
import { VERSION } from '../version.js';

/** Files looked at under sos_commands/ (a sosreport has ~5 000). */
const MAX_FILES = 200_000;
const MAX_FILE_BYTES = SNAPSHOT_LIMITS.maxStdoutChars;
const OBJECT_NAME = /^(?!\.{1,2}$)[^/\0\n]{1,255}$/;

export interface SosImport {
  snapshot: RawSnapshot;
  bridges: string[];
  namespaces: string[];
  devices: number;
  /** Catalog ids (with the object for per-object ones: `ovs-appctl.fdb.show[br-int]`) found / not found. */
  found: string[];
  missing: string[];
  /** How the host name and the time were found, and files left out. */
  notes: string[];
}

/** True when `dir` is the root of an extracted sosreport. */
export async function isSosReport(dir: string): Promise<boolean> {
  try {
    return (await stat(join(dir, 'sos_commands'))).isDirectory();
  } catch (error) {
    if (isErrno(error, 'ENOENT') || isErrno(error, 'ENOTDIR')) return false;
    throw error;
  }
}

/**
 * Reads the sosreport rooted at `root`. `name` is the archive's or directory's name, for the host
 * and time when the report itself does not say.
 */
export async function readSosReport(root: string, name: string = basename(root)): Promise<SosImport> {
  const notes: string[] = [];
  const reader = await SafeReader.open(root);
  const files = await listFiles(reader.root, 'sos_commands');
  const fileSet = new Set(files);
  const manifest = await readManifest(reader, notes);

  const read = async (path: string): Promise<string | undefined> => (fileSet.has(path) || !path.startsWith('sos_commands/') ? reader.read(path) : undefined);

  // Objects named by the files present, per scope.
  const objects = { bridge: new Set<string>(), namespace: new Set<string>(), device: new Map<string, CommandParams>() };
  for (const spec of COMMANDS) {
    if (spec.scope === 'host') continue;
    for (const template of spec.sos) {
      const pattern = templatePattern(template);
      for (const file of files) {
        const match = pattern.exec(file);
        if (match?.groups === undefined) continue;
        const params = Object.fromEntries(Object.entries(match.groups).filter(([, v]) => v !== undefined)) as CommandParams;
        if (!Object.values(params).every((v) => OBJECT_NAME.test(v))) continue;
        if (spec.scope === 'device' && params.device !== undefined) objects.device.set(`${params.namespace ?? ''}\0${params.device}`, params);
        if (params.bridge !== undefined && spec.scope === 'bridge') objects.bridge.add(params.bridge);
        if (params.namespace !== undefined && spec.scope === 'namespace') objects.namespace.add(params.namespace);
      }
    }
  }
  for (const dir of files.filter((f) => f.startsWith('sos_commands/networking/namespaces/'))) {
    const ns = dir.split('/')[3];
    if (ns !== undefined && OBJECT_NAME.test(ns)) objects.namespace.add(ns);
  }

  const outputs: CommandOutput[] = [];
  const found: string[] = [];
  const missing: string[] = [];
  const hostOutputs = new Map<string, string>();
  const take = async (spec: CommandSpec, params: CommandParams, paths: string[]): Promise<boolean> => {
    for (const path of paths) {
      const text = await read(path);
      if (text === undefined) continue;
      const ran = manifest.commands.get(basename(path));
      const output: CommandOutput = {
        id: spec.id,
        argv: ran?.argv ?? [],
        ...params,
        origin: path,
        stdout: text,
        stderr: '',
        exitCode: ran?.exitCode ?? 0,
      };
      if (ran?.exitCode === undefined && manifest.commands.size > 0) output.error = 'not in sos_reports/manifest.json: exit status unknown';
      outputs.push(output);
      return true;
    }
    return false;
  };

  for (const spec of COMMANDS.filter((c) => c.scope === 'host')) {
    if (await take(spec, {}, sosPaths(spec))) {
      found.push(spec.id);
      hostOutputs.set(spec.id, outputs[outputs.length - 1]?.stdout ?? '');
    } else missing.push(spec.id);
  }
  for (const bridge of bridgesFromText(hostOutputs)) objects.bridge.add(bridge);
  for (const ns of namespacesFromText(hostOutputs.get('ip.netns'))) objects.namespace.add(ns);

  const bridges = [...objects.bridge].sort();
  const namespaces = [...objects.namespace].sort();
  for (const spec of COMMANDS) {
    if (spec.scope === 'bridge' || spec.scope === 'namespace') {
      const list = spec.scope === 'bridge' ? bridges : namespaces;
      for (const value of list) {
        const params: CommandParams = spec.scope === 'bridge' ? { bridge: value } : { namespace: value };
        const label = `${spec.id}[${value}]`;
        if (await take(spec, params, sosPaths(spec, params))) found.push(label);
        else missing.push(label);
      }
    }
    if (spec.scope === 'device') {
      const devices = [...objects.device.values()].sort((a, b) => `${a.namespace ?? ''}/${a.device ?? ''}`.localeCompare(`${b.namespace ?? ''}/${b.device ?? ''}`));
      let any = false;
      for (const params of devices) {
        // The exact template the file matched: a device of the same name may exist in several namespaces.
        const path = sosPaths(spec, params).find((p) => (params.namespace === undefined) === !p.includes('/namespaces/'));
        if (path !== undefined && await take(spec, params, [path])) any = true;
      }
      (any ? found : missing).push(spec.id);
    }
  }

  const host = hostOf(hostOutputs.get('hostname'), name, notes);
  const takenAt = manifest.takenAt ?? timeFromName(name, notes) ?? await timeFromFiles(reader, files, notes);
  return {
    snapshot: { format: 'hoptrace.snapshot.v1', host, takenAt, source: 'sosreport', trigger: 'import', producer: `hoptrace ${VERSION}`, outputs },
    bridges,
    namespaces,
    devices: objects.device.size,
    found,
    missing,
    notes: [...notes, ...reader.notes],
  };
}

/** A sos path template as a regular expression with named groups for its parameters. */
export function templatePattern(template: string): RegExp {
  const seen = new Set<string>();
  const source = template.split(/(\{bridge\}|\{namespace\}|\{device\})/).map((part) => {
    const key = /^\{(bridge|namespace|device)\}$/.exec(part)?.[1];
    if (key === undefined) return part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    if (seen.has(key)) return `\\k<${key}>`;
    seen.add(key);
    return key === 'namespace' ? `(?<${key}>[^/]+?)` : `(?<${key}>[^/]+)`;
  }).join('');
  return new RegExp(`^${source}$`);
}

/** Bridge names from `ovs-vsctl list-br` and `ovs-vsctl show` ("    Bridge br-int", quoted when odd). */
export function bridgesFromText(outputs: ReadonlyMap<string, string>): string[] {
  const out = new Set<string>();
  for (const line of (outputs.get('ovs-vsctl.list-br') ?? '').split('\n')) {
    const name = line.trim();
    if (OBJECT_NAME.test(name)) out.add(name);
  }
  for (const match of (outputs.get('ovs-vsctl.show') ?? '').matchAll(/^\s+Bridge\s+("(?:[^"\\]|\\.)*"|\S+)\s*$/gm)) {
    const raw = match[1] ?? '';
    const name = raw.startsWith('"') ? raw.slice(1, -1).replace(/\\(.)/g, '$1') : raw;
    if (OBJECT_NAME.test(name)) out.add(name);
  }
  return [...out];
}

/** `ip netns` lines: "qrouter-… (id: 1)". sos 4.0 wrote "Object "netns" is unknown" on old kernels. */
export function namespacesFromText(text: string | undefined): string[] {
  const out: string[] = [];
  for (const line of (text ?? '').split('\n')) {
    if (line.trim() === '' || /^\s/.test(line) || line.startsWith('Object "netns"')) continue;
    const name = line.split(/\s+/)[0] ?? '';
    if (OBJECT_NAME.test(name)) out.push(name);
  }
  return out;
}

function hostOf(hostname: string | undefined, name: string, notes: string[]): string {
  const answered = (hostname ?? '').split('\n')[0]?.trim() ?? '';
  if (HOST_NAME.test(answered)) return answered;
  const fromName = /^sosreport-(.+?)(?:-\d{14}|-\d{4}-\d{2}-\d{2}-[a-z]+)?(?:\.tar.*)?$/.exec(name)?.[1];
  const candidate = answered !== '' ? answered : fromName ?? '';
  const cleaned = candidate.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^[.-]+|[.-]+$/g, '').slice(0, 253);
  if (cleaned !== '' && HOST_NAME.test(cleaned)) {
    notes.push(answered !== '' ? `host name ${JSON.stringify(answered)} cleaned to ${cleaned}` : `no hostname file: host name ${cleaned} from ${name}`);
    return cleaned;
  }
  notes.push('no host name in the report or its name: recorded as unknown-host');
  return 'unknown-host';
}

interface Manifest {
  takenAt?: string;
  /** sos file name (basename) -> the command sos ran and its exit status. */
  commands: Map<string, { argv: string[]; exitCode: number }>;
}

/** sos_reports/manifest.json: per plugin `commands[]` {exec, return_code, start_time (epoch s)}. */
async function readManifest(reader: SafeReader, notes: string[]): Promise<Manifest> {
  const commands = new Map<string, { argv: string[]; exitCode: number }>();
  const text = await reader.read('sos_reports/manifest.json');
  if (text === undefined) return { commands };
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (error) {
    if (!(error instanceof SyntaxError)) throw error;
    notes.push(`sos_reports/manifest.json is not JSON (${error.message}): exit codes and time taken from elsewhere`);
    return { commands };
  }
  let earliest = Infinity;
  const plugins = field(field(field(doc, 'components'), 'report'), 'plugins');
  if (typeof plugins === 'object' && plugins !== null) {
    for (const plugin of Object.values(plugins)) {
      const list = field(plugin, 'commands');
      if (!Array.isArray(list)) continue;
      for (const entry of list as unknown[]) {
        const exec = field(entry, 'exec');
        const code = field(entry, 'return_code');
        const start = field(entry, 'start_time');
        if (typeof exec !== 'string' || typeof code !== 'number') continue;
        commands.set(sosCommandFileName(exec), { argv: exec.split(/\s+/).filter((a) => a !== '').slice(0, SNAPSHOT_LIMITS.maxArgs), exitCode: Math.max(-255, Math.min(255, Math.trunc(code))) });
        if (typeof start === 'number' && Number.isFinite(start) && start > 0) earliest = Math.min(earliest, start);
      }
    }
  }
  if (Number.isFinite(earliest)) return { takenAt: new Date(Math.round(earliest * 1000)).toISOString(), commands };
  // "2026-11-25 08:30:00.123456": sos wrote datetime.now(), the host's local time without a zone.
  const start = field(doc, 'start_time');
  if (typeof start === 'string') {
    const m = /^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}:\d{2})(\.\d{1,6})?$/.exec(start.trim());
    if (m !== null) {
      notes.push('time from the manifest start_time, local time of the host read as UTC');
      return { takenAt: new Date(`${m[1]}T${m[2]}${(m[3] ?? '.000').slice(0, 4)}Z`).toISOString(), commands };
    }
  }
  return { commands };
}

function field(value: unknown, key: string): unknown {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>)[key] : undefined;
}

/** sosreport-HOST[-CASE]-YYYYMMDDHHMMSS (legacy) or sosreport-HOST[-LABEL][-CASE]-YYYY-MM-DD-RANDOM (friendly). */
export function timeFromName(name: string, notes: string[] = []): string | undefined {
  const legacy = /-(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(?:\.tar.*)?$/.exec(name);
  const friendly = /-(\d{4})-(\d{2})-(\d{2})-[a-z]+(?:\.tar.*)?$/.exec(name);
  const iso = legacy !== null ? `${legacy[1]}-${legacy[2]}-${legacy[3]}T${legacy[4]}:${legacy[5]}:${legacy[6]}.000Z`
    : friendly !== null ? `${friendly[1]}-${friendly[2]}-${friendly[3]}T00:00:00.000Z` : undefined;
  if (iso === undefined || Number.isNaN(new Date(iso).getTime())) return undefined;
  notes.push(`time from the name ${name}${friendly !== null && legacy === null ? ' (day only)' : ''}, local time of the host read as UTC`);
  return iso;
}

async function timeFromFiles(reader: SafeReader, files: string[], notes: string[]): Promise<string> {
  let newest = 0;
  for (const file of files.slice(0, 5000)) {
    const info = await lstat(join(reader.root, file));
    if (info.isFile()) newest = Math.max(newest, info.mtimeMs);
  }
  notes.push('time from the files\' modification times');
  return new Date(newest > 0 ? newest : Date.now()).toISOString();
}

/** Relative paths of regular files and symlinks under root/sub (sorted), '/'-separated. */
async function listFiles(root: string, sub: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    let entries;
    try {
      entries = await readdir(join(root, dir), { withFileTypes: true });
    } catch (error) {
      if (isErrno(error, 'ENOENT') || isErrno(error, 'ENOTDIR')) return;
      throw error;
    }
    for (const entry of entries) {
      if (out.length >= MAX_FILES) return;
      const path = `${dir}/${entry.name}`;
      if (entry.isDirectory()) await walk(path);
      else if (entry.isFile() || entry.isSymbolicLink()) out.push(path);
    }
  };
  await walk(sub);
  return out.sort();
}

/** Reads files inside a root only: regular files (symlinks followed only when they land inside), size-capped. */
class SafeReader {
  readonly root: string;
  readonly notes: string[] = [];
  private constructor(root: string) {
    this.root = root;
  }

  static async open(root: string): Promise<SafeReader> {
    try {
      return new SafeReader(await realpath(root));
    } catch (error) {
      throw new ParseError('bad-format', `cannot open: ${isErrno(error, 'ENOENT') ? 'no such directory' : String(error)}`, { source: root });
    }
  }

  async read(path: string): Promise<string | undefined> {
    let real: string;
    try {
      real = await realpath(join(this.root, path));
    } catch (error) {
      if (isErrno(error, 'ENOENT') || isErrno(error, 'ENOTDIR') || isErrno(error, 'ELOOP')) return undefined;
      throw error;
    }
    const inside = relative(this.root, real);
    if (inside.startsWith(`..${sep}`) || inside === '..') {
      this.notes.push(`${path} left out: it links outside the report`);
      return undefined;
    }
    const info = await stat(real);
    if (!info.isFile()) return undefined;
    if (info.size > MAX_FILE_BYTES) {
      this.notes.push(`${path} left out: ${info.size} bytes, over ${MAX_FILE_BYTES}`);
      return undefined;
    }
    return readFile(real, 'utf8');
  }
}

function isErrno(error: unknown, code: string): boolean {
  return error instanceof Error && (error as NodeJS.ErrnoException).code === code;
}
