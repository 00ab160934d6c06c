// What a benchmark case hands back to bench/run.ts: the console lines (one per figure, with the
// peer and the ratio) and its section of bench/RESULTS.md.

export interface CaseReport {
  name: string;
  /** One line per figure: `decode: hoptrace N samples/CPU-s, tshark M, ratio N/M`. */
  lines: string[];
  /** Markdown section for bench/RESULTS.md (starts with a `##` heading). */
  markdown: string;
}

export interface BenchOptions {
  quick: boolean;
  /** Where temporary files (peer output, data directories) go; removed by run.ts. */
  tmp: string;
  log: (line: string) => void;
  /** Ingest case: only the whole-path series (hoptrace serve), no baseline or receive-stage series. */
  wholeOnly?: boolean;
  /** Ingest case: the whole-path rates to step through instead of the default ones. */
  wholeRates?: readonly number[];
  /** Ingest case: the UDP receiver hoptrace serve runs (its default when not set). */
  receiver?: 'native' | 'dgram';
  /** Ingest case: leave out the 10x overload (memory) measurement. */
  noOverload?: boolean;
}

/** 1234567 -> "1,234,567"; fractions kept to `digits`. */
export function fmt(n: number, digits = 0): string {
  return n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** 1234567 -> "1.23 M", 45678 -> "45.7 k". */
export function si(n: number): string {
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)} M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} k`;
  return n.toFixed(0);
}

export function ratio(a: number, b: number): string {
  if (!(b > 0)) return 'n/a';
  return `${(a / b).toFixed(2)}x`;
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  if (sorted.length === 0) return Number.NaN;
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const line = (cells: readonly string[]): string => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}
