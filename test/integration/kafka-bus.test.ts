// KafkaBus against a real Kafka-protocol broker (test/support/kafka.ts: KAFKA_BROKERS, Docker, or
// librdkafka's mock cluster). Every test has its own topics (its own prefix) and group; waits are
// on conditions with deadlines. The mock keeps 5 MiB per partition: payloads stay small.
import { createServer } from 'node:net';
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it, type TestContext } from 'vitest';
import { TOPICS, type BusMessage, type Consumer } from '../../src/bus/bus.js';
import { KafkaBus, kafkaTopicName, type KafkaBusOptions } from '../../src/bus/kafka-bus.js';
import { decodeEnvelope, encodeEnvelope } from '../../src/collector/envelope.js';
import { BusError } from '../../src/errors.js';
import { kafkaUnavailable, startKafka, type KafkaService } from '../support/kafka.js';
import { needService } from '../support/services.js';

const T0 = Date.UTC(2026, 0, 1);
// The mock holds a group's first join 3 s and checks sessions every 1 s: a session of 3 s could
// expire while the member waits in JoinGroup (the mock then never answers it). After a member
// leaves, it holds the rebalance for session - 1 s.
const SESSION_TIMEOUT_MS = 6000;
const PARTITIONS = 4;

let kafka: KafkaService | undefined;
let unavailable: string | undefined;
let testNumber = 0;

beforeAll(async () => {
  unavailable = kafkaUnavailable();
  if (unavailable === undefined) kafka = await startKafka();
}, 120_000);

afterAll(async () => {
  await kafka?.stop();
});

/** A fresh topic prefix (and the raw topic created with PARTITIONS partitions) for one test. */
async function setup(ctx: TestContext): Promise<{ service: KafkaService; prefix: string; group: string; options: (extra?: Partial<KafkaBusOptions>) => KafkaBusOptions }> {
  await needService(ctx, 'kafka', () => unavailable);
  const service = kafka as KafkaService;
  const prefix = `t${process.pid}-${++testNumber}.`;
  await service.createTopic(kafkaTopicName(TOPICS.SFLOW_RAW, prefix), PARTITIONS);
  return {
    service,
    prefix,
    group: `group-${prefix}`,
    options: (extra = {}) => ({ brokers: service.brokers, clientId: 'hoptrace-test', topicPrefix: prefix, capacity: 30_000, sessionTimeoutMs: SESSION_TIMEOUT_MS, ...debugLogger(prefix), ...extra }),
  };
}

/** HOPTRACE_TEST_LOG=debug (or trace) writes the buses' logs, kafkajs' included, to stderr. */
function debugLogger(prefix: string): { logger?: pino.Logger } {
  const level = process.env['HOPTRACE_TEST_LOG'];
  return level === undefined || level === '' ? {} : { logger: pino({ level, base: { test: prefix } }, pino.destination(2)) };
}

/** Envelope i of agent 198.51.100.<agent+1>; the payload starts with the agent's own sequence number. */
function envelope(agent: number, sequence: number): BusMessage {
  const exporter = `198.51.100.${agent + 1}`;
  const payload = Buffer.alloc(100, agent);
  payload.writeUInt32BE(sequence, 0);
  return { key: exporter, value: encodeEnvelope(T0 + sequence, exporter, 6343, payload) };
}

/** Agent address and sequence of a consumed message (and a check that the bytes came back whole). */
function read(message: BusMessage): { exporter: string; sequence: number } {
  const raw = decodeEnvelope(message.value);
  const sequence = Buffer.from(raw.payload.buffer, raw.payload.byteOffset, raw.payload.byteLength).readUInt32BE(0);
  expect(raw.exporter).toBe(message.key);
  expect(raw.receivedAt).toBe(T0 + sequence);
  expect(raw.payload.byteLength).toBe(100);
  return { exporter: raw.exporter, sequence };
}

