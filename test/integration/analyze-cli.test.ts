// `hoptrace analyze` as a user runs it: what it says before and around the analysis.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { windowOf } from '../../src/cli/commands/analyze.js';

const BIN = fileURLToPath(new URL('../../dist/src/cli/main.js', import.meta.url));
const LAB = fileURLToPath(new URL('../fixtures/lab-capture/', import.meta.url));
const CORPUS = fileURLToPath(new URL('../../../shared/testdata/corpus/ovs-sflow-10k.pcap', import.meta.url));
const snapshots = (set: string, hosts = ['compute1', 'network1']): string[] => hosts.map((h) => join(LAB, 'snapshots', set, `sosreport-${h}`));

function hoptrace(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : 1, stdout, stderr });
    });
  });
}

describe('hoptrace analyze (CLI)', () => {
  it('a capture from exporters no snapshot knows: says so on stderr before the paths, naming the agent', async () => {
    // the corpus comes from agent 127.0.0.1, the lab snapshots are compute1 and network1: nothing can be placed
    const run = await hoptrace(['analyze', '--pcap', CORPUS, '--snapshots', ...snapshots('broken'), '--verdict', 'dropped']);
    expect(run.code).toBe(0);
    expect(run.stderr).toMatch(/^hoptrace: none of the capture's sFlow agents \(127\.0\.0\.1\) is an address of a host in the snapshots \(compute1, network1\): every path will be incomplete/m);
  }, 120_000);

  it('a capture with one host\'s snapshot missing: names the agent whose samples cannot be placed', async () => {
    const run = await hoptrace(['analyze', '--pcap', join(LAB, 'sflow.pcap'), '--snapshots', ...snapshots('broken', ['compute1']), '--json']);
    expect(run.code).toBe(0);
    expect(run.stderr).toMatch(/^hoptrace: sFlow agents with no snapshot: 198\.51\.100\.179: their samples cannot be placed/m);
  });

  it('a capture cut short: the whole records before the cut are analyzed, one warning line', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hoptrace-analyze-cut-'));
    try {
      const whole = readFileSync(join(LAB, 'sflow.pcap'));
      const cut = join(dir, 'cut.pcap');
      writeFileSync(cut, whole.subarray(0, Math.floor(whole.length / 2) + 7));
      const run = await hoptrace(['analyze', '--pcap', cut, '--snapshots', ...snapshots('broken'), '--json']);
      expect(run.code).toBe(0);
      expect(run.stderr).toMatch(/^hoptrace: .*cut\.pcap: capture cut short at byte \d+ .*: read the \d+ complete records before it\n$/);
      const summary = JSON.parse(run.stdout.trim().split('\n').pop() ?? '{}') as { summary: { sflowDatagrams: number; paths: number } };
      expect(summary.summary.sflowDatagrams).toBeGreaterThan(10);
      expect(summary.summary.paths).toBeGreaterThan(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('--verdict takes several, spaced or comma-separated, and refuses an unknown one', async () => {
    const verdicts = async (...v: string[]): Promise<string[]> => {
      const run = await hoptrace(['analyze', '--pcap', join(LAB, 'sflow.pcap'), '--snapshots', ...snapshots('broken'), '--json', '--verdict', ...v]);
      expect(run.code).toBe(0);
      return [...new Set(run.stdout.trim().split('\n').slice(0, -1).map((l) => (JSON.parse(l) as { verdict: string }).verdict))].sort();
    };
    expect(await verdicts('dropped,delivered')).toEqual(['delivered', 'dropped']);
    expect(await verdicts('dropped', 'delivered')).toEqual(['delivered', 'dropped']);
    const bad = await hoptrace(['analyze', '--pcap', join(LAB, 'sflow.pcap'), '--snapshots', ...snapshots('broken'), '--verdict', 'dropped,gone']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toBe('hoptrace: --verdict gone: use delivered, dropped, lost, incomplete\n');
  });

  it('--ip keeps the paths of one address, by either side of a router NAT; the text says how many it shows; a non-address is exit 2', async () => {
    interface P { flow: { srcIp: string | null; dstIp: string | null; icmpType: number | null }; nat: { srcIp: string; dstIp: string } | null }
    const json = async (...args: string[]): Promise<{ paths: P[]; summary: { paths: number; shown: number } }> => {
      const run = await hoptrace(['analyze', '--pcap', join(LAB, 'sflow.pcap'), '--snapshots', ...snapshots('healthy'), '--json', ...args]);
      expect(run.code, run.stderr).toBe(0);
      const lines = run.stdout.trim().split('\n').map((l) => JSON.parse(l) as P & { summary?: { paths: number; shown: number } });
      const last = lines.pop();
      return { paths: lines, summary: last?.summary ?? { paths: -1, shown: -1 } };
    };
    const all = await json();
    const vm1 = await json('--ip', '203.0.113.11');
    expect(vm1.paths.length).toBeGreaterThan(0);
    expect(vm1.paths.length).toBeLessThan(all.paths.length);
    expect(vm1.summary).toMatchObject({ paths: all.summary.paths, shown: vm1.paths.length });
    for (const p of vm1.paths) expect([p.flow.srcIp, p.flow.dstIp, p.nat?.srcIp, p.nat?.dstIp], JSON.stringify(p.flow)).toContain('203.0.113.11');
    // the router's SNAT address: vm1's requests to the external host and their replies (inside addresses, nat the outside)
    const gateway = await json('--ip', '203.0.113.200');
    const viaNat = gateway.paths.filter((p) => p.nat !== null && p.flow.icmpType !== null);
    expect(viaNat.length, JSON.stringify(gateway.paths.map((p) => p.flow))).toBeGreaterThan(0);
    for (const p of viaNat) expect([p.nat?.srcIp, p.nat?.dstIp]).toContain('203.0.113.200');
    expect(viaNat.some((p) => p.flow.srcIp === '203.0.113.11' && p.flow.icmpType === 8)).toBe(true);
    const text = await hoptrace(['analyze', '--pcap', join(LAB, 'sflow.pcap'), '--snapshots', ...snapshots('healthy'), '--ip', '203.0.113.11', '--verdict', 'delivered']);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(new RegExp(`\\nshown: \\d+ of ${all.summary.paths} paths \\(--ip 203\\.0\\.113\\.11 --verdict delivered\\); the summary counts them all\\n`));
    const bad = await hoptrace(['analyze', '--pcap', join(LAB, 'sflow.pcap'), '--snapshots', ...snapshots('healthy'), '--ip', '203.0.113']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toBe('hoptrace: --ip "203.0.113" is not an IPv4 or IPv6 address\n');
  });

  it('--window takes milliseconds or a unit; nonsense is one line, exit 2', async () => {
    expect(windowOf('2000')).toBe(2000);
    expect(windowOf('500ms')).toBe(500);
    expect(windowOf('2s')).toBe(2000);
    expect(windowOf('1.5s')).toBe(1500);
    for (const bad of ['abc', '5', '-1s', '1h', '']) expect(() => windowOf(bad), bad).toThrow(/--window .*: a duration from 10ms to 600s/);
    const run = await hoptrace(['analyze', '--pcap', join(LAB, 'sflow.pcap'), '--snapshots', ...snapshots('broken'), '--window', 'abc']);
    expect(run.code).toBe(2);
    expect(run.stderr).toBe('hoptrace: --window abc: a duration from 10ms to 600s (2000, 500ms, 2s)\n');
  });
});
