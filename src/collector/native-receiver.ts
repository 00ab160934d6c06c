// The sFlow receive loop on the native addon (native/udp-rx): a C thread drains the socket with
// recvmmsg, writes each datagram in the envelope layout of envelope.ts and hands batches to this
// class, which only slices them (zero copy) and publishes them to the bus without waiting. Same
// public surface as UdpReceiver, so the service can use either. Measured on a 2-vCPU VM (corpus
// datagrams, 4 MiB buffer, counting consumer): under 0.1 % loss up to 250-300 k datagrams/s once
// warm, against about 50 k for Node's dgram (one 'message' event, Buffer and rinfo per datagram).
//
// Drops, none of them blocking: the kernel's (socket buffer full, read from /proc), the handoff's
// (JS has not yet taken the earlier batches, or still holds every batch buffer: the addon drops
// and counts) and the bus's (tryPublish returned false). The last two are summed in
// stats.droppedQueueFull.
//
// Batch buffers lent to JS come back only through the GC; the addon lends at most heldLimit of them
// and copies batches past that, so an overload that fills the bus cannot leave the thread without
// buffers (it did once: every datagram then dropped as droppedNoBuffer, JS idle, no GC, no recovery).
// health() reports a stalled handoff (datagrams arriving, none reaching JS) should it ever recur.
import { existsSync } from 'node:fs';
import { lookup } from 'node:dns/promises';
import { createRequire } from 'node:module';
import { isIP } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TOPICS, type Bus } from '../bus/bus.js';
import { HoptraceError } from '../errors.js';
import { decodeEnvelope, ENVELOPE_HEADER_BYTES } from './envelope.js';
import { readKernelDrops, splitHostPort, type ReceiverOptions, type ReceiverStats } from './udp-receiver.js';

/** Where the addon is built, relative to the package root (`node-gyp rebuild` in native/udp-rx). */
export const ADDON_PATH = 'native/udp-rx/build/Release/udp_rx.node';
const LENGTH_PREFIX_BYTES = 4; // u32 little-endian in front of each envelope in a batch
const EXPORTER_AT = 12; // envelope.ts: u8[16] exporter address at byte 12, family at byte 1
/** Distinct exporter addresses remembered for keys; beyond that the cache starts over (spoofed floods). */
const EXPORTER_CACHE_LIMIT = 65_536;

declare const handleBrand: unique symbol;
/** The addon's socket + thread, an opaque N-API external. */
type NativeHandle = { readonly [handleBrand]: true };

interface AddonOpenOptions {
  host: string;
  port: number;
  rcvbuf: number;
  batchDatagrams?: number;
  batchMs?: number;
  batchBytes?: number;
  maxPendingBatches?: number;
  bufferPoolBytes?: number;
  kernelTimestamps?: boolean;
  threadNice?: number;
}

/** Counts kept by the receive thread. */
export interface NativeStats {
  /** Datagrams read from the socket, including those dropped at the handoff. */
  received: number;
  bytes: number;
  /** Batches handed to JS. */
  batches: number;
  /** Batches dropped because JS had not taken the earlier ones (the handoff queue was full). */
  droppedBatches: number;
  /** Datagrams (and payload bytes) dropped by the addon: in those batches, or for want of a buffer. */
  droppedDatagrams: number;
  droppedBytes: number;
  /** Datagrams dropped because every batch buffer was still held by JS (bufferPoolBytes reached). */
  droppedNoBuffer: number;
  /** Batch buffers lent to JS as external Buffers that the GC has not collected yet. */
  heldBuffers: number;
  /** The most lent at once (bufferPoolBytes / 512 KiB - maxPendingBatches - 4): past it batches are copied. */
  heldLimit: number;
  /** Batches copied (not lent) because heldBuffers had reached heldLimit. */
  copiedHeld: number;
  /** Batch buffers mapped so far (each batchBytes). */
  allocations: number;
  /** Datagrams larger than the receive slot (cannot happen below 64 KiB). */
  truncated: number;
  receiveErrors: number;
  lastErrno: number;
  /** CPU time of the receive thread. */
  threadCpuMs: number;
}

interface AddonInfo {
  address: string;
  family: 'IPv4' | 'IPv6';
  port: number;
  /** As getsockopt(SO_RCVBUF) reports it: twice the payload room. */
  receiveBuffer: number;
  /** SO_RCVBUFFORCE worked (root or CAP_NET_ADMIN): the size is not capped by net.core.rmem_max. */
  receiveBufferForced: boolean;
  kernelTimestamps: boolean;
  /** The niceness the receive thread runs at, when one was asked for and granted. */
  threadNice: number | null;
}