async function until(what: string, condition: () => boolean, deadlineMs = 30_000, state: () => unknown = () => ''): Promise<void> {
  const end = performance.now() + deadlineMs;
  while (!condition()) {
    if (performance.now() > end) throw new Error(`timed out after ${deadlineMs} ms waiting for ${what} ${JSON.stringify(state())}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Sequences seen per agent, in arrival order. */
function collector(): { seen: Map<string, number[]>; count: () => number; add: (batch: readonly BusMessage[]) => void } {
  const seen = new Map<string, number[]>();
  let total = 0;
  return {
    seen,
    count: () => total,
    add(batch) {
      for (const message of batch) {
        const { exporter, sequence } = read(message);
        const list = seen.get(exporter) ?? [];
        list.push(sequence);
        seen.set(exporter, list);
        total++;
      }
    },
  };
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

async function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

describe('KafkaBus on a real broker', () => {
  it('delivers 20 000 envelopes from 8 agents exactly once, in order per agent', async (ctx) => {
    const { options, group } = await setup(ctx);
    const agents = 8;
    const perAgent = 2500;
    const bus = new KafkaBus(options());
    await bus.connect();
    for (let sequence = 0; sequence < perAgent; sequence++) {
      for (let agent = 0; agent < agents; agent++) expect(bus.tryPublish(TOPICS.SFLOW_RAW, envelope(agent, sequence))).toBe(true);
    }
    const got = collector();
    let largest = 0;
    const consumer = bus.consume(TOPICS.SFLOW_RAW, async (batch) => {
      largest = Math.max(largest, batch.length);
      got.add(batch);
    }, { group, maxBatch: 500, lingerMs: 50 });
    await until('20 000 messages', () => got.count() >= agents * perAgent, 30_000, () => ({ got: got.count(), depth: bus.depth(TOPICS.SFLOW_RAW) }));
    await consumer.stop();
    expect(got.count()).toBe(agents * perAgent);
    expect(largest).toBeLessThanOrEqual(500);
    expect(largest).toBeGreaterThan(1); // batched, not one by one
    expect([...got.seen.keys()].sort()).toEqual(range(agents).map((a) => `198.51.100.${a + 1}`).sort());
    for (const sequences of got.seen.values()) expect(sequences).toEqual(range(perAgent));
    await until('an empty producer buffer', () => bus.depth(TOPICS.SFLOW_RAW) === 0);
    await bus.close();
  });

  it('hands a batch whose handler failed over again, and loses nothing', async (ctx) => {
    const { options, group } = await setup(ctx);
    const bus = new KafkaBus(options());
    await bus.connect();
    const messages = range(2000).map((i) => envelope(i % 5, Math.floor(i / 5)));
    await bus.publish(TOPICS.SFLOW_RAW, messages); // resolves when the broker acked them all
    const got = collector();
    const calls: string[][] = [];
    let failed = false;
    const consumer = bus.consume(TOPICS.SFLOW_RAW, async (batch) => {
      calls.push(batch.map((m) => `${m.key}/${read(m).sequence}`));
      if (!failed) {
        failed = true;
        throw new Error('store unavailable (test)');
      }
      got.add(batch);
    }, { group, maxBatch: 100, lingerMs: 20 });
    await until('2000 messages', () => got.count() >= 2000, 30_000, () => ({ got: got.count(), calls: calls.length }));
    await consumer.stop();
    expect(calls.length).toBeGreaterThan(2);
    expect(calls[1]).toEqual(calls[0]); // the failed batch, again, whole
    expect(got.count()).toBe(2000);
    for (const sequences of got.seen.values()) expect(sequences).toEqual(range(400));
    await bus.close();
  });

  it('close() delivers what tryPublish buffered, then refuses more', async (ctx) => {
    const { options, group } = await setup(ctx);
    const producer = new KafkaBus(options());
    await producer.connect();
    for (let i = 0; i < 5000; i++) expect(producer.tryPublish(TOPICS.SFLOW_RAW, envelope(i % 3, Math.floor(i / 3)))).toBe(true);
    expect(producer.depth(TOPICS.SFLOW_RAW)).toBeGreaterThan(0); // nothing waited for the network
    await producer.close();
    expect(producer.depth(TOPICS.SFLOW_RAW)).toBe(0);
    expect(producer.tryPublish(TOPICS.SFLOW_RAW, envelope(0, 0))).toBe(false);
    await expect(producer.publish(TOPICS.SFLOW_RAW, [envelope(0, 0)])).rejects.toMatchObject({ code: 'closed' });

    const reader = new KafkaBus(options());
    const got = collector();
    const consumer = reader.consume(TOPICS.SFLOW_RAW, async (batch) => got.add(batch), { group, maxBatch: 1000, lingerMs: 20 });
    await until('5000 messages', () => got.count() >= 5000, 30_000, () => ({ got: got.count(), depth: reader.depth(TOPICS.SFLOW_RAW) }));
    await consumer.stop();
    expect(got.count()).toBe(5000);
    for (let agent = 0; agent < 3; agent++) expect(got.seen.get(`198.51.100.${agent + 1}`)).toEqual(range(Math.ceil((5000 - agent) / 3)));
    await reader.close();
  });

  it('a consumer restarted in the same group resumes after the committed batches, refused ones included', async (ctx) => {
    const { options, group } = await setup(ctx);
    const bus = new KafkaBus(options());
    await bus.connect();
    const total = 3000;
    await bus.publish(TOPICS.SFLOW_RAW, range(total).map((i) => envelope(i % 6, Math.floor(i / 6))));
    const first = new Set<string>();
    const handle = (into: Set<string>) => async (batch: readonly BusMessage[]): Promise<void> => {
      for (const m of batch) into.add(`${m.key}/${read(m).sequence}`);
    };
    // The first consumer handles 500 or so, then its handler fails (a store outage) until it is stopped.
    let refused = 0;
    const c1: Consumer = bus.consume(TOPICS.SFLOW_RAW, async (batch) => {
      if (first.size >= 500) {
        refused++;
        throw new Error('store unavailable (test)');
      }
      await handle(first)(batch);
    }, { group, maxBatch: 50, lingerMs: 20 });
    await until('a first share, then a refused batch', () => refused >= 1);
    await c1.stop(); // ends the retries; only the handled batches are committed
    expect(first.size).toBeGreaterThanOrEqual(500);
    expect(first.size).toBeLessThan(total);

    const second = new Set<string>();
    let secondCalls = 0;
    const again = new KafkaBus(options());
    const c2 = again.consume(TOPICS.SFLOW_RAW, async (batch) => {
      secondCalls += batch.length;
      await handle(second)(batch);
    }, { group, maxBatch: 50, lingerMs: 20 });
    await until('the rest', () => first.size + second.size >= total, 30_000, () => ({ first: first.size, second: second.size }));
    await c2.stop();
    expect([...second].filter((id) => first.has(id))).toEqual([]); // no committed batch counted twice
    expect(first.size + second.size).toBe(total);
    expect(secondCalls).toBe(second.size);
    await Promise.all([bus.close(), again.close()]);
  });

  it('a broker outage: sends fail, are retried, and nothing is lost', async (ctx) => {
    const { service, options, group } = await setup(ctx);
    if (service.setBrokerUp === undefined) ctx.skip('needs the librdkafka mock broker to take a broker down');
    const setBrokerUp = service.setBrokerUp as NonNullable<KafkaService['setBrokerUp']>;
    const lines: string[] = [];
    const logger = pino({ level: 'warn' }, new Writable({ write(chunk: Buffer, _encoding, done) { lines.push(chunk.toString()); done(); } }));
    const bus = new KafkaBus(options({ logger }));
    await bus.connect();
    expect(bus.tryPublish(TOPICS.SFLOW_RAW, envelope(0, 0))).toBe(true);
    await until('the first message acked', () => bus.depth(TOPICS.SFLOW_RAW) === 0);
    await setBrokerUp(1, false);
    try {
      for (let i = 1; i < 1000; i++) expect(bus.tryPublish(TOPICS.SFLOW_RAW, envelope(0, i))).toBe(true);
      await until('a failed send', () => lines.some((l) => l.includes('kafka send failed')));
      expect(bus.depth(TOPICS.SFLOW_RAW)).toBeGreaterThan(0);
    } finally {
      await setBrokerUp(1, true);
    }
    await until('the buffer drained', () => bus.depth(TOPICS.SFLOW_RAW) === 0);
    const got = collector();
    const consumer = bus.consume(TOPICS.SFLOW_RAW, async (batch) => got.add(batch), { group, maxBatch: 500, lingerMs: 20 });
    await until('1000 distinct messages', () => new Set(got.seen.get('198.51.100.1')).size >= 1000);
    await consumer.stop();
    // At-least-once: a retried send may have been written twice, but in order and complete.
    const sequences = got.seen.get('198.51.100.1') ?? [];
    expect([...new Set(sequences)]).toEqual(range(1000));
    expect(lines.every((l) => JSON.parse(l).module === 'kafka')).toBe(true);
    await bus.close();
  });

  it('a message the broker refuses is isolated and dropped; the others go through', async (ctx) => {
    const { service, options, group } = await setup(ctx);
    if (service.failRequests === undefined) ctx.skip('needs the librdkafka mock broker to inject errors');
    const failRequests = service.failRequests as NonNullable<KafkaService['failRequests']>;
    const bus = new KafkaBus(options());
    await bus.connect();
    // Produce (API 0) fails 3 times with MESSAGE_TOO_LARGE (10): the send of 4 is halved to 2, then
    // 1, and that 1 (the first message) is dropped; the other three follow.
    await failRequests(0, 10, 3);
    const published = await bus.publish(TOPICS.SFLOW_RAW, range(4).map((i) => envelope(0, i))).then(() => undefined, (error: unknown) => error);
    expect(published).toBeInstanceOf(BusError);
    expect(published).toMatchObject({ code: 'publish-failed', retriable: false });
    expect(bus.rejectedMessages).toBe(1);
    const got = collector();
    const consumer = bus.consume(TOPICS.SFLOW_RAW, async (batch) => got.add(batch), { group, maxBatch: 10, lingerMs: 20 });
    await until('3 messages', () => got.count() >= 3);
    await consumer.stop();
    expect(got.seen.get('198.51.100.1')).toEqual([1, 2, 3]);
    await bus.close();
  });

  it('tryPublish returns false when the buffer is full and no broker answers', async (ctx) => {
    await needService(ctx, 'kafka', () => unavailable);
    const port = await freeLoopbackPort(); // closed again: connections are refused
    const bus = new KafkaBus({ brokers: [`127.0.0.1:${port}`], clientId: 'hoptrace-test', capacity: 100, requestRetries: 0, closeTimeoutMs: 300 });
    const connected = await bus.connect().then(() => undefined, (error: unknown) => error);
    expect(connected).toBeInstanceOf(BusError);
    expect(connected).toMatchObject({ code: 'publish-failed', retriable: true });
    for (let i = 0; i < 100; i++) expect(bus.tryPublish(TOPICS.SFLOW_RAW, envelope(0, i))).toBe(true);
    expect(bus.tryPublish(TOPICS.SFLOW_RAW, envelope(0, 100))).toBe(false);
    expect(bus.depth(TOPICS.SFLOW_RAW)).toBe(100);
    const waiting = bus.publish(TOPICS.SFLOW_RAW, [envelope(0, 101)]).then(() => undefined, (error: unknown) => error);
    const closed = await bus.close().then(() => undefined, (error: unknown) => error);
    expect(closed).toBeInstanceOf(BusError);
    expect(closed).toMatchObject({ code: 'closed', message: expect.stringContaining('100 messages not delivered') });
    expect(await waiting).toMatchObject({ code: 'closed' });
    expect(bus.tryPublish(TOPICS.SFLOW_RAW, envelope(0, 0))).toBe(false);
  });
});
