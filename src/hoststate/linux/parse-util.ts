// Helpers shared by the Linux command parsers: telling JSON from text, reading the JSON arrays
// iproute2 prints (`ip -j`, `bridge -j`) element by element so a cut file keeps its complete
// elements, typed field access on parsed JSON, and ParseIssue construction.
import { issueText, type ParseIssue } from '../snapshot.js';

export type JsonObject = Record<string, unknown>;

/** True when the output is iproute2 JSON (`-j`): its first non-blank character is `[` or `{`. */
export function isJsonText(text: string): boolean {
  const first = text.trimStart()[0];
  return first === '[' || first === '{';
}

/** Lines without their `\r`; line i (0-based) is line i+1 of the text. */
export function textLines(text: string): string[] {
  return text.split('\n').map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
}

export function issue(source: string, line: number, message: string, text?: string): ParseIssue {
  return text === undefined ? { source, line, message } : { source, line, message, text: issueText(text) };
}

export interface JsonElement {
  value: unknown;
  /** 1-based line where the element starts. */
  line: number;
}

/**
 * The elements of a top-level JSON array, each parsed on its own: an element that does not parse
 * (or is cut off at the end of a truncated file) is reported and the others are kept.
 */
export function jsonArrayElements(text: string, source: string, issues: ParseIssue[]): JsonElement[] {
  const out: JsonElement[] = [];
  let i = 0;
  let line = 1;
  const skipBlank = (): void => {
    while (i < text.length && /\s/.test(text[i] ?? '')) {
      if (text[i] === '\n') line++;
      i++;
    }
  };
  skipBlank();
  if (text[i] !== '[') {
    // A bare object (some tools print one); parse it whole.
    try {
      out.push({ value: JSON.parse(text) as unknown, line });
    } catch (error) {
      issues.push(issue(source, line, `not JSON: ${(error as Error).message}`, text.slice(i, i + 200)));
    }
    return out;
  }
  i++;
  for (;;) {
    skipBlank();
    if (i >= text.length) {
      issues.push(issue(source, line, 'truncated JSON: the array is not closed'));
      return out;
    }
    if (text[i] === ']') break;
    if (text[i] === ',') {
      i++;
      continue;
    }
    const start = i;
    const startLine = line;
    let depth = 0;
    let inString = false;
    for (; i < text.length; i++) {
      const c = text[i];
      if (c === '\n') line++;
      if (inString) {
        if (c === '\\') i++;
        else if (c === '"') inString = false;
        continue;
      }
      if (c === '"') inString = true;
      else if (c === '{' || c === '[') depth++;
      else if (c === '}' || c === ']') {
        if (depth === 0) break; // the closing bracket of the top-level array
        depth--;
        if (depth === 0) {
          i++;
          break;
        }
      } else if (c === ',' && depth === 0) break;
    }
    if (i === start) {
      // A stray `}` or `]` where an element should start: report it and step over it.
      issues.push(issue(source, line, `unexpected ${text[i] ?? ''} in the JSON array`));
      i++;
      continue;
    }
    const chunk = text.slice(start, i);
    if (depth > 0 || inString) {
      issues.push(issue(source, startLine, 'truncated JSON element', chunk.split('\n')[0] ?? ''));
      return out;
    }
    try {
      out.push({ value: JSON.parse(chunk) as unknown, line: startLine });
    } catch (error) {
      issues.push(issue(source, startLine, `bad JSON element: ${(error as Error).message}`, chunk.split('\n')[0] ?? ''));
    }
  }
  i++;
  skipBlank();
  if (i < text.length) issues.push(issue(source, line, 'text after the JSON array', text.slice(i, i + 200)));
  return out;
}

export function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function jsonString(o: JsonObject, key: string): string | null {
  const v = o[key];
  return typeof v === 'string' ? v : null;
}

export function jsonNumber(o: JsonObject, key: string): number | null {
  const v = o[key];
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

export function jsonBool(o: JsonObject, key: string): boolean | null {
  const v = o[key];
  return typeof v === 'boolean' ? v : null;
}

export function jsonObject(o: JsonObject, key: string): JsonObject | null {
  const v = o[key];
  return isObject(v) ? v : null;
}

export function jsonStrings(o: JsonObject, key: string): string[] {
  const v = o[key];
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}

/** A JSON counter as bigint (iproute2 prints u64 counters as JSON numbers: exact up to 2^53). */
export function jsonCounter(o: JsonObject, key: string): bigint | null {
  const v = o[key];
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 ? BigInt(v) : null;
}

/** A decimal counter from text, or null. */
export function textCounter(token: string | undefined): bigint | null {
  return token !== undefined && /^\d+$/.test(token) ? BigInt(token) : null;
}

/** A decimal integer from text, or null. */
export function textInt(token: string | undefined): number | null {
  return token !== undefined && /^-?\d+$/.test(token) ? Number(token) : null;
}

/** Whitespace-separated tokens. */
export function tokens(text: string): string[] {
  return text.trim().split(/\s+/).filter((t) => t !== '');
}
