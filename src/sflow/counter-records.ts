// Counter records of sflow.org SFLOW-STRUCTS5 (section 5 counter data) and the OpenFlow port
// structures of sflow_openflow.txt, enterprise 0: generic interface (1), Ethernet (2), VLAN (5),
// LAG port (7, IEEE 802.3 LAG MIB, sflow_lag.txt), processor (1001), OpenFlow port (1004), port
// name (1005). Open vSwitch sends 1, 2, 1004 and 1005 for every port with a kernel ifindex.
//
//   struct if_counters (1) { unsigned int ifIndex; unsigned int ifType; unsigned hyper ifSpeed;
//     unsigned int ifDirection; /* 0 unknown, 1 full, 2 half, 3 in, 4 out */
//     unsigned int ifStatus;    /* bit 0 admin up, bit 1 oper up */
//     unsigned hyper ifInOctets; unsigned int ifInUcastPkts; unsigned int ifInMulticastPkts;
//     unsigned int ifInBroadcastPkts; unsigned int ifInDiscards; unsigned int ifInErrors;
//     unsigned int ifInUnknownProtos; unsigned hyper ifOutOctets; unsigned int ifOutUcastPkts;
//     unsigned int ifOutMulticastPkts; unsigned int ifOutBroadcastPkts; unsigned int ifOutDiscards;
//     unsigned int ifOutErrors; unsigned int ifPromiscuousMode; }
//   struct ethernet_counters (2) { unsigned int dot3StatsAlignmentErrors; ... 13 counters ...
//     unsigned int dot3StatsSymbolErrors; }
//   struct vlan_counters (5) { unsigned int vlan_id; unsigned hyper octets; unsigned int ucastPkts;
//     unsigned int multicastPkts; unsigned int broadcastPkts; unsigned int discards; }
//   struct lag_port_stats (7) { mac dot3adAggPortActorSystemID; mac dot3adAggPortPartnerOperSystemID;
//     unsigned int dot3adAggPortAttachedAggID; opaque dot3adAggPortState[4];
//     /* actorAdmin, actorOper, partnerAdmin, partnerOper */
//     unsigned int dot3adAggPortStatsLACPDUsRx; ...MarkerPDUsRx; ...MarkerResponsePDUsRx;
//     ...UnknownRx; ...IllegalRx; ...LACPDUsTx; ...MarkerPDUsTx; ...MarkerResponsePDUsTx; }
//   struct processor (1001) { percentage 5s_cpu; percentage 1m_cpu; percentage 5m_cpu;
//     unsigned hyper total_memory; unsigned hyper free_memory; }   /* percentage = 1/100 % */
//   struct of_port (1004) { unsigned hyper datapath_id; unsigned int port_no; }
//   struct port_name (1005) { string name<255>; }
import type { Reader } from './reader.js';
import type {
  EthernetCounters,
  GenericInterfaceCounters,
  LagPortStats,
  OpenflowPort,
  PortName,
  ProcessorCounters,
  VlanCounters,
} from './types.js';
import { formatMac } from './address.js';

const RECORD_HEADER_BYTES = 8;
const MAC_XDR_BYTES = 8;
/** port_name: string name<255>. */
const PORT_NAME_MAX = 255;

export function decodeGenericInterface(r: Reader): GenericInterfaceCounters {
  const ifIndex = r.u32('ifIndex');
  const ifType = r.u32('ifType');
  const ifSpeed = r.u64('ifSpeed');
  const ifDirection = r.u32('ifDirection');
  const ifStatus = r.u32('ifStatus');
  return {
    kind: 'generic_interface', offset: r.start - RECORD_HEADER_BYTES, length: r.length,
    ifIndex, ifType, ifSpeed, ifDirection,
    ifAdminStatus: ifStatus & 1,
    ifOperStatus: (ifStatus >>> 1) & 1,
    inOctets: r.u64('ifInOctets'),
    inUcastPkts: r.u32('ifInUcastPkts'),
    inMulticastPkts: r.u32('ifInMulticastPkts'),
    inBroadcastPkts: r.u32('ifInBroadcastPkts'),
    inDiscards: r.u32('ifInDiscards'),
    inErrors: r.u32('ifInErrors'),
    inUnknownProtos: r.u32('ifInUnknownProtos'),
    outOctets: r.u64('ifOutOctets'),
    outUcastPkts: r.u32('ifOutUcastPkts'),
    outMulticastPkts: r.u32('ifOutMulticastPkts'),
    outBroadcastPkts: r.u32('ifOutBroadcastPkts'),
    outDiscards: r.u32('ifOutDiscards'),
    outErrors: r.u32('ifOutErrors'),
    ifPromiscuousMode: r.u32('ifPromiscuousMode'),
  };
}

