// POST /v1/snapshots: the collector's door for agents' host snapshots. Checks, in this order:
// method, bearer token (constant-time compare), declared and actual size (413), gzip (accepted,
// with the inflated size bounded too), JSON and the snapshot schema (400 naming the bad field's
// path). Only then is the snapshot handed to `onSnapshot` (the service publishes it to the bus).
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createGunzip } from 'node:zlib';
import { ParseError } from '../errors.js';
import type { RawSnapshot } from '../hoststate/snapshot.js';
import { decodeSnapshot, SNAPSHOT_LIMITS } from '../snapshot/codec.js';

export interface SnapshotRouteOptions {
  /** Bearer tokens accepted (several: rotation). With none, every request is refused (401)... */
  tokens: readonly string[];
  /** ...unless this is set: no authentication at all (a collector bound to loopback, tests). */
  allowUnauthenticated?: boolean;
  /** Largest body, after gunzip too (default 16 MiB). */
  maxBytes?: number;
  /** Takes the checked snapshot; a rejection is a 503 (the agent retries). */
  onSnapshot: (snapshot: RawSnapshot, meta: { remote: string }) => Promise<void>;
}

export type RouteHandler = (req: IncomingMessage, res: ServerResponse) => Promise<void>;

export function snapshotRoute(options: SnapshotRouteOptions): RouteHandler {
  const maxBytes = options.maxBytes ?? SNAPSHOT_LIMITS.maxBytes;
  const tokens = options.tokens.map(digest);
  const open = options.allowUnauthenticated === true && tokens.length === 0;
  return async (req, res) => {
    const remote = req.socket.remoteAddress ?? 'unknown';
    if (req.method !== 'POST') {
      res.setHeader('allow', 'POST');
      return reply(res, 405, { error: 'POST a host snapshot (JSON, optionally gzip) to /v1/snapshots' });
    }
    if (!open && !authorized(req.headers.authorization, tokens)) {
      res.setHeader('www-authenticate', 'Bearer realm="hoptrace"');
      drain(req);
      return reply(res, 401, { error: 'missing or wrong bearer token' });
    }
    const declared = Number(req.headers['content-length'] ?? NaN);
    if (Number.isFinite(declared) && declared > maxBytes) {
      drain(req);
      return reply(res, 413, { error: `body of ${declared} bytes is over the limit of ${maxBytes}` });
    }
    const encoding = (req.headers['content-encoding'] ?? 'identity').toLowerCase().trim();
    if (encoding !== 'identity' && encoding !== 'gzip') {
      drain(req);
      return reply(res, 415, { error: `content-encoding ${encoding} not supported (gzip or none)` });
    }
    const body = await readBody(req, encoding === 'gzip', maxBytes);
    if (body.kind === 'too-large') return reply(res, 413, { error: `body over the limit of ${maxBytes} bytes${encoding === 'gzip' ? ' (after gunzip)' : ''}` });
    if (body.kind === 'bad-gzip') return reply(res, 400, { error: `body is not valid gzip: ${body.message}` });
    let snapshot: RawSnapshot;
    try {
      snapshot = decodeSnapshot(body.bytes, { source: `POST /v1/snapshots from ${remote}`, maxBytes });
    } catch (error) {
      if (error instanceof ParseError) return reply(res, 400, { error: error.message, code: error.code });
      throw error;
    }
    try {
      await options.onSnapshot(snapshot, { remote });
    } catch (error) {
      return reply(res, 503, { error: `snapshot not accepted now: ${error instanceof Error ? error.message : String(error)}` });
    }
    reply(res, 202, { accepted: true, host: snapshot.host, takenAt: snapshot.takenAt, outputs: snapshot.outputs.length });
  };
}

/** SHA-256 both sides first: equal lengths for timingSafeEqual, and no length leak. */
function digest(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

function authorized(header: string | undefined, tokens: readonly Buffer[]): boolean {
  if (header === undefined) return false;
  const match = /^Bearer[ ]+(\S+)\s*$/i.exec(header);
  if (match === null) return false;
  const given = digest(match[1] as string);
  let ok = false;
  for (const token of tokens) ok = timingSafeEqual(given, token) || ok; // no early exit
  return ok;
}

type Body = { kind: 'ok'; bytes: Buffer } | { kind: 'too-large' } | { kind: 'bad-gzip'; message: string };

async function readBody(req: IncomingMessage, gzip: boolean, maxBytes: number): Promise<Body> {
  const source: AsyncIterable<Buffer> = gzip ? req.pipe(createGunzip()) : req;
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of source) {
      size += chunk.byteLength;
      if (size > maxBytes) {
        req.unpipe();
        drain(req);
        return { kind: 'too-large' };
      }
      chunks.push(chunk);
    }
  } catch (error) {
    if (gzip && error instanceof Error && 'code' in error && typeof error.code === 'string' && error.code.startsWith('Z_')) {
      return { kind: 'bad-gzip', message: error.message };
    }
    throw error;
  }
  return { kind: 'ok', bytes: Buffer.concat(chunks) };
}

/** Reads and discards the rest of a refused body (bounded by the server's request timeout), so the reply gets through. */
function drain(req: IncomingMessage): void {
  req.resume();
}

function reply(res: ServerResponse, status: number, body: object): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
