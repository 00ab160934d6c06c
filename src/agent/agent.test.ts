import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CommandSpec } from '../hoststate/commands.js';
import type { RawSnapshot } from '../hoststate/snapshot.js';
import { findSnapshotDirs, readSnapshotDir } from '../snapshot/dir.js';
import { runAgent, type SnapshotReport } from './agent.js';
import type { ChangeSource } from './ovsdb-watch.js';
import { DirectorySink, type ShipResult, type SnapshotSink } from './sinks.js';

const CATALOG: CommandSpec[] = [
  { id: 'hostname', scope: 'host', argv: () => ['printf', 'loop-host\n'], sos: [], purpose: 't' },
  { id: 'ovs-vsctl.list-br', scope: 'host', argv: () => ['printf', 'br-x\n'], sos: [], purpose: 't' },
  { id: 'per-bridge', scope: 'bridge', argv: (p) => ['printf', '%s', p.bridge], sos: [], purpose: 't' },
];

/** A change source the test fires by hand (what OVSDB does on a real host). */
class ManualChanges implements ChangeSource {
  fire: (what: string) => void = () => undefined;
  closed = false;
  start(onChange: (what: string) => void): void { this.fire = onChange; }
  async close(): Promise<void> { this.closed = true; }
}

/** Waits until `done()` holds, polling; fails after `ms`. */
async function until(done: () => boolean, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!done()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('runAgent', () => {
  let dir: string;
  beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'hoptrace-agent-unit-')); });
  afterEach(() => { rmSync(dir, { recursive: true, force: true }); });

  it('--once: one snapshot, trigger start, written to the directory', async () => {
    const reports: SnapshotReport[] = [];
    const summary = await runAgent({ collect: { commands: CATALOG }, sink: new DirectorySink(dir), once: true, onSnapshot: (r) => reports.push(r) });
    expect(summary).toEqual({ snapshots: 1, delivered: 1, failedShips: 0 });
    expect(reports[0]).toMatchObject({ host: 'loop-host', trigger: 'start', outputs: 3, failed: 0, bridges: 1, shipped: { delivered: true } });
    const dirs = await findSnapshotDirs(dir);
    expect(dirs).toHaveLength(1);
    expect((await readSnapshotDir(dirs[0]!)).outputs.map((o) => o.id)).toEqual(['hostname', 'ovs-vsctl.list-br', 'per-bridge']);
  });

  it('takes a snapshot after an OVSDB change, keeps going when the sink fails, stops on abort', async () => {
    const changes = new ManualChanges();
    const abort = new AbortController();
    const triggers: string[] = [];
    const errors: string[] = [];
    let calls = 0;
    const sink: SnapshotSink = {
      kind: 'directory',
      async ship(snapshot: RawSnapshot): Promise<ShipResult> {
        calls++;
        if (calls === 2) throw new Error('disk full');
        return { delivered: true, target: snapshot.host, spooled: 0, dropped: 0 };
      },
      async close() {},
    };
    const running = runAgent({
      collect: { commands: CATALOG }, sink, intervalMs: 3_600_000, debounceMs: 10, changes, signal: abort.signal,
      onSnapshot: (r) => triggers.push(r.trigger), onError: (m) => errors.push(m),
    });
    await until(() => triggers.length === 1);
    changes.fire('ovsdb update: Bridge');
    changes.fire('ovsdb update: Port'); // same burst: one snapshot
    await until(() => triggers.length === 2);
    changes.fire('ovsdb update: Interface');
    await until(() => triggers.length === 3);
    abort.abort();
    const summary = await running;
    expect(triggers).toEqual(['start', 'ovsdb-change', 'ovsdb-change']);
    expect(summary).toEqual({ snapshots: 3, delivered: 2, failedShips: 1 });
    expect(errors).toEqual([expect.stringMatching(/^snapshot of loop-host at .* not delivered: disk full$/)]);
    expect(changes.closed).toBe(true);
  });
});
