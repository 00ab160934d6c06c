// hoptrace decode: captures in, one JSON datagram per line out (or a readable view, or totals).
// A datagram that cannot be decoded is a line with its error, not the end of the run; a capture cut
// short is read up to its last complete record, with one warning line on stderr (as tcpdump does).
import { DecodeError } from '../../errors.js';
import { readUdpPayloads } from '../../pcap/pcap-reader.js';
import { decodeDatagram } from '../../sflow/datagram.js';
import type { Datagram, Sample } from '../../sflow/types.js';
import type { DecodeFlags } from '../main.js';
import { toJson } from '../json.js';
import { Progress } from '../progress.js';
import { cutShortWarning, destinationPortsHint, readCaptureFile } from '../capture-file.js';

export interface DecodeSummary {
  files: number;
  udpPackets: number;
  datagrams: number;
  failed: number;
  withIssues: number;
  samples: Record<string, number>;
  records: Record<string, number>;
  errors: Record<string, number>;
}

export async function runDecode(files: string[], options: DecodeFlags): Promise<void> {
  const summary: DecodeSummary = { files: files.length, udpPackets: 0, datagrams: 0, failed: 0, withIssues: 0, samples: {}, records: {}, errors: {} };
  const out = new LineWriter(process.stdout);
  for (const file of files) {
    const bytes = await readCaptureFile(file);
    const read = readUdpPayloads(bytes, file, { cutShort: 'stop' });
    const packets = [...read];
    const progress = new Progress(`decode ${file}`, packets.length);
    let kept = 0;
    for (const packet of packets) {
      progress.tick();
      if (out.blocked) await out.drain();
      if (options.port !== undefined && packet.dstPort !== options.port) continue;
      kept++;
      summary.udpPackets++;
      const where = { file: files.length > 1 ? file : undefined, frame: packet.frame, receivedAt: new Date(packet.timestampMs).toISOString(), exporter: packet.srcIp };
      let datagram: Datagram;
      try {
        datagram = decodeDatagram(packet.payload);
      } catch (error) {
        if (!(error instanceof DecodeError)) throw error;
        summary.failed++;
        summary.errors[error.code] = (summary.errors[error.code] ?? 0) + 1;
        if (options.summary !== true) out.line(options.text === true ? `frame ${packet.frame} from ${packet.srcIp}: ${error.message}` : toJson({ ...where, error }));
        continue;
      }
      summary.datagrams++;
      if (datagram.issues.length > 0) summary.withIssues++;
      for (const issue of datagram.issues) summary.errors[issue.code] = (summary.errors[issue.code] ?? 0) + 1;
      for (const sample of datagram.samples) {
        const kind = sample.kind === 'unknown' ? 'unknown' : `${sample.kind}${'expanded' in sample && sample.expanded ? ' (expanded)' : ''}`;
        summary.samples[kind] = (summary.samples[kind] ?? 0) + 1;
        if (sample.kind !== 'unknown') for (const record of sample.records) summary.records[record.kind] = (summary.records[record.kind] ?? 0) + 1;
        if (options.packet === false && sample.kind !== 'unknown') {
          for (const record of sample.records) if (record.kind === 'sampled_header') record.packet = null;
        }
      }
      if (options.summary === true) continue;
      out.line(options.text === true ? textOf(packet.frame, packet.srcIp, datagram) : toJson({ ...where, ...datagram }));
    }
    progress.finish();
    if (read.cutShort !== undefined) process.stderr.write(cutShortWarning(read.cutShort));
    if (options.port !== undefined && kept === 0) {
      const hint = destinationPortsHint(packets, [file]);
      if (hint !== undefined) process.stderr.write(`hoptrace: no UDP datagrams to port ${options.port} in ${file}; ${hint}\n`);
    }
  }
  if (options.summary === true) out.line(options.json === true ? toJson(summary) : summaryText(summary));
  await out.end();
}

function textOf(frame: number, exporter: string, d: Datagram): string {
  const lines = [`frame ${frame} from ${exporter}: agent ${d.agent} sub-agent ${d.subAgentId} seq ${d.sequence} uptime ${d.uptimeMs} ms, ${d.samples.length}/${d.numSamples} samples`];
  for (const issue of d.issues) lines.push(`  ! ${issue.message}`);
  d.samples.forEach((s, i) => lines.push(`  [${i}] ${sampleText(s)}`));
  return lines.join('\n');
}