interface UdpRxAddon {
  open(options: AddonOpenOptions, onBatch: (batch: Buffer, count: number) => void, onClosed: () => void): NativeHandle;
  close(handle: NativeHandle): void;
  stats(handle: NativeHandle): NativeStats;
  info(handle: NativeHandle): AddonInfo;
}

export interface NativeReceiverOptions extends ReceiverOptions {
  /** Hand a batch to JS when it holds this many datagrams (default 256)... */
  batchDatagrams?: number;
  /** ...or when its first datagram is this old (default 5 ms). */
  batchMs?: number;
  /** Batches queued for JS before the addon drops new ones (default 64). */
  maxPendingBatches?: number;
  /**
   * Memory for batch buffers (default 128 MiB, in buffers of 512 KiB). A buffer handed to JS comes
   * back when the GC has collected every envelope sliced from it; at 200-300 k datagrams/s about
   * 180 were mapped in all (90 MiB). At most all but maxPendingBatches + 4 of them are lent to JS
   * (heldLimit, 188 by default): past that batches are copied, so that buffers always come back
   * without waiting for the GC. When none is free, datagrams are dropped and counted
   * (droppedHandoff). maxPendingBatches + 4 spare buffers (34 MiB) are mapped at start().
   */
  bufferPoolBytes?: number;
  /**
   * Niceness of the receive thread (-20..19); lowering it below 0 needs CAP_SYS_NICE. Unchanged by
   * default: on a loaded host it did not reduce the kernel's drops here.
   */
  threadNice?: number;
  /**
   * Receive time from the kernel's arrival stamp (SO_TIMESTAMPNS, default) or from the receive
   * thread's clock. Either way CLOCK_REALTIME: `clock` of ReceiverOptions is not used here.
   */
  kernelTimestamps?: boolean;
}

export type NativeAvailability = { ok: true } | { ok: false; reason: string };

/** Whether datagrams still reach JS; `stalled` when they arrive but none did for a while. */
export type ReceiverHealth = { status: 'ok' } | { status: 'stalled'; reason: string };

/** How long datagrams may arrive with none reaching JS before health() says stalled. */
export const STALL_MS = 5000;

/**
 * Tells a stalled handoff from a slow or idle one, from counts sampled at each health check:
 * stalled when datagrams arrived since the previous check and none reached JS (published or
 * dropped by the bus) for at least stallMs, counted from the first check that saw arrivals without
 * delivery. An idle socket is never stalled; neither is a full bus (those datagrams reach JS).
 */
export class HandoffWatch {
  readonly #stallMs: number;
  #received = 0;
  #reached = 0;
  /** The check that first saw datagrams arrive with none delivered, since the last delivery. */
  #since: number | undefined;

  constructor(stallMs = STALL_MS) {
    this.#stallMs = stallMs;
  }

