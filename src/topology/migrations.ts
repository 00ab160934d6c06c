// The host-state tables: raw snapshots and the topology parsed from them, versioned by host and
// snapshot time (`taken_at`). Every table is keyed (host, taken_at, ...): "the topology at time T" is
// the latest taken_at <= T per host, and "what changed between T1 and T2" compares two such sets
// (docs/topology.md has both queries). ReplacingMergeTree on the full key: re-importing the same
// snapshot (same host + taken_at) stores nothing new once merged (or with FINAL).
//
// Ids 0100-0199 belong to this file; src/store/migrations.ts appends these to MIGRATIONS.
import type { Migration } from '../store/migrations.js';

const KEEP = 'TTL toDateTime(taken_at) + INTERVAL {rollup_days} DAY';
const HEAD = `host LowCardinality(String),
        taken_at DateTime64(3, 'UTC'),
        snapshot_id String`;

export const TOPOLOGY_MIGRATIONS: readonly Migration[] = [
  {
    id: '0100-host-snapshots',
    statements: [
      `CREATE TABLE IF NOT EXISTS {db}.host_snapshots (
        ${HEAD},
        source LowCardinality(String),
        trigger LowCardinality(String),
        producer LowCardinality(String),
        stored_at DateTime64(3, 'UTC') DEFAULT now64(3),
        commands_ok UInt16,
        commands_failed UInt16,
        parse_issues UInt32,
        body String CODEC(ZSTD(3))
      ) ENGINE = ReplacingMergeTree
      ORDER BY (host, taken_at)
      ${KEEP}`,
    ],
  },
  {
    id: '0101-topology-tables',
    statements: [
      `CREATE TABLE IF NOT EXISTS {db}.topo_bridges (
        ${HEAD},
        bridge LowCardinality(String),
        datapath_id String,
        datapath_type LowCardinality(String),
        fail_mode LowCardinality(String),
        protocols Array(LowCardinality(String)),
        sflow_agent String,
        sflow_targets Array(String),
        sflow_sampling UInt32,
        sflow_polling UInt32,
        ports Array(String)
      ) ENGINE = ReplacingMergeTree ORDER BY (host, taken_at, bridge) ${KEEP}`,
      `CREATE TABLE IF NOT EXISTS {db}.topo_ports (
        ${HEAD},
        bridge LowCardinality(String),
        port String,
        type LowCardinality(String),
        ofport Int32,
        ifindex UInt32,
        mac String,
        tag Nullable(UInt16),
        trunks Array(UInt16),
        vlan_mode LowCardinality(String),
        peer String,
        remote_ip String,
        local_ip String,
        tunnel_key String,
        neutron_port_id String,
        attached_mac String,
        vm_uuid String,
        iface_status LowCardinality(String),
        net_uuid String,
        segmentation_id Nullable(UInt32),
        network_type LowCardinality(String),
        error String,
        link_state LowCardinality(String),
        admin_state LowCardinality(String)
      ) ENGINE = ReplacingMergeTree ORDER BY (host, taken_at, bridge, port) ${KEEP}`,
      `CREATE TABLE IF NOT EXISTS {db}.topo_devices (
        ${HEAD},
        namespace LowCardinality(String),
        device String,
        ifindex UInt32,
        kind LowCardinality(String),
        master String,
        peer_ifindex UInt32,
        link_netnsid Int32,
        mac String,
        mtu UInt32,
        state LowCardinality(String),
        addresses Array(String),
        rx_packets UInt64,
        tx_packets UInt64,
        rx_dropped UInt64,
        tx_dropped UInt64
      ) ENGINE = ReplacingMergeTree ORDER BY (host, taken_at, namespace, device) ${KEEP}`,
      `CREATE TABLE IF NOT EXISTS {db}.topo_routes (
        ${HEAD},
        namespace LowCardinality(String),
        route_table LowCardinality(String),
        dst String,
        gateway String,
        dev String,
        src String,
        proto LowCardinality(String),
        scope LowCardinality(String),
        type LowCardinality(String),
        metric UInt32
      ) ENGINE = ReplacingMergeTree ORDER BY (host, taken_at, namespace, route_table, dst, dev, gateway) ${KEEP}`,
      `CREATE TABLE IF NOT EXISTS {db}.topo_flows (
        ${HEAD},
        bridge LowCardinality(String),
        flow_table UInt8,
        priority UInt16,
        cookie String,
        match String,
        actions String,
        n_packets UInt64,
        n_bytes UInt64,
        duration_s Float64,
        rule_key UInt64 MATERIALIZED cityHash64(bridge, flow_table, priority, match)
      ) ENGINE = ReplacingMergeTree ORDER BY (host, taken_at, bridge, flow_table, priority, match) ${KEEP}`,
      `CREATE TABLE IF NOT EXISTS {db}.topo_iptables (
        ${HEAD},
        namespace LowCardinality(String),
        ipt_table LowCardinality(String),
        chain String,
        rule_index UInt32,
        rule String,
        target LowCardinality(String),
        packets UInt64,
        bytes UInt64,
        port_device String
      ) ENGINE = ReplacingMergeTree ORDER BY (host, taken_at, namespace, ipt_table, chain, rule_index) ${KEEP}`,
      `CREATE TABLE IF NOT EXISTS {db}.topo_edges (
        ${HEAD},
        kind LowCardinality(String),
        a_host LowCardinality(String),
        a_namespace LowCardinality(String),
        a_device String,
        b_host LowCardinality(String),
        b_namespace LowCardinality(String),
        b_device String,
        detail String
      ) ENGINE = ReplacingMergeTree ORDER BY (host, taken_at, kind, a_namespace, a_device, b_host, b_namespace, b_device) ${KEEP}`,
      `CREATE TABLE IF NOT EXISTS {db}.topo_vlan_map (
        ${HEAD},
        bridge LowCardinality(String),
        local_vlan UInt16,
        segmentation_id Nullable(UInt32),
        network_type LowCardinality(String),
        net_uuid String,
        source LowCardinality(String),
        direction LowCardinality(String),
        evidence String
      ) ENGINE = ReplacingMergeTree ORDER BY (host, taken_at, bridge, local_vlan, source, evidence) ${KEEP}`,
      `CREATE TABLE IF NOT EXISTS {db}.topo_findings (
        ${HEAD},
        check LowCardinality(String),
        severity LowCardinality(String),
        device String,
        message String,
        evidence String
      ) ENGINE = ReplacingMergeTree ORDER BY (host, taken_at, check, device, message) ${KEEP}`,
    ],
  },
];

/** Retention of the topology tables (the TTL column and which retention setting). */
export const TOPOLOGY_RETENTION = Object.fromEntries(
  ['host_snapshots', 'topo_bridges', 'topo_ports', 'topo_devices', 'topo_routes', 'topo_flows', 'topo_iptables', 'topo_edges', 'topo_vlan_map', 'topo_findings'].map(
    (t) => [t, { column: 'toDateTime(taken_at)', days: 'rollupDays' as const }],
  ),
);
