// The benchmark corpus (a real Open vSwitch export, see its README) and the shared sFlow
// captures, as UDP payloads.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readUdpPayloads, type UdpPacket } from '../../src/pcap/pcap-reader.js';

export const SHARED_TESTDATA = process.env['HOPTRACE_TESTDATA'] ?? '/work/shared/testdata';
export const CORPUS = join(SHARED_TESTDATA, 'corpus', 'ovs-sflow-10k.pcap');
/** From the corpus README: the counts every decode of the corpus must reproduce. */
export const CORPUS_COUNTS = { datagrams: 10_000, flowSamples: 63_328, counterSamples: 24 } as const;

export function readPackets(file: string): UdpPacket[] {
  return [...readUdpPayloads(readFileSync(file), file)];
}

/** Every sFlow capture of the shared test data (the .pcap files), by name. */
export function sharedCaptures(): { name: string; file: string }[] {
  const dir = join(SHARED_TESTDATA, 'sflow');
  return readdirSync(dir)
    .filter((name) => name.endsWith('.pcap'))
    .sort()
    .map((name) => ({ name: name.replace(/\.pcap$/, ''), file: join(dir, name) }));
}
