import { describe, expect, it } from 'vitest';
import { TOPICS, type BusMessage } from './bus.js';
import { MemoryBus } from './memory-bus.js';

const message = (n: number): BusMessage => ({ key: 'a', value: new Uint8Array([n]) });

describe('MemoryBus', () => {
  it('tryPublish refuses past capacity instead of waiting', () => {
    const bus = new MemoryBus({ capacity: 16 });
    const accepted = Array.from({ length: 20 }, (_, i) => bus.tryPublish(TOPICS.SFLOW_RAW, message(i)));
    expect(accepted.filter(Boolean)).toHaveLength(16);
    expect(bus.depth(TOPICS.SFLOW_RAW)).toBe(16);
  });

  it('delivers in order in batches and releases only after the handler resolves', async () => {
    const bus = new MemoryBus({ capacity: 64 });
    for (let i = 0; i < 40; i++) bus.tryPublish(TOPICS.SFLOW_RAW, message(i));
    const seen: number[] = [];
    const sizes: number[] = [];
    const consumer = bus.consume(TOPICS.SFLOW_RAW, async (batch) => {
      sizes.push(batch.length);
      for (const m of batch) seen.push(m.value[0] as number);
    }, { group: 'g', maxBatch: 16, lingerMs: 5 });
    await bus.close();
    await consumer.stop();
    expect(seen).toEqual(Array.from({ length: 40 }, (_, i) => i));
    expect(sizes.every((s) => s <= 16)).toBe(true);
  });

  it('hands a failed batch over again (at-least-once)', async () => {
    const bus = new MemoryBus({ capacity: 16 });
    bus.tryPublish(TOPICS.SFLOW_RAW, message(7));
    let calls = 0;
    const seen: number[] = [];
    bus.consume(TOPICS.SFLOW_RAW, async (batch) => {
      calls++;
      if (calls === 1) throw new Error('store down');
      for (const m of batch) seen.push(m.value[0] as number);
    }, { group: 'g', maxBatch: 16, lingerMs: 1 });
    await bus.close();
    expect(calls).toBe(2);
    expect(seen).toEqual([7]);
  });

  it('publish waits for room instead of dropping', async () => {
    const bus = new MemoryBus({ capacity: 16 });
    const seen: number[] = [];
    bus.consume(TOPICS.SFLOW_RAW, async (batch) => {
      for (const m of batch) seen.push(m.value[0] as number);
    }, { group: 'g', maxBatch: 4, lingerMs: 1 });
    await bus.publish(TOPICS.SFLOW_RAW, Array.from({ length: 100 }, (_, i) => message(i)));
    await bus.close();
    expect(seen).toHaveLength(100);
  });

  it('lingers for a fuller batch but not past the deadline', async () => {
    const bus = new MemoryBus({ capacity: 64 });
    const sizes: number[] = [];
    bus.consume(TOPICS.SFLOW_RAW, async (batch) => { sizes.push(batch.length); }, { group: 'g', maxBatch: 32, lingerMs: 50 });
    for (let i = 0; i < 5; i++) bus.tryPublish(TOPICS.SFLOW_RAW, message(i));
    const deadline = Date.now() + 5000;
    while (sizes.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(sizes).toEqual([5]); // one batch: the linger gathered all five, the deadline released them
    await bus.close();
  });

  it('every consumer group sees every message; the slowest group holds the room', async () => {
    const bus = new MemoryBus({ capacity: 8 });
    const fast: number[] = [];
    const slow: number[] = [];
    let releaseSlow: () => void = () => undefined;
    const slowGate = new Promise<void>((resolve) => { releaseSlow = resolve; });
    bus.consume(TOPICS.SFLOW_RAW, async (batch) => { for (const m of batch) fast.push(m.value[0] as number); }, { group: 'fast', maxBatch: 4, lingerMs: 1 });
    bus.consume(TOPICS.SFLOW_RAW, async (batch) => {
      await slowGate;
      for (const m of batch) slow.push(m.value[0] as number);
    }, { group: 'slow', maxBatch: 4, lingerMs: 1 });
    for (let i = 0; i < 8; i++) expect(bus.tryPublish(TOPICS.SFLOW_RAW, message(i))).toBe(true);
    // the fast group takes everything, the slow one nothing: no room until the slow one moves
    for (let i = 0; fast.length < 8 && i < 500; i++) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(fast).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(bus.tryPublish(TOPICS.SFLOW_RAW, message(8))).toBe(false);
    expect(bus.depth(TOPICS.SFLOW_RAW)).toBe(8);
    releaseSlow();
    await bus.publish(TOPICS.SFLOW_RAW, [message(9), message(10)]);
    await bus.close();
    expect(slow).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 9, 10]);
    expect(fast).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 9, 10]);
  });

  it('refuses a second consumer of the same group in one process', () => {
    const bus = new MemoryBus({ capacity: 8 });
    bus.consume(TOPICS.SFLOW_RAW, async () => undefined, { group: 'g', maxBatch: 4, lingerMs: 1 });
    expect(() => bus.consume(TOPICS.SFLOW_RAW, async () => undefined, { group: 'g', maxBatch: 4, lingerMs: 1 })).toThrow(/group g/);
  });
});
