// The Bus on Apache Kafka for the distributed deployment (kafkajs 2.2.4). It behaves like MemoryBus
// for the stages: tryPublish never waits (a bounded local buffer per topic, flushed in the
// background), publish waits for room and for the broker's ack, consume hands over batches whose
// offsets are committed only after the handler resolved (at-least-once).
//
// Topics are not created here (kafkajs' admin is not used: on a managed cluster hoptrace has no
// right to create topics, and the test broker has no CreateTopics API). Create them beforehand:
//   hoptrace.sflow.raw.v1   partitions >= the number of decode workers; records are keyed by sFlow
//                           agent, so one agent's datagrams stay in order in one partition.
//                           cleanup.policy=delete, retention as long as a worker may be down.
//   hoptrace.snapshots.v1   cleanup.policy=compact (key: host + kind; the newest snapshot wins),
//                           few partitions; every worker reads it in full.
//   e.g. kafka-topics.sh --create --topic hoptrace.snapshots.v1 --partitions 1 --config cleanup.policy=compact
// The `hoptrace.` prefix may be replaced (`topicPrefix`), e.g. to share a cluster between sites.
//
// Delivery: a send that fails is retried with back-off until it succeeds or close() gives up, so
// nothing is lost while the buffer has room; a retry can duplicate messages (the producer is not
// idempotent by default, see `idempotent`), which storage absorbs with deterministic row ids.
// A message the broker refuses for itself (too large, invalid) is isolated by halving the send and
// then dropped, counted in `rejectedMessages` and logged; it cannot block the topic.
import { CompressionTypes, Kafka, Partitioners, logLevel as KafkaLogLevel } from 'kafkajs';
import type { Consumer as KafkaConsumer, EachBatchPayload, KafkaMessage, LogEntry, Producer, logCreator } from 'kafkajs';
import { BusError, ConfigError } from '../errors.js';
import { Throttle, type Logger } from '../observability/log.js';
import { TOPICS, type BatchHandler, type Bus, type BusMessage, type ConsumeOptions, type Consumer, type Topic } from './bus.js';

export const DEFAULT_TOPIC_PREFIX = 'hoptrace.';
/** Same table as MemoryBus: a failed send or handler is tried again after these delays. */
export const RETRY_BACKOFF_MS = [100, 250, 500, 1000, 2000, 5000] as const;
/** A send that keeps failing is reported again every this many attempts (about a minute at the last back-off step). */
const STILL_FAILING_EVERY = 12;
/** Kafka's legal topic names (kafka.common.internals.Topic). */
const TOPIC_NAME = /^[a-zA-Z0-9._-]{1,249}$/;
/** Broker refusals that concern the messages themselves: retrying the same batch cannot help. */
const PER_MESSAGE_ERRORS = new Set(['MESSAGE_TOO_LARGE', 'RECORD_LIST_TOO_LARGE', 'INVALID_RECORD', 'CORRUPT_MESSAGE']);

export interface KafkaBusOptions {
  /** Bootstrap brokers, host:port. */
  brokers: readonly string[];
  clientId: string;
  /** Replaces `hoptrace.` in every topic name (TOPICS). */
  topicPrefix?: string;
  /** Messages buffered per topic, the batch being sent included, before tryPublish returns false. */
  capacity: number;
  /** kafkajs' own log lines go here (as `module: 'kafka'`); without it kafkajs stays silent. */
  logger?: Logger;
  /**
   * kafkajs has no built-in lz4/zstd. Measured on the OVS corpus (1345-byte envelopes, mock broker,
   * loopback): none ~20-30k msg/s at ~35 µs CPU each; gzip ~15k msg/s at ~53 µs, and 1/4 of the bytes.
   * Default none: the collector's CPU is scarcer than a data centre's network.
   */
  compression?: 'none' | 'gzip';
  /** At most this many messages, and about this many bytes, in one produce request. */
  maxSendMessages?: number;
  maxSendBytes?: number;
  /** Idempotent producer: no duplicates on retries. Needs a broker that names its controller. */
  idempotent?: boolean;
  /** Consumer group session: a consumer that is gone is noticed after this long. */
  sessionTimeoutMs?: number;
  /** close() waits this long for the buffers to drain before it gives up on what is left. */
  closeTimeoutMs?: number;
  /** kafkajs retries inside one request before the bus' own back-off takes over. */
  requestRetries?: number;
}

