// `hoptrace import` of tarballs, through the system tar: a sosreport .tar.xz, an agent tree .tar.gz,
// and hostile archives (a `..` member, an absolute member, a FIFO, a symlink to a file outside),
// each refused or cleaned with the reason while the other inputs of the same call are imported.
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { register } from '../../src/cli/commands/import.js';
import { findSnapshotDirs, readSnapshotDir, writeSnapshotDir } from '../../src/snapshot/dir.js';
import { importSnapshots } from '../../src/snapshot/import.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/sos/', import.meta.url));
const REPORT = 'sosreport-net1-2026-11-25-hoptrace';

function tar(args: string[]): void {
  execFileSync('tar', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

describe('import of tarballs', () => {
  let dir: string;
  beforeAll(() => { dir = mkdtempSync(join(tmpdir(), 'hoptrace-import-tar-')); });
  afterAll(() => { rmSync(dir, { recursive: true, force: true }); });

  it('imports a sosreport .tar.xz like the extracted tree', async () => {
    const archive = join(dir, `${REPORT}.tar.xz`);
    tar(['-C', FIXTURES, '-cJf', archive, REPORT]);
    const fromTar = await importSnapshots([archive]);
    const fromDir = await importSnapshots([join(FIXTURES, REPORT)]);
    expect(fromTar.problems).toEqual([]);
    expect(fromTar.summary[0]).toMatchObject({ host: 'net1', source: 'sosreport', path: archive });
    expect(fromTar.snapshots).toEqual(fromDir.snapshots);
  });

  it('refuses an archive with a ".." member and writes nothing outside, importing the others', async () => {
    const work = join(dir, 'dotdot', 'inner');
    mkdirSync(work, { recursive: true });
    writeFileSync(join(dir, 'dotdot', 'escaped.txt'), 'escaped\n');
    const evil = join(dir, 'evil.tar');
    tar(['-C', work, '-cPf', evil, '../escaped.txt']); // -P keeps the ".." in the member name
    rmSync(join(dir, 'dotdot', 'escaped.txt'));
    const good = join(dir, 'good.tar.gz');
    tar(['-C', FIXTURES, '-czf', good, REPORT]);

    const result = await importSnapshots([evil, good]);
    expect(result.problems).toEqual([{ path: evil, message: expect.stringMatching(/member "\.\.\/escaped\.txt" climbs out with "\.\.": archive refused/) }]);
    expect(result.summary.map((s) => s.host)).toEqual(['net1']);
    expect(existsSync(join(dir, 'dotdot', 'escaped.txt'))).toBe(false);
    expect(existsSync(join(tmpdir(), 'escaped.txt'))).toBe(false);
  });

  it('refuses an absolute member and a FIFO', async () => {
    const victim = join(dir, 'abs-target.txt');
    writeFileSync(victim, 'x\n');
    const absolute = join(dir, 'absolute.tar');
    tar(['-cPf', absolute, victim]);
    const fifoDir = join(dir, 'fifo');
    mkdirSync(fifoDir);
    execFileSync('mkfifo', [join(fifoDir, 'pipe')]);
    const fifo = join(dir, 'fifo.tar');
    tar(['-C', dir, '-cf', fifo, 'fifo']);
    const result = await importSnapshots([absolute, fifo]);
    expect(result.snapshots).toEqual([]);
    expect(result.problems.map((p) => p.message)).toEqual([
      expect.stringMatching(/has an absolute path: archive refused/),
      expect.stringMatching(/member "fifo\/pipe" is of type "p".*archive refused/),
    ]);
  });

  it('removes a symlink pointing outside and imports the rest of the report', async () => {
    const copy = join(dir, 'linked', REPORT);
    cpSync(join(FIXTURES, REPORT), copy, { recursive: true, verbatimSymlinks: true });
    const flows = join(copy, 'sos_commands', 'openvswitch', 'ovs-ofctl_dump-flows_br-int');
    renameSync(flows, join(dir, 'moved-away'));
    symlinkSync('/etc/passwd', flows);
    const archive = join(dir, 'linked.tar');
    tar(['-C', join(dir, 'linked'), '-cf', archive, REPORT]);
    const result = await importSnapshots([archive]);
    expect(result.problems).toEqual([{ path: archive, message: `symlink ${REPORT}/sos_commands/openvswitch/ovs-ofctl_dump-flows_br-int -> /etc/passwd points outside the archive: removed` }]);
    expect(result.summary[0]?.missing).toContain('ovs-ofctl.dump-flows[br-int]');
    expect(result.snapshots[0]?.outputs.some((o) => o.stdout.includes('root:'))).toBe(false);
  });

  it('imports an agent tree from a .tar.gz, and the CLI writes what it imported to --out', async () => {
    const { snapshots: [net1] } = await importSnapshots([join(FIXTURES, REPORT)]);
    const tree = join(dir, 'agent-out');
    await writeSnapshotDir(tree, { ...net1!, host: 'compute-3', source: 'agent', trigger: 'interval' });
    const archive = join(dir, 'agent.tar.gz');
    tar(['-C', dir, '-czf', archive, 'agent-out']);

    const out = join(dir, 'imported');
    const program = new Command().exitOverride();
    register(program);
    const lines: string[] = [];
    const write = process.stdout.write.bind(process.stdout);
    process.stdout.write = ((chunk: string) => { lines.push(chunk); return true; }) as typeof process.stdout.write;
    try {
      await program.parseAsync(['import', archive, join(FIXTURES, REPORT), '--out', out, '--json'], { from: 'user' });
    } finally {
      process.stdout.write = write;
    }
    const report = JSON.parse(lines.join('')) as { summary: { host: string; source: string }[]; problems: unknown[]; written: string[] };
    expect(report.summary.map((s) => `${s.source}:${s.host}`)).toEqual(['directory:compute-3', 'sosreport:net1']);
    expect(report.problems).toEqual([]);
    const dirs = await findSnapshotDirs(join(out, 'compute-3'));
    expect(dirs).toHaveLength(1);
    const back = await readSnapshotDir(dirs[0]!);
    expect(back).toMatchObject({ host: 'compute-3', source: 'directory', trigger: 'import' });
    expect(back.outputs).toEqual(net1!.outputs);
    expect(report.written).toHaveLength(2);
  });
});
