// hoptrace's ClickHouse schema as an ordered list of migrations. Each has a stable id, is applied
// once and recorded in `schema_migrations`; every statement is idempotent (IF NOT EXISTS), so a
// migration cut short by a crash is simply run again. Never edit a migration once released: add
// one. The checksum recorded with each id (over the SQL before substitution) catches edits.
//
// Statements are templates: {db} is the database, {raw_days} / {sample_days} / {rollup_days} the
// configured retention in days. The SQL is ClickHouse SQL, tested on chDB. docs/schema.md explains
// the tables, their ORDER BY and TTLs.
import { createHash } from 'node:crypto';
import type { Retention } from './store.js';

export interface Migration {
  /** NNNN-words: sorted by id, applied in that order. */
  id: string;
  statements: readonly string[];
}

/**
 * Tables that take part in effectively-once delivery: ReplacingMergeTree keyed on a deterministic
 * row_id (replays with different batch boundaries collapse on merge, or at once with FINAL) and a
 * deduplication window for insert_deduplication_token (replays of the same batch are dropped).
 */
const DEDUP_WINDOW = 'non_replicated_deduplication_window = 10000';

// The sampled frame's decoded fields, shared by flow_samples and discard_samples. Absent values
// are 0, '' or '::' (not Nullable: smaller and faster); record_kinds says which records existed.
const PACKET_COLUMNS = `
  header_protocol UInt32,
  frame_length UInt32,
  stripped UInt32,
  header_length UInt32,
  header String CODEC(ZSTD(1)),
  layers Array(LowCardinality(String)),
  src_mac LowCardinality(String),
  dst_mac LowCardinality(String),
  vlan_ids Array(UInt16),
  ether_type UInt16,
  ip_version UInt8,
  src_ip IPv6,
  dst_ip IPv6,
  ip_protocol UInt8,
  ttl UInt8,
  tos UInt8,
  ip_id UInt32,
  ip_length UInt32,
  fragment Bool,
  src_port UInt16,
  dst_port UInt16,
  tcp_flags UInt16,
  icmp_type UInt8,
  icmp_code UInt8,
  arp_operation UInt16,
  arp_sender_ip IPv6,
  arp_target_ip IPv6,
  truncated_at LowCardinality(String),
  tunnel_type LowCardinality(String),
  tunnel_id UInt32,
  tunnel_protocol UInt16,
  inner_src_mac LowCardinality(String),
  inner_dst_mac LowCardinality(String),
  inner_vlan_ids Array(UInt16),
  inner_ether_type UInt16,
  inner_ip_version UInt8,
  inner_src_ip IPv6,
  inner_dst_ip IPv6,
  inner_ip_protocol UInt8,
  inner_ttl UInt8,
  inner_tos UInt8,
  inner_ip_id UInt32,
  inner_ip_length UInt32,
  inner_src_port UInt16,
  inner_dst_port UInt16,
  inner_tcp_flags UInt16,
  inner_icmp_type UInt8,
  inner_icmp_code UInt8,
  src_vlan UInt16,
  src_priority UInt8,
  dst_vlan UInt16,
  dst_priority UInt8`;

// Columns every sample table starts with: where and when the sample came from.
const SAMPLE_KEY_COLUMNS = `
  received_at DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
  exporter LowCardinality(String),
  agent LowCardinality(String),
  sub_agent_id UInt32,
  datagram_sequence UInt32,
  sample_index UInt16,
  sequence UInt32,
  expanded Bool,
  source_id_type UInt8,
  source_id_index UInt32`;

// Deterministic identity of a sample: the same datagram decoded twice gives the same row_id.
// When the row was stored: TTLs count from here, not from received_at, so a capture replayed long
// after it was taken is kept for the retention period instead of being dropped on insert.
const STORED_AT = "stored_at DateTime('UTC') DEFAULT now() CODEC(Delta, ZSTD(1))";

const SAMPLE_ROW_ID = 'row_id UInt64 MATERIALIZED cityHash64(exporter, agent, sub_agent_id, datagram_sequence, sample_index)';

