// ClickHouse text spellings of values, for query parameters and text formats.

let cachedSecond = Number.NaN;
let cachedPrefix = '';

/**
 * Milliseconds since the epoch as DateTime64(3, 'UTC') text, "2024-01-02 03:04:05.678": the form
 * to bind to a {from:DateTime64(3, 'UTC')} parameter. Text, not a number: ClickHouse reads a bare
 * integer in a DateTime64 text field ambiguously (as seconds, or as YYYYMMDD...). The
 * "YYYY-MM-DD hh:mm:ss" part is cached for the current second (callers go in time order).
 */
export function formatDateTime64(ms: number): string {
  const whole = Math.floor(ms);
  const second = Math.floor(whole / 1000);
  if (second !== cachedSecond) {
    cachedPrefix = new Date(second * 1000).toISOString().slice(0, 19).replace('T', ' ');
    cachedSecond = second;
  }
  const millis = whole - second * 1000;
  return `${cachedPrefix}.${millis < 10 ? '00' : millis < 100 ? '0' : ''}${millis}`;
}
