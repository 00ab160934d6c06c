// The fixed catalog of commands a host snapshot holds. The agent runs `argv` (execFile, never a
// shell); `hoptrace import` finds the same output in a sosreport under `sos` (sos 4.x names a
// command's file by its command line with spaces as `_` and `/` as `.`). Parsers dispatch on `id`
// and on the form of the text (the agent asks for JSON where the tool has it; sos keeps text), and
// give the same result for both forms.

export type CommandScope = 'host' | 'bridge' | 'namespace' | 'device';

export interface CommandParams {
  bridge?: string;
  namespace?: string;
  device?: string;
}

export interface CommandSpec {
  id: string;
  scope: CommandScope;
  /** What the agent runs. */
  argv: (p: Required<CommandParams>) => string[];
  /**
   * Paths relative to the sosreport root where sos 4.x stores this output, best first. `{bridge}`,
   * `{namespace}`, `{device}` stand for the parameter.
   */
  sos: string[];
  /** True when only an import reads it (the agent collects the same facts another way). */
  importOnly?: boolean;
  /** What it is for, one line (printed by `hoptrace agent --list-commands`). */
  purpose: string;
}

const vsctlList = (table: string): string[] => ['ovs-vsctl', '-t', '5', '--format=json', '--data=json', 'list', table];

