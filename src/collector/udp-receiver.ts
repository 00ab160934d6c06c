// The sFlow receive loop: read datagrams from UDP, stamp them (receive time, exporter address and
// port) and hand them to the bus without waiting. It decodes nothing. When the bus is full the
// datagram is dropped and counted, never queued without bound; the kernel's own drops (socket
// buffer overflow) are read from /proc/net/udp{,6} and reported beside ours.
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { readFile } from 'node:fs/promises';
import { isIPv6 } from 'node:net';
import { TOPICS, type Bus } from '../bus/bus.js';
import { HoptraceError } from '../errors.js';
import { encodeEnvelope } from './envelope.js';


export interface ReceiverStats {
  received: number;
  bytes: number;
  /** Dropped by us because the bus was full. */
  droppedQueueFull: number;
  /** Per exporter address: datagrams received. */
  exporters: Map<string, number>;
}

export interface ReceiverOptions {
  listen: string;
  receiveBuffer: number;
  bus: Bus;
  /** Called once if the kernel granted less buffer than asked for. */
  onBufferShort?: (requested: number, granted: number) => void;
  clock?: () => number;
}

export class UdpReceiver {
  readonly #options: ReceiverOptions;
  readonly #clock: () => number;
  #socket: Socket | undefined;
  readonly stats: ReceiverStats = { received: 0, bytes: 0, droppedQueueFull: 0, exporters: new Map() };

  constructor(options: ReceiverOptions) {
    this.#options = options;
    this.#clock = options.clock ?? Date.now;
  }

  /** Binds and starts receiving; resolves with the bound address (port 0 picks a free one). */
  async start(): Promise<{ address: string; port: number; receiveBuffer: number }> {
    const { host, port } = splitHostPort(this.#options.listen);
    const socket = createSocket({ type: isIPv6(host) ? 'udp6' : 'udp4', reuseAddr: false });
    this.#socket = socket;
    const { bus } = this.#options;
    const stats = this.stats;
    const clock = this.#clock;
    socket.on('message', (payload: Buffer, remote: RemoteInfo) => {
      stats.received++;
      stats.bytes += payload.byteLength;
      const seen = stats.exporters.get(remote.address);
      stats.exporters.set(remote.address, seen === undefined ? 1 : seen + 1);
      const envelope = encodeEnvelope(clock(), remote.address, remote.port, payload);
      if (!bus.tryPublish(TOPICS.SFLOW_RAW, { key: remote.address, value: envelope })) stats.droppedQueueFull++;
    });
    await new Promise<void>((resolve, reject) => {
      const onError = (error: NodeJS.ErrnoException): void => {
        reject(new HoptraceError('bad-argument', `cannot listen for sFlow on UDP ${this.#options.listen}: ${error.code ?? error.message}${error.code === 'EADDRINUSE' ? ' (another collector is running? choose another port with --listen)' : error.code === 'EACCES' ? ' (ports below 1024 need root)' : ''}`, { cause: error }));
      };
      socket.once('error', onError);
      socket.bind({ address: host, port, exclusive: true }, () => {
        socket.off('error', onError);
        resolve();
      });
    });
    socket.on('error', () => { /* UDP sockets report ICMP errors of sends; we never send */ });
    let granted = 0;
    try {
      socket.setRecvBufferSize(this.#options.receiveBuffer);
      granted = socket.getRecvBufferSize();
    } catch {
      granted = socket.getRecvBufferSize();
    }
    // Linux reports twice the size it books for the payload (the other half is its bookkeeping).
    if (granted / 2 < this.#options.receiveBuffer) this.#options.onBufferShort?.(this.#options.receiveBuffer, granted / 2);
    const bound = socket.address();
    return { address: bound.address, port: bound.port, receiveBuffer: granted };
  }

  get port(): number | undefined {
    return this.#socket?.address().port;
  }

  /** Datagrams the kernel dropped on this socket (buffer full), from /proc/net/udp or udp6. */
  async kernelDrops(): Promise<number | undefined> {
    const port = this.port;
    if (port === undefined) return undefined;
    return readKernelDrops(port);
  }

  async stop(): Promise<void> {
    const socket = this.#socket;
    this.#socket = undefined;
    if (socket === undefined) return;
    await new Promise<void>((resolve) => socket.close(() => resolve()));
  }
}

/**
 * Datagrams the kernel dropped (receive buffer full) on the UDP sockets bound to `port`, summed
 * over /proc/net/udp and /proc/net/udp6; undefined when no such socket is listed.
 */
export async function readKernelDrops(port: number): Promise<number | undefined> {
  const portHex = port.toString(16).toUpperCase().padStart(4, '0');
  let total: number | undefined;
  for (const file of ['/proc/net/udp', '/proc/net/udp6']) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      const local = fields[1];
      if (local === undefined || !local.endsWith(`:${portHex}`)) continue;
      const drops = Number(fields[fields.length - 1]);
      if (Number.isFinite(drops)) total = (total ?? 0) + drops;
    }
  }
  return total;
}

export function splitHostPort(listen: string): { host: string; port: number } {
  const match = /^\[?([^\]]*?)\]?:(\d+)$/.exec(listen);
  if (match === null) throw new HoptraceError('bad-argument', `not host:port: ${listen}`);
  const port = Number(match[2]);
  if (port > 65_535) throw new HoptraceError('bad-argument', `port out of range in ${listen}`);
  return { host: match[1] === '' ? '0.0.0.0' : (match[1] as string), port };
}

