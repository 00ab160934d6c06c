// The command line as a user meets it: the built bin, real files, real sockets, exit codes and the
// one-line errors. `npm test` builds dist/ first.
import { execFile, spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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

/** A store made the way a user makes one: `import --store` of the lab's sosreports into DIR/data. */
let importedStore: Promise<{ dir: string; data: string; imported: Run }> | undefined;
function labStore(): Promise<{ dir: string; data: string; imported: Run }> {
  importedStore ??= (async () => {
    const dir = mkdtempSync(join(scratch, 'store-'));
    const data = join(dir, 'data');
    const imported = await hoptrace(['import', ...LAB_SNAPSHOTS, '--store', '--data', data]);
    if (imported.code !== 0) throw new Error(`import --store failed: ${imported.stderr}`);
    return { dir, data, imported };
  })();
  return importedStore;
}

/** `hoptrace serve` on free loopback ports over DATA, stopped (SIGTERM, by pid) when the test ends. */
async function startServe(data: string): Promise<{ pid: number; http: string; stop: () => Promise<number | null> }> {
  const child = spawn(process.execPath, [BIN, 'serve', '--listen', '127.0.0.1:0', '--http', '127.0.0.1:0', '--data', data], {
    cwd: scratch, env: { ...process.env, HOPTRACE_LOG__FORMAT: 'json' }, stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  child.stderr.on('data', (chunk: Buffer) => { log += chunk.toString(); });
  onTestFinished(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL'); });
  const http = await new Promise<string>((resolve, reject) => {
    const deadline = setTimeout(() => reject(new Error(`serve did not start:\n${log}`)), 60_000);
    const check = (): void => {
      const match = /"listen":"(127\.0\.0\.1:\d+)"[^\n]*"msg":"serving \/health/.exec(log);
      if (match !== null) { clearTimeout(deadline); resolve(match[1] as string); } else setTimeout(check, 50);
    };
    check();
  });
  const stop = (): Promise<number | null> => {
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    return exited;
  };
  return { pid: child.pid as number, http, stop };
}
function hoptrace(args: string[], options: { cwd?: string; env?: Record<string, string> } = {}): Promise<Run> {
  // HOPTRACE_HTTP__LISTEN from the calling shell would change where read commands look for a service
  const { HOPTRACE_HTTP__LISTEN: _listen, ...inherited } = process.env;
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { cwd: options.cwd ?? scratch, env: { ...inherited, ...options.env }, maxBuffer: 256 << 20 }, (error, stdout, stderr) => {
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
  it('query runs only statements that read, as the HTTP query route does: exit 2, the table stays', async () => {
    const { data } = await labStore();
    const drop = await hoptrace(['query', '--data', data, 'DROP TABLE paths']);
    expect(drop.code).toBe(2);
    expect(drop.stderr).toMatch(/^hoptrace: query runs only statements that read \(SELECT, WITH, SHOW, DESCRIBE, EXPLAIN and EXISTS\); data gets into the store with hoptrace import --store or hoptrace serve\n$/);
    const insert = await hoptrace(['query', '--data', data, '/* sneaky */ INSERT INTO paths (path_id) VALUES (\'x\')']);
    expect(insert.code).toBe(2);
    const still = await hoptrace(['query', '--json', '--data', data, '--', "-- comment first\nSELECT count() AS n FROM system.tables WHERE database = 'hoptrace' AND name = 'paths'"]);
    expect(still.stderr).toBe('');
    expect(JSON.parse(still.stdout)).toEqual({ n: '1' });
  });

  it('query --help: the --param example runs as printed; --param repeats, one name=value each', async () => {
    const { dir } = await labStore();
    const help = await hoptrace(['query', '--help']);
    const example = /\$ hoptrace (query [^\n]*--param[^\n]*\\\n[^\n]*)/.exec(help.stdout)?.[1];
    expect(example).toBeDefined();
    // the example as a user pastes it, in a directory whose ./data is a store (the default --data)
    const pasted = await new Promise<Run>((resolve) => {
      execFile('sh', ['-c', `"${process.execPath}" "${BIN}" ${(example as string).replace(/\\\n/, ' ')}`], { cwd: dir }, (error, stdout, stderr) => {
        resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : 1, stdout, stderr });
      });
    });
    expect(pasted.stderr).toBe('');
    expect(pasted.code).toBe(0);
    const two = await hoptrace(['query', '--json', '--data', join(dir, 'data'), '--param', 'a=1', '--param', 'b=2', 'SELECT {a:UInt8} + {b:UInt8} AS s']);
    expect(two.stderr).toBe('');
    expect(JSON.parse(two.stdout)).toEqual({ s: 3 });
  });

  it.each([
    { name: 'topology', args: ['topology'] },
    { name: 'paths', args: ['paths'] },
    { name: 'paths drops', args: ['paths', 'drops'] },
    { name: 'query', args: ['query', 'SELECT 1'] },
    { name: 'trace', args: ['trace', '--host', 'compute1', '--bridge', 'br-int', '--in-port', '1', '--flow', 'icmp,nw_src=192.0.2.1,nw_dst=192.0.2.2'] },
  ])('$name on a directory with no store: exit 2, one line naming the commands that make one, nothing created', async ({ args }) => {
    const missing = join(scratch, `no-store-${args.join('-').replace(/[^a-z0-9]+/gi, '-')}`);
    const run = await hoptrace([...args, '--data', missing]);
    expect(run.code).toBe(2);
    expect(run.stderr).toBe(`hoptrace: no hoptrace store in ${missing} (nothing imported or served there yet): run hoptrace import PATH --store --data ${missing}, or hoptrace serve --data ${missing}\n`);
    expect(existsSync(missing)).toBe(false);
    // an existing directory with no hoptrace tables in it is no store either, and stays empty
    mkdirSync(missing);
    const empty = await hoptrace([...args, '--data', missing]);
    expect(empty.code).toBe(2);
    expect(empty.stderr).toMatch(/^hoptrace: no hoptrace store in /);
    expect(existsSync(join(missing, 'metadata'))).toBe(false);
  });

  it('read commands find a running serve by its marker in the data directory (no env); import --store is told to send to it', async () => {
    const { data } = await labStore();
    const serve = await startServe(data);
    expect(JSON.parse(readFileSync(join(data, 'serve.json'), 'utf8'))).toMatchObject({ pid: serve.pid, http: serve.http });
    const drops = await hoptrace(['paths', 'drops', '--data', data]);
    expect(drops.stderr).toBe('');
    expect(drops.code).toBe(0);
    expect(drops.stdout).toMatch(/^no dropped paths in the last 1h\n$/);
    const topology = await hoptrace(['topology', '--data', data]);
    expect(topology.stderr).toBe('');
    expect(topology.stdout).toMatch(/^host compute1 /);
    const imported = await hoptrace(['import', LAB_SNAPSHOTS[0] as string, '--store', '--data', data]);
    expect(imported.code).toBe(1);
    expect(imported.stderr).toBe(`hoptrace: a running hoptrace serve (pid ${serve.pid}) holds ${data}: send the snapshots to it instead (hoptrace agent --collector http://${serve.http} on each host, or POST each snapshot to http://${serve.http}/v1/snapshots), or stop it and import again\n`);
    expect(await serve.stop()).toBe(0);
    expect(existsSync(join(data, 'serve.json'))).toBe(false);
  });

  it('a serve that holds the directory with no HTTP API: one line with its pid, no chDB lock message', async () => {
    const { data } = await labStore();
    const child = spawn(process.execPath, [BIN, 'serve', '--listen', '127.0.0.1:0', '--no-http', '--data', data], {
      cwd: scratch, env: { ...process.env, HOPTRACE_LOG__FORMAT: 'json' }, stdio: ['ignore', 'ignore', 'pipe'],
    });
    let log = '';
    child.stderr.on('data', (chunk: Buffer) => { log += chunk.toString(); });
    onTestFinished(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL'); });
    const deadline = Date.now() + 60_000;
    while (!/"msg":"receiving sFlow"/.test(log) || !existsSync(join(data, 'serve.json'))) {
      if (Date.now() > deadline) throw new Error(`serve did not start:\n${log}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const run = await hoptrace(['paths', '--data', data]);
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(`hoptrace: a running hoptrace serve (pid ${child.pid}) holds ${data} with its HTTP API off (--no-http): stop it, or restart it with --http HOST:PORT to read while it runs\n`);
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  });

  it('paths: several verdicts (spaces or commas), --ip checked, the empty answer names the filters', async () => {
    const { data } = await labStore();
    for (const verdict of [['dropped', 'lost'], ['dropped,lost'], ['dropped,lost', 'incomplete']]) {
      const run = await hoptrace(['paths', '--data', data, '--verdict', ...verdict]);
      expect(run.stderr).toBe('');
      expect(run.code).toBe(0);
    }
    const empty = await hoptrace(['paths', '--data', data, '--ip', '192.0.2.9', '--verdict', 'dropped']);
    expect(empty.stdout).toMatch(/^no paths for --ip 192\.0\.2\.9 --verdict dropped in the last 1h /);
    const v6 = await hoptrace(['paths', '--data', data, '--ip', '2001:db8::9', '--host', 'nosuch', '--since', '2d']);
    expect(v6.stdout).toMatch(/^no paths for --ip 2001:db8::9 --host nosuch in the last 2d /);
    const badIp = await hoptrace(['paths', '--data', data, '--ip', 'foo']);
    expect(badIp.code).toBe(2);
    expect(badIp.stderr).toBe('hoptrace: --ip "foo" is not an IPv4 or IPv6 address\n');
    const badVerdict = await hoptrace(['paths', '--data', data, '--verdict', 'dropped,gone']);
    expect(badVerdict.code).toBe(2);
    expect(badVerdict.stderr).toMatch(/^hoptrace: --verdict "gone": use one or more of delivered, dropped, lost, incomplete\n$/);
  });

  it('import --store names the store it wrote; topology lists the known hosts for an unknown --host and names the interfaces of missing outputs', async () => {
    const { data, imported } = await labStore();
    expect(imported.stdout).toContain(`(see: hoptrace topology --data ${data})`);
    const nosuch = await hoptrace(['topology', '--data', data, '--host', 'nosuch']);
    expect(nosuch.code).toBe(2);
    expect(nosuch.stderr).toBe('hoptrace: no host snapshot of nosuch in the store; hosts there: compute1, network1\n');
    const some = await hoptrace(['topology', '--data', data, '--host', 'compute1', 'nosuch']);
    expect(some.code).toBe(0);
    expect(some.stdout).toMatch(/^host compute1 /);
    expect(some.stdout).not.toMatch(/^host network1 /m);
    expect(some.stderr).toBe('hoptrace: no host snapshot of nosuch in the store; hosts there: compute1, network1\n');
    const topology = await hoptrace(['topology', '--data', data]);
    const missing = topology.stdout.split('\n').filter((l) => l.startsWith('  missing: '));
    expect(missing).toHaveLength(2);
    // each failure once, with the interfaces ethtool -S failed on
    expect(missing[0]).toBe('  missing: ethtool.S on br-int, br-phy, br-tun, lo, ovs-netdev, qbra5fe27e5-f9 (exit 94)');
  });
});
