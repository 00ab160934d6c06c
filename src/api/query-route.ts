// POST /v1/query {sql, format?, params?}: read-only SQL on the running service's store, so that
// `hoptrace query` works while `hoptrace serve` holds the embedded data directory. Bound to the
// service's HTTP address (loopback by default). Only statements that read are accepted.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { StoreError } from '../errors.js';
import type { Store } from '../store/store.js';

const MAX_BODY_BYTES = 1 << 20;
const READ_ONLY = /^\s*(?:--[^\n]*\n\s*|\/\*[\s\S]*?\*\/\s*)*(SELECT|WITH|SHOW|DESCRIBE|DESC|EXPLAIN|EXISTS)\b/i;
/** The statements that read, as the refusals name them. */
export const READ_STATEMENTS = 'SELECT, WITH, SHOW, DESCRIBE, EXPLAIN and EXISTS';
const FORMAT = /^[A-Za-z][A-Za-z0-9]*$/;

/** True when the SQL starts (after comments) with a statement that only reads: the rule of this route and of `hoptrace query`. */
export function isReadOnlySql(sql: string): boolean {
  return READ_ONLY.test(sql);
}

export function queryRoute(store: Store): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  return async (req, res) => {
    if (req.method !== 'POST') return reply(res, 405, { error: 'POST a JSON body {sql, format?, params?}' });
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.byteLength;
      if (size > MAX_BODY_BYTES) return reply(res, 413, { error: `body over ${MAX_BODY_BYTES} bytes` });
      chunks.push(chunk);
    }
    let body: unknown;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch (error) {
      if (!(error instanceof SyntaxError)) throw error;
      return reply(res, 400, { error: `body is not JSON: ${error.message}` });
    }
    if (typeof body !== 'object' || body === null) return reply(res, 400, { error: 'body must be a JSON object {sql, format?, params?}' });
    const { sql, format = 'JSONEachRow', params = {} } = body as { sql?: unknown; format?: unknown; params?: unknown };
    if (typeof sql !== 'string' || sql.trim() === '') return reply(res, 400, { error: '"sql" must be a non-empty string' });
    if (!isReadOnlySql(sql)) return reply(res, 403, { error: `only ${READ_STATEMENTS} are accepted here` });
    if (typeof format !== 'string' || !FORMAT.test(format)) return reply(res, 400, { error: '"format" must be a ClickHouse format name' });
    if (typeof params !== 'object' || params === null || Array.isArray(params) || !Object.values(params).every((v) => typeof v === 'string' || typeof v === 'number')) {
      return reply(res, 400, { error: '"params" must be an object of strings or numbers' });
    }
    try {
      const text = await store.queryText(sql, format, params as Record<string, string | number>);
      res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
      res.end(text);
    } catch (error) {
      if (error instanceof StoreError) return reply(res, 400, { error: error.message });
      throw error;
    }
  };
}

function reply(res: ServerResponse, status: number, body: object): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
