// The MemoryBus as it was before one cursor per consumer group (src/bus/memory-bus.ts at 2666783^,
// unchanged but for the import paths): the peer of bench/bus.ts's tryPublish measurement. Not used by
// the service.
// In-process bus for the embedded deployment: one bounded ring buffer per topic, back-pressured
// publish for producers that can wait, tryPublish for the UDP loop that cannot, and batched
// consumption whose messages are released only when the handler resolves (at-least-once, as Kafka).
import { BusError } from '../../src/errors.js';
import type { BatchHandler, Bus, BusMessage, ConsumeOptions, Consumer, Topic } from '../../src/bus/bus.js';

const RETRY_BACKOFF_MS = [100, 250, 500, 1000, 2000, 5000] as const;

class Ring {
  readonly #items: (BusMessage | undefined)[];
  #head = 0;
  #size = 0;
  readonly capacity: number;
  constructor(capacity: number) {
    this.capacity = capacity;
    this.#items = new Array<BusMessage | undefined>(capacity);
  }
  get size(): number { return this.#size; }
  push(message: BusMessage): boolean {
    if (this.#size === this.capacity) return false;
    this.#items[(this.#head + this.#size) % this.capacity] = message;
    this.#size++;
    return true;
  }
  /** The first `n` messages, without removing them. */
  peek(n: number): BusMessage[] {
    const count = Math.min(n, this.#size);
    const out = new Array<BusMessage>(count);
    for (let i = 0; i < count; i++) out[i] = this.#items[(this.#head + i) % this.capacity] as BusMessage;
    return out;
  }
  drop(n: number): void {
    for (let i = 0; i < n; i++) this.#items[(this.#head + i) % this.capacity] = undefined;
    this.#head = (this.#head + n) % this.capacity;
    this.#size -= n;
  }
}

interface TopicState {
  ring: Ring;
  /** Resolves consumers waiting for data. */
  dataWaiters: (() => void)[];
  /** Resolves publishers waiting for room. */
  roomWaiters: (() => void)[];
  /** The time the oldest queued message arrived (for linger). */
  oldestAt: number;
  consumers: number;
}

export class MemoryBusSession2 implements Bus {
  readonly kind = 'memory' as const;
  readonly #capacity: number;
  readonly #topics = new Map<Topic, TopicState>();
  readonly #consumers = new Set<MemoryConsumer>();
  #closed = false;

  constructor(options: { capacity: number }) {
    this.#capacity = options.capacity;
  }

  #topic(topic: Topic): TopicState {
    let state = this.#topics.get(topic);
    if (state === undefined) {
      state = { ring: new Ring(this.#capacity), dataWaiters: [], roomWaiters: [], oldestAt: 0, consumers: 0 };
      this.#topics.set(topic, state);
    }
    return state;
  }

  tryPublish(topic: Topic, message: BusMessage): boolean {
    if (this.#closed) return false;
    const state = this.#topic(topic);
    if (state.ring.size === 0) state.oldestAt = performance.now();
    if (!state.ring.push(message)) return false;
    if (state.dataWaiters.length > 0) wake(state.dataWaiters);
    return true;
  }

  async publish(topic: Topic, messages: readonly BusMessage[]): Promise<void> {
    const state = this.#topic(topic);
    for (const message of messages) {
      for (;;) {
        if (this.#closed) throw new BusError('closed', `bus closed while publishing to ${topic}`, topic);
        if (this.tryPublish(topic, message)) break;
        await new Promise<void>((resolve) => state.roomWaiters.push(resolve));
      }
    }
  }

  consume(topic: Topic, handler: BatchHandler, options: ConsumeOptions): Consumer {
    const state = this.#topic(topic);
    if (state.consumers > 0) {
      // One group per topic is all the embedded deployment needs; several would need per-group cursors.
      throw new BusError('publish-failed', `topic ${topic} already has a consumer in this process`, topic);
    }
    state.consumers++;
    const consumer = new MemoryConsumer(state, handler, options, () => {
      state.consumers--;
      this.#consumers.delete(consumer);
    });
    this.#consumers.add(consumer);
    consumer.start();
    return consumer;
  }

  depth(topic: Topic): number {
    return this.#topics.get(topic)?.ring.size ?? 0;
  }

  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all([...this.#consumers].map((c) => c.drainAndStop()));
    for (const state of this.#topics.values()) wake(state.roomWaiters);
  }
}

class MemoryConsumer implements Consumer {
  readonly #state: TopicState;
  readonly #handler: BatchHandler;
  readonly #options: ConsumeOptions;
  readonly #onStop: () => void;
  #running = true;
  #draining = false;
  #loop: Promise<void> = Promise.resolve();
  #wakeTimer: NodeJS.Timeout | undefined;

  constructor(state: TopicState, handler: BatchHandler, options: ConsumeOptions, onStop: () => void) {
    this.#state = state;
    this.#handler = handler;
    this.#options = options;
    this.#onStop = onStop;
  }

  start(): void {
    this.#loop = this.#run();
  }

  async #run(): Promise<void> {
    let failures = 0;
    while (this.#running) {
      const ring = this.#state.ring;
      if (ring.size === 0) {
        if (this.#draining) break;
        await this.#waitForData(undefined);
        continue;
      }
      const age = performance.now() - this.#state.oldestAt;
      if (ring.size < this.#options.maxBatch && age < this.#options.lingerMs && !this.#draining) {
        await this.#waitForData(this.#options.lingerMs - age);
        // Woken by new data or the linger deadline: loop re-checks both.
        if (ring.size < this.#options.maxBatch && performance.now() - this.#state.oldestAt < this.#options.lingerMs && !this.#draining) continue;
      }
      const batch = ring.peek(this.#options.maxBatch);
      try {
        await this.#handler(batch);
        failures = 0;
        ring.drop(batch.length);
        this.#state.oldestAt = performance.now();
        wake(this.#state.roomWaiters);
      } catch {
        // The handler reports its own failures; the batch stays queued and is handed over again.
        const delay = RETRY_BACKOFF_MS[Math.min(failures, RETRY_BACKOFF_MS.length - 1)] ?? 5000;
        failures++;
        if (this.#draining && failures > RETRY_BACKOFF_MS.length) break; // give up on shutdown
        await new Promise((resolve) => setTimeout(resolve, delay));
      }
    }
    this.#onStop();
  }

  #waitForData(timeoutMs: number | undefined): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = (): void => {
        if (this.#wakeTimer !== undefined) clearTimeout(this.#wakeTimer);
        this.#wakeTimer = undefined;
        resolve();
      };
      this.#state.dataWaiters.push(done);
      if (timeoutMs !== undefined) this.#wakeTimer = setTimeout(() => {
        const i = this.#state.dataWaiters.indexOf(done);
        if (i >= 0) this.#state.dataWaiters.splice(i, 1);
        done();
      }, Math.max(1, Math.ceil(timeoutMs)));
    });
  }

  /** Delivers everything queued, then stops. */
  async drainAndStop(): Promise<void> {
    this.#draining = true;
    wake(this.#state.dataWaiters);
    await this.#loop;
  }

  async stop(): Promise<void> {
    this.#running = false;
    wake(this.#state.dataWaiters);
    await this.#loop;
  }
}

function wake(waiters: (() => void)[]): void {
  const all = waiters.splice(0, waiters.length);
  for (const resolve of all) resolve();
}
