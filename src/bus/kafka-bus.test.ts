// The parts of KafkaBus that need no broker: topic names, request sizing, error classification,
// the kafkajs → pino log bridge, and the local buffer's bound (tryPublish before any connection).
// test/integration/kafka-bus.test.ts runs the rest against a real broker.
import { createRequire } from 'node:module';
import { Writable } from 'node:stream';
import { logLevel } from 'kafkajs';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../errors.js';
import { Throttle } from '../observability/log.js';
import { TOPICS } from './bus.js';
import { KafkaBus, backoffMs, isPerMessageError, kafkaLogCreator, kafkaTopicName, sendBatchLength } from './kafka-bus.js';

// kafkajs' own error classes and protocol error table (CommonJS, not in its ESM surface).
const require = createRequire(import.meta.url);
type ErrorClass = new (e: unknown, options?: object) => Error;
const kafkaErrors = require('kafkajs/src/errors.js') as Record<'KafkaJSProtocolError' | 'KafkaJSNonRetriableError' | 'KafkaJSNumberOfRetriesExceeded' | 'KafkaJSConnectionError', ErrorClass>;
const { createErrorFromCode } = require('kafkajs/src/protocol/error.js') as { createErrorFromCode: (code: number) => unknown };
const protocolError = (code: number): Error => new kafkaErrors.KafkaJSProtocolError(createErrorFromCode(code));
const KAFKA_CODE = { CORRUPT_MESSAGE: 2, NOT_LEADER_FOR_PARTITION: 6, MESSAGE_TOO_LARGE: 10, RECORD_LIST_TOO_LARGE: 18, INVALID_RECORD: 87 } as const;

describe('kafkaTopicName', () => {
  it.each([
    { name: 'default prefix', prefix: undefined, topic: TOPICS.SFLOW_RAW, want: 'hoptrace.sflow.raw.v1' },
    { name: 'site prefix', prefix: 'site-a.hoptrace.', topic: TOPICS.SNAPSHOTS, want: 'site-a.hoptrace.snapshots.v1' },
    { name: 'no prefix', prefix: '', topic: TOPICS.SFLOW_RAW, want: 'sflow.raw.v1' },
  ])('$name', ({ prefix, topic, want }) => {
    expect(kafkaTopicName(topic, prefix)).toBe(want);
  });

  it.each([
    { name: 'slash', prefix: 'a/b.' },
    { name: 'space', prefix: 'my topics.' },
    { name: 'too long', prefix: 'x'.repeat(240) },
  ])('refuses an illegal name: $name', ({ prefix }) => {
    expect(() => kafkaTopicName(TOPICS.SFLOW_RAW, prefix)).toThrow(ConfigError);
    expect(() => kafkaTopicName(TOPICS.SFLOW_RAW, prefix)).toThrow(expect.objectContaining({ key: 'bus.topicPrefix' }));
  });
});

describe('sendBatchLength', () => {
  it.each([
    { name: 'empty buffer', sizes: [], maxMessages: 10, maxBytes: 100, want: 0 },
    { name: 'all fit', sizes: [10, 10, 10], maxMessages: 10, maxBytes: 100, want: 3 },
    { name: 'message limit', sizes: [1, 1, 1, 1], maxMessages: 2, maxBytes: 100, want: 2 },
    { name: 'byte limit', sizes: [40, 40, 40], maxMessages: 10, maxBytes: 100, want: 2 },
    { name: 'exactly the byte limit', sizes: [50, 50, 1], maxMessages: 10, maxBytes: 100, want: 2 },
    { name: 'one message over the byte limit still goes alone', sizes: [500, 1], maxMessages: 10, maxBytes: 100, want: 1 },
  ])('$name', ({ sizes, maxMessages, maxBytes, want }) => {
    expect(sendBatchLength(sizes, maxMessages, maxBytes)).toBe(want);
  });
});

describe('isPerMessageError', () => {
  it.each([
    { name: 'MESSAGE_TOO_LARGE', error: () => protocolError(KAFKA_CODE.MESSAGE_TOO_LARGE), want: true },
    { name: 'RECORD_LIST_TOO_LARGE', error: () => protocolError(KAFKA_CODE.RECORD_LIST_TOO_LARGE), want: true },
    { name: 'INVALID_RECORD', error: () => protocolError(KAFKA_CODE.INVALID_RECORD), want: true },
    // kafkajs' retrier wraps what it gives up on; the protocol error is the cause.
    { name: 'CORRUPT_MESSAGE after retries', error: () => new kafkaErrors.KafkaJSNumberOfRetriesExceeded(protocolError(KAFKA_CODE.CORRUPT_MESSAGE), { retryCount: 2, retryTime: 100 }), want: true },
    { name: 'bailed MESSAGE_TOO_LARGE', error: () => new kafkaErrors.KafkaJSNonRetriableError(protocolError(KAFKA_CODE.MESSAGE_TOO_LARGE), { cause: protocolError(KAFKA_CODE.MESSAGE_TOO_LARGE) }), want: true },
    { name: 'leader moved', error: () => protocolError(KAFKA_CODE.NOT_LEADER_FOR_PARTITION), want: false },
    { name: 'connection refused after retries', error: () => new kafkaErrors.KafkaJSNumberOfRetriesExceeded(new kafkaErrors.KafkaJSConnectionError('Connection error: connect ECONNREFUSED 127.0.0.1:9', { broker: '127.0.0.1:9' }), { retryCount: 2, retryTime: 100 }), want: false },
    { name: 'not an error', error: () => 'MESSAGE_TOO_LARGE', want: false },
  ])('$name → $want', ({ error, want }) => {
    expect(isPerMessageError(error())).toBe(want);
  });
});

