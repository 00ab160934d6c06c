// The agent's loop: a snapshot at start, then every `intervalMs` and whenever OVSDB reports a change
// (debounced: a burst of changes, e.g. Neutron plugging a port, gives one snapshot once it settles).
// Never two collections at once; a trigger during a collection queues one more. Each snapshot goes
// to the sink; a failing sink is reported and the loop goes on.
import type { RawSnapshot, SnapshotTrigger } from '../hoststate/snapshot.js';
import { collectSnapshot, type CollectOptions } from './collect.js';
import type { ChangeSource } from './ovsdb-watch.js';
import type { ShipResult, SnapshotSink } from './sinks.js';

export interface AgentOptions {
  collect: CollectOptions;
  sink: SnapshotSink;
  /** Default 30 s. */
  intervalMs?: number;
  /** Quiet time after an OVSDB change before the snapshot (default 1500 ms). */
  debounceMs?: number;
  /** OVSDB change trigger (none: interval only). */
  changes?: ChangeSource;
  /** One snapshot, then return. */
  once?: boolean;
  /** Ends the loop (SIGINT/SIGTERM in the CLI). */
  signal?: AbortSignal;
  /** After each snapshot (the CLI prints a line). */
  onSnapshot?: (report: SnapshotReport) => void;
  /** Sink failures and trigger trouble. */
  onError?: (message: string) => void;
}

export interface SnapshotReport {
  host: string;
  takenAt: string;
  trigger: SnapshotTrigger;
  outputs: number;
  /** Outputs whose command failed (exit code not 0, or could not run). */
  failed: number;
  bridges: number;
  namespaces: number;
  bytes: number;
  collectMs: number;
  shipped: ShipResult | { delivered: false; error: string };
}

export interface AgentSummary {
  snapshots: number;
  delivered: number;
  failedShips: number;
}

export async function runAgent(options: AgentOptions): Promise<AgentSummary> {
  const summary: AgentSummary = { snapshots: 0, delivered: 0, failedShips: 0 };
  const take = async (trigger: SnapshotTrigger): Promise<void> => {
    const started = performance.now();
    const snapshot = await collectSnapshot({ ...options.collect, trigger });
    const collectMs = Math.round(performance.now() - started);
    let shipped: SnapshotReport['shipped'];
    try {
      shipped = await options.sink.ship(snapshot);
    } catch (error) {
      shipped = { delivered: false, error: error instanceof Error ? error.message : String(error) };
      options.onError?.(`snapshot of ${snapshot.host} at ${snapshot.takenAt} not delivered: ${shipped.error}`);
    }
    summary.snapshots++;
    if (shipped.delivered) summary.delivered++;
    else summary.failedShips++;
    options.onSnapshot?.(reportOf(snapshot, trigger, collectMs, shipped));
  };

  if (options.once === true) {
    await take('start');
    return summary;
  }

  const intervalMs = options.intervalMs ?? 30_000;
  const debounceMs = options.debounceMs ?? 1500;
  let pending: SnapshotTrigger | undefined;
  let wake: (() => void) | undefined;
  let debounce: NodeJS.Timeout | undefined;
  const request = (trigger: SnapshotTrigger): void => {
    // An OVSDB change outranks the interval in the record: it says why the state is new.
    if (pending === undefined || trigger === 'ovsdb-change') pending = trigger;
    wake?.();
  };
  const interval = setInterval(() => request('interval'), intervalMs);
  options.changes?.start(() => {
    if (debounce !== undefined) clearTimeout(debounce);
    debounce = setTimeout(() => request('ovsdb-change'), debounceMs);
  });
  const stopped = new Promise<void>((resolve) => {
    if (options.signal?.aborted === true) resolve();
    options.signal?.addEventListener('abort', () => { resolve(); wake?.(); }, { once: true });
  });
  try {
    pending = 'start';
    while (options.signal?.aborted !== true) {
      if (pending === undefined) {
        await Promise.race([new Promise<void>((resolve) => { wake = resolve; }), stopped]);
        wake = undefined;
        continue;
      }
      const trigger = pending;
      pending = undefined;
      await take(trigger);
    }
  } finally {
    clearInterval(interval);
    if (debounce !== undefined) clearTimeout(debounce);
    await options.changes?.close();
  }
  return summary;
}

export function reportOf(snapshot: RawSnapshot, trigger: SnapshotTrigger, collectMs: number, shipped: SnapshotReport['shipped']): SnapshotReport {
  let bytes = 0;
  let failed = 0;
  const bridges = new Set<string>();
  const namespaces = new Set<string>();
  for (const output of snapshot.outputs) {
    bytes += output.stdout.length;
    if (output.exitCode !== 0) failed++;
    if (output.bridge !== undefined) bridges.add(output.bridge);
    if (output.namespace !== undefined) namespaces.add(output.namespace);
  }
  return { host: snapshot.host, takenAt: snapshot.takenAt, trigger, outputs: snapshot.outputs.length, failed, bridges: bridges.size, namespaces: namespaces.size, bytes, collectMs, shipped };
}
