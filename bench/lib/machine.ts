// What the figures were measured on: machine, versions, load. Printed by every run and written at
// the top of bench/RESULTS.md (a figure without its machine and its peer means nothing).
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { VERSION } from '../../src/version.js';

export interface MachineInfo {
  date: string;
  nproc: number;
  cpuModel: string;
  memoryGiB: number;
  kernel: string;
  node: string;
  hoptrace: string;
  tshark: string;
  sfacctd: string;
  chdb: string;
  cc: string;
  rmemMax: string;
}

export function machineInfo(): MachineInfo {
  return {
    date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    nproc: cpus().length,
    cpuModel: cpuModel(),
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    kernel: firstLine(() => readFileSync('/proc/sys/kernel/osrelease', 'utf8')),
    node: process.version,
    hoptrace: VERSION,
    tshark: firstLine(() => run('tshark', ['--version']).replace(/^TShark \(Wireshark\) /, '')),
    sfacctd: firstLine(() => run('sfacctd', ['-V']).replace(/^sFlow Accounting Daemon, /, '')),
    chdb: chdbVersion(),
    cc: firstLine(() => run('cc', ['--version'])),
    rmemMax: firstLine(() => readFileSync('/proc/sys/net/core/rmem_max', 'utf8')),
  };
}

/** 1, 5 and 15 minute load averages, as /proc/loadavg gives them. */
export function loadAverage(): string {
  return loadavg().map((n) => n.toFixed(2)).join(' ');
}

function cpuModel(): string {
  try {
    const match = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (match?.[1] !== undefined) return match[1].trim();
  } catch {
    // not Linux: fall through to what os.cpus() says
  }
  return cpus()[0]?.model ?? 'unknown';
}

function chdbVersion(): string {
  try {
    const url = new URL('../../../node_modules/chdb/package.json', import.meta.url);
    const pkg = JSON.parse(readFileSync(url, 'utf8')) as { version?: string };
    return pkg.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

function run(command: string, args: string[]): string {
  return execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 20_000 });
}

function firstLine(read: () => string): string {
  try {
    return read().split('\n').find((line) => line.trim() !== '')?.trim() ?? 'unknown';
  } catch {
    return 'not installed';
  }
}
