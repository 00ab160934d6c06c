// hoptrace query: ClickHouse SQL against the store. The embedded store's directory can be open in
// one process only; while `hoptrace serve` holds it, the query goes to that service's local HTTP
// API instead (POST /v1/query), so the same command works whether the service runs or not.
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { isReadOnlySql, READ_STATEMENTS } from '../../api/query-route.js';
import type { Config } from '../../config/schema.js';
import { StoreError, UsageError } from '../../errors.js';
import { assertStoreExists, openStore, runningService, type ServeMarker } from '../../service/open-store.js';
import type { GlobalFlags, QueryFlags } from '../main.js';
import { resolveWithDataDir } from '../resolve-config.js';

export async function runQuery(sql: string | undefined, flags: QueryFlags, globals: GlobalFlags): Promise<void> {
  const text = await querySql(sql, flags.file);
  // the same rule as the service's POST /v1/query: this command never changes the store
  if (!isReadOnlySql(text)) {
    throw new UsageError(`query runs only statements that read (${READ_STATEMENTS}); data gets into the store with hoptrace import --store or hoptrace serve`);
  }
  const params = parseParams(flags.param ?? []);
  const format = flags.json === true ? 'JSONEachRow' : (flags.format ?? (process.stdout.isTTY === true ? 'PrettyCompactMonoBlock' : 'TSVWithNames'));
  const config = resolveWithDataDir(globals, {}, flags.data);
  const output = await runOn(config, text, format, params);
  process.stdout.write(output.endsWith('\n') || output === '' ? output : `${output}\n`);
}

async function querySql(sql: string | undefined, file: string | undefined): Promise<string> {
  if (sql !== undefined && file !== undefined) throw new UsageError('give the query as an argument or with --file, not both');
  if (file !== undefined) {
    return readFile(file, 'utf8').catch((error: NodeJS.ErrnoException) => {
      throw new UsageError(`cannot read ${file}: ${error.code ?? error.message}`);
    });
  }
  if (sql === undefined || sql.trim() === '') throw new UsageError('no query: hoptrace query "SELECT ..." (tables: docs/schema.md)');
  return sql;
}

export function parseParams(pairs: readonly string[]): Record<string, string> {
  const params: Record<string, string> = {};
  for (const pair of pairs) {
    const at = pair.indexOf('=');
    if (at <= 0) throw new UsageError(`--param expects name=value, got "${pair}"`);
    const name = pair.slice(0, at);
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new UsageError(`--param name "${name}" is not an identifier`);
    params[name] = pair.slice(at + 1);
  }
  return params;
}

export async function runOn(config: Config, sql: string, format: string, params: Record<string, string>): Promise<string> {
  if (config.store.kind === 'chdb') {
    assertStoreExists(config);
    // chDB locks its directory for one process and prints its own complaint when it finds it
    // locked: ask the running service first (found by its marker, or at http.listen).
    const service = runningService(config.store.path);
    const addresses = new Set([service?.http, config.http.enabled ? localAddress(config.http.listen) : undefined]);
    for (const address of addresses) {
      if (address !== undefined && address !== null && (await serviceHolds(config, address))) return viaService(config, address, sql, format, params);
    }
    if (service !== undefined) throw heldBy(service, config.store.path);
  }
  const store = await openStore(config).catch((error: unknown) => {
    if (config.store.kind === 'chdb' && error instanceof StoreError && error.code === 'unavailable') {
      throw new StoreError('unavailable', `${error.message}. Is another hoptrace process using ${config.store.path}? Stop it, or query through its HTTP API (http.listen in its configuration).`, {}, { cause: error });
    }
    throw error;
  });
  try {
    return await store.queryText(sql, format, params);
  } finally {
    await store.close();
  }
}

/** The one line for a directory a running service holds while its HTTP API cannot be asked. */
function heldBy(service: ServeMarker, dir: string): StoreError {
  if (service.http === null) {
    return new StoreError('unavailable', `a running hoptrace serve (pid ${service.pid}) holds ${dir} with its HTTP API off (--no-http): stop it, or restart it with --http HOST:PORT to read while it runs`);
  }
  return new StoreError('unavailable', `a running hoptrace serve (pid ${service.pid}) holds ${dir} and its HTTP API at ${service.http} did not answer: pass its address with HOPTRACE_HTTP__LISTEN=HOST:PORT, or stop it`);
}

/** True when a hoptrace serve answers at `address` and holds this data directory. */
async function serviceHolds(config: Config, address: string): Promise<boolean> {
  if (config.store.kind !== 'chdb') return false;
  try {
    const response = await fetch(`http://${address}/health`, { signal: AbortSignal.timeout(1000) });
    const health = (await response.json()) as { store?: { kind?: string; path?: string } | null };
    return health.store?.kind === 'chdb' && health.store.path === resolve(config.store.path);
  } catch (error) {
    if (error instanceof Error) return false; // nothing (or something else) listens there: open the directory ourselves
    throw error;
  }
}

function localAddress(listen: string): string {
  return listen.replace(/^0\.0\.0\.0:/, '127.0.0.1:').replace(/^\[::\]:/, '[::1]:');
}

async function viaService(config: Config, address: string, sql: string, format: string, params: Record<string, string>): Promise<string> {
  const url = `http://${address}/v1/query`;
  let response: Response;
  try {
    response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ sql, format, params }) });
  } catch (error) {
    throw new StoreError('unavailable', `the data directory ${config.store.kind === 'chdb' ? config.store.path : ''} is in use by another process (a running hoptrace serve?), and its HTTP API at ${url} did not answer (${(error as Error).message}); query while it runs with --config pointing at the same http.listen, or stop it first`);
  }
  const body = await response.text();
  if (!response.ok) {
    let message = body;
    try {
      message = (JSON.parse(body) as { error?: string }).error ?? body;
    } catch (error) {
      if (!(error instanceof SyntaxError)) throw error; // not JSON: show the body as it is
    }
    throw new StoreError('query-failed', `query via the running service failed: ${message}`);
  }
  return body;
}