export const MIGRATIONS: readonly Migration[] = [
  {
    id: '0001-schema-migrations',
    statements: [
      `CREATE DATABASE IF NOT EXISTS {db}`,
      `CREATE TABLE IF NOT EXISTS {db}.schema_migrations (
        id String,
        checksum String,
        applied_at DateTime64(3, 'UTC') DEFAULT now64(3),
        hoptrace_version String
      ) ENGINE = ReplacingMergeTree ORDER BY id`,
    ],
  },
  {
    id: '0002-sflow-datagrams',
    statements: [
      `CREATE TABLE IF NOT EXISTS {db}.sflow_datagrams (
        received_at DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
        exporter LowCardinality(String),
        exporter_port UInt16,
        agent LowCardinality(String),
        sub_agent_id UInt32,
        sequence UInt32,
        uptime_ms UInt32,
        samples UInt32,
        samples_decoded UInt32,
        unknown_records UInt32,
        malformed_records UInt32,
        decode_status LowCardinality(String),
        error_code LowCardinality(String),
        raw String, -- LZ4 (the default): twice the insert rate of ZSTD(1) on chDB, measured
        ${STORED_AT},
        row_id UInt64 MATERIALIZED cityHash64(exporter, exporter_port, received_at, raw)
      ) ENGINE = ReplacingMergeTree
      PARTITION BY toDate(received_at)
      ORDER BY (agent, sub_agent_id, received_at, row_id)
      TTL stored_at + toIntervalDay({raw_days})
      SETTINGS ${DEDUP_WINDOW}, ttl_only_drop_parts = 1`,
    ],
  },
  {
    id: '0003-flow-samples',
    statements: [
      `CREATE TABLE IF NOT EXISTS {db}.flow_samples (${SAMPLE_KEY_COLUMNS},
        sampling_rate UInt32,
        sample_pool UInt32,
        drops UInt32,
        input_format UInt8,
        input_value UInt32,
        output_format UInt8,
        output_value UInt32,
        record_kinds Array(LowCardinality(String)),${PACKET_COLUMNS},
        tunnel_egress_src_ip IPv6,
        tunnel_egress_dst_ip IPv6,
        tunnel_egress_protocol UInt8,
        tunnel_ingress_src_ip IPv6,
        tunnel_ingress_dst_ip IPv6,
        tunnel_ingress_protocol UInt8,
        vni_egress UInt32,
        vni_ingress UInt32,
        extended Map(LowCardinality(String), String),
        ${STORED_AT},
        ${SAMPLE_ROW_ID},
        INDEX src_ip_idx src_ip TYPE bloom_filter GRANULARITY 2,
        INDEX dst_ip_idx dst_ip TYPE bloom_filter GRANULARITY 2,
        INDEX inner_src_ip_idx inner_src_ip TYPE bloom_filter GRANULARITY 2,
        INDEX inner_dst_ip_idx inner_dst_ip TYPE bloom_filter GRANULARITY 2
      ) ENGINE = ReplacingMergeTree
      PARTITION BY toDate(received_at)
      ORDER BY (agent, sub_agent_id, received_at, row_id)
      TTL stored_at + toIntervalDay({sample_days})
      SETTINGS ${DEDUP_WINDOW}, ttl_only_drop_parts = 1`,
    ],
  },
  {
    id: '0004-counter-samples',
    statements: [
      `CREATE TABLE IF NOT EXISTS {db}.counter_samples (${SAMPLE_KEY_COLUMNS},
        record_kinds Array(LowCardinality(String)),
        if_index UInt32,
        if_type UInt32,
        if_speed UInt64,
        if_direction UInt8,
        if_admin_status UInt8,
        if_oper_status UInt8,
        in_octets UInt64,
        in_ucast_pkts UInt32,
        in_multicast_pkts UInt32,
        in_broadcast_pkts UInt32,
        in_discards UInt32,
        in_errors UInt32,
        in_unknown_protos UInt32,
        out_octets UInt64,
        out_ucast_pkts UInt32,
        out_multicast_pkts UInt32,
        out_broadcast_pkts UInt32,
        out_discards UInt32,
        out_errors UInt32,
        if_promiscuous_mode UInt8,
        dot3_stats_alignment_errors UInt32,
        dot3_stats_fcs_errors UInt32,
        dot3_stats_single_collision_frames UInt32,
        dot3_stats_multiple_collision_frames UInt32,
        dot3_stats_sqe_test_errors UInt32,
        dot3_stats_deferred_transmissions UInt32,
        dot3_stats_late_collisions UInt32,
        dot3_stats_excessive_collisions UInt32,
        dot3_stats_internal_mac_transmit_errors UInt32,
        dot3_stats_carrier_sense_errors UInt32,
        dot3_stats_frame_too_longs UInt32,
        dot3_stats_internal_mac_receive_errors UInt32,
        dot3_stats_symbol_errors UInt32,
        of_datapath_id UInt64,
        of_port_no UInt32,
        port_name LowCardinality(String),
        metrics Map(LowCardinality(String), Float64),
        labels Map(LowCardinality(String), String),
        ${STORED_AT},
        ${SAMPLE_ROW_ID}
      ) ENGINE = ReplacingMergeTree
      PARTITION BY toDate(received_at)
      ORDER BY (agent, sub_agent_id, source_id_type, source_id_index, received_at, row_id)
      TTL stored_at + toIntervalDay({sample_days})
      SETTINGS ${DEDUP_WINDOW}, ttl_only_drop_parts = 1`,
    ],
  },
  {
    id: '0005-discard-samples',
    statements: [
      `CREATE TABLE IF NOT EXISTS {db}.discard_samples (${SAMPLE_KEY_COLUMNS},
        kind LowCardinality(String),
        sampling_rate UInt32,
        sample_pool UInt32,
        drops UInt32,
        input_if_index UInt32,
        output_if_index UInt32,
        reason UInt32,
        record_kinds Array(LowCardinality(String)),${PACKET_COLUMNS},
        egress_queue UInt32,
        acl_number UInt32,
        acl_name String,
        acl_direction UInt8,
        function_symbol LowCardinality(String),
        hw_trap_group LowCardinality(String),
        hw_trap LowCardinality(String),
        linux_drop_reason LowCardinality(String),
        transit_delay UInt32,
        queue_depth UInt32,
        ${STORED_AT},
        ${SAMPLE_ROW_ID}
      ) ENGINE = ReplacingMergeTree
      PARTITION BY toDate(received_at)
      ORDER BY (agent, sub_agent_id, received_at, row_id)
      TTL stored_at + toIntervalDay({sample_days})
      SETTINGS ${DEDUP_WINDOW}, ttl_only_drop_parts = 1`,
    ],
  },
  {
    id: '0006-quarantine',
    statements: [
      `CREATE TABLE IF NOT EXISTS {db}.quarantine (
        received_at DateTime64(3, 'UTC'),
        source LowCardinality(String),
        exporter LowCardinality(String),
        exporter_port UInt16,
        agent LowCardinality(String),
        sequence UInt32,
        error_code LowCardinality(String),
        error_offset Int64,
        error_path String,
        message String,
        issues UInt32,
        raw String CODEC(ZSTD(1)),
        hoptrace_version LowCardinality(String),
        ${STORED_AT},
        row_id UInt64 MATERIALIZED cityHash64(source, exporter, exporter_port, received_at, raw)
      ) ENGINE = ReplacingMergeTree
      PARTITION BY toDate(received_at)
      ORDER BY (source, exporter, received_at, row_id)
      TTL stored_at + toIntervalDay({raw_days})
      SETTINGS ${DEDUP_WINDOW}, ttl_only_drop_parts = 1`,
    ],
  },
  {
    id: '0007-flow-rollup-1m',
    statements: [
      `CREATE TABLE IF NOT EXISTS {db}.flow_samples_1m (
        minute DateTime('UTC'),
        agent LowCardinality(String),
        sub_agent_id UInt32,
        input_format UInt8,
        input_value UInt32,
        output_format UInt8,
        output_value UInt32,
        samples UInt64,
        frames UInt64,
        bytes UInt64,
        ${STORED_AT}
      ) ENGINE = SummingMergeTree((samples, frames, bytes))
      PARTITION BY toDate(minute)
      ORDER BY (agent, sub_agent_id, minute, input_format, input_value, output_format, output_value)
      TTL stored_at + toIntervalDay({rollup_days})
      SETTINGS ${DEDUP_WINDOW}, ttl_only_drop_parts = 1`,
      `CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.flow_samples_1m_mv TO {db}.flow_samples_1m AS
      SELECT
        toStartOfMinute(received_at) AS minute,
        agent, sub_agent_id, input_format, input_value, output_format, output_value,
        count() AS samples,
        sum(toUInt64(sampling_rate)) AS frames,
        sum(toUInt64(frame_length) * sampling_rate) AS bytes
      FROM {db}.flow_samples
      GROUP BY minute, agent, sub_agent_id, input_format, input_value, output_format, output_value`,
    ],
  },
];

