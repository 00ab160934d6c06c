// Where the agent sends a snapshot: a directory (agent layout, src/snapshot/dir.ts), the
// collector's HTTP endpoint (POST /v1/snapshots, gzip, bearer token, retries with back-off, a
// bounded spool of the snapshots not delivered yet), or the bus (topic hoptrace.snapshots.v1,
// key = host). A snapshot is the host's whole state: when the spool is full the oldest goes first,
// because a newer one supersedes it.
import { setTimeout as sleep } from 'node:timers/promises';
import { gzipSync } from 'node:zlib';
import { TOPICS, type Bus } from '../bus/bus.js';
import { HoptraceError } from '../errors.js';
import type { RawSnapshot } from '../hoststate/snapshot.js';
import { encodeSnapshot } from '../snapshot/codec.js';
import { writeSnapshotDir } from '../snapshot/dir.js';

export interface ShipResult {
  /** Delivered now (false: spooled for a later attempt, or dropped). */
  delivered: boolean;
  /** Where it went: a path, a URL, a topic. */
  target: string;
  /** Snapshots waiting in the spool after this call. */
  spooled: number;
  /** Snapshots dropped so far because the spool was full or the collector refused them. */
  dropped: number;
  detail?: string;
}

export interface SnapshotSink {
  readonly kind: 'directory' | 'http' | 'bus';
  ship(snapshot: RawSnapshot): Promise<ShipResult>;
  close(): Promise<void>;
}

export class DirectorySink implements SnapshotSink {
  readonly kind = 'directory' as const;
  readonly #root: string;
  constructor(root: string) {
    this.#root = root;
  }
  async ship(snapshot: RawSnapshot): Promise<ShipResult> {
    const { path, existed } = await writeSnapshotDir(this.#root, snapshot);
    return { delivered: true, target: path, spooled: 0, dropped: 0, ...(existed ? { detail: 'already there' } : {}) };
  }
  async close(): Promise<void> {}
}

export class BusSink implements SnapshotSink {
  readonly kind = 'bus' as const;
  readonly #bus: Bus;
  constructor(bus: Bus) {
    this.#bus = bus;
  }
  async ship(snapshot: RawSnapshot): Promise<ShipResult> {
    await this.#bus.publish(TOPICS.SNAPSHOTS, [{ key: snapshot.host, value: encodeSnapshot(snapshot) }]);
    return { delivered: true, target: TOPICS.SNAPSHOTS, spooled: 0, dropped: 0 };
  }
  async close(): Promise<void> {
    await this.#bus.close();
  }
}

export interface HttpSinkOptions {
  /** Collector base URL (http://host:8080) or the full endpoint (…/v1/snapshots). */
  url: string;
  token?: string;
  /** Attempts per ship() call before the snapshot stays in the spool (default 4). */
  attempts?: number;
  /** Back-off between attempts, ms (default 500, doubled each time, at most 10 s). */
  backoffMs?: number;
  /** Snapshots kept while the collector is unreachable (default 16). */
  spoolSize?: number;
  /** Per request (default 30 s). */
  requestTimeoutMs?: number;
}

/** HTTP statuses worth another try: the collector is busy or restarting. */
const RETRY_STATUS = new Set([408, 425, 429, 500, 502, 503, 504]);

export class HttpSink implements SnapshotSink {
  readonly kind = 'http' as const;
  readonly #url: string;
  readonly #options: HttpSinkOptions;
  readonly #spool: Buffer[] = [];
  #dropped = 0;

  constructor(options: HttpSinkOptions) {
    this.#options = options;
    this.#url = snapshotEndpoint(options.url);
  }

  get url(): string {
    return this.#url;
  }

  /** Queues the snapshot (gzip'd) and sends the spool, oldest first, until one fails. */
  async ship(snapshot: RawSnapshot): Promise<ShipResult> {
    this.#spool.push(gzipSync(encodeSnapshot(snapshot)));
    const max = this.#options.spoolSize ?? 16;
    while (this.#spool.length > max) {
      this.#spool.shift();
      this.#dropped++;
    }
    let detail: string | undefined;
    let sentNewest = false;
    while (this.#spool.length > 0) {
      const body = this.#spool[0] as Buffer;
      const outcome = await this.#send(body);
      if (outcome.kind === 'retry-later') { detail = outcome.detail; break; }
      this.#spool.shift();
      if (this.#spool.length === 0) sentNewest = outcome.kind === 'ok';
      if (outcome.kind === 'refused') { this.#dropped++; detail = outcome.detail; }
    }
    return { delivered: sentNewest, target: this.#url, spooled: this.#spool.length, dropped: this.#dropped, ...(detail === undefined ? {} : { detail }) };
  }

  async #send(body: Buffer): Promise<{ kind: 'ok' | 'refused' | 'retry-later'; detail?: string }> {
    const attempts = this.#options.attempts ?? 4;
    let delay = this.#options.backoffMs ?? 500;
    let detail = '';
    for (let attempt = 1; attempt <= attempts; attempt++) {
      try {
        const response = await fetch(this.#url, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'content-encoding': 'gzip',
            ...(this.#options.token === undefined ? {} : { authorization: `Bearer ${this.#options.token}` }),
          },
          body,
          signal: AbortSignal.timeout(this.#options.requestTimeoutMs ?? 30_000),
        });
        const text = await response.text();
        if (response.ok) return { kind: 'ok' };
        detail = `HTTP ${response.status}: ${text.slice(0, 300)}`;
        // 4xx other than the busy ones: this snapshot will never be taken (bad token, too big, invalid).
        if (!RETRY_STATUS.has(response.status)) return { kind: 'refused', detail };
      } catch (error) {
        detail = error instanceof Error ? `${error.message}${error.cause instanceof Error ? ` (${error.cause.message})` : ''}` : String(error);
      }
      if (attempt < attempts) {
        await sleep(delay);
        delay = Math.min(delay * 2, 10_000);
      }
    }
    return { kind: 'retry-later', detail };
  }

  async close(): Promise<void> {}
}

/** http://collector:8080 → http://collector:8080/v1/snapshots; a URL naming the path stays. */
export function snapshotEndpoint(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch (error) {
    throw new HoptraceError('bad-argument', `--collector ${JSON.stringify(url)} is not a URL (e.g. http://192.0.2.10:8080)`, { cause: error });
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new HoptraceError('bad-argument', `--collector ${url}: only http and https`);
  if (parsed.pathname === '/' || parsed.pathname === '') parsed.pathname = '/v1/snapshots';
  return parsed.toString();
}
