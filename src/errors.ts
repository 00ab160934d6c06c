// Every error hoptrace raises on purpose. Codes are stable words: they label metrics, fill the
// quarantine table's error_code column and are documented in docs/errors.md (a test checks that).

export type DecodeErrorCode = 'truncated' | 'bad-version' | 'bad-length' | 'too-many' | 'bad-value' | 'internal';
export type ParseErrorCode = 'bad-format' | 'bad-magic' | 'truncated' | 'unsupported';
export type ConfigErrorCode = 'unknown-key' | 'bad-value' | 'unreadable';
export type StoreErrorCode = 'query-failed' | 'insert-failed' | 'migration-failed' | 'unavailable';
export type BusErrorCode = 'closed' | 'overflow' | 'publish-failed';
export type UsageErrorCode = 'bad-argument';

export type HoptraceErrorCode =
  | DecodeErrorCode
  | ParseErrorCode
  | ConfigErrorCode
  | StoreErrorCode
  | BusErrorCode
  | UsageErrorCode;

/** Every code, for the documentation test and for metric label pre-registration. */
export const ERROR_CODES = [
  'truncated', 'bad-version', 'bad-length', 'too-many', 'bad-value', 'internal',
  'bad-format', 'bad-magic', 'unsupported',
  'unknown-key', 'unreadable',
  'query-failed', 'insert-failed', 'migration-failed', 'unavailable',
  'closed', 'overflow', 'publish-failed',
  'bad-argument',
] as const satisfies readonly HoptraceErrorCode[];

export class HoptraceError extends Error {
  override readonly name: string = 'HoptraceError';
  readonly code: HoptraceErrorCode;
  /** True when the same operation may succeed later (a store or broker that is down). */
  readonly retriable: boolean;
  constructor(code: HoptraceErrorCode, message: string, options?: ErrorOptions & { retriable?: boolean }) {
    super(message, options);
    this.code = code;
    this.retriable = options?.retriable ?? false;
  }
}

/** Bytes that do not follow the sFlow grammar: where (absolute byte offset, field path) and why. */
export class DecodeError extends HoptraceError {
  override readonly name = 'DecodeError';
  declare readonly code: DecodeErrorCode;
  /** Absolute byte offset in the UDP payload. */
  readonly offset: number;
  /** Field path, e.g. "datagram/sample[1]/record[0]/header_length". */
  readonly path: string;
  readonly detail: string;
  constructor(code: DecodeErrorCode, detail: string, where: { offset: number; path: string }, options?: ErrorOptions) {
    super(code, `${code} at byte ${where.offset} (${where.path}): ${detail}`, options);
    this.offset = where.offset;
    this.path = where.path;
    this.detail = detail;
  }
}

/** A file (pcap, snapshot, config) that cannot be read as what it claims to be. */
export class ParseError extends HoptraceError {
  override readonly name = 'ParseError';
  readonly source: string;
  /** 1-based line for text files, byte offset for binary files (then `line` is undefined). */
  readonly line: number | undefined;
  readonly offset: number | undefined;
  constructor(
    code: ParseErrorCode,
    detail: string,
    where: { source: string; line?: number; offset?: number },
    options?: ErrorOptions,
  ) {
    const at = where.line !== undefined ? `:${where.line}` : where.offset !== undefined ? ` at byte ${where.offset}` : '';
    super(code, `${where.source}${at}: ${detail}`, options);
    this.source = where.source;
    this.line = where.line;
    this.offset = where.offset;
  }
}

export class ConfigError extends HoptraceError {
  override readonly name = 'ConfigError';
  readonly key: string;
  readonly origin: string;
  constructor(code: ConfigErrorCode, message: string, where: { key: string; origin: string }, options?: ErrorOptions) {
    super(code, message, options);
    this.key = where.key;
    this.origin = where.origin;
  }
}

export class StoreError extends HoptraceError {
  override readonly name = 'StoreError';
  readonly queryId: string | undefined;
  readonly clickhouseCode: number | undefined;
  constructor(
    code: StoreErrorCode,
    message: string,
    where: { queryId?: string; clickhouseCode?: number } = {},
    options?: ErrorOptions & { retriable?: boolean },
  ) {
    super(code, message, options);
    this.queryId = where.queryId;
    this.clickhouseCode = where.clickhouseCode;
  }
}

export class BusError extends HoptraceError {
  override readonly name = 'BusError';
  readonly topic: string;
  constructor(code: BusErrorCode, message: string, topic: string, options?: ErrorOptions & { retriable?: boolean }) {
    super(code, message, options);
    this.topic = topic;
  }
}

/** A command line that cannot be carried out as written: the CLI exits 2. */
export class UsageError extends HoptraceError {
  override readonly name = 'UsageError';
  constructor(message: string, options?: ErrorOptions) {
    super('bad-argument', message, options);
  }
}

/** One line for a person: the message of a HoptraceError, or the message and a hint for a bug. */
export function describeError(error: unknown): string {
  if (error instanceof HoptraceError) return error.message;
  if (error instanceof Error) return `internal error: ${error.message}`;
  return `internal error: ${String(error)}`;
}
