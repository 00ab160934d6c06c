// The shipped lab capture (test/fixtures/lab-capture/, recorded by test/lab/capture-fixture.ts) run
// through the built `hoptrace analyze` as a user runs it: what its README promises holds. No lab
// needed: the capture and the sosreport trees are files.
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import type { CaptureScenario, PingRecord } from '../lab/capture-fixture.js';

const BIN = fileURLToPath(new URL('../../dist/src/cli/main.js', import.meta.url));
const FIXTURE = fileURLToPath(new URL('../fixtures/lab-capture/', import.meta.url));
const scenario = JSON.parse(readFileSync(join(FIXTURE, 'scenario.json'), 'utf8')) as CaptureScenario;

interface Hop { host: string; kind: string; device: string; bridge: string | null; observed: boolean; namespace: string }
interface PathRow {
  pathId: string;
  flow: { srcMac: string | null; srcIp: string | null; dstIp: string | null; ipProtocol: number | null; icmpType: number | null };
  firstSeen: string;
  verdict: string;
  drop: { host: string; device: string; bridge: string | null; table: number | string | null; rule: string | null; reason: string } | null;
  hops: Hop[];
  answered: boolean | null;
}
interface Summary { summary: { sflowDatagrams: number; decodeErrors: number; paths: number; topDrops: { where: string; paths: number }[]; resolver: { unknownAgents: string[] } } }

function analyze(snapshots: 'broken' | 'healthy'): Promise<{ rows: PathRow[]; summary: Summary['summary']; stderr: string }> {
  const dir = join(FIXTURE, 'snapshots', snapshots);
  const trees = readdirSync(dir).filter((d) => d.startsWith('sosreport-')).map((d) => join(dir, d));
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [BIN, 'analyze', '--pcap', join(FIXTURE, 'sflow.pcap'), '--snapshots', ...trees, '--json'], { maxBuffer: 64 << 20 }, (error, stdout, stderr) => {
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
const show = (p: PathRow): string => JSON.stringify({ pathId: p.pathId, verdict: p.verdict, drop: p.drop, answered: p.answered, hops: p.hops.map((h) => `${h.observed ? '*' : ''}${h.host}/${h.kind}/${h.device}`) });
const targets = (phase: PingRecord['phase']): PingRecord[] => scenario.pings.filter((p) => p.phase === phase);

describe('shipped lab capture (test/fixtures/lab-capture)', () => {
  beforeAll(() => {
    if (!existsSync(BIN)) throw new Error(`${BIN} missing: run npx tsc -p tsconfig.json first`);
  });

  it('the fixture is what its README describes: a break between healthy and broken pings, replies only when healthy', () => {
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
    for (const p of scenario.pings) expect(readme).toContain(new Date(p.startMs).toISOString());
    for (const host of scenario.hosts) {
      expect(existsSync(join(FIXTURE, 'snapshots', 'broken', `sosreport-${host}`, 'sos_commands', 'openvswitch'))).toBe(true);
      expect(existsSync(join(FIXTURE, 'snapshots', 'healthy', `sosreport-${host}`, 'sos_commands', 'openvswitch'))).toBe(true);
    }
  });

  it('broken snapshots: the broken phase\'s echo requests die on network1 br-tun by the table-3 default drop, unanswered; replies are delivered', async () => {
    const { rows, summary } = await analyze('broken');
    expect(summary.sflowDatagrams).toBe(scenario.datagrams);
    expect(summary.decodeErrors).toBe(0);
    expect(summary.resolver.unknownAgents).toEqual([]);
    expect(summary.topDrops[0]?.where).toMatch(/^network1 br-tun table 3 .*priority=0 actions=drop/);
    for (const ping of targets('broken')) {
      const paths = requests(rows, 'broken', ping.toIp);
      // sampling 1: every echo request the ping sent is a path
      expect(paths.length, `${ping.target} ${ping.toIp}`).toBe(ping.transmitted);
      for (const p of paths) {
        expect(p.verdict, show(p)).toBe('dropped');
        expect(p.drop, show(p)).toMatchObject({ host: 'network1', bridge: 'br-tun', table: 3 });
        expect(p.drop?.rule, show(p)).toMatch(/priority=0 actions=drop/);
        expect(p.answered, show(p)).toBe(false);
        // seen leaving compute1 and arriving (decapsulated) on network1's br-tun
        expect(p.hops.filter((h) => h.observed).map((h) => `${h.host}/${h.device}`), show(p)).toEqual(expect.arrayContaining(['compute1/br-int', 'network1/br-tun']));
        expect(p.hops[p.hops.length - 1], show(p)).toMatchObject({ host: 'network1', device: 'br-tun' });
      }
    }
    // the replies of the healthy phase go the other way (vlan→tun on network1, tun→vlan on compute1): untouched by the break
    const replies = rows.filter((p) => p.flow.dstIp === vm1.fromIp && p.flow.icmpType === 0 && phaseOf(p) === 'healthy');
    expect(replies.length).toBeGreaterThan(0);
    for (const p of replies) expect(p.verdict, show(p)).toBe('delivered');
  });

  it('healthy snapshots: the healthy and repaired echo requests are delivered and answered', async () => {
    const { rows } = await analyze('healthy');
    for (const ping of [...targets('healthy'), ...targets('repaired')]) {
      const paths = requests(rows, ping.phase, ping.toIp);
      expect(paths.length, `${ping.phase} ${ping.target} ${ping.toIp}`).toBe(ping.transmitted);
      for (const p of paths) {
        expect(p.verdict, show(p)).toBe('delivered');
        expect(p.drop, show(p)).toBeNull();
        expect(p.answered, show(p)).toBe(true);
        expect(p.hops[0], show(p)).toMatchObject({ host: 'compute1', kind: 'vm-port' });
        expect(p.hops.some((h) => h.kind === 'tunnel'), show(p)).toBe(true);
      }
    }
    // the DHCP port's requests end in the qdhcp namespace, the router's on its qr port
    for (const p of requests(rows, 'healthy', scenario.lab.dhcp.ip)) expect(p.hops[p.hops.length - 1], show(p)).toMatchObject({ host: 'network1', namespace: scenario.lab.dhcp.namespace, device: scenario.lab.dhcp.device });
    for (const p of requests(rows, 'healthy', scenario.lab.router.ip)) expect(p.hops[p.hops.length - 1], show(p)).toMatchObject({ host: 'network1', namespace: scenario.lab.router.namespace, device: scenario.lab.router.device });
    // and the broken phase still shows as dropped on network1 br-tun: OVS's sFlow discard samples say so
    for (const ping of targets('broken')) {
      for (const p of requests(rows, 'broken', ping.toIp)) {
        expect(p.verdict, show(p)).toBe('dropped');
        expect(p.drop, show(p)).toMatchObject({ host: 'network1', device: 'br-tun' });
      }
    }
  });
});
