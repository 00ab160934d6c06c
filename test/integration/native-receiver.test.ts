// The native receive loop (native/udp-rx) on a real loopback socket: real OVS datagrams from the
// corpus go in through a Node dgram socket at a modest rate; every one must come out of the bus
// intact in its envelope, the counts must add up, drops must be counted where they happen (bus
// full, handoff queue full), and close must leave nothing running.
import { spawn, spawnSync } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TOPICS, type BusMessage } from '../../src/bus/bus.js';
import { MemoryBus } from '../../src/bus/memory-bus.js';
import { decodeEnvelope } from '../../src/collector/envelope.js';
import { ADDON_PATH, NativeUdpReceiver } from '../../src/collector/native-receiver.js';
import { HoptraceError } from '../../src/errors.js';
import { readUdpPayloads } from '../../src/pcap/pcap-reader.js';
import { needService } from '../support/services.js';

const CORPUS = new URL('../../../shared/testdata/corpus/ovs-sflow-10k.pcap', import.meta.url);
const ADDON = fileURLToPath(new URL(`../../${ADDON_PATH}`, import.meta.url));
const DATAGRAMS = 3000;
const SEND_CHUNK = 50; // datagrams sent before yielding to the event loop: a modest rate, far below any loss

let built: string | undefined | 'not tried' = 'not tried';

/** Loads the addon, building it first (once) when it is not built: skip only when that fails. */
const probe = (): string | undefined => {
  const first = NativeUdpReceiver.available();
  if (first.ok) return undefined;
  if (built === 'not tried') built = buildAddon();
  if (built !== undefined) return `${first.reason}; building it failed: ${built}`;
  const second = NativeUdpReceiver.available();
  return second.ok ? undefined : second.reason;
};

/** node-gyp rebuild in native/udp-rx with npm's own node-gyp and the installed Node headers; the failure, if any. */
function buildAddon(): string | undefined {
  const prefix = dirname(dirname(process.execPath));
  const nodeGyp = join(prefix, 'lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js');
  if (!existsSync(nodeGyp)) return `node-gyp not found at ${nodeGyp} (it comes with npm)`;
  const args = [nodeGyp, 'rebuild', '--directory', fileURLToPath(new URL('../../native/udp-rx', import.meta.url))];
  // Headers of the running Node, never a download (npm passes its nodedir setting as npm_config_nodedir).
  if (process.env['npm_config_nodedir'] === undefined && existsSync(join(prefix, 'include/node/node_api.h'))) args.push(`--nodedir=${prefix}`);
  const run = spawnSync(process.execPath, args, { encoding: 'utf8', timeout: 120_000 });
  if (run.status === 0) return undefined;
  const errors = `${run.stdout}\n${run.stderr}`.split('\n').filter((line) => /error|not found|No such/i.test(line)).slice(0, 4);
  return `exit ${run.status ?? run.signal}: ${errors.join(' | ') || 'no output'}`;
}

async function waitFor(what: string, done: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

async function openSender(type: 'udp4' | 'udp6', address: string): Promise<Socket> {
  const socket = createSocket(type);
  await new Promise<void>((resolve) => socket.bind({ address, port: 0 }, resolve));
  return socket;
}

async function sendAll(socket: Socket, payloads: readonly Uint8Array[], port: number, address: string): Promise<void> {
  for (let i = 0; i < payloads.length; i += SEND_CHUNK) {
    await Promise.all(payloads.slice(i, i + SEND_CHUNK).map((payload) => new Promise<void>((resolve, reject) => {
      socket.send(payload, port, address, (error) => (error ? reject(error) : resolve()));
    })));
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

/** Runs a node script; resolves with its exit code and output once it exits by itself. */
function runNode(script: string, flags: string[] = []): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...flags, '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString(); });
    child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`child did not exit by itself (something kept it alive); stdout: ${stdout} stderr: ${stderr}`));
    }, 20_000);
    child.on('exit', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }); });
  });
}