  /** received: read from the socket so far; reached: delivered to JS so far; at: a monotonic ms clock. */
  check(received: number, reached: number, at: number): ReceiverHealth {
    const arrived = received - this.#received;
    const delivered = reached > this.#reached;
    this.#received = received;
    this.#reached = reached;
    if (delivered) {
      this.#since = undefined;
      return { status: 'ok' };
    }
    if (arrived <= 0) return { status: 'ok' };
    this.#since ??= at;
    if (at - this.#since < this.#stallMs) return { status: 'ok' };
    const seconds = Math.round((at - this.#since) / 1000);
    return { status: 'stalled', reason: `native UDP receiver: datagrams arriving (${arrived} since the last check) but none handed to JS for ${seconds} s` };
  }
}

let loaded: { addon: UdpRxAddon } | { reason: string } | undefined;

function loadAddon(): { addon: UdpRxAddon } | { reason: string } {
  if (loaded !== undefined && 'addon' in loaded) return loaded;
  loaded = tryLoad(); // a failure is looked at again next time: the addon may have been built since
  return loaded;
}

function tryLoad(): { addon: UdpRxAddon } | { reason: string } {
  if (process.platform !== 'linux') return { reason: `the native UDP receiver is Linux-only (recvmmsg), this is ${process.platform}` };
  // src/collector/ under vitest and tsx, dist/src/collector/ once compiled: look upwards.
  let dir = dirname(fileURLToPath(import.meta.url));
  let path: string | undefined;
  for (let i = 0; i < 5 && path === undefined; i++, dir = dirname(dir)) {
    if (existsSync(join(dir, ADDON_PATH))) path = join(dir, ADDON_PATH);
  }
  if (path === undefined) {
    return { reason: `${ADDON_PATH} is not built: run \`npm run build:native\` (needs a C compiler, make, python3 and the Node headers)` };
  }
  let exports: unknown;
  try {
    exports = createRequire(import.meta.url)(path);
  } catch (error) {
    return { reason: `cannot load ${path}: ${error instanceof Error ? error.message : String(error)}` };
  }
  if (!isAddon(exports)) return { reason: `${path} does not export open/close/stats/info: rebuild it` };
  return { addon: exports };
}

function isAddon(value: unknown): value is UdpRxAddon {
  if (typeof value !== 'object' || value === null) return false;
  const names = ['open', 'close', 'stats', 'info'] as const;
  return names.every((name) => typeof (value as Record<string, unknown>)[name] === 'function');
}

export class NativeUdpReceiver {
  readonly #options: NativeReceiverOptions;
  #handle: NativeHandle | undefined;
  /** Kept after stop() so that stats stay readable. */
  #lastHandle: NativeHandle | undefined;
  #port: number | undefined;
  #closed: Promise<void> | undefined;
  #published = 0;
  /** Payload bytes of the datagrams that reached JS. */
  #bytes = 0;
  #droppedBus = 0;
  readonly #watch = new HandoffWatch();
  readonly #exporters = new Map<string, number>();
  // Exporter key caches: IPv4 (and IPv4-mapped IPv6) by the address as a u32, other IPv6 by text.
  readonly #ipv4Keys = new Map<number, string>();
  readonly #mappedKeys = new Map<number, string>();
  readonly #ipv6Keys = new Map<string, string>();

  constructor(options: NativeReceiverOptions) {
    this.#options = options;
  }

  /** Whether the addon is built and loads here; the reason (with the fix) when it is not. */
  static available(): NativeAvailability {
    const result = loadAddon();
    return 'addon' in result ? { ok: true } : { ok: false, reason: result.reason };
  }

  /** Binds and starts the receive thread; resolves with the bound address (port 0 picks a free one). */
  async start(): Promise<{ address: string; port: number; receiveBuffer: number }> {
    if (this.#handle !== undefined) throw new HoptraceError('bad-argument', `native UDP receiver on ${this.#options.listen} already started`);
    const result = loadAddon();
    if (!('addon' in result)) throw new HoptraceError('unsupported', `native UDP receiver unavailable: ${result.reason}`);
    const { addon } = result;
    const { listen, receiveBuffer } = this.#options;
    const { host, port } = splitHostPort(listen);
    const address = isIP(host) !== 0 ? host : await resolve(host, listen);
    const options: AddonOpenOptions = { host: address, port, rcvbuf: receiveBuffer };
    if (this.#options.batchDatagrams !== undefined) options.batchDatagrams = this.#options.batchDatagrams;
    if (this.#options.batchMs !== undefined) options.batchMs = this.#options.batchMs;
    if (this.#options.maxPendingBatches !== undefined) options.maxPendingBatches = this.#options.maxPendingBatches;
    if (this.#options.kernelTimestamps !== undefined) options.kernelTimestamps = this.#options.kernelTimestamps;
    if (this.#options.bufferPoolBytes !== undefined) options.bufferPoolBytes = this.#options.bufferPoolBytes;
    if (this.#options.threadNice !== undefined) options.threadNice = this.#options.threadNice;
    let closed!: () => void;
    const whenClosed = new Promise<void>((resolveClosed) => { closed = resolveClosed; });
    let handle: NativeHandle;
    try {
      handle = addon.open(options, (batch, count) => this.#publish(batch, count), () => closed());
    } catch (error) {
      const code = error instanceof Error && 'code' in error && typeof error.code === 'string' ? error.code : undefined;
      const hint = code === 'EADDRINUSE' ? ' (another collector is running? choose another port with --listen)' : code === 'EACCES' ? ' (ports below 1024 need root)' : '';
      throw new HoptraceError('bad-argument', `cannot listen for sFlow on UDP ${listen}: ${code ?? (error instanceof Error ? error.message : String(error))}${hint}`, { cause: error });
    }
    this.#handle = this.#lastHandle = handle;
    this.#closed = whenClosed;
    const info = addon.info(handle);
    this.#port = info.port;
    // Linux reports twice the size it books for the payload (the other half is its bookkeeping).
    if (info.receiveBuffer / 2 < receiveBuffer) this.#options.onBufferShort?.(receiveBuffer, info.receiveBuffer / 2);
    return { address: info.address, port: info.port, receiveBuffer: info.receiveBuffer };
  }

  get port(): number | undefined {
    return this.#port;
  }

  /**
   * received = published + droppedQueueFull at every instant: datagrams still queued between the
   * thread and JS are counted once they arrive (or are dropped). droppedQueueFull includes
   * droppedHandoff; exporters counts the datagrams that reached JS.
   */
  get stats(): ReceiverStats & { droppedHandoff: number; batches: number } {
    const native = this.nativeStats();
    const handoff = native?.droppedDatagrams ?? 0;
    return {
      received: this.#published + this.#droppedBus + handoff,
      bytes: this.#bytes + (native?.droppedBytes ?? 0),
      droppedQueueFull: this.#droppedBus + handoff,
      droppedHandoff: handoff,
      batches: native?.batches ?? 0,
      exporters: this.#exporters,
    };
  }

  /**
   * `stalled` when datagrams keep arriving but none has reached JS for STALL_MS, judged between
   * calls (call it at each /health): the collector then receives and drops everything.
   */
  health(): ReceiverHealth {
    const native = this.nativeStats();
    if (native === undefined) return { status: 'ok' };
    return this.#watch.check(native.received, this.#published + this.#droppedBus, performance.now());
  }

  /** The receive thread's own counts (undefined before start). */
  nativeStats(): NativeStats | undefined {
    const result = loadAddon();
    if (this.#lastHandle === undefined || !('addon' in result)) return undefined;
    return result.addon.stats(this.#lastHandle);
  }

  /** Datagrams the kernel dropped on this socket (buffer full), from /proc/net/udp or udp6. */
  async kernelDrops(): Promise<number | undefined> {
    const port = this.#port;
    if (port === undefined) return undefined;
    return readKernelDrops(port);
  }

  /** Stops the thread, closes the socket and resolves once every batch it read is published. */
  async stop(): Promise<void> {
    const handle = this.#handle;
    const closed = this.#closed;
    this.#handle = undefined;
    this.#closed = undefined;
    this.#port = undefined;
    const result = loadAddon();
    if (handle === undefined || !('addon' in result)) return;
    result.addon.close(handle);
    await closed;
  }

  #publish(batch: Buffer, count: number): void {
    const bus: Bus = this.#options.bus;
    let offset = 0;
    let bytes = 0, published = 0;
    // Exporters are counted per run of equal keys: a batch usually comes from one or a few agents.
    let runKey: string | undefined;
    let runLength = 0;
    for (let i = 0; i < count; i++) {
      const length = batch.readUInt32LE(offset);
      const start = offset + LENGTH_PREFIX_BYTES;
      offset = start + length;
      const envelope = batch.subarray(start, offset);
      const key = this.#exporterKey(batch, start, envelope);
      if (key !== runKey) {
        if (runKey !== undefined) this.#countExporter(runKey, runLength);
        runKey = key;
        runLength = 0;
      }
      runLength++;
      bytes += length - ENVELOPE_HEADER_BYTES;
      if (bus.tryPublish(TOPICS.SFLOW_RAW, { key, value: envelope })) published++;
    }
    if (runKey !== undefined) this.#countExporter(runKey, runLength);
    this.#bytes += bytes;
    this.#published += published;
    this.#droppedBus += count - published;
  }

  #countExporter(key: string, n: number): void {
    this.#exporters.set(key, (this.#exporters.get(key) ?? 0) + n);
  }

  /** The exporter address as decodeEnvelope formats it, without formatting it per datagram. */
  #exporterKey(batch: Buffer, start: number, envelope: Buffer): string {
    const at = start + EXPORTER_AT;
    let cache: Map<number, string>;
    let id: number;
    if (batch[start + 1] === 4) {
      cache = this.#ipv4Keys;
      id = batch.readUInt32BE(at);
    } else if (batch.readUInt32BE(at) === 0 && batch.readUInt32BE(at + 4) === 0 && batch.readUInt32BE(at + 8) === 0xffff) {
      cache = this.#mappedKeys; // ::ffff:a.b.c.d, what a dual-stack socket reports for IPv4 senders
      id = batch.readUInt32BE(at + 12);
    } else {
      const text = batch.toString('latin1', at, at + 16);
      let key = this.#ipv6Keys.get(text);
      if (key === undefined) {
        if (this.#ipv6Keys.size >= EXPORTER_CACHE_LIMIT) this.#ipv6Keys.clear();
        key = decodeEnvelope(envelope).exporter;
        this.#ipv6Keys.set(text, key);
      }
      return key;
    }
    let key = cache.get(id);
    if (key === undefined) {
      if (cache.size >= EXPORTER_CACHE_LIMIT) cache.clear();
      key = decodeEnvelope(envelope).exporter;
      cache.set(id, key);
    }
    return key;
  }
}

async function resolve(host: string, listen: string): Promise<string> {
  try {
    // UdpReceiver binds a udp4 socket for names (only IPv6 literals get udp6): resolve alike.
    return (await lookup(host, { family: 4 })).address;
  } catch (error) {
    throw new HoptraceError('bad-argument', `cannot listen for sFlow on UDP ${listen}: ${host} does not resolve`, { cause: error });
  }
}
