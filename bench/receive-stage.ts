// The receive stage alone, as a child process of the ingest benchmark: a UDP receiver (the native
// recvmmsg addon or Node dgram) publishing envelopes to the MemoryBus, and a consumer that only
// counts. Decoding and the store are left out, so this is the ceiling of the collector.
//
//   node dist/bench/receive-stage.js --receiver native|dgram [--listen 127.0.0.1:0]
//        [--capacity 65536] [--receive-buffer 4194304] [--max-batch 8334] [--linger-ms 1000]
//
// Prints {"ready":true,...} once bound; then answers each stdin line "stats" with one JSON line
// (received, consumed, droppedQueueFull, kernelDrops, queued, cpuS, rssKiB) and exits on "quit"
// or when stdin closes. It exits by itself after --max-seconds (default 900) whatever happens.
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { TOPICS } from '../src/bus/bus.js';
import { MemoryBus } from '../src/bus/memory-bus.js';
import { UdpReceiver, type ReceiverOptions } from '../src/collector/udp-receiver.js';
import type { Receiver } from '../src/service/service.js';
import { loadNativeReceiver } from './lib/native.js';
import { vmRssKiB } from './lib/proc.js';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      receiver: { type: 'string', default: 'dgram' },
      listen: { type: 'string', default: '127.0.0.1:0' },
      capacity: { type: 'string', default: '65536' },
      'receive-buffer': { type: 'string', default: String(4 * 1024 * 1024) },
      'max-batch': { type: 'string', default: '8334' },
      'linger-ms': { type: 'string', default: '1000' },
      'max-seconds': { type: 'string', default: '900' },
    },
    strict: true,
  });
  const bus = new MemoryBus({ capacity: Number(values.capacity) });
  const options: ReceiverOptions = { listen: values.listen, receiveBuffer: Number(values['receive-buffer']), bus };
  let receiver: Receiver;
  if (values.receiver === 'native') {
    const native = await loadNativeReceiver();
    if (!native.ok) {
      process.stdout.write(`${JSON.stringify({ ready: false, reason: native.reason })}\n`);
      process.exitCode = 3;
      return;
    }
    receiver = new native.module.NativeUdpReceiver(options);
  } else if (values.receiver === 'dgram') {
    receiver = new UdpReceiver(options);
  } else {
    throw new Error(`--receiver native|dgram, not ${values.receiver}`);
  }
  let consumed = 0;
  const consumer = bus.consume(TOPICS.SFLOW_RAW, async (batch) => {
    consumed += batch.length;
  }, { group: 'bench-count', maxBatch: Number(values['max-batch']), lingerMs: Number(values['linger-ms']) });
  const bound = await receiver.start();
  process.stdout.write(`${JSON.stringify({ ready: true, receiver: values.receiver, port: bound.port, receiveBuffer: bound.receiveBuffer })}\n`);

  let stopping = false;
  const stop = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    clearTimeout(deadline);
    await receiver.stop();
    await consumer.stop();
    process.exit(0);
  };
  const deadline = setTimeout(() => void stop(), Number(values['max-seconds']) * 1000);
  const lines = createInterface({ input: process.stdin });
  lines.on('line', (line) => {
    if (line === 'quit') {
      void stop();
      return;
    }
    if (line !== 'stats') return;
    void receiver.kernelDrops().then((kernelDrops) => {
      const cpu = process.cpuUsage();
      process.stdout.write(`${JSON.stringify({
        received: receiver.stats.received,
        consumed,
        droppedQueueFull: receiver.stats.droppedQueueFull,
        kernelDrops: kernelDrops ?? null,
        queued: bus.depth(TOPICS.SFLOW_RAW),
        cpuS: (cpu.user + cpu.system) / 1e6,
        rssKiB: vmRssKiB(process.pid) ?? null,
      })}\n`);
    });
  });
  lines.on('close', () => void stop());
}

main().catch((error: unknown) => {
  process.stderr.write(`receive-stage: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
});
