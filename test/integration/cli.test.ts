// The command line as a user meets it: the built bin, real files, real sockets, exit codes and the
// one-line errors. `npm test` builds dist/ first.
import { execFile, spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it, onTestFinished } from 'vitest';

const BIN = fileURLToPath(new URL('../../dist/src/cli/main.js', import.meta.url));
const SFLOW = fileURLToPath(new URL('../../../shared/testdata/sflow/', import.meta.url));
const CORPUS = fileURLToPath(new URL('../../../shared/testdata/corpus/ovs-sflow-10k.pcap', import.meta.url));
const LAB = fileURLToPath(new URL('../fixtures/lab-capture/', import.meta.url));
const LAB_PCAP = join(LAB, 'sflow.pcap');
const LAB_SNAPSHOTS = ['sosreport-compute1', 'sosreport-network1'].map((d) => join(LAB, 'snapshots', 'healthy', d));
const scratch = mkdtempSync(join(tmpdir(), 'hoptrace-cli-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

interface Run { code: number; stdout: string; stderr: string }
function hoptrace(args: string[], options: { cwd?: string; env?: Record<string, string> } = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { cwd: options.cwd ?? scratch, env: { ...process.env, ...options.env }, maxBuffer: 256 << 20 }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : 1, stdout, stderr });
    });
  });
}

