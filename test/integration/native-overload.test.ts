// The native receiver after an overload that fills the bus: it must deliver again once the consumer
// has caught up. It once did not: a full bus pinned every batch buffer lent to JS, the receive thread
// then dropped every datagram for want of a buffer, JS received nothing and allocated nothing, and
// the GC that would have given the buffers back never ran (0 of 10,000 delivered afterwards).
// Scaled down here: a pool of 16 batch buffers, a consumer held back while 6,000 datagrams arrive
// (about 23 full batches), then released; a recheck of 3,000 datagrams must all come through.
import { createSocket, type Socket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TOPICS } from '../../src/bus/bus.js';
import { MemoryBus } from '../../src/bus/memory-bus.js';
import { HandoffWatch, NativeUdpReceiver } from '../../src/collector/native-receiver.js';
import { readUdpPayloads } from '../../src/pcap/pcap-reader.js';
import { needService } from '../support/services.js';

const CORPUS = new URL('../../../shared/testdata/corpus/ovs-sflow-10k.pcap', import.meta.url);
const OVERLOAD = 6000;
const RECHECK = 3000;
const BATCH_BYTES = 512 * 1024; // the addon's default batch buffer
const POOL_BUFFERS = 16;
const MAX_PENDING = 4; // 8 buffers kept for the thread, 8 may be lent to JS
const SEND_CHUNK = 50;

const probe = (): string | undefined => {
  const available = NativeUdpReceiver.available();
  return available.ok ? undefined : available.reason;
};