/** Which retention setting each table's TTL follows (checked and corrected on every start). */
export const TABLE_RETENTION: Readonly<Record<string, { column: string; days: keyof Retention }>> = {
  sflow_datagrams: { column: 'stored_at', days: 'rawDays' },
  quarantine: { column: 'stored_at', days: 'rawDays' },
  flow_samples: { column: 'stored_at', days: 'sampleDays' },
  counter_samples: { column: 'stored_at', days: 'sampleDays' },
  discard_samples: { column: 'stored_at', days: 'sampleDays' },
  flow_samples_1m: { column: 'stored_at', days: 'rollupDays' },
};

/** The statements of a migration with the database and retention filled in. */
export function renderMigration(migration: Migration, database: string, retention: Retention): string[] {
  return migration.statements.map((sql) =>
    sql
      .replaceAll('{db}', database)
      .replaceAll('{raw_days}', String(retention.rawDays))
      .replaceAll('{sample_days}', String(retention.sampleDays))
      .replaceAll('{rollup_days}', String(retention.rollupDays)),
  );
}

/** sha256 of the statement templates: changes when someone edits a released migration. */
export function migrationChecksum(migration: Migration): string {
  const hash = createHash('sha256');
  for (const sql of migration.statements) hash.update(sql).update('\0');
  return hash.digest('hex').slice(0, 16);
}
