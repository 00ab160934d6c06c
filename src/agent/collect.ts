// One host snapshot, live: runs the command catalog (src/hoststate/commands.ts) on this host.
// Host commands first; their output names the bridges (`ovs-vsctl list-br`, else the Bridge
// table), the namespaces (`ip netns list`) and the veth devices (`ip -j link`), for which the
// per-bridge, per-namespace and ethtool commands then run. Every command is an execFile of a fixed
// argument list (never a shell) with a timeout; at most `concurrency` run at once. A command that
// fails, is missing or times out is recorded in the snapshot (exit code, stderr, error), never fatal.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { hostname as osHostname } from 'node:os';
import { join } from 'node:path';
import { COMMANDS, type CommandParams, type CommandSpec } from '../hoststate/commands.js';
import type { CommandOutput, RawSnapshot, SnapshotTrigger } from '../hoststate/snapshot.js';
import { HOST_NAME, SNAPSHOT_LIMITS } from '../snapshot/codec.js';
import { VERSION } from '../version.js';

export const COLLECT_DEFAULTS = {
  timeoutMs: 15_000,
  concurrency: 4,
  /** ethtool -S for at most this many veth devices (a compute node has 3 per VM port). */
  maxEthtoolDevices: 256,
  maxNamespaces: 512,
  maxBridges: 64,
  /** stdout kept per command; a longer one is cut and the cut recorded in `error`. */
  maxStdoutBytes: SNAPSHOT_LIMITS.maxStdoutChars,
  maxStderrBytes: 64 * 1024,
} as const;

export interface CollectOptions {
  /** Host name to record (default: the `hostname` command's answer, else os.hostname()). */
  host?: string;
  /** Run every command inside this network namespace (`ip netns exec NS ...`): a lab host. */
  netns?: string;
  /**
   * OVS run directory (OVS_RUNDIR): ovs-vsctl finds db.sock and ovs-ofctl BR.mgmt there;
   * ovs-appctl gets --target=<rundir>/ovs-vswitchd.ctl when that socket exists.
   */
  ovsRundir?: string;
  /** Only namespaces whose name matches (default: every one `ip netns list` shows). */
  namespaceFilter?: (name: string) => boolean;
  /** Bridges to collect besides those OVSDB lists (e.g. one expected but absent: recorded as failing). */
  extraBridges?: readonly string[];
  /** ethtool -S on veth devices (default true). */
  ethtool?: boolean;
  timeoutMs?: number;
  concurrency?: number;
  maxEthtoolDevices?: number;
  maxNamespaces?: number;
  maxBridges?: number;
  trigger?: SnapshotTrigger;
  /** The catalog to run (default: COMMANDS without the import-only ones). */
  commands?: readonly CommandSpec[];
  /** Called after each command (progress). */
  onOutput?: (output: CommandOutput) => void;
}

/** Runs the catalog and returns the snapshot; only a bug throws. */
export async function collectSnapshot(options: CollectOptions = {}): Promise<RawSnapshot> {
  const takenAt = new Date().toISOString();
  const catalog = (options.commands ?? COMMANDS).filter((c) => c.importOnly !== true);
  const limit = options.concurrency ?? COLLECT_DEFAULTS.concurrency;
  const runner = new Runner(options, Math.max(1, limit));
  const run = (spec: CommandSpec, params: CommandParams): Promise<CommandOutput> => runner.run(spec, params);

  const hostOutputs = await Promise.all(catalog.filter((c) => c.scope === 'host').map((c) => run(c, {})));
  const byId = new Map(hostOutputs.map((o) => [o.id, o]));

  const bridges = unique([...bridgesFrom(byId), ...(options.extraBridges ?? [])]).slice(0, options.maxBridges ?? COLLECT_DEFAULTS.maxBridges);
  const filter = options.namespaceFilter ?? (() => true);
  const namespaces = namespacesFrom(byId.get('ip.netns')).filter(filter).slice(0, options.maxNamespaces ?? COLLECT_DEFAULTS.maxNamespaces);
  const devices = options.ethtool === false ? [] : vethDevicesFrom(byId.get('ip.link')).slice(0, options.maxEthtoolDevices ?? COLLECT_DEFAULTS.maxEthtoolDevices);

  const jobs: Promise<CommandOutput>[] = [];
  for (const spec of catalog) {
    if (spec.scope === 'bridge') for (const bridge of bridges) jobs.push(run(spec, { bridge }));
    if (spec.scope === 'namespace') for (const namespace of namespaces) jobs.push(run(spec, { namespace }));
    if (spec.scope === 'device') for (const device of devices) jobs.push(run(spec, { device }));
  }
  const outputs = [...hostOutputs, ...(await Promise.all(jobs))];
  return {
    format: 'hoptrace.snapshot.v1',
    host: hostName(options.host, byId.get('hostname')),
    takenAt,
    source: 'agent',
    trigger: options.trigger ?? 'interval',
    producer: `hoptrace ${VERSION}`,
    outputs,
  };
}

