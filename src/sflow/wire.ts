// sFlow v5 wire numbers: sample and record (enterprise, format) tags, header protocols, interface
// encodings and drop reasons, as the specs number them (sflow.org SFLOW-DATAGRAM5 and
// SFLOW-STRUCTS5, sflow_tunnels.txt, sflow_drops.txt, sflow_host.txt, sflow_jvm.txt,
// sflow_application.txt; OVS lib/sflow.h for the datapath structure). Keys follow the specs' names.

export const SFLOW_VERSION_5 = 5;

/** address.type in SFLOW-DATAGRAM5. */
export const ADDRESS_TYPE = { UNKNOWN: 0, IPV4: 1, IPV6: 2 } as const;

/** sample_record.sample_type (enterprise 0). */
export const SAMPLE_FORMAT = {
  FLOW: 1,
  COUNTER: 2,
  EXPANDED_FLOW: 3,
  EXPANDED_COUNTER: 4,
  /** sflow_drops.txt discarded_packet. */
  DISCARD: 5,
} as const;

/** flow_record.flow_format (enterprise 0). */
export const FLOW_FORMAT = {
  SAMPLED_HEADER: 1,
  SAMPLED_ETHERNET: 2,
  SAMPLED_IPV4: 3,
  SAMPLED_IPV6: 4,
  EXTENDED_SWITCH: 1001,
  EXTENDED_ROUTER: 1002,
  EXTENDED_GATEWAY: 1003,
  EXTENDED_USER: 1004,
  EXTENDED_URL: 1005,
  EXTENDED_MPLS: 1006,
  EXTENDED_NAT: 1007,
  // sflow_tunnels.txt
  EXTENDED_L2_TUNNEL_EGRESS: 1021,
  EXTENDED_L2_TUNNEL_INGRESS: 1022,
  EXTENDED_IPV4_TUNNEL_EGRESS: 1023,
  EXTENDED_IPV4_TUNNEL_INGRESS: 1024,
  EXTENDED_IPV6_TUNNEL_EGRESS: 1025,
  EXTENDED_IPV6_TUNNEL_INGRESS: 1026,
  EXTENDED_DECAPSULATE_EGRESS: 1027,
  EXTENDED_DECAPSULATE_INGRESS: 1028,
  EXTENDED_VNI_EGRESS: 1029,
  EXTENDED_VNI_INGRESS: 1030,
  // sflow_drops.txt
  EXTENDED_EGRESS_QUEUE: 1036,
  EXTENDED_ACL: 1037,
  EXTENDED_FUNCTION: 1038,
  EXTENDED_TRANSIT: 1039,
  EXTENDED_QUEUE: 1040,
  EXTENDED_HW_TRAP: 1041,
  EXTENDED_LINUX_DROP_REASON: 1042,
} as const;

/** counter_record.counter_format (enterprise 0). */
export const COUNTER_FORMAT = {
  GENERIC_INTERFACE: 1,
  ETHERNET_INTERFACE: 2,
  VLAN: 5,
  LAG_PORT: 7,
  PROCESSOR: 1001,
  OPENFLOW_PORT: 1004,
  OPENFLOW_PORT_NAME: 1005,
  // sflow_host.txt
  HOST_DESCR: 2000,
  HOST_ADAPTERS: 2001,
  HOST_PARENT: 2002,
  HOST_CPU: 2003,
  HOST_MEMORY: 2004,
  HOST_DISK_IO: 2005,
  HOST_NET_IO: 2006,
  MIB2_IP_GROUP: 2007,
  MIB2_ICMP_GROUP: 2008,
  MIB2_TCP_GROUP: 2009,
  MIB2_UDP_GROUP: 2010,
  VIRT_NODE: 2100,
  VIRT_CPU: 2101,
  VIRT_MEMORY: 2102,
  VIRT_DISK_IO: 2103,
  VIRT_NET_IO: 2104,
  // sflow_jvm.txt
  JVM_RUNTIME: 2105,
  JVM_STATISTICS: 2106,
  // sflow_application.txt
  APP_RESOURCES: 2203,
  /** Open vSwitch datapath statistics (lib/sflow.h SFLCOUNTERS_OVSDP): not in any sflow.org spec. */
  OVS_DP_STATS: 2207,
} as const;

/** sampled_header.protocol (header_protocol enum). */
export const HEADER_PROTOCOL = { ETHERNET_ISO8023: 1, IPV4: 11, IPV6: 12 } as const;

/** Top two bits of a compact `interface` (flow sample), or `format` of interface_expanded. */
export const INTERFACE_FORMAT = {
  /** value is an ifIndex (0 = unknown, IFINDEX_LOCAL = the agent itself). */
  SINGLE: 0,
  /** value is a drop reason: the frame was discarded (OVS: 256 = dropped by a flow rule). */
  DISCARD: 1,
  /** value is the number of output interfaces (0 = unknown). */
  MULTIPLE: 2,
} as const;

/** ifIndex 0x3fffffff: traffic to or from the agent itself ("internal" in SFLOW-DATAGRAM5). */
export const IFINDEX_LOCAL = 0x3fffffff;

/** Compact interface: format in bits 31-30, value in bits 29-0. */
export const INTERFACE_VALUE_MASK = 0x3fffffff;

/** Compact sflow_data_source: type in the top 8 bits, index in the low 24. */
export const SOURCE_ID_INDEX_MASK = 0x00ffffff;

/** sflow_data_source type. OVS uses ENTITY (2) with index 1000 + sub-agent for a bridge. */
export const SOURCE_ID_TYPE = { IFINDEX: 0, VLAN: 1, ENTITY: 2 } as const;

/**
 * Drop reasons (sflow_drops.txt drop_reason; ICMP unreachable codes 0-15, then 256+). Only the
 * ones an Open vSwitch cloud meets are named; any other number is kept as it is.
 */
export const DROP_REASON = {
  NET_UNREACHABLE: 0,
  HOST_UNREACHABLE: 1,
  PORT_UNREACHABLE: 3,
  DST_NET_UNKNOWN: 6,
  COMM_ADMIN_PROHIBITED: 13,
  UNKNOWN: 256,
  TTL_EXCEEDED: 257,
  ACL: 258,
  NO_BUFFER_SPACE: 259,
  RED: 260,
  TRAFFIC_SHAPING: 261,
  PKT_TOO_BIG: 262,
  VLAN_TAG_MISMATCH: 264,
  INGRESS_VLAN_FILTER: 265,
  UNRESOLVED_NEIGH: 279,
  DECAP_ERROR: 282,
  EGRESS_VLAN_FILTER: 301,
} as const;

/** data_format = enterprise << 12 | format. */
export function dataFormat(enterprise: number, format: number): number {
  return ((enterprise << 12) | format) >>> 0;
}