describe('NativeUdpReceiver', () => {
  let payloads: Uint8Array[] = [];
  const cleanups: (() => Promise<void> | void)[] = [];

  beforeAll(() => {
    payloads = [...readUdpPayloads(readFileSync(CORPUS), 'ovs-sflow-10k.pcap')].slice(0, DATAGRAMS).map((p) => p.payload);
    expect(payloads).toHaveLength(DATAGRAMS);
  });

  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  it('delivers every datagram intact, in its envelope, and counts it', async (ctx) => {
    await needService(ctx, 'native', probe);
    const bus = new MemoryBus({ capacity: 65_536 });
    const got: BusMessage[] = [];
    const consumer = bus.consume(TOPICS.SFLOW_RAW, async (batch) => { got.push(...batch); }, { group: 'test', maxBatch: 1000, lingerMs: 5 });
    cleanups.push(() => consumer.stop());
    const receiver = new NativeUdpReceiver({ listen: '127.0.0.1:0', receiveBuffer: 4 << 20, bus });
    cleanups.push(() => receiver.stop());
    const bound = await receiver.start();
    expect(bound.address).toBe('127.0.0.1');
    expect(receiver.port).toBe(bound.port);
    const sender = await openSender('udp4', '127.0.0.1');
    cleanups.push(() => { sender.close(); });

    const before = Date.now();
    await sendAll(sender, payloads, bound.port, '127.0.0.1');
    await waitFor(`${DATAGRAMS} datagrams on the bus`, () => got.length >= DATAGRAMS);
    const after = Date.now();

    expect(got).toHaveLength(DATAGRAMS);
    const senderPort = sender.address().port;
    got.forEach((message, i) => {
      const datagram = decodeEnvelope(message.value);
      expect(message.key).toBe('127.0.0.1');
      expect(datagram.exporter).toBe('127.0.0.1');
      expect(datagram.exporterPort).toBe(senderPort);
      expect(Buffer.from(datagram.payload).equals(payloads[i] as Uint8Array)).toBe(true);
      expect(datagram.receivedAt).toBeGreaterThanOrEqual(before);
      expect(datagram.receivedAt).toBeLessThan(after + 1); // Date.now() truncates to the ms
    });
    const bytes = payloads.reduce((sum, p) => sum + p.byteLength, 0);
    const stats = receiver.stats;
    expect({ received: stats.received, bytes: stats.bytes, droppedQueueFull: stats.droppedQueueFull, droppedHandoff: stats.droppedHandoff })
      .toEqual({ received: DATAGRAMS, bytes, droppedQueueFull: 0, droppedHandoff: 0 });
    expect(Object.fromEntries(stats.exporters)).toEqual({ '127.0.0.1': DATAGRAMS });
    const native = receiver.nativeStats();
    expect(native).toMatchObject({ received: DATAGRAMS, bytes, droppedBatches: 0, droppedDatagrams: 0, truncated: 0, receiveErrors: 0 });
    expect(native?.batches).toBeGreaterThan(0);
    expect(await receiver.kernelDrops()).toBe(0);
  });

  it('receives on IPv6 and keys by the exporter address as decodeEnvelope formats it', async (ctx) => {
    await needService(ctx, 'native', probe);
    const bus = new MemoryBus({ capacity: 1000 });
    const receiver = new NativeUdpReceiver({ listen: '[::1]:0', receiveBuffer: 1 << 20, bus });
    cleanups.push(() => receiver.stop());
    const bound = await receiver.start();
    expect(bound.address).toBe('::1');
    const sender = await openSender('udp6', '::1');
    cleanups.push(() => { sender.close(); });
    await sendAll(sender, payloads.slice(0, 10), bound.port, '::1');
    await waitFor('10 datagrams', () => receiver.stats.received >= 10);
    expect(bus.depth(TOPICS.SFLOW_RAW)).toBe(10);
    expect(Object.fromEntries(receiver.stats.exporters)).toEqual({ '::1': 10 });
    await receiver.stop();
    const got: BusMessage[] = [];
    const consumer = bus.consume(TOPICS.SFLOW_RAW, async (batch) => { got.push(...batch); }, { group: 'test', maxBatch: 100, lingerMs: 1 });
    await waitFor('the bus drained', () => got.length >= 10);
    await consumer.stop();
    for (const message of got) {
      const datagram = decodeEnvelope(message.value);
      expect(message.key).toBe('::1');
      expect(datagram).toMatchObject({ exporter: '::1', exporterPort: sender.address().port });
    }
  });

  it('counts datagrams the full bus refused as droppedQueueFull', async (ctx) => {
    await needService(ctx, 'native', probe);
    const bus = new MemoryBus({ capacity: 10 }); // nobody consumes
    const receiver = new NativeUdpReceiver({ listen: '127.0.0.1:0', receiveBuffer: 1 << 20, bus });
    cleanups.push(() => receiver.stop());
    const { port } = await receiver.start();
    const sender = await openSender('udp4', '127.0.0.1');
    cleanups.push(() => { sender.close(); });
    await sendAll(sender, payloads.slice(0, 50), port, '127.0.0.1');
    await waitFor('50 datagrams', () => receiver.stats.received >= 50);
    const stats = receiver.stats;
    expect(stats).toMatchObject({ received: 50, droppedQueueFull: 40, droppedHandoff: 0 });
    expect(bus.depth(TOPICS.SFLOW_RAW)).toBe(10);
    expect(stats.exporters.get('127.0.0.1')).toBe(50);
  });

  // One datagram per batch; JS takes none while the event loop is blocked (as in a long GC pause or
  // a slow handler) and a child process sends: the thread must go on draining the socket, dropping
  // and counting what JS cannot take.
  it.for([
    { name: 'handoff queue full', options: { maxPendingBatches: 1 }, delivered: 1, dropped: { droppedBatches: 19, droppedNoBuffer: 0 } },
    { name: 'every buffer in use', options: { bufferPoolBytes: 1 }, delivered: 2, dropped: { droppedBatches: 0, droppedNoBuffer: 18 } },
  ])('drops and counts what JS does not take in time: $name', async ({ options, delivered, dropped }, ctx) => {
    await needService(ctx, 'native', probe);
    const bus = new MemoryBus({ capacity: 1000 });
    const receiver = new NativeUdpReceiver({ listen: '127.0.0.1:0', receiveBuffer: 1 << 20, bus, batchDatagrams: 1, ...options });
    cleanups.push(() => receiver.stop());
    const { port } = await receiver.start();
    const count = 20;
    const sent = payloads.slice(0, count);
    const child = spawnSync(process.execPath, ['-e', `
      const sender = require('node:dgram').createSocket('udp4');
      const payloads = ${JSON.stringify(sent.map((p) => Buffer.from(p).toString('base64')))};
      let left = payloads.length;
      for (const p of payloads) sender.send(Buffer.from(p, 'base64'), ${port}, '127.0.0.1', () => { if (--left === 0) sender.close(); });
    `], { stdio: 'inherit', timeout: 20_000 });
    expect(child.status).toBe(0);
    const deadline = Date.now() + 10_000;
    while ((receiver.nativeStats()?.received ?? 0) < count && Date.now() < deadline) { /* still blocked */ }
    await waitFor('every datagram accounted for', () => receiver.stats.received >= count);
    const stats = receiver.stats;
    const native = receiver.nativeStats();
    expect(native).toMatchObject({ received: count, droppedDatagrams: count - delivered, ...dropped });
    expect(stats).toMatchObject({ received: count, droppedHandoff: count - delivered, droppedQueueFull: count - delivered });
    expect(bus.depth(TOPICS.SFLOW_RAW)).toBe(delivered);
    expect(stats.bytes).toBe(sent.reduce((sum, p) => sum + p.byteLength, 0));
  });

  it('stop() delivers what was read, frees the port and can be called twice', async (ctx) => {
    await needService(ctx, 'native', probe);
    const bus = new MemoryBus({ capacity: 1000 });
    // Batches handed over only after 10 s unless full: stop() must flush the partial one.
    const receiver = new NativeUdpReceiver({ listen: '127.0.0.1:0', receiveBuffer: 1 << 20, bus, batchMs: 10_000, batchDatagrams: 1000 });
    const { port } = await receiver.start();
    const sender = await openSender('udp4', '127.0.0.1');
    cleanups.push(() => { sender.close(); });
    await sendAll(sender, payloads.slice(0, 5), port, '127.0.0.1');
    await waitFor('5 datagrams read by the thread', () => receiver.nativeStats()?.received === 5);
    expect(bus.depth(TOPICS.SFLOW_RAW)).toBe(0);
    await receiver.stop();
    expect(bus.depth(TOPICS.SFLOW_RAW)).toBe(5);
    expect(receiver.port).toBeUndefined();
    expect(await receiver.kernelDrops()).toBeUndefined();
    await receiver.stop();
    expect(receiver.stats.received).toBe(5);
    const again = new NativeUdpReceiver({ listen: `127.0.0.1:${port}`, receiveBuffer: 1 << 20, bus });
    cleanups.push(() => again.stop());
    expect((await again.start()).port).toBe(port);
  });

  it('gives a clear error for a port in use and a name that does not resolve', async (ctx) => {
    await needService(ctx, 'native', probe);
    const bus = new MemoryBus({ capacity: 10 });
    const holder = await openSender('udp4', '127.0.0.1');
    cleanups.push(() => { holder.close(); });
    const taken = new NativeUdpReceiver({ listen: `127.0.0.1:${holder.address().port}`, receiveBuffer: 1 << 20, bus });
    const error: unknown = await taken.start().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HoptraceError);
    expect((error as HoptraceError).code).toBe('bad-argument');
    expect((error as HoptraceError).message).toMatch(/^cannot listen for sFlow on UDP 127\.0\.0\.1:\d+: EADDRINUSE \(another collector is running\?/);
    await taken.stop(); // never started: nothing to do
    const unresolvable = new NativeUdpReceiver({ listen: 'no-such-host.invalid:6343', receiveBuffer: 1 << 20, bus });
    await expect(unresolvable.start()).rejects.toThrow(/no-such-host\.invalid does not resolve/);
  });

  it('gets its batch buffers back from the GC: two buffers carry ten full batches', async (ctx) => {
    await needService(ctx, 'native', probe);
    // Batches of 40 corpus datagrams (about 53 KB) in the smallest batch buffers (64 KiB + 32):
    // at least half full, so each reaches JS without a copy and only the GC can give it back.
    const round = payloads.slice(0, 40).map((p) => Buffer.from(p).toString('base64'));
    const run = await runNode(`
      const rx = require(${JSON.stringify(ADDON)});
      const sender = require('node:dgram').createSocket('udp4');
      const payloads = ${JSON.stringify(round)}.map((p) => Buffer.from(p, 'base64'));
      let got = 0, batches = 0, external = 0;
      const handle = rx.open({ host: '127.0.0.1', port: 0, batchDatagrams: 40, batchBytes: 65568, bufferPoolBytes: 1 },
        (batch, count) => { got += count; batches++; if (batch.byteLength > 32784) external++; }, () => {});
      const port = rx.info(handle).port;
      const tick = () => new Promise((resolve) => setTimeout(resolve, 5));
      (async () => {
        for (let r = 1; r <= 10; r++) {
          for (const p of payloads) sender.send(p, port, '127.0.0.1');
          for (let i = 0; i < 2000 && rx.stats(handle).received < 40 * r; i++) await tick();
          for (let i = 0; i < 2000 && got + rx.stats(handle).droppedDatagrams < 40 * r; i++) await tick();
          global.gc();
          await tick(); await tick(); // finalizers run from the event loop after the GC
        }
        console.log(JSON.stringify({ got, batches, external, stats: rx.stats(handle) }));
        rx.close(handle);
        sender.close();
      })();
    `, ['--expose-gc']);
    expect(run.stderr).toBe('');
    const result = JSON.parse(run.stdout) as { got: number; batches: number; external: number; stats: Record<string, number> };
    expect(result).toMatchObject({ got: 400, batches: 10, external: 10 });
    expect(result.stats).toMatchObject({ received: 400, droppedDatagrams: 0, droppedNoBuffer: 0, allocations: 2 });
  });

  it('leaves nothing that keeps the process alive once closed, and survives exit while running', async (ctx) => {
    await needService(ctx, 'native', probe);
    // The addon itself, in a child process that must exit on its own.
    const closes = await runNode(`
      const rx = require(${JSON.stringify(ADDON)});
      const dgram = require('node:dgram');
      let got = 0;
      const handle = rx.open({ host: '127.0.0.1', port: 0, batchMs: 1 }, (batch, count) => {
        got += count;
        if (got === 10) { rx.close(handle); sender.close(); }
      }, () => console.log(JSON.stringify({ closed: got, stats: rx.stats(handle) })));
      const sender = dgram.createSocket('udp4');
      for (let i = 0; i < 10; i++) sender.send('datagram ' + i, rx.info(handle).port, '127.0.0.1');
    `);
    expect(closes.stderr).toBe('');
    expect(closes.code).toBe(0);
    expect(JSON.parse(closes.stdout)).toMatchObject({ closed: 10, stats: { received: 10, droppedDatagrams: 0 } });
    // process.exit() with the thread still receiving: the environment cleanup stops it.
    const exits = await runNode(`
      const rx = require(${JSON.stringify(ADDON)});
      rx.open({ host: '127.0.0.1', port: 0 }, () => {}, () => {});
      setTimeout(() => process.exit(3), 50);
    `);
    expect(exits).toMatchObject({ code: 3, stderr: '' });
  });
});
