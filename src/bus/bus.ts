// The transport between stages. Two implementations: MemoryBus (embedded, in-process, bounded) and
// KafkaBus (distributed). Stages see only this interface.

/** Topics are named hoptrace.<stream>; the envelope version is part of the name (breaking change = new topic). */
export const TOPICS = {
  SFLOW_RAW: 'hoptrace.sflow.raw.v1',
  SNAPSHOTS: 'hoptrace.snapshots.v1',
} as const;
export type Topic = (typeof TOPICS)[keyof typeof TOPICS];

export interface BusMessage {
  /** Partitioning key (the sFlow agent / exporter for raw datagrams). */
  key: string;
  value: Uint8Array;
}

export interface ConsumeOptions {
  /** Consumer group: each group sees every message once. */
  group: string;
  /**
   * Where a group with no committed offset starts: the oldest message kept (default) or new ones
   * only (the path stage: replaying days of retention would judge old traffic by today's snapshots).
   * The in-process bus keeps nothing older than its queue, so only Kafka tells the difference.
   */
  fromBeginning?: boolean;
  /** Hand the handler at most this many messages at once. */
  maxBatch: number;
  /** Wait at most this long for a batch to fill before handing over what there is. */
  lingerMs: number;
}

/**
 * Called with a batch; the messages count as consumed (offsets committed) only when the promise
 * resolves. A rejected batch is handed over again (at-least-once) after a back-off.
 */
export type BatchHandler = (batch: readonly BusMessage[]) => Promise<void>;

export interface Consumer {
  /** Stops taking new batches and waits for the one in the handler to settle. */
  stop(): Promise<void>;
}

export interface Bus {
  readonly kind: 'memory' | 'kafka';
  /**
   * Never waits: queues the message or returns false when the topic is at capacity (the caller
   * counts the drop). The UDP receive loop uses this.
   */
  tryPublish(topic: Topic, message: BusMessage): boolean;
  /** Waits for room (back-pressure), for producers that may slow down (snapshots, replay). */
  publish(topic: Topic, messages: readonly BusMessage[]): Promise<void>;
  consume(topic: Topic, handler: BatchHandler, options: ConsumeOptions): Consumer;
  /** Messages published but not yet consumed, per topic (for /health and metrics). */
  depth(topic: Topic): number;
  /** Delivers what is queued, then closes. */
  close(): Promise<void>;
}
