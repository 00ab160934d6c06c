// The one place that turns configuration into a Store: chDB embedded or a ClickHouse server. Also
// what the CLI needs to know about an embedded data directory before it opens one: is there a
// hoptrace store in it at all, and does a running `hoptrace serve` hold it (the marker file).
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Config } from '../config/schema.js';
import { UsageError } from '../errors.js';
import type { Store } from '../store/store.js';

export async function openStore(config: Config): Promise<Store> {
  const retention = { rawDays: config.retention.rawDays, sampleDays: config.retention.sampleDays, rollupDays: config.retention.rollupDays };
  if (config.store.kind === 'chdb') {
    const { ChdbStore } = await import('../store/chdb-store.js');
    return ChdbStore.open({ path: config.store.path, retention });
  }
  const { ServerStore } = await import('../store/server-store.js');
  return new ServerStore({
    url: config.store.url,
    database: config.store.database,
    username: config.store.username,
    password: config.store.password,
    retention,
  });
}

/** The store directory when none is configured (config schema default). */
const DEFAULT_DATA_DIR = './data';

/** ` --data DIR` for a printed command line, or nothing for the default directory. */
export function dataFlag(path: string): string {
  return resolve(path) === resolve(DEFAULT_DATA_DIR) ? '' : ` --data ${path}`;
}

/**
 * True when `dir` holds a hoptrace store: chDB keeps each table's definition in
 * metadata/<database>/<table>.sql, and schema_migrations is the first table the migrations make.
 * Looking does not create anything (opening chDB on a missing directory would).
 */
export function storeExists(dir: string): boolean {
  return existsSync(join(dir, 'metadata', 'hoptrace', 'schema_migrations.sql'));
}

/**
 * For commands that only read the store (query, paths, topology, trace, analyze without
 * --snapshots): a UsageError (exit 2) naming the commands that create one when the embedded
 * directory holds no hoptrace store. Nothing to check for a ClickHouse server.
 */
export function assertStoreExists(config: Config): void {
  if (config.store.kind !== 'chdb' || storeExists(config.store.path)) return;
  const dir = config.store.path;
  throw new UsageError(`no hoptrace store in ${dir} (nothing imported or served there yet): run hoptrace import PATH --store${dataFlag(dir)}, or hoptrace serve${dataFlag(dir)}`);
}

// --- the running service's marker --------------------------------------------------------------
// chDB locks its directory for one process. `hoptrace serve` writes DIR/serve.json while it runs so
// that read commands find its HTTP API (and say who holds the directory) instead of failing on the lock.

export const SERVE_MARKER = 'serve.json';

export interface ServeMarker {
  pid: number;
  /** host:port of its HTTP API, reachable from this host; null with --no-http. */
  http: string | null;
  startedAt: string;
}

export function writeServeMarker(dir: string, marker: ServeMarker): void {
  writeFileSync(join(dir, SERVE_MARKER), `${JSON.stringify(marker)}\n`);
}

/** Removes the marker if it is this process's (a later service on the same directory wrote its own). */
export function removeServeMarker(dir: string, pid = process.pid): void {
  if (readServeMarker(dir)?.pid === pid) rmSync(join(dir, SERVE_MARKER), { force: true });
}

/** The marker of a service that is still running, or undefined (none, unreadable, or its process is gone). */
export function runningService(dir: string): ServeMarker | undefined {
  const marker = readServeMarker(dir);
  return marker !== undefined && marker.pid !== process.pid && processAlive(marker.pid) ? marker : undefined;
}

function readServeMarker(dir: string): ServeMarker | undefined {
  let text: string;
  try {
    text = readFileSync(join(dir, SERVE_MARKER), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    if (error instanceof SyntaxError) return undefined; // half-written or foreign: as if absent
    throw error;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const { pid, http, startedAt } = value as Record<string, unknown>;
  if (typeof pid !== 'number' || !Number.isSafeInteger(pid) || pid <= 0) return undefined;
  return { pid, http: typeof http === 'string' ? http : null, startedAt: typeof startedAt === 'string' ? startedAt : '' };
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists, run by another user
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
