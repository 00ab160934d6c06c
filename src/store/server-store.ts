// A ClickHouse server through @clickhouse/client (HTTP): the distributed deployment's store. Same
// migrations, same SQL, same batches as ChdbStore. Every batch is sent as bytes in the request body:
//
//   plain rows   INSERT INTO t FORMAT JSONEachRow            (our JSON text: bigint stays exact)
//   TSV          INSERT INTO t (columns) FORMAT TabSeparated
//   RowBinary    INSERT INTO t (columns) SELECT * FROM input('<wire structure>') FORMAT RowBinary
//
// The schema needs DateTime64, IPv6, Map and Bool columns and insert_deduplication_token: ClickHouse
// 22.8 or later. Older servers still answer plain queries and inserts (the driver mechanics the
// 18.16 integration test checks), but not query parameters, input() or the migrations.
import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { ClickHouseLogLevel, createClient, type ClickHouseClient, type DataFormat } from '@clickhouse/client';
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

export interface ServerStoreOptions {
  /** HTTP(S) endpoint, e.g. http://clickhouse:8123. */
  url: string;
  database?: string;
  username?: string;
  password?: string;
  retention?: Retention;
  /** Per-request timeout (default 60 s: a large batch on a busy server). */
  requestTimeoutMs?: number;
}

export class ServerStore implements Store {
  readonly kind = 'server' as const;
  readonly database: string;
  readonly #options: ServerStoreOptions;
  readonly #client: ClickHouseClient;
  readonly #retention: Retention;
  #modernServer: Promise<boolean> | undefined;
  #closed = false;

  constructor(options: ServerStoreOptions) {
    const database = options.database ?? 'hoptrace';
    if (!IDENTIFIER.test(database)) throw new StoreError('unavailable', `bad database name ${JSON.stringify(database)}`);
    this.database = database;
    this.#options = options;
    this.#retention = options.retention ?? DEFAULT_RETENTION;
    this.#client = this.#makeClient(database);
  }

  /** Server version, e.g. "24.8.4.13" (also a connectivity check). */
  async serverVersion(): Promise<string> {
    const rows = await this.query<{ v: string }>('SELECT version() AS v');
    return rows[0]?.v ?? '';
  }

  /** True when the server knows INSERT_SETTINGS (ClickHouse 21.1 and later); asked once. */
  #modern(): Promise<boolean> {
    this.#modernServer ??= this.serverVersion().then(
      (version) => Number(version.split('.')[0]) >= 21,
      (error: unknown) => {
        this.#modernServer = undefined; // ask again next time: the server may just be down
        throw error;
      },
    );
    return this.#modernServer;
  }

  async migrate(): Promise<MigrationReport> {
    // Requests name the database, which the first migration creates: that one statement goes
    // through a client with no database.
    const root = this.#makeClient(undefined);
    try {
      const sql = `CREATE DATABASE IF NOT EXISTS ${this.database}`;
      await this.#withClient(root, 'migration-failed', sql, (client, queryId) => client.command({ query: sql, query_id: queryId }));
    } finally {
      await root.close();
    }
    return runMigrations(this, this.database, this.#retention, VERSION);
  }

  async insert(table: string, rows: readonly Row[] | EncodedRows, options: InsertOptions = {}): Promise<void> {
    if (!IDENTIFIER.test(table)) throw new StoreError('insert-failed', `bad table name ${JSON.stringify(table)}`);
    const settings: Record<string, string | number> = (await this.#modern()) ? { ...INSERT_SETTINGS } : {};
    if (options.dedupToken !== undefined) settings['insert_deduplication_token'] = options.dedupToken;
    let query: string;
    let body: Uint8Array;
    if (Array.isArray(rows)) {
      const plain = rows as readonly Row[];
      if (plain.length === 0) return;
      query = `INSERT INTO ${table} FORMAT JSONEachRow`;
      body = Buffer.from(rowsToJsonEachRow(plain), 'utf8');
    } else {
      const encoded = rows as EncodedRows;
      if (encoded.rowCount === 0) return;
      for (const column of encoded.columns) {
        if (!IDENTIFIER.test(column)) throw new StoreError('insert-failed', `bad column name ${JSON.stringify(column)}`);
      }
      const columns = encoded.columns.join(', ');
      query =
        encoded.format === 'RowBinary'
          ? `INSERT INTO ${table} (${columns}) SELECT * FROM input(${sqlString(wireStructure(encoded))}) FORMAT RowBinary`
          : `INSERT INTO ${table} (${columns}) FORMAT ${encoded.format === 'TSV' ? 'TabSeparated' : 'JSONEachRow'}`;
      body = encoded.data;
    }
    // exec, not insert: the client's insert() serialises objects itself, and our batches are
    // already bytes in the format the statement names.
    await this.#withClient(this.#client, 'insert-failed', `insert into ${table}`, async (client, queryId) => {
      const result = await client.exec({ query, values: bytesStream(body), clickhouse_settings: settings, query_id: queryId });
      result.stream.destroy(); // an INSERT answers nothing; release the socket
    });
  }

  async query<T = Record<string, unknown>>(sql: string, params?: QueryParams): Promise<T[]> {
    return this.#withClient(this.#client, 'query-failed', 'query', async (client, queryId) => {
      const result = await client.query({ query: sql, format: 'JSONEachRow', query_id: queryId, ...(params === undefined ? {} : { query_params: params }) });
      return result.json<T>();
    });
  }

  /** `sql` must not end in a FORMAT clause: the client appends `FORMAT <format>`. */
  async queryText(sql: string, format: string, params?: QueryParams): Promise<string> {
    return this.#withClient(this.#client, 'query-failed', 'query', async (client, queryId) => {
      const result = await client.query({
        query: sql,
        format: format as DataFormat, // any output format works for text(); the union lists the parsed ones
        query_id: queryId,
        ...(params === undefined ? {} : { query_params: params }),
      });
      return result.text();
    });
  }

  async command(sql: string, params?: QueryParams): Promise<void> {
    await this.#withClient(this.#client, 'query-failed', 'query', (client, queryId) =>
      client.command({ query: sql, query_id: queryId, ...(params === undefined ? {} : { query_params: params }) }),
    );
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#client.close();
  }

  #makeClient(database: string | undefined): ClickHouseClient {
    return createClient({
      url: this.#options.url,
      username: this.#options.username ?? 'default',
      password: this.#options.password ?? '',
      ...(database === undefined ? {} : { database }),
      request_timeout: this.#options.requestTimeoutMs ?? 60_000,
      application: 'hoptrace',
      // Failures reach the caller as StoreError; the client's own error log would say it twice.
      log: { level: ClickHouseLogLevel.OFF },
      // 64-bit integers as JSON strings, as ChdbStore returns them.
      clickhouse_settings: { output_format_json_quote_64bit_integers: 1 },
    });
  }

  async #withClient<T>(
    client: ClickHouseClient,
    code: 'query-failed' | 'insert-failed' | 'migration-failed',
    what: string,
    run: (client: ClickHouseClient, queryId: string) => Promise<T>,
  ): Promise<T> {
    const queryId = randomUUID();
    if (this.#closed) throw new StoreError('unavailable', `store for ${this.#options.url} is closed`, { queryId });
    try {
      return await run(client, queryId);
    } catch (error) {
      throw toStoreError(code, what, error, queryId);
    }
  }
}

/** A byte stream (the client rejects object-mode streams, Readable.from's default). */
function bytesStream(bytes: Uint8Array): Readable {
  return Readable.from([Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)], { objectMode: false });
}

/** A ClickHouse string literal. */
function sqlString(text: string): string {
  return `'${text.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}
