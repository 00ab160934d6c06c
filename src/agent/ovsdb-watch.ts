// "OVSDB changed": the agent's second trigger. A minimal OVSDB JSON-RPC monitor (RFC 7047 §4.1.5)
// on the database socket: it asks for no initial rows and reports each `update` notification as a
// change of the Bridge, Port, Interface, Mirror or sFlow tables (statistics columns left out, so
// counters moving every few seconds do not count as changes). It reconnects with back-off when
// ovsdb-server restarts. The full OVSDB client (src/hoststate/ovsdb/) may replace it behind the
// same ChangeSource interface.
import { connect, type Socket } from 'node:net';

export interface ChangeSource {
  /** Starts watching; `onChange` is called for every change batch (callers debounce). */
  start(onChange: (what: string) => void): void;
  close(): Promise<void>;
}

/** Columns whose change means the topology or the flows' meaning may have changed. */
const WATCHED: Record<string, string[]> = {
  Bridge: ['name', 'ports', 'datapath_type', 'fail_mode', 'protocols', 'sflow', 'other_config', 'external_ids'],
  Port: ['name', 'interfaces', 'tag', 'trunks', 'vlan_mode', 'other_config', 'external_ids'],
  Interface: ['name', 'type', 'ofport', 'options', 'external_ids', 'mac_in_use', 'ifindex', 'error'],
  sFlow: ['agent', 'targets', 'sampling', 'header', 'polling'],
  Mirror: ['name', 'select_src_port', 'select_dst_port', 'output_port'],
};
const RECONNECT_MS = [500, 1000, 2000, 5000, 10_000] as const;
const MAX_LINE_BYTES = 64 * 1024 * 1024;

export interface OvsdbWatchOptions {
  /** Path of the unix socket (db.sock), e.g. /run/openvswitch/db.sock. */
  socketPath: string;
  database?: string;
  /** Told about connection trouble (once per state change, not per retry). */
  onError?: (message: string) => void;
}

export class OvsdbMonitorSource implements ChangeSource {
  readonly #options: OvsdbWatchOptions;
  #socket: Socket | undefined;
  #closed = false;
  #failures = 0;
  #timer: NodeJS.Timeout | undefined;
  #reported = false;
  #onChange: (what: string) => void = () => undefined;

  constructor(options: OvsdbWatchOptions) {
    this.#options = options;
  }

  start(onChange: (what: string) => void): void {
    this.#onChange = onChange;
    this.#connect();
  }

  #connect(): void {
    if (this.#closed) return;
    const socket = connect(this.#options.socketPath);
    this.#socket = socket;
    let buffer = '';
    let connected = false;
    socket.setEncoding('utf8');
    socket.on('connect', () => {
      connected = true;
      if (this.#failures > 0) this.#onChange('ovsdb reconnected');
      this.#failures = 0;
      this.#reported = false;
      const requests: Record<string, { columns: string[]; select: { initial: boolean } }> = {};
      for (const [table, columns] of Object.entries(WATCHED)) requests[table] = { columns, select: { initial: false } };
      socket.write(JSON.stringify({ id: 'hoptrace-monitor', method: 'monitor', params: [this.#options.database ?? 'Open_vSwitch', null, requests] }));
    });
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      if (buffer.length > MAX_LINE_BYTES) { socket.destroy(new Error('OVSDB message over 64 MiB')); return; }
      for (;;) {
        const end = jsonEnd(buffer);
        if (end < 0) break;
        const text = buffer.slice(0, end);
        buffer = buffer.slice(end);
        this.#message(socket, text);
      }
    });
    socket.on('error', (error: NodeJS.ErrnoException) => {
      if (!this.#reported) this.#options.onError?.(`OVSDB monitor on ${this.#options.socketPath}: ${error.code ?? error.message}${connected ? '' : ' (retrying)'}`);
      this.#reported = true;
    });
    socket.on('close', () => {
      if (this.#closed) return;
      const delay = RECONNECT_MS[Math.min(this.#failures, RECONNECT_MS.length - 1)] ?? 10_000;
      this.#failures++;
      this.#timer = setTimeout(() => this.#connect(), delay);
      this.#timer.unref();
    });
  }

  #message(socket: Socket, text: string): void {
    let message: unknown;
    try {
      message = JSON.parse(text);
    } catch (error) {
      if (!(error instanceof SyntaxError)) throw error;
      socket.destroy(new Error(`OVSDB sent something that is not JSON: ${error.message}`));
      return;
    }
    if (typeof message !== 'object' || message === null) return;
    const { method, id, params, error } = message as { method?: unknown; id?: unknown; params?: unknown; error?: unknown };
    if (method === 'echo') { socket.write(JSON.stringify({ id, result: params ?? [], error: null })); return; }
    if (method === 'update' && Array.isArray(params)) {
      const tables = typeof params[1] === 'object' && params[1] !== null ? Object.keys(params[1] as object) : [];
      this.#onChange(`ovsdb update: ${tables.join(', ') || 'rows'}`);
      return;
    }
    if (id === 'hoptrace-monitor' && error !== null && error !== undefined) {
      this.#options.onError?.(`OVSDB refused the monitor: ${JSON.stringify(error)}`);
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    const socket = this.#socket;
    if (socket === undefined || socket.destroyed) return;
    await new Promise<void>((resolve) => {
      socket.once('close', () => resolve());
      socket.destroy();
    });
  }
}

/**
 * Where the first complete JSON value in `text` ends (OVSDB sends values back to back, with no
 * separator), or -1 when it is not complete yet. Strings are skipped with their escapes.
 */
export function jsonEnd(text: string): number {
  let depth = 0;
  let inString = false;
  let started = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
      continue;
    }
    if (c === '"') inString = true;
    else if (c === '{' || c === '[') { depth++; started = true; }
    else if (c === '}' || c === ']') {
      depth--;
      if (started && depth === 0) return i + 1;
    }
  }
  return -1;
}
