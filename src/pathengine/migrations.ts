// The path tables: what the service's path stage concludes from the stream (src/pipeline/path-stage.ts),
// one row per path (frame or flow, verdict, drop point, evidence) and one row per hop. Keyed by the
// path's first observation time and its id (`fingerprint@firstSeen` / `flowHash@firstSeen`, the
// same id whenever the same observations are analysed again): ReplacingMergeTree keeps, once merged
// or at once with FINAL, the analysis with the most observations, the latest among equals
// (`version` = observations << 32 | computed_at in seconds: a partial re-analysis after a Kafka
// rebalance does not replace a fuller one). A shorter re-analysis can leave hops past its end:
// read hops with seq <= paths.hops.
//
// Ids 0200-0299 belong to this file; src/store/schema.ts appends them to the migrations.
import type { Migration } from '../store/migrations.js';

const KEEP = 'TTL toDateTime(first_seen) + INTERVAL {sample_days} DAY';

export const PATH_MIGRATIONS: readonly Migration[] = [
  {
    id: '0200-paths',
    statements: [
      `CREATE TABLE IF NOT EXISTS {db}.paths (
        first_seen DateTime64(3, 'UTC'),
        last_seen DateTime64(3, 'UTC'),
        path_id String,
        kind LowCardinality(String),
        verdict LowCardinality(String),
        confidence Float32,
        answered Nullable(Bool),
        conflict Bool,
        conflict_reason String,
        src_mac LowCardinality(String),
        dst_mac LowCardinality(String),
        src_ip String,
        dst_ip String,
        ip_protocol Nullable(UInt8),
        src_port Nullable(UInt16),
        dst_port Nullable(UInt16),
        icmp_type Nullable(UInt8),
        fingerprint String,
        observations UInt32,
        sampling_rate UInt32,
        hops UInt16,
        observed_hops UInt16,
        start_host LowCardinality(String),
        end_host LowCardinality(String),
        drop_host LowCardinality(String),
        drop_device String,
        drop_bridge LowCardinality(String),
        drop_table LowCardinality(String),
        drop_rule String,
        drop_reason String,
        doubts Array(String),
        checks Array(String),
        coverage Array(String),
        snapshots Array(String),
        computed_at DateTime64(3, 'UTC') DEFAULT now64(3),
        version UInt64,
        hoptrace_version LowCardinality(String),
        INDEX verdict_idx verdict TYPE set(8) GRANULARITY 4,
        INDEX ip_idx (src_ip, dst_ip) TYPE bloom_filter(0.01) GRANULARITY 4
      ) ENGINE = ReplacingMergeTree(version)
      PARTITION BY toDate(first_seen)
      ORDER BY (first_seen, path_id)
      ${KEEP}
      SETTINGS ttl_only_drop_parts = 1`,
      `CREATE TABLE IF NOT EXISTS {db}.path_hops (
        first_seen DateTime64(3, 'UTC'),
        path_id String,
        seq UInt16,
        host LowCardinality(String),
        namespace LowCardinality(String),
        kind LowCardinality(String),
        device String,
        bridge LowCardinality(String),
        in_port String,
        out_port String,
        vlan Nullable(UInt16),
        tunnel_id Nullable(UInt64),
        remote_ip String,
        observed Bool,
        rules Array(String),
        notes Array(String),
        computed_at DateTime64(3, 'UTC') DEFAULT now64(3),
        version UInt64
      ) ENGINE = ReplacingMergeTree(version)
      PARTITION BY toDate(first_seen)
      ORDER BY (first_seen, path_id, seq)
      ${KEEP}
      SETTINGS ttl_only_drop_parts = 1`,
    ],
  },
  {
    // a path through a router's NAT: the frame's addresses on the other side (AnalyzedPath.nat),
    // so that a floating IP or an SNAT address finds it too
    id: '0201-paths-nat',
    statements: [
      `ALTER TABLE {db}.paths
        ADD COLUMN IF NOT EXISTS nat_host LowCardinality(String) DEFAULT '' AFTER dst_ip,
        ADD COLUMN IF NOT EXISTS nat_namespace String DEFAULT '' AFTER nat_host,
        ADD COLUMN IF NOT EXISTS nat_src_ip String DEFAULT '' AFTER nat_namespace,
        ADD COLUMN IF NOT EXISTS nat_dst_ip String DEFAULT '' AFTER nat_src_ip`,
    ],
  },
];

export const PATH_RETENTION = {
  paths: { column: 'toDateTime(first_seen)', days: 'sampleDays' as const },
  path_hops: { column: 'toDateTime(first_seen)', days: 'sampleDays' as const },
};
