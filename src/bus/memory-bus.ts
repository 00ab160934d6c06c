// In-process bus for the embedded deployment: one bounded ring buffer per topic, back-pressured
// publish for producers that can wait, tryPublish for the UDP loop that cannot, and batched
// consumption whose messages are released only when the handler resolves (at-least-once, as Kafka).
import { BusError } from '../errors.js';
import type { BatchHandler, Bus, BusMessage, ConsumeOptions, Consumer, Topic } from './bus.js';

const RETRY_BACKOFF_MS = [100, 250, 500, 1000, 2000, 5000] as const;

/**
 * A bounded queue addressed by absolute message numbers: each consumer group reads from its own
 * cursor, and a message leaves the ring once every group has taken it (the slowest group sets the
 * back-pressure, as a Kafka topic's retention would not: the embedded bus keeps nothing longer).
 */
class Ring {
  readonly #items: (BusMessage | undefined)[];
  /** Absolute number of the oldest message held. */
  #base = 0;
  #size = 0;
  readonly capacity: number;
  constructor(capacity: number) {
    this.capacity = capacity;
    this.#items = new Array<BusMessage | undefined>(capacity);
  }
  get size(): number { return this.#size; }
  get base(): number { return this.#base; }
  /** Absolute number the next message will get. */
  get end(): number { return this.#base + this.#size; }
  push(message: BusMessage): boolean {
    if (this.#size === this.capacity) return false;
    this.#items[(this.#base + this.#size) % this.capacity] = message;
    this.#size++;
    return true;
  }
  /** Up to `n` messages from absolute number `from`, without removing them. */
  peek(from: number, n: number): BusMessage[] {
    const count = Math.max(0, Math.min(n, this.end - from));
    const out = new Array<BusMessage>(count);
    for (let i = 0; i < count; i++) out[i] = this.#items[(from + i) % this.capacity] as BusMessage;
    return out;
  }
  /** Releases every message before absolute number `to`. */
  dropTo(to: number): void {
    while (this.#base < to && this.#size > 0) {
      this.#items[this.#base % this.capacity] = undefined;
      this.#base++;
      this.#size--;
    }
  }
}

interface GroupCursor {
  /** Absolute number of the next message this group reads. */
  next: number;
  /**
   * When the oldest message this group has not read arrived (for linger): set when a message
   * arrives for a group that had read everything, and after each batch. The clock is read only
   * then, not per message (performance.now() costs more than the rest of tryPublish).
   */
  oldestAt: number;
}

interface TopicState {
  ring: Ring;
  /** Resolves consumers waiting for data. */
  dataWaiters: (() => void)[];
  /** Resolves publishers waiting for room. */
  roomWaiters: (() => void)[];
  /** One cursor per consumer group; a message is released once every group is past it. */
  groups: Map<string, GroupCursor>;
}

function release(state: TopicState): void {
  if (state.groups.size === 0) return;
  let low = Number.POSITIVE_INFINITY;
  for (const g of state.groups.values()) low = Math.min(low, g.next);
  const before = state.ring.size;
  state.ring.dropTo(low);
  if (state.ring.size < before) wake(state.roomWaiters);
}

export class MemoryBus implements Bus {
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
      state = { ring: new Ring(this.#capacity), dataWaiters: [], roomWaiters: [], groups: new Map() };
      this.#topics.set(topic, state);
    }
    return state;
  }

  tryPublish(topic: Topic, message: BusMessage): boolean {
    if (this.#closed) return false;
    const state = this.#topic(topic);
    const ring = state.ring;
    const end = ring.end;
    if (!ring.push(message)) return false;
    let now = -1;
    for (const g of state.groups.values()) {
      if (g.next !== end) continue;
      if (now < 0) now = performance.now();
      g.oldestAt = now;
    }
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

  /**
   * Every group sees every message, from the oldest still queued when it joins. One consumer per
   * group in a process (the embedded deployment runs one of each stage).
   */
  consume(topic: Topic, handler: BatchHandler, options: ConsumeOptions): Consumer {
    const state = this.#topic(topic);
    if (state.groups.has(options.group)) {
      throw new BusError('publish-failed', `topic ${topic} already has a consumer of group ${options.group} in this process`, topic);
    }
    const cursor: GroupCursor = { next: state.ring.base, oldestAt: performance.now() };
    state.groups.set(options.group, cursor);
    const consumer = new MemoryConsumer(state, cursor, handler, options, () => {
      state.groups.delete(options.group);
      this.#consumers.delete(consumer);
      release(state);
    });
    this.#consumers.add(consumer);
    consumer.start();
    return consumer;
  }

  /** Messages queued and not yet taken by every group (the slowest group's lag). */
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
  readonly #cursor: GroupCursor;
  readonly #handler: BatchHandler;
  readonly #options: ConsumeOptions;
  readonly #onStop: () => void;
  #running = true;
  #draining = false;
  #loop: Promise<void> = Promise.resolve();
  #wakeTimer: NodeJS.Timeout | undefined;

  constructor(state: TopicState, cursor: GroupCursor, handler: BatchHandler, options: ConsumeOptions, onStop: () => void) {
    this.#state = state;
    this.#cursor = cursor;
    this.#handler = handler;
    this.#options = options;
    this.#onStop = onStop;
  }

  start(): void {
    this.#loop = this.#run();
  }

  async #run(): Promise<void> {
    let failures = 0;
    const ring = this.#state.ring;
    const cursor = this.#cursor;
    while (this.#running) {
      const pending = ring.end - cursor.next;
      if (pending <= 0) {
        if (this.#draining) break;
        await this.#waitForData(undefined);
        continue;
      }
      const age = performance.now() - cursor.oldestAt;
      if (pending < this.#options.maxBatch && age < this.#options.lingerMs && !this.#draining) {
        await this.#waitForData(this.#options.lingerMs - age);
        // Woken by new data or the linger deadline: loop re-checks both.
        if (ring.end - cursor.next < this.#options.maxBatch && performance.now() - cursor.oldestAt < this.#options.lingerMs && !this.#draining) continue;
      }
      const batch = ring.peek(cursor.next, this.#options.maxBatch);
      try {
        await this.#handler(batch);
        failures = 0;
        cursor.next += batch.length;
        cursor.oldestAt = performance.now();
        release(this.#state);
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
