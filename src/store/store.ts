// The storage interface the stages see (DESIGN.md "One code path, two deployments"). Two
// implementations: ChdbStore (embedded ClickHouse engine, npm chdb) and ServerStore (a ClickHouse
// server through @clickhouse/client). Only cli/ picks one; everything else takes a Store.
//
// All SQL is ClickHouse SQL. Table names in SQL are unqualified: each store makes its database
// (default `hoptrace`) the current one. Values never enter SQL text: queries bind named
// parameters server-side, written {name:Type} in the SQL (ClickHouse "queries with parameters").

/** A value in a row or a query parameter, as ClickHouse JSON formats spell it. */
export type RowValue =
  | string
  | number
  | bigint
  | boolean
  | null
  | readonly RowValue[]
  | { readonly [key: string]: RowValue };

/** One row as a plain object: column name -> value. Columns left out get their DEFAULT. */
export type Row = Readonly<Record<string, RowValue>>;

/**
 * Rows already serialised by their producer (the hot path: sFlow samples). `data` holds `rowCount`
 * rows in `format`, with exactly `columns` in that order. RowBinary also names each column's type
 * on the wire (`types`); it may be simpler than the column's (IPv6 as String) and is converted on
 * insert, as INSERT ... SELECT converts.
 */
export type EncodedRows =
  | {
      readonly format: 'TSV' | 'JSONEachRow';
      readonly columns: readonly string[];
      readonly data: Uint8Array;
      readonly rowCount: number;
    }
  | {
      readonly format: 'RowBinary';
      readonly columns: readonly string[];
      readonly types: readonly string[];
      readonly data: Uint8Array;
      readonly rowCount: number;
    };

export interface InsertOptions {
  /**
   * insert_deduplication_token: a second insert with the same token into the same table is
   * dropped (the sFlow tables keep a deduplication window; see docs/schema.md). Derive it from
   * what the batch is (e.g. topic, partition, offset range, table), never from the clock.
   */
  dedupToken?: string;
}

/** Named query parameters, bound server-side to {name:Type} placeholders. */
export type QueryParams = Readonly<Record<string, RowValue>>;

/** How long each kind of data is kept (config `retention`). */
export interface Retention {
  /** sflow_datagrams and quarantine. */
  rawDays: number;
  /** flow_samples, counter_samples, discard_samples. */
  sampleDays: number;
  /** Per-minute rollups. */
  rollupDays: number;
}

export const DEFAULT_RETENTION: Retention = { rawDays: 7, sampleDays: 30, rollupDays: 90 };

export interface MigrationReport {
  database: string;
  /** Migrations run by this call, in order. */
  applied: string[];
  /** Migrations found already recorded in schema_migrations. */
  alreadyApplied: string[];
  /** Tables whose TTL was changed to match the configured retention. */
  retentionChanged: string[];
}

export interface Store {
  readonly kind: 'chdb' | 'server';
  /** The database holding hoptrace's tables (current for every query). */
  readonly database: string;
  /** Creates the database and applies pending migrations (idempotent; run on every start). */
  migrate(): Promise<MigrationReport>;
  /**
   * Writes one batch. Plain objects are sent as JSONEachRow (64-bit integers may be bigint);
   * EncodedRows are sent as they are. Rejects with StoreError('insert-failed'), `retriable` set
   * when the same batch may succeed later (connection lost, server overloaded).
   */
  insert(table: string, rows: readonly Row[] | EncodedRows, options?: InsertOptions): Promise<void>;
  /**
   * Runs a SELECT and returns its rows as objects (JSONEachRow). 64-bit integers come back as
   * strings (output_format_json_quote_64bit_integers=1, in both implementations).
   */
  query<T = Record<string, unknown>>(sql: string, params?: QueryParams): Promise<T[]>;
  /**
   * Runs a query and returns its output in a ClickHouse format (PrettyCompact, TSV, CSV...). The
   * store adds the FORMAT clause: `sql` must not have one.
   */
  queryText(sql: string, format: string, params?: QueryParams): Promise<string>;
  /** Runs a statement that returns nothing (DDL, ALTER, OPTIMIZE). */
  command(sql: string, params?: QueryParams): Promise<void>;
  /** Releases the connection (ChdbStore: the data directory). Idempotent. */
  close(): Promise<void>;
}

/**
 * Settings of every insert, in both stores. optimize_on_insert=0: a ReplacingMergeTree would
 * otherwise collapse equal keys inside each inserted block, a sort-and-merge per insert that finds
 * nothing (row ids are unique within a batch; replays collapse at merge or with FINAL). Measured on
 * chDB: about twice the flow rows/s with it off.
 */
export const INSERT_SETTINGS: Readonly<Record<string, number>> = { optimize_on_insert: 0 };

/** Table names the stores accept: ClickHouse identifiers, no quoting games. */
export const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** "name Type, ..." for a RowBinary batch: the structure argument of file() and input(). */
export function wireStructure(rows: Extract<EncodedRows, { format: 'RowBinary' }>): string {
  let out = '';
  for (let i = 0; i < rows.columns.length; i++) {
    const name = rows.columns[i] as string;
    if (!IDENTIFIER.test(name)) throw new RangeError(`bad column name ${JSON.stringify(name)}`);
    out += `${i === 0 ? '' : ', '}${name} ${rows.types[i] ?? ''}`;
  }
  return out;
}

/**
 * JSONEachRow text for plain rows. bigint is written as a quoted decimal, which ClickHouse reads
 * into (U)Int64 columns exactly (the same spelling it uses on output).
 */
export function rowsToJsonEachRow(rows: readonly Row[]): string {
  const lines = new Array<string>(rows.length + 1);
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i] as Row;
    let line: string;
    try {
      // without a replacer: several times faster; a row holding a bigint throws and takes the slow way
      line = JSON.stringify(row);
    } catch (error) {
      if (!(error instanceof TypeError)) throw error;
      line = JSON.stringify(row, bigintAsString);
    }
    lines[i] = line;
  }
  lines[rows.length] = '';
  return lines.join('\n');
}

function bigintAsString(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? value.toString() : value;
}
