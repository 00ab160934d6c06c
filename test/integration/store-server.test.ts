// ServerStore against a real ClickHouse server: CLICKHOUSE_URL when set, otherwise a private
// clickhouse-server started here on loopback (Debian's package is 18.16: good for the driver
// mechanics only). What an old server cannot do (query parameters, input(), the schema's column
// types) is skipped with the version that is missing; the rest runs on any server.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, type TestContext } from 'vitest';
import { StoreError } from '../../src/errors.js';
import { SflowRowBatch } from '../../src/pipeline/rows.js';
import { MIGRATIONS } from '../../src/store/migrations.js';
import { ServerStore } from '../../src/store/server-store.js';
import { isRequired } from '../support/services.js';
import { COMPUTE, FIXTURE_COUNTS, T0, fixtureDatagrams } from './store-fixtures.js';

const REQUIRED = isRequired('clickhouse');
/** insert_deduplication_token, Map, Bool: what the schema and the decode stage need. */
const SCHEMA_MIN_VERSION = [22, 8] as const;
/** Query parameters ({name:Type}) and input(). */
const PARAMS_MIN_VERSION = [19, 9] as const;

interface Server { url: string; stop(): Promise<void>; why?: string }

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() => (typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/** Starts clickhouse-server with a private config and data directory, loopback only. */
async function startLocalServer(): Promise<Server | string> {
  const which = spawnSync('sh', ['-c', 'command -v clickhouse-server'], { encoding: 'utf8' });
  const binary = which.stdout.trim();
  if (binary === '') {
    return 'no ClickHouse server: set CLICKHOUSE_URL, or install one (Debian: apt-get install clickhouse-server, 18.16 is enough for the driver checks)';
  }
  const dir = mkdtempSync(join(tmpdir(), 'hoptrace-clickhouse-'));
  for (const sub of ['data', 'tmp', 'user_files', 'format_schemas']) mkdirSync(join(dir, sub));
  const [httpPort, tcpPort] = [await freePort(), await freePort()];
  writeFileSync(join(dir, 'users.xml'), `<yandex><profiles><default></default></profiles>
  <users><default><password></password><networks><ip>127.0.0.1</ip></networks><profile>default</profile><quota>default</quota></default></users>
  <quotas><default></default></quotas></yandex>\n`);
  writeFileSync(join(dir, 'config.xml'), `<yandex>
  <logger><level>warning</level><log>${dir}/server.log</log><errorlog>${dir}/server.err.log</errorlog></logger>
  <http_port>${httpPort}</http_port><tcp_port>${tcpPort}</tcp_port><listen_host>127.0.0.1</listen_host>
  <path>${dir}/data/</path><tmp_path>${dir}/tmp/</tmp_path><user_files_path>${dir}/user_files/</user_files_path>
  <format_schema_path>${dir}/format_schemas/</format_schema_path><users_config>${dir}/users.xml</users_config>
  <default_profile>default</default_profile><default_database>default</default_database>
  <mark_cache_size>268435456</mark_cache_size><timezone>UTC</timezone>
</yandex>\n`);
  const child: ChildProcess = spawn(binary, [`--config-file=${join(dir, 'config.xml')}`], { stdio: 'ignore' });
  const url = `http://127.0.0.1:${httpPort}`;
  const stop = async (): Promise<void> => {
    if (child.exitCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 10_000))]);
      if (child.exitCode === null) child.kill('SIGKILL');
    }
    rmSync(dir, { recursive: true, force: true });
  };
  // Wait for /ping (bounded: 30 s), or for the process to give up.
  for (let attempt = 0; attempt < 150; attempt++) {
    if (child.exitCode !== null) break;
    const ok = await fetch(`${url}/ping`).then((r) => r.ok, () => false);
    if (ok) return { url, stop };
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  let log = '';
  try { log = readFileSync(join(dir, 'server.err.log'), 'utf8').slice(-500); } catch { log = '(no error log)'; }
  await stop();
  return `clickhouse-server (${binary}) did not answer /ping within 30 s: ${log}`;
}

function atLeast(version: string, min: readonly [number, number]): boolean {
  const [major = 0, minor = 0] = version.split('.').map(Number);
  return major > min[0] || (major === min[0] && minor >= min[1]);
}

let server: Server | undefined;
let unavailable: string | undefined;
let version = '';
const database = `hoptrace_test_${process.pid}`;
let store: ServerStore;

beforeAll(async () => {
  const configured = process.env['CLICKHOUSE_URL'];
  const started = configured !== undefined && configured !== '' ? { url: configured, stop: async () => undefined } : await startLocalServer();
  if (typeof started === 'string') {
    if (REQUIRED) throw new Error(`HOPTRACE_REQUIRE_SERVICES lists clickhouse, but ${started}`);
    unavailable = started;
    return;
  }
  server = started;
  const root = new ServerStore({ url: server.url, database: 'default' });
  version = await root.serverVersion();
  await root.command(`CREATE DATABASE IF NOT EXISTS ${database}`);
  await root.close();
  store = new ServerStore({ url: server.url, database });
});

afterAll(async () => {
  if (server !== undefined) {
    const root = new ServerStore({ url: server.url, database: 'default' });
    await root.command(`DROP DATABASE IF EXISTS ${database}`).catch(() => undefined);
    await root.close();
    await store?.close();
    await server.stop();
  }
});

