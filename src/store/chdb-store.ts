// The embedded store: ClickHouse's own engine inside this process (npm chdb), data in a directory
// (default ./data) that survives restarts.
//
// chDB runs one engine per process, bound to one data directory: a second ChdbStore on the same
// directory shares the engine (and its current database), and opening a different directory while
// one is open is refused with StoreError('unavailable') naming both paths. Close the first store
// to switch directories.
//
// Batches: RowBinary batches (the sFlow hot path) are written to a file in a private temporary
// directory and loaded with INSERT ... SELECT FROM file(): chdb's insert() accepts only text
// formats, and on a 2-core machine file() loads the same TSV about 4x faster than insert() does
// (docs/schema.md, "Insert throughput"). Text batches and plain rows go through insert().
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Session } from 'chdb';
import { StoreError } from '../errors.js';
import { VERSION } from '../version.js';
import { runMigrations } from './migrate.js';
import { toStoreError } from './store-errors.js';
import {
  DEFAULT_RETENTION,
  IDENTIFIER,
  INSERT_SETTINGS,
  rowsToJsonEachRow,
  wireStructure,
  type EncodedRows,
  type InsertOptions,
  type MigrationReport,
  type QueryParams,
  type Retention,
  type Row,
  type Store,
} from './store.js';

export interface ChdbStoreOptions {
  /** Data directory; created when missing. */
  path: string;
  database?: string;
  retention?: Retention;
}

// The directory the process-wide engine is bound to, and how many open stores use it.
let enginePath: string | undefined;
let engineUsers = 0;

export class ChdbStore implements Store {
  readonly kind = 'chdb' as const;
  readonly database: string;
  readonly path: string;
  readonly #session: Session;
  readonly #retention: Retention;
  /** Private directory for RowBinary batch files; made on first use, removed by close(). */
  #spool: string | undefined;
  #spooled = 0;
  #closed = false;

  private constructor(session: Session, path: string, database: string, retention: Retention) {
    this.#session = session;
    this.path = path;
    this.database = database;
    this.#retention = retention;
  }

  /** Opens (creating if needed) the data directory and makes `database` current. */
  static async open(options: ChdbStoreOptions): Promise<ChdbStore> {
    const path = resolve(options.path);
    const database = options.database ?? 'hoptrace';
    if (!IDENTIFIER.test(database)) throw new StoreError('unavailable', `bad database name ${JSON.stringify(database)}`);
    if (enginePath !== undefined && enginePath !== path) {
      throw new StoreError(
        'unavailable',
        `chDB can open one data directory per process: ${enginePath} is open, so ${path} cannot be; close the other store first`,
      );
    }
    let session: Session;
    try {
      mkdirSync(path, { recursive: true });
      // 64-bit integers as JSON strings, as a ClickHouse server does by default: no precision loss.
      session = new Session(path, { connectionArgs: ['--output_format_json_quote_64bit_integers=1'] });
    } catch (error) {
      throw toStoreError('unavailable', `opening chDB data directory ${path}`, error, 'open');
    }
    enginePath = path;
    engineUsers++;
    const store = new ChdbStore(session, path, database, options.retention ?? DEFAULT_RETENTION);
    try {
      await store.command(`CREATE DATABASE IF NOT EXISTS ${database}`);
      await store.command(`USE ${database}`);
    } catch (error) {
      await store.close();
      throw error;
    }
    return store;
  }

  migrate(): Promise<MigrationReport> {
    return runMigrations(this, this.database, this.#retention, VERSION);
  }

  async insert(table: string, rows: readonly Row[] | EncodedRows, options: InsertOptions = {}): Promise<void> {
    const queryId = randomUUID();
    this.#checkOpen(queryId);
    if (!IDENTIFIER.test(table)) throw new StoreError('insert-failed', `bad table name ${JSON.stringify(table)}`, { queryId });
    const settings: Record<string, string | number> = { ...INSERT_SETTINGS };
    if (options.dedupToken !== undefined) settings['insert_deduplication_token'] = options.dedupToken;
    try {
      if (isEncoded(rows) && rows.format === 'RowBinary') {
        if (rows.rowCount === 0) return;
        await this.#insertRowBinary(table, rows, settings);
      } else if (isEncoded(rows)) {
        if (rows.rowCount === 0) return;
        await this.#session.insert({
          table: `${this.database}.${table}`,
          values: rows.data,
          format: rows.format,
          columns: rows.columns,
          settings,
        });
      } else {
        if (rows.length === 0) return;
        await this.#session.insert({
          table: `${this.database}.${table}`,
          values: Buffer.from(rowsToJsonEachRow(rows), 'utf8'),
          format: 'JSONEachRow',
          settings,
        });
      }
    } catch (error) {
      throw toStoreError('insert-failed', `insert into ${table}`, error, queryId);
    }
  }

  async #insertRowBinary(
    table: string,
    rows: Extract<EncodedRows, { format: 'RowBinary' }>,
    settingValues: Readonly<Record<string, string | number>>,
  ): Promise<void> {
    this.#spool ??= mkdtempSync(join(tmpdir(), 'hoptrace-chdb-'));
    const file = join(this.#spool, `${++this.#spooled}.bin`);
    const settings = ` SETTINGS ${Object.entries(settingValues)
      .map(([name, value]) => `${name} = ${typeof value === 'number' ? value : sqlString(value)}`)
      .join(', ')}`;
    await writeFile(file, rows.data);
    try {
      await this.#session.queryAsync(
        `INSERT INTO ${this.database}.${table} (${rows.columns.join(', ')})${settings} ` +
          `SELECT * FROM file(${sqlString(file)}, 'RowBinary', ${sqlString(wireStructure(rows))})`,
        { format: 'TSV' },
      );
    } finally {
      await unlink(file).catch(() => undefined); // already gone is fine; the directory goes at close()
    }
  }

  async query<T = Record<string, unknown>>(sql: string, params?: QueryParams): Promise<T[]> {
    const text = await this.queryText(sql, 'JSONEachRow', params);
    const rows: T[] = [];
    let start = 0;
    while (start < text.length) {
      let end = text.indexOf('\n', start);
      if (end < 0) end = text.length;
      if (end > start) rows.push(JSON.parse(text.slice(start, end)) as T);
      start = end + 1;
    }
    return rows;
  }

  async queryText(sql: string, format: string, params?: QueryParams): Promise<string> {
    const queryId = randomUUID();
    this.#checkOpen(queryId);
    try {
      const result =
        params === undefined
          ? await this.#session.queryAsync(sql, { format })
          : await this.#session.queryBindAsync(sql, params, { format });
      return result.text();
    } catch (error) {
      throw toStoreError('query-failed', 'query', error, queryId);
    }
  }

  async command(sql: string, params?: QueryParams): Promise<void> {
    await this.queryText(sql, 'TSV', params);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#session.close();
    if (this.#spool !== undefined) rmSync(this.#spool, { recursive: true, force: true });
    engineUsers--;
    if (engineUsers === 0) enginePath = undefined;
  }

  #checkOpen(queryId: string): void {
    if (this.#closed) throw new StoreError('unavailable', `chDB store on ${this.path} is closed`, { queryId });
  }
}

/** A ClickHouse string literal. */
function sqlString(text: string): string {
  return `'${text.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

function isEncoded(rows: readonly Row[] | EncodedRows): rows is EncodedRows {
  return !Array.isArray(rows);
}
