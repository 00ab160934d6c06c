-- Where frames die: dropped paths between two times, by host, device, OpenFlow table or iptables
-- chain, and rule, most first; with how many distinct sources were hit and an example path
-- (hoptrace paths show EXAMPLE for its hops). The paths come from the service's path stage.
-- Parameters: t1 String, t2 String (ISO 8601 times)
-- Run: hoptrace query --file dashboards/queries/drop-points.sql \
--        --param t1=2026-11-25T08:00:00Z --param t2=2026-11-25T09:00:00Z
SELECT
  drop_host AS host,
  drop_device AS device,
  drop_table AS `table`,
  drop_rule AS rule,
  any(drop_reason) AS reason,
  count() AS paths,
  uniqExact(src_ip) AS sources,
  countIf(conflict) AS conflicting,
  min(first_seen) AS first,
  max(first_seen) AS last,
  any(path_id) AS example
FROM paths FINAL
WHERE verdict = 'dropped'
  AND first_seen BETWEEN parseDateTime64BestEffort({t1:String}, 3, 'UTC') AND parseDateTime64BestEffort({t2:String}, 3, 'UTC')
GROUP BY host, device, `table`, rule
ORDER BY paths DESC
LIMIT 50
