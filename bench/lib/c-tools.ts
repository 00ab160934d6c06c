// The C load generator and the C receive baseline, compiled from bench/c/ into a temporary
// directory for this run (binaries are never committed).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface CTools {
  /** udp-blast FILE.pcap HOST PORT COUNT RATE (RATE 0 = as fast as possible); prints JSON. */
  blast: string;
  /** udp-count HOST PORT COUNT IDLE_MS RCVBUF; prints `ready`, then JSON. */
  count: string;
  dir: string;
  remove(): void;
}

/** bench/c/ of the source tree, from dist/bench/lib/ or bench/lib/. */
export function benchSourceDir(): string {
  const here = fileURLToPath(new URL('.', import.meta.url));
  return here.includes('/dist/bench/') ? join(here, '../../../bench') : join(here, '..');
}

export function buildCTools(): CTools {
  const dir = mkdtempSync(join(tmpdir(), 'hoptrace-bench-c-'));
  const source = join(benchSourceDir(), 'c');
  const blast = join(dir, 'udp-blast');
  const count = join(dir, 'udp-count');
  execFileSync('cc', ['-O2', '-Wall', '-o', blast, join(source, 'udp-blast.c')], { stdio: 'inherit' });
  execFileSync('cc', ['-O2', '-Wall', '-o', count, join(source, 'udp-count.c')], { stdio: 'inherit' });
  return { blast, count, dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
