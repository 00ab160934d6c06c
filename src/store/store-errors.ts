// Turning driver errors (chdb's ChdbError family, @clickhouse/client's ClickHouseError, Node socket
// errors) into StoreError: the ClickHouse code, our query id, and whether retrying can help.
import { StoreError, type StoreErrorCode } from '../errors.js';

/**
 * ClickHouse error codes (src/Common/ErrorCodes.cpp) after which the same request may succeed:
 * the server was busy, short of memory or lost a connection, not the request's fault.
 */
export const RETRIABLE_CLICKHOUSE_CODES: ReadonlySet<number> = new Set([
  159, // TIMEOUT_EXCEEDED
  164, // READONLY (a replica in read-only mode)
  202, // TOO_MANY_SIMULTANEOUS_QUERIES
  203, // NO_FREE_CONNECTION
  209, // SOCKET_TIMEOUT
  210, // NETWORK_ERROR
  241, // MEMORY_LIMIT_EXCEEDED
  242, // TABLE_IS_READ_ONLY
  252, // TOO_MANY_PARTS
  319, // UNKNOWN_STATUS_OF_INSERT
  425, // SYSTEM_ERROR
  999, // KEEPER_EXCEPTION
]);

/** Node socket error codes meaning "the server is not there (now)". */
const CONNECTION_ERRNOS: ReadonlySet<string> = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH',
  'EAI_AGAIN', 'ENOTFOUND', 'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT',
]);

/** "Code: 62. DB::Exception: ..." -> 62. */
export function clickhouseCodeOf(error: unknown): number | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const fields = error as { clickhouseCode?: unknown; code?: unknown; message?: unknown };
  if (typeof fields.clickhouseCode === 'number') return fields.clickhouseCode;
  // @clickhouse/client's ClickHouseError carries the server's code as a numeric string.
  if (typeof fields.code === 'string' && /^\d+$/.test(fields.code)) return Number(fields.code);
  if (typeof fields.message === 'string') {
    // "Code: 62. DB::Exception: ..." (current servers), "Code: 81, e.displayText() = ..." (before 20.x)
    const match = /^Code: (\d+)[.,]/.exec(fields.message);
    if (match !== null) return Number(match[1]);
  }
  return undefined;
}

/** True for socket-level failures anywhere in the cause chain. */
export function isConnectionError(error: unknown): boolean {
  for (let current = error, depth = 0; typeof current === 'object' && current !== null && depth < 5; depth++) {
    const fields = current as { code?: unknown; cause?: unknown; message?: unknown };
    if (typeof fields.code === 'string' && CONNECTION_ERRNOS.has(fields.code)) return true;
    if (typeof fields.message === 'string' && /socket hang up|ECONNREFUSED|ECONNRESET|Timeout error/i.test(fields.message)) return true;
    current = fields.cause;
  }
  return false;
}

/** A StoreError for `error`, keeping it as `cause`. StoreErrors pass through unchanged. */
export function toStoreError(code: StoreErrorCode, what: string, error: unknown, queryId: string): StoreError {
  if (error instanceof StoreError) return error;
  const clickhouseCode = clickhouseCodeOf(error);
  const connection = isConnectionError(error);
  const retriable = connection || (clickhouseCode !== undefined && RETRIABLE_CLICKHOUSE_CODES.has(clickhouseCode));
  const detail = error instanceof Error ? firstLine(error.message) : String(error);
  return new StoreError(
    connection ? 'unavailable' : code,
    `${what} failed (query ${queryId}${clickhouseCode !== undefined ? `, ClickHouse code ${clickhouseCode}` : ''}): ${detail}`,
    { queryId, ...(clickhouseCode !== undefined ? { clickhouseCode } : {}) },
    { cause: error, retriable },
  );
}

// ClickHouse messages repeat the rows around a parse error over many lines; the first line says
// what went wrong, and the full text stays on `cause`.
function firstLine(message: string): string {
  const cut = message.indexOf('\n');
  return cut < 0 ? message : `${message.slice(0, cut)} ...`;
}