/** The argv the agent runs for a catalog entry: the `ip netns exec` wrapper and ovs-appctl's target added. */
export function agentArgv(spec: CommandSpec, params: CommandParams, options: Pick<CollectOptions, 'netns' | 'ovsRundir'>): string[] {
  let argv = spec.argv({ bridge: params.bridge ?? '', namespace: params.namespace ?? '', device: params.device ?? '' });
  if (argv[0] === 'ovs-appctl' && options.ovsRundir !== undefined) {
    const control = join(options.ovsRundir, 'ovs-vswitchd.ctl');
    // Without it ovs-appctl finds the daemon through <rundir>/ovs-vswitchd.pid, as on a normal host.
    if (existsSync(control)) argv = ['ovs-appctl', `--target=${control}`, ...argv.slice(1)];
  }
  return options.netns === undefined ? argv : ['ip', 'netns', 'exec', options.netns, ...argv];
}

class Runner {
  readonly #options: CollectOptions;
  readonly #limit: number;
  readonly #env: NodeJS.ProcessEnv;
  #active = 0;
  readonly #waiting: (() => void)[] = [];

  constructor(options: CollectOptions, limit: number) {
    this.#options = options;
    this.#limit = limit;
    // C locale: the parsers read the tools' English output, whatever the host's language.
    this.#env = { ...process.env, LC_ALL: 'C', ...(options.ovsRundir === undefined ? {} : { OVS_RUNDIR: options.ovsRundir }) };
  }

