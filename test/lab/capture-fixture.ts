// Records the shipped lab capture (test/fixtures/lab-capture/): the Neutron lab with sampling 1,
// a short scripted scenario, every sFlow datagram of it as a pcap, sosreport-layout trees of each
// host (healthy, while broken, repaired; each with sos_reports/manifest.json, so its time survives
// git) and a README saying what happened when.
//
//   npx tsc -p tsconfig.json && node dist/test/lab/capture-fixture.js OUTDIR [--compute-hosts 1|2]
//
// Scenario: vm1 pings the DHCP port, the router's qr port and the external host (healthy); the
// snapshots "healthy" are taken; network1 loses its br-tun table-3 tun_id→local-VLAN flow
// (tun-to-vlan-removed); the snapshots "broken" are taken; vm1 pings the same three again (they die
// on network1 br-tun); the lab is repaired, the snapshots "repaired" are taken and vm1 pings the
// DHCP port once more. Needs root and
// Open vSwitch (test/support/ovs-lab.ts probeOvsLab); traffic stays in the lab's namespaces.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { breakLab, repairLab, type BreakScenario } from './break.js';
import { createNeutronLab, type HostLabel, type NeutronLab } from './neutron-lab.js';
import { sosSource, sosTree } from './sos-tree.js';
import { ping } from './traffic.js';
import { buildPcap, probeOvsLab } from '../support/ovs-lab.js';

export const SCENARIO: BreakScenario = 'tun-to-vlan-removed';
const PINGS_PER_TARGET = 3;
/** Time for the last samples (and a counter poll) to reach the collector after a phase. */
const SETTLE_MS = 1500;

export interface PingRecord {
  phase: 'healthy' | 'broken' | 'repaired';
  /** What the target is: dhcp (qdhcp port on network1), router (qr port), external (upstream host beyond br-ex). */
  target: 'dhcp' | 'router' | 'external';
  from: string;
  fromIp: string;
  fromMac: string;
  toIp: string;
  transmitted: number;
  received: number;
  startMs: number;
  endMs: number;
}

/** scenario.json: the machine-readable form of the README's timeline. */
export interface CaptureScenario {
  scenario: BreakScenario;
  breakHost: HostLabel;
  change: string;
  sampling: number;
  polling: number;
  hosts: HostLabel[];
  captureStartMs: number;
  captureEndMs: number;
  brokenAtMs: number;
  repairedAtMs: number;
  datagrams: number;
  pings: PingRecord[];
  /** The snapshot sets (snapshots/NAME/sosreport-HOST) and when each host's was taken (its manifest's first command). */
  snapshotSets: { name: SnapshotSet; takenAtMs: Record<string, number> }[];
  /** Lab facts the expectations need. */
  lab: { segmentationId: number; localVlans: Record<string, number>; dhcp: { ip: string; mac: string; device: string; namespace: string }; router: { ip: string; mac: string; device: string; namespace: string }; externalIp: string; agents: Record<string, string> };
}

export type SnapshotSet = 'healthy' | 'broken' | 'repaired';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function pingPhase(lab: NeutronLab, phase: PingRecord['phase'], targets: readonly PingRecord['target'][]): Promise<PingRecord[]> {
  const vm1 = lab.instance('vm1');
  const ips: Record<PingRecord['target'], string> = { dhcp: lab.dhcp.ip, router: lab.router.qr.ip, external: lab.external.ip };
  const out: PingRecord[] = [];
  for (const target of targets) {
    const startMs = Date.now();
    const r = await ping(vm1, ips[target], PINGS_PER_TARGET);
    out.push({ phase, target, from: 'vm1', fromIp: vm1.ip, fromMac: vm1.mac, toIp: ips[target], transmitted: r.transmitted, received: r.received, startMs, endMs: Date.now() });
  }
  return out;
}

async function snapshotTrees(lab: NeutronLab, hosts: readonly HostLabel[], outDir: string, name: SnapshotSet): Promise<CaptureScenario['snapshotSets'][number]> {
  const takenAtMs: Record<string, number> = {};
  for (const label of hosts) {
    const tree = await sosTree(sosSource(lab, label), join(outDir, 'snapshots', name, `sosreport-${label}`));
    takenAtMs[label] = Math.min(...tree.written.map((w) => w.startMs));
  }
  return { name, takenAtMs };
}