export const COMMANDS: readonly CommandSpec[] = [
  { id: 'hostname', scope: 'host', argv: () => ['hostname'], sos: ['hostname', 'sos_commands/host/hostname', 'sos_commands/general/hostname'], purpose: 'host name' },
  { id: 'ovs-vsctl.show', scope: 'host', argv: () => ['ovs-vsctl', '-t', '5', 'show'], sos: ['sos_commands/openvswitch/ovs-vsctl_-t_5_show'], purpose: 'bridges, ports, interfaces, options at a glance' },
  { id: 'ovs-vsctl.list.Open_vSwitch', scope: 'host', argv: () => vsctlList('Open_vSwitch'), sos: ['sos_commands/openvswitch/ovs-vsctl_-t_5_list_Open_vSwitch'], purpose: 'system-id, hostname, OVS version' },
  { id: 'ovs-vsctl.list.Bridge', scope: 'host', argv: () => vsctlList('Bridge'), sos: ['sos_commands/openvswitch/ovs-vsctl_-t_5_list_bridge', 'sos_commands/openvswitch/ovs-vsctl_-t_5_list_Bridge'], purpose: 'bridges: datapath id, ports, sflow, protocols' },
  { id: 'ovs-vsctl.list.Port', scope: 'host', argv: () => vsctlList('Port'), sos: ['sos_commands/openvswitch/ovs-vsctl_-t_5_list_port', 'sos_commands/openvswitch/ovs-vsctl_-t_5_list_Port'], purpose: 'ports: tag, trunks, other_config (net_uuid, segmentation_id)' },
  { id: 'ovs-vsctl.list.Interface', scope: 'host', argv: () => vsctlList('Interface'), sos: ['sos_commands/openvswitch/ovs-vsctl_-t_5_list_interface', 'sos_commands/openvswitch/ovs-vsctl_-t_5_list_Interface'], purpose: 'interfaces: ofport, ifindex, type, options, external_ids, error' },
  { id: 'ovs-vsctl.list.sFlow', scope: 'host', argv: () => vsctlList('sFlow'), sos: ['sos_commands/openvswitch/ovs-vsctl_-t_5_list_sflow', 'sos_commands/openvswitch/ovs-vsctl_-t_5_list_sFlow'], purpose: 'sFlow agent, targets, sampling (agent address -> host)' },
  { id: 'ovsdb-client.dump', scope: 'host', argv: () => ['ovsdb-client', '-f', 'json', 'dump'], sos: ['sos_commands/openvswitch/ovsdb-client_-f_list_dump'], importOnly: true, purpose: 'the whole OVSDB' },
  { id: 'ovs-appctl.dpif.show', scope: 'host', argv: () => ['ovs-appctl', 'dpif/show'], sos: ['sos_commands/openvswitch/ovs-appctl_dpif.show'], purpose: 'datapath ports and their numbers' },
  { id: 'ip.address', scope: 'host', argv: () => ['ip', '-j', '-d', 'address', 'show'], sos: ['sos_commands/networking/ip_-d_address', 'sos_commands/networking/ip_-d_address_show'], purpose: 'devices, kinds (veth, bridge, tun), addresses, link-netnsid' },
  { id: 'ip.o.addr', scope: 'host', argv: () => ['ip', '-o', 'addr'], sos: ['sos_commands/networking/ip_-o_addr'], importOnly: true, purpose: 'addresses, one line each' },
  { id: 'ip.link', scope: 'host', argv: () => ['ip', '-j', '-s', '-d', 'link', 'show'], sos: ['sos_commands/networking/ip_-s_-d_link', 'sos_commands/networking/ip_-s_-d_link_show'], purpose: 'devices with counters, masters, veth peers' },
  { id: 'ip.route', scope: 'host', argv: () => ['ip', '-j', 'route', 'show', 'table', 'all'], sos: ['sos_commands/networking/ip_route_show_table_all'], purpose: 'routes of the root namespace' },
  { id: 'ip.neigh', scope: 'host', argv: () => ['ip', '-j', 'neigh', 'show'], sos: ['sos_commands/networking/ip_neigh_show', 'sos_commands/networking/ip_-s_neigh_show'], purpose: 'ARP/ND cache' },
  { id: 'ip.netns', scope: 'host', argv: () => ['ip', 'netns', 'list'], sos: ['sos_commands/networking/ip_netns', 'sos_commands/networking/ip_netns_list'], purpose: 'network namespaces' },
  { id: 'bridge.link', scope: 'host', argv: () => ['bridge', '-j', '-s', '-s', '-d', 'link', 'show'], sos: ['sos_commands/networking/bridge_-s_-s_-d_link_show'], purpose: 'Linux bridge ports and their state' },
  { id: 'bridge.fdb', scope: 'host', argv: () => ['bridge', '-j', 'fdb', 'show'], sos: ['sos_commands/networking/bridge_-s_-s_-d_fdb_show', 'sos_commands/networking/bridge_fdb_show'], purpose: 'Linux bridge forwarding database (qbr)' },
  { id: 'brctl.show', scope: 'host', argv: () => ['brctl', 'show'], sos: ['sos_commands/networking/brctl_show'], importOnly: true, purpose: 'Linux bridges and members' },
  { id: 'iptables-save', scope: 'host', argv: () => ['iptables-save', '-c'], sos: ['sos_commands/firewall_tables/iptables-save_-c', 'sos_commands/firewall_tables/iptables-save', 'sos_commands/networking/iptables-save'], purpose: 'iptables rules with counters (neutron-openvswi chains)' },
  { id: 'ovs-ofctl.show', scope: 'bridge', argv: (p) => ['ovs-ofctl', 'show', p.bridge], sos: ['sos_commands/openvswitch/ovs-ofctl_show_{bridge}'], purpose: 'OpenFlow ports of a bridge' },
  { id: 'ovs-ofctl.dump-ports-desc', scope: 'bridge', argv: (p) => ['ovs-ofctl', 'dump-ports-desc', p.bridge], sos: ['sos_commands/openvswitch/ovs-ofctl_dump-ports-desc_{bridge}', 'sos_commands/openvswitch/ovs-ofctl_-O_OpenFlow13_dump-ports-desc_{bridge}'], purpose: 'OpenFlow port descriptions' },
  { id: 'ovs-ofctl.dump-flows', scope: 'bridge', argv: (p) => ['ovs-ofctl', 'dump-flows', p.bridge], sos: ['sos_commands/openvswitch/ovs-ofctl_dump-flows_{bridge}', 'sos_commands/openvswitch/ovs-ofctl_-O_OpenFlow13_dump-flows_{bridge}', 'sos_commands/openvswitch/ovs-ofctl_-O_OpenFlow14_dump-flows_{bridge}', 'sos_commands/openvswitch/ovs-ofctl_-O_OpenFlow15_dump-flows_{bridge}'], purpose: 'flow tables with counters' },
  { id: 'ovs-appctl.fdb.show', scope: 'bridge', argv: (p) => ['ovs-appctl', 'fdb/show', p.bridge], sos: ['sos_commands/openvswitch/ovs-appctl_fdb.show_{bridge}'], purpose: 'MAC learning table of a bridge (NORMAL)' },
  { id: 'netns.ip.address', scope: 'namespace', argv: (p) => ['ip', 'netns', 'exec', p.namespace, 'ip', '-j', '-d', 'address', 'show'], sos: ['sos_commands/networking/namespaces/{namespace}/ip_netns_exec_{namespace}_ip_-d_address_show', 'sos_commands/networking/ip_netns_exec_{namespace}_ip_-d_address_show', 'sos_commands/networking/ip_netns_exec_{namespace}_ip_address_show'], purpose: 'addresses inside a namespace (qdhcp, qrouter)' },
  { id: 'netns.ip.route', scope: 'namespace', argv: (p) => ['ip', 'netns', 'exec', p.namespace, 'ip', '-j', 'route', 'show', 'table', 'all'], sos: ['sos_commands/networking/namespaces/{namespace}/ip_netns_exec_{namespace}_ip_route_show_table_all', 'sos_commands/networking/ip_netns_exec_{namespace}_ip_route_show_table_all'], purpose: 'routes inside a namespace' },
  { id: 'netns.ip.neigh', scope: 'namespace', argv: (p) => ['ip', 'netns', 'exec', p.namespace, 'ip', '-j', 'neigh', 'show'], sos: ['sos_commands/networking/namespaces/{namespace}/ip_netns_exec_{namespace}_ip_neigh_show'], purpose: 'ARP cache inside a namespace' },
  { id: 'netns.iptables-save', scope: 'namespace', argv: (p) => ['ip', 'netns', 'exec', p.namespace, 'iptables-save', '-c'], sos: ['sos_commands/networking/namespaces/{namespace}/ip_netns_exec_{namespace}_iptables-save_-c', 'sos_commands/networking/namespaces/{namespace}/ip_netns_exec_{namespace}_iptables-save', 'sos_commands/networking/ip_netns_exec_{namespace}_iptables-save'], purpose: 'NAT and filter rules inside a namespace (qrouter SNAT/DNAT)' },
  { id: 'ethtool.S', scope: 'device', argv: (p) => ['ethtool', '-S', p.device], sos: ['sos_commands/networking/ethtool_-S_{device}'], purpose: 'veth peer_ifindex' },
];

export function commandById(id: string): CommandSpec | undefined {
  return COMMANDS.find((c) => c.id === id);
}
