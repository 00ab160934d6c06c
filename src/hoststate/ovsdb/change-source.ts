// "OVSDB changed" for the agent: a watch (watch.ts) that outlives ovsdb-server restarts. It connects,
// monitors, reports each change batch as one line, and on a lost connection reconnects with
// back-off and reports "ovsdb reconnected" (changes may have been missed meanwhile). Its shape is
// the agent's ChangeSource (src/agent/ovsdb-watch.ts): start(onChange) and close().
import type { Parsed } from '../snapshot.js';
import { OvsdbClient, OvsdbError, type OvsdbClientOptions } from './client.js';
import type { OvsdbChange } from './monitor.js';
import type { OvsdbState } from './state.js';
import { watchOvsdb, type OvsdbWatch } from './watch.js';

export interface OvsdbChangeSourceOptions {
  /** unix:/run/openvswitch/db.sock or tcp:HOST:PORT. */
  address: string;
  database?: string;
  monitorId?: string;
  /** Waits before each reconnection attempt, the last repeated (default 0.5, 1, 2, 5, 10 s). */
  reconnectMs?: readonly number[];
  /** Told about connection trouble once per outage, not per retry. */
  onError?: (error: OvsdbError) => void;
  client?: OvsdbClientOptions;
}

const RECONNECT_MS = [500, 1000, 2000, 5000, 10_000] as const;

/** One line for a change batch: "ovsdb Bridge,Port: +1 ~1 -0". */
export function describeChange(change: OvsdbChange): string {
  return `ovsdb ${change.tables.join(',')}: +${change.inserted} ~${change.modified} -${change.deleted}`;
}

export class OvsdbChangeSource {
  readonly #options: OvsdbChangeSourceOptions;
  #onChange: (what: string) => void = () => undefined;
  #client: OvsdbClient | undefined;
  #watch: OvsdbWatch | undefined;
  #timer: NodeJS.Timeout | undefined;
  #failures = 0;
  #everConnected = false;
  #reported = false;
  #closed = false;

  constructor(options: OvsdbChangeSourceOptions) {
    this.#options = options;
  }

  start(onChange: (what: string) => void): void {
    this.#onChange = onChange;
    void this.#connect();
  }

  /** The model as the monitor has it now; undefined while not connected. */
  state(): Parsed<OvsdbState> | undefined {
    return this.#watch?.state();
  }

  get connected(): boolean {
    return this.#watch !== undefined && this.#client?.closed === false;
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    const client = this.#client;
    this.#client = undefined;
    this.#watch = undefined;
    await client?.close();
  }

  async #connect(): Promise<void> {
    if (this.#closed) return;
    let client: OvsdbClient | undefined;
    try {
      const connected = await OvsdbClient.connect(this.#options.address, this.#options.client);
      client = connected;
      if (this.#closed) {
        await connected.close();
        return;
      }
      this.#client = connected;
      connected.onClose((error) => this.#lost(connected, error));
      const watch = await watchOvsdb(client, {
        ...(this.#options.database === undefined ? {} : { database: this.#options.database }),
        ...(this.#options.monitorId === undefined ? {} : { monitorId: this.#options.monitorId }),
      });
      this.#watch = watch;
      watch.onChange((change) => this.#onChange(describeChange(change)));
      if (this.#everConnected) this.#onChange('ovsdb reconnected');
      this.#everConnected = true;
      this.#failures = 0;
      this.#reported = false;
    } catch (error) {
      if (!(error instanceof OvsdbError)) throw error;
      this.#report(error);
      if (client !== undefined && !client.closed) await client.close(); // its onClose schedules the retry
      else this.#retry();
    }
  }

  #lost(client: OvsdbClient, error: OvsdbError | undefined): void {
    if (this.#closed || (this.#client !== undefined && this.#client !== client)) return;
    this.#client = undefined;
    this.#watch = undefined;
    if (error !== undefined) this.#report(error);
    this.#retry();
  }

  #report(error: OvsdbError): void {
    if (this.#reported) return;
    this.#reported = true;
    this.#options.onError?.(error);
  }

  #retry(): void {
    if (this.#closed || this.#timer !== undefined) return;
    const steps = this.#options.reconnectMs ?? RECONNECT_MS;
    const wait = steps[Math.min(this.#failures, steps.length - 1)] ?? 1000;
    this.#failures++;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.#connect();
    }, wait);
    this.#timer.unref();
  }
}