export async function captureFixture(outDir: string, computeHosts: 1 | 2 = 1): Promise<CaptureScenario> {
  const unavailable = await probeOvsLab();
  if (unavailable !== undefined) throw new Error(`the Neutron lab cannot run here: ${unavailable}`);
  const sampling = 1;
  const polling = 2;
  const lab = await createNeutronLab({ computeHosts, sampling, polling });
  try {
    const collector = lab.collector;
    if (collector === undefined) throw new Error('lab opened no collector');
    const hosts: HostLabel[] = computeHosts === 2 ? ['compute1', 'compute2', 'network1'] : ['compute1', 'network1'];
    rmSync(outDir, { recursive: true, force: true });
    mkdirSync(outDir, { recursive: true });
    // one counter poll of every bridge before the scenario, so the capture names every datapath
    await sleep(polling * 1000 + 500);
    collector.clear();
    const captureStartMs = Date.now();
    await sleep(polling * 1000 + 200);
    const pings: PingRecord[] = [];
    pings.push(...(await pingPhase(lab, 'healthy', ['dhcp', 'router', 'external'])));
    await sleep(SETTLE_MS);
    const snapshotSets: CaptureScenario['snapshotSets'] = [];
    snapshotSets.push(await snapshotTrees(lab, hosts, outDir, 'healthy'));
    const info = await breakLab(lab, SCENARIO);
    const brokenAtMs = Date.now();
    snapshotSets.push(await snapshotTrees(lab, hosts, outDir, 'broken'));
    pings.push(...(await pingPhase(lab, 'broken', ['dhcp', 'router', 'external'])));
    await sleep(SETTLE_MS);
    await repairLab(lab, SCENARIO);
    const repairedAtMs = Date.now();
    snapshotSets.push(await snapshotTrees(lab, hosts, outDir, 'repaired'));
    pings.push(...(await pingPhase(lab, 'repaired', ['dhcp'])));
    await sleep(SETTLE_MS);
    const captureEndMs = Date.now();
    const datagrams = [...collector.datagrams];
    writeFileSync(join(outDir, 'sflow.pcap'), buildPcap(datagrams));
    const agents: Record<string, string> = {};
    for (const h of lab.hosts) agents[h.label] = h.mgmtAddress;
    const localVlans: Record<string, number> = {};
    for (const h of lab.hosts) localVlans[h.label] = h.localVlan;
    const scenario: CaptureScenario = {
      scenario: SCENARIO,
      breakHost: info.host,
      change: info.change,
      sampling,
      polling,
      hosts,
      captureStartMs,
      captureEndMs,
      brokenAtMs,
      repairedAtMs,
      datagrams: datagrams.length,
      pings,
      snapshotSets,
      lab: {
        segmentationId: lab.network.segmentationId,
        localVlans,
        dhcp: { ip: lab.dhcp.ip, mac: lab.dhcp.mac, device: lab.dhcp.device, namespace: lab.dhcp.namespace },
        router: { ip: lab.router.qr.ip, mac: lab.router.qr.mac, device: lab.router.qr.device, namespace: lab.router.namespace },
        externalIp: lab.external.ip,
        agents,
      },
    };
    writeFileSync(join(outDir, 'scenario.json'), `${JSON.stringify(scenario, null, 2)}\n`);
    writeFileSync(join(outDir, 'README.md'), fixtureReadme(scenario));
    return scenario;
  } finally {
    await lab.teardown();
  }
}

const iso = (ms: number): string => new Date(ms).toISOString();
const rel = (s: CaptureScenario, ms: number): string => `+${((ms - s.captureStartMs) / 1000).toFixed(1)} s`;

