// Golden tests on every third-party capture of ../shared/testdata/sflow against NAME.expected.json
// (tshark 4.0.17 + a framing walker; SOURCES.md). Framing is compared always; `fields` where tshark
// decoded the record (through test/support/expected-adapter.ts); framing-only records by their
// bytes, and by hand against the spec below. Datagrams with `notes` (inconsistent or malformed
// inputs) only have to fail safely: issues, and issues only there.
import { describe, expect, it } from 'vitest';
import { DecodeError } from '../errors.js';
import { decodeDatagram } from './datagram.js';
import type { Datagram } from './types.js';
import { capturePackets, loadExpected, sflowCaptures, type Fields, type FieldValue } from '../../test/support/sflow-captures.js';
import {
  datagramHeaderOf, expectedFraming, framingOf, recordFieldsOf, sampleHeaderOf, tsharkLayers,
} from '../../test/support/expected-adapter.js';

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

/** `ours` restricted to the keys `want` has, recursively (tshark leaves out what it did not see). */
function pickLike(ours: FieldValue | undefined, want: FieldValue): FieldValue | undefined {
  if (ours === undefined || typeof want !== 'object' || want === null || Array.isArray(want)) return ours;
  if (typeof ours !== 'object' || Array.isArray(ours)) return ours;
  const out: Fields = {};
  for (const key of Object.keys(want)) {
    const value = pickLike(ours[key], want[key] as FieldValue);
    if (value !== undefined) out[key] = value;
  }
  return out;
}

