// A sosreport-shaped tree (sos 4.x layout) for one lab host, made by running, inside the host's
// namespace and with its OVS environment, the command lines sos itself runs for the catalog of
// src/hoststate/commands.ts: text forms, not the agent's JSON argv. Each output goes to the file
// name sos would give it (sosCommandFileName), in the directory of the catalog's first sos path.
//
// sos_reports/manifest.json is written the way sos 4.x writes it, cut to what an importer reads: per
// plugin (the sos_commands/ directory) the commands run, each with exec, filepath, return_code and
// start/end times (epoch seconds), plus the report's own start and end. The importer takes the
// snapshot's time from it, so a tree keeps its time through git (file times do not).
//
// What a namespace cannot fake: `hostname` is the host label (the namespaces share the machine's
// UTS name), and `ip netns` is filtered to the host's own namespaces (network namespaces are
// machine-wide; the lab's qdhcp-/qrouter- namespaces belong to network1).
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { COMMANDS, sosCommandFileName, sosPaths, type CommandSpec } from '../../src/hoststate/commands.js';
import { exec } from '../support/netns.js';
import { findCommand, OvsHost } from '../support/ovs-lab.js';
import { collectSnapshot } from '../../src/agent/collect.js';
import type { RawSnapshot } from '../../src/hoststate/snapshot.js';
import type { HostLabel, NeutronLab, NeutronLabLayout } from './neutron-lab.js';

/** The command line sos runs for a catalog entry (text output), given the entry's parameters; undefined when sos has none. */
export function sosArgv(id: string, p: { bridge?: string; namespace?: string; device?: string }): string[] | undefined {
  const ns = (argv: string[]): string[] => ['ip', 'netns', 'exec', p.namespace ?? '', ...argv];
  switch (id) {
    case 'hostname': return ['hostname'];
    case 'ovs-vsctl.list-br': return ['ovs-vsctl', '-t', '5', 'list-br'];
    case 'ovs-vsctl.show': return ['ovs-vsctl', '-t', '5', 'show'];
    case 'ovs-vsctl.list.Open_vSwitch': return ['ovs-vsctl', '-t', '5', 'list', 'Open_vSwitch'];
    case 'ovs-vsctl.list.Bridge': return ['ovs-vsctl', '-t', '5', 'list', 'bridge'];
    case 'ovs-vsctl.list.Port': return ['ovs-vsctl', '-t', '5', 'list', 'port'];
    case 'ovs-vsctl.list.Interface': return ['ovs-vsctl', '-t', '5', 'list', 'interface'];
    case 'ovs-vsctl.list.sFlow': return ['ovs-vsctl', '-t', '5', 'list', 'sflow'];
    case 'ovsdb-client.dump': return ['ovsdb-client', '-f', 'list', 'dump'];
    case 'ovs-appctl.dpif.show': return ['ovs-appctl', 'dpif/show'];
    case 'ip.address': return ['ip', '-d', 'address'];
    case 'ip.o.addr': return ['ip', '-o', 'addr'];
    case 'ip.link': return ['ip', '-s', '-d', 'link'];
    case 'ip.route': return ['ip', 'route', 'show', 'table', 'all'];
    case 'ip.neigh': return ['ip', '-s', '-s', 'neigh', 'show'];
    case 'ip.netns': return ['ip', 'netns'];
    case 'bridge.link': return ['bridge', '-s', '-s', '-d', 'link', 'show'];
    case 'bridge.fdb': return ['bridge', '-s', '-s', '-d', '-t', 'fdb', 'show'];
    case 'brctl.show': return ['brctl', 'show'];
    case 'iptables-save': return ['iptables-save', '-c'];
    case 'iptables.list': return ['iptables', '-vnxL'];
    case 'iptables.nat': return ['iptables', '-t', 'nat', '-nvL'];
    case 'nft.ruleset': return ['nft', '-a', 'list', 'ruleset'];
    case 'ovs-ofctl.show': return ['ovs-ofctl', 'show', p.bridge ?? ''];
    case 'ovs-ofctl.dump-ports-desc': return ['ovs-ofctl', 'dump-ports-desc', p.bridge ?? ''];
    case 'ovs-ofctl.dump-flows': return ['ovs-ofctl', 'dump-flows', p.bridge ?? ''];
    case 'ovs-appctl.fdb.show': return ['ovs-appctl', 'fdb/show', p.bridge ?? ''];
    case 'netns.ip.address': return ns(['ip', '-d', 'address', 'show']);
    case 'netns.ip.route': return ns(['ip', 'route', 'show', 'table', 'all']);
    case 'netns.ip.neigh': return ns(['ip', '-s', '-s', 'neigh', 'show']);
    case 'netns.iptables-save': return ns(['iptables-save', '-c']);
    case 'ethtool.S': return ['ethtool', '-S', p.device ?? ''];
    default: return undefined;
  }
}