describe('hoptrace CLI', () => {
  it.each(['serve', 'collector', 'decode', 'replay', 'query', 'config', 'agent', 'import', 'topology', 'analyze', 'trace'])('%s --help teaches with an example', async (command) => {
    const run = await hoptrace([command, '--help']);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('Usage: hoptrace');
    if (command !== 'config') expect(run.stdout).toContain('$ hoptrace');
  });

  it.each([
    { name: 'unknown command', args: ['frobnicate'], stderr: /unknown command/ },
    { name: 'unknown flag', args: ['decode', '--nope', 'x.pcap'], stderr: /unknown option/ },
    { name: 'bad port', args: ['decode', '--port', '70000', 'x.pcap'], stderr: /port 1-65535/ },
    { name: 'missing file', args: ['decode', 'does-not-exist.pcap'], stderr: /^hoptrace: cannot read does-not-exist\.pcap: no such file\n$/ },
    { name: 'bad config key', args: ['config'], env: { HOPTRACE_STORE__PAHT: 'x' }, stderr: /HOPTRACE_STORE__PAHT/ },
    { name: 'collector without kafka', args: ['collector'], stderr: /--brokers/ },
    { name: 'topology at a non-time', args: ['topology', '--at', 'yesterday-ish'], stderr: /^hoptrace: --at "yesterday-ish" is not a time/ },
    { name: 'topology of nothing', args: ['topology', '--snapshots', 'no-such-dir'], stderr: /no-such-dir: cannot read/ },
    { name: 'import of nothing', args: ['import', 'no-such-dir'], stderr: /^hoptrace: nothing imported: no-such-dir: cannot read/ },
    { name: 'rate and afap together', args: ['replay', '--rate', '5', '--as-fast-as-possible', CORPUS], stderr: /exclude each other/ },
  ])('$name: exit 2 and one line saying what to do', async ({ args, env, stderr }) => {
    const run = await hoptrace(args, env === undefined ? {} : { env });
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(stderr);
    expect(run.stderr).not.toMatch(/\n\s+at /); // no stack trace
  });

  it('decode prints one JSON datagram per line', async () => {
    const run = await hoptrace(['decode', join(SFLOW, 'akvorado-icmpv4.pcap')]);
    expect(run.code).toBe(0);
    const lines = run.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ frame: 1, agent: '127.0.0.1' });
  });

  it('decode reports undecodable datagrams as lines with their error and exits 0', async () => {
    const run = await hoptrace(['decode', join(SFLOW, 'tcpdump-sflow_multiple_counter_30_pdus.pcap')]);
    expect(run.code).toBe(0);
    const errors = run.stdout.trim().split('\n').map((l) => JSON.parse(l) as { error?: { code: string } }).filter((l) => l.error !== undefined);
    expect(errors.map((e) => e.error?.code)).toEqual(['bad-version', 'bad-version', 'bad-version', 'bad-version', 'bad-version']);
  });

  it('decode --summary --json counts the corpus as its README says', async () => {
    const run = await hoptrace(['decode', '--summary', '--json', CORPUS]);
    expect(run.code).toBe(0);
    const summary = JSON.parse(run.stdout) as { datagrams: number; samples: Record<string, number>; records: Record<string, number> };
    expect(summary.datagrams).toBe(10_000);
    expect(summary.samples).toEqual({ flow: 63_328, counter: 24 });
    expect(summary.records['extended_switch']).toBe(63_328);
  });

  it('a bad pcap is one line, exit 2', async () => {
    const bad = join(scratch, 'bad.pcap');
    writeFileSync(bad, 'this is not a capture');
    const run = await hoptrace(['decode', bad]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/^hoptrace: .*bad\.pcap.*\n$/);
  });

  it('output piped into a reader that stops early (`| head -1`): exit 0, nothing on stderr', async () => {
    // analyze prints hundreds of lines; the reader takes one and closes the pipe (EPIPE for the writer)
    const child = spawn(process.execPath, [BIN, 'analyze', '--pcap', LAB_PCAP, '--snapshots', ...LAB_SNAPSHOTS], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    const first = await new Promise<string>((resolve) => {
      child.stdout.setEncoding('utf8').once('data', (d: string) => {
        child.stdout.destroy();
        resolve(d);
      });
    });
    const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
    expect(first).toMatch(/^path /);
    expect(stderr).toBe('');
    expect(code).toBe(0);
  });

  it('replay sends every datagram to the target', async () => {
    const socket = createSocket('udp4');
    let received = 0;
    socket.on('message', () => { received++; });
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()));
    const port = socket.address().port;
    const run = await hoptrace(['replay', '--rate', '20000', '--json', '--target', `127.0.0.1:${port}`, join(SFLOW, 'tcpdump-sflow-print-v6.pcap'), join(SFLOW, 'ndpi-sflow.pcap')]);
    expect(run.code).toBe(0);
    const summary = JSON.parse(run.stdout) as { sent: number };
    expect(summary.sent).toBe(25 + 9);
    const deadline = Date.now() + 5000;
    while (received < summary.sent && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    socket.close();
    expect(received).toBe(summary.sent);
  });

  it('serve stores what it receives, flushes on SIGTERM, and query reads it afterwards', async () => {
    const dir = mkdtempSync(join(scratch, 'serve-'));
    const child = spawn(process.execPath, [BIN, 'serve', '--listen', '127.0.0.1:0', '--http', '127.0.0.1:0', '--data', join(dir, 'data')], {
      cwd: dir, env: { ...process.env, HOPTRACE_LOG__FORMAT: 'json' }, stdio: ['ignore', 'ignore', 'pipe'],
    });
    let log = '';
    child.stderr.on('data', (chunk: Buffer) => { log += chunk.toString(); });
    onTestFinished(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL'); });
    const started = (pattern: RegExp): Promise<string> => new Promise<string>((resolve, reject) => {
      const deadline = setTimeout(() => reject(new Error(`serve did not start:\n${log}`)), 60_000);
      const check = (): void => {
        const match = pattern.exec(log);
        if (match !== null) { clearTimeout(deadline); resolve(match[1] as string); } else setTimeout(check, 50);
      };
      check();
    });
    const port = Number(await started(/"listen":"127\.0\.0\.1:(\d+)"[^\n]*"msg":"receiving sFlow"/));
    const http = await started(/"listen":"(127\.0\.0\.1:\d+)"[^\n]*"msg":"serving \/health/);
    const replay = await hoptrace(['replay', '--rate', '5000', '--target', `127.0.0.1:${port}`, join(SFLOW, 'tcpdump-sflow-print-v6.pcap'), join(SFLOW, 'akvorado-icmpv4.pcap')]);
    expect(replay.code).toBe(0);
    // While serve holds the data directory, query goes through its HTTP API, with the same command.
    const sql = 'SELECT count() AS datagrams, sum(samples) AS samples FROM sflow_datagrams';
    let live: Run | undefined;
    const deadline = Date.now() + 30_000;
    do {
      live = await hoptrace(['query', '--json', '--data', join(dir, 'data'), sql], { env: { HOPTRACE_HTTP__LISTEN: http } });
      if (live.code === 0 && JSON.parse(live.stdout).datagrams === '26') break;
      await new Promise((r) => setTimeout(r, 200));
    } while (Date.now() < deadline);
    expect(live.stderr).toBe('');
    expect(JSON.parse(live.stdout)).toEqual({ datagrams: '26', samples: String(61 + 1) });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(log).toMatch(/"msg":"stopped"/);
    const query = await hoptrace(['query', '--json', '--data', join(dir, 'data'), 'SELECT count() AS datagrams, sum(samples) AS samples FROM sflow_datagrams']);
    expect(query.stderr).toBe('');
    expect(JSON.parse(query.stdout)).toEqual({ datagrams: '26', samples: String(61 + 1) });
  });
});
