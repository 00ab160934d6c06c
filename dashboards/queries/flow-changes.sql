-- What changed in a host's OpenFlow tables between two times (the latest snapshot at or before
-- each): rules added, removed, with new actions, or whose packet counter moved (and by how much).
-- A rule is its bridge, table, priority and match. A removed rule that still carried traffic at t1
-- is often the answer to "why did this stop working".
-- Parameters: host String, t1 String, t2 String (ISO 8601 times)
-- Run: hoptrace query --file dashboards/queries/flow-changes.sql --param host=network1 \
--        --param t1=2026-11-25T08:00:00Z --param t2=2026-11-25T09:00:00Z
WITH
  (SELECT max(taken_at) FROM host_snapshots WHERE host = {host:String} AND taken_at <= parseDateTime64BestEffort({t1:String}, 3, 'UTC')) AS s1,
  (SELECT max(taken_at) FROM host_snapshots WHERE host = {host:String} AND taken_at <= parseDateTime64BestEffort({t2:String}, 3, 'UTC')) AS s2
SELECT
  bridge,
  flow_table,
  priority,
  match,
  multiIf(
    countIf(taken_at = s1) = 0, 'added',
    countIf(taken_at = s2) = 0, 'removed',
    anyIf(actions, taken_at = s1) != anyIf(actions, taken_at = s2), 'actions changed',
    'counter moved') AS change,
  anyIf(actions, taken_at = s1) AS actions_before,
  anyIf(actions, taken_at = s2) AS actions_after,
  toInt64(anyIf(n_packets, taken_at = s2)) - toInt64(anyIf(n_packets, taken_at = s1)) AS packets_delta
FROM topo_flows FINAL
WHERE host = {host:String} AND taken_at IN (s1, s2)
GROUP BY bridge, flow_table, priority, match
HAVING change != 'counter moved' OR packets_delta != 0
ORDER BY bridge, flow_table, priority DESC, match
