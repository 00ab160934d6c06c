// hoptrace topology: the host topology at a time, from the store (snapshots the agent or an import
// wrote) or straight from snapshot paths (sosreports, agent directories, tarballs) with no store.
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { Command, Option } from 'commander';
import { UsageError } from '../../errors.js';
import { buildTopologies } from '../../topology/build.js';
import { checkTopology, type Finding } from '../../topology/checks.js';
import { topologyToDot } from '../../topology/dot.js';
import type { HostTopology, TopoGap } from '../../topology/model.js';
import type { GlobalFlags } from '../main.js';
import type { RawSnapshot } from '../../hoststate/snapshot.js';
import { loadSnapshots, type SnapshotSource } from '../snapshot-source.js';
import { toJson } from '../json.js';
import { resolveWithDataDir } from '../resolve-config.js';
import { runOn } from './query.js';

export interface TopologyFlags {
  snapshots?: string[];
  host?: string[];
  at?: string;
  json?: boolean;
  dot?: boolean;
  render?: string;
  flows?: boolean;
  data?: string;
}

export function register(program: Command): void {
  program
    .command('topology')
    .description('Print the hosts\' topology (bridges, ports, VLANs, veths, Linux bridges, namespaces, tunnels) and the consistency findings')
    .option('-s, --snapshots <path...>', 'read snapshots from these paths (extracted sosreports, agent --out directories, tarballs) instead of the store')
    .option('--host <name...>', 'only these hosts')
    .option('--at <time>', 'the topology in force at this time (ISO 8601; default: the latest snapshot of each host)')
    .option('--flows', 'include every OpenFlow rule in the text and JSON output')
    .option('-d, --data <dir>', 'embedded store directory (default ./data)')
    .addOption(new Option('--json', 'one JSON object per host, then one {"findings": [...]} line').conflicts(['dot']))
    .addOption(new Option('--dot', 'Graphviz DOT on stdout').conflicts(['json']))
    .option('--render <file.svg|file.png>', 'draw with Graphviz (`dot`, Debian package graphviz) into this file')
    .addHelpText('after', `
Examples:
  $ hoptrace topology                                   # latest snapshot of every host in ./data
  $ hoptrace topology --host compute1 --at 2026-11-25T08:00:00Z
  $ hoptrace topology --snapshots sosreport-compute1/ sosreport-network1/ --json
  $ hoptrace topology --snapshots ./snapshots --dot | dot -Tsvg > topology.svg
  $ hoptrace topology --render topology.svg

Findings (exit status stays 0; filter them with --json | jq):
  port-untagged, port-dead-vlan, tap-without-qbr, qbr-without-qvb, qvo-without-qvb,
  veth-without-peer, patch-peer-missing, tunnel-port-error, tunnel-remote-unknown,
  vlan-without-tunnel-mapping, network-without-dhcp`)
    .action(async (flags: TopologyFlags, command: Command) => {
      await runTopology(flags, command.optsWithGlobals());
    });
}

export async function runTopology(flags: TopologyFlags, globals: GlobalFlags): Promise<void> {
  const source = {
    ...(flags.snapshots === undefined ? {} : { snapshots: flags.snapshots }),
    ...(flags.at === undefined ? {} : { at: flags.at }),
    ...(flags.data === undefined ? {} : { data: flags.data }),
  };
  const raws = flags.host === undefined ? await loadSnapshots(source, globals) : await hostSnapshots(source, flags.host, globals);
  const { topologies } = buildTopologies(raws);
  const findings = checkTopology(topologies);
  if (flags.render !== undefined) await render(flags.render, topologyToDot(topologies, { findings, hideLoose: true }));
  if (flags.dot === true) {
    process.stdout.write(topologyToDot(topologies, { findings, hideLoose: true }));
    return;
  }
  if (flags.json === true) {
    for (const t of topologies) process.stdout.write(`${toJson(flags.flows === true ? t : { ...t, flows: t.flows.map((f) => ({ bridge: f.bridge, count: f.flows.length })) })}\n`);
    process.stdout.write(`${toJson({ findings })}\n`);
    return;
  }
  process.stdout.write(formatTopologies(topologies, findings, flags.flows === true, raws));
}

