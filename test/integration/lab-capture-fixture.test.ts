// The shipped lab capture (test/fixtures/lab-capture/, recorded by test/lab/capture-fixture.ts) run
// through the built `hoptrace analyze` as a user runs it: what its README promises holds. No lab
// needed: the capture and the sosreport trees are files.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { readUdpPayloads } from '../../src/pcap/pcap-reader.js';
import type { CaptureScenario, PingRecord } from '../lab/capture-fixture.js';
import { buildPcap } from '../support/ovs-lab.js';

const BIN = fileURLToPath(new URL('../../dist/src/cli/main.js', import.meta.url));
const FIXTURE = fileURLToPath(new URL('../fixtures/lab-capture/', import.meta.url));
const scenario = JSON.parse(readFileSync(join(FIXTURE, 'scenario.json'), 'utf8')) as CaptureScenario;

interface Hop { host: string; kind: string; device: string; bridge: string | null; observed: boolean; namespace: string; notes?: string[] }
interface Version { host: string; takenAt: string }
interface PathRow {
  pathId: string;
  flow: { srcMac: string | null; srcIp: string | null; dstIp: string | null; ipProtocol: number | null; icmpType: number | null };
  firstSeen: string;
  verdict: string;
  confidence: number;
  drop: { host: string; device: string; bridge: string | null; table: number | string | null; rule: string | null; reason: string } | null;
  hops: Hop[];
  answered: boolean | null;
  conflict: string | null;
  doubts: string[];
  snapshots: Version[];
}
interface Summary { summary: { sflowDatagrams: number; decodeErrors: number; paths: number; conflicts: number; topDrops: { where: string; paths: number }[]; snapshots: (Version & { paths: number })[]; resolver: { unknownAgents: string[] } } }

type SetName = CaptureScenario['snapshotSets'][number]['name'];

const treesOf = (sets: readonly SetName[]): string[] => sets.flatMap((set) => {
  const dir = join(FIXTURE, 'snapshots', set);
  return readdirSync(dir).filter((d) => d.startsWith('sosreport-')).map((d) => join(dir, d));
});

function run(args: readonly string[]): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [BIN, ...args], { maxBuffer: 64 << 20 }, (error, stdout, stderr) => {
      if (error !== null) reject(new Error(`hoptrace ${args[0] ?? ''} failed (${String(error.code)}): ${stderr}`));
      else resolve({ stdout, stderr });
    });
  });
}

/** `hoptrace analyze --json` on the capture with the trees of these snapshot sets (or, given `data`, the store's snapshots). */
function analyze(sets: readonly SetName[], data?: string): Promise<{ rows: PathRow[]; summary: Summary['summary']; stderr: string }> {
  const source = data === undefined ? ['--snapshots', ...treesOf(sets)] : ['--data', data];
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [BIN, 'analyze', '--pcap', join(FIXTURE, 'sflow.pcap'), ...source, '--json'], { maxBuffer: 64 << 20 }, (error, stdout, stderr) => {
      if (error !== null) {
        reject(new Error(`hoptrace analyze failed (${String(error.code)}): ${stderr}`));
        return;
      }
      const lines = stdout.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as unknown);
      const last = lines.pop() as Summary;
      resolve({ rows: lines as PathRow[], summary: last.summary, stderr });
    });
  });
}

const vm1 = scenario.pings[0] as PingRecord;
const phaseOf = (p: PathRow): PingRecord['phase'] => {
  const t = Date.parse(p.firstSeen);
  return t < scenario.brokenAtMs ? 'healthy' : t < scenario.repairedAtMs ? 'broken' : 'repaired';
};
/** vm1's echo requests to a target of the scenario, in a phase. */
const requests = (rows: readonly PathRow[], phase: PingRecord['phase'], toIp: string): PathRow[] =>
  rows.filter((p) => p.flow.srcIp === vm1.fromIp && p.flow.dstIp === toIp && p.flow.ipProtocol === 1 && p.flow.icmpType === 8 && phaseOf(p) === phase);
