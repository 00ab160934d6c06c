// hoptrace query: ClickHouse SQL against the store. The embedded store's directory can be open in
// one process only; while `hoptrace serve` holds it, the query goes to that service's local HTTP
// API instead (POST /v1/query), so the same command works whether the service runs or not.
import { readFile } from 'node:fs/promises';
import type { Config } from '../../config/schema.js';
import { StoreError, UsageError } from '../../errors.js';
import { openStore } from '../../service/open-store.js';
import type { GlobalFlags, QueryFlags } from '../main.js';
import { resolveWithDataDir } from '../resolve-config.js';

/** ClickHouse's "another instance holds this directory" (CANNOT_OPEN_FILE on the status lock). */
const LOCKED = /Cannot lock file|already running/i;

export async function runQuery(sql: string | undefined, flags: QueryFlags, globals: GlobalFlags): Promise<void> {
  const text = await querySql(sql, flags.file);
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

async function runOn(config: Config, sql: string, format: string, params: Record<string, string>): Promise<string> {
  let store;
  try {
    store = await openStore(config);
  } catch (error) {
    if (config.store.kind === 'chdb' && error instanceof StoreError && LOCKED.test(error.message)) {
      return viaService(config, sql, format, params);
    }
    throw error;
  }
  try {
    return await store.queryText(sql, format, params);
  } finally {
    await store.close();
  }
}

async function viaService(config: Config, sql: string, format: string, params: Record<string, string>): Promise<string> {
  const url = `http://${config.http.listen.replace(/^0\.0\.0\.0:/, '127.0.0.1:')}/v1/query`;
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