describe.each(sflowCaptures())('%s', (name) => {
  const expected = loadExpected(name);
  const packets = capturePackets(name);

  it('gives every expected datagram a UDP packet', () => {
    expect(expected.datagrams.map((d) => d.frame).filter((f) => !packets.some((p) => p.frame === f))).toEqual([]);
    expect(expected.datagram_count).toBe(expected.datagrams.length);
  });

  it.each(packets)('frame $frame', ({ frame, payload }) => {
    const want = expected.datagrams.find((d) => d.frame === frame);
    if (want === undefined) {
      // Not sFlow v5 (frames 13, 19-22 of tcpdump-sflow_multiple_counter_30_pdus).
      expect(() => decodeDatagram(payload)).toThrow(DecodeError);
      expect(() => decodeDatagram(payload)).toThrow(expect.objectContaining({ code: 'bad-version', offset: 0 }));
      return;
    }
    const got: Datagram = decodeDatagram(payload);
    expect(payload.byteLength).toBe(want.datagram_length);
    expect(framingOf(got)).toEqual(expectedFraming(want));
    expect(got.issues.length > 0).toBe((want.notes ?? []).length > 0);
    for (const issue of got.issues) {
      expect(issue.offset).toBeGreaterThanOrEqual(0);
      expect(issue.offset).toBeLessThanOrEqual(payload.byteLength);
      expect(issue.path).toMatch(/^datagram\//);
    }
    const header = datagramHeaderOf(got);
    header['datagram_length'] = payload.byteLength;
    expect(header).toEqual({
      datagram_length: want.datagram_length, version: want.version, agent_address_type: want.agent_address_type,
      agent_address: want.agent_address, sub_agent_id: want.sub_agent_id, sequence_number: want.sequence_number,
      uptime_ms: want.uptime_ms, num_samples: want.num_samples,
    });
    if ((want.notes ?? []).length > 0) return; // inconsistent input: failing safely is enough

    want.samples.forEach((ws, i) => {
      const sample = got.samples[i];
      if (sample === undefined) throw new Error(`sample ${i} missing`);
      if (ws.decoded_by === 'tshark') {
        const { records: _records, offset: _o, enterprise: _e, format: _f, type: _t, length: _l, decoded_by: _d, ...fields } = ws;
        expect(sampleHeaderOf(sample, ws), `sample ${i} header`).toEqual(fields);
      }
      if (sample.kind === 'unknown') return;
      ws.records.forEach((wr, j) => {
        const record = sample.records[j];
        if (record === undefined) throw new Error(`record ${j} missing`);
        const where = `sample ${i} record ${j} (${wr.name ?? wr.format})`;
        expect(record.kind, where).not.toBe('malformed');
        if (wr.decoded_by === 'tshark' && wr.fields !== undefined) {
          const ours = recordFieldsOf(record);
          expect(ours, `${where}: no adapter for ${record.kind}`).toBeDefined();
          const { packet: wantPacket, ...wantFields } = wr.fields;
          const { packet: ourPacket, ...ourFields } = ours as Fields;
          expect(pickLike(ourFields, wantFields), where).toEqual(wantFields);
          if (wantPacket !== undefined) {
            const wp = wantPacket as Fields;
            const op = ourPacket as Fields;
            const { protocols: wantProtocols, ...wantPacketFields } = wp;
            expect((op['protocols'] as string[]).slice(0, tsharkLayers(wantProtocols as string[]).length), `${where} layers`)
              .toEqual(tsharkLayers(wantProtocols as string[]));
            expect(pickLike(op, wantPacketFields), `${where} packet`).toEqual(wantPacketFields);
          }
        } else {
          expect(hex(payload.subarray(record.offset + 8, record.offset + 8 + record.length)), where).toBe(wr.data_hex);
        }
      });
    });
  });
});

// Records tshark 4.0 cannot decode (framing-only in the expected files), checked field by field.
// Each expected value was worked out by hand from the record's data_hex and the spec's grammar.
const HAND_DECODED = [
  {
    name: 'gopacket-packet6-ipv4-tunnel-ingress', sample: 0, record: 0, spec: 'sflow_tunnels.txt 1024 = sampled_ipv4',
    // 00000000 0000002f c0a80054 c0a80053 00000000 00000000 00000000 00000000
    want: { kind: 'extended_ipv4_tunnel_ingress', offset: 68, length: 32, ipLength: 0, protocol: 47, srcIp: '192.168.0.84', dstIp: '192.168.0.83', srcPort: 0, dstPort: 0, tcpFlags: 0, tos: 0 },
  },
  {
    name: 'gopacket-packet7-ipv4-tunnel-egress', sample: 0, record: 0, spec: 'sflow_tunnels.txt 1023 = sampled_ipv4',
    // 00000000 00000000 00000000 c0a80054 00000000 00000000 00000000 00000000
    want: { kind: 'extended_ipv4_tunnel_egress', offset: 68, length: 32, ipLength: 0, protocol: 0, srcIp: '0.0.0.0', dstIp: '192.168.0.84', srcPort: 0, dstPort: 0, tcpFlags: 0, tos: 0 },
  },
  {
    name: 'gopacket-packet9-portname-counter', sample: 0, record: 1, spec: 'sflow_openflow.txt 1004 of_port',
    // 000062d3 3ce76e49 00000003
    want: { kind: 'openflow_port', offset: 108, length: 12, datapathId: 0x000062d33ce76e49n, portNo: 3 },
  },
  {
    name: 'gopacket-packet9-portname-counter', sample: 0, record: 2, spec: 'sflow_openflow.txt 1005 port_name',
    // 0000000e "tapd98154f2-00" 0000
    want: { kind: 'openflow_port_name', offset: 128, length: 20, name: 'tapd98154f2-00' },
  },
  {
    name: 'gopacket-packet9-portname-counter', sample: 0, record: 3, spec: 'SFLOW-STRUCTS5 if_counters (after an unknown-to-tshark record)',
    // 0000000e 00000006 00000000540be400 00000001 00000003 0000000000004749 000000b5 00000000 ffffffff
    // 00000000 00000000 ffffffff 0000000000008a0b 000001d2 ffffffff ffffffff 00000000 00000000 00000000
    want: {
      kind: 'generic_interface', offset: 156, length: 88, ifIndex: 14, ifType: 6, ifSpeed: 10_000_000_000n, ifDirection: 1,
      ifAdminStatus: 1, ifOperStatus: 1, inOctets: 0x4749n, inUcastPkts: 0xb5, inMulticastPkts: 0, inBroadcastPkts: 0xffffffff,
      inDiscards: 0, inErrors: 0, inUnknownProtos: 0xffffffff, outOctets: 0x8a0bn, outUcastPkts: 0x1d2, outMulticastPkts: 0xffffffff,
      outBroadcastPkts: 0xffffffff, outDiscards: 0, outErrors: 0, ifPromiscuousMode: 0,
    },
  },
  {
    name: 'gopacket-packet13-appresources-ovsdb-counter', sample: 0, record: 0, spec: 'sflow_application.txt 2203 app_resources',
    // 000b152d 000a3739 000000000058b000 0000000000000000 00000000 00000000 00000000 00000000
    want: { kind: 'app_resources', offset: 48, length: 40, fields: { user_time: 0xb152d, system_time: 0xa3739, mem_used: 0x58b000n, mem_max: 0n, fd_open: 0, fd_max: 0, conn_open: 0, conn_max: 0 } },
  },
  {
    name: 'gopacket-packet13-appresources-ovsdb-counter', sample: 0, record: 1, spec: 'OVS lib/sflow.h SFLOVSDP_counters 2207',
    // 000003f7 00000148 00000000 00000a3b 00000000 00000000
    want: { kind: 'ovs_dp_stats', offset: 96, length: 24, fields: { n_hit: 1015, n_missed: 328, n_lost: 0, n_mask_hit: 2619, n_flows: 0, n_masks: 0 } },
  },
  {
    name: 'telegraf-sflow_issue_15375', sample: 0, record: 0, spec: 'sflow_drops.txt 1036 extended_egress_queue',
    want: { kind: 'extended_egress_queue', offset: 68, length: 4, queue: 42 },
  },
  {
    name: 'goflow2-drop-extended-acl', sample: 0, record: 0, spec: 'sflow_drops.txt 1037 extended_acl',
    // 0000002a 00000004 "foo!" 00000002
    want: { kind: 'extended_acl', offset: 68, length: 16, number: 42, name: 'foo!', direction: 2 },
  },
  {
    name: 'goflow2-drop-extended-function-unpadded', sample: 0, record: 0, spec: 'sflow_drops.txt 1038 extended_function, no final padding',
    // 00000006 "foobar"
    want: { kind: 'extended_function', offset: 68, length: 10, symbol: 'foobar' },
  },
  {
    name: 'telegraf-sflow_v5_example', sample: 0, record: 0, spec: 'sflow_openflow.txt 1005 port_name',
    // 00000004 "eno1"
    want: { kind: 'openflow_port_name', offset: 48, length: 8, name: 'eno1' },
  },
] as const;

const HOST_COUNTERS = 'tcpdump-sflow_multiple_counter_30_pdus';
const HAND_DECODED_HOST = [
  {
    format: 2001, sample: 0, record: 0, spec: 'sflow_host.txt host_adapters',
    // 00000004 | 00000002 00000001 1cc1de1896f00000 | 00000003 00000001 1cc1de1896f00000 | 00000005 ... | 00000006 00000001 0000000000000000
    want: { kind: 'host_adapters', offset: 48, length: 68, fields: {
      adapters: 4, adapter_0_ifIndex: 2, adapter_0_mac_address: '1c:c1:de:18:96:f0', adapter_1_ifIndex: 3, adapter_1_mac_address: '1c:c1:de:18:96:f0',
      adapter_2_ifIndex: 5, adapter_2_mac_address: '1c:c1:de:18:96:f0', adapter_3_ifIndex: 6, adapter_3_mac_address: '00:00:00:00:00:00' } },
  },
  {
    format: 2005, sample: 0, record: 1, spec: 'sflow_host.txt host_disk_io',
    // 000001ce15623800 000001b55abb6000 000007a2 00022ed1 00000000ad275000 001136a1 03c8c6c6 0000014ce1b68800 1016b722
    want: { kind: 'host_disk_io', offset: 124, length: 52, fields: {
      disk_total: 0x1ce15623800n, disk_free: 0x1b55abb6000n, part_max_used: 0x7a2, reads: 0x22ed1, bytes_read: 0xad275000n,
      read_time: 0x1136a1, writes: 0x3c8c6c6, bytes_written: 0x14ce1b68800n, write_time: 0x1016b722 } },
  },
  {
    format: 2004, sample: 0, record: 2, spec: 'sflow_host.txt host_memory',
    want: { kind: 'host_memory', offset: 184, length: 72, fields: {
      mem_total: 0x5e225c000n, mem_free: 0x3848a3000n, mem_shared: 0n, mem_buffers: 0x13bfc000n, mem_cached: 0x236620000n,
      swap_total: 0n, swap_free: 0n, page_in: 0x15af62, page_out: 0x299c36d1, swap_in: 0, swap_out: 0 } },
  },
  {
    format: 2003, sample: 0, record: 3, spec: 'sflow_host.txt host_cpu (68 bytes: without the 2014 fields)',
    // floats 0x3ca3d70a (0.02) 0x3c23d70a (0.01) 0x3d23d70a (0.04)
    want: { kind: 'host_cpu', offset: 264, length: 68, fields: {
      load_one: Math.fround(0.02), load_five: Math.fround(0.01), load_fifteen: Math.fround(0.04), proc_run: 1, proc_total: 0x186,
      cpu_num: 0x18, cpu_speed: 0x640, uptime: 0x9643b9, cpu_user: 0x1e74d09c, cpu_nice: 0x1876bc0, cpu_system: 0x142d000a,
      cpu_idle: 0xcc79de36, cpu_wio: 0xa5dd9a, cpu_intr: 0x5160bc, cpu_sintr: 0x41a9f4c, interrupts: 0x7a8f6da7, contexts: 0x38428b86 } },
  },
  {
    format: 2006, sample: 0, record: 4, spec: 'sflow_host.txt host_net_io',
    want: { kind: 'host_net_io', offset: 340, length: 40, fields: {
      bytes_in: 0x16b20b31f24en, pkts_in: 0xfcb8d0dc, errs_in: 0, drops_in: 0x32a, bytes_out: 0x36b3f8ae8e96n, pkts_out: 0x0ab2541e, errs_out: 0, drops_out: 0 } },
  },
  {
    format: 2000, sample: 0, record: 5, spec: 'sflow_host.txt host_descr',
    want: { kind: 'host_descr', offset: 388, length: 64, fields: {
      hostname: 'proxy-use03147k2', uuid: '36383935-3431-5355-4530-333134374b32', machine_type: 3, os_name: 2, os_release: '2.6.18-194.el5' } },
  },
] as const;

describe('framing-only records decoded by hand against the spec', () => {
  it.each(HAND_DECODED)('$name sample $sample record $record: $spec', ({ name, sample, record, want }) => {
    const packet = capturePackets(name)[0];
    if (packet === undefined) throw new Error('no packet');
    const s = decodeDatagram(packet.payload).samples[sample];
    if (s === undefined || s.kind === 'unknown') throw new Error('no sample');
    expect(s.records[record]).toEqual(want);
  });

  it.each(HAND_DECODED_HOST)('$spec (format $format)', ({ sample, record, want }) => {
    const packet = capturePackets(HOST_COUNTERS).find((p) => p.frame === 12);
    if (packet === undefined) throw new Error('no frame 12');
    const s = decodeDatagram(packet.payload).samples[sample];
    if (s === undefined || s.kind === 'unknown') throw new Error('no sample');
    expect(s.records[record]).toEqual(want);
  });

  // sflow_drops.txt discarded_packet: sequence_number, source_id (expanded: type, index), drops,
  // input, output, reason, then the records. The expected files' discard header fields are read
  // with a compact source_id (tshark-expected.py discard_header), one word off from the spec, so
  // they are checked here from the bytes instead:
  //   00000002 00000000 00000001 00000100 00000001 00000002 00000001 00000001 (num_records)
  it.each(['telegraf-sflow_issue_15375', 'goflow2-drop-extended-acl', 'goflow2-drop-extended-function-unpadded'])('%s discard sample header', (name) => {
    const packet = capturePackets(name)[0];
    if (packet === undefined) throw new Error('no packet');
    const s = decodeDatagram(packet.payload).samples[0];
    expect(s).toMatchObject({
      kind: 'discard', offset: 28, sequence: 2, sourceIdType: 0, sourceIdIndex: 1, drops: 256, inputIfIndex: 1, outputIfIndex: 2, reason: 1,
    });
    expect(s?.kind === 'discard' ? s.records.length : -1).toBe(1);
  });
});

describe('inconsistent inputs fail safely', () => {
  it.each([
    { name: 'gopacket-packet5-expanded-ext-router', issues: [['truncated', 76, 'datagram/sample[0]/record[0]']] },
    { name: 'gopacket-packet8-ext-router-ipv6-nexthop', issues: [['truncated', 76, 'datagram/sample[0]/record[0]']] },
    { name: 'gopacket-packet11-lacp-counter', issues: [['truncated', 36, 'datagram/sample[0]']] },
    {
      name: 'tcpdump-sflow_print-segv',
      issues: [
        ['too-many', 64, 'datagram/sample[0]/num_records'], // 768 records in 124 bytes
        ['truncated', 76, 'datagram/sample[0]/record[0]'], // record length 1180566168
        ['truncated', 200, 'datagram/sample[1]'], // sample length 229633, 668 bytes left
      ],
    },
  ])('$name: issues with offsets and paths', ({ name, issues }) => {
    const packet = capturePackets(name)[0];
    if (packet === undefined) throw new Error('no packet');
    const d = decodeDatagram(packet.payload);
    expect(d.issues.map((i) => [i.code, i.offset, i.path])).toEqual(issues);
  });

  it('keeps the LAG record of gopacket-packet11, whose sample runs 40 bytes past the datagram', () => {
    const packet = capturePackets('gopacket-packet11-lacp-counter')[0];
    if (packet === undefined) throw new Error('no packet');
    const s = decodeDatagram(packet.payload).samples[0];
    expect(s?.kind === 'counter' ? s.records.map((r) => r.kind) : []).toEqual(['lag_port']);
  });
});
