-- "This instance cannot reach X": the paths from or to an address between two times, newest
-- first, with the verdict, where it died and the hop sequence in one line (host:device per hop,
-- * where an sFlow sample saw it). A path through a router's NAT is found by its addresses on
-- either side (a floating IP, the router's SNAT address); `nat` shows the other side's.
-- Parameters: ip String, t1 String, t2 String (ISO 8601 times)
-- Run: hoptrace query --file dashboards/queries/paths-of-ip.sql --param ip=203.0.113.11 \
--        --param t1=2026-11-25T08:00:00Z --param t2=2026-11-25T09:00:00Z
SELECT
  p.first_seen,
  p.verdict,
  p.confidence,
  p.src_ip,
  p.dst_ip,
  if(p.nat_host = '', '', concat(p.nat_src_ip, ' -> ', p.nat_dst_ip, ' past ', p.nat_namespace)) AS nat,
  multiIf(p.ip_protocol = 1, concat('icmp ', toString(p.icmp_type)), p.ip_protocol IN (6, 17), concat(if(p.ip_protocol = 6, 'tcp ', 'udp '), toString(p.src_port), '->', toString(p.dst_port)), isNull(p.ip_protocol), 'non-IP', concat('proto ', toString(p.ip_protocol))) AS what,
  p.answered,
  if(p.drop_host = '', '', concat(p.drop_host, ' ', p.drop_device, if(p.drop_table = '', '', concat(' table ', p.drop_table)))) AS dropped_at,
  h.route,
  p.path_id
FROM (
  SELECT * FROM paths FINAL
  WHERE (src_ip = {ip:String} OR dst_ip = {ip:String} OR nat_src_ip = {ip:String} OR nat_dst_ip = {ip:String})
    AND first_seen BETWEEN parseDateTime64BestEffort({t1:String}, 3, 'UTC') AND parseDateTime64BestEffort({t2:String}, 3, 'UTC')
) AS p
LEFT JOIN (
  SELECT path_id, arrayStringConcat(arrayMap(x -> x.2, arraySort(x -> x.1, groupArray((seq, concat(host, ':', device, if(observed, '*', '')))))), ' > ') AS route
  FROM path_hops FINAL
  WHERE first_seen BETWEEN parseDateTime64BestEffort({t1:String}, 3, 'UTC') AND parseDateTime64BestEffort({t2:String}, 3, 'UTC')
    AND path_id IN (
      SELECT path_id FROM paths
      WHERE (src_ip = {ip:String} OR dst_ip = {ip:String} OR nat_src_ip = {ip:String} OR nat_dst_ip = {ip:String})
        AND first_seen BETWEEN parseDateTime64BestEffort({t1:String}, 3, 'UTC') AND parseDateTime64BestEffort({t2:String}, 3, 'UTC'))
  GROUP BY path_id
) AS h ON h.path_id = p.path_id
ORDER BY p.first_seen DESC
LIMIT 200