const show = (p: PathRow): string => JSON.stringify({ pathId: p.pathId, verdict: p.verdict, drop: p.drop, answered: p.answered, conflict: p.conflict, snapshots: p.snapshots, hops: p.hops.map((h) => `${h.observed ? '*' : ''}${h.host}/${h.kind}/${h.device}`) });
const targets = (phase: PingRecord['phase']): PingRecord[] => scenario.pings.filter((p) => p.phase === phase);
/** The versions of a snapshot set, as the analysis names them. */
const versionsOf = (set: SetName): Version[] => {
  const found = scenario.snapshotSets.find((s) => s.name === set);
  if (found === undefined) throw new Error(`scenario.json has no snapshot set ${set}`);
  return Object.entries(found.takenAtMs).map(([host, ms]) => ({ host, takenAt: new Date(ms).toISOString() })).sort((a, b) => a.host.localeCompare(b.host));
};

function expectDelivered(rows: readonly PathRow[], phase: 'healthy' | 'repaired', set: SetName): void {
  for (const ping of targets(phase)) {
    const paths = requests(rows, phase, ping.toIp);
    // sampling 1: every echo request the ping sent is a path
    expect(paths.length, `${phase} ${ping.target} ${ping.toIp}`).toBe(ping.transmitted);
    for (const p of paths) {
      expect(p.verdict, show(p)).toBe('delivered');
      expect(p.drop, show(p)).toBeNull();
      expect(p.answered, show(p)).toBe(true);
      expect(p.conflict, show(p)).toBeNull();
      expect(p.snapshots, show(p)).toEqual(versionsOf(set));
      expect(p.hops[0], show(p)).toMatchObject({ host: 'compute1', kind: 'vm-port' });
      expect(p.hops.some((h) => h.kind === 'tunnel'), show(p)).toBe(true);
    }
  }
}

function expectDroppedByRule(rows: readonly PathRow[], set: SetName): void {
  for (const ping of targets('broken')) {
    const paths = requests(rows, 'broken', ping.toIp);
    expect(paths.length, `${ping.target} ${ping.toIp}`).toBe(ping.transmitted);
    for (const p of paths) {
      expect(p.verdict, show(p)).toBe('dropped');
      expect(p.drop, show(p)).toMatchObject({ host: 'network1', bridge: 'br-tun', table: 3 });
      expect(p.drop?.rule, show(p)).toMatch(/priority=0 actions=drop/);
      expect(p.answered, show(p)).toBe(false);
      expect(p.conflict, show(p)).toBeNull();
      expect(p.snapshots, show(p)).toEqual(versionsOf(set));
      // seen leaving compute1 and arriving (decapsulated) on network1's br-tun
      expect(p.hops.filter((h) => h.observed).map((h) => `${h.host}/${h.device}`), show(p)).toEqual(expect.arrayContaining(['compute1/br-int', 'network1/br-tun']));
      expect(p.hops[p.hops.length - 1], show(p)).toMatchObject({ host: 'network1', device: 'br-tun' });
    }
  }
}