export interface SosTreeEntry {
  id: string;
  /** Path relative to the tree root. */
  path: string;
  command: string;
  exitCode: number;
  /** When the command started and ended (ms since the epoch). */
  startMs: number;
  endMs: number;
}

export interface SosTreeResult {
  root: string;
  written: SosTreeEntry[];
  /** Catalog entries not written, and why (no sos command, tool not installed). */
  skipped: { id: string; reason: string }[];
}

/** What sosTree needs of a lab: the host's OVS tools and the namespaces the host owns. */
export interface SosHostSource {
  ovs: OvsHost;
  label: HostLabel | string;
  /** Machine-wide names of the namespaces that belong to this host (qdhcp-, qrouter-). */
  namespaces: readonly string[];
}

/** The SosHostSource of a lab host. */
export function sosSource(lab: NeutronLabLayout & { ovs(label: HostLabel): OvsHost }, label: HostLabel): SosHostSource {
  return { ovs: lab.ovs(label), label, namespaces: label === 'network1' ? [lab.dhcp.namespace, lab.router.namespace] : [] };
}

const CONCURRENCY = 4;

/**
 * Writes the sos tree of one host under `dir` (dir is the sosreport root). A bare OvsHost (a host
 * of a plain ovs-lab Lab) owns no namespaces.
 */
