// pino JSON logs (pretty on a TTY), one child per module, and a throttle so bad input cannot
// flood the log: N lines per (module, code) per interval, then one "suppressed K" line.
import pino, { type Logger } from 'pino';

export type { Logger };

export function createLogger(options: { level: string; format: 'auto' | 'json' | 'pretty'; destination?: NodeJS.WritableStream }): Logger {
  const pretty = options.format === 'pretty' || (options.format === 'auto' && process.stderr.isTTY === true && options.destination === undefined);
  if (pretty) {
    return pino({
      level: options.level,
      transport: { target: 'pino-pretty', options: { destination: 2, colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' } },
    });
  }
  return pino({ level: options.level, base: { pid: process.pid } }, (options.destination as pino.DestinationStream | undefined) ?? pino.destination(2));
}

/** Lets `limit` lines per key through each `intervalMs`, then reports how many it held back. */
export class Throttle {
  readonly #limit: number;
  readonly #intervalMs: number;
  readonly #windows = new Map<string, { start: number; count: number }>();

  constructor(limit = 10, intervalMs = 60_000) {
    this.#limit = limit;
    this.#intervalMs = intervalMs;
  }

  /** Returns `{ log: true, suppressed }` when a line may be written now (suppressed = held back before it). */
  admit(key: string, now: number): { log: boolean; suppressed: number } {
    let window = this.#windows.get(key);
    if (window === undefined || now - window.start >= this.#intervalMs) {
      const suppressed = window === undefined ? 0 : Math.max(0, window.count - this.#limit);
      window = { start: now, count: 0 };
      this.#windows.set(key, window);
      window.count++;
      return { log: true, suppressed };
    }
    window.count++;
    return { log: window.count <= this.#limit, suppressed: 0 };
  }
}