function sampleText(s: Sample): string {
  if (s.kind === 'unknown') return `unknown sample ${s.enterprise}:${s.format}, ${s.length} bytes`;
  const source = `source ${s.sourceIdType}:${s.sourceIdIndex} seq ${s.sequence}`;
  const records = s.records.map((r) => {
    if (r.kind === 'sampled_header' && r.packet !== null) {
      const p = r.packet;
      const l4 = p.srcPort !== null ? `:${p.srcPort} > ` : ' > ';
      const tunnel = p.tunnel !== null ? ` [${p.tunnel.type} ${p.tunnel.id ?? '-'}${p.inner !== null ? ` ${p.inner.srcIp ?? p.inner.srcMac} > ${p.inner.dstIp ?? p.inner.dstMac}` : ''}]` : '';
      return `header ${r.headerLength}/${r.frameLength} ${p.srcMac} > ${p.dstMac}${p.vlans.length > 0 ? ` vlan ${p.vlans.map((v) => v.id).join('.')}` : ''} ${p.srcIp ?? ''}${l4}${p.dstIp ?? ''}${p.dstPort !== null ? `:${p.dstPort}` : ''} proto ${p.ipProtocol ?? '-'}${tunnel}`;
    }
    if (r.kind === 'extended_switch') return `switch vlan ${r.srcVlan}>${r.dstVlan}`;
    if (r.kind === 'openflow_port_name') return `port_name ${r.name}`;
    if (r.kind === 'generic_interface') return `if ${r.ifIndex} in ${r.inOctets} out ${r.outOctets}`;
    return r.kind;
  });
  if (s.kind === 'flow') {
    const port = (p: { format: number; value: number }): string => (p.format === 0 ? `${p.value}` : p.format === 1 ? `discard(${p.value})` : `multiple(${p.value})`);
    return `flow ${source} rate 1/${s.samplingRate} in ${port(s.input)} out ${port(s.output)}: ${records.join('; ')}`;
  }
  if (s.kind === 'discard') return `discard ${source} reason ${s.reason} in ${s.inputIfIndex} out ${s.outputIfIndex}: ${records.join('; ')}`;
  return `counters ${source}: ${records.join('; ')}`;
}

function summaryText(s: DecodeSummary): string {
  const rows: string[] = [
    `udp packets  ${s.udpPackets}`,
    `datagrams    ${s.datagrams} decoded, ${s.failed} failed, ${s.withIssues} with issues`,
  ];
  for (const [kind, n] of Object.entries(s.samples).sort()) rows.push(`samples      ${kind}: ${n}`);
  for (const [kind, n] of Object.entries(s.records).sort()) rows.push(`records      ${kind}: ${n}`);
  for (const [code, n] of Object.entries(s.errors).sort()) rows.push(`errors       ${code}: ${n}`);
  return rows.join('\n');
}

/** Buffered stdout that respects back-pressure (a slow pipe, `| head`). */
class LineWriter {
  #chunks: string[] = [];
  #size = 0;
  readonly #stream: NodeJS.WritableStream;
  #closed = false;
  /** The stream asked us to wait: call drain() before writing more. */
  blocked = false;
  constructor(stream: NodeJS.WritableStream) {
    this.#stream = stream;
    stream.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EPIPE') this.#closed = true; // the reader went away (`| head`): stop quietly
    });
  }
  line(text: string): void {
    if (this.#closed) return;
    this.#chunks.push(text, '\n');
    this.#size += text.length + 1;
    if (this.#size > 1 << 16) this.#flush();
  }
  #flush(): void {
    if (this.#chunks.length === 0 || this.#closed) return;
    this.blocked = !this.#stream.write(this.#chunks.join(''));
    this.#chunks = [];
    this.#size = 0;
  }
  async drain(): Promise<void> {
    if (!this.blocked || this.#closed) return;
    await new Promise<void>((resolve) => this.#stream.once('drain', () => resolve()));
    this.blocked = false;
  }
  async end(): Promise<void> {
    this.#flush();
    await new Promise<void>((resolve) => {
      if (this.#closed) resolve();
      else this.#stream.write('', () => resolve());
    });
  }
}
