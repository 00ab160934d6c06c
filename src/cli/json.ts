// JSON for people and pipes: bigint as a decimal string when it exceeds 2^53 (a number otherwise),
// bytes as lower-case hex, errors as {code, message, ...where}. One object per line.
import { HoptraceError } from '../errors.js';

export function toJson(value: unknown, space?: number): string {
  return JSON.stringify(value, replacer, space);
}

function replacer(this: unknown, _key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value.toString();
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('hex');
  if (value instanceof HoptraceError) {
    const out: Record<string, unknown> = { code: value.code, message: value.message };
    for (const field of ['offset', 'path', 'source', 'line'] as const) {
      const v = (value as unknown as Record<string, unknown>)[field];
      if (v !== undefined) out[field] = v;
    }
    return out;
  }
  if (value instanceof Error) return { code: 'internal', message: value.message };
  return value;
}
