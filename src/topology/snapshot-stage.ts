// The snapshot stage: host snapshots from the bus (agents via POST /v1/snapshots, or straight to
// Kafka) → topology → consistency checks → store. Checks look across hosts (a tunnel's remote_ip
// must belong to a known host), so the stage keeps the latest topology of every host it has seen
// (small: one per host) and checks each new snapshot against the others.
//
// A snapshot that fails to decode is logged with where and why, counted, and skipped (the bus
// commits it: retrying bad bytes would block the topic); a store failure rejects the batch so the
// bus hands it over again.
import { ParseError } from '../errors.js';
import { TOPICS, type Bus, type Consumer } from '../bus/bus.js';
import type { RawSnapshot } from '../hoststate/snapshot.js';
import { decodeSnapshot } from '../snapshot/codec.js';
import type { Store } from '../store/store.js';
import { buildTopology } from './build.js';
import { checkTopology } from './checks.js';
import type { HostTopology } from './model.js';
import { storeSnapshot } from './store.js';

export interface SnapshotStageLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface SnapshotStageStats {
  stored: number;
  rejected: number;
  findings: number;
}

export class SnapshotStage {
  readonly stats: SnapshotStageStats = { stored: 0, rejected: 0, findings: 0 };
  readonly #latest = new Map<string, HostTopology>();
  readonly #store: Store;
  readonly #log: SnapshotStageLog;
  #consumer: Consumer | undefined;

  readonly #listeners: ((topology: HostTopology, raw: RawSnapshot) => void)[] = [];

  constructor(store: Store, log: SnapshotStageLog) {
    this.#store = store;
    this.#log = log;
  }

  /** Called with every snapshot once stored (the path stage judges paths by them). */
  onSnapshot(listener: (topology: HostTopology, raw: RawSnapshot) => void): void {
    this.#listeners.push(listener);
  }

  start(bus: Bus, group = 'hoptrace-snapshots'): void {
    this.#consumer = bus.consume(
      TOPICS.SNAPSHOTS,
      async (batch) => {
        for (const message of batch) await this.handle(message.value, `bus ${TOPICS.SNAPSHOTS} key ${message.key}`);
      },
      { group, maxBatch: 16, lingerMs: 50 },
    );
  }

  /** Decodes, builds, checks and stores one snapshot. Returns false when the bytes were rejected. */
  async handle(bytes: Uint8Array, source: string): Promise<boolean> {
    let raw;
    try {
      raw = decodeSnapshot(bytes, { source });
    } catch (error) {
      if (!(error instanceof ParseError)) throw error;
      this.stats.rejected++;
      this.#log.warn({ err: error.message, source }, 'host snapshot rejected');
      return false;
    }
    const topology = buildTopology(raw);
    const previous = this.#latest.get(raw.host);
    const isLatest = previous === undefined || Date.parse(previous.takenAt) <= Date.parse(topology.takenAt);
    const others = [...this.#latest.values()].filter((t) => t.host !== raw.host);
    const findings = checkTopology([topology, ...others]).filter((f) => f.host === raw.host);
    await storeSnapshot(this.#store, raw, topology, findings);
    if (isLatest) this.#latest.set(raw.host, topology);
    for (const listener of this.#listeners) listener(topology, raw);
    this.stats.stored++;
    this.stats.findings += findings.length;
    this.#log.info({ host: raw.host, takenAt: raw.takenAt, source: raw.source, findings: findings.length, issues: topology.issues.length }, 'host snapshot stored');
    return true;
  }

  async stop(): Promise<void> {
    await this.#consumer?.stop();
    this.#consumer = undefined;
  }
}
