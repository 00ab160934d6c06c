-- Local VLAN <-> tenant network per host over time: what each host's br-int ports say (Port
-- other_config) and what its br-tun rules do (mod_vlan_vid from a tunnel id, set_tunnel from a
-- VLAN). A VLAN with ports but without both rule directions, or two hosts disagreeing on a
-- segmentation id, is where tenant frames vanish.
-- Parameters: host String ('' for every host)
-- Run: hoptrace query --file dashboards/queries/vlan-map.sql --param host=
SELECT host, taken_at, bridge, local_vlan, segmentation_id, network_type, source, direction, evidence
FROM topo_vlan_map FINAL
WHERE {host:String} = '' OR host = {host:String}
ORDER BY host, taken_at, local_vlan, source, direction