async function until(what: string, done: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

async function sendAll(socket: Socket, payloads: readonly Uint8Array[], port: number): Promise<void> {
  for (let i = 0; i < payloads.length; i += SEND_CHUNK) {
    await Promise.all(payloads.slice(i, i + SEND_CHUNK).map((payload) => new Promise<void>((resolve, reject) => {
      socket.send(payload, port, '127.0.0.1', (error) => (error ? reject(error) : resolve()));
    })));
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

describe('NativeUdpReceiver after an overload', () => {
  let payloads: Uint8Array[] = [];
  const cleanups: (() => Promise<void> | void)[] = [];

  beforeAll(() => {
    payloads = [...readUdpPayloads(readFileSync(CORPUS), 'ovs-sflow-10k.pcap')].slice(0, OVERLOAD + RECHECK).map((p) => p.payload);
    expect(payloads).toHaveLength(OVERLOAD + RECHECK);
  });

  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  it('delivers again once a consumer that filled the bus has caught up', async (ctx) => {
    await needService(ctx, 'native', probe);
    const bus = new MemoryBus({ capacity: 65_536 });
    let consumed = 0;
    let release: () => void = () => undefined;
    let gate: Promise<void> | undefined = new Promise<void>((resolve) => { release = resolve; });
    const consumer = bus.consume(TOPICS.SFLOW_RAW, async (batch) => {
      if (gate !== undefined) await gate; // the slow consumer: holds the first batch until released
      consumed += batch.length;
    }, { group: 'test', maxBatch: 1000, lingerMs: 5 });
    cleanups.push(() => consumer.stop());
    cleanups.push(() => release());
    const receiver = new NativeUdpReceiver({
      listen: '127.0.0.1:0',
      receiveBuffer: 4 << 20,
      bus,
      bufferPoolBytes: POOL_BUFFERS * BATCH_BYTES,
      maxPendingBatches: MAX_PENDING,
      batchMs: 200, // full batches of 256 at this send rate: handed over as external Buffers
    });
    cleanups.push(() => receiver.stop());
    const { port } = await receiver.start();
    const sender = createSocket('udp4');
    await new Promise<void>((resolve) => sender.bind({ address: '127.0.0.1', port: 0 }, resolve));
    cleanups.push(() => { sender.close(); });
    const kernel = async (): Promise<number> => (await receiver.kernelDrops()) ?? 0;
    const native = (): NonNullable<ReturnType<NativeUdpReceiver['nativeStats']>> => {
      const stats = receiver.nativeStats();
      if (stats === undefined) throw new Error('no native stats after start');
      return stats;
    };

    // 1. Overload: the consumer holds everything while the bus fills with more than the pool.
    await sendAll(sender, payloads.slice(0, OVERLOAD), port);
    await until('the overload read and handed over', async () =>
      native().received + (await kernel()) >= OVERLOAD && receiver.stats.received === native().received);
    const overloaded = native();

    // 2. The consumer catches up and the bus empties; JS then sits idle.
    gate = undefined;
    release();
    await until('the bus drained', () => bus.depth(TOPICS.SFLOW_RAW) === 0 && consumed === receiver.stats.received - receiver.stats.droppedQueueFull);

    // 3. Recheck: datagrams at a modest rate must reach the consumer again.
    const consumed0 = consumed, handoff0 = native().droppedDatagrams, kernel0 = await kernel();
    await sendAll(sender, payloads.slice(OVERLOAD), port);
    const accounted = async (): Promise<number> => (consumed - consumed0) + (native().droppedDatagrams - handoff0) + (await kernel() - kernel0);
    await until('the recheck accounted for', async () => (await accounted()) >= RECHECK);
    const delivered = consumed - consumed0;
    const droppedHandoff = native().droppedDatagrams - handoff0;
    const droppedKernel = await kernel() - kernel0;

    expect({ delivered: delivered >= RECHECK * 0.9, droppedHandoff, droppedNoBuffer: native().droppedNoBuffer - overloaded.droppedNoBuffer })
      .toEqual({ delivered: true, droppedHandoff: 0, droppedNoBuffer: 0 });
    expect(delivered + droppedHandoff + droppedKernel).toBe(RECHECK);
    expect(receiver.health()).toEqual({ status: 'ok' });
    // The overload did reach the limit on buffers lent to JS, and the addon copied past it.
    expect(overloaded.heldLimit).toBe(POOL_BUFFERS - (MAX_PENDING + 4));
    expect(overloaded.heldBuffers).toBeLessThanOrEqual(overloaded.heldLimit);
    expect(overloaded.copiedHeld).toBeGreaterThan(0);
    expect(overloaded.droppedNoBuffer).toBe(0);
  });
});

// The stall detector behind NativeUdpReceiver.health() (for /health), on counts alone.
describe('HandoffWatch', () => {
  it('says stalled only when datagrams keep arriving and none reached JS for stallMs', () => {
    const watch = new HandoffWatch(5000);
    expect(watch.check(0, 0, 0)).toEqual({ status: 'ok' }); // idle
    expect(watch.check(100, 100, 1000)).toEqual({ status: 'ok' }); // delivering
    expect(watch.check(300, 100, 2000)).toEqual({ status: 'ok' }); // arrivals, none delivered: from here
    expect(watch.check(500, 100, 6999)).toEqual({ status: 'ok' }); // not yet 5 s
    const stalled = watch.check(700, 100, 7000);
    expect(stalled.status).toBe('stalled');
    expect(stalled).toMatchObject({ reason: expect.stringContaining('none handed to JS for 5 s') });
    expect(watch.check(900, 100, 9000).status).toBe('stalled');
    expect(watch.check(900, 100, 10_000)).toEqual({ status: 'ok' }); // nothing arriving now
    expect(watch.check(950, 100, 11_000).status).toBe('stalled'); // arriving again, still nothing delivered
    expect(watch.check(1000, 101, 12_000)).toEqual({ status: 'ok' }); // delivered again: recovered
    expect(watch.check(1200, 101, 13_000)).toEqual({ status: 'ok' }); // a new wait starts over
    expect(watch.check(1400, 101, 17_999)).toEqual({ status: 'ok' });
    expect(watch.check(1600, 101, 18_000).status).toBe('stalled');
  });

  it('never calls a full bus or a slow consumer stalled: those datagrams reach JS', () => {
    const watch = new HandoffWatch(1000);
    for (let t = 0; t <= 20_000; t += 500) expect(watch.check(t * 10, t * 9, t)).toEqual({ status: 'ok' });
  });
});
