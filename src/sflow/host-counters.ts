// Host, virtual-host, JVM, application and Open vSwitch datapath counter records, decoded into a
// flat field map under the specs' own field names (HostCounters.fields):
//   sflow.org sflow_host.txt        2000-2010 (host_descr ... mib2_udp_group), 2100-2104 (virt_*)
//   sflow.org sflow_jvm.txt         2105 jvm_runtime, 2106 jvm_statistics
//   sflow.org sflow_application.txt 2203 app_resources (Open vSwitch sends it per bridge)
//   Open vSwitch lib/sflow.h        2207 ovs_dp_stats (SFLOVSDP_counters; no sflow.org spec)
//
//   struct host_descr (2000)   { string hostname<64>; opaque uuid<16>; /* fixed 16 bytes */
//                                machine_type machine_type; os_name os_name; string os_release<32>; }
//   struct host_adapters (2001){ host_adapter adapters<>; }
//   struct host_adapter        { unsigned int ifIndex; mac mac_address<>; }   /* mac: 6 bytes + 2 pad */
//   struct host_parent (2002)  { unsigned int container_type; unsigned int container_index; }
//   struct host_cpu (2003)     { float load_one; float load_five; float load_fifteen;
//     unsigned int proc_run; unsigned int proc_total; unsigned int cpu_num; unsigned int cpu_speed;
//     unsigned int uptime; unsigned int cpu_user; unsigned int cpu_nice; unsigned int cpu_system;
//     unsigned int cpu_idle; unsigned int cpu_wio; unsigned int cpu_intr; unsigned int cpu_sintr;
//     unsigned int interrupts; unsigned int contexts;
//     unsigned int cpu_steal; unsigned int cpu_guest; unsigned int cpu_guest_nice; } /* last 3: 2014 */
//   struct host_memory (2004)  { unsigned hyper mem_total; mem_free; mem_shared; mem_buffers;
//     mem_cached; swap_total; swap_free; unsigned int page_in; page_out; swap_in; swap_out; }
//   struct host_disk_io (2005) { unsigned hyper disk_total; unsigned hyper disk_free;
//     percentage part_max_used; unsigned int reads; unsigned hyper bytes_read; unsigned int read_time;
//     unsigned int writes; unsigned hyper bytes_written; unsigned int write_time; }
//   struct host_net_io (2006)  { unsigned hyper bytes_in; unsigned int pkts_in; errs_in; drops_in;
//     unsigned hyper bytes_out; unsigned int pkts_out; errs_out; drops_out; }
//   struct mib2_ip_group (2007) / mib2_icmp_group (2008) / mib2_tcp_group (2009) /
//          mib2_udp_group (2010)  { unsigned int <the RFC 1213 / RFC 4022 / RFC 4113 objects> ... }
//   struct virt_node (2100)    { unsigned int mhz; unsigned int cpus; unsigned hyper memory;
//                                unsigned hyper memory_free; unsigned int num_domains; }
//   struct virt_cpu (2101)     { unsigned int state; unsigned int cpuTime; unsigned int nrVirtCpu; }
//   struct virt_memory (2102)  { unsigned hyper memory; unsigned hyper maxMemory; }
//   struct virt_disk_io (2103) { unsigned hyper capacity; allocation; available; unsigned int rd_req;
//     unsigned hyper rd_bytes; unsigned int wr_req; unsigned hyper wr_bytes; unsigned int errs; }
//   struct virt_net_io (2104)  { unsigned hyper rx_bytes; unsigned int rx_packets; rx_errs; rx_drop;
//     unsigned hyper tx_bytes; unsigned int tx_packets; tx_errs; tx_drop; }
//   struct jvm_runtime (2105)  { string vm_name<64>; string vm_vendor<32>; string vm_version<32>; }
//   struct jvm_statistics (2106) { unsigned hyper heap_initial; heap_used; heap_committed; heap_max;
//     non_heap_initial; non_heap_used; non_heap_committed; non_heap_max; unsigned int gc_count;
//     gc_time; classes_loaded; classes_total; classes_unloaded; compilation_time; thread_num_live;
//     thread_num_daemon; thread_num_started; fd_open_count; fd_max_count; }   /* fd_*: optional */
//   struct app_resources (2203) { unsigned int user_time; unsigned int system_time;
//     unsigned hyper mem_used; unsigned hyper mem_max; unsigned int fd_open; unsigned int fd_max;
//     unsigned int conn_open; unsigned int conn_max; }
//   struct ovs_dp_stats (2207) { unsigned int n_hit; n_missed; n_lost; n_mask_hit; n_flows; n_masks; }
import type { Reader } from './reader.js';
import type { HostCounterKind, HostCounters } from './types.js';
import { formatMac, formatUuid } from './address.js';
import { checkedCount } from './flow-records.js';
import { COUNTER_FORMAT } from './wire.js';

const RECORD_HEADER_BYTES = 8;
const MAC_XDR_BYTES = 8;

