// A small OVSDB JSON-RPC client (RFC 7047 §4): list_dbs, transact, monitor, monitor_cancel, echo,
// over a unix socket (`unix:/run/openvswitch/db.sock`) or TCP (`tcp:198.51.100.2:6640`). It answers
// the server's echo requests (ovsdb-server drops a peer that does not, after its inactivity probe)
// and hands every `update` notification to its listeners. Only node:net; no reconnection here: the
// caller (the agent) reconnects and takes a full snapshot when a connection ends.
import { connect, type Socket } from 'node:net';
import { HoptraceError } from '../../errors.js';
import type { ParseIssue } from '../snapshot.js';
import { JsonStreamError, JsonStreamSplitter } from './json-stream.js';
import { parseTableUpdates, type OvsdbTableUpdates } from './monitor.js';
import { rowsFromJsonTable, type OvsdbRows } from './rows.js';

export type OvsdbAddress = { kind: 'unix'; path: string } | { kind: 'tcp'; host: string; port: number };

/**
 * OVSDB client errors, with codes from src/errors.ts: `unavailable` (cannot connect, retriable),
 * `closed` (the connection ended; pending requests fail with it, retriable), `bad-format` (the
 * server sent something that is not JSON-RPC), `overflow` (a message over maxMessageBytes),
 * `query-failed` (the server answered with an error), `bad-argument` (an address we cannot read).
 */
export type OvsdbErrorCode = 'unavailable' | 'closed' | 'bad-format' | 'overflow' | 'query-failed' | 'bad-argument';

export class OvsdbError extends HoptraceError {
  override readonly name = 'OvsdbError';
  declare readonly code: OvsdbErrorCode;
  /** The server address ("unix:/path" or "tcp:host:port"). */
  readonly address: string;
  /** The JSON-RPC method of the failed request, when one failed. */
  readonly method: string | undefined;
  constructor(code: OvsdbErrorCode, message: string, where: { address: string; method?: string }, options?: ErrorOptions & { retriable?: boolean }) {
    super(code, `OVSDB ${where.address}${where.method === undefined ? '' : ` ${where.method}`}: ${message}`, options);
    this.address = where.address;
    this.method = where.method;
  }
}

/** Reads `unix:PATH`, `tcp:HOST:PORT` or `tcp:[IPv6]:PORT` (ovsdb-server --remote syntax, active side). */
export function parseOvsdbAddress(text: string): OvsdbAddress {
  if (text.startsWith('unix:') && text.length > 'unix:'.length) return { kind: 'unix', path: text.slice('unix:'.length) };
  const tcp = /^tcp:(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text);
  const port = Number(tcp?.[3]);
  const host = tcp?.[1] ?? tcp?.[2];
  if (tcp !== null && host !== undefined && port > 0 && port < 65536) return { kind: 'tcp', host, port };
  throw new OvsdbError('bad-argument', 'expected unix:PATH or tcp:HOST:PORT', { address: text });
}

export function formatOvsdbAddress(address: OvsdbAddress): string {
  if (address.kind === 'unix') return `unix:${address.path}`;
  return `tcp:${address.host.includes(':') ? `[${address.host}]` : address.host}:${address.port}`;
}

export interface OvsdbClientOptions {
  /** Give up connecting after this long (default 10 s). */
  connectTimeoutMs?: number;
  /** Fail a request the server has not answered after this long (default 30 s); the connection stays. */
  requestTimeoutMs?: number;
  /** The largest message accepted; a bigger one closes the connection (default 64 MiB). */
  maxMessageBytes?: number;
}

/** One operation of a transact (RFC 7047 §5.2); `select` is what the agent uses. */
export type OvsdbOperation =
  | { op: 'select'; table: string; where: OvsdbCondition[]; columns?: string[] }
  | { op: 'comment'; comment: string }
  | { op: 'assert'; lock: string }
  | { op: string; [key: string]: unknown };

/** [column, function, value]: ["name", "==", "br-int"]. Values in JSON notation (datumToJson). */
export type OvsdbCondition = [string, string, unknown];

/** One operation's result: rows for a select, an error object when it failed. */
export interface OvsdbOperationResult {
  rows?: unknown[];
  count?: number;
  uuid?: unknown;
  error?: string;
  details?: string;
}

/** What to monitor in one table (RFC 7047 §4.1.5 <monitor-request>). */
export interface OvsdbMonitorRequest {
  /** Columns to report; all when left out. */
  columns?: readonly string[];
  select?: { initial?: boolean; insert?: boolean; delete?: boolean; modify?: boolean };
}

export type OvsdbUpdateListener = (monitorId: string, updates: OvsdbTableUpdates, issues: ParseIssue[]) => void;
export type OvsdbCloseListener = (error: OvsdbError | undefined) => void;

interface Pending {
  method: string;
  resolve: (result: unknown) => void;
  reject: (error: OvsdbError) => void;
  timer: NodeJS.Timeout;
}