/**
 * The snapshots of the --host hosts. A host with none is named along with the hosts there are
 * (a typo or a short name, most of the time): an error when none of them has one, a note otherwise.
 */
async function hostSnapshots(source: SnapshotSource, hosts: string[], globals: GlobalFlags): Promise<RawSnapshot[]> {
  let raws: RawSnapshot[] = [];
  try {
    raws = await loadSnapshots({ ...source, hosts }, globals);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
  }
  const missing = hosts.filter((h) => !raws.some((r) => r.host === h));
  if (missing.length === 0) return raws;
  const known = await knownHosts(source, globals);
  const where = source.snapshots === undefined ? 'in the store' : `in ${source.snapshots.join(', ')}`;
  const taken = source.at === undefined ? '' : ` taken at or before ${source.at}`;
  const message = `no host snapshot of ${missing.join(', ')}${taken} ${where}; hosts there: ${known.join(', ') || 'none'}`;
  if (raws.length === 0) throw new UsageError(message);
  process.stderr.write(`hoptrace: ${message}\n`);
  return raws;
}

async function knownHosts(source: SnapshotSource, globals: GlobalFlags): Promise<string[]> {
  if (source.snapshots !== undefined) {
    const all = await loadSnapshots({ snapshots: source.snapshots }, globals);
    return [...new Set(all.map((r) => r.host))].sort();
  }
  const text = await runOn(resolveWithDataDir(globals, {}, source.data), 'SELECT DISTINCT host FROM host_snapshots ORDER BY host', 'JSONEachRow', {});
  return text.split('\n').filter((l) => l !== '').map((l) => (JSON.parse(l) as { host: string }).host);
}

async function render(file: string, dot: string): Promise<void> {
  const format = file.endsWith('.png') ? 'png' : file.endsWith('.pdf') ? 'pdf' : 'svg';
  const run = promisify(execFile);
  const dotFile = `${file}.dot`;
  await writeFile(dotFile, dot);
  try {
    await run('dot', [`-T${format}`, '-o', file, dotFile]);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new UsageError(`--render needs Graphviz's dot (apt-get install graphviz); the DOT text is in ${dotFile}`);
    throw new UsageError(`dot failed on ${dotFile}: ${(error as { stderr?: string }).stderr?.trim() ?? (error as Error).message}`);
  }
  process.stderr.write(`hoptrace: drew ${file} (DOT source: ${dotFile})\n`);
}

/**
 * The commands whose output is missing, each failure once: the same command failing the same way
 * for several interfaces (ethtool -S on each) is one entry naming them ("ethtool.S on eth0, eth1 (exit 94)").
 */
export function missingText(gaps: readonly TopoGap[], raw: RawSnapshot | undefined): string[] {
  const groups = new Map<string, { text: string; count: number; devices: string[] }>();
  for (const g of gaps) {
    const key = JSON.stringify([g.commandId, g.bridge ?? '', g.namespace ?? '', g.why]);
    const group = groups.get(key);
    if (group !== undefined) {
      group.count++;
      continue;
    }
    // the snapshot's own outputs name the interface of per-interface commands (the gap does not)
    const devices = (raw?.outputs ?? [])
      .filter((o) => o.id === g.commandId && o.device !== undefined && (o.bridge ?? '') === (g.bridge ?? '') && (o.namespace ?? '') === (g.namespace ?? '') && failedBecause(o) === g.why)
      .map((o) => o.device as string);
    groups.set(key, { text: `${g.commandId}${g.bridge === undefined ? '' : ` ${g.bridge}`}${g.namespace === undefined ? '' : ` ${g.namespace}`}`, count: 1, devices: [...new Set(devices)] });
  }
  return [...groups].map(([key, g]) => {
    const why = (JSON.parse(key) as string[])[3] ?? '';
    const on = g.devices.length > 0 ? ` on ${g.devices.join(', ')}` : g.count > 1 ? ` ×${g.count}` : '';
    return `${g.text}${on} (${why})`;
  });
}