describe('shipped lab capture (test/fixtures/lab-capture)', () => {
  beforeAll(() => {
    if (!existsSync(BIN)) throw new Error(`${BIN} missing: run npx tsc -p tsconfig.json first`);
  });

  it('the fixture is what its README describes: healthy, broken and repaired phases, each with its snapshot set taken before its pings', () => {
    expect(scenario.scenario).toBe('tun-to-vlan-removed');
    expect(scenario.breakHost).toBe('network1');
    expect(scenario.sampling).toBe(1);
    expect(targets('healthy').map((p) => p.target)).toEqual(['dhcp', 'router', 'external']);
    expect(targets('broken').map((p) => p.target)).toEqual(['dhcp', 'router', 'external']);
    for (const p of targets('healthy')) expect(p.received).toBe(p.transmitted);
    for (const p of targets('broken')) expect(p.received).toBe(0);
    for (const p of targets('repaired')) expect(p.received).toBe(p.transmitted);
    const readme = readFileSync(join(FIXTURE, 'README.md'), 'utf8');
    expect(readme).toContain('table=3, priority=0 actions=drop');
    expect(readme).toContain('snapshots/*/*');
    for (const p of scenario.pings) expect(readme).toContain(new Date(p.startMs).toISOString());
    expect(scenario.snapshotSets.map((s) => s.name)).toEqual(['healthy', 'broken', 'repaired']);
    const at = (set: SetName): number[] => Object.values(scenario.snapshotSets.find((s) => s.name === set)?.takenAtMs ?? {});
    // healthy: after the healthy pings, before the break; broken: after the break, before its pings; repaired likewise
    for (const t of at('healthy')) expect(t).toBeLessThan(scenario.brokenAtMs);
    for (const t of at('broken')) {
      expect(t).toBeGreaterThanOrEqual(scenario.brokenAtMs);
      for (const p of targets('broken')) expect(t).toBeLessThan(p.startMs);
    }
    for (const t of at('repaired')) {
      expect(t).toBeGreaterThanOrEqual(scenario.repairedAtMs);
      for (const p of targets('repaired')) expect(t).toBeLessThan(p.startMs);
    }
    for (const set of scenario.snapshotSets) {
      for (const host of scenario.hosts) {
        const root = join(FIXTURE, 'snapshots', set.name, `sosreport-${host}`);
        expect(existsSync(join(root, 'sos_commands', 'openvswitch')), root).toBe(true);
        expect(existsSync(join(root, 'sos_reports', 'manifest.json')), root).toBe(true);
      }
    }
  });

  it('every snapshot set at once: each phase judged by its own snapshots (times from the sos manifests); healthy and repaired requests delivered and answered, broken ones dropped by the table-3 rule', async () => {
    const { rows, summary } = await analyze(['healthy', 'broken', 'repaired']);
    expect(summary.sflowDatagrams).toBe(scenario.datagrams);
    expect(summary.decodeErrors).toBe(0);
    expect(summary.resolver.unknownAgents).toEqual([]);
    // the versions the import found are the ones the capture script took (manifest times, not file times)
    expect(summary.snapshots.map((v) => ({ host: v.host, takenAt: v.takenAt })).sort((a, b) => a.host.localeCompare(b.host) || a.takenAt.localeCompare(b.takenAt)))
      .toEqual([...versionsOf('healthy'), ...versionsOf('broken'), ...versionsOf('repaired')].sort((a, b) => a.host.localeCompare(b.host) || a.takenAt.localeCompare(b.takenAt)));
    for (const v of summary.snapshots) expect(v.paths, JSON.stringify(v)).toBeGreaterThan(0);
    expect(summary.topDrops[0]?.where).toMatch(/^network1 br-tun table 3: priority=0 actions=drop/);
    expectDelivered(rows, 'healthy', 'healthy');
    expectDelivered(rows, 'repaired', 'repaired');
    expectDroppedByRule(rows, 'broken');
    // counter evidence: the table-3 drop rule counted at least the broken phase's requests between the
    // broken and the repaired snapshots of network1
    const brokenRequests = scenario.pings.filter((p) => p.phase === 'broken').reduce((n, p) => n + p.transmitted, 0);
    const dying = targets('broken').flatMap((t) => requests(rows, 'broken', t.toIp));
    expect(dying).toHaveLength(brokenRequests);
    for (const p of dying) {
      const note = p.hops[p.hops.length - 1]?.notes?.find((n) => n.startsWith('counter evidence'));
      expect(note, show(p)).toMatch(/br-tun table 3 rule n_packets \d+ → \d+: \+(\d+) between the snapshots .* \(the frame passed in between\)/);
      expect(Number(/: \+(\d+) between/.exec(note ?? '')?.[1])).toBeGreaterThanOrEqual(brokenRequests);
    }
    // the DHCP port's requests end in the qdhcp namespace, the router's on its qr port
    for (const phase of ['healthy', 'repaired'] as const) {
      for (const p of requests(rows, phase, scenario.lab.dhcp.ip)) expect(p.hops[p.hops.length - 1], show(p)).toMatchObject({ host: 'network1', namespace: scenario.lab.dhcp.namespace, device: scenario.lab.dhcp.device });
    }
    for (const p of requests(rows, 'healthy', scenario.lab.router.ip)) expect(p.hops[p.hops.length - 1], show(p)).toMatchObject({ host: 'network1', namespace: scenario.lab.router.namespace, device: scenario.lab.router.device });
    // the replies go the other way (vlan→tun on network1, tun→vlan on compute1): untouched by the break
    const replies = rows.filter((p) => p.flow.dstIp === vm1.fromIp && p.flow.icmpType === 0);
    expect(replies.length).toBeGreaterThan(0);
    for (const p of replies) expect(p.verdict, show(p)).toBe('delivered');
    expect(rows.filter((p) => p.conflict !== null).map(show)).toEqual([]);
    expect(summary.conflicts).toBe(0);
  });

  it('snapshots from the store (hoptrace import --store): every version in force over the capture, each path judged by its own', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hoptrace-analyze-store-'));
    try {
      const data = join(dir, 'data');
      await run(['import', ...treesOf(['healthy', 'broken', 'repaired']), '--store', '--data', data]);
      const { rows, summary } = await analyze([], data);
      expect(summary.snapshots).toHaveLength(6);
      expectDelivered(rows, 'healthy', 'healthy');
      expectDelivered(rows, 'repaired', 'repaired');
      expectDroppedByRule(rows, 'broken');
      expect(summary.conflicts).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);

  it('snapshots from the store taken after the capture (capture first, sosreports later): the first one of each host judges it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hoptrace-analyze-later-'));
    try {
      const data = join(dir, 'data');
      await run(['import', ...treesOf(['repaired']), '--store', '--data', data]);
      // the healthy phase only: a capture that ends before any stored snapshot was taken
      const healthy = [...readUdpPayloads(new Uint8Array(readFileSync(join(FIXTURE, 'sflow.pcap'))), 'sflow.pcap')].filter((p) => p.timestampMs < scenario.brokenAtMs);
      const pcap = join(dir, 'healthy.pcap');
      writeFileSync(pcap, buildPcap(healthy.map((p) => ({ receivedAt: p.timestampMs, source: { address: p.srcIp, port: p.srcPort }, destination: { address: '127.0.0.1', port: 6343 }, payload: Buffer.from(p.payload) }))));
      const { stdout } = await run(['analyze', '--pcap', pcap, '--data', data, '--json']);
      const lines = stdout.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as unknown);
      const summary = (lines.pop() as Summary).summary;
      expect(summary.snapshots.map((v) => v.takenAt).sort()).toEqual(versionsOf('repaired').map((v) => v.takenAt).sort());
      const rows = lines as PathRow[];
      for (const t of targets('healthy')) {
        const mine = requests(rows, 'healthy', t.toIp);
        expect(mine).toHaveLength(t.transmitted);
        for (const p of mine) expect(p.verdict, show(p)).toBe('delivered');
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);

  it('broken snapshots only: the broken phase is dropped by the rule; the answered healthy and repaired requests are dropped too, each marked as a conflict with lower confidence', async () => {
    const { rows, summary } = await analyze(['broken']);
    expectDroppedByRule(rows, 'broken');
    const brokenConfidence = Math.min(...targets('broken').flatMap((ping) => requests(rows, 'broken', ping.toIp).map((p) => p.confidence)));
    let marked = 0;
    for (const phase of ['healthy', 'repaired'] as const) {
      for (const ping of targets(phase)) {
        for (const p of requests(rows, phase, ping.toIp)) {
          expect(p.verdict, show(p)).toBe('dropped');
          expect(p.answered, show(p)).toBe(true);
          expect(p.conflict, show(p)).toMatch(/^dropped, yet answered/);
          expect(p.doubts.some((d) => d.startsWith('dropped, yet answered') && d.includes('network1') && d.includes('--snapshots')), show(p)).toBe(true);
          expect(p.confidence, show(p)).toBeLessThan(brokenConfidence);
          marked++;
        }
      }
    }
    expect(marked).toBe([...targets('healthy'), ...targets('repaired')].reduce((n, p) => n + p.transmitted, 0));
    expect(summary.conflicts).toBeGreaterThanOrEqual(marked);
  });

  it('healthy snapshots only: the healthy and repaired requests are delivered; the broken phase is dropped on network1 br-tun from OVS\'s discard samples, against the snapshots', async () => {
    const { rows } = await analyze(['healthy']);
    for (const phase of ['healthy', 'repaired'] as const) {
      for (const ping of targets(phase)) {
        for (const p of requests(rows, phase, ping.toIp)) {
          expect(p.verdict, show(p)).toBe('delivered');
          expect(p.answered, show(p)).toBe(true);
        }
      }
    }
    for (const ping of targets('broken')) {
      for (const p of requests(rows, 'broken', ping.toIp)) {
        expect(p.verdict, show(p)).toBe('dropped');
        expect(p.drop, show(p)).toMatchObject({ host: 'network1', device: 'br-tun', table: null });
        expect(p.conflict, show(p)).toMatch(/discard/);
      }
    }
  });
});