/** The fixture's README: what happened when, and what `hoptrace analyze` says about it. */
export function fixtureReadme(s: CaptureScenario): string {
  const ping = (p: PingRecord): string => `| ${rel(s, p.startMs)} | ${iso(p.startMs)} | ${p.phase} | vm1 ${p.fromIp} → ${p.target} ${p.toIp} | ${p.received}/${p.transmitted} |`;
  const snap = (set: CaptureScenario['snapshotSets'][number]): string => {
    const times = Object.values(set.takenAtMs);
    return `| ${rel(s, Math.min(...times))} | ${iso(Math.min(...times))} | snapshots **${set.name}** | ${Object.entries(set.takenAtMs).map(([h, t]) => `${h} ${iso(t)}`).join(', ')} | |`;
  };
  const set = (name: SnapshotSet): string[] => {
    const found = s.snapshotSets.find((x) => x.name === name);
    return found === undefined ? [] : [snap(found)];
  };
  const hostList = s.hosts.join(', ');
  return [
    '# lab-capture: a real Neutron lab capture with a break',
    '',
    'Recorded by `test/lab/capture-fixture.ts` (`npx tsc -p tsconfig.json && node dist/test/lab/capture-fixture.js OUTDIR`)',
    `on the Neutron lab of test/lab/ (hosts ${hostList}; GRE tenant network, segmentation id ${s.lab.segmentationId} = tun_id 0x${s.lab.segmentationId.toString(16)};`,
    `local VLANs ${Object.entries(s.lab.localVlans).map(([h, v]) => `${h} ${v}`).join(', ')}), OVS sFlow sampling 1 in ${s.sampling}, counter polling every ${s.polling} s.`,
    'Every address is TEST-NET: tenant 203.0.113.0/26, external 203.0.113.192/26, underlay 192.0.2.0/24, sFlow agents (mgmt0) 198.51.100.x.',
    '',
    '| file | what |',
    '| --- | --- |',
    `| sflow.pcap | every sFlow datagram the collector received (${s.datagrams}), Ethernet/IPv4/UDP, receive times |`,
    `| snapshots/healthy/sosreport-HOST/ | sosreport-layout trees (sos 4.x file names) of ${hostList}, taken after the healthy pings, before the break |`,
    '| snapshots/broken/sosreport-HOST/ | the same, taken right after the break |',
    '| snapshots/repaired/sosreport-HOST/ | the same, taken right after the repair |',
    '| scenario.json | this timeline, machine-readable (used by test/integration/lab-capture-fixture.test.ts) |',
    '',
    'Each tree has `sos_reports/manifest.json` (sos 4.x layout: per plugin the commands with exec, return_code and',
    'start_time): the importer takes the snapshot\'s time from it (its first command), so the times below survive a git',
    'checkout, which resets the files\' modification times.',
    '',
    '## timeline',
    '',
    `Capture from ${iso(s.captureStartMs)} to ${iso(s.captureEndMs)}. Agents: ${Object.entries(s.lab.agents).map(([h, a]) => `${h} ${a}`).join(', ')}.`,
    `DHCP port ${s.lab.dhcp.ip} (${s.lab.dhcp.device} in ${s.lab.dhcp.namespace}), router qr ${s.lab.router.ip} (${s.lab.router.device}), external host ${s.lab.externalIp} (beyond br-ex; the router SNATs to 203.0.113.200).`,
    '',
    '| when | time (UTC) | phase | pings (3 echo requests each, 0.2 s apart) | replies |',
    '| --- | --- | --- | --- | --- |',
    ...s.pings.filter((p) => p.phase === 'healthy').map(ping),
    ...set('healthy'),
    `| ${rel(s, s.brokenAtMs)} | ${iso(s.brokenAtMs)} | **break** | ${s.scenario} on ${s.breakHost}: ${s.change} | |`,
    ...set('broken'),
    ...s.pings.filter((p) => p.phase === 'broken').map(ping),
    `| ${rel(s, s.repairedAtMs)} | ${iso(s.repairedAtMs)} | **repair** | the table-3 flow put back | |`,
    ...set('repaired'),
    ...s.pings.filter((p) => p.phase === 'repaired').map(ping),
    '',
    'vm1 also ARPs for its targets (ARP paths: flow srcIp/dstIp are arp_spa/arp_tpa), and the router\'s SNATed echo requests',
    '(203.0.113.200 → 203.0.113.193) and their replies cross br-ex on network1: those show up as paths too.',
    '',
    '## expected `hoptrace analyze` verdicts',
    '',
    'Give every snapshot set at once: each path is judged by the snapshots in force at its first observation (per host,',
    'the latest taken at or before it, else the oldest), and the summary lists each version with the paths it judged.',
    '',
    '```',
    'hoptrace analyze --pcap test/fixtures/lab-capture/sflow.pcap --snapshots test/fixtures/lab-capture/snapshots/*/*',
    '```',
    '',
    `- The echo requests of the healthy phase (vm1 → ${s.lab.dhcp.ip}, ${s.lab.router.ip}, ${s.lab.externalIp}; judged by the healthy`,
    '  snapshots, the oldest) and of the repaired phase (judged by the repaired snapshots): **delivered**, into the qdhcp',
    '  namespace, the router\'s qr port and (for the external host) via the router, each `answered`.',
    '- The echo requests of the broken phase (judged by the broken snapshots): **dropped** on network1 br-tun, table 3, by',
    '  its default rule `table=3, priority=0 actions=drop` (the tun_id → local VLAN flow is gone); seen at compute1/br-int,',
    '  network1/br-phy (outer GRE) and network1/br-tun (decapsulated), never answered. The top drop point is',
    '  `network1 br-tun table 3: priority=0 actions=drop`.',
    '- The echo replies (network1 → compute1: the vlan→tun direction the break does not touch) and the external host\'s',
    '  traffic on br-ex: **delivered**. No echo request is in conflict.',
    '',
    'One snapshot set alone judges every path by it. With `snapshots/broken/*` only, the healthy and repaired echo',
    'requests come out **dropped** at the same rule although they were answered: each is marked `conflict` ("dropped, yet',
    'answered"), with lower confidence and a doubt saying the snapshot is not the one in force. With `snapshots/healthy/*`',
    'only, the broken phase\'s requests are **dropped** on network1 br-tun from the sFlow discard samples OVS sent (no table',
    'or rule: the snapshots predict delivery, so the verdict carries a conflict and low confidence).',
    '',
  ].join('\n');
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values, positionals } = parseArgs({ options: { 'compute-hosts': { type: 'string', default: '1' } }, allowPositionals: true });
  const out = positionals[0];
  const n = values['compute-hosts'];
  if (out === undefined || (n !== '1' && n !== '2')) {
    process.stderr.write('usage: node dist/test/lab/capture-fixture.js OUTDIR [--compute-hosts 1|2]\n');
    process.exitCode = 2;
  } else {
    captureFixture(resolve(out), n === '2' ? 2 : 1)
      .then((s) => {
        process.stdout.write(`wrote ${out}: ${s.datagrams} datagrams, ${s.pings.length} ping runs (${s.pings.map((p) => `${p.phase} ${p.target} ${p.received}/${p.transmitted}`).join(', ')})\n`);
      })
      .catch((error: unknown) => {
        process.stderr.write(`capture-fixture: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
        process.exitCode = 1;
      });
  }
}
