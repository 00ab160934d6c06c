// Resend the UDP payloads of captures to a collector: paced as captured, at a fixed rate, or as
// fast as the socket takes them; several loops for longer runs. A capture cut short is sent up to
// its last complete record, with one warning line on stderr.
import { createSocket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { splitHostPort } from '../../collector/udp-receiver.js';
import { UsageError } from '../../errors.js';
import { readUdpPayloads, type UdpPacket } from '../../pcap/pcap-reader.js';
import { cutShortWarning, destinationPortsHint, readCaptureFile } from '../capture-file.js';
import type { ReplayFlags } from '../main.js';
import { Progress } from '../progress.js';
import { toJson } from '../json.js';

/** Sends in flight before we wait for the socket to catch up (bounds memory at any rate). */
const MAX_IN_FLIGHT = 512;

export interface ReplaySummary { files: string[]; target: string; sent: number; bytes: number; errors: number; seconds: number; rate: number }

export async function runReplay(files: string[], options: ReplayFlags): Promise<void> {
  if (options.rate !== undefined && options.asFastAsPossible === true) throw new UsageError('--rate and --as-fast-as-possible exclude each other');
  const summary = await replay(files, options);
  if (options.json === true) process.stdout.write(`${toJson(summary)}\n`);
  else process.stdout.write(`sent ${summary.sent} datagrams (${summary.bytes} bytes) to ${summary.target} in ${summary.seconds.toFixed(2)} s: ${summary.rate} datagrams/s${summary.errors > 0 ? `, ${summary.errors} send errors` : ''}\n`);
}

export async function replay(files: string[], options: ReplayFlags): Promise<ReplaySummary> {
  const target = splitHostPort(options.target);
  const datagrams: { payload: Uint8Array; timestampMs: number }[] = [];
  const leftOut: Pick<UdpPacket, 'dstPort'>[] = []; // what --port left out, for the hint when it leaves nothing
  for (const file of files) {
    const read = readUdpPayloads(await readCaptureFile(file), file, { cutShort: 'stop' });
    for (const packet of read) {
      if (options.port !== undefined && packet.dstPort !== options.port) {
        leftOut.push({ dstPort: packet.dstPort });
        continue;
      }
      datagrams.push({ payload: packet.payload, timestampMs: packet.timestampMs });
    }
    if (read.cutShort !== undefined) process.stderr.write(cutShortWarning(read.cutShort));
  }
  if (datagrams.length === 0) {
    const hint = options.port === undefined ? undefined : destinationPortsHint(leftOut, files);
    throw new UsageError(`no UDP datagrams${options.port !== undefined ? ` to port ${options.port}` : ''} in ${files.join(', ')}${hint === undefined ? '' : `; ${hint}`}`);
  }

  const socket = createSocket(isIPv6(target.host) ? 'udp6' : 'udp4');
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.connect(target.port, target.host, () => { socket.off('error', reject); resolve(); });
  });
  socket.on('error', () => { /* ICMP port unreachable from a closed target: counted through send callbacks */ });

  const total = datagrams.length * options.loop;
  const progress = new Progress('replay', total);
  let sent = 0, bytes = 0, errors = 0, inFlight = 0;
  let drained: (() => void) | undefined;
  const onSent = (error: Error | null): void => {
    inFlight--;
    if (error !== null) errors++;
    if (inFlight < MAX_IN_FLIGHT / 2 && drained !== undefined) { const d = drained; drained = undefined; d(); }
  };
  const started = performance.now();
  const first = datagrams[0]?.timestampMs ?? 0;
  const captureSpan = (datagrams[datagrams.length - 1]?.timestampMs ?? first) - first;
  for (let loop = 0; loop < options.loop; loop++) {
    const loopStart = loop * (captureSpan + 1);
    for (const { payload, timestampMs } of datagrams) {
      const due = options.asFastAsPossible === true ? 0
        : options.rate !== undefined ? (sent / options.rate) * 1000
        : loopStart + (timestampMs - first);
      const wait = due - (performance.now() - started);
      if (wait > 1) await sleep(wait);
      inFlight++;
      socket.send(payload, onSent);
      sent++;
      bytes += payload.byteLength;
      progress.tick();
      if (inFlight >= MAX_IN_FLIGHT) await new Promise<void>((resolve) => { drained = resolve; });
    }
  }
  while (inFlight > 0) await new Promise<void>((resolve) => { drained = resolve; });
  const seconds = (performance.now() - started) / 1000;
  progress.finish();
  await new Promise<void>((resolve) => socket.close(() => resolve()));
  return { files, target: options.target, sent, bytes, errors, seconds, rate: Math.round(sent / Math.max(seconds, 1e-9)) };
}