/** Why a command's output is missing, worded as the topology's gaps word it (topology/build.ts). */
function failedBecause(o: RawSnapshot['outputs'][number]): string | undefined {
  if (o.exitCode === 0 && o.error === undefined) return undefined;
  const first = o.stderr.trim().split('\n')[0] ?? '';
  return o.error ?? `exit ${String(o.exitCode)}${first === '' ? '' : `: ${first.length > 160 ? `${first.slice(0, 157)}...` : first}`}`;
}

export function formatTopologies(topologies: readonly HostTopology[], findings: readonly Finding[], withFlows: boolean, raws: readonly RawSnapshot[] = []): string {
  const out: string[] = [];
  for (const t of topologies) {
    const raw = raws.find((r) => r.host === t.host && r.takenAt === t.takenAt);
    out.push(`host ${t.host}  snapshot ${t.takenAt}${t.ovsVersion === null ? '' : `  ovs ${t.ovsVersion}`}`);
    for (const b of t.bridges) {
      const flows = t.flows.find((f) => f.bridge === b.name)?.flows ?? [];
      out.push(`  ovs bridge ${b.name}${b.datapathId === null ? '' : `  dpid ${b.datapathId}`}  ${flows.length} flows${b.sflow === null ? '' : `  sflow sampling ${b.sflow.sampling ?? '?'} -> ${b.sflow.targets.join(',')}`}`);
      for (const p of t.ports.filter((x) => x.bridge === b.name)) {
        const bits = [
          `ofport ${p.ofport ?? '?'}`,
          p.type === '' ? null : p.type,
          p.tag === null ? null : `tag ${p.tag}`,
          p.peer === null ? null : `peer ${p.peer}`,
          p.remoteIp === null ? null : `remote ${p.remoteIp}${p.localIp === null ? '' : ` local ${p.localIp}`} key ${p.tunnelKey ?? '-'}`,
          p.neutronPortId === null ? null : `neutron ${p.neutronPortId}`,
          p.error === null ? null : `ERROR ${p.error}`,
        ].filter((x) => x !== null);
        out.push(`    ${p.name.padEnd(16)} ${bits.join('  ')}`);
      }
      if (withFlows) for (const f of flows) out.push(`      table=${f.table} priority=${f.priority} ${f.matchText} actions=${f.actionsText}`);
    }
    for (const lb of t.linuxBridges) out.push(`  linux bridge ${lb.name}${lb.namespace === '' ? '' : ` (netns ${lb.namespace})`}: ${lb.members.join(', ') || 'no members'}`);
    for (const ns of t.namespaces) {
      const devs = t.devices.filter((d) => d.namespace === ns && d.name !== 'lo');
      out.push(`  netns ${ns}: ${devs.map((d) => `${d.name}${d.addresses.length === 0 ? '' : ` ${d.addresses.map((a) => `${a.address}/${a.prefixLength}`).join(' ')}`}`).join('; ') || 'no devices'}`);
    }
    const vlans = t.vlanMap.filter((m) => m.segmentationId !== null);
    if (vlans.length > 0) {
      const byVlan = new Map<number, string[]>();
      for (const m of vlans) byVlan.set(m.localVlan, [...new Set([...(byVlan.get(m.localVlan) ?? []), `${m.networkType ?? 'tunnel'} ${m.segmentationId} (${m.source})`])]);
      out.push(`  local VLANs: ${[...byVlan].map(([v, segs]) => `${v} -> ${segs.join(', ')}`).join('; ')}`);
    }
    if (t.gaps.length > 0) out.push(`  missing: ${missingText(t.gaps, raw).join('; ')}`);
    if (t.issues.length > 0) out.push(`  unparsed lines: ${t.issues.length} (first: ${t.issues[0]?.source}:${t.issues[0]?.line} ${t.issues[0]?.message})`);
    out.push('');
  }
  if (findings.length === 0) out.push('findings: none');
  else {
    out.push(`findings: ${findings.length}`);
    for (const f of findings) out.push(`  ${f.severity.toUpperCase().padEnd(7)} ${f.host} ${f.check}: ${f.message}\n          evidence: ${f.evidence}`);
  }
  return `${out.join('\n')}\n`;
}
