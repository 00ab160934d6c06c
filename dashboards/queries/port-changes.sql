-- What changed on a host's OVS ports between two times (the latest snapshot at or before each):
-- ports added or removed, and for the others which of tag, type, ofport, patch peer, tunnel
-- remote_ip, Neutron port or interface error changed, with the values before -> after.
-- Parameters: host String, t1 String, t2 String (ISO 8601 times)
-- Run: hoptrace query --file dashboards/queries/port-changes.sql --param host=compute1 \
--        --param t1=2026-11-25T08:00:00Z --param t2=2026-11-25T09:00:00Z
WITH
  (SELECT max(taken_at) FROM host_snapshots WHERE host = {host:String} AND taken_at <= parseDateTime64BestEffort({t1:String}, 3, 'UTC')) AS s1,
  (SELECT max(taken_at) FROM host_snapshots WHERE host = {host:String} AND taken_at <= parseDateTime64BestEffort({t2:String}, 3, 'UTC')) AS s2
SELECT
  bridge,
  port,
  multiIf(countIf(taken_at = s1) = 0, 'added', countIf(taken_at = s2) = 0, 'removed', 'changed') AS change,
  arrayStringConcat(arrayFilter(x -> x != '', [
    if(anyIf(ifNull(toString(tag), '[]'), taken_at = s1) = anyIf(ifNull(toString(tag), '[]'), taken_at = s2), '',
       concat('tag ', anyIf(ifNull(toString(tag), '[]'), taken_at = s1), ' -> ', anyIf(ifNull(toString(tag), '[]'), taken_at = s2))),
    if(anyIf(type, taken_at = s1) = anyIf(type, taken_at = s2), '', concat('type ', anyIf(type, taken_at = s1), ' -> ', anyIf(type, taken_at = s2))),
    if(anyIf(ofport, taken_at = s1) = anyIf(ofport, taken_at = s2), '', concat('ofport ', toString(anyIf(ofport, taken_at = s1)), ' -> ', toString(anyIf(ofport, taken_at = s2)))),
    if(anyIf(peer, taken_at = s1) = anyIf(peer, taken_at = s2), '', concat('peer ', anyIf(peer, taken_at = s1), ' -> ', anyIf(peer, taken_at = s2))),
    if(anyIf(remote_ip, taken_at = s1) = anyIf(remote_ip, taken_at = s2), '', concat('remote_ip ', anyIf(remote_ip, taken_at = s1), ' -> ', anyIf(remote_ip, taken_at = s2))),
    if(anyIf(neutron_port_id, taken_at = s1) = anyIf(neutron_port_id, taken_at = s2), '', concat('neutron port ', anyIf(neutron_port_id, taken_at = s1), ' -> ', anyIf(neutron_port_id, taken_at = s2))),
    if(anyIf(error, taken_at = s1) = anyIf(error, taken_at = s2), '', concat('error "', anyIf(error, taken_at = s1), '" -> "', anyIf(error, taken_at = s2), '"'))
  ]), ', ') AS what
FROM topo_ports FINAL
WHERE host = {host:String} AND taken_at IN (s1, s2)
GROUP BY bridge, port
HAVING change != 'changed' OR what != ''
ORDER BY bridge, port