describe('backoffMs', () => {
  it('follows the MemoryBus table and stays at its last step', () => {
    expect([0, 1, 2, 3, 4, 5, 6, 100].map(backoffMs)).toEqual([100, 250, 500, 1000, 2000, 5000, 5000, 5000]);
  });
});

function memoryLogger(level: string): { logger: pino.Logger; lines: () => Record<string, unknown>[] } {
  const chunks: string[] = [];
  const stream = new Writable({ write(chunk: Buffer, _encoding, done) { chunks.push(chunk.toString()); done(); } });
  return { logger: pino({ level }, stream), lines: () => chunks.map((c) => JSON.parse(c) as Record<string, unknown>) };
}

describe('kafkaLogCreator', () => {
  const entry = (level: logLevel, message: string, extra: Record<string, unknown> = {}) => ({
    namespace: 'Connection',
    level,
    label: logLevel[level],
    log: { timestamp: '2026-01-01T00:00:00.000Z', logger: 'kafkajs', message, ...extra },
  });

  it('maps kafkajs levels onto pino (ERROR and WARN → warn, INFO → debug, DEBUG → trace)', async () => {
    const { logger, lines } = memoryLogger('trace');
    const log = kafkaLogCreator(logger)(logLevel.DEBUG);
    log(entry(logLevel.ERROR, 'Connection error', { broker: '127.0.0.1:9092', error: 'ECONNREFUSED' }));
    log(entry(logLevel.WARN, 'Partition leader moved'));
    log(entry(logLevel.INFO, 'Consumer has joined the group'));
    log(entry(logLevel.DEBUG, 'Request Fetch'));
    log(entry(logLevel.NOTHING, 'never'));
    await new Promise((resolve) => setImmediate(resolve));
    const got = lines().map((l) => ({ level: l['level'], msg: l['msg'], kafkajs: l['kafkajs'], broker: l['broker'], timestamp: l['timestamp'] }));
    expect(got).toEqual([
      { level: 40, msg: 'kafkajs: Connection error', kafkajs: 'Connection', broker: '127.0.0.1:9092', timestamp: undefined },
      { level: 40, msg: 'kafkajs: Partition leader moved', kafkajs: 'Connection', broker: undefined, timestamp: undefined },
      { level: 20, msg: 'kafkajs: Consumer has joined the group', kafkajs: 'Connection', broker: undefined, timestamp: undefined },
      { level: 10, msg: 'kafkajs: Request Fetch', kafkajs: 'Connection', broker: undefined, timestamp: undefined },
    ]);
  });

  it('throttles a repeated warning and reports how many it held back', async () => {
    const { logger, lines } = memoryLogger('warn');
    let now = 0;
    const throttle = new Throttle(3, 1000);
    const realAdmit = throttle.admit.bind(throttle);
    throttle.admit = (key: string) => realAdmit(key, now); // the clock of this test
    const log = kafkaLogCreator(logger, throttle)(logLevel.WARN);
    for (let i = 0; i < 10; i++) log(entry(logLevel.ERROR, 'Connection error'));
    now = 2000;
    log(entry(logLevel.ERROR, 'Connection error'));
    await new Promise((resolve) => setImmediate(resolve));
    expect(lines().map((l) => l['suppressed'])).toEqual([undefined, undefined, undefined, 7]);
  });
});

describe('KafkaBus without a broker', () => {
  it('refuses a bad topic prefix or no brokers when built', () => {
    expect(() => new KafkaBus({ brokers: ['127.0.0.1:9092'], clientId: 't', capacity: 10, topicPrefix: 'a b.' })).toThrow(ConfigError);
    expect(() => new KafkaBus({ brokers: [], clientId: 't', capacity: 10 })).toThrow(expect.objectContaining({ key: 'bus.brokers' }));
  });

  it('buffers tryPublish up to capacity per topic and refuses the rest without waiting', () => {
    // Not connected: nothing is sent and no socket is opened.
    const bus = new KafkaBus({ brokers: ['127.0.0.1:9092'], clientId: 't', capacity: 5 });
    const message = { key: '198.51.100.1', value: new Uint8Array([1, 2, 3]) };
    const raw = Array.from({ length: 7 }, () => bus.tryPublish(TOPICS.SFLOW_RAW, message));
    expect(raw).toEqual([true, true, true, true, true, false, false]);
    expect(bus.tryPublish(TOPICS.SNAPSHOTS, message)).toBe(true);
    expect(bus.depth(TOPICS.SFLOW_RAW)).toBe(5);
    expect(bus.depth(TOPICS.SNAPSHOTS)).toBe(1);
    expect(bus.kind).toBe('kafka');
  });
});