export function decodeEthernetInterface(r: Reader): EthernetCounters {
  return {
    kind: 'ethernet_interface', offset: r.start - RECORD_HEADER_BYTES, length: r.length,
    dot3StatsAlignmentErrors: r.u32('dot3StatsAlignmentErrors'),
    dot3StatsFCSErrors: r.u32('dot3StatsFCSErrors'),
    dot3StatsSingleCollisionFrames: r.u32('dot3StatsSingleCollisionFrames'),
    dot3StatsMultipleCollisionFrames: r.u32('dot3StatsMultipleCollisionFrames'),
    dot3StatsSQETestErrors: r.u32('dot3StatsSQETestErrors'),
    dot3StatsDeferredTransmissions: r.u32('dot3StatsDeferredTransmissions'),
    dot3StatsLateCollisions: r.u32('dot3StatsLateCollisions'),
    dot3StatsExcessiveCollisions: r.u32('dot3StatsExcessiveCollisions'),
    dot3StatsInternalMacTransmitErrors: r.u32('dot3StatsInternalMacTransmitErrors'),
    dot3StatsCarrierSenseErrors: r.u32('dot3StatsCarrierSenseErrors'),
    dot3StatsFrameTooLongs: r.u32('dot3StatsFrameTooLongs'),
    dot3StatsInternalMacReceiveErrors: r.u32('dot3StatsInternalMacReceiveErrors'),
    dot3StatsSymbolErrors: r.u32('dot3StatsSymbolErrors'),
  };
}

export function decodeVlan(r: Reader): VlanCounters {
  return {
    kind: 'vlan', offset: r.start - RECORD_HEADER_BYTES, length: r.length,
    vlanId: r.u32('vlan_id'), octets: r.u64('octets'), ucastPkts: r.u32('ucastPkts'),
    multicastPkts: r.u32('multicastPkts'), broadcastPkts: r.u32('broadcastPkts'), discards: r.u32('discards'),
  };
}

export function decodeLagPort(r: Reader): LagPortStats {
  const actor = r.advance(MAC_XDR_BYTES, 'dot3adAggPortActorSystemID');
  const partner = r.advance(MAC_XDR_BYTES, 'dot3adAggPortPartnerOperSystemID');
  const attachedAggId = r.u32('dot3adAggPortAttachedAggID');
  const state = r.advance(4, 'dot3adAggPortState');
  const b = r.bytes;
  return {
    kind: 'lag_port', offset: r.start - RECORD_HEADER_BYTES, length: r.length,
    actorSystemId: formatMac(b, actor), partnerSystemId: formatMac(b, partner), attachedAggId,
    actorAdminPortState: b[state] as number, actorOperPortState: b[state + 1] as number,
    partnerAdminPortState: b[state + 2] as number, partnerOperPortState: b[state + 3] as number,
    lacpdusRx: r.u32('dot3adAggPortStatsLACPDUsRx'),
    markerPdusRx: r.u32('dot3adAggPortStatsMarkerPDUsRx'),
    markerResponsePdusRx: r.u32('dot3adAggPortStatsMarkerResponsePDUsRx'),
    unknownRx: r.u32('dot3adAggPortStatsUnknownRx'),
    illegalRx: r.u32('dot3adAggPortStatsIllegalRx'),
    lacpdusTx: r.u32('dot3adAggPortStatsLACPDUsTx'),
    markerPdusTx: r.u32('dot3adAggPortStatsMarkerPDUsTx'),
    markerResponsePdusTx: r.u32('dot3adAggPortStatsMarkerResponsePDUsTx'),
  };
}

export function decodeProcessor(r: Reader): ProcessorCounters {
  return {
    kind: 'processor', offset: r.start - RECORD_HEADER_BYTES, length: r.length,
    cpu5s: r.u32('5s_cpu'), cpu1m: r.u32('1m_cpu'), cpu5m: r.u32('5m_cpu'),
    totalMemory: r.u64('total_memory'), freeMemory: r.u64('free_memory'),
  };
}

export function decodeOpenflowPort(r: Reader): OpenflowPort {
  return { kind: 'openflow_port', offset: r.start - RECORD_HEADER_BYTES, length: r.length, datapathId: r.u64('datapath_id'), portNo: r.u32('port_no') };
}

export function decodePortName(r: Reader): PortName {
  return { kind: 'openflow_port_name', offset: r.start - RECORD_HEADER_BYTES, length: r.length, name: r.string('name', PORT_NAME_MAX) };
}