/** A field: its spec name and XDR type; a number is a string<max>. */
type FieldType = 'u32' | 'u64' | 'f32' | 'uuid' | number;
interface Layout {
  kind: HostCounterKind;
  fields: readonly (readonly [string, FieldType])[];
  /** Fields from this index on were added to the structure later: read only if bytes are left. */
  optionalFrom: number;
}

const u32s = (names: string): (readonly [string, FieldType])[] => names.split(' ').map((n) => [n, 'u32'] as const);

const LAYOUTS: ReadonlyMap<number, Layout> = new Map<number, Layout>([
  [COUNTER_FORMAT.HOST_DESCR, { kind: 'host_descr', optionalFrom: 5, fields: [
    ['hostname', 64], ['uuid', 'uuid'], ['machine_type', 'u32'], ['os_name', 'u32'], ['os_release', 32]] }],
  [COUNTER_FORMAT.HOST_PARENT, { kind: 'host_parent', optionalFrom: 2, fields: u32s('container_type container_index') }],
  [COUNTER_FORMAT.HOST_CPU, { kind: 'host_cpu', optionalFrom: 17, fields: [
    ['load_one', 'f32'], ['load_five', 'f32'], ['load_fifteen', 'f32'],
    ...u32s('proc_run proc_total cpu_num cpu_speed uptime cpu_user cpu_nice cpu_system cpu_idle cpu_wio cpu_intr cpu_sintr interrupts contexts cpu_steal cpu_guest cpu_guest_nice')] }],
  [COUNTER_FORMAT.HOST_MEMORY, { kind: 'host_memory', optionalFrom: 11, fields: [
    ['mem_total', 'u64'], ['mem_free', 'u64'], ['mem_shared', 'u64'], ['mem_buffers', 'u64'], ['mem_cached', 'u64'],
    ['swap_total', 'u64'], ['swap_free', 'u64'], ...u32s('page_in page_out swap_in swap_out')] }],
  [COUNTER_FORMAT.HOST_DISK_IO, { kind: 'host_disk_io', optionalFrom: 9, fields: [
    ['disk_total', 'u64'], ['disk_free', 'u64'], ['part_max_used', 'u32'], ['reads', 'u32'], ['bytes_read', 'u64'],
    ['read_time', 'u32'], ['writes', 'u32'], ['bytes_written', 'u64'], ['write_time', 'u32']] }],
  [COUNTER_FORMAT.HOST_NET_IO, { kind: 'host_net_io', optionalFrom: 8, fields: [
    ['bytes_in', 'u64'], ...u32s('pkts_in errs_in drops_in'), ['bytes_out', 'u64'], ...u32s('pkts_out errs_out drops_out')] }],
  [COUNTER_FORMAT.MIB2_IP_GROUP, { kind: 'mib2_ip_group', optionalFrom: 19, fields: u32s(
    'ipForwarding ipDefaultTTL ipInReceives ipInHdrErrors ipInAddrErrors ipForwDatagrams ipInUnknownProtos ipInDiscards ipInDelivers ipOutRequests ipOutDiscards ipOutNoRoutes ipReasmTimeout ipReasmReqds ipReasmOKs ipReasmFails ipFragOKs ipFragFails ipFragCreates') }],
  [COUNTER_FORMAT.MIB2_ICMP_GROUP, { kind: 'mib2_icmp_group', optionalFrom: 25, fields: u32s(
    'icmpInMsgs icmpInErrors icmpInDestUnreachs icmpInTimeExcds icmpInParamProbs icmpInSrcQuenchs icmpInRedirects icmpInEchos icmpInEchoReps icmpInTimestamps icmpInAddrMasks icmpInAddrMaskReps icmpOutMsgs icmpOutErrors icmpOutDestUnreachs icmpOutTimeExcds icmpOutParamProbs icmpOutSrcQuenchs icmpOutRedirects icmpOutEchos icmpOutEchoReps icmpOutTimestamps icmpOutTimestampReps icmpOutAddrMasks icmpOutAddrMaskReps') }],
  [COUNTER_FORMAT.MIB2_TCP_GROUP, { kind: 'mib2_tcp_group', optionalFrom: 15, fields: u32s(
    'tcpRtoAlgorithm tcpRtoMin tcpRtoMax tcpMaxConn tcpActiveOpens tcpPassiveOpens tcpAttemptFails tcpEstabResets tcpCurrEstab tcpInSegs tcpOutSegs tcpRetransSegs tcpInErrs tcpOutRsts tcpInCsumErrors') }],
  [COUNTER_FORMAT.MIB2_UDP_GROUP, { kind: 'mib2_udp_group', optionalFrom: 7, fields: u32s(
    'udpInDatagrams udpNoPorts udpInErrors udpOutDatagrams udpRcvbufErrors udpSndbufErrors udpInCsumErrors') }],
  [COUNTER_FORMAT.VIRT_NODE, { kind: 'virt_node', optionalFrom: 5, fields: [
    ['mhz', 'u32'], ['cpus', 'u32'], ['memory', 'u64'], ['memory_free', 'u64'], ['num_domains', 'u32']] }],
  [COUNTER_FORMAT.VIRT_CPU, { kind: 'virt_cpu', optionalFrom: 3, fields: u32s('state cpuTime nrVirtCpu') }],
  [COUNTER_FORMAT.VIRT_MEMORY, { kind: 'virt_memory', optionalFrom: 2, fields: [['memory', 'u64'], ['maxMemory', 'u64']] }],
  [COUNTER_FORMAT.VIRT_DISK_IO, { kind: 'virt_disk_io', optionalFrom: 8, fields: [
    ['capacity', 'u64'], ['allocation', 'u64'], ['available', 'u64'], ['rd_req', 'u32'], ['rd_bytes', 'u64'],
    ['wr_req', 'u32'], ['wr_bytes', 'u64'], ['errs', 'u32']] }],
  [COUNTER_FORMAT.VIRT_NET_IO, { kind: 'virt_net_io', optionalFrom: 8, fields: [
    ['rx_bytes', 'u64'], ...u32s('rx_packets rx_errs rx_drop'), ['tx_bytes', 'u64'], ...u32s('tx_packets tx_errs tx_drop')] }],
  [COUNTER_FORMAT.JVM_RUNTIME, { kind: 'jvm_runtime', optionalFrom: 3, fields: [['vm_name', 64], ['vm_vendor', 32], ['vm_version', 32]] }],
  [COUNTER_FORMAT.JVM_STATISTICS, { kind: 'jvm_statistics', optionalFrom: 17, fields: [
    ['heap_initial', 'u64'], ['heap_used', 'u64'], ['heap_committed', 'u64'], ['heap_max', 'u64'],
    ['non_heap_initial', 'u64'], ['non_heap_used', 'u64'], ['non_heap_committed', 'u64'], ['non_heap_max', 'u64'],
    ...u32s('gc_count gc_time classes_loaded classes_total classes_unloaded compilation_time thread_num_live thread_num_daemon thread_num_started fd_open_count fd_max_count')] }],
  [COUNTER_FORMAT.APP_RESOURCES, { kind: 'app_resources', optionalFrom: 8, fields: [
    ['user_time', 'u32'], ['system_time', 'u32'], ['mem_used', 'u64'], ['mem_max', 'u64'], ...u32s('fd_open fd_max conn_open conn_max')] }],
  [COUNTER_FORMAT.OVS_DP_STATS, { kind: 'ovs_dp_stats', optionalFrom: 6, fields: u32s('n_hit n_missed n_lost n_mask_hit n_flows n_masks') }],
]);

