-- The OVS ports of every host as they were at a time: the latest snapshot of each host taken at
-- or before {at}. One row per port: bridge, type, OpenFlow port, local VLAN tag, patch peer,
-- tunnel endpoints, Neutron port and the interface's error, if any.
-- Parameters: at String (ISO 8601 time, e.g. 2026-11-25T08:00:00Z)
-- Run: hoptrace query --file dashboards/queries/topology-at.sql --param at=2026-11-25T08:00:00Z
SELECT
  p.host, p.taken_at, p.bridge, p.port, p.type, p.ofport, p.tag, p.peer, p.remote_ip, p.local_ip,
  p.neutron_port_id, p.error
FROM topo_ports AS p FINAL
INNER JOIN
(
  SELECT host AS h, max(taken_at) AS latest
  FROM host_snapshots
  WHERE taken_at <= parseDateTime64BestEffort({at:String}, 3, 'UTC')
  GROUP BY host
) AS s ON p.host = s.h AND p.taken_at = s.latest
ORDER BY p.host, p.bridge, p.port