/** The Kafka topic for a hoptrace topic: `hoptrace.sflow.raw.v1` → `<prefix>sflow.raw.v1`. */
export function kafkaTopicName(topic: Topic, prefix: string = DEFAULT_TOPIC_PREFIX): string {
  const name = prefix + topic.slice(DEFAULT_TOPIC_PREFIX.length);
  if (!TOPIC_NAME.test(name) || name === '.' || name === '..') {
    throw new ConfigError('bad-value', `topic prefix ${JSON.stringify(prefix)} gives an illegal Kafka topic name ${JSON.stringify(name)} (allowed: a-z A-Z 0-9 . _ -, at most 249)`, { key: 'bus.topicPrefix', origin: 'KafkaBus options' });
  }
  return name;
}

export function backoffMs(failures: number): number {
  return RETRY_BACKOFF_MS[Math.min(failures, RETRY_BACKOFF_MS.length - 1)] ?? 5000;
}

/** How many messages from the head of `sizes` go in the next request: at least one, then within both limits. */
export function sendBatchLength(sizes: readonly number[], maxMessages: number, maxBytes: number): number {
  let bytes = 0;
  let n = 0;
  for (const size of sizes) {
    if (n >= maxMessages || (n > 0 && bytes + size > maxBytes)) break;
    bytes += size;
    n++;
  }
  return n;
}

/** The broker refused the messages themselves (kafkajs wraps the protocol error in `cause` after retries). */
export function isPerMessageError(error: unknown): boolean {
  for (let e: unknown = error, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    const type: unknown = (e as Error & { type?: unknown }).type;
    if (typeof type === 'string' && PER_MESSAGE_ERRORS.has(type)) return true;
  }
  return false;
}

/**
 * kafkajs log lines into pino. kafkajs logs at ERROR what it is about to retry, so its ERROR and
 * WARN become `warn` (throttled per message); its INFO (joins, rebalances) becomes `debug`.
 */
export function kafkaLogCreator(logger: Logger, throttle = new Throttle(10, 60_000)): logCreator {
  return () => (entry: LogEntry) => {
    const { message, timestamp: _timestamp, logger: _logger, ...fields } = entry.log;
    const line = { kafkajs: entry.namespace, ...fields };
    switch (entry.level) {
      case KafkaLogLevel.ERROR:
      case KafkaLogLevel.WARN: {
        const admitted = throttle.admit(`${entry.namespace}:${message}`, Date.now());
        if (admitted.log) logger.warn(admitted.suppressed > 0 ? { ...line, suppressed: admitted.suppressed } : line, `kafkajs: ${message}`);
        return;
      }
      case KafkaLogLevel.INFO:
        logger.debug(line, `kafkajs: ${message}`);
        return;
      case KafkaLogLevel.DEBUG:
        logger.trace(line, `kafkajs: ${message}`);
        return;
      case KafkaLogLevel.NOTHING:
        return;
      default: {
        const never: never = entry.level;
        return never;
      }
    }
  };
}

/** kafkajs' level for a pino level: only as chatty as the logger will print. */
function kafkaLevelFor(logger: Logger): KafkaLogLevel {
  if (logger.level === 'trace') return KafkaLogLevel.DEBUG;
  if (logger.level === 'debug') return KafkaLogLevel.INFO;
  if (logger.level === 'silent') return KafkaLogLevel.NOTHING;
  return KafkaLogLevel.WARN;
}

/** Resolves after `ms`, or at once when `signal` aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

/** One publish() call: settles when every one of its messages is acked or refused. */
interface PublishWaiter {
  remaining: number;
  error: BusError | undefined;
  abandoned: boolean;
  resolve: () => void;
  reject: (error: BusError) => void;
}

interface Pending {
  message: BusMessage;
  bytes: number;
  waiter: PublishWaiter | undefined;
}