export async function sosTree(source: SosHostSource | OvsHost, dir: string): Promise<SosTreeResult> {
  const host: SosHostSource = source instanceof OvsHost ? { ovs: source, label: source.label, namespaces: [] } : source;
  const ovs = host.ovs;
  const result: SosTreeResult = { root: dir, written: [], skipped: [] };
  const bridges = (await ovs.exec(['ovs-vsctl', '-t', '5', 'list-br'], { env: ovs.env })).stdout.split('\n').map((l) => l.trim()).filter((l) => l !== '');
  const devices = (await ovs.exec(['ip', '-o', 'link', 'show'])).stdout
    .split('\n')
    .map((line) => /^\d+: ([^:@\s]+)/.exec(line)?.[1])
    .filter((d): d is string => d !== undefined);
  const jobs: { spec: CommandSpec; params: { bridge?: string; namespace?: string; device?: string } }[] = [];
  for (const spec of COMMANDS) {
    const scope = spec.scope;
    if (scope === 'host') jobs.push({ spec, params: {} });
    else if (scope === 'bridge') for (const bridge of bridges) jobs.push({ spec, params: { bridge } });
    else if (scope === 'namespace') for (const namespace of host.namespaces) jobs.push({ spec, params: { namespace } });
    else if (scope === 'device') for (const device of devices) jobs.push({ spec, params: { device } });
  }
  // sos runs dpctl/show per datapath.
  const dps = (await ovs.exec(['ovs-appctl', 'dpctl/dump-dps'], { env: ovs.env, okCodes: [0, 1, 2] })).stdout.split('\n').map((l) => l.trim()).filter((l) => l !== '');
  const extra = dps.map((dp) => ({ id: 'ovs-appctl.dpctl.show', argv: ['ovs-appctl', 'dpctl/show', '-s', dp], dir: 'sos_commands/openvswitch' }));

  const tasks: (() => Promise<void>)[] = [];
  for (const { spec, params } of jobs) {
    const first = sosPaths(spec, params)[0];
    const argv = sosArgv(spec.id, params);
    if (first === undefined || argv === undefined) {
      if (spec.id !== 'ovs-appctl.dpctl.show') result.skipped.push({ id: spec.id, reason: first === undefined ? 'no sos path' : 'sos runs no such command' });
      continue;
    }
    const tool = argv[0] === 'ip' && argv[1] === 'netns' && argv[2] === 'exec' ? argv[4] : argv[0];
    if (tool !== undefined && findCommand(tool) === undefined) {
      result.skipped.push({ id: spec.id, reason: `${tool} not installed` });
      continue;
    }
    // The file sos would write for this command line, in the directory of the catalog's first path.
    const path = spec.id === 'hostname' ? first : join(dirname(first), sosCommandFileName(argv.join(' ')));
    tasks.push(() => runInto(host, spec.id, argv, path, dir, result));
  }
  for (const e of extra) tasks.push(() => runInto(host, e.id, e.argv, join(e.dir, sosCommandFileName(e.argv.join(' '))), dir, result));
  const startMs = Date.now();
  await pool(tasks, CONCURRENCY);
  result.written.sort((a, b) => a.path.localeCompare(b.path));
  const manifest = sosManifest(result.written, startMs, Date.now());
  mkdirSync(join(dir, 'sos_reports'), { recursive: true });
  writeFileSync(join(dir, 'sos_reports', 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  return result;
}

/** The version sos 4.x writes in its manifest; this tree is written by the lab, the field says so. */
const SOS_VERSION = '4.x (hoptrace test/lab/sos-tree.ts)';

/**
 * sos 4.x's manifest.json, cut to the fields sos writes that an importer reads: the report's
 * start/end (datetime text, as sos writes them) and per plugin its commands (manifest_cmd of
 * sos/report/plugins/__init__.py: command, parameters, exec, filepath, truncated, return_code,
 * priority, start_time, end_time, run_time, tags; times in epoch seconds).
 */
export function sosManifest(written: readonly SosTreeEntry[], startMs: number, endMs: number): Record<string, unknown> {
  const plugins: Record<string, { name: string; commands: Record<string, unknown>[]; files: never[] }> = {};
  for (const w of [...written].sort((a, b) => a.startMs - b.startMs || a.path.localeCompare(b.path))) {
    // hostname is the host plugin's (sos writes sos_commands/host/hostname and links it at the root)
    const plugin = w.path.startsWith('sos_commands/') ? (w.path.split('/')[1] ?? 'unknown') : 'host';
    const entry = (plugins[plugin] ??= { name: plugin, commands: [], files: [] });
    const words = w.command.split(' ');
    entry.commands.push({
      command: words[0] ?? '',
      parameters: words.slice(1),
      exec: w.command,
      filepath: w.path,
      truncated: false,
      return_code: w.exitCode,
      priority: 10,
      start_time: w.startMs / 1000,
      end_time: w.endMs / 1000,
      run_time: (w.endMs - w.startMs) / 1000,
      tags: [],
    });
  }
  const text = (ms: number): string => new Date(ms).toISOString().replace('T', ' ').replace('Z', '000');
  return {
    version: SOS_VERSION,
    cmdline: 'sos report --batch -o host,networking,openvswitch,firewall_tables',
    start_time: text(startMs),
    end_time: text(endMs),
    run_time: (endMs - startMs) / 1000,
    compression: 'none',
    components: { report: { preset: 'none', plugins } },
  };
}

async function runInto(host: SosHostSource, id: string, argv: string[], path: string, root: string, result: SosTreeResult): Promise<void> {
  let text: string;
  let exitCode = 0;
  const startMs = Date.now();
  if (id === 'hostname') {
    text = `${host.label}\n`;
  } else {
    const out = await host.ovs.exec(argv, { env: host.ovs.env, okCodes: Array.from({ length: 256 }, (_, i) => i), timeoutMs: 30_000 });
    exitCode = out.code;
    text = out.stdout;
    if (id === 'ip.netns') text = text.split('\n').filter((line) => host.namespaces.includes(line.split(' ')[0] ?? '')).map((l) => `${l}\n`).join('');
  }
  const file = join(root, path);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, text);
  result.written.push({ id, path, command: argv.join(' '), exitCode, startMs, endMs: Date.now() });
}

async function pool(tasks: readonly (() => Promise<void>)[], size: number): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < tasks.length) {
      const task = tasks[next++];
      if (task !== undefined) await task();
    }
  };
  await Promise.all(Array.from({ length: Math.min(size, tasks.length) }, worker));
}

/** What `hoptrace agent` collects on a lab host: its snapshot, with its own namespaces only. */
export function agentSnapshot(lab: NeutronLab, label: HostLabel): Promise<RawSnapshot> {
  const own = new Set(sosSource(lab, label).namespaces);
  return collectSnapshot({ host: label, netns: lab.host(label).netns, ovsRundir: lab.host(label).dir, namespaceFilter: (ns) => own.has(ns) });
}
