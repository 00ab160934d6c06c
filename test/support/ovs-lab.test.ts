// The parts of the lab that need no namespace: the pcap the collector writes.
import { describe, expect, it } from 'vitest';
import { buildPcap, type CapturedDatagram } from './ovs-lab.js';

function datagram(payload: number[], receivedAt: number): CapturedDatagram {
  return {
    receivedAt,
    source: { address: '198.51.100.2', port: 40001 },
    destination: { address: '198.51.100.1', port: 6343 },
    payload: Buffer.from(payload),
  };
}

describe('buildPcap', () => {
  it('writes a classic Ethernet pcap with one IPv4/UDP frame per datagram', () => {
    const pcap = buildPcap([datagram([0, 0, 0, 5, 1], 1_700_000_000_123.456), datagram([], 1_700_000_001_000)]);
    expect(pcap.readUInt32LE(0)).toBe(0xa1b2c3d4);
    expect([pcap.readUInt16LE(4), pcap.readUInt16LE(6), pcap.readUInt32LE(20)]).toEqual([2, 4, 1]);
    let offset = 24;
    const frames: { seconds: number; micros: number; frame: Buffer }[] = [];
    while (offset < pcap.length) {
      const length = pcap.readUInt32LE(offset + 8);
      expect(pcap.readUInt32LE(offset + 12)).toBe(length);
      frames.push({ seconds: pcap.readUInt32LE(offset), micros: pcap.readUInt32LE(offset + 4), frame: pcap.subarray(offset + 16, offset + 16 + length) });
      offset += 16 + length;
    }
    expect(offset).toBe(pcap.length);
    expect(frames.map((f) => [f.seconds, f.micros])).toEqual([[1_700_000_000, 123_456], [1_700_000_001, 0]]);
    const first = frames[0]?.frame ?? Buffer.alloc(0);
    expect(first.readUInt16BE(12)).toBe(0x0800);
    const ip = first.subarray(14, 34);
    expect([ip.readUInt8(0), ip.readUInt16BE(2), ip.readUInt8(9)]).toEqual([0x45, 20 + 8 + 5, 17]);
    expect([...ip.subarray(12, 16)].join('.')).toBe('198.51.100.2');
    expect([...ip.subarray(16, 20)].join('.')).toBe('198.51.100.1');
    // A valid IPv4 header sums to 0xffff (one's complement) with its checksum in place.
    let sum = 0;
    for (let i = 0; i < 20; i += 2) sum += ip.readUInt16BE(i);
    while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
    expect(sum).toBe(0xffff);
    expect([first.readUInt16BE(34), first.readUInt16BE(36), first.readUInt16BE(38)]).toEqual([40001, 6343, 13]);
    expect([...first.subarray(42)]).toEqual([0, 0, 0, 5, 1]);
  });

  it('refuses what does not fit an IPv4 packet', () => {
    expect(() => buildPcap([datagram(new Array<number>(65_508).fill(0), 0)])).toThrow(RangeError);
  });
});