  async run(spec: CommandSpec, params: CommandParams): Promise<CommandOutput> {
    if (this.#active >= this.#limit) await new Promise<void>((resolve) => this.#waiting.push(resolve));
    this.#active++;
    try {
      const output = await this.#exec(spec, params);
      this.#options.onOutput?.(output);
      return output;
    } finally {
      this.#active--;
      this.#waiting.shift()?.();
    }
  }

  #exec(spec: CommandSpec, params: CommandParams): Promise<CommandOutput> {
    const argv = agentArgv(spec, params, this.#options);
    const timeoutMs = this.#options.timeoutMs ?? COLLECT_DEFAULTS.timeoutMs;
    const started = performance.now();
    const [file, ...args] = argv as [string, ...string[]];
    return new Promise((resolve) => {
      execFile(file, args, {
        env: this.#env,
        timeout: timeoutMs,
        killSignal: 'SIGKILL',
        maxBuffer: COLLECT_DEFAULTS.maxStdoutBytes,
        encoding: 'utf8',
        windowsHide: true,
      }, (error, stdout, stderr) => {
        const output: CommandOutput = {
          id: spec.id,
          argv,
          ...params,
          origin: 'agent',
          stdout,
          stderr: cut(stderr, COLLECT_DEFAULTS.maxStderrBytes),
          exitCode: 0,
          durationMs: Math.round((performance.now() - started) * 10) / 10,
        };
        if (error !== null) {
          const failure = describeFailure(error, file, timeoutMs);
          output.exitCode = failure.exitCode;
          if (failure.error !== undefined) output.error = failure.error;
        }
        resolve(output);
      });
    });
  }
}

interface ExecFailure extends Error {
  code?: number | string | null;
  killed?: boolean;
  signal?: NodeJS.Signals | null;
}

function describeFailure(error: ExecFailure, file: string, timeoutMs: number): { exitCode: number | null; error?: string } {
  if (error.code === 'ENOENT') return { exitCode: null, error: `${file}: command not found` };
  if (error.code === 'ERR_CHILD_PROCESS_STDIO_MAXBUFFER') return { exitCode: null, error: `output over ${COLLECT_DEFAULTS.maxStdoutBytes} bytes: cut there` };
  if (error.killed === true && error.signal === 'SIGKILL') return { exitCode: null, error: `timed out after ${timeoutMs} ms` };
  if (typeof error.code === 'number') return { exitCode: error.code };
  if (error.signal !== undefined && error.signal !== null) return { exitCode: null, error: `killed by ${error.signal}` };
  return { exitCode: null, error: `${file}: ${typeof error.code === 'string' ? error.code : error.message}` };
}

function cut(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max)}\n[cut at ${max} characters]` : text;
}

function hostName(override: string | undefined, output: CommandOutput | undefined): string {
  if (override !== undefined) return override;
  const answered = output?.exitCode === 0 ? output.stdout.trim() : '';
  const name = HOST_NAME.test(answered) ? answered : osHostname();
  return HOST_NAME.test(name) ? name : 'localhost';
}

/** Bridge names from `ovs-vsctl list-br`, else from the Bridge table (JSON). */
export function bridgesFrom(byId: ReadonlyMap<string, CommandOutput>): string[] {
  const listBr = byId.get('ovs-vsctl.list-br');
  if (listBr !== undefined && listBr.exitCode === 0) return lines(listBr.stdout);
  const table = byId.get('ovs-vsctl.list.Bridge');
  if (table === undefined || table.exitCode !== 0) return [];
  return namesFromVsctlJson(table.stdout);
}

/** `ovs-vsctl --format=json list TABLE`: {headings:[...], data:[[...]]}; the `name` column. */
export function namesFromVsctlJson(text: string): string[] {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (error) {
    if (error instanceof SyntaxError) return [];
    throw error;
  }
  if (typeof doc !== 'object' || doc === null) return [];
  const { headings, data } = doc as { headings?: unknown; data?: unknown };
  if (!Array.isArray(headings) || !Array.isArray(data)) return [];
  const column = headings.indexOf('name');
  if (column < 0) return [];
  return data.map((row: unknown) => (Array.isArray(row) ? row[column] : undefined)).filter((v): v is string => typeof v === 'string');
}

/** `ip netns list`: "name" or "name (id: 3)" per line. */
export function namespacesFrom(output: CommandOutput | undefined): string[] {
  if (output === undefined || output.exitCode !== 0) return [];
  return unique(lines(output.stdout).map((line) => line.split(/\s+/)[0] ?? '').filter((name) => /^[^/\0]{1,255}$/.test(name) && name !== '.' && name !== '..'));
}

/** veth devices of `ip -j -d link show` (linkinfo.info_kind "veth"). */
export function vethDevicesFrom(output: CommandOutput | undefined): string[] {
  if (output === undefined || output.exitCode !== 0) return [];
  let links: unknown;
  try {
    links = JSON.parse(output.stdout);
  } catch (error) {
    if (error instanceof SyntaxError) return [];
    throw error;
  }
  if (!Array.isArray(links)) return [];
  const out: string[] = [];
  for (const link of links as unknown[]) {
    if (typeof link !== 'object' || link === null) continue;
    const { ifname, linkinfo } = link as { ifname?: unknown; linkinfo?: { info_kind?: unknown } };
    if (typeof ifname === 'string' && linkinfo?.info_kind === 'veth') out.push(ifname);
  }
  return out;
}

function lines(text: string): string[] {
  return text.split('\n').map((l) => l.trim()).filter((l) => l !== '');
}

function unique<T>(items: readonly T[]): T[] {
  return [...new Set(items)];
}
