import { mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ParseError } from '../errors.js';
import type { RawSnapshot } from '../hoststate/snapshot.js';
import { commandFileName, findSnapshotDirs, readSnapshotDir, stampOf, takenAtOf, writeSnapshotDir } from './dir.js';

function snapshot(takenAt = '2026-11-25T08:30:00.123Z'): RawSnapshot {
  return {
    format: 'hoptrace.snapshot.v1',
    host: 'network-1',
    takenAt,
    source: 'agent',
    trigger: 'ovsdb-change',
    producer: 'hoptrace test',
    outputs: [
      { id: 'ovs-ofctl.dump-flows', argv: ['ip', 'netns', 'exec', 'lab', 'ovs-ofctl', 'dump-flows', 'br-int'], bridge: 'br-int', origin: 'agent', stdout: ' cookie=0x0, table=0, priority=0 actions=NORMAL\n', stderr: '', exitCode: 0, durationMs: 3 },
      { id: 'ovs-ofctl.dump-flows', argv: ['ovs-ofctl', 'dump-flows', 'br-tun'], bridge: 'br-tun', origin: 'agent', stdout: '', stderr: 'not a bridge\n', exitCode: 1 },
      { id: 'netns.ip.route', argv: ['ip', 'netns', 'exec', 'qrouter-1', 'ip', '-j', 'route', 'show', 'table', 'all'], namespace: 'qrouter-1', origin: 'agent', stdout: '[{"dst":"default"}]\n', stderr: '', exitCode: 0 },
      { id: 'ethtool.S', argv: ['ethtool', '-S', 'qvo1'], device: 'qvo1', origin: 'agent', stdout: 'NIC statistics:\n     peer_ifindex: 7\n', stderr: '', exitCode: null, error: 'timed out after 10 ms' },
      { id: 'not-in-catalog', argv: ['echo', 'x'], origin: 'agent', stdout: 'x\n', stderr: '', exitCode: 0 },
      { id: 'not-in-catalog', argv: ['echo', 'x'], origin: 'agent', stdout: 'x again\n', stderr: '', exitCode: 0 },
    ],
  };
}

describe('agent snapshot directory', () => {
  let root: string;
  beforeEach(() => { root = mkdtempSync(join(tmpdir(), 'hoptrace-dir-test-')); });
  afterEach(() => { rmSync(root, { recursive: true, force: true }); });

  it('writes DIR/<host>/<stamp>/ with a manifest and sos-named command files, and reads it back', async () => {
    const written = await writeSnapshotDir(root, snapshot());
    expect(written).toEqual({ path: join(root, 'network-1', '20261125T083000123Z'), existed: false });
    expect(readdirSync(join(written.path, 'commands')).sort()).toEqual([
      'echo_x', 'echo_x.1', 'ethtool_-S_qvo1', 'ip_netns_exec_qrouter-1_ip_-j_route_show_table_all', 'ovs-ofctl_dump-flows_br-int', 'ovs-ofctl_dump-flows_br-tun',
    ]);
    expect(readdirSync(join(root, 'network-1'))).toEqual(['20261125T083000123Z']); // no temp dir left
    expect(await readSnapshotDir(written.path)).toEqual(snapshot());
    expect(await findSnapshotDirs(root)).toEqual([written.path]);
  });

  it('leaves an existing snapshot as it is', async () => {
    await writeSnapshotDir(root, snapshot());
    const again = await writeSnapshotDir(root, snapshot());
    expect(again.existed).toBe(true);
  });

  it('refuses a command file that is a symlink out of the directory', async () => {
    const { path } = await writeSnapshotDir(root, snapshot());
    const outside = join(root, 'secret');
    writeFileSync(outside, 'secret');
    const file = join(path, 'commands', 'echo_x');
    rmSync(file);
    symlinkSync(outside, file);
    await expect(readSnapshotDir(path)).rejects.toThrow(/echo_x is not a regular file/);
  });

  it('refuses a manifest naming a file outside commands/', async () => {
    const { path } = await writeSnapshotDir(root, snapshot());
    const manifestPath = join(path, 'manifest.json');
    const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as { outputs: { file: string }[] };
    manifest.outputs[0]!.file = '../manifest.json';
    writeFileSync(manifestPath, JSON.stringify(manifest));
    const error = await readSnapshotDir(path).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ParseError);
    expect((error as ParseError).message).toContain('outputs[0].file');
  });

  it.each([
    { name: 'millisecond stamp', takenAt: '2026-01-02T03:04:05.006Z', stamp: '20260102T030405006Z' },
    { name: 'no milliseconds', takenAt: '2026-01-02T03:04:05Z', stamp: '20260102T030405000Z' },
  ])('stamps $name', ({ takenAt, stamp }) => {
    expect(stampOf(takenAt)).toBe(stamp);
    expect(takenAtOf(stamp)).toBe(new Date(takenAt).toISOString());
  });

  it('names files by the catalog command, not the agent wrapper', () => {
    expect(commandFileName(snapshot().outputs[0]!)).toBe('ovs-ofctl_dump-flows_br-int');
  });
});
