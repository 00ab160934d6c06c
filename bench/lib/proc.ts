// Child processes for the benchmarks: peers timed in CPU seconds (bash's `time`, which adds the
// CPU of every process the command waited for), long-running children read line by line, and
// the resident memory of a process from /proc.
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';

export interface Timed {
  exitCode: number;
  realS: number;
  userS: number;
  sysS: number;
  /** user + sys of the command and every child it waited for. */
  cpuS: number;
}

/**
 * Runs `command args` to completion with stdout and stderr to files, and returns its CPU time as
 * bash's `time` measures it (getrusage of the waited-for children).
 */
export function timeCommand(command: string, args: readonly string[], out: string, err: string, timeoutMs: number): Promise<Timed> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-c', 'TIMEFORMAT="@@time %3R %3U %3S"; time "$0" "$@" > "$BENCH_OUT" 2> "$BENCH_ERR"', command, ...args], {
      env: { ...process.env, BENCH_OUT: out, BENCH_ERR: err },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let text = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
    const timer = setTimeout(() => {
      if (child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
      reject(new Error(`${command} did not finish within ${timeoutMs} ms`));
    }, timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      const match = /@@time ([\d.]+) ([\d.]+) ([\d.]+)/.exec(text);
      if (match === null) {
        reject(new Error(`${command}: no timing in ${JSON.stringify(text.slice(0, 300))}`));
        return;
      }
      const [realS, userS, sysS] = [Number(match[1]), Number(match[2]), Number(match[3])];
      resolve({ exitCode: code ?? -1, realS, userS, sysS, cpuS: userS + sysS });
    });
  });
}

/** A long-running child whose stdout lines can be awaited. */
export class Child {
  readonly process: ChildProcess;
  readonly lines: string[] = [];
  readonly stderr: string[] = [];
  #waiters: (() => void)[] = [];
  #exited = false;
  exitCode: number | null = null;

  constructor(command: string, args: readonly string[], options: { env?: NodeJS.ProcessEnv } = {}) {
    this.process = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'], env: options.env ?? process.env });
    const stdout = this.process.stdout;
    const stderr = this.process.stderr;
    if (stdout === null || stderr === null) throw new Error(`${command}: no pipes`);
    createInterface({ input: stdout }).on('line', (line) => {
      this.lines.push(line);
      this.#wake();
    });
    createInterface({ input: stderr }).on('line', (line) => {
      if (this.stderr.length < 2000) this.stderr.push(line);
    });
    this.process.on('exit', (code) => {
      this.#exited = true;
      this.exitCode = code;
      this.#wake();
    });
  }

  get pid(): number {
    const pid = this.process.pid;
    if (pid === undefined) throw new Error('child has no pid');
    return pid;
  }

  get exited(): boolean {
    return this.#exited;
  }

  /** The first stdout line (from `from` on) that matches, or an error after `timeoutMs`. */
  async waitForLine(match: (line: string) => boolean, timeoutMs: number, from = 0): Promise<{ line: string; index: number }> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      for (let i = from; i < this.lines.length; i++) {
        const line = this.lines[i] as string;
        if (match(line)) return { line, index: i };
      }
      if (this.#exited) throw new Error(`process exited (${this.exitCode}) before the line came; stderr: ${this.stderr.slice(-5).join(' | ')}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no such line within ${timeoutMs} ms; stderr: ${this.stderr.slice(-5).join(' | ')}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 1000));
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Waits for the process to exit; kills it (by its pid) if it has not after `timeoutMs`. */
  async waitForExit(timeoutMs: number): Promise<number | null> {
    const deadline = Date.now() + timeoutMs;
    while (!this.#exited && Date.now() < deadline) await sleep(50);
    if (!this.#exited) {
      this.kill('SIGKILL');
      while (!this.#exited) await sleep(20);
    }
    return this.exitCode;
  }

  kill(signal: NodeJS.Signals): void {
    if (!this.#exited && this.process.pid !== undefined) process.kill(this.process.pid, signal);
  }

  #wake(): void {
    const all = this.#waiters.splice(0, this.#waiters.length);
    for (const wake of all) wake();
  }
}

/** Resident set size of a process in KiB (VmRSS), or undefined once it is gone. */
export function vmRssKiB(pid: number): number | undefined {
  try {
    const match = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match?.[1] === undefined ? undefined : Number(match[1]);
  } catch {
    return undefined;
  }
}

/** CPU seconds (user + system) a live process has used so far, from /proc/PID/stat. */
export function processCpuSeconds(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // Fields after the command: state(3) ... utime(14) stime(15), counted from 1 in proc(5).
    const utime = Number(fields[11]);
    const stime = Number(fields[12]);
    return (utime + stime) / CLOCK_TICKS;
  } catch {
    return undefined;
  }
}

/** sysconf(_SC_CLK_TCK): 100 on every Linux build Node runs on. */
const CLOCK_TICKS = 100;

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** CPU seconds per thread name (/proc/PID/task/TID/comm) of a live process; threads of one name summed. */
export function threadCpuSeconds(pid: number): Map<string, number> {
  const out = new Map<string, number>();
  let tasks: string[];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tasks) {
    try {
      const name = readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim();
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const seconds = (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
      out.set(name, (out.get(name) ?? 0) + seconds);
    } catch {
      // the thread ended between readdir and read
    }
  }
  return out;
}

/** after - before per thread name, largest first, zero entries left out. */
export function threadCpuDelta(before: ReadonlyMap<string, number>, after: ReadonlyMap<string, number>): [string, number][] {
  const out: [string, number][] = [];
  for (const [name, seconds] of after) {
    const delta = seconds - (before.get(name) ?? 0);
    if (delta >= 0.01) out.push([name, delta]);
  }
  return out.sort((a, b) => b[1] - a[1]);
}
