// OVSDB's JSON-RPC stream (RFC 7047 §4, lib/jsonrpc.c): JSON objects back to back on a byte stream,
// with no separator or length prefix. This cuts complete top-level values out of the text as it
// arrives: it counts brackets outside strings and watches string escapes.
import { HoptraceError } from '../../errors.js';

/** A stream that is not JSON-RPC (bytes outside an object) or a message over the size limit. */
export class JsonStreamError extends HoptraceError {
  override readonly name = 'JsonStreamError';
  /** `bad-format`: bytes outside a message; `overflow`: a message over the size limit. */
  readonly reason: 'bad-format' | 'overflow';
  constructor(reason: 'bad-format' | 'overflow', message: string) {
    super(reason, message);
    this.reason = reason;
  }
}

export class JsonStreamSplitter {
  readonly #maxBytes: number;
  #buffer = '';
  #scanned = 0; // characters of #buffer already scanned
  #depth = 0;
  #inString = false;
  #escaped = false;

  /** `maxBytes`: the largest message accepted (counted in UTF-16 units, close enough to bytes here). */
  constructor(maxBytes: number) {
    this.#maxBytes = maxBytes;
  }

  /** Adds text; returns every message it completes, as JSON text. */
  push(chunk: string): string[] {
    this.#buffer += chunk;
    const messages: string[] = [];
    let start = 0;
    for (let i = this.#scanned; i < this.#buffer.length; i++) {
      const c = this.#buffer[i];
      if (this.#inString) {
        if (this.#escaped) this.#escaped = false;
        else if (c === '\\') this.#escaped = true;
        else if (c === '"') this.#inString = false;
        continue;
      }
      if (this.#depth === 0) {
        if (c === ' ' || c === '\n' || c === '\r' || c === '\t') {
          start = i + 1;
          continue;
        }
        if (c !== '{' && c !== '[') throw new JsonStreamError('bad-format', `unexpected ${JSON.stringify(c)} between messages`);
      }
      if (c === '"') this.#inString = true;
      else if (c === '{' || c === '[') this.#depth++;
      else if (c === '}' || c === ']') {
        this.#depth--;
        if (this.#depth === 0) {
          if (i + 1 - start > this.#maxBytes) throw this.#overflow();
          messages.push(this.#buffer.slice(start, i + 1));
          start = i + 1;
        }
      }
    }
    this.#buffer = this.#buffer.slice(start);
    this.#scanned = this.#buffer.length;
    if (this.#buffer.length > this.#maxBytes) throw this.#overflow();
    return messages;
  }

  #overflow(): JsonStreamError {
    return new JsonStreamError('overflow', `message over ${this.#maxBytes} bytes`);
  }

  /** Characters of an unfinished message held. */
  get pending(): number {
    return this.#buffer.length;
  }
}