function needServer(ctx: TestContext, min?: readonly [number, number], what?: string): void {
  if (unavailable !== undefined) ctx.skip(unavailable);
  if (min !== undefined && !atLeast(version, min)) {
    ctx.skip(`ClickHouse ${version} has no ${what}: needs ${min.join('.')} or later (set CLICKHOUSE_URL to a newer server)`);
  }
}

describe('ServerStore: driver mechanics (any server)', () => {
  it('reports the server version', async (ctx) => {
    needServer(ctx);
    expect(version).toMatch(/^\d+\.\d+/);
  });

  it('inserts plain rows (JSONEachRow) and TSV batches and reads them back', async (ctx) => {
    needServer(ctx);
    await store.command('CREATE TABLE IF NOT EXISTS probe (id UInt64, name String, tags Array(String)) ENGINE = MergeTree ORDER BY id');
    await store.insert('probe', [
      { id: 18446744073709551615n, name: 'tab\there "quoted" é', tags: ['a', 'b'] },
      { id: 1, name: '', tags: [] },
    ]);
    await store.insert('probe', { format: 'TSV', columns: ['id', 'name'], data: Buffer.from('2\ttwo\\tparts\n'), rowCount: 1 });
    expect(await store.query('SELECT id, name, tags FROM probe ORDER BY id')).toEqual([
      { id: '1', name: '', tags: [] },
      { id: '2', name: 'two\tparts', tags: [] },
      { id: '18446744073709551615', name: 'tab\there "quoted" é', tags: ['a', 'b'] },
    ]);
    expect(await store.queryText('SELECT id FROM probe ORDER BY id', 'TabSeparated')).toBe('1\n2\n18446744073709551615\n');
  });

  it('reports ClickHouse errors as StoreError with the server code', async (ctx) => {
    needServer(ctx);
    const syntax = await store.query('SELEC 1').catch((e: unknown) => e);
    expect(syntax).toBeInstanceOf(StoreError);
    expect(syntax).toMatchObject({ code: 'query-failed', clickhouseCode: 62, retriable: false, queryId: expect.stringMatching(/^[0-9a-f-]{36}$/) });
    const missing = await store.insert('no_such_table', [{ a: 1 }]).catch((e: unknown) => e);
    expect(missing).toMatchObject({ code: 'insert-failed', clickhouseCode: 60, retriable: false });
  });

  it('marks a server that is not there as unavailable and retriable', async (ctx) => {
    needServer(ctx);
    const port = await freePort(); // nobody listens here now
    const gone = new ServerStore({ url: `http://127.0.0.1:${port}`, database, requestTimeoutMs: 5_000 });
    const error = await gone.query('SELECT 1').catch((e: unknown) => e);
    await gone.close();
    expect(error).toBeInstanceOf(StoreError);
    expect(error).toMatchObject({ code: 'unavailable', retriable: true });
  });
});

describe('ServerStore: parameters and the hoptrace schema (recent servers)', () => {
  it('binds query parameters server-side', async (ctx) => {
    needServer(ctx, PARAMS_MIN_VERSION, 'query parameters');
    const rows = await store.query<{ a: number; s: string }>('SELECT {a:UInt32} AS a, {s:String} AS s', { a: 7, s: "x' OR 1=1 --" });
    expect(rows).toEqual([{ a: 7, s: "x' OR 1=1 --" }]);
  });

  it('runs the same migrations, twice', async (ctx) => {
    needServer(ctx, SCHEMA_MIN_VERSION, 'DateTime64/Map/Bool columns or insert_deduplication_token');
    expect((await store.migrate()).applied).toEqual(MIGRATIONS.map((m) => m.id));
    const again = await store.migrate();
    expect(again.applied).toEqual([]);
    expect(again.alreadyApplied).toEqual(MIGRATIONS.map((m) => m.id));
  });

  it('stores a RowBinary sFlow batch, drops it when sent again with the same token, and queries it', async (ctx) => {
    needServer(ctx, SCHEMA_MIN_VERSION, 'DateTime64/Map/Bool columns or insert_deduplication_token');
    await store.migrate();
    const batch = new SflowRowBatch();
    for (const { input, meta } of fixtureDatagrams()) batch.add(input, meta);
    for (let round = 0; round < 2; round++) {
      for (const { table, rows } of batch.tables()) await store.insert(table, rows, { dedupToken: `server-batch:${table}` });
    }
    const n = async (sql: string, params?: Record<string, string | number>): Promise<number> => Number((await store.query<{ n: string }>(sql, params))[0]?.n);
    expect(await n('SELECT count() AS n FROM flow_samples')).toBe(FIXTURE_COUNTS.flows);
    expect(await n('SELECT count() AS n FROM sflow_datagrams')).toBe(FIXTURE_COUNTS.datagrams);
    expect(await n('SELECT count() AS n FROM quarantine')).toBe(FIXTURE_COUNTS.quarantine);
    expect(await n('SELECT sum(samples) AS n FROM flow_samples_1m')).toBe(FIXTURE_COUNTS.flows);
    const iso = (ms: number): string => new Date(ms).toISOString().replace('T', ' ').replace('Z', '');
    expect(await n(
      `SELECT count() AS n FROM flow_samples WHERE agent = {agent:String} AND input_value = {port:UInt32}
         AND received_at BETWEEN {from:DateTime64(3, 'UTC')} AND {to:DateTime64(3, 'UTC')}`,
      { agent: COMPUTE, port: 5, from: iso(T0), to: iso(T0 + 59_999) },
    )).toBe(FIXTURE_COUNTS.firstMinuteComputeFlows);
  });
});