const DEFAULTS = { connectTimeoutMs: 10_000, requestTimeoutMs: 30_000, maxMessageBytes: 64 * 1024 * 1024 } as const;

export class OvsdbClient {
  /** "unix:/path" or "tcp:host:port". */
  readonly address: string;
  readonly #socket: Socket;
  readonly #options: Required<OvsdbClientOptions>;
  readonly #splitter: JsonStreamSplitter;
  readonly #pending = new Map<number, Pending>();
  readonly #updateListeners = new Set<OvsdbUpdateListener>();
  readonly #closeListeners = new Set<OvsdbCloseListener>();
  #nextId = 1;
  #closed = false;
  #closedPromise: Promise<void>;

  private constructor(socket: Socket, address: string, options: Required<OvsdbClientOptions>) {
    this.#socket = socket;
    this.address = address;
    this.#options = options;
    this.#splitter = new JsonStreamSplitter(options.maxMessageBytes);
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => this.#data(chunk));
    this.#closedPromise = new Promise((resolve) => {
      socket.on('close', () => {
        this.#finish(undefined);
        resolve();
      });
    });
    socket.on('error', (error: NodeJS.ErrnoException) => {
      this.#finish(new OvsdbError('closed', `connection failed: ${error.code ?? error.message}`, { address }, { cause: error, retriable: true }));
    });
  }

  /** Connects; rejects with OvsdbError `unavailable` when the server cannot be reached. */
  static connect(address: string | OvsdbAddress, options: OvsdbClientOptions = {}): Promise<OvsdbClient> {
    const parsed = typeof address === 'string' ? parseOvsdbAddress(address) : address;
    const text = formatOvsdbAddress(parsed);
    const settings = { ...DEFAULTS, ...options };
    return new Promise((resolve, reject) => {
      const socket = parsed.kind === 'unix' ? connect({ path: parsed.path }) : connect({ host: parsed.host, port: parsed.port });
      const fail = (error: Error & { code?: string }): void => {
        clearTimeout(timer);
        socket.destroy();
        reject(new OvsdbError('unavailable', `cannot connect: ${error.code ?? error.message}`, { address: text }, { cause: error, retriable: true }));
      };
      const timer = setTimeout(() => fail(new Error(`no connection after ${settings.connectTimeoutMs} ms`)), settings.connectTimeoutMs);
      socket.once('error', fail);
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.off('error', fail);
        resolve(new OvsdbClient(socket, text, settings));
      });
    });
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Calls `listener` for every `update` notification (of every monitor); returns its removal. */
  onUpdate(listener: OvsdbUpdateListener): () => void {
    this.#updateListeners.add(listener);
    return () => this.#updateListeners.delete(listener);
  }

  /** Calls `listener` once when the connection ends (with the error that ended it, if any). */
  onClose(listener: OvsdbCloseListener): () => void {
    this.#closeListeners.add(listener);
    return () => this.#closeListeners.delete(listener);
  }

  /** A JSON-RPC request; resolves with `result`, rejects with OvsdbError. */
  request(method: string, params: readonly unknown[]): Promise<unknown> {
    if (this.#closed) return Promise.reject(new OvsdbError('closed', 'connection is closed', { address: this.address, method }, { retriable: true }));
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new OvsdbError('unavailable', `no answer after ${this.#options.requestTimeoutMs} ms`, { address: this.address, method }, { retriable: true }));
      }, this.#options.requestTimeoutMs);
      timer.unref();
      this.#pending.set(id, { method, resolve, reject, timer });
      this.#socket.write(JSON.stringify({ id, method, params }));
    });
  }

  async listDbs(): Promise<string[]> {
    const result = await this.request('list_dbs', []);
    if (!Array.isArray(result) || !result.every((d): d is string => typeof d === 'string')) throw this.#badReply('list_dbs', result);
    return result;
  }

  /**
   * Runs operations in one transaction. Rejects with `query-failed` when an operation failed (the
   * server's error and details in the message); resolves with one result per operation.
   */
  async transact(database: string, operations: readonly OvsdbOperation[]): Promise<OvsdbOperationResult[]> {
    const result = await this.request('transact', [database, ...operations]);
    if (!Array.isArray(result)) throw this.#badReply('transact', result);
    const results = result as OvsdbOperationResult[];
    const failed = results.find((r) => typeof r === 'object' && r !== null && typeof r.error === 'string');
    if (failed !== undefined || results.length < operations.length) {
      const why = failed === undefined ? 'fewer results than operations' : `${failed.error ?? ''}${failed.details === undefined ? '' : `: ${failed.details}`}`;
      throw new OvsdbError('query-failed', why, { address: this.address, method: 'transact' });
    }
    return results;
  }

  /** `select` of one table as rows by UUID (columns: all when left out; _uuid is always asked for). */
  async select(database: string, table: string, where: OvsdbCondition[] = [], columns?: readonly string[]): Promise<OvsdbRows> {
    const operation: OvsdbOperation = { op: 'select', table, where, ...(columns === undefined ? {} : { columns: ['_uuid', ...columns] }) };
    const [result] = await this.transact(database, [operation]);
    const rows = result?.rows;
    if (!Array.isArray(rows)) throw this.#badReply('transact', result);
    // Rows are column objects: lay them out as a table so rows.ts reads them like every other form.
    const headings = [...new Set(rows.flatMap((r) => (typeof r === 'object' && r !== null ? Object.keys(r) : [])))];
    const data = rows.map((r) => headings.map((h) => (r as Record<string, unknown>)[h] ?? ['set', []]));
    const issues: ParseIssue[] = [];
    const parsed = rowsFromJsonTable({ headings, data }, `${this.address} select ${table}`, 0, issues);
    if (parsed === undefined || issues.length > 0) throw this.#badReply('transact', issues[0]?.message ?? result);
    return parsed;
  }

  /**
   * Starts monitor `monitorId`; resolves with the initial rows as table-updates (inserts). Later
   * changes come to onUpdate listeners with the same id.
   */
  async monitor(database: string, monitorId: string, requests: Readonly<Record<string, OvsdbMonitorRequest>>): Promise<{ updates: OvsdbTableUpdates; issues: ParseIssue[] }> {
    const result = await this.request('monitor', [database, monitorId, requests]);
    const parsed = parseTableUpdates(result, `${this.address} monitor ${monitorId}`);
    return { updates: parsed.value, issues: parsed.issues };
  }

  async monitorCancel(monitorId: string): Promise<void> {
    await this.request('monitor_cancel', [monitorId]);
  }

  async echo(): Promise<void> {
    await this.request('echo', ['hoptrace']);
  }

  /** Ends the connection; pending requests fail with `closed`. */
  async close(): Promise<void> {
    this.#socket.end();
    this.#socket.destroySoon();
    await this.#closedPromise;
  }

  #data(chunk: string): void {
    let messages: string[];
    try {
      messages = this.#splitter.push(chunk);
    } catch (error) {
      if (!(error instanceof JsonStreamError)) throw error;
      this.#fatal(new OvsdbError(error.reason, error.message, { address: this.address }, { cause: error }));
      return;
    }
    for (const text of messages) {
      if (this.#closed) return;
      let message: unknown;
      try {
        message = JSON.parse(text) as unknown;
      } catch (error) {
        this.#fatal(new OvsdbError('bad-format', `not JSON: ${text.slice(0, 80)}`, { address: this.address }, { cause: error }));
        return;
      }
      this.#message(message);
    }
  }

  #message(message: unknown): void {
    if (typeof message !== 'object' || message === null || Array.isArray(message)) {
      this.#fatal(new OvsdbError('bad-format', 'a JSON-RPC message must be an object', { address: this.address }));
      return;
    }
    const m = message as { id?: unknown; method?: unknown; params?: unknown; result?: unknown; error?: unknown };
    if (typeof m.method === 'string') {
      if (m.method === 'echo') {
        this.#socket.write(JSON.stringify({ id: m.id ?? null, result: m.params ?? [], error: null }));
      } else if (m.method === 'update' && Array.isArray(m.params) && m.params.length === 2) {
        const monitorId = typeof m.params[0] === 'string' ? m.params[0] : JSON.stringify(m.params[0]);
        const parsed = parseTableUpdates(m.params[1], `${this.address} update ${monitorId}`);
        for (const listener of this.#updateListeners) listener(monitorId, parsed.value, parsed.issues);
      } else if (m.id !== undefined && m.id !== null) {
        // A request we do not serve (RFC 7047 §4.1: reply with an error).
        this.#socket.write(JSON.stringify({ id: m.id, result: null, error: 'unknown method' }));
      }
      return;
    }
    const pending = typeof m.id === 'number' ? this.#pending.get(m.id) : undefined;
    if (pending === undefined) return; // a reply to a request that timed out
    this.#pending.delete(m.id as number);
    clearTimeout(pending.timer);
    if (m.error !== null && m.error !== undefined) {
      const error = typeof m.error === 'object' ? JSON.stringify(m.error) : String(m.error);
      pending.reject(new OvsdbError('query-failed', error, { address: this.address, method: pending.method }));
    } else {
      pending.resolve(m.result);
    }
  }

  #badReply(method: string, result: unknown): OvsdbError {
    const text = typeof result === 'string' ? result : (JSON.stringify(result) ?? 'undefined');
    return new OvsdbError('bad-format', `unexpected reply: ${text.slice(0, 120)}`, { address: this.address, method });
  }

  #fatal(error: OvsdbError): void {
    this.#finish(error);
    this.#socket.destroy();
  }

  #finish(error: OvsdbError | undefined): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const [id, pending] of this.#pending) {
      clearTimeout(pending.timer);
      pending.reject(error ?? new OvsdbError('closed', 'connection closed', { address: this.address, method: pending.method }, { retriable: true }));
      this.#pending.delete(id);
    }
    for (const listener of this.#closeListeners) listener(error);
    this.#closeListeners.clear();
  }
}
