// Datagram and sample framing (SFLOW-DATAGRAM5, sflow_drops.txt), built by hand with the XDR
// writer: header fields, interface and source-id encodings, unknown formats, and every framing
// problem the decoder keeps going through (STYLE.md "Binary decoding").
import { describe, expect, it } from 'vitest';
import { DecodeError } from '../errors.js';
import { decodeDatagram } from './datagram.js';
import { IFINDEX_LOCAL, INTERFACE_FORMAT } from './wire.js';
import {
  concat, counterSample, datagram, discardSample, expandedFlowSample, flowSample, tagged, xdr,
} from '../../test/support/xdr-writer.js';

const SWITCH = tagged(1001, xdr().u32(10).u32(0).u32(20).u32(0).bytes());
const VNI = tagged(1030, xdr().u32(77).bytes());

describe('datagram header', () => {
  it.each([
    { name: 'IPv4 agent', agent: '192.0.2.7', type: 1 },
    { name: 'IPv6 agent', agent: '2001:db8::7', type: 2 },
    { name: 'IPv6 agent, RFC 5952 form', agent: '2001:db8:0:1:0:0:0:1', type: 2, text: '2001:db8:0:1::1' },
  ])('$name', ({ agent, type, text }) => {
    const d = decodeDatagram(datagram({ agent, subAgentId: 3, sequence: 99, uptimeMs: 123456 }, []));
    expect(d).toEqual({
      version: 5, agentAddressType: type, agent: text ?? agent, subAgentId: 3, sequence: 99, uptimeMs: 123456, numSamples: 0,
      samples: [], issues: [], unknownRecords: 0, malformedRecords: 0,
    });
  });

  it.each([2, 4, 6, 0x35000000])('throws bad-version at byte 0 for version %i', (version) => {
    const bytes = datagram({ version }, []);
    expect(() => decodeDatagram(bytes)).toThrow(expect.objectContaining({ code: 'bad-version', offset: 0, path: 'datagram/version' }));
  });

  it('throws bad-value for an agent address type that is neither IPv4 nor IPv6', () => {
    const bytes = xdr().u32(5).u32(3).u32(0).u32(0).u32(0).u32(0).u32(0).bytes();
    expect(() => decodeDatagram(bytes)).toThrow(expect.objectContaining({ code: 'bad-value', offset: 4, path: 'datagram/agent_address.type' }));
  });

  const whole = datagram({}, []);
  it.each(Array.from({ length: whole.byteLength }, (_, n) => n))('throws truncated for a header cut at %i bytes', (n) => {
    let error: unknown;
    try {
      decodeDatagram(whole.subarray(0, n));
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(DecodeError);
    expect(error).toMatchObject({ code: 'truncated' });
  });

  it('accepts a Node Buffer and a view with a byte offset', () => {
    const bytes = datagram({}, [flowSample({}, [SWITCH])]);
    const padded = new Uint8Array(bytes.byteLength + 3);
    padded.set(bytes, 3);
    expect(decodeDatagram(Buffer.from(bytes))).toEqual(decodeDatagram(bytes));
    expect(decodeDatagram(padded.subarray(3))).toEqual(decodeDatagram(bytes));
  });
});

describe('interfaces and sources', () => {
  it.each([
    { name: 'single ifIndex', word: 7, want: { format: INTERFACE_FORMAT.SINGLE, value: 7 } },
    { name: 'unknown interface', word: 0, want: { format: INTERFACE_FORMAT.SINGLE, value: 0 } },
    { name: 'local (0x3fffffff)', word: 0x3fffffff, want: { format: INTERFACE_FORMAT.SINGLE, value: IFINDEX_LOCAL } },
    { name: 'discarded, reason 256 (OVS drop)', word: 0x40000100, want: { format: INTERFACE_FORMAT.DISCARD, value: 256 } },
    { name: 'multiple, 3 interfaces', word: 0x80000003, want: { format: INTERFACE_FORMAT.MULTIPLE, value: 3 } },
    { name: 'multiple, number unknown', word: 0x80000000, want: { format: INTERFACE_FORMAT.MULTIPLE, value: 0 } },
  ])('compact output: $name', ({ word, want }) => {
    const d = decodeDatagram(datagram({}, [flowSample({ output: word, input: word }, [])]));
    expect(d.samples[0]).toMatchObject({ kind: 'flow', expanded: false, input: want, output: want });
  });

  it('reads expanded interfaces and source ids', () => {
    const d = decodeDatagram(datagram({}, [expandedFlowSample({ sourceIdType: 2, sourceIdIndex: 1000, input: [0, 0x12345678], output: [1, 256], samplingRate: 400, samplePool: 4000, drops: 3, sequence: 9 }, [SWITCH])]));
    expect(d.samples[0]).toMatchObject({
      kind: 'flow', expanded: true, offset: 28, length: 44 + 24, sequence: 9, sourceIdType: 2, sourceIdIndex: 1000, samplingRate: 400,
      samplePool: 4000, drops: 3, input: { format: 0, value: 0x12345678 }, output: { format: 1, value: 256 }, records: [{ kind: 'extended_switch' }],
    });
  });

  it('splits a compact source id into type (8 bits) and index (24 bits)', () => {
    const d = decodeDatagram(datagram({}, [flowSample({ sourceId: 0x020003e9 }, []), counterSample([], { sourceId: 0x00000005 })]));
    expect(d.samples.map((s) => (s.kind === 'unknown' ? null : [s.sourceIdType, s.sourceIdIndex]))).toEqual([[2, 1001], [0, 5]]);
  });

  it('reads expanded counter samples and discard samples (sflow_drops.txt)', () => {
    const d = decodeDatagram(datagram({}, [
      counterSample([tagged(2207, xdr().u32(1).u32(2).u32(3).u32(4).u32(5).u32(6).bytes())], { sourceId: 0x020003e8, expanded: true, sequence: 4 }),
      discardSample({ sequence: 8, sourceIdType: 0, sourceIdIndex: 3, drops: 2, input: 3, output: 0, reason: 258 }, [tagged(1042, xdr().string('NETFILTER_DROP').bytes())]),
    ]));
    expect(d.issues).toEqual([]);
    expect(d.samples[0]).toMatchObject({ kind: 'counter', expanded: true, sequence: 4, sourceIdType: 2, sourceIdIndex: 1000, records: [{ kind: 'ovs_dp_stats' }] });
    expect(d.samples[1]).toMatchObject({
      kind: 'discard', sequence: 8, sourceIdType: 0, sourceIdIndex: 3, drops: 2, inputIfIndex: 3, outputIfIndex: 0, reason: 258,
      records: [{ kind: 'extended_linux_drop_reason', reason: 'NETFILTER_DROP' }],
    });
  });
});

describe('unknown formats are kept raw and counted, never fatal', () => {
  it('keeps unknown samples (enterprise 0 format 9, enterprise 4300) and decodes the next one', () => {
    const d = decodeDatagram(datagram({}, [tagged(9, Uint8Array.from([1, 2, 3, 4])), tagged(2, Uint8Array.from([9, 9, 9, 9]), 4300), flowSample({}, [SWITCH])]));
    expect(d.issues).toEqual([]);
    expect(d.samples[0]).toEqual({ kind: 'unknown', offset: 28, length: 4, enterprise: 0, format: 9, body: Uint8Array.from([1, 2, 3, 4]) });
    expect(d.samples[1]).toMatchObject({ kind: 'unknown', enterprise: 4300, format: 2 });
    expect(d.samples[2]).toMatchObject({ kind: 'flow', records: [{ kind: 'extended_switch' }] });
  });

  it('keeps unknown records (flow 1012, enterprise 4413 counter) and counts them', () => {
    const d = decodeDatagram(datagram({}, [
      flowSample({}, [tagged(1012, Uint8Array.from([0, 0, 0, 1])), SWITCH]),
      counterSample([tagged(3, new Uint8Array(8), 4413), tagged(2207, new Uint8Array(24))]),
    ]));
    expect(d.unknownRecords).toBe(2);
    expect(d.issues).toEqual([]);
    expect(d.samples[0]).toMatchObject({ records: [{ kind: 'unknown', enterprise: 0, format: 1012, offset: 68, length: 4 }, { kind: 'extended_switch' }] });
    expect(d.samples[1]).toMatchObject({ records: [{ kind: 'unknown', enterprise: 4413, format: 3, length: 8 }, { kind: 'ovs_dp_stats' }] });
  });
});

describe('framing problems become issues; decoding goes on where the framing allows', () => {
  it('decodes the records that fit in a sample that runs past the datagram (gopacket-packet11 style)', () => {
    const sample = flowSample({}, [SWITCH, VNI]);
    const bytes = datagram({}, [sample]);
    new DataView(bytes.buffer).setUint32(32, sample.byteLength - 8 + 40); // sample length 40 bytes too long
    const d = decodeDatagram(bytes);
    expect(d.issues).toEqual([expect.objectContaining({ code: 'truncated', path: 'datagram/sample[0]', offset: 36 })]);
    expect(d.samples[0]).toMatchObject({ kind: 'flow', length: sample.byteLength - 8 + 40, records: [{ kind: 'extended_switch' }, { kind: 'extended_vni_ingress', vni: 77 }] });
  });

  it('keeps a sample too short for its fixed header as unknown, with an issue, and decodes the next', () => {
    const d = decodeDatagram(datagram({}, [tagged(1, new Uint8Array(12)), flowSample({}, [SWITCH])]));
    expect(d.issues).toEqual([expect.objectContaining({ code: 'truncated', path: 'datagram/sample[0]/sample_pool', offset: 48 })]);
    expect(d.samples.map((s) => s.kind)).toEqual(['unknown', 'flow']);
  });

  it('keeps a record that runs past its sample as malformed and ends that sample, not the datagram', () => {
    const bad = xdr().u32(1001).u32(400).u32(10).bytes(); // declares 400 bytes, has 4
    const d = decodeDatagram(datagram({}, [flowSample({}, [SWITCH, bad]), flowSample({}, [VNI])]));
    expect(d.issues).toEqual([expect.objectContaining({ code: 'truncated', path: 'datagram/sample[0]/record[1]' })]);
    expect(d.malformedRecords).toBe(1);
    expect(d.samples[0]).toMatchObject({ records: [{ kind: 'extended_switch' }, { kind: 'malformed', format: 1001, length: 400, body: Uint8Array.from([0, 0, 0, 10]) }] });
    expect(d.samples[1]).toMatchObject({ records: [{ kind: 'extended_vni_ingress' }] });
  });

  it('reports num_samples larger than the samples present', () => {
    const d = decodeDatagram(datagram({ count: 3 }, [flowSample({}, [SWITCH])]));
    expect(d.numSamples).toBe(3);
    expect(d.samples).toHaveLength(1);
    expect(d.issues).toEqual([expect.objectContaining({ code: 'truncated', path: 'datagram/num_samples' })]);
  });

  it.each([
    { name: 'num_samples', bytes: datagram({ count: 0xffffffff }, [flowSample({}, [SWITCH])]), path: 'datagram/num_samples', offset: 24 },
    { name: 'num_records', bytes: datagram({}, [flowSample({ count: 0x10000000 }, [SWITCH])]), path: 'datagram/sample[0]/num_records', offset: 64 },
  ])('reports a $name too large for the bytes left as too-many, and still reads what is there', ({ bytes, path, offset }) => {
    const d = decodeDatagram(bytes);
    expect(d.issues).toEqual([expect.objectContaining({ code: 'too-many', path, offset })]);
    expect(d.samples[0]).toMatchObject({ kind: 'flow', records: [{ kind: 'extended_switch' }] });
  });

  it('ignores bytes after the declared samples', () => {
    const d = decodeDatagram(concat([datagram({}, [flowSample({}, [SWITCH])]), Uint8Array.from([0xde, 0xad, 0xbe, 0xef])]));
    expect(d.issues).toEqual([]);
    expect(d.samples).toHaveLength(1);
  });
});