/** The counter formats decoded by layout (2001 host_adapters has its own decoder). */
export const HOST_COUNTER_FORMATS: readonly number[] = [...LAYOUTS.keys()];

/** Decoder for one of HOST_COUNTER_FORMATS. */
export function hostCounterDecoder(format: number): (r: Reader) => HostCounters {
  const layout = LAYOUTS.get(format);
  if (layout === undefined) throw new Error(`no host counter layout for format ${format}`);
  return (r) => decodeByLayout(r, layout);
}

function decodeByLayout(r: Reader, layout: Layout): HostCounters {
  const fields: Record<string, number | bigint | string> = {};
  const list = layout.fields;
  for (let i = 0; i < list.length; i++) {
    const [name, type] = list[i] as readonly [string, FieldType];
    if (i >= layout.optionalFrom && r.remaining < 4) break; // an older, shorter version of the structure
    if (type === 'u32') fields[name] = r.u32(name);
    else if (type === 'u64') fields[name] = r.u64(name);
    else if (type === 'f32') fields[name] = r.f32(name);
    else if (type === 'uuid') fields[name] = formatUuid(r.bytes, r.advance(16, name));
    else fields[name] = r.string(name, type);
  }
  return { kind: layout.kind, offset: r.start - RECORD_HEADER_BYTES, length: r.length, fields };
}

/**
 * host_adapters (2001): flattened as adapters (count), adapter_<i>_ifIndex and
 * adapter_<i>_mac_address (the adapter's MACs, comma-separated).
 */
export function decodeHostAdapters(r: Reader): HostCounters {
  const fields: Record<string, number | bigint | string> = {};
  const count = checkedCount(r, 'adapters', 8);
  fields['adapters'] = count;
  for (let i = 0; i < count; i++) {
    fields[`adapter_${i}_ifIndex`] = r.u32('ifIndex');
    const macs = checkedCount(r, 'mac_address', MAC_XDR_BYTES);
    let text = '';
    for (let j = 0; j < macs; j++) text += (j > 0 ? ',' : '') + formatMac(r.bytes, r.advance(MAC_XDR_BYTES, 'mac_address'));
    fields[`adapter_${i}_mac_address`] = text;
  }
  return { kind: 'host_adapters', offset: r.start - RECORD_HEADER_BYTES, length: r.length, fields };
}