/** The local buffer of one topic: a FIFO (array + head index) and its flusher's state. */
class TopicBuffer {
  readonly topic: Topic;
  readonly name: string;
  readonly #items: Pending[] = [];
  #head = 0;
  roomWaiters: (() => void)[] = [];
  flushing = false;
  scheduled = false;
  /** Lowered to isolate a message the broker refuses; back to the maximum after a success. */
  sendLimit: number;
  constructor(topic: Topic, name: string, sendLimit: number) {
    this.topic = topic;
    this.name = name;
    this.sendLimit = sendLimit;
  }
  get size(): number { return this.#items.length - this.#head; }
  push(item: Pending): void { this.#items.push(item); }
  peek(maxMessages: number, maxBytes: number): Pending[] {
    const sizes: number[] = [];
    for (let i = this.#head; i < this.#items.length && sizes.length < maxMessages; i++) sizes.push((this.#items[i] as Pending).bytes);
    return this.#items.slice(this.#head, this.#head + sendBatchLength(sizes, maxMessages, maxBytes));
  }
  /** Removes the first `n` and returns them. */
  shift(n: number): Pending[] {
    const out = this.#items.slice(this.#head, this.#head + n);
    this.#head += out.length;
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items.splice(0, this.#head);
      this.#head = 0;
    }
    return out;
  }
}

export class KafkaBus implements Bus {
  readonly kind = 'kafka' as const;
  readonly #kafka: Kafka;
  readonly #producer: Producer;
  readonly #capacity: number;
  readonly #prefix: string;
  readonly #log: Logger | undefined;
  readonly #compression: CompressionTypes;
  readonly #maxSendMessages: number;
  readonly #maxSendBytes: number;
  readonly #sessionTimeoutMs: number;
  readonly #closeTimeoutMs: number;
  readonly #requestRetries: number;
  readonly #buffers = new Map<Topic, TopicBuffer>();
  readonly #consumers = new Set<KafkaTopicConsumer>();
  /** Aborted when close() gives up: back-off sleeps end, flushers stop. */
  readonly #abandon = new AbortController();
  #producerConnected: Promise<void> | undefined;
  #started = false;
  #closed = false;
  #closing: Promise<void> | undefined;
  #rejected = 0;

  constructor(options: KafkaBusOptions) {
    if (options.brokers.length === 0) throw new ConfigError('bad-value', 'no Kafka brokers given', { key: 'bus.brokers', origin: 'KafkaBus options' });
    this.#capacity = options.capacity;
    this.#prefix = options.topicPrefix ?? DEFAULT_TOPIC_PREFIX;
    for (const topic of Object.values(TOPICS)) kafkaTopicName(topic, this.#prefix); // fail now, not at the first publish
    this.#log = options.logger?.child({ module: 'kafka' });
    this.#compression = options.compression === 'gzip' ? CompressionTypes.GZIP : CompressionTypes.None;
    this.#maxSendMessages = options.maxSendMessages ?? 1000;
    this.#maxSendBytes = options.maxSendBytes ?? 512 * 1024;
    this.#sessionTimeoutMs = options.sessionTimeoutMs ?? 30_000;
    this.#closeTimeoutMs = options.closeTimeoutMs ?? 30_000;
    this.#requestRetries = options.requestRetries ?? 2;
    this.#kafka = new Kafka({
      clientId: options.clientId,
      brokers: [...options.brokers],
      retry: { retries: this.#requestRetries, initialRetryTime: 100, maxRetryTime: 2000 },
      ...(this.#log === undefined
        ? { logLevel: KafkaLogLevel.NOTHING }
        : { logLevel: kafkaLevelFor(this.#log), logCreator: kafkaLogCreator(this.#log) }),
    });
    this.#producer = this.#kafka.producer({
      // murmur2 of the key, as the Java client: one agent's datagrams land in one partition.
      createPartitioner: Partitioners.DefaultPartitioner,
      allowAutoTopicCreation: false,
      idempotent: options.idempotent ?? false,
      // One request at a time per broker: a retried request cannot overtake the next one.
      maxInFlightRequests: 1,
    });
  }

  /** Messages the broker refused for themselves and that were dropped (see the file header). */
  get rejectedMessages(): number { return this.#rejected; }

  /**
   * Connects the producer and starts the background flush. Rejects with a retriable BusError
   * when no broker answers; the flush keeps trying in the background either way.
   */
  async connect(): Promise<void> {
    this.#started = true;
    for (const buffer of this.#buffers.values()) this.#scheduleFlush(buffer);
    try {
      await this.#connectProducer();
    } catch (error) {
      throw new BusError('publish-failed', `cannot reach Kafka brokers: ${errorMessage(error)}`, this.#topicList(), { cause: error, retriable: true });
    }
  }

  tryPublish(topic: Topic, message: BusMessage): boolean {
    if (this.#closed) return false;
    const buffer = this.#buffer(topic);
    if (buffer.size >= this.#capacity) return false;
    buffer.push({ message, bytes: message.value.byteLength + message.key.length, waiter: undefined });
    this.#scheduleFlush(buffer);
    return true;
  }

  async publish(topic: Topic, messages: readonly BusMessage[]): Promise<void> {
    if (messages.length === 0) return;
    const buffer = this.#buffer(topic);
    let waiter: PublishWaiter | undefined;
    const acked = new Promise<void>((resolve, reject) => {
      waiter = { remaining: messages.length, error: undefined, abandoned: false, resolve, reject };
    });
    const w = waiter as PublishWaiter;
    for (const message of messages) {
      while (!this.#closed && buffer.size >= this.#capacity) await new Promise<void>((resolve) => buffer.roomWaiters.push(resolve));
      if (this.#closed) {
        w.abandoned = true;
        throw new BusError('closed', `bus closed while publishing to ${buffer.name}`, buffer.name);
      }
      buffer.push({ message, bytes: message.value.byteLength + message.key.length, waiter: w });
      this.#scheduleFlush(buffer);
    }
    await acked;
  }

  consume(topic: Topic, handler: BatchHandler, options: ConsumeOptions): Consumer {
    if (this.#closed) throw new BusError('closed', `bus closed, cannot consume ${topic}`, topic);
    const consumer = new KafkaTopicConsumer({
      kafka: this.#kafka,
      topic,
      name: kafkaTopicName(topic, this.#prefix),
      handler,
      options,
      sessionTimeoutMs: this.#sessionTimeoutMs,
      requestRetries: this.#requestRetries,
      log: this.#log,
      onStop: () => this.#consumers.delete(consumer),
    });
    this.#consumers.add(consumer);
    consumer.start();
    return consumer;
  }

  /** Messages in the local producer buffer, plus the lag of this process' consumers (as of their last batch). */
  depth(topic: Topic): number {
    let lag = 0;
    for (const consumer of this.#consumers) if (consumer.topic === topic) lag += consumer.lag;
    return (this.#buffers.get(topic)?.size ?? 0) + lag;
  }

  /**
   * Stops the consumers (their handlers may still publish), then delivers the buffers. After
   * `closeTimeoutMs` it gives up: the rest is dropped and close() rejects with a BusError that
   * counts it. The producer is disconnected either way.
   */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    await Promise.all([...this.#consumers].map((c) => c.stop()));
    this.#closed = true;
    for (const buffer of this.#buffers.values()) wake(buffer.roomWaiters);
    this.#started = true;
    for (const buffer of this.#buffers.values()) this.#scheduleFlush(buffer);
    const deadline = setTimeout(() => this.#abandon.abort(), this.#closeTimeoutMs);
    try {
      await this.#drained(this.#abandon.signal);
    } finally {
      clearTimeout(deadline);
      this.#abandon.abort();
      await this.#producer.disconnect().catch((error: unknown) => this.#log?.warn({ err: error }, 'kafka producer disconnect failed'));
    }
    const left = [...this.#buffers.values()].filter((b) => b.size > 0);
    if (left.length === 0) return;
    let lost = 0;
    for (const buffer of left) {
      const pending = buffer.shift(buffer.size);
      lost += pending.length;
      const error = new BusError('closed', `bus closed before ${pending.length} messages reached ${buffer.name}`, buffer.name);
      for (const item of pending) this.#settle(item, error);
    }
    const first = left[0] as TopicBuffer;
    this.#log?.error({ topic: first.name, lost }, 'kafka bus closed with undelivered messages');
    throw new BusError('closed', `closed after ${this.#closeTimeoutMs} ms with ${lost} messages not delivered to ${left.map((b) => b.name).join(', ')}`, first.name);
  }

  /** Resolves when every buffer is empty and no flusher runs, or when `signal` aborts. */
  async #drained(signal: AbortSignal): Promise<void> {
    while (!signal.aborted && [...this.#buffers.values()].some((b) => b.size > 0 || b.flushing)) {
      await sleep(10, signal);
    }
  }

  #buffer(topic: Topic): TopicBuffer {
    let buffer = this.#buffers.get(topic);
    if (buffer === undefined) {
      buffer = new TopicBuffer(topic, kafkaTopicName(topic, this.#prefix), this.#maxSendMessages);
      this.#buffers.set(topic, buffer);
    }
    return buffer;
  }

  #topicList(): string {
    return Object.values(TOPICS).map((t) => kafkaTopicName(t, this.#prefix)).join(',');
  }

  #connectProducer(): Promise<void> {
    this.#producerConnected ??= this.#producer.connect().catch((error: unknown) => {
      this.#producerConnected = undefined; // the next attempt connects again
      throw error;
    });
    return this.#producerConnected;
  }

  /** Starts the flusher on the next turn, so a burst of tryPublish calls goes out as one request. */
  #scheduleFlush(buffer: TopicBuffer): void {
    if (!this.#started || buffer.flushing || buffer.scheduled || buffer.size === 0) return;
    buffer.scheduled = true;
    setImmediate(() => {
      buffer.scheduled = false;
      if (buffer.flushing) return;
      buffer.flushing = true;
      void this.#flush(buffer);
    });
  }

  async #flush(buffer: TopicBuffer): Promise<void> {
    let failures = 0;
    const signal = this.#abandon.signal;
    try {
      while (buffer.size > 0 && !signal.aborted) {
        const batch = buffer.peek(buffer.sendLimit, this.#maxSendBytes);
        try {
          await this.#connectProducer();
          await this.#producer.send({
            topic: buffer.name,
            acks: -1,
            compression: this.#compression,
            messages: batch.map(({ message: m }) => ({ key: m.key, value: Buffer.from(m.value.buffer, m.value.byteOffset, m.value.byteLength) })),
          });
        } catch (error) {
          if (signal.aborted) break;
          if (isPerMessageError(error)) {
            if (batch.length > 1) {
              buffer.sendLimit = Math.ceil(batch.length / 2);
              continue;
            }
            this.#reject(buffer, error);
            continue;
          }
          if (failures === 0) this.#log?.warn({ topic: buffer.name, err: error, buffered: buffer.size }, 'kafka send failed, retrying with back-off');
          else if (failures % STILL_FAILING_EVERY === 0) this.#log?.error({ topic: buffer.name, err: error, buffered: buffer.size, failures }, 'kafka send still failing');
          await sleep(backoffMs(failures++), signal);
          continue;
        }
        if (failures > 0) this.#log?.info({ topic: buffer.name, failures }, 'kafka send succeeded again');
        failures = 0;
        buffer.sendLimit = this.#maxSendMessages;
        for (const item of buffer.shift(batch.length)) this.#settle(item, undefined);
        wake(buffer.roomWaiters);
      }
    } finally {
      buffer.flushing = false; // synchronously with the last size check: a tryPublish after it schedules anew
    }
  }

  /** Drops the head message, which the broker refuses on its own. */
  #reject(buffer: TopicBuffer, error: unknown): void {
    const [item] = buffer.shift(1);
    if (item === undefined) return;
    this.#rejected++;
    const busError = new BusError('publish-failed', `Kafka refused a ${item.bytes}-byte message for ${buffer.name} (key ${item.message.key}): ${errorMessage(error)}`, buffer.name, { cause: error, retriable: false });
    this.#log?.error({ topic: buffer.name, key: item.message.key, bytes: item.bytes, err: error }, 'kafka refused a message; dropped');
    this.#settle(item, busError);
    wake(buffer.roomWaiters);
  }

  #settle(item: Pending, error: BusError | undefined): void {
    const waiter = item.waiter;
    if (waiter === undefined) return;
    if (error !== undefined) waiter.error ??= error;
    if (--waiter.remaining > 0 || waiter.abandoned) return;
    if (waiter.error === undefined) waiter.resolve();
    else waiter.reject(waiter.error);
  }
}

interface TopicConsumerSetup {
  kafka: Kafka;
  topic: Topic;
  name: string;
  handler: BatchHandler;
  options: ConsumeOptions;
  sessionTimeoutMs: number;
  requestRetries: number;
  log: Logger | undefined;
  onStop: () => void;
}

/**
 * One consumer group member on one topic. A handler that rejects is called again with the same
 * messages, in place, after a back-off (heartbeating meanwhile), until it resolves or the consumer
 * stops; then the offsets are resolved and committed. On stop or rebalance nothing unhandled is
 * committed, so the next owner of the partition gets those messages again.
 */
class KafkaTopicConsumer implements Consumer {
  readonly topic: Topic;
  readonly #setup: TopicConsumerSetup;
  readonly #consumer: KafkaConsumer;
  readonly #stopSignal = new AbortController();
  readonly #lagByPartition = new Map<number, number>();
  #running: Promise<void> = Promise.resolve();
  #stopped: Promise<void> | undefined;

  constructor(setup: TopicConsumerSetup) {
    this.topic = setup.topic;
    this.#setup = setup;
    this.#consumer = setup.kafka.consumer({
      groupId: setup.options.group,
      sessionTimeout: setup.sessionTimeoutMs,
      heartbeatInterval: Math.max(100, Math.floor(setup.sessionTimeoutMs / 10)),
      // The linger: the broker holds an empty fetch this long; data is handed over as soon as it is there.
      maxWaitTimeInMs: Math.min(Math.max(setup.options.lingerMs, 10), 5000),
      allowAutoTopicCreation: false,
      // Restart after any crash (kafkajs' default gives up on non-retriable ones): a worker keeps trying.
      retry: { retries: setup.requestRetries, initialRetryTime: 100, maxRetryTime: 5000, restartOnFailure: async () => !this.#stopSignal.signal.aborted },
    });
  }

  /** Consumer lag of this member's partitions, as of their last batch. */
  get lag(): number {
    let sum = 0;
    for (const lag of this.#lagByPartition.values()) sum += lag;
    return sum;
  }

  start(): void {
    this.#running = this.#run();
  }

  async #run(): Promise<void> {
    const signal = this.#stopSignal.signal;
    for (let failures = 0; !signal.aborted; failures++) {
      try {
        await this.#consumer.connect();
        await this.#consumer.subscribe({ topics: [this.#setup.name], fromBeginning: this.#setup.options.fromBeginning ?? true });
        await this.#consumer.run({
          eachBatchAutoResolve: false,
          autoCommit: true,
          autoCommitThreshold: 1, // commitOffsetsIfNecessary commits whatever was resolved
          eachBatch: (payload) => this.#eachBatch(payload),
        });
        return;
      } catch (error) {
        if (signal.aborted) return;
        this.#setup.log?.warn({ topic: this.#setup.name, group: this.#setup.options.group, err: error }, 'kafka consumer cannot start (does the topic exist?); retrying');
        await this.#consumer.disconnect().catch((e: unknown) => this.#setup.log?.debug({ err: e }, 'kafka consumer disconnect failed'));
        await sleep(backoffMs(failures), signal);
      }
    }
  }

  async #eachBatch(payload: EachBatchPayload): Promise<void> {
    const { batch, resolveOffset, heartbeat, commitOffsetsIfNecessary, isRunning, isStale } = payload;
    const { maxBatch } = this.#setup.options;
    const active = (): boolean => isRunning() && !isStale() && !this.#stopSignal.signal.aborted;
    for (let start = 0; start < batch.messages.length; start += maxBatch) {
      if (!active()) return;
      const slice = batch.messages.slice(start, start + maxBatch);
      if (!(await this.#deliver(slice.map(toBusMessage), heartbeat, active))) return;
      resolveOffset((slice[slice.length - 1] as KafkaMessage).offset);
      await commitOffsetsIfNecessary();
      await heartbeat();
    }
    this.#lagByPartition.set(batch.partition, Number(batch.offsetLag()));
  }

  /** Calls the handler until it resolves (true) or the consumer stops or loses the partition (false). */
  async #deliver(messages: BusMessage[], heartbeat: () => Promise<void>, active: () => boolean): Promise<boolean> {
    for (let failures = 0; ; failures++) {
      try {
        await this.#setup.handler(messages);
        return true;
      } catch (error) {
        // The handler reports its own failures; here only the retry is worth a line.
        this.#setup.log?.debug({ topic: this.#setup.name, err: error, failures: failures + 1 }, 'batch handler failed; handing the batch over again');
      }
      await sleep(backoffMs(failures), this.#stopSignal.signal);
      if (!active()) return false;
      await heartbeat(); // a rebalance surfaces here and ends the batch through kafkajs
    }
  }

  stop(): Promise<void> {
    this.#stopped ??= this.#stop();
    return this.#stopped;
  }

  async #stop(): Promise<void> {
    this.#stopSignal.abort();
    await this.#running;
    // Waits for the batch in the handler, commits what was resolved, leaves the group.
    await this.#consumer.disconnect().catch((error: unknown) => this.#setup.log?.warn({ topic: this.#setup.name, err: error }, 'kafka consumer disconnect failed'));
    this.#setup.onStop();
  }
}

function toBusMessage(message: KafkaMessage): BusMessage {
  return { key: message.key?.toString('utf8') ?? '', value: message.value ?? new Uint8Array(0) };
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function wake(waiters: (() => void)[]): void {
  const all = waiters.splice(0, waiters.length);
  for (const resolve of all) resolve();
}
